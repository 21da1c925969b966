/* The cost of an element-wise check, announced before it starts: a few timed evaluations per
 * tensor give a full check's time (4 evaluations per element and the step search); above the
 * budget every tensor gets a stratified sample, at least GC_BUDGET_MIN_SAMPLES elements (the
 * tensor-level statistics need them), the time left shared out evenly over the tensors that
 * are not yet whole. Long checks show a progress bar (engine/progress.h). */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "../progress.h"
#include "check_internal.h"

static double clock_seconds(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now(void)
{
    return clock_seconds(CLOCK_MONOTONIC);
}

/* Seconds per evaluation of the objective with one element of tensor t changed: one
 * evaluation to warm up (and let incremental paths verify themselves), then as many as 2 ms
 * allow (at least 2, at most 2000). The smaller of wall-clock and CPU time: other work on a
 * shared machine stretches the one and not the other, threads the other and not the one. */
static eng_status time_tensor(gc_context *ctx, int t, double *seconds)
{
    eng_gc_objective *obj = ctx->obj;
    const eng_tensor *v = obj->tensors[t].value;
    int64_t n = eng_tensor_numel(v), index = n / 2;
    *seconds = 0;
    if (n == 0)
        return ENG_OK;
    double x0 = eng_tensor_get_flat(v, index), h = 1e-4 * fmax(fabs(x0), 1.0), value;
    eng_status st = obj->loss_at(obj, t, index, h, &value, NULL);
    ctx->evaluations++;
    double start = now(), cpu = clock_seconds(CLOCK_PROCESS_CPUTIME_ID), elapsed = 0;
    int k = 0;
    while (!st && (k < 2 || elapsed < 2e-3) && k < 2000) {
        st = obj->loss_at(obj, t, index, k % 2 ? -h : h, &value, NULL);
        ctx->evaluations++;
        k++;
        elapsed = now() - start;
    }
    *seconds = fmin(elapsed, clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu) / k;
    return st;
}

static int64_t numel(const gc_context *ctx, int t)
{
    return eng_tensor_numel(ctx->obj->tensors[t].value);
}

/* Elements per tensor within `left` seconds: GC_BUDGET_MIN_SAMPLES each (or all), then equal
 * shares of the time left, a share a tensor cannot use going to the others. */
static void allocate(const gc_context *ctx, gc_plan *plan, double fixed, double left)
{
    for (int i = 0; i < plan->n; i++) {
        int64_t n = numel(ctx, plan->tensors[i]);
        plan->samples[i] = n < GC_BUDGET_MIN_SAMPLES ? n : GC_BUDGET_MIN_SAMPLES;
        left -= plan->cost[i] * (fixed + 4.0 * (double)plan->samples[i]);
    }
    for (bool more = true; more && left > 0;) {
        int active = 0;
        for (int i = 0; i < plan->n; i++)
            active += plan->samples[i] < numel(ctx, plan->tensors[i]);
        more = false;
        for (int i = 0; i < plan->n && active; i++) {
            int64_t room = numel(ctx, plan->tensors[i]) - plan->samples[i];
            double each = 4.0 * plan->cost[i];
            int64_t add = each > 0 ? (int64_t)fmin((double)room, left / active / each) : room;
            if (room <= 0 || add <= 0)
                continue;
            plan->samples[i] += add;
            left -= each * (double)add;
            more = true;
        }
    }
    for (int i = 0; i < plan->n; i++)
        if (plan->samples[i] >= numel(ctx, plan->tensors[i]))
            plan->samples[i] = 0;
}

static double planned(const gc_context *ctx, const gc_plan *plan, double fixed)
{
    double seconds = 0;
    for (int i = 0; i < plan->n; i++) {
        int64_t n = numel(ctx, plan->tensors[i]), k = plan->samples[i];
        seconds += plan->cost[i] * (fixed + 4.0 * (double)(k > 0 && k < n ? k : n));
    }
    return seconds;
}

static void announce(const gc_context *ctx, const gc_plan *plan)
{
    int64_t total = 0, chosen = 0;
    for (int i = 0; i < plan->n; i++) {
        int64_t n = numel(ctx, plan->tensors[i]);
        total += n;
        chosen += plan->samples[i] > 0 ? plan->samples[i] : n;
    }
    char full[16], part[16];
    eng_progress_format_time(full, plan->full_seconds);
    eng_progress_format_time(part, plan->planned_seconds);
    eng_progress_message(plan->progress,
                         "gradcheck: a full check of %lld elements would take about %s (%.3g s), "
                         "over the budget of %g s: checking a stratified sample of %lld elements "
                         "(%.2f%%) in about %s (full = true checks every element)",
                         (long long)total, full, plan->full_seconds, plan->budget,
                         (long long)chosen, 100.0 * (double)chosen / (double)(total ? total : 1),
                         part);
}

eng_status gc_plan_check(gc_context *ctx, const eng_gc_options *opts, gc_plan *plan)
{
    int n = plan->n ? plan->n : 1;
    plan->cost = calloc((size_t)n, sizeof *plan->cost);
    plan->samples = calloc((size_t)n, sizeof *plan->samples);
    if (!plan->cost || !plan->samples)
        return eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    double start = now(), cpu = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
    double fixed = opts->step > 0 ? 0.0 : GC_STEP_EVALUATIONS;
    for (int i = 0; i < plan->n; i++) {
        eng_status st = time_tensor(ctx, plan->tensors[i], &plan->cost[i]);
        if (st)
            return st;
        plan->samples[i] = opts->samples;
    }
    plan->full_seconds = 0;
    for (int i = 0; i < plan->n; i++)
        plan->full_seconds += plan->cost[i] * (fixed + 4.0 * (double)numel(ctx, plan->tensors[i]));
    bool budgeted = opts->samples == 0 && !opts->full && isfinite(opts->budget);
    plan->budget = budgeted ? (opts->budget > 0 ? opts->budget : ENG_GC_BUDGET) : 0;
    /* the timing itself is part of the check */
    double elapsed = fmin(now() - start, clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu);
    if (plan->budget > 0 && elapsed + plan->full_seconds > plan->budget) {
        allocate(ctx, plan, fixed, plan->budget - elapsed);
        plan->sampled = true;
    }
    plan->planned_seconds = planned(ctx, plan, fixed);
    if (plan->planned_seconds >= GC_PROGRESS_SECONDS || plan->sampled) {
        eng_progress_opts po = {.unit = "ms of work (est.)", .verbose = opts->verbose};
        double total = ceil(1000 * plan->planned_seconds);
        eng_status st =
            eng_progress_begin(&plan->progress, "gradcheck", (int64_t)fmax(total, 1), &po);
        if (st)
            return st;
    }
    plan->counted = ctx->evaluations;
    if (plan->sampled)
        announce(ctx, plan);
    return ENG_OK;
}

void gc_plan_advance(gc_plan *plan, int i, int64_t evaluations)
{
    plan->done_seconds += plan->cost[i] * (double)(evaluations - plan->counted);
    plan->counted = evaluations;
    if (plan->progress) {
        double total = ceil(1000 * plan->planned_seconds);
        eng_progress_set(plan->progress, (int64_t)fmin(1000 * plan->done_seconds, total));
    }
}

void gc_plan_tensor(gc_plan *plan, const char *name)
{
    eng_progress_note(plan->progress, "%s", name);
}

void gc_plan_free(gc_plan *plan, bool ok)
{
    if (plan->progress) {
        if (ok) {
            eng_progress_set(plan->progress, (int64_t)ceil(1000 * plan->planned_seconds));
            eng_progress_note(plan->progress, "%s", "");
            eng_progress_end(plan->progress);
        } else {
            eng_progress_abandon(plan->progress);
        }
    }
    plan->progress = NULL;
    free(plan->tensors);
    free(plan->cost);
    free(plan->samples);
    plan->tensors = NULL;
    plan->cost = NULL;
    plan->samples = NULL;
}
