/* Tensor-level evidence: every checked element of a tensor together, each weighted by its own
 * error bar. A constant factor of 0.99 is invisible in one element whose bar is 5%, and
 * decisive over four hundred of them.
 *
 * Model: numerical_i = s * analytic_i + e_i, with |e_i| <= bar_i = truncation_i + roundoff_i
 * + rtol * magnitude_i. The round-off part is the rounding jitter of the loss, independent
 * from one element to the next, so it averages down over elements; the truncation part is a
 * bias bound and does not (it is added linearly). Weighted least squares (weights 1/bar^2):
 *   s = sum(w a n) / sum(w a^2),
 *   se(s) = max(sqrt(sum(w^2 a^2 roundoff^2)), residual scatter) / sum(w a^2)
 *           + sum(w |a| (truncation + rtol |a|)) / sum(w a^2).
 * Reported as ratio = analytic / numerical = 1/s with error se/s^2. Two tests, each at a
 * false-FAIL rate of about 1e-6 per tensor when the bars hold as one standard deviation (they
 * are set wider, so the real rate is lower):
 *   scale:  |s - 1| > 5 se(s) (two-sided normal tail 5.7e-7);
 *   pooled: chi2 = sum(((a - n) / bar)^2) above the chi-square quantile for p = 1e-6. */
#include <math.h>

#include "check_internal.h"

#define SCALE_Z 5.0  /* standard errors for the scale test */
#define CHI2_Z 4.753 /* one-sided normal quantile of p = 1e-6 */
#define CONFIRM 0.01 /* a tensor whose ratio is pinned within 1% of 1 passes */

double gc_chi2_quantile(int64_t k, double z)
{
    if (k <= 0)
        return INFINITY;
    double kk = (double)k, c = 2.0 / (9.0 * kk);
    double q = 1.0 - c + z * sqrt(c);
    return kk * q * q * q;
}

static double bar_of(const gc_context *ctx, const gc_sample *s)
{
    double magnitude = fmax(fabs(s->analytic), fabs(s->numerical));
    double bar = s->truncation + s->roundoff + ctx->rtol * magnitude;
    return bar > 0 ? bar : 1e-300;
}

void gc_tensor_statistics(const gc_context *ctx, const gc_sample *s, int64_t count,
                          eng_gc_tensor_report *r)
{
    double saa = 0, san = 0, chi2 = 0, plain_aa = 0, plain_an = 0, plain_nn = 0;
    int64_t dof = 0;
    for (int64_t i = 0; i < count; i++) {
        double a = s[i].analytic, n = s[i].numerical;
        if (a == 0 && n == 0)
            continue;
        double b = bar_of(ctx, &s[i]), w = 1 / (b * b);
        saa += w * a * a;
        san += w * a * n;
        chi2 += w * (a - n) * (a - n);
        plain_aa += a * a;
        plain_an += a * n;
        plain_nn += n * n;
        dof++;
    }
    r->dof = dof;
    r->chi2 = chi2;
    r->chi2_limit = gc_chi2_quantile(dof, CHI2_Z);
    r->ratio = r->ratio_error = r->ratio_spread = NAN;
    r->fit_chi2 = NAN;
    if (!(saa > 0))
        return;
    double scale = san / saa, rand2 = 0, sys = 0, fit = 0;
    for (int64_t i = 0; i < count; i++) {
        double a = s[i].analytic, n = s[i].numerical;
        if (a == 0 && n == 0)
            continue;
        double b = bar_of(ctx, &s[i]), w = 1 / (b * b);
        rand2 += w * w * a * a * s[i].roundoff * s[i].roundoff;
        sys += w * fabs(a) * (s[i].truncation + ctx->rtol * fabs(a));
        fit += w * (n - scale * a) * (n - scale * a);
    }
    double scatter = dof > 1 ? sqrt(fit / (double)(dof - 1) * saa) : 0;
    double se = (fmax(sqrt(rand2), scatter) + sys) / saa;
    r->fit_chi2 = fit;
    r->ratio = 1 / scale;
    r->ratio_error = se / (scale * scale);
    r->ratio_spread = plain_nn > 0 && plain_aa > 0
                          ? sqrt(fmax(0.0, plain_aa - plain_an * plain_an / plain_nn) / plain_aa)
                          : NAN;
}

/* s = 1/ratio and se(s) = ratio_error * s^2, so |s - 1| > Z se(s) reads as below. */
static bool scale_rejects(const eng_gc_tensor_report *r)
{
    if (r->dof < 2 || !isfinite(r->ratio) || r->ratio == 0)
        return false;
    double s = 1 / r->ratio, se = r->ratio_error * s * s;
    return fabs(s - 1) > SCALE_Z * se;
}

bool gc_tensor_rejects(const gc_context *ctx, const eng_gc_tensor_report *r)
{
    (void)ctx;
    return scale_rejects(r) || r->chi2 > r->chi2_limit;
}

bool gc_tensor_confirms(const gc_context *ctx, const eng_gc_tensor_report *r)
{
    (void)ctx;
    return r->dof >= 2 && !gc_tensor_rejects(ctx, r) && isfinite(r->ratio_error) &&
           SCALE_Z * r->ratio_error <= CONFIRM && fabs(r->ratio - 1) <= CONFIRM;
}
