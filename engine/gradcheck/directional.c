/* Directional mode, the Taylor remainder test and the epsilon sweep: checks along whole
 * directions, whose cost does not grow with the number of parameters. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check_internal.h"

void gc_direction_free(gc_direction *d)
{
    for (int i = 0; i < d->ntensors; i++) {
        eng_tensor_release(d->v[i]);
        eng_tensor_release(d->saved[i]);
    }
    free(d->v);
    free(d->saved);
}

/* A random unit direction supported on tensor `only` (all when -1) and, within it, on the
 * flat range [lo, hi) (all when hi <= lo). */
eng_status gc_direction_new(eng_gc_objective *obj, int only, int64_t lo, int64_t hi, eng_rng *rng,
                            gc_direction *d)
{
    d->ntensors = obj->ntensors;
    d->v = calloc((size_t)obj->ntensors + 1, sizeof *d->v);
    d->saved = calloc((size_t)obj->ntensors + 1, sizeof *d->saved);
    if (!d->v || !d->saved)
        return eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    double norm = 0;
    for (int t = 0; t < obj->ntensors; t++) {
        if (only >= 0 && t != only)
            continue;
        const eng_tensor *value = obj->tensors[t].value;
        eng_status st = eng_tensor_new(ENG_F64, value->ndim, value->shape, &d->v[t]);
        if (!st)
            st = eng_tensor_clone(value, &d->saved[t]);
        if (st)
            return st;
        int64_t n = eng_tensor_numel(value);
        double *v = ENG_F64_DATA(d->v[t]);
        for (int64_t i = 0; i < n; i++) {
            if (hi > lo && (i < lo || i >= hi))
                continue;
            v[i] = eng_rng_normal(rng);
            norm += v[i] * v[i];
        }
    }
    norm = sqrt(norm);
    for (int t = 0; t < obj->ntensors; t++) {
        if (!d->v[t])
            continue;
        double *v = ENG_F64_DATA(d->v[t]);
        for (int64_t i = 0, n = eng_tensor_numel(d->v[t]); i < n; i++)
            v[i] = norm > 0 ? v[i] / norm : 0.0;
    }
    return ENG_OK;
}

/* g.v over the analytic gradients. */
double gc_directional_analytic(const eng_gc_objective *obj, const gc_direction *d)
{
    double acc = 0;
    for (int t = 0; t < obj->ntensors; t++) {
        if (!d->v[t])
            continue;
        const double *v = ENG_F64_DATA(d->v[t]);
        const eng_tensor *g = obj->tensors[t].grad;
        int64_t n = eng_tensor_numel(d->v[t]);
        if (g->dtype == ENG_F64 && eng_tensor_is_contiguous(g)) {
            const double *gp = ENG_F64_DATA(g);
            for (int64_t i = 0; i < n; i++)
                acc += v[i] * gp[i];
        } else {
            for (int64_t i = 0; i < n; i++)
                if (v[i] != 0)
                    acc += v[i] * eng_tensor_get_flat(g, i);
        }
    }
    return acc;
}

/* L(x + h v), restoring x exactly afterwards. */
eng_status gc_loss_along(gc_context *ctx, const gc_direction *d, double h, double *value)
{
    eng_gc_objective *obj = ctx->obj;
    for (int t = 0; t < obj->ntensors; t++) {
        if (!d->v[t])
            continue;
        eng_tensor *x = obj->tensors[t].value;
        const double *v = ENG_F64_DATA(d->v[t]);
        int64_t n = eng_tensor_numel(x);
        if (x->dtype == ENG_F64 && eng_tensor_is_contiguous(x)) {
            double *p = ENG_F64_DATA(x);
            const double *saved = ENG_F64_DATA(d->saved[t]);
            for (int64_t i = 0; i < n; i++)
                p[i] = saved[i] + h * v[i];
        } else {
            for (int64_t i = 0; i < n; i++)
                if (v[i] != 0)
                    eng_tensor_set_flat(x, i, eng_tensor_get_flat(d->saved[t], i) + h * v[i]);
        }
    }
    eng_status st = obj->loss(obj, value);
    ctx->evaluations++;
    /* the parameters must come back even when the loss failed; a failed restore is the error
     * to report, since the model is then left perturbed */
    for (int t = 0; t < obj->ntensors; t++) {
        eng_status restored =
            d->v[t] ? eng_tensor_copy(obj->tensors[t].value, d->saved[t]) : ENG_OK;
        if (restored)
            st = restored;
    }
    return st;
}

/* The directional derivative with its error bar, as gc_estimate_at does for one element. The
 * step is relative to the rms of the values along the direction's support. */
