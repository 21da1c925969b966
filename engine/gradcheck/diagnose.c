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
                                  const eng_gc_element *el, int64_t count, double step, bool *found)
{
    static const struct {
        int ndim;
        layout_map map;
        const char *text;
    } hypotheses[] = {
        {2, map_transpose_2d,
         "transpose: the analytic gradient holds the transposed matrix "
         "(laid out [in,out] instead of [out,in])"},
        {4, map_swap_channels,
         "transpose: input and output channels are swapped in the "
         "analytic gradient ([in,out,kh,kw] instead of [out,in,kh,kw])"},
        {4, map_flip_kernel,
         "permutation: the analytic kernel gradient is rotated by 180 "
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
        /* One failing element fits any sample's gradient by some factor: the decomposition
         * needs several elements, and a factor that a dropped sum explains (1 or 1/N). */
        if (used < 2 || snn == 0 || saa == 0)
            continue;
        double ratio = san / snn, spread = sqrt(fmax(0.0, saa - san * san / snn) / saa);
        if (spread < 0.02 && (near(ratio, 1, 0.02) || near(ratio, 1.0 / (double)n, 0.02))) {
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

/* "(i,j,k)" 1-based for flat index `flat` of the tensor r. */
static void format_index(const eng_gc_tensor_report *r, int64_t flat, char *buf, size_t size)
{
    int64_t coord[ENG_MAX_DIMS];
    for (int d = r->ndim - 1; d >= 0; d--) {
        coord[d] = flat % r->shape[d];
        flat /= r->shape[d];
    }
    size_t used = (size_t)snprintf(buf, size, "(");
    for (int d = 0; d < r->ndim && used + 24 < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", d ? "," : "",
                                 (long long)coord[d] + 1);
    snprintf(buf + used, size - used, ")");
}

/* A hypothesis "the failures are confined to some groups" (rows, channels, spatial rows or
 * columns, the border, one element): group(index) names each element's group. */
typedef struct grouping {
    const char *what; /* plural noun, "output channels" */
    int64_t ngroups;
    int64_t div, mod; /* group = index / div % mod (mod = ngroups) */
    bool border;      /* group 1 = the spatial border, 0 = the interior */
} grouping;

static int64_t group_of(const grouping *g, const eng_gc_tensor_report *r, int64_t index)
{
    if (g->border) {
        int64_t h = r->shape[r->ndim - 2], w = r->shape[r->ndim - 1];
        int64_t y = index / w % h, x = index % w;
        return y == 0 || x == 0 || y == h - 1 || x == w - 1;
    }
    return index / g->div % g->mod;
}

static int groupings(const eng_gc_tensor_report *r, bool is_input, grouping *out)
{
    int n = 0, d = r->ndim;
    int64_t numel = 1;
    for (int k = 0; k < d; k++)
        numel *= r->shape[k];
    if (d >= 1 && r->shape[0] > 1)
        out[n++] = (grouping){is_input ? "samples" : (d == 4 ? "output channels" : "rows"),
                              r->shape[0], numel / r->shape[0], r->shape[0], false};
    if (d >= 2 && r->shape[1] > 1)
        out[n++] = (grouping){is_input ? "channels" : (d == 4 ? "input channels" : "columns"),
                              r->shape[1], numel / r->shape[0] / r->shape[1], r->shape[1], false};
    if (d >= 3) {
        int64_t h = r->shape[d - 2], w = r->shape[d - 1];
        if (h > 1)
            out[n++] = (grouping){"rows of the spatial plane", h, w, h, false};
        if (w > 1)
            out[n++] = (grouping){"columns of the spatial plane", w, 1, w, false};
        if (h > 2 && w > 2)
            out[n++] = (grouping){"the spatial border", 2, 1, 2, true};
    }
    return n;
}

/* Scores one grouping over the checked elements: the failing groups, the passes inside them
 * and outside. */
static bool score_grouping(const grouping *g, const eng_gc_tensor_report *r,
                           const eng_gc_element *el, int64_t count, double *score, int64_t *groups,
                           double *coverage, char *list, size_t size)
{
    uint8_t *failing = calloc((size_t)g->ngroups, 1);
    if (!failing)
        return false;
    int64_t failed = 0, inside = 0, outside = 0, nfailing = 0;
    for (int64_t i = 0; i < count; i++)
        if (el[i].verdict == ENG_GC_FAIL) {
            int64_t k = group_of(g, r, el[i].index);
            nfailing += !failing[k];
            failing[k] = 1;
            failed++;
        }
    for (int64_t i = 0; i < count; i++)
        if (el[i].verdict == ENG_GC_PASS)
            failing[group_of(g, r, el[i].index)] ? inside++ : outside++;
    bool ok = failed > 0 && outside > 0 && nfailing < g->ngroups && (!g->border || failing[1]);
    if (g->border && failing[0])
        ok = false;
    *score = failed ? (double)inside / (double)(inside + failed) : 1.0;
    *coverage = (double)nfailing / (double)g->ngroups;
    *groups = nfailing;
    size_t used = 0;
    list[0] = '\0';
    for (int64_t k = 0, shown = 0; ok && !g->border && k < g->ngroups && used + 16 < size; k++) {
        if (!failing[k])
            continue;
        if (shown++ == 6) {
            used += (size_t)snprintf(list + used, size - used, ", ...");
            break;
        }
        used += (size_t)snprintf(list + used, size - used, "%s%lld", shown > 1 ? ", " : "",
                                 (long long)k + 1);
    }
    free(failing);
    return ok;
}

/* Failures confined to part of the tensor: one element, some rows, columns, channels, samples,
 * spatial rows or columns, or the border. The failed set decides; passes are allowed inside
 * the failing groups (elements whose gradient is zero both ways) as long as failures dominate
 * there, and must exist outside. The most specific grouping that explains the failures wins. */
static bool diagnose_partial(eng_gc_tensor_report *r, const eng_gc_element *el, int64_t count,
                             bool is_input)
{
    int64_t failed = 0, passed = 0, one = -1;
    for (int64_t i = 0; i < count; i++) {
        failed += el[i].verdict == ENG_GC_FAIL;
        passed += el[i].verdict == ENG_GC_PASS;
        if (el[i].verdict == ENG_GC_FAIL)
            one = el[i].index;
    }
    if (failed == 1 && passed >= 3) {
        char idx[96];
        format_index(r, one, idx, sizeof idx);
        append(r->diagnosis, sizeof r->diagnosis,
               "partial: only element %s (1-based) is wrong; the other %lld checked elements "
               "pass",
               idx, (long long)passed);
        return true;
    }
    grouping g[5];
    int n = groupings(r, is_input, g), best = -1;
    double best_score = 0.5, best_cov = 2;
    int64_t best_groups = INT64_MAX;
    char best_list[96] = "";
    /* the fewest inside passes, then the fewest failing groups (one row rather than three
     * columns), then the smallest part of the tensor */
    for (int k = 0; k < n; k++) {
        double score, cov;
        int64_t groups;
        char list[96];
        if (!score_grouping(&g[k], r, el, count, &score, &groups, &cov, list, sizeof list))
            continue;
        bool tie = fabs(score - best_score) <= 1e-12;
        if ((score < best_score && !tie) || (tie && groups < best_groups) ||
            (tie && groups == best_groups && cov < best_cov)) {
            best = k;
            best_score = score;
            best_groups = groups;
            best_cov = cov;
            snprintf(best_list, sizeof best_list, "%s", list);
        }
    }
    if (best < 0)
        return false;
    if (g[best].border)
        append(r->diagnosis, sizeof r->diagnosis,
               "partial: only elements on the spatial border fail (the interior passes): "
               "padding or bounds in the backward?");
    else
        append(r->diagnosis, sizeof r->diagnosis,
               "partial: only %s %s (1-based, of %lld) are wrong; the others pass", g[best].what,
               best_list, (long long)g[best].ngroups);
    return true;
}

/* A FAILed tensor: a constant factor (sign, batch size, 2), nothing written, a layout, one
 * sample's gradient, or a part of the tensor. */
static eng_status diagnose_failure(gc_context *ctx, int t, eng_gc_tensor_report *r,
                                   const eng_gc_element *el, int64_t count, double step,
                                   bool is_input)
{
    bool all_zero = true;
    for (int64_t i = 0; i < count; i++)
        if (el[i].verdict != ENG_GC_KINK && el[i].analytic != 0)
            all_zero = false;
    double ratio = r->ratio;
    int64_t n = ctx->obj->batch;
    /* one constant factor explains every element: the relative residual is small, or the
     * residual about the fit is within the elements' error bars */
    bool constant =
        isfinite(ratio) && (r->ratio_spread < 0.02 ||
                            (r->dof >= 2 && r->fit_chi2 <= gc_chi2_quantile(r->dof - 1, 4.753)));
    char over[96];
    if (r->tensor_level)
        snprintf(over, sizeof over,
                 "over %lld elements together (each alone within its "
                 "error bar)",
                 (long long)r->dof);
    else
        snprintf(over, sizeof over, "on every checked element");
    if (all_zero) {
        append(r->diagnosis, sizeof r->diagnosis,
               "zero: the analytic gradient is 0 where the numerical one is not (the "
               "backward never wrote this gradient)");
    } else if (constant && near(ratio, -1, 0.02)) {
        append(r->diagnosis, sizeof r->diagnosis, "sign: analytic = -numerical %s (a sign flip)",
               over);
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
        if (!st && !found && !is_input)
            st = diagnose_one_sample(ctx, t, r, el, count, step, &found);
        if (st)
            return st;
        if (!found && !diagnose_partial(r, el, count, is_input))
            append(r->diagnosis, sizeof r->diagnosis,
                   "mismatch not explained by a constant factor (best fit %.4g x, "
                   "residual %.0f%%), a layout or a subset",
                   ratio, 100 * r->ratio_spread);
    }
    return ENG_OK;
}

/* A tensor that did not FAIL and whose analytic gradient is exactly zero: says so, with the
 * largest numerical derivative and its error bar as the evidence. */
static void diagnose_zero(eng_gc_tensor_report *r, const eng_gc_element *el, int64_t count)
{
    bool zero = true;
    double largest = 0, bar = 0;
    for (int64_t i = 0; i < count && zero; i++) {
        if (el[i].verdict == ENG_GC_KINK)
            continue;
        zero = el[i].analytic == 0;
        if (fabs(el[i].numerical) >= largest) {
            largest = fabs(el[i].numerical);
            bar = el[i].error;
        }
    }
    if (zero && largest == 0)
        append(r->diagnosis, sizeof r->diagnosis,
               "zero both ways: the analytic gradient is exactly 0 on all %lld checked "
               "elements and so is every numerical derivative (the loss does not depend on "
               "this tensor at this point)",
               (long long)(count - r->kinks));
    else if (zero)
        append(r->diagnosis, sizeof r->diagnosis,
               "zero both ways: the analytic gradient is exactly 0 on all %lld checked "
               "elements and the largest numerical derivative, %.2e, is within its error "
               "bar %.2e (a gradient below that would go unseen)",
               (long long)(count - r->kinks), largest, bar);
}

/* What would decide an INCONCLUSIVE tensor: the kinks named, float64, or a larger step. */
static void advise(const gc_context *ctx, eng_gc_tensor_report *r, const eng_gc_element *el,
                   int64_t count, double step)
{
    if (r->verdict == ENG_GC_INCONCLUSIVE && r->kinks > 0 &&
        2 * r->kinks >= r->checked - r->passed) {
        char list[64] = "";
        size_t used = 0;
        int shown = 0;
        for (int64_t i = 0; i < count && shown < 3 && used + 24 < sizeof list; i++) {
            if (el[i].verdict != ENG_GC_KINK)
                continue;
            char idx[64];
            format_index(r, el[i].index, idx, sizeof idx);
            used +=
                (size_t)snprintf(list + used, sizeof list - used, "%s%s", shown++ ? ", " : "", idx);
        }
        snprintf(r->advice, sizeof r->advice,
                 "%d of %d elements are kinks (a branch switches between the steps), e.g. "
                 "%.40s (1-based): a layer that cannot freeze its branches sits on them; "
                 "check it alone (gc.check_layer) or give it forward_frozen",
                 (int)r->kinks, (int)r->checked, list);
    } else if (r->verdict == ENG_GC_INCONCLUSIVE) {
        if (ctx->u > 1e-10)
            snprintf(r->advice, sizeof r->advice,
                     "decide it in float64: model:to('f64') (float32 round-off hides gradients "
                     "below %.2e at this step)",
                     r->noise_floor);
        else
            snprintf(r->advice, sizeof r->advice,
                     "the gradients (rms %.2e) sit near the noise floor %.2e of step %.2e: try "
                     "a larger step, scale the loss up, or a random-projection objective",
                     r->grad_rms, r->noise_floor, step);
    }
}

eng_status gc_diagnose(gc_context *ctx, int t, eng_gc_tensor_report *r, const eng_gc_element *el,
                       int64_t count, double step)
{
    r->diagnosis[0] = r->advice[0] = '\0';
    bool is_input = strcmp(r->name, "input") == 0;
    if (r->verdict == ENG_GC_FAIL) {
        eng_status st = diagnose_failure(ctx, t, r, el, count, step, is_input);
        if (st)
            return st;
    }
    if (r->verdict != ENG_GC_FAIL && count > r->kinks)
        diagnose_zero(r, el, count);
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
    advise(ctx, r, el, count, step);
    return ENG_OK;
}
