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

/* The value of rank k (0-based) in ascending order of v[0..n) (reordered): quickselect. */
static double select_rank(double *v, int64_t n, int64_t k)
{
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        double pivot = v[lo + (hi - lo) / 2];
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                double tmp = v[i];
                v[i++] = v[j];
                v[j--] = tmp;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            break;
    }
    return v[k];
}

/* r->worst: the first `keep` elements in cmp_worst order, ties in checking order (what a
 * stable sort of all of them gives, without sorting them all). */
static eng_status keep_worst(eng_gc_tensor_report *r, const eng_gc_element *elements, int64_t count,
                             int keep)
{
    r->nworst = (int)(count < keep ? count : keep);
    r->worst = malloc(sizeof *r->worst * (size_t)(r->nworst ? r->nworst : 1));
    if (!r->worst) {
        r->nworst = 0;
        return eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    }
    int filled = 0;
    for (int64_t i = 0; i < count && r->nworst; i++) {
        const eng_gc_element *e = &elements[i];
        if (filled == r->nworst && cmp_worst(e, &r->worst[filled - 1]) >= 0)
            continue;
        int at = filled < r->nworst ? filled : r->nworst - 1;
        while (at > 0 && cmp_worst(e, &r->worst[at - 1]) < 0) {
            r->worst[at] = r->worst[at - 1];
            at--;
        }
        r->worst[at] = *e;
        if (filled < r->nworst)
            filled++;
    }
    return ENG_OK;
}

/* One element: its estimate at the tensor's step (smaller steps for a kink, a second step to
 * confirm a FAIL) and its verdict. */
static eng_status check_element(gc_context *ctx, int t, double step, eng_gc_element *el,
                                gc_estimate *e)
{
    el->analytic = eng_tensor_get_flat(ctx->obj->tensors[t].grad, el->index);
    eng_status st = gc_estimate_at(ctx, t, el->index, step, e);
    if (!st)
        el->verdict = gc_verdict(ctx, el->analytic, e, &el->rel_error);
    /* A branch switch inside [x-h, x+h] may vanish with a smaller step; an element that
     * sits exactly on a kink stays one. */
    for (double h = step / 10; !st && el->verdict == ENG_GC_KINK && h >= step * 1e-3; h /= 10) {
        st = gc_estimate_at(ctx, t, el->index, h, e);
        if (!st)
            el->verdict = gc_verdict(ctx, el->analytic, e, &el->rel_error);
    }
    if (st)
        return st;
    el->numerical = e->value;
    el->error = gc_error_bar(e);
    if (el->verdict == ENG_GC_FAIL)
        return gc_confirm_failure(ctx, t, el, e, step);
    return ENG_OK;
}

/* What one tensor's check works with. */
typedef struct tensor_work {
    int64_t *indices;
    eng_gc_element *elements;
    double *rels;       /* relative errors of the elements that are not kinks */
    gc_sample *samples; /* evidence for the tensor-level statistics */
    gc_estimate *estimates;
    bool *checked;
    int64_t count, nrel, nsamples;
} tensor_work;

static void tally(eng_gc_tensor_report *r, tensor_work *w, const eng_gc_element *el,
                  const gc_estimate *e)
{
    r->checked++;
    switch (el->verdict) {
    case ENG_GC_PASS: r->passed++; break;
    case ENG_GC_FAIL: r->failed++; break;
    case ENG_GC_INCONCLUSIVE: r->inconclusive++; break;
    case ENG_GC_KINK: r->kinks++; break;
    }
    /* estimates across a branch switch stay out of the tensor-level statistics */
    if (el->verdict != ENG_GC_KINK && !e->kink)
        w->samples[w->nsamples++] = (gc_sample){el->analytic, e->value, e->truncation, e->roundoff};
    if (el->verdict != ENG_GC_KINK) {
        w->rels[w->nrel++] = el->rel_error;
        r->max_rel = fmax(r->max_rel, el->rel_error);
    }
}

static void tensor_verdict(const gc_context *ctx, eng_gc_tensor_report *r)
{
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
}

