/* Numerical derivatives with error bars, and the verdict for one element.
 *
 * D(h) = (L(x+h) - L(x-h)) / 2h has truncation error c h^2 + O(h^4); with D(h/2) the
 * Richardson extrapolation (4 D(h/2) - D(h)) / 3 cancels the h^2 term, and |D(h) - D(h/2)|
 * estimates D(h/2)'s own truncation error times 3, an upper bound for the extrapolation's.
 * Round-off: each loss carries an error of about loss_noise, so D(h) carries loss_noise / h
 * and the extrapolation (4 * 2 + 1) / 3 = 3 times that. */
#include <math.h>
#include <stdio.h>

#include "check_internal.h"

/* The perturbation actually applied: x0 + h rounded to the tensor's dtype, minus x0. */
static double effective_delta(const eng_tensor *value, double x0, double h)
{
    if (value->dtype == ENG_F32)
        return (double)(float)(x0 + h) - x0;
    volatile double shifted = x0 + h;
    return shifted - x0;
}

eng_status gc_estimate_at(gc_context *ctx, int t, int64_t index, double h, gc_estimate *out)
{
    eng_gc_objective *obj = ctx->obj;
    const eng_tensor *value = obj->tensors[t].value;
    double x0 = eng_tensor_get_flat(value, index);
    double steps[4] = {h, -h, h / 2, -h / 2};
    double loss[4];
    uint64_t sig[4] = {0};
    for (int i = 0; i < 4; i++) {
        steps[i] = effective_delta(value, x0, steps[i]);
        eng_status st = obj->loss_at(obj, t, index, steps[i], &loss[i], &sig[i]);
        ctx->evaluations++;
        if (st)
            return st;
    }
    double d1 = (loss[0] - loss[1]) / (steps[0] - steps[1]);
    double d2 = (loss[2] - loss[3]) / (steps[2] - steps[3]);
    out->coarse = d1;
    out->value = (4 * d2 - d1) / 3;
    out->truncation = fabs(d1 - d2) / 3;
    out->roundoff =
        ctx->loss_noise * (4 * 2 / fabs(steps[2] - steps[3]) + 2 / fabs(steps[0] - steps[1])) / 3;
    if (obj->has_signatures) {
        out->kink = sig[0] != sig[1] || sig[0] != sig[2] || sig[0] != sig[3];
    } else {
        /* Five-point test: the one-sided slopes, extrapolated to zero step, must agree. */
        double right = 2 * (loss[2] - ctx->loss) / steps[2] - (loss[0] - ctx->loss) / steps[0];
        double left = 2 * (loss[3] - ctx->loss) / steps[3] - (loss[1] - ctx->loss) / steps[1];
        double tolerance = 16 * ctx->loss_noise / fabs(steps[2]) + 4 * out->truncation +
                           ctx->rtol * fmax(fabs(right), fabs(left));
        out->kink = fabs(right - left) > tolerance;
    }
    return ENG_OK;
}

double gc_error_bar(const gc_estimate *e)
{
    return e->truncation + e->roundoff;
}

eng_gc_verdict gc_verdict(const gc_context *ctx, double analytic, const gc_estimate *e,
                          double *rel_error)
{
    double n = e->value, diff = fabs(analytic - n);
    double magnitude = fmax(fabs(analytic), fabs(n));
    *rel_error = magnitude > 0 ? diff / magnitude : 0.0;
    if (analytic == 0 && n == 0)
        return ENG_GC_PASS;
    double bar = ctx->nsigma * gc_error_bar(e);
    double allowed = ctx->rtol * magnitude + bar;
    /* A branch switch between the evaluation points makes the estimate meaningless unless it
     * still agrees: the switch may be in a unit whose effect is below the error bar. Such an
     * element is never called FAIL. Only exact signatures earn that benefit of the doubt, not
     * the five-point heuristic. */
    if (e->kink)
        return ctx->obj->has_signatures && diff <= allowed &&
                       (fabs(analytic) > bar || fabs(n) > bar)
                   ? ENG_GC_PASS
                   : ENG_GC_KINK;
    /* Both values inside the noise: nothing can be said either way. */
    if (fabs(analytic) <= bar && fabs(n) <= bar)
        return ENG_GC_INCONCLUSIVE;
    if (diff <= allowed)
        return ENG_GC_PASS;
    if (diff > 2 * allowed)
        return ENG_GC_FAIL;
    return ENG_GC_INCONCLUSIVE;
}

/* Round-off of one loss evaluation, observed: nudging an element by a few ulps changes the
 * loss by gradient * nudge (negligible) plus the rounding jitter of the whole computation. */
eng_status gc_calibrate_noise(gc_context *ctx, eng_rng *rng)
{
    eng_gc_objective *obj = ctx->obj;
    double noise = 2 * ctx->u * fabs(ctx->loss);
    for (int k = 0; k < 8 && obj->ntensors > 0; k++) {
        int t = (int)eng_rng_below(rng, (uint64_t)obj->ntensors);
        const eng_tensor *v = obj->tensors[t].value;
        int64_t n = eng_tensor_numel(v);
        if (n == 0)
            continue;
        int64_t i = (int64_t)eng_rng_below(rng, (uint64_t)n);
        double x0 = eng_tensor_get_flat(v, i);
        double a = eng_tensor_get_flat(obj->tensors[t].grad, i);
        double nudge = 4 * ctx->u * fmax(fabs(x0), ctx->u);
        if (v->dtype == ENG_F32)
            nudge = (double)(float)(x0 + nudge) - x0;
        double value;
        eng_status st = obj->loss_at(obj, t, i, nudge, &value, NULL);
        ctx->evaluations++;
        if (st)
            return st;
        noise = fmax(noise, fabs(value - ctx->loss - a * nudge));
    }
    ctx->loss_noise = 1.5 * noise;
    return ENG_OK;
}

