/* Losses (criteria): a scalar from a prediction and a target, and the prediction's gradient.
 *
 * forward keeps what backward needs (softmax probabilities); backward overwrites dinput with
 * d(loss)/d(input) for the last forward's input and target. */
#ifndef ENGINE_LOSS_LOSS_H
#define ENGINE_LOSS_LOSS_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

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

ENG_MUST_CHECK eng_status eng_loss_forward(eng_loss *loss, const eng_tensor *input, const eng_tensor *target,
                            double *value);
/* dinput: same shape and dtype as input, contiguous. */
ENG_MUST_CHECK eng_status eng_loss_backward(eng_loss *loss, const eng_tensor *input, const eng_tensor *target,
                             eng_tensor *dinput);
void eng_loss_release(eng_loss *loss);

#pragma GCC visibility pop

#endif
