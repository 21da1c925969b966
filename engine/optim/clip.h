/* Gradient clipping over every gradient of a parameter list (a model's: eng_model_params), as
 * torch.nn.utils does. Call it
 * between backward and the optimizer's step. */
#ifndef ENGINE_OPTIM_CLIP_H
#define ENGINE_OPTIM_CLIP_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include "../param_list.h"

/* torch.nn.utils.clip_grad_norm_: total = the norm_type-norm of all gradient elements taken as
 * one vector (2: Euclidean; INFINITY: max |g|), then every gradient is multiplied by
 * min(1, max_norm / (total + 1e-6)). max_norm >= 0, norm_type > 0 or INFINITY.
 * [out] *total_norm: the norm before clipping (for f32 gradients rounded to float, as PyTorch's
 * f32 tensor is). A non-finite total scales the gradients by NaN as PyTorch does, unless
 * error_if_nonfinite: then nothing changes and ENG_ENONFINITE names the first gradient with a
 * NaN or infinity. */
ENG_MUST_CHECK eng_status eng_clip_grad_norm(const eng_param_list *params, double max_norm,
                                             double norm_type, bool error_if_nonfinite,
                                             double *total_norm);

/* torch.nn.utils.clip_grad_value_: every gradient element clamped to [-clip_value, clip_value]
 * (NaN stays NaN). clip_value >= 0. */
ENG_MUST_CHECK eng_status eng_clip_grad_value(const eng_param_list *params, double clip_value);

#pragma GCC visibility pop

#endif