static eng_status estimate_along(gc_context *ctx, const gc_direction *d, double h, gc_estimate *e)
{
    double loss[4], steps[4] = {h, -h, h / 2, -h / 2};
    for (int i = 0; i < 4; i++) {
        eng_status st = gc_loss_along(ctx, d, steps[i], &loss[i]);
        if (st)
            return st;
    }
    double d1 = (loss[0] - loss[1]) / (2 * h), d2 = (loss[2] - loss[3]) / h;
    e->coarse = d1;
    e->value = (4 * d2 - d1) / 3;
    e->truncation = fabs(d1 - d2) / 3;
    e->roundoff = 3 * ctx->loss_noise / h;
    e->kink = false;
    return ENG_OK;
}

double gc_value_scale(const eng_gc_objective *obj, int only)
{
    double acc = 0;
    int64_t count = 0;
    for (int t = 0; t < obj->ntensors; t++) {
        if (only >= 0 && t != only)
            continue;
        const eng_tensor *x = obj->tensors[t].value;
        for (int64_t i = 0, n = eng_tensor_numel(x); i < n; i++) {
            double v = eng_tensor_get_flat(x, i);
            acc += v * v;
        }
        count += eng_tensor_numel(x);
    }
    double rms = count ? sqrt(acc / (double)count) : 0;
    return rms > 0 ? rms : 1.0;
}

/* One directional test: the verdict, choosing the better of a few steps. */
static eng_status test_direction(gc_context *ctx, int only, int64_t lo, int64_t hi, eng_rng *rng,
                                 eng_gc_verdict *verdict)
{
    gc_direction d = {0};
    eng_status st = gc_direction_new(ctx->obj, only, lo, hi, rng, &d);
    if (st) {
        gc_direction_free(&d);
        return st;
    }
    double a = gc_directional_analytic(ctx->obj, &d), scale = gc_value_scale(ctx->obj, only);
    gc_estimate best = {0};
    double best_bar = INFINITY, best_h = scale;
    /* frozen branches: no kink to step over, so steps up to the values' scale are fair */
    for (int k = ctx->frozen ? -1 : 1; k <= 6; k += 2) {
        gc_estimate e;
        double h = scale * pow(10.0, -k);
        st = estimate_along(ctx, &d, h, &e);
        if (st)
            break;
        if (gc_error_bar(&e) < best_bar) {
            best = e;
            best_bar = gc_error_bar(&e);
            best_h = h;
        }
    }
    best.coarse_step = best_h;
    double rel;
    if (!st)
        *verdict = gc_verdict(ctx, a, &best, &rel);
    /* As element-wise, a FAIL must survive a quarter of the step: ReLU switches along the
     * direction (no signature is hashed here) bend the quotient at one step. */
    if (!st && *verdict == ENG_GC_FAIL) {
        double h = best.coarse_step;
        gc_estimate second;
        st = estimate_along(ctx, &d, h / 4, &second);
        if (!st) {
            double bars = ctx->nsigma * (gc_error_bar(&best) + gc_error_bar(&second));
            double magnitude = fmax(fabs(best.value), fabs(second.value));
            if (fabs(second.value - best.value) > bars + ctx->rtol * magnitude ||
                gc_verdict(ctx, a, &second, &rel) != ENG_GC_FAIL)
                *verdict = ENG_GC_INCONCLUSIVE;
        }
    }
    gc_direction_free(&d);
    return st;
}