static void describe(eng_gc_tensor_report *r, const eng_gc_tensor *gt)
{
    snprintf(r->name, sizeof r->name, "%s", gt->name);
    snprintf(r->layer, sizeof r->layer, "%s", gt->layer);
    r->layer_index = gt->layer_index;
    r->ndim = gt->value->ndim;
    memcpy(r->shape, gt->value->shape, sizeof r->shape);
    r->grad_rms = rms(gt->grad);
}

/* Position k of a visit of 0..count-1 in bit-reversed order (skipping positions >= count):
 * every prefix of the visit is spread evenly over the sorted indices, so a check that the
 * budget cuts short still covers the whole tensor. */
static int64_t spread_position(int64_t k, int bits)
{
    uint64_t v = (uint64_t)k, r = 0;
    for (int b = 0; b < bits; b++, v >>= 1)
        r = (r << 1) | (v & 1);
    return (int64_t)r;
}

/* The elements of tensor t (the plan's i-th): `want` of them (0 = all), stratified; fewer
 * when the budget runs out (gc_plan_limit). They are checked in spread order and tallied in
 * index order, so an uncut check reports what checking them in index order does. */
static eng_status check_elements(gc_context *ctx, int t, int64_t want, double fallback_scale,
                                 eng_rng *rng, gc_plan *plan, int i, tensor_work *w,
                                 eng_gc_tensor_report *r)
{
    const eng_tensor *value = ctx->obj->tensors[t].value;
    w->count = gc_choose_indices(value, want, rng, w->indices);
    if (w->count < 0)
        return eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    double scale = rms(value), step = r->step;
    if (!(scale > 0))
        scale = fallback_scale;
    if (!(step > 0)) {
        eng_status st = gc_choose_step(ctx, t, w->indices, w->count, scale, &step);
        if (st)
            return st;
    }
    r->step = step;
    r->noise_floor = 3 * ctx->loss_noise / step;
    gc_plan_advance(plan, i, ctx->evaluations);
    int bits = 0;
    while (((int64_t)1 << bits) < w->count)
        bits++;
    int64_t limit = w->count, done = 0;
    for (int64_t k = 0; done < limit && k < ((int64_t)1 << bits); k++) {
        int64_t at = spread_position(k, bits);
        if (at >= w->count)
            continue;
        eng_gc_element *el = &w->elements[at];
        el->index = w->indices[at];
        eng_status st = check_element(ctx, t, step, el, &w->estimates[at]);
        if (st)
            return st;
        w->checked[at] = true;
        done++;
        gc_plan_advance(plan, i, ctx->evaluations);
        limit = gc_plan_limit(plan, ctx, i, done, limit);
    }
    int64_t kept = 0;
    for (int64_t at = 0; at < w->count; at++) {
        if (!w->checked[at])
            continue;
        w->elements[kept] = w->elements[at];
        tally(r, w, &w->elements[kept], &w->estimates[at]);
        kept++;
    }
    w->count = kept;
    return ENG_OK;
}

static eng_status check_tensor(gc_context *ctx, int i, const eng_gc_options *opts,
                               double fallback_scale, eng_rng *rng, gc_plan *plan,
                               eng_gc_tensor_report *r)
{
    int t = plan->tensors[i];
    describe(r, &ctx->obj->tensors[t]);
    int64_t n = eng_tensor_numel(ctx->obj->tensors[t].value);
    if (n == 0) {
        r->verdict = ENG_GC_PASS;
        return ENG_OK;
    }
    int64_t want = plan->samples[i] > 0 && plan->samples[i] < n ? plan->samples[i] : n;
    tensor_work w = {
        .indices = malloc(sizeof *w.indices * (size_t)want),
        .elements = malloc(sizeof *w.elements * (size_t)want),
        .rels = malloc(sizeof *w.rels * (size_t)want),
        .samples = malloc(sizeof *w.samples * (size_t)want),
        .estimates = malloc(sizeof *w.estimates * (size_t)want),
        .checked = calloc((size_t)want, sizeof *w.checked),
    };
    eng_status st = ENG_OK;
    if (!w.indices || !w.elements || !w.rels || !w.samples || !w.estimates || !w.checked)
        st = eng_error(ENG_ENOMEM, "gradcheck: out of memory for %lld elements", (long long)want);
    r->step = opts->step;
    if (!st)
        st = check_elements(ctx, t, want, fallback_scale, rng, plan, i, &w, r);
    if (!st) {
        if (w.nrel)
            r->median_rel = select_rank(w.rels, w.nrel, w.nrel / 2);
        gc_tensor_statistics(ctx, w.samples, w.nsamples, r);
        tensor_verdict(ctx, r);
        st = gc_diagnose(ctx, t, r, w.elements, w.count, r->step);
    }
    if (!st)
        st = keep_worst(r, w.elements, w.count, opts->worst > 0 ? opts->worst : 8);
    free(w.indices);
    free(w.elements);
    free(w.rels);
    free(w.samples);
    free(w.estimates);
    free(w.checked);
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
            snprintf(report->summary, sizeof report->summary, "the first failing tensor is %s",
                     report->first_failing);
    }
}

