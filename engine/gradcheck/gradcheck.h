/* The gradient checker: compares analytic gradients with numerical estimates that carry their
 * own error bars, gives a three-way verdict per element and per tensor, and diagnoses the kind
 * of mismatch. Design: DESIGN.md, "Gradient checker".
 *
 * What is checked is an objective: a scalar function of some tensors (a model's parameters
 * and loss, one layer's output projected on a fixed random direction, or anything a caller
 * implements) together with its analytic gradient. */
#ifndef ENGINE_GRADCHECK_GRADCHECK_H
#define ENGINE_GRADCHECK_GRADCHECK_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include "../loss/loss.h"
#include "../model.h"

typedef enum eng_gc_verdict {
    ENG_GC_PASS = 0,
    ENG_GC_FAIL,
    ENG_GC_INCONCLUSIVE,
    ENG_GC_KINK, /* elements only: a branch switch between the evaluation points */
} eng_gc_verdict;

const char *eng_gc_verdict_name(eng_gc_verdict verdict);

/* One tensor under check. value is perturbed in place by the objective and always restored. */
typedef struct eng_gc_tensor {
    char name[ENG_PARAM_NAME_MAX]; /* "conv2d_1.weight", "input" */
    char layer[ENG_NAME_MAX];      /* the layer it belongs to ("" for a whole-objective input) */
    int layer_index;               /* position of that layer, -1 when not applicable */
    eng_tensor *value;             /* the objective's own tensor (not owned here) */
    eng_tensor *grad;              /* analytic gradient, filled by gradient() */
} eng_gc_tensor;

typedef struct eng_gc_objective eng_gc_objective;
typedef struct eng_gc_report eng_gc_report;
typedef struct eng_gc_options eng_gc_options;

struct eng_gc_objective {
    int ntensors;
    eng_gc_tensor *tensors;
    eng_dtype dtype; /* of the values: sets the round-off model */
    /* The loss at the current values. */
    eng_status (*loss)(eng_gc_objective *obj, double *value);
    /* The loss with element `index` of tensor t changed by delta (restored afterwards), and
     * [optional out] a signature of the branches taken (0 when unknown). */
    eng_status (*loss_at)(eng_gc_objective *obj, int t, int64_t index, double delta, double *value,
                          uint64_t *signature);
    /* Fills every tensors[i].grad with the analytic gradient at the current values. */
    eng_status (*gradient)(eng_gc_objective *obj);
    /* Whether loss_at's signatures can tell kinks (else the five-point test is used). */
    bool has_signatures;
    /* Whether every layer that branches can freeze: with freeze on, the objective is then a
     * smooth function, and a difference at any step is free of kinks. */
    bool all_branches_freeze;
    int64_t batch; /* samples in the batch (for naming a 1/N scale), 0 if unknown */
    /* [optional] The loss of sample s alone (a batch of one), with element `index` of tensor t
     * changed by delta: lets the diagnosis test "only one sample's gradient". */
    eng_status (*sample_loss_at)(eng_gc_objective *obj, int64_t s, int t, int64_t index,
                                 double delta, double *value);
    /* [optional] on: takes the branches (ReLU masks, max-pool winners) at the current values as
     * the reference, and from then on loss, loss_at and sample_loss_at evaluate the objective
     * with those branches held: a smooth function, equal to the objective at the reference,
     * whose derivative there is what a correct backward computes. off: plain evaluations.
     * Set when some layer can freeze; the others keep their branches (and kinks). */
    eng_status (*freeze)(eng_gc_objective *obj, bool on);
    /* [optional] After a FAIL: checks each suspect layer (from layer `from` to the last, and
     * the loss) alone on the input it really receives, and fills report->culprit,
     * culprit_tensor, localisation and localised. */
    eng_status (*localise)(eng_gc_objective *obj, int from, const eng_gc_options *opts,
                           eng_gc_report *report);
    void (*destroy)(eng_gc_objective *obj);
    void *ctx;
};