/* The step for one tensor: among steps scale * 10^-k, the one whose error bar (truncation +
 * round-off) is smallest on a few probe elements, preferring those without kinks. */
eng_status gc_choose_step(gc_context *ctx, int t, const int64_t *indices, int64_t count,
                          double scale, double *step)
{
    int64_t probes[4];
    int nprobes = 0;
    /* the probes with the largest analytic gradients carry the most signal */
    const eng_tensor *grad = ctx->obj->tensors[t].grad;
    for (int64_t i = 0; i < count; i++) {
        double g = fabs(eng_tensor_get_flat(grad, indices[i]));
        if (nprobes < 4) {
            probes[nprobes++] = indices[i];
            continue;
        }
        int smallest = 0;
        for (int p = 1; p < 4; p++)
            if (fabs(eng_tensor_get_flat(grad, probes[p])) <
                fabs(eng_tensor_get_flat(grad, probes[smallest])))
                smallest = p;
        if (g > fabs(eng_tensor_get_flat(grad, probes[smallest])))
            probes[smallest] = indices[i];
    }
    /* Probes whose analytic gradient is exactly zero (dead units) say nothing about the
     * step; the others are scored by their error bar relative to their own size. */
    double weight[4], largest = 0;
    for (int p = 0; p < nprobes; p++)
        largest = fmax(largest, fabs(eng_tensor_get_flat(grad, probes[p])));
    for (int p = 0; p < nprobes; p++) {
        double g = fabs(eng_tensor_get_flat(grad, probes[p]));
        weight[p] = largest == 0 ? 1.0 : (g == 0 ? 0.0 : 1 / fmax(g, 1e-3 * largest));
    }
    double best = INFINITY, best_step = cbrt(ctx->u) * scale;
    /* From the scale down to 1e-8 of it (1e-4 in f32, whose round-off swamps smaller steps). */
    int last = ctx->u > 1e-10 ? 4 : 8;
    /* Frozen branches leave no kink to step over: steps above the values' own scale are fair
     * (tiny weights often sit in a wide, smooth basin). */
    for (int k = ctx->frozen ? -2 : 0; k <= last; k++) {
        double h = scale * pow(10.0, -k), score = 0;
        int kinks = 0;
        for (int p = 0; p < nprobes; p++) {
            gc_estimate e, half;
            eng_status st = gc_estimate_at(ctx, t, probes[p], h, &e);
            if (!st)
                st = gc_estimate_at(ctx, t, probes[p], h / 2, &half);
            if (st)
                return st;
            if (e.kink || half.kink) {
                kinks++;
                continue;
            }
            /* Outside the asymptotic range the truncation estimate cannot be trusted: the
             * differences at h, h/2, h/4 must shrink about fourfold once above round-off. */
            double t1 = 3 * e.truncation, t2 = 3 * half.truncation;
            double floor = 4 * half.roundoff;
            bool asymptotic = t1 <= floor || (t1 >= 2 * t2 && t1 <= 8 * t2 + floor);
            double bar = asymptotic ? gc_error_bar(&e) : INFINITY;
            score = fmax(score, weight[p] * bar);
        }
        if (2 * kinks > nprobes)
            score = INFINITY;
        if (score < best) {
            best = score;
            best_step = h;
        }
    }
    *step = best_step;
    return ENG_OK;
}

/* A FAIL must survive a second step, h/4: many small kinks that no signature reports (a layer
 * without one, an objective written in Lua) can bend a difference quotient at one step while
 * h and h/2 still agree. Estimates that disagree between the steps mark a kink; a mismatch
 * that the second step cannot confirm is INCONCLUSIVE. */
eng_status gc_confirm_failure(gc_context *ctx, int t, eng_gc_element *el, const gc_estimate *first,
                              double step)
{
    gc_estimate second;
    eng_status st = gc_estimate_at(ctx, t, el->index, step / 4, &second);
    if (st)
        return st;
    double bars = ctx->nsigma * (gc_error_bar(first) + gc_error_bar(&second));
    double magnitude = fmax(fabs(first->value), fabs(second.value));
    if (fabs(second.value - first->value) > bars + ctx->rtol * magnitude) {
        el->verdict = ENG_GC_KINK;
        return ENG_OK;
    }
    double rel;
    if (gc_verdict(ctx, el->analytic, &second, &rel) != ENG_GC_FAIL)
        el->verdict = ENG_GC_INCONCLUSIVE;
    return ENG_OK;
}

eng_status gc_freeze(gc_context *ctx, char *warning, size_t size)
{
    eng_gc_objective *obj = ctx->obj;
    ctx->frozen = false;
    if (!obj->freeze)
        return ENG_OK;
    double at;
    eng_status st = obj->freeze(obj, true);
    if (!st)
        st = obj->loss(obj, &at);
    ctx->evaluations++;
    if (st)
        return st;
    if (at != ctx->loss) {
        if (warning)
            snprintf(warning, size,
                     "the frozen-branch forward gives %.17g where the forward "
                     "gives %.17g: checking with plain differences (kinks possible)",
                     at, ctx->loss);
        return obj->freeze(obj, false);
    }
    ctx->frozen = true;
    return ENG_OK;
}

void gc_unfreeze(gc_context *ctx)
{
    if (ctx->frozen && ctx->obj->freeze)
        ctx->obj->freeze(ctx->obj, false);
    ctx->frozen = false;
}