/* After a FAIL: the culprit, from each suspect layer checked alone. */
static eng_status localise(eng_gc_objective *obj, const eng_gc_options *opts, eng_gc_report *report)
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

/* The loss twice at the base point: a nondeterministic or non-finite loss ends the check
 * (*done) with a warning. */
static eng_status base_point(gc_context *ctx, eng_gc_report *report, bool *done)
{
    eng_gc_objective *obj = ctx->obj;
    double again;
    eng_status st = obj->loss(obj, &ctx->loss);
    if (!st)
        st = obj->loss(obj, &again);
    ctx->evaluations += 2;
    if (st)
        return st;
    report->loss = ctx->loss;
    if (obj->dtype == ENG_F32)
        snprintf(report->warning, sizeof report->warning,
                 "the objective is float32: error bars are about 1e9 times wider than in "
                 "float64; for a decisive check convert it with :to('f64')");
    *done = again != ctx->loss || !isfinite(ctx->loss);
    if (!*done)
        return ENG_OK;
    report->nondeterministic = again != ctx->loss;
    report->verdict = ENG_GC_INCONCLUSIVE;
    if (report->nondeterministic)
        snprintf(report->warning, sizeof report->warning,
                 "nondeterministic forward: two evaluations at the same point gave %.17g "
                 "and %.17g (dropout in training mode? call :eval() before checking)",
                 ctx->loss, again);
    else
        snprintf(report->warning, sizeof report->warning, "the loss is %g: nothing can be checked",
                 ctx->loss);
    return ENG_OK;
}

/* The tensors the only / exclude lists leave, into plan->tensors. */
static eng_status select_tensors(const eng_gc_objective *obj, const eng_gc_options *opts,
                                 gc_plan *plan)
{
    plan->tensors = malloc(sizeof *plan->tensors * (size_t)(obj->ntensors ? obj->ntensors : 1));
    if (!plan->tensors)
        return eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    uint64_t only_used = 0, exclude_used = 0;
    for (int t = 0; t < obj->ntensors; t++) {
        const eng_gc_tensor *gt = &obj->tensors[t];
        if (opts->only && !gc_listed(opts->only, gt->name, gt->layer, &only_used))
            continue;
        if (opts->exclude && gc_listed(opts->exclude, gt->name, gt->layer, &exclude_used))
            continue;
        plan->tensors[plan->n++] = t;
    }
    eng_status st = ENG_OK;
    if (opts->only)
        st = gc_check_list_used("only", opts->only, only_used, obj);
    if (!st && opts->exclude)
        st = gc_check_list_used("exclude", opts->exclude, exclude_used, obj);
    return st;
}

/* The rms of all values together: the step's scale for a tensor that is all zero. */
static double fallback_scale(const eng_gc_objective *obj)
{
    double acc = 0;
    int64_t total = 0;
    for (int t = 0; t < obj->ntensors; t++) {
        acc += pow(rms(obj->tensors[t].value), 2) * (double)eng_tensor_numel(obj->tensors[t].value);
        total += eng_tensor_numel(obj->tensors[t].value);
    }
    return total && acc > 0 ? sqrt(acc / (double)total) : 1.0;
}