/* A model with its loss on one batch: tensors are every parameter, plus the input when
 * with_input. The model's parameters are perturbed in place; x and target are copied.
 * Perturbing a parameter of layer k re-runs only layers k.. from cached activations. The
 * layers run in the model's mode; in training mode the buffers they update (running
 * statistics) are put back when the objective is released. sample_loss_at (the "one sample"
 * diagnosis) is set only when every layer is batch_independent. */
ENG_MUST_CHECK eng_status eng_gc_model_objective(eng_model *model, eng_loss *loss,
                                                 const eng_tensor *x, const eng_tensor *target,
                                                 bool with_input, eng_gc_objective **out);
/* One layer in isolation: scalar = <r, layer(x)> for a fixed random r drawn from rng (NULL:
 * global); tensors are the layer's parameters and its input x (copied). */
ENG_MUST_CHECK eng_status eng_gc_layer_objective(eng_layer *layer, const eng_tensor *x,
                                                 eng_rng *rng, eng_gc_objective **out);
/* The same in training mode when `training` (BatchNorm normalises with the batch's own
 * statistics; the running statistics it updates are put back when the objective goes). */
ENG_MUST_CHECK eng_status eng_gc_layer_objective_mode(eng_layer *layer, const eng_tensor *x,
                                                      bool training, eng_rng *rng,
                                                      eng_gc_objective **out);
void eng_gc_objective_release(eng_gc_objective *obj);
/* A loss whose value and input gradient are inner's times scale (loss scaling, as mixed
 * precision training does). inner is borrowed: it must outlive *out. [out] *out owned by the
 * caller (eng_loss_release). */
ENG_MUST_CHECK eng_status eng_gc_scaled_loss(eng_loss *inner, double scale, eng_loss **out);

struct eng_gc_options {
    int64_t samples;     /* elements per tensor; 0 = all */
    uint64_t seed;       /* for sampling */
    double step;         /* 0 = chosen per tensor from the error model */
    double rtol;         /* 0 = default: 1e-6 in f64, 1e-3 in f32 */
    double nsigma;       /* error-bar multiple for PASS; 0 = default 3 */
    int worst;           /* worst elements kept per tensor; 0 = default 8 */
    const char *only;    /* [optional] check only the tensors named in this list (names
                            separated by commas or spaces; "conv2d_1.weight" or a layer "conv2d_1") */
    const char *exclude; /* [optional] leave out the tensors named in this list (same form) */
    bool no_localise;    /* do not bisect over layers after a FAIL */
    bool full;           /* every element: never a sample (element-wise: whatever the
                          * budget; layer-wise: not the default sample) */
    /* Element-wise, samples = 0: the check first estimates the time of a full check; above
     * this many seconds (0 = default ENG_GC_BUDGET; infinity: none) it says so on stderr and
     * checks a stratified sample that fits, unless full. */
    double budget;
    int verbose; /* an eng_progress_verbosity: the estimate's notice and the progress bar of
                  * long checks (0: the process default; 1: silent; 2: always) */
};

#define ENG_GC_BUDGET 30.0 /* seconds */

typedef struct eng_gc_element {
    int64_t index; /* row-major, 0-based */
    double numerical, error, analytic, rel_error;
    eng_gc_verdict verdict;
} eng_gc_element;

