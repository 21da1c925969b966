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
 * allow (at least 2, at most 2000), over up to 8 elements spread through the tensor (one
 * element, always the same, can be cheaper than the others: caches, sparse paths). The
 * smaller of wall-clock and CPU time: other work on a shared machine stretches the one and
 * not the other, threads the other and not the one. */
static eng_status time_tensor(gc_context *ctx, int t, double *seconds)
{
    eng_gc_objective *obj = ctx->obj;
    const eng_tensor *v = obj->tensors[t].value;
    int64_t n = eng_tensor_numel(v), spread = n < 8 ? n : 8;
    *seconds = 0;
    if (n == 0)
        return ENG_OK;
    double value;
    eng_status st = obj->loss_at(
        obj, t, n / 2, 1e-4 * fmax(fabs(eng_tensor_get_flat(v, n / 2)), 1.0), &value, NULL);
    ctx->evaluations++;
    double start = now(), cpu = clock_seconds(CLOCK_PROCESS_CPUTIME_ID), elapsed = 0;
    int k = 0;
    while (!st && (k < 2 || elapsed < 2e-3) && k < 2000) {
        /* element (2j + 1) n / 2 spread, j = k / 2 mod spread: centred in equal parts */
        int64_t j = (k / 2) % spread, index = (2 * j + 1) * n / (2 * spread);
        double h = 1e-4 * fmax(fabs(eng_tensor_get_flat(v, index)), 1.0);
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

/* The elements the plan checks in tensor i (samples[i], 0 meaning all). */
static int64_t wanted(const gc_context *ctx, const gc_plan *plan, int i)
{
    int64_t n = numel(ctx, plan->tensors[i]), k = plan->samples[i];
    return k > 0 && k < n ? k : n;
}

static double planned(const gc_context *ctx, const gc_plan *plan, double fixed)
{
    double seconds = 0;
    for (int i = 0; i < plan->n; i++)
        seconds += plan->cost[i] * (fixed + 4.0 * (double)wanted(ctx, plan, i));
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

void gc_plan_start(gc_plan *plan)
{
    plan->t0_wall = now();
    plan->t0_cpu = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
}

/* Seconds since the check began: the smaller of wall-clock and CPU time. */
static double plan_elapsed(const gc_plan *plan)
{
    return fmin(now() - plan->t0_wall, clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - plan->t0_cpu);
}

static eng_status begin_progress(gc_plan *plan)
{
    eng_progress_opts po = {.unit = "ms of work (est.)", .verbose = plan->verbose};
    double total = ceil(1000 * plan->planned_seconds);
    return eng_progress_begin(&plan->progress, "gradcheck", (int64_t)fmax(total, 1), &po);
}

eng_status gc_plan_check(gc_context *ctx, const eng_gc_options *opts, gc_plan *plan)
{
    int n = plan->n ? plan->n : 1;
    plan->cost = calloc((size_t)n, sizeof *plan->cost);
    plan->samples = calloc((size_t)n, sizeof *plan->samples);
    if (!plan->cost || !plan->samples)
        return eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    if (plan->t0_wall == 0)
        gc_plan_start(plan);
    double fixed = opts->step > 0 ? 0.0 : GC_STEP_EVALUATIONS;
    plan->fixed = fixed;
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
    /* the timing itself, and what came before it (the base point, the gradient), is part of
     * the check */
    double elapsed = plan_elapsed(plan);
    plan->planned_at = elapsed;
    if (plan->budget > 0 && elapsed + plan->full_seconds > plan->budget) {
        allocate(ctx, plan, fixed, plan->budget - elapsed);
        plan->sampled = true;
    }
    plan->planned_seconds = planned(ctx, plan, fixed);
    plan->verbose = opts->verbose;
    if (plan->planned_seconds >= GC_PROGRESS_SECONDS || plan->sampled) {
        eng_status st = begin_progress(plan);
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

/* Estimated seconds of the work left: tensor i's elements done..limit, the later tensors. */
static double planned_rest(const gc_plan *plan, const gc_context *ctx, int i, int64_t done,
                           int64_t limit)
{
    double rest = 4.0 * plan->cost[i] * (double)(limit - done);
    for (int j = i + 1; j < plan->n; j++)
        rest += plan->cost[j] * (plan->fixed + 4.0 * (double)wanted(ctx, plan, j));
    return rest;
}

/* Elements the plan still checks: tensor i's up to limit, and the later tensors'. */
static int64_t planned_count(const gc_plan *plan, const gc_context *ctx, int i, int64_t limit)
{
    for (int j = i + 1; j < plan->n; j++)
        limit += wanted(ctx, plan, j);
    return limit;
}

/* The cut of gc_plan_limit: the elements left (flex) shrink by one factor so that the floors
 * (GC_BUDGET_MIN_SAMPLES or all per tensor, the later tensors' step searches) and the rest fit
 * `avail` estimated seconds. Returns the current tensor's new limit. */
static int64_t cut(gc_plan *plan, const gc_context *ctx, int i, int64_t done, int64_t limit,
                   double avail)
{
    int64_t floor_i = limit < GC_BUDGET_MIN_SAMPLES ? limit : GC_BUDGET_MIN_SAMPLES;
    int64_t fixed_i = floor_i > done ? floor_i - done : 0, flex_i = limit - done - fixed_i;
    double floors = 4.0 * plan->cost[i] * (double)fixed_i,
           flex = 4.0 * plan->cost[i] * (double)flex_i;
    for (int j = i + 1; j < plan->n; j++) {
        int64_t want = wanted(ctx, plan, j),
                low = want < GC_BUDGET_MIN_SAMPLES ? want : GC_BUDGET_MIN_SAMPLES;
        floors += plan->cost[j] * (plan->fixed + 4.0 * (double)low);
        flex += 4.0 * plan->cost[j] * (double)(want - low);
    }
    double f = flex > 0 ? fmin(1.0, fmax(0.0, (avail - floors) / flex)) : 0.0;
    for (int j = i + 1; j < plan->n; j++) {
        int64_t want = wanted(ctx, plan, j),
                low = want < GC_BUDGET_MIN_SAMPLES ? want : GC_BUDGET_MIN_SAMPLES;
        int64_t keep = low + (int64_t)(f * (double)(want - low));
        plan->samples[j] = keep >= numel(ctx, plan->tensors[j]) ? 0 : keep;
    }
    return done + fixed_i + (int64_t)(f * (double)flex_i);
}

int64_t gc_plan_limit(gc_plan *plan, const gc_context *ctx, int i, int64_t done, int64_t limit)
{
    if (plan->budget <= 0 || plan->done_seconds < plan->next_look)
        return limit;
    /* the clock is read about 256 times per budget, at the rate last measured */
    plan->next_look = plan->done_seconds + plan->budget / 256 / fmax(1.0, plan->recent);
    double elapsed = plan_elapsed(plan), spent = elapsed - plan->planned_at;
    /* the rate is judged on at least 2% of the budget: over the whole check so far, and over
     * the latest window of at least 2% (a check that turns slower midway is judged by what it
     * costs now, not by its average), the larger of the two */
    if (spent < 0.02 * plan->budget)
        return limit;
    double slowdown = fmax(1.0, spent / fmax(plan->done_seconds, 1e-9));
    double window = spent - plan->window_spent;
    if (window >= 0.02 * plan->budget) {
        double worked = plan->done_seconds - plan->window_done;
        plan->recent = worked > 0 ? window / worked : slowdown;
        plan->window_spent = spent;
        plan->window_done = plan->done_seconds;
    }
    slowdown = fmax(slowdown, plan->recent);
    if (elapsed + slowdown * planned_rest(plan, ctx, i, done, limit) <= plan->budget)
        return limit;
    int64_t before = planned_count(plan, ctx, i, limit);
    /* a cut aims 5% under the budget: the floors after it are predicted, not measured, and
     * land on either side of their prediction */
    int64_t kept =
        cut(plan, ctx, i, done, limit, fmax(0.0, 0.95 * plan->budget - elapsed) / slowdown);
    int64_t after = planned_count(plan, ctx, i, kept);
    if (after < before) {
        /* the bar counts the work as now planned; a check planned too short for one gets it */
        plan->planned_seconds = plan->done_seconds + planned_rest(plan, ctx, i, done, kept);
        if (plan->progress)
            eng_progress_set_total(plan->progress, (int64_t)ceil(1000 * plan->planned_seconds));
        else if (begin_progress(plan))
            plan->progress = NULL; /* out of memory for a bar: the check goes on without */
        if (plan->slowdown == 0)
            eng_progress_message(plan->progress,
                                 "gradcheck: the check runs %.2gx slower than its timing said: "
                                 "the elements left are cut from %lld to %lld to keep the "
                                 "budget of %g s (full = true checks every element)",
                                 slowdown, (long long)(before - done), (long long)(after - done),
                                 plan->budget);
        plan->slowdown = fmax(plan->slowdown, slowdown);
        plan->sampled = true;
    }
    return kept;
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
