/* The Taylor remainder test: r(h) = |L(x + h d) - L(x) - h g.d| falls as h^2 when g is the
 * gradient and as h when it is not. The slope is read only where it means something: above
 * the loss's round-off (a remainder within 100 times its round-off is noise) and at the
 * smallest such steps (where a gradient error outweighs the curvature). At tiny gradients
 * (~1e-10) the useful steps can lie far above the values' own scale; on the frozen-branch
 * function (ReLU masks and max-pool winners held) large steps are fair, so the test goes
 * looking for them there, and says it cannot decide where it cannot. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_internal.h"

#define USABLE 100.0 /* a remainder counts above this many times its round-off */
#define TOP 1e4      /* upward search stops once the remainder reaches this many */
#define DECISIVE 5   /* at most this many of the smallest usable steps decide */

typedef struct taylor_state {
    gc_context ctx;
    gc_direction d;
    double base, gd;
    bool smooth; /* no branch left unfrozen: any step is fair */
    int count;
    double h[ENG_GC_TAYLOR_MAX_STEPS], e[ENG_GC_TAYLOR_MAX_STEPS]; /* e signed */
} taylor_state;

typedef enum outcome { DECIDED, TOO_FEW, BENDS } outcome;

static double noise_at(const taylor_state *s, double h)
{
    return 2 * s->ctx.loss_noise + 2 * s->ctx.u * fabs(h * s->gd);
}

static bool usable(const taylor_state *s, int i)
{
    return isfinite(s->e[i]) && fabs(s->e[i]) >= USABLE * noise_at(s, s->h[i]);
}

/* Evaluates the remainder at h and files it, keeping the steps sorted largest first. */
static eng_status add_step(taylor_state *s, double h)
{
    double value;
    eng_status st = gc_loss_along(&s->ctx, &s->d, h, &value);
    if (st)
        return st;
    int i = s->count++;
    for (; i > 0 && s->h[i - 1] < h; i--) {
        s->h[i] = s->h[i - 1];
        s->e[i] = s->e[i - 1];
    }
    s->h[i] = h;
    s->e[i] = value - s->base - h * s->gd;
    return ENG_OK;
}

static double local_slope(const taylor_state *s, int i)
{
    return log(fabs(s->e[i]) / fabs(s->e[i + 1])) / log(s->h[i] / s->h[i + 1]);
}

/* The decisive run: the smallest usable step and up to DECISIVE - 1 usable steps above it
 * with the same sign of the remainder; verdict from their local slopes. */
static outcome decide(const taylor_state *s, eng_gc_taylor_result *r)
{
    int last = -1;
    for (int i = 0; i < s->count; i++)
        if (usable(s, i))
            last = i;
    int first = last;
    while (first > 0 && last - first < DECISIVE - 1 && usable(s, first - 1) &&
           (s->e[first - 1] > 0) == (s->e[last] > 0))
        first--;
    r->first = first;
    r->last = last;
    r->verdict = ENG_GC_INCONCLUSIVE;
    r->slope = NAN;
    if (last < 0 || last - first < 1)
        return TOO_FEW;
    double sx = 0, sy = 0, sxx = 0, sxy = 0, m = last - first + 1;
    for (int i = first; i <= last; i++) {
        double lx = log(s->h[i]), ly = log(fabs(s->e[i]));
        sx += lx;
        sy += ly;
        sxx += lx * lx;
        sxy += lx * ly;
    }
    r->slope = (m * sxy - sx * sy) / (m * sxx - sx * sx);
    if (last - first < 2)
        return TOO_FEW;
    bool one = true, two = true;
    for (int i = first; i < last; i++) {
        double k = local_slope(s, i);
        one = one && k >= 0.8 && k <= 1.2;
        two = two && k >= 1.8 && k <= 3.3;
    }
    if (!one && !two)
        return BENDS;
    r->verdict = one ? ENG_GC_FAIL : ENG_GC_PASS;
    return DECIDED;
}

/* Larger steps (smooth functions only) until the largest remainder stands well above its
 * round-off, then smaller ones while the smallest still stands above it. */
static eng_status extend(taylor_state *s, eng_gc_taylor_result *r, outcome *o)
{
    eng_status st = ENG_OK;
    if (*o == TOO_FEW && s->smooth) {
        for (int k = 0; k < 40 && s->count < ENG_GC_TAYLOR_MAX_STEPS && !st; k++) {
            st = add_step(s, 2 * s->h[0]);
            if (!st && (!isfinite(s->e[0]) || fabs(s->e[0]) >= TOP * noise_at(s, s->h[0])))
                break;
        }
        if (!st)
            *o = decide(s, r);
    }
    if (*o != DECIDED && !st && s->count > 0 && usable(s, s->count - 1)) {
        while (s->count < ENG_GC_TAYLOR_MAX_STEPS && !st && usable(s, s->count - 1))
            st = add_step(s, s->h[s->count - 1] / 2);
        if (!st)
            *o = decide(s, r);
    }
    return st;
}

