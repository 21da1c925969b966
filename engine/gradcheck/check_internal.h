/* Shared between the element-wise check and its diagnosis (internal). */
#ifndef ENGINE_GRADCHECK_CHECK_INTERNAL_H
#define ENGINE_GRADCHECK_CHECK_INTERNAL_H

#include "gradcheck.h"

/* One numerical derivative with its error estimate. */
typedef struct gc_estimate {
    double value;  /* Richardson extrapolation of the central differences at h and h/2 */
    double coarse; /* central difference at h */
    double truncation;
    double roundoff;
    bool kink;
    double coarse_step; /* directional mode: the step h that gave this estimate */
} gc_estimate;

typedef struct gc_context {
    eng_gc_objective *obj;
    double u; /* unit round-off of the objective's dtype */
    double loss;
    double loss_noise; /* round-off of one loss evaluation */
    double rtol, nsigma;
    int64_t evaluations;
    bool frozen; /* the objective's branches are frozen at the base point */
} gc_context;

/* Freezes the objective's branches at the current point when it can (obj->freeze), after
 * checking that the frozen form reproduces the loss there exactly; sets ctx->frozen.
 * warning [out, optional, size 256] says why not when the frozen loss differs. */
eng_status gc_freeze(gc_context *ctx, char *warning, size_t size);
void gc_unfreeze(gc_context *ctx);

/* Sets ctx->loss_noise from the observed jitter of the loss (needs ctx->loss and the
 * analytic gradients). */
eng_status gc_calibrate_noise(gc_context *ctx, eng_rng *rng);

/* Central differences at h and h/2 around element index of tensor t. */
eng_status gc_estimate_at(gc_context *ctx, int t, int64_t index, double h, gc_estimate *out);
double gc_error_bar(const gc_estimate *e);
eng_gc_verdict gc_verdict(const gc_context *ctx, double analytic, const gc_estimate *e,
                          double *rel_error);

/* Stratified sample of `want` distinct flat indices of a tensor of this shape (all when want
 * is 0 or at least its size), sorted; returns the count, -1 when out of memory. */
int64_t gc_choose_indices(const eng_tensor *t, int64_t want, eng_rng *rng, int64_t *out);
/* Whether `name` (a tensor) or `layer` (its layer) is one of the names in list (separated by
 * commas or spaces); marks the list entry used in *used (bit k for entry k < 64). */
bool gc_listed(const char *list, const char *name, const char *layer, uint64_t *used);
/* The first entry of list not in used, as an error naming it. */
eng_status gc_check_list_used(const char *what, const char *list, uint64_t used,
                              const eng_gc_objective *obj);

/* The step for tensor t: among steps scale * 10^-k, the one whose error bar is smallest on a
 * few probe elements (of indices), preferring those without kinks. */
eng_status gc_choose_step(gc_context *ctx, int t, const int64_t *indices, int64_t count,
                          double scale, double *step);
/* Evaluations gc_choose_step spends at most (probes x steps x 2 estimates x 4). */
#define GC_STEP_EVALUATIONS 352
/* A FAIL must survive a second step, h/4 (else KINK or INCONCLUSIVE): updates el->verdict. */
eng_status gc_confirm_failure(gc_context *ctx, int t, eng_gc_element *el, const gc_estimate *first,
                              double step);

/* The cost of an element-wise check, known before it starts (budget.c): each tensor's
 * evaluations are timed, a full check's time estimated, and above the budget each tensor gets
 * a stratified sample that fits. Long checks show a progress bar counting the estimated work
 * in milliseconds. */
typedef struct gc_plan {
    int n;                            /* tensors to check */
    int *tensors;                     /* [n] their indices in the objective */
    double *cost;                     /* [n] seconds per evaluation, timed */
    int64_t *samples;                 /* [n] elements to check (0 = all) */
    double full_seconds;              /* a full check, estimated */
    double planned_seconds;           /* the check as planned, estimated */
    double budget;                    /* 0: none applied */
    bool sampled;                     /* the budget made it a sample */
    struct eng_progress *progress;    /* NULL for short or silent checks */
    double done_seconds;              /* estimated work done, for the bar */
    int64_t counted;                  /* evaluations counted into done_seconds */
    double fixed;                     /* step-search evaluations per tensor (0: step given) */
    double t0_wall, t0_cpu;           /* when the check began (gc_plan_start) */
    double planned_at;                /* its elapsed time when the plan was made */
    double next_look;                 /* done_seconds at which the clock is read next */
    double window_spent, window_done; /* elapsed and done_seconds where the rate's window began */
    double recent;                    /* measured / timed cost over the last window */
    double slowdown;                  /* measured / timed cost when the budget cut the sample */
    int verbose;                      /* the options' eng_progress_verbosity */
} gc_plan;

/* Elements every tensor keeps in a budget sample: enough for the tensor-level statistics. */
#define GC_BUDGET_MIN_SAMPLES 256
/* Checks planned to take at least this many seconds show a progress bar. */
#define GC_PROGRESS_SECONDS 1.0

/* Marks the start of the check: the budget counts from here (the smaller of wall-clock and
 * CPU time). */
void gc_plan_start(gc_plan *plan);
/* Plans the check of plan->tensors[0..n) (set by the caller) after timing their evaluations;
 * says on stderr when the budget makes it a sample. */