typedef struct eng_gc_tensor_report {
    char name[ENG_PARAM_NAME_MAX];
    char layer[ENG_NAME_MAX];
    int layer_index;
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    double step;        /* the step used */
    double noise_floor; /* smallest derivative the step can resolve: round-off / step */
    int64_t checked, passed, failed, inconclusive, kinks;
    double max_rel, median_rel; /* over elements that are not kinks */
    /* Tensor-level evidence (all non-kink elements together, each weighted by its error
     * bar): ratio is the weighted least-squares fit of analytic / numerical, ratio_error its
     * standard error (round-off averaged over elements plus the truncation bound, which does
     * not average); chi2 = sum ((a - n) / bar)^2 over dof elements tests "analytic =
     * numerical" against chi2_limit (false-FAIL rate 1e-6); fit_chi2 is the same sum about
     * the fitted ratio (small when one constant factor explains every element). */
    double ratio;
    double ratio_error;
    double ratio_spread; /* relative residual of that fit (0 = exactly proportional) */
    double chi2, chi2_limit, fit_chi2;
    int64_t dof;
    bool tensor_level; /* the verdict rests on the tensor-level test */
    double grad_rms;   /* rms of the analytic gradient over the whole tensor */
    eng_gc_verdict verdict;
    char diagnosis[512]; /* "" when nothing to say */
    char advice[256];    /* for INCONCLUSIVE: what would decide it */
    int nworst;
    eng_gc_element *worst; /* [nworst], worst first */
} eng_gc_tensor_report;

struct eng_gc_report {
    bool ok;                /* every tensor PASS */
    eng_gc_verdict verdict; /* FAIL if any tensor fails, else INCONCLUSIVE if any, else PASS */
    eng_dtype dtype;
    double loss;
    double loss_noise;     /* estimated round-off of one loss evaluation */
    bool nondeterministic; /* two evaluations at the same point differed */
    int ntensors;
    eng_gc_tensor_report *tensors;
    char first_failing[ENG_PARAM_NAME_MAX]; /* name of the first failing tensor, "" if none */
    char warning[256];                      /* e.g. an f32 objective */
    bool kink_free; /* differences taken with the branches of the layers that can
                     * freeze (ReLU, max-pool) held at the base point */
    char summary[ENG_PARAM_NAME_MAX + 2 * ENG_NAME_MAX]; /* a conclusion across tensors, e.g.
                                                          * one factor everywhere */
    double seconds;
    int64_t elements_checked, elements_total; /* coverage over the tensors checked */
    int64_t evaluations;                      /* loss evaluations used */
    /* Element-wise: the estimated time of a full check (every element of the tensors
     * checked), from timed evaluations of each tensor; the budget it was held to (0: none, a
     * sample or full was asked for); whether the budget made it a sample (coverage: the
     * tensors' checked counts against elements_total); when the check ran slower than the
     * timing said and the budget cut the sample during the check, by how much (measured /
     * timed cost; 0 when nothing was cut). */
    double estimated_seconds, budget;
    bool budget_sampled;
    double budget_slowdown;
    const char *mode; /* "element-wise", "directional", "layer-wise" */
    /* Directional mode: the directions tested and failed, and the number of tensors they
     * spanned (each direction moves every element of its tensor; elements_total counts those
     * elements, elements_checked the ones then checked one by one in failing tensors). */
    int directions, directions_failed, directions_tensors;
    /* Localisation after a whole-model FAIL (the failing tensors are evidence; the culprit is
     * the layer whose backward is wrong, found by checking the suspects alone). */
    char culprit[ENG_NAME_MAX];              /* "relu_1", "loss"; "" when none was found */
    char culprit_tensor[ENG_PARAM_NAME_MAX]; /* "relu_1.input", "conv2d_1.weight" */
    char localisation[600];                  /* "relu_1 (no parameters): input gradient ..." */
    eng_gc_report *localised;                /* [optional, owned] the suspects' own checks */
};

/* Element-wise check. [out] *out owned by the caller (eng_gc_report_free). */
ENG_MUST_CHECK eng_status eng_gc_check(eng_gc_objective *obj, const eng_gc_options *opts,
                                       eng_gc_report **out);
void eng_gc_report_free(eng_gc_report *report);

/* Directional mode: random unit directions v, about k in all, shared out over the tensors
 * (at least 2 each); each compares the Richardson estimate of dL/dh along v with g.v, at a
 * cost independent of the number of parameters. A tensor with a failing direction is bisected
 * over its elements down to single elements, then checked and diagnosed element-wise
 * (opts->samples elements, default 16). Directions within one tensor keep a wrong tensor with
 * tiny gradients from hiding behind the others. */
