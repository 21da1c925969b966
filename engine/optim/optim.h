/* Optimizers: update a model's parameters from their accumulated gradients.
 *
 * An optimizer holds views of the parameter and gradient tensors it was made for (so they stay
 * valid even if the model is freed first) and its own state slots, created at the first
 * step as PyTorch does. */
#ifndef ENGINE_OPTIM_OPTIM_H
#define ENGINE_OPTIM_OPTIM_H

#include "../model.h"

typedef struct eng_optimizer eng_optimizer;

typedef struct eng_optim_ops {
    const char *kind; /* "sgd" */
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
    char name[2 * ENG_NAME_MAX]; /* "<layer>.<param>" */
    eng_tensor *value;           /* views sharing the layer's storage */
    eng_tensor *grad;
} eng_optim_param;

struct eng_optimizer {
    const eng_optim_ops *ops;
    int nparams;
    eng_optim_param *params;
    double lr;
    int64_t steps;       /* completed steps */
    eng_tensor **slots;  /* [nparams * ops->nslots], see eng_optim_ops */
};

typedef struct eng_sgd_options {
    double lr;           /* > 0 */
    double momentum;     /* >= 0 */
    double dampening;    /* >= 0 */
    double weight_decay; /* >= 0, L2 added to the gradient */
    bool nesterov;       /* needs momentum > 0 and dampening = 0 */
} eng_sgd_options;

/* torch.optim.SGD over every parameter of model. */
eng_status eng_sgd_new(eng_model *model, const eng_sgd_options *opts, eng_optimizer **out);

eng_status eng_optimizer_step(eng_optimizer *opt);
void eng_optimizer_release(eng_optimizer *opt);

/* Shared by the kinds: fills opt->params from the model (views) and allocates the (empty)
 * slot table. */
eng_status eng_optimizer_init_params(eng_optimizer *opt, eng_model *model);
/* Slot k of parameter i, created (zero, like the parameter) when absent; *created tells
 * whether it was. */
eng_status eng_optimizer_slot(eng_optimizer *opt, int i, int k, eng_tensor **out, bool *created);

#endif