static void conclude(const taylor_state *s, outcome o, eng_gc_taylor_result *r)
{
    int f = r->first, l = r->last;
    if (o == DECIDED) {
        double a = s->e[l] / s->h[l]; /* the gradient error along d at the smallest step */
        if (r->verdict == ENG_GC_FAIL)
            snprintf(r->conclusion, sizeof r->conclusion,
                     "slope %.2f over steps %.3g .. %.3g: the remainder falls as h, so g is not "
                     "the gradient along d: g.d = %.6g where the loss says %.6g (ratio %.4g)",
                     r->slope, s->h[f], s->h[l], s->gd, s->gd + a, s->gd / (s->gd + a));
        else
            snprintf(r->conclusion, sizeof r->conclusion,
                     "slope %.2f over steps %.3g .. %.3g: the remainder falls as h^2, so g is "
                     "the gradient along d (an error above %.2g of |g.d| would show as slope 1 "
                     "at these steps)",
                     r->slope, s->h[f], s->h[l], fabs(a) / fmax(fabs(s->gd), 1e-300));
    } else if (o == BENDS) {
        snprintf(r->conclusion, sizeof r->conclusion,
                 "undecided: over the smallest usable steps %.3g .. %.3g the local slopes lie "
                 "between 1 and 2 (fit %.2f): the gradient's error and the curvature are "
                 "comparable there, and round-off hides the smaller steps",
                 s->h[f], s->h[l], r->slope);
    } else {
        int above = 0;
        for (int i = 0; i < s->count; i++)
            above += usable(s, i);
        snprintf(r->conclusion, sizeof r->conclusion,
                 "undecided: round-off dominates: %d of %d steps (%.3g .. %.3g) give a "
                 "remainder above %g times its round-off %.2g (3 needed)%s",
                 above, s->count, s->h[0], s->h[s->count - 1], USABLE,
                 noise_at(s, s->h[s->count - 1]),
                 s->smooth ? ""
                           : "; larger steps would cross kinks of layers that cannot "
                             "freeze their branches");
    }
}

static eng_status taylor_prepare(taylor_state *s, eng_gc_objective *obj, int t, uint64_t seed)
{
    eng_rng rng;
    eng_rng_seed(&rng, seed);
    s->ctx.obj = obj;
    s->ctx.u = obj->dtype == ENG_F32 ? 0x1p-24 : 0x1p-53;
    eng_status st = obj->loss(obj, &s->base);
    if (!st)
        st = obj->gradient(obj);
    s->ctx.loss = s->base;
    if (!st)
        st = gc_freeze(&s->ctx, NULL, 0);
    if (!st)
        st = gc_calibrate_noise(&s->ctx, &rng);
    if (!st)
        st = gc_direction_new(obj, t, 0, 0, &rng, &s->d);
    s->gd = st ? 0 : gc_directional_analytic(obj, &s->d);
    s->smooth = obj->has_signatures && obj->all_branches_freeze && (!obj->freeze || s->ctx.frozen);
    return st;
}

eng_status eng_gc_taylor_test(eng_gc_objective *obj, int t, double h0, int n, uint64_t seed,
                              eng_gc_taylor_result *out)
{
    memset(out, 0, sizeof *out);
    if (t < 0 || t >= obj->ntensors)
        return eng_error(ENG_EARG, "gradcheck: no tensor %d (the objective has %d)", t + 1,
                         obj->ntensors);
    if (n < 2 || n > ENG_GC_TAYLOR_MAX_STEPS / 2)
        return eng_error(ENG_EARG, "gradcheck: the Taylor test needs 2 <= n <= %d steps, got %d",
                         ENG_GC_TAYLOR_MAX_STEPS / 2, n);
    if (!(h0 > 0) && h0 != 0)
        return eng_error(ENG_EARG,
                         "gradcheck: Taylor test h0 = %g (> 0, or 0 for the values' "
                         "scale)",
                         h0);
    taylor_state *s = calloc(1, sizeof *s);
    if (!s)
        return eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    eng_status st = taylor_prepare(s, obj, t, seed);
    if (h0 == 0)
        h0 = gc_value_scale(obj, t);
    for (int i = 0; i < n && !st; i++)
        st = add_step(s, h0 * pow(2.0, -i));
    outcome o = TOO_FEW;
    if (!st) {
        o = decide(s, out);
        st = extend(s, out, &o);
    }
    if (!st) {
        conclude(s, o, out);
        out->nsteps = s->count;
        memcpy(out->steps, s->h, sizeof s->h);
        for (int i = 0; i < s->count; i++)
            out->remainders[i] = fabs(s->e[i]);
        out->noise = out->last >= 0 ? noise_at(s, s->h[out->last]) : noise_at(s, h0);
        out->gd = s->gd;
        for (int i = 0; i < s->count; i++)
            if (s->h[i] == h0)
                out->asked = i;
        out->frozen = s->ctx.frozen;
    }
    gc_unfreeze(&s->ctx);
    gc_direction_free(&s->d);
    free(s);
    return st;
}

eng_status eng_gc_taylor(eng_gc_objective *obj, int t, double h0, int n, uint64_t seed,
                         double *slope, double *remainders)
{
    eng_gc_taylor_result *r = malloc(sizeof *r);
    if (!r)
        return eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    eng_status st = eng_gc_taylor_test(obj, t, h0, n, seed, r);
    if (!st) {
        *slope = r->slope;
        for (int i = 0; remainders && i < n; i++)
            remainders[i] = r->remainders[r->asked + i];
    }
    free(r);
    return st;
}
