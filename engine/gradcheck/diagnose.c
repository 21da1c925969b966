/* What kind of wrong: a constant factor (batch size, 2, -1), nothing written, a permuted
 * layout, a mismatch confined to some rows or to the border, kinks, vanishing gradients. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_internal.h"

static void append(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void append(char *buf, size_t size, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 3 >= size)
        return;
    if (used) {
        memcpy(buf + used, "; ", 3);
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, size - used, fmt, ap);
    va_end(ap);
}

static bool near(double a, double b, double tol)
{
    return fabs(a - b) <= tol * fabs(b);
}

/* A hypothesis about the analytic buffer's layout: where, in the true gradient, the value
 * stored at flat index k belongs. */
typedef int64_t (*layout_map)(const int64_t *shape, int64_t k);

static int64_t map_transpose_2d(const int64_t *shape, int64_t k)
{
    /* buffer holds G^T [C,R]: element (c, r) at k = c*R + r belongs to G (r, c) */
    int64_t rows = shape[0], cols = shape[1];
    return (k % rows) * cols + k / rows;
}

static int64_t map_swap_channels(const int64_t *shape, int64_t k)
{
    /* buffer holds [in,out,kh,kw] */
    int64_t out = shape[0], in = shape[1], plane = shape[2] * shape[3];
    int64_t i = k / (out * plane), o = k / plane % out, s = k % plane;
    return (o * in + i) * plane + s;
}

static int64_t map_flip_kernel(const int64_t *shape, int64_t k)
{
    int64_t kh = shape[2], kw = shape[3], plane = kh * kw;
    int64_t y = k % plane / kw, x = k % kw;
    return k - k % plane + (kh - 1 - y) * kw + (kw - 1 - x);
}

/* Whether, for up to six failing elements, the analytic value matches the numerical
 * derivative at the mapped position. */
static eng_status test_layout(gc_context *ctx, int t, const eng_gc_element *el, int64_t count,
                              double step, layout_map map, const int64_t *shape, bool *holds)
{
    int tested = 0;
    *holds = false;
    for (int64_t i = 0; i < count && tested < 6; i++) {
        if (el[i].verdict != ENG_GC_FAIL)
            continue;
        int64_t m = map(shape, el[i].index);
        if (m == el[i].index)
            continue;
        gc_estimate e;
        eng_status st = gc_estimate_at(ctx, t, m, step, &e);
        if (st)
            return st;
        double rel;
        if (gc_verdict(ctx, el[i].analytic, &e, &rel) != ENG_GC_PASS)
            return ENG_OK;
        tested++;
    }
    *holds = tested > 0;
    return ENG_OK;
}

static eng_status diagnose_layout(gc_context *ctx, int t, eng_gc_tensor_report *r,
                                  const eng_gc_element *el, int64_t count, double step,
                                  bool *found)
{
    static const struct {
        int ndim;
        layout_map map;
        const char *text;
    } hypotheses[] = {
        {2, map_transpose_2d, "transpose: the analytic gradient holds the transposed matrix "
                              "(laid out [in,out] instead of [out,in])"},
        {4, map_swap_channels, "transpose: input and output channels are swapped in the "
                               "analytic gradient ([in,out,kh,kw] instead of [out,in,kh,kw])"},
        {4, map_flip_kernel, "permutation: the analytic kernel gradient is rotated by 180 "
                             "degrees (convolution instead of cross-correlation)"},
    };
    *found = false;
    for (size_t h = 0; h < sizeof hypotheses / sizeof hypotheses[0]; h++) {
        if (hypotheses[h].ndim != r->ndim)
            continue;
        bool holds;
        eng_status st = test_layout(ctx, t, el, count, step, hypotheses[h].map, r->shape, &holds);
        if (st)
            return st;
        if (holds) {
            append(r->diagnosis, sizeof r->diagnosis, "%s", hypotheses[h].text);
            *found = true;
            return ENG_OK;
        }
    }
    return ENG_OK;
}

/* Richardson estimate of d(loss of sample s alone)/d(element). */
static eng_status sample_derivative(gc_context *ctx, int64_t s, int t, int64_t index, double h,
                                    double *out)
{
    eng_gc_objective *obj = ctx->obj;
    double steps[4] = {h, -h, h / 2, -h / 2}, loss[4];
    for (int i = 0; i < 4; i++) {
        eng_status st = obj->sample_loss_at(obj, s, t, index, steps[i], &loss[i]);
        ctx->evaluations++;
        if (st)
            return st;
    }
    double d1 = (loss[0] - loss[1]) / (2 * h), d2 = (loss[2] - loss[3]) / h;
    *out = (4 * d2 - d1) / 3;
    return ENG_OK;
}