eng_status gc_plan_check(gc_context *ctx, const eng_gc_options *opts, gc_plan *plan);
/* Counts the evaluations made since the last call as work on the plan's tensor i. */
void gc_plan_advance(gc_plan *plan, int i, int64_t evaluations);
/* The number of elements tensor i may still have in all (at most limit), `done` of them
 * checked: while a budget holds, the clock is read now and then, and when the check runs
 * slower than its timing said (a loaded or slower machine, elements dearer than the timed
 * ones) the elements left, here and in the later tensors, are cut to what the budget still
 * allows, never below GC_BUDGET_MIN_SAMPLES (or all) per tensor; says so once on stderr. */
int64_t gc_plan_limit(gc_plan *plan, const gc_context *ctx, int i, int64_t done, int64_t limit);
/* Names the tensor being checked on the bar. */
void gc_plan_tensor(gc_plan *plan, const char *name);
/* Ends the bar (ok: its final line; else it is abandoned) and frees the plan's arrays. */
void gc_plan_free(gc_plan *plan, bool ok);

/* Elements per tensor in layer-wise checks by default (sampled, stratified). */
#define GC_LAYER_SAMPLES 48

/* Localisation over a chain: inputs[i] is the input layer i really receives (i < nlayers) and
 * inputs[nlayers] the loss's input; suspects are layers from..nlayers-1 and the loss, each
 * checked in the mode (training or evaluation) the chain runs in. */
eng_status gc_localise(eng_layer **layers, int nlayers, bool training,
                       const eng_tensor *const *inputs, eng_loss *loss, const eng_tensor *target,
                       int from, const eng_gc_options *opts, eng_gc_report *report);

/* The layers inside a container (inner.c), over every child in order, each with the input it
 * really receives (a copy, from one forward of the container on x in the mode given) and its
 * path ("residual_1.shortcut.conv2d_1"), for checking them alone. */
typedef struct gc_inner {
    int n;
    eng_layer **layers;
    eng_tensor **inputs;
    char (*paths)[ENG_NAME_MAX];
} gc_inner;
eng_status gc_inner_collect(eng_layer *container, const char *path, const eng_tensor *x,
                            bool training, gc_inner *in);
void gc_inner_free(gc_inner *in);
/* The objective of one layer alone (eng_gc_layer_objective_mode, its batch set) with its
 * tensors named by the layer's path: "residual_1.linear_1.weight". */
eng_status gc_inner_objective(eng_layer *layer, const char *path, const eng_tensor *x,
                              bool training, eng_rng *rng, eng_gc_objective **out);
/* The layer at path among layers[0..n), inside containers too; NULL when none. */
eng_layer *gc_layer_at_path(eng_layer *const *layers, int n, const char *path);

/* Names the layer whose backward is wrong from its failing tensor r (checked alone): sets
 * report->culprit, culprit_tensor and localisation ("relu_1 (no parameters): input gradient
 * ignores the mask ..."). kind: the layer's kind, for faults particular to it. */
void gc_describe_culprit(eng_gc_report *report, const char *layer, const char *kind,
                         const eng_gc_tensor_report *r, bool param_free);

/* One checked element's raw evidence for the tensor-level statistics. */
typedef struct gc_sample {
    double analytic, numerical, truncation, roundoff;
} gc_sample;

/* Tensor-level statistics over count non-kink samples: fills r->ratio, ratio_error,
 * ratio_spread, chi2, chi2_limit, fit_chi2, dof. */
void gc_tensor_statistics(const gc_context *ctx, const gc_sample *s, int64_t count,
                          eng_gc_tensor_report *r);
/* Whether the tensor-level evidence rejects "analytic = numerical" (FAIL), or pins the ratio
 * to 1 within 1% (an INCONCLUSIVE-by-elements tensor then PASSes). */
bool gc_tensor_rejects(const gc_context *ctx, const eng_gc_tensor_report *r);
bool gc_tensor_confirms(const gc_context *ctx, const eng_gc_tensor_report *r);
/* The 1 - p quantile of chi-square with k degrees of freedom (Wilson-Hilferty). */
double gc_chi2_quantile(int64_t k, double z);

/* Fills report->diagnosis (and may evaluate more derivatives to test hypotheses such as a
 * transposed layout). elements: every checked element of the tensor. */
eng_status gc_diagnose(gc_context *ctx, int t, eng_gc_tensor_report *report,
                       const eng_gc_element *elements, int64_t count, double step);

/* A random unit direction over the objective's tensors (directional mode, the Taylor test). */
typedef struct gc_direction {
    int ntensors;
    eng_tensor **v;     /* [ntensors] like each value (NULL where zero) */
    eng_tensor **saved; /* [ntensors] copies of the values */
} gc_direction;

/* A random unit direction supported on tensor `only` (all when -1) and, within it, on the
 * flat range [lo, hi) (all when hi <= lo). Free with gc_direction_free even on failure. */
eng_status gc_direction_new(eng_gc_objective *obj, int only, int64_t lo, int64_t hi, eng_rng *rng,
                            gc_direction *d);
void gc_direction_free(gc_direction *d);
/* g.v over the analytic gradients. */
double gc_directional_analytic(const eng_gc_objective *obj, const gc_direction *d);
/* L(x + h v), restoring x exactly afterwards. */
eng_status gc_loss_along(gc_context *ctx, const gc_direction *d, double h, double *value);
/* The rms of the values of tensor `only` (all when -1); 1 when they are all zero. */
double gc_value_scale(const eng_gc_objective *obj, int only);

/* Copies of layers' buffers (running statistics), which training-mode forwards update. */
typedef struct gc_saved_buffers {
    int count;
    eng_tensor **copies, **targets;
} gc_saved_buffers;
eng_status gc_buffers_save(eng_layer *const *layers, int n, gc_saved_buffers *out);
/* Puts the saved values back and frees the copies (also after a partial save). */
eng_status gc_buffers_restore(gc_saved_buffers *s);

#endif
