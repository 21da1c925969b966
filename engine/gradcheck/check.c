/* The element-wise check: calibrate the loss's round-off, pick a step per tensor, estimate
 * sampled elements with error bars, give verdicts, summarise and diagnose each tensor. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check_internal.h"

const char *eng_gc_verdict_name(eng_gc_verdict verdict)
{
    switch (verdict) {
    case ENG_GC_PASS: return "PASS";
    case ENG_GC_FAIL: return "FAIL";
    case ENG_GC_INCONCLUSIVE: return "INCONCLUSIVE";
    case ENG_GC_KINK: return "KINK";
    }
    return "?";
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double rms(const eng_tensor *t)
{
    int64_t n = eng_tensor_numel(t);
    double acc = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = eng_tensor_get_flat(t, i);
        acc += v * v;
    }
    return n ? sqrt(acc / (double)n) : 0.0;
}

static int cmp_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Stratified sample of `want` distinct flat indices of a tensor of this shape: one element in
 * every leading index (row, output channel, sample) while they fit, the first and last
 * elements, the corners of a spatial plane, then uniform draws. Sorted on return. */
static int64_t choose_indices(const eng_tensor *t, int64_t want, eng_rng *rng, int64_t *out)
{
    int64_t n = eng_tensor_numel(t);
    if (want <= 0 || want >= n) {
        for (int64_t i = 0; i < n; i++)
            out[i] = i;
        return n;
    }
    int64_t count = 0;
    /* membership by a small open-addressing table of twice the capacity */
    int64_t cap = 1;
    while (cap < 4 * want)
        cap <<= 1;
    int64_t *table = malloc(sizeof *table * (size_t)cap);
    if (!table)
        return -1;
    for (int64_t i = 0; i < cap; i++)
        table[i] = -1;
#define ADD(idx)                                                                               \
    do {                                                                                       \
        int64_t v_ = (idx), s_ = (int64_t)(((uint64_t)v_ * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1); \
        while (table[s_] != -1 && table[s_] != v_)                                             \
            s_ = (s_ + 1) & (cap - 1);                                                         \
        if (table[s_] == -1 && count < want) {                                                 \
            table[s_] = v_;                                                                    \
            out[count++] = v_;                                                                 \
        }                                                                                      \
    } while (0)
    int64_t rows = t->ndim >= 2 ? t->shape[0] : 0, per_row = rows ? n / rows : 0;
    if (rows && rows <= want / 2)
        for (int64_t r = 0; r < rows; r++)
            ADD(r * per_row + (int64_t)eng_rng_below(rng, (uint64_t)per_row));
    ADD(0);
    ADD(n - 1);
    if (t->ndim >= 3) {
        int64_t h = t->shape[t->ndim - 2], w = t->shape[t->ndim - 1], plane = h * w;
        int64_t base = (int64_t)eng_rng_below(rng, (uint64_t)(n / plane)) * plane;
        ADD(base);
        ADD(base + w - 1);
        ADD(base + (h - 1) * w);
        ADD(base + plane - 1);
    }
    while (count < want)
        ADD((int64_t)eng_rng_below(rng, (uint64_t)n));
#undef ADD
    free(table);
    qsort(out, (size_t)count, sizeof *out, cmp_int64);
    return count;
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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The step for one tensor: among steps scale * 10^-k, the one whose error bar (truncation +
 * round-off) is smallest on a few probe elements, preferring those without kinks. */
static eng_status choose_step(gc_context *ctx, int t, const int64_t *indices, int64_t count,
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
static eng_status confirm_failure(gc_context *ctx, int t, eng_gc_element *el,
                                  const gc_estimate *first, double step)
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
            snprintf(warning, size, "the frozen-branch forward gives %.17g where the forward "
                     "gives %.17g: checking with plain differences (kinks possible)", at,
                     ctx->loss);
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

static int element_rank(const eng_gc_element *e)
{
    switch (e->verdict) {
    case ENG_GC_FAIL: return 0;
    case ENG_GC_INCONCLUSIVE: return 1;
    case ENG_GC_PASS: return 2;
    case ENG_GC_KINK: return 3;
    }
    return 4;
}

static int cmp_worst(const void *a, const void *b)
{
    const eng_gc_element *x = a, *y = b;
    int rx = element_rank(x), ry = element_rank(y);
    if (rx != ry)
        return rx - ry;
    return (x->rel_error < y->rel_error) - (x->rel_error > y->rel_error);
}

static eng_status check_tensor(gc_context *ctx, int t, const eng_gc_options *opts,
                               double fallback_scale, eng_rng *rng, eng_gc_tensor_report *r)
{
    eng_gc_tensor *gt = &ctx->obj->tensors[t];
    const eng_tensor *value = gt->value;
    int64_t n = eng_tensor_numel(value);
    snprintf(r->name, sizeof r->name, "%s", gt->name);
    snprintf(r->layer, sizeof r->layer, "%s", gt->layer);
    r->layer_index = gt->layer_index;
    r->ndim = value->ndim;
    memcpy(r->shape, value->shape, sizeof r->shape);
    r->grad_rms = rms(gt->grad);
    if (n == 0) {
        r->verdict = ENG_GC_PASS;
        return ENG_OK;
    }
    int64_t want = opts->samples > 0 && opts->samples < n ? opts->samples : n;
    int64_t *indices = malloc(sizeof *indices * (size_t)want);
    eng_gc_element *elements = malloc(sizeof *elements * (size_t)want);
    double *rels = malloc(sizeof *rels * (size_t)want);
    gc_sample *samples = malloc(sizeof *samples * (size_t)want);
    eng_status st = ENG_OK;
    if (!indices || !elements || !rels || !samples) {
        st = eng_error(ENG_ENOMEM, "gradcheck: out of memory for %lld elements", (long long)want);
        goto done;
    }
    int64_t count = choose_indices(value, want, rng, indices);
    if (count < 0) {
        st = eng_error(ENG_ENOMEM, "gradcheck: out of memory");
        goto done;
    }
    double scale = rms(value);
    if (!(scale > 0))
        scale = fallback_scale;
    double step = opts->step;
    if (!(step > 0)) {
        st = choose_step(ctx, t, indices, count, scale, &step);
        if (st)
            goto done;
    }
    r->step = step;
    r->noise_floor = 3 * ctx->loss_noise / step;
    int64_t nrel = 0, nsamples = 0;
    for (int64_t i = 0; i < count; i++) {
        gc_estimate e;
        eng_gc_element *el = &elements[i];
        el->index = indices[i];
        el->analytic = eng_tensor_get_flat(gt->grad, indices[i]);
        st = gc_estimate_at(ctx, t, indices[i], step, &e);
        if (!st)
            el->verdict = gc_verdict(ctx, el->analytic, &e, &el->rel_error);
        /* A branch switch inside [x-h, x+h] may vanish with a smaller step; an element that
         * sits exactly on a kink stays one. */
        for (double h = step / 10; !st && el->verdict == ENG_GC_KINK && h >= step * 1e-3;
             h /= 10) {
            st = gc_estimate_at(ctx, t, indices[i], h, &e);
            if (!st)
                el->verdict = gc_verdict(ctx, el->analytic, &e, &el->rel_error);
        }
        if (st)
            goto done;
        el->numerical = e.value;
        el->error = gc_error_bar(&e);
        if (el->verdict == ENG_GC_FAIL) {
            st = confirm_failure(ctx, t, el, &e, step);
            if (st)
                goto done;
        }
        r->checked++;
        switch (el->verdict) {
        case ENG_GC_PASS: r->passed++; break;
        case ENG_GC_FAIL: r->failed++; break;
        case ENG_GC_INCONCLUSIVE: r->inconclusive++; break;
        case ENG_GC_KINK: r->kinks++; break;
        }
        /* estimates across a branch switch stay out of the tensor-level statistics */
        if (el->verdict != ENG_GC_KINK && !e.kink)
            samples[nsamples++] = (gc_sample){el->analytic, e.value, e.truncation, e.roundoff};
        if (el->verdict != ENG_GC_KINK) {
            rels[nrel++] = el->rel_error;
            r->max_rel = fmax(r->max_rel, el->rel_error);
        }
    }
    if (nrel) {
        qsort(rels, (size_t)nrel, sizeof *rels, cmp_double);
        r->median_rel = rels[nrel / 2];
    }
    gc_tensor_statistics(ctx, samples, nsamples, r);
    if (r->failed > 0) {
        r->verdict = ENG_GC_FAIL;
    } else if (gc_tensor_rejects(ctx, r)) {
        r->verdict = ENG_GC_FAIL;
        r->tensor_level = true;
    } else if (r->passed > 0 && r->passed >= r->inconclusive) {
        r->verdict = ENG_GC_PASS;
    } else if (gc_tensor_confirms(ctx, r)) {
        r->verdict = ENG_GC_PASS;
        r->tensor_level = true;
    } else {
        r->verdict = ENG_GC_INCONCLUSIVE;
    }
    st = gc_diagnose(ctx, t, r, elements, count, step);
    if (st)
        goto done;
    qsort(elements, (size_t)count, sizeof *elements, cmp_worst);
    int keep = opts->worst > 0 ? opts->worst : 8;
    r->nworst = (int)(count < keep ? count : keep);
    r->worst = malloc(sizeof *r->worst * (size_t)(r->nworst ? r->nworst : 1));
    if (!r->worst) {
        st = eng_error(ENG_ENOMEM, "gradcheck: out of memory");
        r->nworst = 0;
        goto done;
    }
    memcpy(r->worst, elements, sizeof *r->worst * (size_t)r->nworst);
done:
    free(indices);
    free(elements);
    free(rels);
    free(samples);
    return st;
}

/* Across tensors: one common factor everywhere points past the layers, at the loss. */
static void summarise(eng_gc_report *report, int64_t batch)
{
    int failing = 0, passing = 0;
    double first_ratio = NAN;
    bool common = true;
    for (int i = 0; i < report->ntensors; i++) {
        const eng_gc_tensor_report *r = &report->tensors[i];
        if (r->verdict == ENG_GC_PASS)
            passing++;
        if (r->verdict != ENG_GC_FAIL)
            continue;
        failing++;
        if (!(r->ratio_spread < 0.02))
            common = false;
        else if (isnan(first_ratio))
            first_ratio = r->ratio;
        else if (fabs(r->ratio - first_ratio) > 0.01 * fabs(first_ratio))
            common = false;
    }
    if (failing >= 2 && passing == 0 && common && isfinite(first_ratio)) {
        bool is_batch = batch > 1 && fabs(first_ratio - (double)batch) <= 0.01 * (double)batch;
        snprintf(report->summary, sizeof report->summary,
                 "every tensor is off by the same factor %.4g%s: the fault is after the last "
                 "layer, in the loss's backward (the layers themselves are consistent)",
                 first_ratio, is_batch ? " = the batch size (a missing 1/N)" : "");
        return;
    }
    for (int i = 0; i < report->ntensors; i++) {
        const eng_gc_tensor_report *r = &report->tensors[i];
        if (strcmp(r->name, report->first_failing) != 0)
            continue;
        if (r->layer[0])
            snprintf(report->summary, sizeof report->summary,
                     "the first failing tensor is %s, in layer %s (layer %d)",
                     report->first_failing, r->layer, r->layer_index + 1);
        else
            snprintf(report->summary, sizeof report->summary,
                     "the first failing tensor is %s", report->first_failing);
    }
}

/* Whether `name` (a tensor) or `layer` (its layer) is one of the names in list (separated by
 * commas or spaces); marks the list entry used in *used (bit k for entry k < 64). */
static bool listed(const char *list, const char *name, const char *layer, uint64_t *used)
{
    int k = 0;
    for (const char *p = list; *p; k++) {
        while (*p == ',' || *p == ' ')
            p++;
        size_t len = strcspn(p, ", ");
        if (len == 0)
            break;
        bool hit = (strlen(name) == len && strncmp(p, name, len) == 0) ||
                   (layer[0] && strlen(layer) == len && strncmp(p, layer, len) == 0);
        if (hit) {
            if (k < 64)
                *used |= 1ull << k;
            return true;
        }
        p += len;
    }
    return false;
}

/* The first entry of list not in used, as an error naming it. */
static eng_status check_list_used(const char *what, const char *list, uint64_t used,
                                  const eng_gc_objective *obj)
{
    int k = 0;
    for (const char *p = list; *p; k++) {
        while (*p == ',' || *p == ' ')
            p++;
        size_t len = strcspn(p, ", ");
        if (len == 0)
            break;
        if (k < 64 && !(used & (1ull << k)))
            return eng_error(ENG_EARG, "gradcheck: %s: no tensor named '%.*s', nor a layer (the "
                             "first tensor is '%s')", what, (int)len, p,
                             obj->ntensors ? obj->tensors[0].name : "none");
        p += len;
    }
    return ENG_OK;
}

/* After a FAIL: the culprit, from each suspect layer checked alone. */
static eng_status localise(eng_gc_objective *obj, const eng_gc_options *opts,
                           eng_gc_report *report)
{
    int from = 0;
    for (int i = 0; i < report->ntensors; i++)
        if (report->tensors[i].verdict == ENG_GC_FAIL && report->tensors[i].layer_index > from)
            from = report->tensors[i].layer_index;
    eng_status st = obj->localise(obj, from, opts, report);
    if (st)
        return st;
    if (report->culprit[0])
        snprintf(report->summary, sizeof report->summary,
                 "the backward of %.60s is wrong: %.150s (found by checking each suspect layer "
                 "alone on its real input; evidence: %.60s fails in the whole model)",
                 report->culprit, report->localisation, report->first_failing);
    else
        snprintf(report->summary, sizeof report->summary,
                 "every suspect layer (from layer %d on) and the loss pass alone on their real "
                 "inputs: the mismatch arises between layers (evidence: %.100s)",
                 from + 1, report->first_failing);
    return ENG_OK;
}

void eng_gc_report_free(eng_gc_report *report)
{
    if (!report)
        return;
    for (int i = 0; i < report->ntensors; i++)
        free(report->tensors[i].worst);
    free(report->tensors);
    eng_gc_report_free(report->localised);
    free(report);
}

eng_status eng_gc_check(eng_gc_objective *obj, const eng_gc_options *opts_in,
                        eng_gc_report **out)
{
    *out = NULL;
    eng_gc_options opts = opts_in ? *opts_in : (eng_gc_options){0};
    if (opts.samples < 0)
        return eng_error(ENG_EARG, "gradcheck: samples = %lld, expected >= 0 (0 = all)",
                         (long long)opts.samples);
    if (opts.step < 0 || opts.rtol < 0 || opts.nsigma < 0)
        return eng_error(ENG_EARG, "gradcheck: step, rtol and nsigma may not be negative");
    double start = now();
    gc_context ctx = {
        .obj = obj,
        .u = obj->dtype == ENG_F32 ? 0x1p-24 : 0x1p-53,
        .nsigma = opts.nsigma > 0 ? opts.nsigma : 3.0,
    };
    ctx.rtol = opts.rtol > 0 ? opts.rtol : (obj->dtype == ENG_F32 ? 1e-3 : 1e-6);
    eng_gc_report *report = calloc(1, sizeof *report);
    if (!report)
        return eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    report->dtype = obj->dtype;
    report->mode = "element-wise";
    eng_rng rng;
    eng_rng_seed(&rng, opts.seed);
    double again;
    eng_status st = obj->loss(obj, &ctx.loss);
    if (!st)
        st = obj->loss(obj, &again);
    ctx.evaluations += 2;
    if (st)
        goto fail;
    report->loss = ctx.loss;
    if (obj->dtype == ENG_F32)
        snprintf(report->warning, sizeof report->warning,
                 "the objective is float32: error bars are about 1e9 times wider than in "
                 "float64; for a decisive check convert it with :to('f64')");
    if (again != ctx.loss || !isfinite(ctx.loss)) {
        report->nondeterministic = again != ctx.loss;
        report->verdict = ENG_GC_INCONCLUSIVE;
        if (report->nondeterministic)
            snprintf(report->warning, sizeof report->warning,
                     "nondeterministic forward: two evaluations at the same point gave %.17g "
                     "and %.17g (dropout in training mode? call :eval() before checking)",
                     ctx.loss, again);
        else
            snprintf(report->warning, sizeof report->warning,
                     "the loss is %g: nothing can be checked", ctx.loss);
        goto finish;
    }
    st = obj->gradient(obj);
    if (!st)
        st = gc_freeze(&ctx, report->warning, sizeof report->warning);
    if (!st)
        st = gc_calibrate_noise(&ctx, &rng);
    if (st)
        goto fail;
    report->kink_free = ctx.frozen;
    report->loss_noise = ctx.loss_noise;
    double fallback = 0;
    int64_t total = 0;
    for (int t = 0; t < obj->ntensors; t++) {
        fallback += pow(rms(obj->tensors[t].value), 2) * (double)eng_tensor_numel(obj->tensors[t].value);
        total += eng_tensor_numel(obj->tensors[t].value);
    }
    fallback = total && fallback > 0 ? sqrt(fallback / (double)total) : 1.0;
    report->tensors = calloc((size_t)(obj->ntensors ? obj->ntensors : 1), sizeof *report->tensors);
    if (!report->tensors) {
        st = eng_error(ENG_ENOMEM, "gradcheck: out of memory");
        goto fail;
    }
    uint64_t only_used = 0, exclude_used = 0;
    for (int t = 0; t < obj->ntensors; t++) {
        const eng_gc_tensor *gt = &obj->tensors[t];
        if (opts.only && !listed(opts.only, gt->name, gt->layer, &only_used))
            continue;
        if (opts.exclude && listed(opts.exclude, gt->name, gt->layer, &exclude_used))
            continue;
        eng_gc_tensor_report *r = &report->tensors[report->ntensors++];
        st = check_tensor(&ctx, t, &opts, fallback, &rng, r);
        if (st)
            goto fail;
    }
    if (opts.only)
        st = check_list_used("only", opts.only, only_used, obj);
    if (!st && opts.exclude)
        st = check_list_used("exclude", opts.exclude, exclude_used, obj);
    if (st)
        goto fail;
    report->verdict = ENG_GC_PASS;
    for (int i = 0; i < report->ntensors; i++) {
        int64_t n = 1;
        for (int d = 0; d < report->tensors[i].ndim; d++)
            n *= report->tensors[i].shape[d];
        report->elements_checked += report->tensors[i].checked;
        report->elements_total += n;
    }
    for (int i = 0; i < report->ntensors; i++) {
        eng_gc_tensor_report *r = &report->tensors[i];
        if (r->verdict == ENG_GC_FAIL && report->verdict != ENG_GC_FAIL) {
            report->verdict = ENG_GC_FAIL;
            snprintf(report->first_failing, sizeof report->first_failing, "%s", r->name);
        } else if (r->verdict == ENG_GC_INCONCLUSIVE && report->verdict == ENG_GC_PASS) {
            report->verdict = ENG_GC_INCONCLUSIVE;
        }
    }
    summarise(report, obj->batch);
    gc_unfreeze(&ctx);
    if (report->verdict == ENG_GC_FAIL && obj->localise && !opts.no_localise) {
        st = localise(obj, &opts, report);
        if (st)
            goto fail;
    }
finish:
    gc_unfreeze(&ctx);
    report->ok = report->verdict == ENG_GC_PASS;
    report->evaluations = ctx.evaluations;
    report->seconds = now() - start;
    *out = report;
    return ENG_OK;
fail:
    gc_unfreeze(&ctx);
    eng_gc_report_free(report);
    return st;
}