/* Bisects [lo, hi) of tensor t to single failing elements (at most `room` of them). */
static eng_status bisect(gc_context *ctx, int t, int64_t lo, int64_t hi, eng_rng *rng,
                         int64_t *found, int *nfound, int room)
{
    if (*nfound >= room || hi <= lo)
        return ENG_OK;
    if (hi - lo == 1) {
        found[(*nfound)++] = lo;
        return ENG_OK;
    }
    int64_t mid = lo + (hi - lo) / 2;
    int64_t halves[2][2] = {{lo, mid}, {mid, hi}};
    for (int h = 0; h < 2; h++) {
        eng_gc_verdict v;
        eng_status st = test_direction(ctx, t, halves[h][0], halves[h][1], rng, &v);
        if (st)
            return st;
        if (v == ENG_GC_FAIL) {
            st = bisect(ctx, t, halves[h][0], halves[h][1], rng, found, nfound, room);
            if (st)
                return st;
        }
    }
    return ENG_OK;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A tensor with a failed direction: bisection to failing elements, then the element-wise
 * check and diagnosis on a sample; its report goes into report. */
static eng_status examine_tensor(gc_context *ctx, int t, const eng_gc_options *opts, eng_rng *rng,
                                 bool smooth, eng_gc_report *report)
{
    eng_gc_objective *obj = ctx->obj;
    int64_t found[8];
    int nfound = 0;
    eng_status st =
        bisect(ctx, t, 0, eng_tensor_numel(obj->tensors[t].value), rng, found, &nfound, 8);
    if (st)
        return st;
    eng_gc_options element_opts = *opts;
    element_opts.only = obj->tensors[t].name;
    element_opts.exclude = NULL;
    element_opts.no_localise = true;
    if (element_opts.samples <= 0)
        element_opts.samples = 16;
    eng_gc_report *one = NULL;
    st = eng_gc_check(obj, &element_opts, &one);
    if (!st && ctx->frozen)
        st = obj->freeze(obj, true); /* the element-wise check unfroze it */
    eng_gc_tensor_report *grown =
        st ? NULL : realloc(report->tensors, sizeof *grown * (size_t)(report->ntensors + 1));
    if (!st && !grown)
        st = eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    if (st) {
        eng_gc_report_free(one);
        return st;
    }
    report->evaluations += one->evaluations;
    report->tensors = grown;
    report->tensors[report->ntensors] = one->tensors[0];
    one->tensors[0].worst = NULL;
    eng_gc_report_free(one);
    eng_gc_tensor_report *r = &report->tensors[report->ntensors++];
    /* Failed directions of a smooth (frozen) function decide the tensor even when the
     * sampled elements missed the fault; otherwise a kink along a direction could explain
     * them, and only failed elements make a FAIL. */
    if (smooth) {
        r->verdict = ENG_GC_FAIL;
    } else if (r->verdict != ENG_GC_FAIL) {
        r->verdict = ENG_GC_INCONCLUSIVE;
        snprintf(r->diagnosis + strlen(r->diagnosis), sizeof r->diagnosis - strlen(r->diagnosis),
                 "%sdirections failed but no element does: kinks along the directions (a "
                 "layer without frozen branches) may explain it",
                 r->diagnosis[0] ? "; " : "");
    }
    if (nfound) {
        char list[160] = "";
        size_t used = 0;
        for (int i = 0; i < nfound && used < sizeof list - 24; i++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%lld", i ? ", " : "",
                                     (long long)found[i] + 1);
        snprintf(r->advice, sizeof r->advice,
                 "bisection isolated failing elements at flat positions %s (1-based)", list);
    }
    if (!report->first_failing[0] && r->verdict == ENG_GC_FAIL)
        snprintf(report->first_failing, sizeof report->first_failing, "%s", r->name);
    return ENG_OK;
}

/* Each tensor's share of the k directions, and the failing tensors examined. */
static eng_status run_directions(gc_context *ctx, int k, const eng_gc_options *opts, eng_rng *rng,
                                 eng_gc_report *report)
{
    eng_gc_objective *obj = ctx->obj;
    bool smooth = ctx->frozen && obj->has_signatures && obj->all_branches_freeze;
    /* Directions per tensor: one joint direction over everything would be dominated by the
     * tensors with the largest gradients and hide a wrong one whose gradients are tiny (the
     * seed question's first layer). Each tensor gets its share of the k directions. */
    int per_tensor = obj->ntensors ? (k + obj->ntensors - 1) / obj->ntensors : k;
    if (per_tensor < 2)
        per_tensor = 2;
    int passed = 0, failed = 0, total = 0, failed_tensors = 0;
    for (int t = 0; t < obj->ntensors; t++) {
        int tensor_failed = 0;
        for (int i = 0; i < per_tensor; i++) {
            eng_gc_verdict v;
            eng_status st = test_direction(ctx, t, 0, 0, rng, &v);
            if (st)
                return st;
            total++;
            passed += v == ENG_GC_PASS;
            tensor_failed += v == ENG_GC_FAIL;
        }
        failed += tensor_failed;
        if (!tensor_failed)
            continue;
        eng_status st = examine_tensor(ctx, t, opts, rng, smooth, report);
        if (st)
            return st;
        failed_tensors += report->tensors[report->ntensors - 1].verdict == ENG_GC_FAIL;
    }
    report->directions = total;
    report->directions_failed = failed;
    report->directions_tensors = obj->ntensors;
    for (int t = 0; t < obj->ntensors; t++)
        report->elements_total += eng_tensor_numel(obj->tensors[t].value);
    for (int i = 0; i < report->ntensors; i++)
        report->elements_checked += report->tensors[i].checked;
    report->verdict =
        failed_tensors ? ENG_GC_FAIL : (passed == total ? ENG_GC_PASS : ENG_GC_INCONCLUSIVE);
    return ENG_OK;
}

static eng_status localise_directions(eng_gc_objective *obj, const eng_gc_options *opts,
                                      eng_gc_report *report)
{
    int from = 0;
    for (int i = 0; i < report->ntensors; i++)
        if (report->tensors[i].verdict == ENG_GC_FAIL && report->tensors[i].layer_index > from)
            from = report->tensors[i].layer_index;
    eng_status st = obj->localise(obj, from, opts, report);
    if (!st && report->culprit[0])
        snprintf(report->summary, sizeof report->summary,
                 "the backward of %.60s is wrong: %.150s (found by checking each suspect "
                 "layer alone on its real input)",
                 report->culprit, report->localisation);
    return st;
}

eng_status eng_gc_check_directions(eng_gc_objective *obj, int k, const eng_gc_options *opts_in,
                                   eng_gc_report **out)
{
    *out = NULL;
    if (k <= 0)
        return eng_error(ENG_EARG, "gradcheck: %d directions, expected at least 1", k);
    double start = now();
    eng_gc_options opts = opts_in ? *opts_in : (eng_gc_options){0};
    gc_context ctx = {
        .obj = obj,
        .u = obj->dtype == ENG_F32 ? 0x1p-24 : 0x1p-53,
        .nsigma = opts.nsigma > 0 ? opts.nsigma : 3.0,
        .rtol = opts.rtol > 0 ? opts.rtol : (obj->dtype == ENG_F32 ? 1e-3 : 1e-6),
    };
    eng_rng rng;
    eng_rng_seed(&rng, opts.seed ^ 0x5bd1e995u);
    double again;
    eng_status st = obj->loss(obj, &ctx.loss);
    if (!st)
        st = obj->loss(obj, &again);
    if (!st)
        st = obj->gradient(obj);
    eng_gc_report *report = st ? NULL : calloc(1, sizeof *report);
    if (!st && !report)
        st = eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    /* Frozen branches make the function along a direction smooth: a direction that fails (at
     * two steps) is then evidence of a wrong gradient, not of a kink. */
    if (!st)
        st = gc_freeze(&ctx, report->warning, sizeof report->warning);
    if (!st)
        st = gc_calibrate_noise(&ctx, &rng);
    if (st)
        goto fail;
    report->kink_free = ctx.frozen;
    report->mode = "directional";
    report->dtype = obj->dtype;
    report->loss = ctx.loss;
    if (again != ctx.loss) {
        report->nondeterministic = true;
        report->verdict = ENG_GC_INCONCLUSIVE;
        snprintf(report->warning, sizeof report->warning,
                 "nondeterministic forward: two evaluations at the same point gave %.17g and "
                 "%.17g (dropout in training mode? call :eval() before checking)",
                 ctx.loss, again);
    } else {
        st = run_directions(&ctx, k, &opts, &rng, report);
        gc_unfreeze(&ctx);
        if (!st && report->verdict == ENG_GC_FAIL && obj->localise && !opts.no_localise)
            st = localise_directions(obj, &opts, report);
        if (st)
            goto fail;
    }
    gc_unfreeze(&ctx);
    report->ok = report->verdict == ENG_GC_PASS;
    report->loss_noise = ctx.loss_noise;
    report->evaluations += ctx.evaluations;
    report->seconds = now() - start;
    *out = report;
    return ENG_OK;
fail:
    gc_unfreeze(&ctx);
    eng_gc_report_free(report);
    return st;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

eng_status eng_gc_sweep(eng_gc_objective *obj, int t, const double *steps, int nsteps,
                        int64_t samples, uint64_t seed, double *errors)
{
    if (t < 0 || t >= obj->ntensors)
        return eng_error(ENG_EARG, "gradcheck: no tensor %d (the objective has %d)", t + 1,
                         obj->ntensors);
    eng_status st = obj->gradient(obj);
    if (st)
        return st;
    const eng_tensor *value = obj->tensors[t].value, *grad = obj->tensors[t].grad;
    int64_t n = eng_tensor_numel(value);
    if (samples <= 0 || samples > n)
        samples = n;
    eng_rng rng;
    eng_rng_seed(&rng, seed);
    int64_t *indices = malloc(sizeof *indices * (size_t)(samples + 1));
    double *rel = malloc(sizeof *rel * (size_t)(samples + 1));
    if (!indices || !rel) {
        free(indices);
        free(rel);
        return eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    }
    for (int64_t i = 0; i < samples; i++)
        indices[i] = samples == n ? i : (int64_t)eng_rng_below(&rng, (uint64_t)n);
    for (int s = 0; s < nsteps && !st; s++) {
        int64_t used = 0;
        for (int64_t i = 0; i < samples && !st; i++) {
            double lp, lm, g = eng_tensor_get_flat(grad, indices[i]);
            st = obj->loss_at(obj, t, indices[i], steps[s], &lp, NULL);
            if (!st)
                st = obj->loss_at(obj, t, indices[i], -steps[s], &lm, NULL);
            if (!st && g != 0)
                rel[used++] = fabs((lp - lm) / (2 * steps[s]) - g) / fabs(g);
        }
        if (!st) {
            qsort(rel, (size_t)used, sizeof *rel, cmp_double);
            errors[s] = used ? rel[used / 2] : NAN;
        }
    }
    (void)value;
    free(indices);
    free(rel);
    return st;
}