/* Whether the analytic values are proportional to one sample's own gradient: the sum over
 * the batch was dropped (only the first or the last sample's contribution kept). */
static eng_status diagnose_one_sample(gc_context *ctx, int t, eng_gc_tensor_report *r,
                                      const eng_gc_element *el, int64_t count, double step,
                                      bool *found)
{
    *found = false;
    int64_t n = ctx->obj->batch;
    if (!ctx->obj->sample_loss_at || n < 2)
        return ENG_OK;
    int64_t candidates[2] = {0, n - 1};
    for (int c = 0; c < 2; c++) {
        double saa = 0, san = 0, snn = 0;
        int used = 0;
        for (int64_t i = 0; i < count && used < 6; i++) {
            if (el[i].verdict != ENG_GC_FAIL)
                continue;
            double d;
            eng_status st = sample_derivative(ctx, candidates[c], t, el[i].index, step, &d);
            if (st)
                return st;
            saa += el[i].analytic * el[i].analytic;
            san += el[i].analytic * d;
            snn += d * d;
            used++;
        }
        if (used == 0 || snn == 0 || saa == 0)
            continue;
        double ratio = san / snn, spread = sqrt(fmax(0.0, saa - san * san / snn) / saa);
        if (spread < 0.02) {
            char factor[64] = "";
            if (near(ratio, 1.0 / (double)n, 0.01))
                snprintf(factor, sizeof factor, " divided by the batch size");
            else if (!near(ratio, 1, 0.01))
                snprintf(factor, sizeof factor, " times %.4g", ratio);
            append(r->diagnosis, sizeof r->diagnosis,
                   "partial: the analytic gradient is sample %lld's gradient alone%s (1-based, "
                   "of %lld): the sum over the batch is missing",
                   (long long)candidates[c] + 1, factor, (long long)n);
            *found = true;
            return ENG_OK;
        }
    }
    return ENG_OK;
}

/* Failures confined to some leading indices (rows, channels, samples) or to the spatial
 * border. */
static bool diagnose_partial(eng_gc_tensor_report *r, const eng_gc_element *el, int64_t count,
                             bool is_input)
{
    int64_t numel = 1;
    for (int d = 0; d < r->ndim; d++)
        numel *= r->shape[d];
    if (r->ndim >= 3) {
        int64_t h = r->shape[r->ndim - 2], w = r->shape[r->ndim - 1];
        int64_t border_fail = 0, border_pass = 0, inner_fail = 0, inner_pass = 0;
        for (int64_t i = 0; i < count; i++) {
            int64_t y = el[i].index / w % h, x = el[i].index % w;
            bool border = y == 0 || x == 0 || y == h - 1 || x == w - 1;
            if (el[i].verdict == ENG_GC_FAIL)
                border ? border_fail++ : inner_fail++;
            else if (el[i].verdict == ENG_GC_PASS)
                border ? border_pass++ : inner_pass++;
        }
        if (h > 2 && w > 2 && border_fail > 0 && inner_fail == 0 && inner_pass > 0) {
            append(r->diagnosis, sizeof r->diagnosis,
                   "partial: only elements on the spatial border fail (%lld failed, %lld "
                   "passed there; the interior passes): padding or bounds in the backward?",
                   (long long)border_fail, (long long)border_pass);
            return true;
        }
    }
    if (r->ndim >= 1 && r->shape[0] > 1) {
        int64_t rows = r->shape[0], per_row = numel / rows;
        int64_t *fail = calloc((size_t)rows, sizeof *fail), *pass = calloc((size_t)rows, sizeof *pass);
        bool confined = false;
        if (fail && pass) {
            for (int64_t i = 0; i < count; i++) {
                int64_t row = el[i].index / per_row;
                if (el[i].verdict == ENG_GC_FAIL)
                    fail[row]++;
                else if (el[i].verdict == ENG_GC_PASS)
                    pass[row]++;
            }
            int64_t bad = 0, mixed = 0, good = 0;
            for (int64_t k = 0; k < rows; k++) {
                if (fail[k] && pass[k])
                    mixed++;
                else if (fail[k])
                    bad++;
                else if (pass[k])
                    good++;
            }
            if (bad > 0 && mixed == 0 && good > 0) {
                char list[96] = "";
                size_t used = 0;
                for (int64_t k = 0, shown = 0; k < rows && used < sizeof list - 16; k++) {
                    if (!fail[k])
                        continue;
                    if (shown++ == 6) {
                        used += (size_t)snprintf(list + used, sizeof list - used, ", ...");
                        break;
                    }
                    used += (size_t)snprintf(list + used, sizeof list - used, "%s%lld",
                                             shown > 1 ? ", " : "", (long long)k + 1);
                }
                const char *what = is_input ? "samples" : (r->ndim == 4 ? "output channels" : "rows");
                append(r->diagnosis, sizeof r->diagnosis,
                       "partial: only %s %s (1-based, %lld of %lld with failures) are wrong",
                       what, list, (long long)bad, (long long)rows);
                confined = true;
            }
        }
        free(fail);
        free(pass);
        if (confined)
            return true;
    }
    return false;
}

