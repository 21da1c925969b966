/* The epsilon sweep of a whole objective (eps_sweep.h): eng_gc_sweep per tensor, the checker's
 * own step choice beside it, and the plot of both. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "eps_sweep.h"
#include "../io/plot.h"

/* Copies the steps asked for (or the default 1e-1 ... 1e-12) into s, checking them. */
static eng_status take_steps(const eng_gc_sweep_options *o, eng_gc_sweep_result *s)
{
    if (!o->steps) {
        s->nsteps = ENG_GC_SWEEP_DEFAULT_STEPS;
        for (int i = 0; i < s->nsteps; i++)
            s->steps[i] = pow(10.0, -(i + 1));
        return ENG_OK;
    }
    if (o->nsteps < 1 || o->nsteps > ENG_GC_SWEEP_MAX_STEPS)
        return eng_error(ENG_EARG, "gradcheck sweep: %d steps given (1 to %d expected)", o->nsteps,
                         ENG_GC_SWEEP_MAX_STEPS);
    s->nsteps = o->nsteps;
    for (int i = 0; i < s->nsteps; i++) {
        if (!(o->steps[i] > 0) || !isfinite(o->steps[i]))
            return eng_error(ENG_EARG,
                             "gradcheck sweep: step %d is %g (steps must be positive "
                             "and finite)",
                             i + 1, o->steps[i]);
        s->steps[i] = o->steps[i];
    }
    return ENG_OK;
}

/* The checker's own step for each tensor, from a small element-wise check. */
static eng_status choose_steps(eng_gc_objective *obj, uint64_t seed, eng_gc_sweep_result *s)
{
    eng_gc_report *r = NULL;
    eng_gc_options o = {.samples = 4, .seed = seed};
    eng_status st = eng_gc_check(obj, &o, &r);
    for (int t = 0; !st && t < s->ntensors; t++)
        s->chosen[t] = t < r->ntensors ? r->tensors[t].step : NAN;
    eng_gc_report_free(r);
    return st;
}

eng_status eng_gc_eps_sweep(eng_gc_objective *obj, const eng_gc_sweep_options *opts,
                            eng_gc_sweep_result **out)
{
    static const eng_gc_sweep_options defaults = {0};
    const eng_gc_sweep_options *o = opts ? opts : &defaults;
    *out = NULL;
    if (o->samples < 0)
        return eng_error(ENG_EARG,
                         "gradcheck sweep: samples is %lld (0 = every element, or a "
                         "positive count)",
                         (long long)o->samples);
    eng_gc_sweep_result *s = calloc(1, sizeof *s);
    if (!s)
        return eng_error(ENG_ENOMEM, "gradcheck sweep: out of memory");
    eng_status st = take_steps(o, s);
    int nt = obj->ntensors;
    s->ntensors = nt;
    if (!st) {
        s->names = calloc((size_t)nt + 1, sizeof *s->names);
        s->errors = calloc((size_t)nt * (size_t)s->nsteps + 1, sizeof *s->errors);
        s->chosen = calloc((size_t)nt + 1, sizeof *s->chosen);
        if (!s->names || !s->errors || !s->chosen)
            st = eng_error(ENG_ENOMEM, "gradcheck sweep: out of memory");
    }
    for (int t = 0; !st && t < nt; t++) {
        snprintf(s->names[t], sizeof s->names[t], "%s", obj->tensors[t].name);
        st = eng_gc_sweep(obj, t, s->steps, s->nsteps, o->samples, o->seed,
                          s->errors + (size_t)t * (size_t)s->nsteps);
    }
    if (!st)
        st = choose_steps(obj, o->seed, s);
    if (st) {
        eng_gc_sweep_result_free(s);
        return st;
    }
    *out = s;
    return ENG_OK;
}

eng_status eng_gc_sweep_plot(const eng_gc_sweep_result *sweep, const char *title, const char *path)
{
    int nt = sweep->ntensors;
    eng_status st = ENG_OK;
    eng_plot_series *series = calloc((size_t)nt + 1, sizeof *series);
    const char **labels = calloc((size_t)nt + 1, sizeof *labels);
    char(*marks)[160] = calloc((size_t)nt + 1, sizeof *marks);
    if (!series || !labels || !marks) {
        st = eng_error(ENG_ENOMEM, "gradcheck sweep: out of memory");
    } else {
        for (int t = 0; t < nt; t++) {
            series[t] = (eng_plot_series){.label = sweep->names[t],
                                          .n = sweep->nsteps,
                                          .x = sweep->steps,
                                          .y = sweep->errors + (size_t)t * (size_t)sweep->nsteps};
            snprintf(marks[t], sizeof marks[t], "chosen step %.1e (dashed)", sweep->chosen[t]);
            labels[t] = marks[t];
        }
        eng_plot plot = {.title = title ? title : "central-difference error against the step (f64)",
                         .xlabel = "step h",
                         .ylabel = "median relative error |D(h) - g| / |g|",
                         .logx = true,
                         .logy = true,
                         .nseries = nt,
                         .series = series,
                         .nmarks = nt,
                         .mark_x = sweep->chosen,
                         .mark_label = labels};
        st = eng_plot_write_svg(&plot, path);
    }
    free(series);
    free(labels);
    free(marks);
    return st;
}

void eng_gc_sweep_result_free(eng_gc_sweep_result *sweep)
{
    if (!sweep)
        return;
    free(sweep->names);
    free(sweep->errors);
    free(sweep->chosen);
    free(sweep);
}
