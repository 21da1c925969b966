/* Numerical derivatives with error bars, and the verdict for one element.
 *
 * D(h) = (L(x+h) - L(x-h)) / 2h has truncation error c h^2 + O(h^4); with D(h/2) the
 * Richardson extrapolation (4 D(h/2) - D(h)) / 3 cancels the h^2 term, and |D(h) - D(h/2)|
 * estimates D(h/2)'s own truncation error times 3, an upper bound for the extrapolation's.
 * Round-off: each loss carries an error of about loss_noise, so D(h) carries loss_noise / h
 * and the extrapolation (4 * 2 + 1) / 3 = 3 times that. */
#include <math.h>

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
    out->roundoff = ctx->loss_noise * (4 * 2 / fabs(steps[2] - steps[3]) +
                                       2 / fabs(steps[0] - steps[1])) / 3;
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