ENG_MUST_CHECK eng_status eng_gc_check_directions(eng_gc_objective *obj, int k,
                                                  const eng_gc_options *opts, eng_gc_report **out);

/* Taylor remainder test for one tensor (index t): r(h) = |L(x + h d) - L(x) - h g.d| over a
 * random unit direction d. The remainder falls as h^2 when g is the gradient and as h when it
 * is not, once h is small enough for the gradient's error to outweigh the curvature and large
 * enough for r to stand above the loss's round-off. The test evaluates steps h0 * 2^-i
 * (i < n; h0 <= 0: the rms of the tensor's values), on the frozen-branch function where the
 * layers can freeze. Remainders below 100 times their round-off are not used; where too few
 * stand above it and the function is smooth (every branch frozen), the test adds larger
 * steps, then smaller ones while they stay above it. The verdict rests on the local slopes
 * over the smallest usable steps (3 to 5 of them): PASS when each is about 2 or more, FAIL
 * when each is about 1, INCONCLUSIVE otherwise, the conclusion saying why (round-off at every
 * step, a remainder between h and h^2). */
#define ENG_GC_TAYLOR_MAX_STEPS 128

typedef struct eng_gc_taylor_result {
    eng_gc_verdict verdict; /* PASS: slope about 2; FAIL: about 1; INCONCLUSIVE: cannot say */
    double slope;           /* least-squares slope over the decisive steps; NaN if < 2 usable */
    int nsteps;             /* steps evaluated, largest first */
    double steps[ENG_GC_TAYLOR_MAX_STEPS];
    double remainders[ENG_GC_TAYLOR_MAX_STEPS];
    int first, last; /* the decisive steps: steps[first..last]; -1 when none */
    int asked;       /* index of h0 among the steps (steps added above it come first) */
    double noise;    /* round-off of one remainder at the smallest decisive step */
    double gd;       /* g.d, the analytic directional derivative */
    bool frozen;     /* evaluated with the branches frozen at the base point */
    char conclusion[320];
} eng_gc_taylor_result;

ENG_MUST_CHECK eng_status eng_gc_taylor_test(eng_gc_objective *obj, int t, double h0, int n,
                                             uint64_t seed, eng_gc_taylor_result *out);

/* The same test, as a slope: *slope is the result's (NaN when fewer than 2 steps stand above
 * the round-off) and remainders [optional, out] receives the remainders at h0 * 2^-i, i < n. */
ENG_MUST_CHECK eng_status eng_gc_taylor(eng_gc_objective *obj, int t, double h0, int n,
                                        uint64_t seed, double *slope, double *remainders);

/* Epsilon sweep for one tensor: for each of nsteps steps the median, over `samples` sampled
 * elements, of the relative error |D(h) - g| / |g| of the plain central difference
 * D(h) = (L(x+h) - L(x-h)) / 2h: the V-shaped curve of truncation against round-off. */
ENG_MUST_CHECK eng_status eng_gc_sweep(eng_gc_objective *obj, int t, const double *steps,
                                       int nsteps, int64_t samples, uint64_t seed, double *errors);

/* Layer-wise mode: runs the model on the batch, then checks every layer alone on its real
 * input with a random upstream gradient (eng_gc_layer_objective), parameters and input. The
 * report's tensors are named "<layer>.<param>" and "<layer>.input"; first_failing names the
 * first failing one, and culprit, culprit_tensor and localisation its layer and what is wrong
 * with it. Each layer runs in the model's mode (training: batch statistics); the buffers the
 * forwards update are put back. The model is left in its state after the forward. */
ENG_MUST_CHECK eng_status eng_gc_check_layers(eng_model *model, const eng_tensor *x,
                                              const eng_gc_options *opts, eng_gc_report **out);

/* A readable multi-line table of the report; snprintf semantics. Indices print 1-based when
 * one_based (for Lua users), 0-based otherwise. */
size_t eng_gc_report_format(const eng_gc_report *report, bool one_based, char *buf, size_t size);

#pragma GCC visibility pop

#endif
