/* Losses (criteria): a scalar from a prediction and a target, and the prediction's gradient.
 *
 * forward keeps what backward needs (softmax probabilities); backward overwrites dinput with
 * d(loss)/d(input) for the last forward's input and target.
 *
 * Loss kinds register like layer kinds (registry.h): each declares its settings once, in its
 * own .c file, and the Lua constructor nn.<Ctor>{...} derives from that declaration:
 *
 *     static const eng_setting huber_settings[] = {
 *         {"delta", ENG_SETTING_NUMBER, ENG_SETTING_POSITIONAL, .def = 1, .min = ..., .max = ...},
 *         {0},
 *     };
 *     ENG_BUILTIN_LOSS(huber) = {.name = "huber", .ctor = "HuberLoss",
 *                                .settings = huber_settings, .create = huber_create};
 *
 * The build lists every ENG_BUILTIN_LOSS line in engine/loss (CMakeLists.txt), so a new
 * loss touches only its own file. */
#ifndef ENGINE_LOSS_LOSS_H
#define ENGINE_LOSS_LOSS_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include "../registry.h"
#include "../tensor.h"

typedef struct eng_loss eng_loss;

typedef struct eng_loss_ops {
    const char *kind; /* "cross_entropy", "mse" */
    eng_status (*forward)(eng_loss *loss, const eng_tensor *input, const eng_tensor *target,
                          double *value);
    eng_status (*backward)(eng_loss *loss, const eng_tensor *input, const eng_tensor *target,
                           eng_tensor *dinput);
    void (*destroy)(eng_loss *loss);
} eng_loss_ops;

struct eng_loss {
    const eng_loss_ops *ops;
};

/* torch.nn.CrossEntropyLoss(): input [N,K] logits (f32/f64), target [N] i64 class indices in
 * [0,K); mean over the batch. */
ENG_MUST_CHECK eng_status eng_cross_entropy_new(eng_loss **out);
/* torch.nn.MSELoss(): mean of (input - target)^2 over all elements; same shape and dtype. */
ENG_MUST_CHECK eng_status eng_mse_new(eng_loss **out);
/* torch.nn.NLLLoss(reduction='mean' or, with sum, 'sum'; ignore_index, PyTorch's default
 * -100): input [N,C] log-probabilities, target [N] i64; mean over the samples not ignored. */
ENG_MUST_CHECK eng_status eng_nll_new(bool sum, int64_t ignore_index, eng_loss **out);

/* A loss kind: its one declaration of settings and its constructor. */
typedef struct eng_loss_kind {
    const char *name;            /* "huber": unique among loss kinds; equal to ops->kind */
    const char *ctor;            /* engine.nn's constructor: "HuberLoss" */
    const eng_setting *settings; /* [optional] ended by an entry with a NULL name */
    /* A new loss from complete, checked settings (eng_settings_finish). */
    eng_status (*create)(const eng_settings *s, eng_loss **out);
    bool class_targets; /* the target is [N] i64 class indices (Lua may give a list) */
    const char *doc;    /* [optional] one line */
} eng_loss_kind;

/* Defines the built-in loss kind eng_loss_kind_<name>; follow with "= { ... };". */
#define ENG_BUILTIN_LOSS(name) const eng_loss_kind eng_loss_kind_##name

/* The loss kind called name, or NULL; all of them: i in [0, eng_loss_kind_count()). */
const eng_loss_kind *eng_loss_kind_find(const char *name);
int eng_loss_kind_count(void);
const eng_loss_kind *eng_loss_kind_at(int i);
/* s holds kind's settings, none given yet (then eng_settings_set_*). */
void eng_loss_settings_init(eng_settings *s, const eng_loss_kind *kind);
/* A new loss of s's kind (s from eng_loss_settings_init); finishes s first. */
ENG_MUST_CHECK eng_status eng_loss_create(eng_settings *s, eng_loss **out);

ENG_MUST_CHECK eng_status eng_loss_forward(eng_loss *loss, const eng_tensor *input,
                                           const eng_tensor *target, double *value);
/* dinput: same shape and dtype as input, contiguous. */
ENG_MUST_CHECK eng_status eng_loss_backward(eng_loss *loss, const eng_tensor *input,
                                            const eng_tensor *target, eng_tensor *dinput);
void eng_loss_release(eng_loss *loss);

#pragma GCC visibility pop

#endif