/* Coverage and the verdict over the tensors checked. */
static void conclude(eng_gc_report *report)
{
    report->verdict = ENG_GC_PASS;
    for (int i = 0; i < report->ntensors; i++) {
        eng_gc_tensor_report *r = &report->tensors[i];
        int64_t n = 1;
        for (int d = 0; d < r->ndim; d++)
            n *= r->shape[d];
        report->elements_checked += r->checked;
        report->elements_total += n;
        if (r->verdict == ENG_GC_FAIL && report->verdict != ENG_GC_FAIL) {
            report->verdict = ENG_GC_FAIL;
            snprintf(report->first_failing, sizeof report->first_failing, "%s", r->name);
        } else if (r->verdict == ENG_GC_INCONCLUSIVE && report->verdict == ENG_GC_PASS) {
            report->verdict = ENG_GC_INCONCLUSIVE;
        }
    }
}

/* Plans the check (time estimate, budget) and checks every selected tensor. */
static eng_status check_tensors(gc_context *ctx, const eng_gc_options *opts, eng_rng *rng,
                                gc_plan *plan, eng_gc_report *report)
{
    eng_gc_objective *obj = ctx->obj;
    double fallback = fallback_scale(obj);
    eng_status st = select_tensors(obj, opts, plan);
    if (!st)
        st = gc_plan_check(ctx, opts, plan);
    if (st)
        return st;
    report->estimated_seconds = plan->full_seconds;
    report->budget = plan->budget;
    report->tensors = calloc((size_t)(plan->n ? plan->n : 1), sizeof *report->tensors);
    if (!report->tensors)
        return eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    for (int i = 0; i < plan->n; i++) {
        gc_plan_tensor(plan, obj->tensors[plan->tensors[i]].name);
        eng_gc_tensor_report *r = &report->tensors[report->ntensors++];
        st = check_tensor(ctx, i, opts, fallback, rng, plan, r);
        if (st)
            return st;
    }
    /* the budget may have cut the sample during the check */
    report->budget_sampled = plan->sampled;
    report->budget_slowdown = plan->slowdown;
    return ENG_OK;
}

eng_status eng_gc_check(eng_gc_objective *obj, const eng_gc_options *opts_in, eng_gc_report **out)
{
    *out = NULL;
    eng_gc_options opts = opts_in ? *opts_in : (eng_gc_options){0};
    if (opts.samples < 0)
        return eng_error(ENG_EARG, "gradcheck: samples = %lld, expected >= 0 (0 = all)",
                         (long long)opts.samples);
    if (opts.step < 0 || opts.rtol < 0 || opts.nsigma < 0 || opts.budget < 0 || isnan(opts.budget))
        return eng_error(ENG_EARG, "gradcheck: step, rtol, nsigma and budget may not be "
                                   "negative");
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
    gc_plan plan = {0};
    gc_plan_start(&plan);
    eng_rng rng;
    eng_rng_seed(&rng, opts.seed);
    bool done = false;
    eng_status st = base_point(&ctx, report, &done);
    if (st || done)
        goto finish;
    st = obj->gradient(obj);
    if (!st)
        st = gc_freeze(&ctx, report->warning, sizeof report->warning);
    if (!st)
        st = gc_calibrate_noise(&ctx, &rng);
    if (st)
        goto finish;
    report->kink_free = ctx.frozen;
    report->loss_noise = ctx.loss_noise;
    st = check_tensors(&ctx, &opts, &rng, &plan, report);
    if (st)
        goto finish;
    conclude(report);
    summarise(report, obj->batch);
    gc_unfreeze(&ctx);
    gc_plan_free(&plan, true);
    if (report->verdict == ENG_GC_FAIL && obj->localise && !opts.no_localise)
        st = localise(obj, &opts, report);
finish:
    gc_unfreeze(&ctx);
    gc_plan_free(&plan, !st);
    if (st) {
        eng_gc_report_free(report);
        return st;
    }
    report->ok = report->verdict == ENG_GC_PASS;
    report->evaluations = ctx.evaluations;
    report->seconds = now() - start;
    *out = report;
    return ENG_OK;
}
