/* Optimizers: update a list of parameters (eng_param_list: a model's, from eng_model_params)
 * from their accumulated gradients. They know nothing of models or layers.
 *
 * An optimizer holds views of the parameter and gradient tensors it was made for (so they stay
 * valid even if the model is freed first) and its own state slots, created at the first
 * step as PyTorch does. */
#ifndef ENGINE_OPTIM_OPTIM_H
#define ENGINE_OPTIM_OPTIM_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include "../param_list.h"

typedef struct eng_optimizer eng_optimizer;

typedef struct eng_optim_ops {
    const char *kind; /* "sgd", "rmsprop", "adam", "adamw", "adagrad" */
    eng_status (*step)(eng_optimizer *opt);
    void (*destroy)(eng_optimizer *opt); /* [optional] kind-specific cleanup */
    /* State kept per parameter, named as in PyTorch's state_dict ("momentum_buffer",
     * "exp_avg", ...): opt->slots[param * nslots + k] holds slot k, NULL until created. */
    int nslots;
    const char *const *slot_names;
    /* The numeric hyper-parameters, for checkpoints: fills up to max names and values and
     * returns how many there are. */
    int (*hyper)(const eng_optimizer *opt, const char **names, double *values, int max);
} eng_optim_ops;

typedef struct eng_optim_param {
    char name[ENG_PARAM_NAME_MAX]; /* "<layer>.<param>" */
    eng_tensor *value;             /* views sharing the layer's storage */
    eng_tensor *grad;
} eng_optim_param;

struct eng_optimizer {
    const eng_optim_ops *ops;
    int nparams;
    eng_optim_param *params;
    double lr;
    int64_t steps;      /* completed steps */
    eng_tensor **slots; /* [nparams * ops->nslots], see eng_optim_ops */
};

typedef struct eng_sgd_options {
    double lr;           /* > 0 */
    double momentum;     /* >= 0 */
    double dampening;    /* >= 0 */
    double weight_decay; /* >= 0, L2 added to the gradient */
    bool nesterov;       /* needs momentum > 0 and dampening = 0 */
} eng_sgd_options;

/* torch.optim.SGD over every parameter of the list. */
ENG_MUST_CHECK eng_status eng_sgd_new(const eng_param_list *params, const eng_sgd_options *opts,
                                      eng_optimizer **out);

/* The adaptive kinds follow torch 1.13's single-tensor (for-loop) implementations operation
 * by operation. Their options carry PyTorch's names; the ENG_*_DEFAULTS initialisers hold
 * PyTorch's defaults. The step count t of the bias corrections and of Adagrad's lr_decay is
 * opt->steps + 1: all state is in opt->slots, opt->steps and opt->lr. */

typedef struct eng_rmsprop_options {
    double lr;           /* > 0 */
    double alpha;        /* smoothing constant of square_avg, >= 0 */
    double eps;          /* >= 0, added to the root (outside the square root) */
    double weight_decay; /* >= 0, L2 added to the gradient */
    double momentum;     /* >= 0 */
    bool centered;       /* divide by the root of the variance, not of the mean square */
} eng_rmsprop_options;
#define ENG_RMSPROP_DEFAULTS ((eng_rmsprop_options){.lr = 1e-2, .alpha = 0.99, .eps = 1e-8})

/* torch.optim.RMSprop. Slots: square_avg, momentum_buffer (momentum > 0), grad_avg
 * (centered). */
ENG_MUST_CHECK eng_status eng_rmsprop_new(const eng_param_list *params,
                                          const eng_rmsprop_options *opts, eng_optimizer **out);

typedef struct eng_adam_options {
    double lr;           /* > 0 */
    double beta1, beta2; /* PyTorch's betas, each in [0, 1) */
    double eps;          /* >= 0, added to sqrt(v) / sqrt(1 - beta2^t) */
    double weight_decay; /* >= 0: Adam adds it to the gradient, AdamW decays p by lr * it */
    bool amsgrad;        /* normalise by the running maximum of exp_avg_sq */
} eng_adam_options;
#define ENG_ADAM_DEFAULTS                                                                          \
    ((eng_adam_options){.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8})
