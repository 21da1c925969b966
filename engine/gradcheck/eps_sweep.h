/* The epsilon sweep of a whole objective: for every tensor, the plain central difference's
 * median relative error at each of a list of steps (eng_gc_sweep, the V-shaped curve of
 * truncation against round-off), beside the step the checker itself would choose; and an SVG
 * plot of the curves with the chosen steps marked. gradcheck.sweep in Lua is this. */
#ifndef ENGINE_GRADCHECK_EPS_SWEEP_H
#define ENGINE_GRADCHECK_EPS_SWEEP_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include "gradcheck.h"

/* The most steps one sweep takes. */
#define ENG_GC_SWEEP_MAX_STEPS 64
/* Without a list of steps: 1e-1, 1e-2, ..., 1e-12. */
#define ENG_GC_SWEEP_DEFAULT_STEPS 12

typedef struct eng_gc_sweep_options {
    const double *steps; /* [optional] nsteps steps, each > 0; NULL: the default steps */
    int nsteps;          /* 1..ENG_GC_SWEEP_MAX_STEPS when steps is given */
    int64_t samples;     /* elements sampled per tensor for each median; 0 = every element */
    uint64_t seed;       /* for the sampled elements and the checker's own small check */
} eng_gc_sweep_options;

typedef struct eng_gc_sweep_result {
    int ntensors, nsteps;
    double steps[ENG_GC_SWEEP_MAX_STEPS]; /* [nsteps] the steps h, in the order given */
    char (*names)[ENG_PARAM_NAME_MAX];    /* [ntensors] the objective's tensor names */
    double *errors; /* [ntensors, nsteps] row t: median |D(h) - g| / |g| of tensor t, NaN when
                       every sampled element has g = 0 */
    double *chosen; /* [ntensors] the step the checker chooses for the tensor (from an
                       element-wise check of 4 elements per tensor, opts->seed), NaN if none */
} eng_gc_sweep_result;

/* Sweeps every tensor of obj over the steps. The objective's values are perturbed and
 * restored. [out] *out owned by the caller (eng_gc_sweep_result_free). */
ENG_MUST_CHECK eng_status eng_gc_eps_sweep(eng_gc_objective *obj, const eng_gc_sweep_options *opts,
                                           eng_gc_sweep_result **out);
/* Writes the sweep as an SVG plot to path: one log-log curve per tensor (error against h),
 * the chosen steps dashed; title [optional] (NULL: a default). */
ENG_MUST_CHECK eng_status eng_gc_sweep_plot(const eng_gc_sweep_result *sweep, const char *title,
                                            const char *path);
/* Frees the result. NULL accepted. */
void eng_gc_sweep_result_free(eng_gc_sweep_result *sweep);

#pragma GCC visibility pop

#endif
