/* AdamW, torch.optim.AdamW's single-tensor update (torch 1.13, adamw.py), at step t:
 *   p = p * (1 - lr * weight_decay)                         (decoupled weight decay, first)
 *   exp_avg = beta1 * exp_avg + (1 - beta1) * grad
 *   exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * grad * grad
 *   amsgrad: max_exp_avg_sq = max(max_exp_avg_sq, exp_avg_sq), used below instead
 *   denom = sqrt(exp_avg_sq) / sqrt(1 - beta2^t) + eps
 *   p = p - (lr / (1 - beta1^t)) * exp_avg / denom
 * The gradient itself is never decayed. Loshchilov and Hutter, "Decoupled Weight Decay
 * Regularization", ICLR 2019, algorithm 2. Scalars in double, elements in the parameter's dtype
 * in PyTorch's order of operations, as in adam.c, which holds the update for both. */
#include "optim.h"

/* The update is Adam's with the decay applied to the parameter instead of the gradient
 * (eng_adam_family_step in adam.c). */
static eng_status adamw_step(eng_optimizer *opt)
{
    return eng_adam_family_step(opt, true);
}

static const eng_optim_ops adamw_ops = {
    .kind = "adamw",
    .step = adamw_step,
    .nslots = 3,
    .slot_names = eng_adam_family_slots,
    .hyper = eng_adam_family_hyper,
};

eng_status eng_adamw_new(const eng_param_list *params, const eng_adam_options *opts,
                         eng_optimizer **out)
{
    return eng_adam_family_new(params, opts, &adamw_ops, out);
}