#define ENG_ADAMW_DEFAULTS                                                                         \
    ((eng_adam_options){                                                                           \
        .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 1e-2})

/* torch.optim.Adam and torch.optim.AdamW (decoupled weight decay). Slots: exp_avg, exp_avg_sq,
 * max_exp_avg_sq (amsgrad). */
ENG_MUST_CHECK eng_status eng_adam_new(const eng_param_list *params, const eng_adam_options *opts,
                                       eng_optimizer **out);
ENG_MUST_CHECK eng_status eng_adamw_new(const eng_param_list *params, const eng_adam_options *opts,
                                        eng_optimizer **out);

typedef struct eng_adagrad_options {
    double lr;                        /* > 0 */
    double lr_decay;                  /* >= 0: step t uses lr / (1 + (t - 1) * lr_decay) */
    double weight_decay;              /* >= 0, L2 added to the gradient */
    double initial_accumulator_value; /* >= 0, the sum's starting value */
    double eps;                       /* >= 0, added to sqrt(sum) */
} eng_adagrad_options;
#define ENG_ADAGRAD_DEFAULTS ((eng_adagrad_options){.lr = 1e-2, .eps = 1e-10})

/* torch.optim.Adagrad. Slot: sum, set to initial_accumulator_value when created. */
ENG_MUST_CHECK eng_status eng_adagrad_new(const eng_param_list *params,
                                          const eng_adagrad_options *opts, eng_optimizer **out);

ENG_MUST_CHECK eng_status eng_optimizer_step(eng_optimizer *opt);
void eng_optimizer_release(eng_optimizer *opt);

/* Shared by the kinds: fills opt->params from the list (views) and allocates the (empty)
 * slot table. */
ENG_MUST_CHECK eng_status eng_optimizer_init_params(eng_optimizer *opt,
                                                    const eng_param_list *params);
/* Slot k of parameter i, created (zero, like the parameter) when absent; *created tells
 * whether it was. */
ENG_MUST_CHECK eng_status eng_optimizer_slot(eng_optimizer *opt, int i, int k, eng_tensor **out,
                                             bool *created);
/* Checks that every parameter and gradient is a contiguous f32 or f64 tensor, so that a step
 * either updates everything or nothing. */
ENG_MUST_CHECK eng_status eng_optimizer_check_params(const eng_optimizer *opt);

/* Calls update(ctx, i, start, length) over every parameter i, its elements cut into one
 * contiguous range per engine thread (eng_threads), the ranges run in parallel: element-wise
 * updates then touch on each thread the gradient rows its model split just summed. */
typedef void (*eng_range_update_fn)(void *ctx, int i, int64_t start, int64_t length);
void eng_optimizer_update_ranges(eng_optimizer *opt, eng_range_update_fn update, void *ctx);
/* Adam and AdamW share their options, state, hyper-parameters, update and constructor
 * (adam.c): ops (its kind names the optimizer in messages) chooses, through its step, where the
 * weight decay goes (eng_adam_family_step's decoupled). */
typedef struct eng_adam_family {
    eng_optimizer base;
    eng_adam_options opts;
} eng_adam_family;
ENG_MUST_CHECK eng_status eng_adam_family_new(const eng_param_list *params,
                                              const eng_adam_options *opts,
                                              const eng_optim_ops *ops, eng_optimizer **out);
ENG_MUST_CHECK eng_status eng_adam_family_step(eng_optimizer *opt, bool decoupled);
int eng_adam_family_hyper(const eng_optimizer *opt, const char **names, double *values, int max);
extern const char *const eng_adam_family_slots[3];
/* Copies the n hyper-parameters (names, values) into the hyper() outputs, up to max; returns n. */
int eng_optimizer_put_hyper(const char **names, double *values, int max, int n,
                            const char *const *src_names, const double *src_values);

#pragma GCC visibility pop

#endif