eng_status gc_diagnose(gc_context *ctx, int t, eng_gc_tensor_report *r,
                       const eng_gc_element *el, int64_t count, double step)
{
    r->diagnosis[0] = r->advice[0] = '\0';
    bool is_input = strcmp(r->name, "input") == 0;
    if (r->verdict == ENG_GC_FAIL) {
        bool all_zero = true;
        for (int64_t i = 0; i < count; i++)
            if (el[i].verdict != ENG_GC_KINK && el[i].analytic != 0)
                all_zero = false;
        double ratio = r->ratio;
        int64_t n = ctx->obj->batch;
        /* one constant factor explains every element: the relative residual is small, or the
         * residual about the fit is within the elements' error bars */
        bool constant = isfinite(ratio) &&
                        (r->ratio_spread < 0.02 ||
                         (r->dof >= 2 && r->fit_chi2 <= gc_chi2_quantile(r->dof - 1, 4.753)));
        char over[96];
        if (r->tensor_level)
            snprintf(over, sizeof over, "over %lld elements together (each alone within its "
                     "error bar)", (long long)r->dof);
        else
            snprintf(over, sizeof over, "on every checked element");
        if (all_zero) {
            append(r->diagnosis, sizeof r->diagnosis,
                   "zero: the analytic gradient is 0 where the numerical one is not (the "
                   "backward never wrote this gradient)");
        } else if (constant && near(ratio, -1, 0.02)) {
            append(r->diagnosis, sizeof r->diagnosis,
                   "sign: analytic = -numerical %s (a sign flip)", over);
        } else if (constant && (!near(ratio, 1, 1e-3) || r->tensor_level)) {
            char why[96] = "";
            if (n > 1 && near(ratio, (double)n, 0.01))
                snprintf(why, sizeof why, " = the batch size %lld: a missing 1/N?", (long long)n);
            else if (n > 1 && near(ratio, 1.0 / (double)n, 0.01))
                snprintf(why, sizeof why, " = 1/batch size (1/%lld): divided by N twice?",
                         (long long)n);
            else if (near(ratio, 2, 0.01))
                snprintf(why, sizeof why, ": doubled, accumulated twice?");
            else if (near(ratio, 0.5, 0.01))
                snprintf(why, sizeof why, ": halved");
            append(r->diagnosis, sizeof r->diagnosis,
                   "scale %.3g: analytic = %.6g (+- %.2g) x numerical %s%s", ratio, ratio,
                   r->ratio_error, over, why);
        } else {
            bool found = false;
            eng_status st = diagnose_layout(ctx, t, r, el, count, step, &found);
            if (st)
                return st;
            if (!found && !is_input)
                st = diagnose_one_sample(ctx, t, r, el, count, step, &found);
            if (st)
                return st;
            if (!found && !diagnose_partial(r, el, count, is_input))
                append(r->diagnosis, sizeof r->diagnosis,
                       "mismatch not explained by a constant factor (best fit %.4g x, "
                       "residual %.0f%%), a layout or a subset",
                       ratio, 100 * r->ratio_spread);
        }
    }
    if (r->kinks > 0)
        append(r->diagnosis, sizeof r->diagnosis,
               "kink: %lld of %lld elements straddle a branch switch (ReLU sign or max-pool "
               "winner) and are not counted",
               (long long)r->kinks, (long long)r->checked);
    if (r->grad_rms < 1e-7 * fabs(ctx->loss))
        append(r->diagnosis, sizeof r->diagnosis,
               "vanishing: rms gradient %.2e against a loss of %.4g; the signal hardly reaches "
               "this tensor (look at the initialisation)",
               r->grad_rms, ctx->loss);
    if (r->verdict == ENG_GC_INCONCLUSIVE) {
        if (ctx->u > 1e-10)
            snprintf(r->advice, sizeof r->advice,
                     "decide it in float64: model:to('f64') (float32 round-off hides gradients "
                     "below %.2e at this step)", r->noise_floor);
        else
            snprintf(r->advice, sizeof r->advice,
                     "the gradients (rms %.2e) sit near the noise floor %.2e of step %.2e: try "
                     "a larger step, scale the loss up, or a random-projection objective",
                     r->grad_rms, r->noise_floor, step);
    }
    return ENG_OK;
}
