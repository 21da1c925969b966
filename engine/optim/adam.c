/* Adam, torch.optim.Adam's single-tensor update (torch 1.13, adam.py), at step t:
 *   g = grad + weight_decay * p
 *   exp_avg = beta1 * exp_avg + (1 - beta1) * g
 *   exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g
 *   amsgrad: max_exp_avg_sq = max(max_exp_avg_sq, exp_avg_sq), used below instead
 *   denom = sqrt(exp_avg_sq) / sqrt(1 - beta2^t) + eps       (eps after the bias correction)
 *   p = p - (lr / (1 - beta1^t)) * exp_avg / denom
 * The bias corrections and the step size are computed in double (Python floats in PyTorch);
 * the element-wise part keeps PyTorch's order of operations and runs in the parameter's
 * dtype. Kingma and Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, algorithm 1
 * with the epsilon-hat of section 2; AMSGrad: Reddi et al., ICLR 2018. */
#include <math.h>
#include <stdlib.h>

#include "optim.h"

enum { EXP_AVG, EXP_AVG_SQ, MAX_EXP_AVG_SQ, NSLOTS };

/* vmax is NULL without amsgrad. l2 is Adam's weight decay (added to the gradient), keep
 * AdamW's decoupled decay factor 1 - lr * weight_decay (1 for Adam): one body serves both, with
 * the arithmetic of each left as PyTorch does it. step_size = lr / (1 - beta1^t),
 * bc2_sqrt = sqrt(1 - beta2^t). */
#define DEFINE_ADAM_UPDATE(T, SFX, SQRT)                                                           \
    static void adam_update_##SFX(T *p, const T *g, T *m, T *v, T *vmax, int64_t n,                \
                                  const eng_adam_options *o, double l2, double keep_factor,        \
                                  double step_size, double bc2_sqrt)                               \
    {                                                                                              \
        T beta1 = (T)o->beta1, one_minus_beta1 = (T)(1 - o->beta1);                                \
        T beta2 = (T)o->beta2, one_minus_beta2 = (T)(1 - o->beta2);                                \
        T wd = (T)l2, keep = (T)keep_factor, eps = (T)o->eps, bc2 = (T)bc2_sqrt;                   \
        T neg_step = (T)(-step_size);                                                              \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T d = g[i];                                                                            \
            if (l2 != 0)                                                                           \
                d = d + wd * p[i];                                                                 \
            if (keep_factor != 1)                                                                  \
                p[i] = p[i] * keep;                                                                \
            m[i] = m[i] * beta1 + one_minus_beta1 * d;                                             \
            v[i] = v[i] * beta2 + one_minus_beta2 * d * d;                                         \
            T second = v[i];                                                                       \
            if (vmax) {                                                                            \
                /* torch.maximum: NaN wins */                                                      \
                if (!(vmax[i] >= v[i]) && vmax[i] == vmax[i])                                      \
                    vmax[i] = v[i];                                                                \
                second = vmax[i];                                                                  \
            }                                                                                      \
            T denom = SQRT(second) / bc2 + eps;                                                    \
            p[i] = p[i] + neg_step * m[i] / denom;                                                 \
        }                                                                                          \
    }

DEFINE_ADAM_UPDATE(float, f32, sqrtf)
DEFINE_ADAM_UPDATE(double, f64, sqrt)

typedef struct adam_job {
    eng_optimizer *opt;
    const eng_adam_options *o;
    double l2, keep, step_size, bc2_sqrt;
} adam_job;

static void adam_update_range(void *ctx, int i, int64_t start, int64_t length)
{
    const adam_job *job = ctx;
    const eng_optimizer *opt = job->opt;
    eng_tensor *const *slots = opt->slots + i * opt->ops->nslots;
    eng_tensor *p = opt->params[i].value, *g = opt->params[i].grad;
    eng_tensor *m = slots[EXP_AVG], *v = slots[EXP_AVG_SQ], *vmax = slots[MAX_EXP_AVG_SQ];
    if (p->dtype == ENG_F32)
        adam_update_f32(ENG_F32_DATA(p) + start, ENG_F32_DATA(g) + start, ENG_F32_DATA(m) + start,
                        ENG_F32_DATA(v) + start,
                        job->o->amsgrad ? ENG_F32_DATA(vmax) + start : NULL, length, job->o,
                        job->l2, job->keep, job->step_size, job->bc2_sqrt);
    else
        adam_update_f64(ENG_F64_DATA(p) + start, ENG_F64_DATA(g) + start, ENG_F64_DATA(m) + start,
                        ENG_F64_DATA(v) + start,
                        job->o->amsgrad ? ENG_F64_DATA(vmax) + start : NULL, length, job->o,
                        job->l2, job->keep, job->step_size, job->bc2_sqrt);
}

eng_status eng_adam_family_step(eng_optimizer *opt, bool decoupled)
{
    const eng_adam_options *o = &((const eng_adam_family *)opt)->opts;
    double t = (double)(opt->steps + 1);
    adam_job job = {
        .opt = opt,
        .o = o,
        .l2 = decoupled ? 0.0 : o->weight_decay,
        .keep = decoupled ? 1 - opt->lr * o->weight_decay : 1.0,
        .step_size = opt->lr / (1 - pow(o->beta1, t)),
        .bc2_sqrt = sqrt(1 - pow(o->beta2, t)),
    };
    eng_status st = eng_optimizer_check_params(opt);
    /* the state first (it may fail), then the element-wise update, split between threads */
    for (int i = 0; i < opt->nparams && !st; i++) {
        eng_tensor *slot;
        bool created;
        for (int k = 0; k < (o->amsgrad ? 3 : 2) && !st; k++)
            st = eng_optimizer_slot(opt, i, k, &slot, &created);
    }
    if (!st)
        eng_optimizer_update_ranges(opt, adam_update_range, &job);
    return st;
}

static eng_status adam_step(eng_optimizer *opt)
{
    return eng_adam_family_step(opt, false);
}

int eng_adam_family_hyper(const eng_optimizer *opt, const char **names, double *values, int max)
{
    const eng_adam_options *o = &((const eng_adam_family *)opt)->opts;
    static const char *const n[] = {"lr", "beta1", "beta2", "eps", "weight_decay", "amsgrad"};
    const double v[] = {opt->lr, o->beta1,        o->beta2,
                        o->eps,  o->weight_decay, o->amsgrad ? 1.0 : 0.0};
    return eng_optimizer_put_hyper(names, values, max, 6, n, v);
}

const char *const eng_adam_family_slots[3] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};

static const eng_optim_ops adam_ops = {
    .kind = "adam",
    .step = adam_step,
    .nslots = NSLOTS,
    .slot_names = eng_adam_family_slots,
    .hyper = eng_adam_family_hyper,
};

/* The checks of torch.optim.Adam and AdamW (kind names the optimizer in messages). */
static eng_status check_options(const char *kind, const eng_adam_options *opts)
{
    if (!(opts->lr > 0))
        return eng_error(ENG_EARG, "%s: lr = %g, expected lr > 0", kind, opts->lr);
    if (!(opts->beta1 >= 0 && opts->beta1 < 1))
        return eng_error(ENG_EARG, "%s: beta1 (betas[1]) = %g, expected 0 <= beta1 < 1", kind,
                         opts->beta1);
    if (!(opts->beta2 >= 0 && opts->beta2 < 1))
        return eng_error(ENG_EARG, "%s: beta2 (betas[2]) = %g, expected 0 <= beta2 < 1", kind,
                         opts->beta2);
    if (!(opts->eps >= 0))
        return eng_error(ENG_EARG, "%s: eps = %g, expected eps >= 0", kind, opts->eps);
    if (!(opts->weight_decay >= 0))
        return eng_error(ENG_EARG, "%s: weight_decay = %g, expected weight_decay >= 0", kind,
                         opts->weight_decay);
    return ENG_OK;
}

eng_status eng_adam_family_new(const eng_param_list *params, const eng_adam_options *opts,
                               const eng_optim_ops *ops, eng_optimizer **out)
{
    *out = NULL;
    eng_status st = check_options(ops->kind, opts);
    if (st)
        return st;
    eng_adam_family *a = calloc(1, sizeof *a);
    if (!a)
        return eng_error(ENG_ENOMEM, "%s: out of memory", ops->kind);
    a->base.ops = ops;
    a->base.lr = opts->lr;
    a->opts = *opts;
    st = eng_optimizer_init_params(&a->base, params);
    if (st) {
        eng_optimizer_release(&a->base);
        return st;
    }
    *out = &a->base;
    return ENG_OK;
}

eng_status eng_adam_new(const eng_param_list *params, const eng_adam_options *opts,
                        eng_optimizer **out)
{
    return eng_adam_family_new(params, opts, &adam_ops, out);
}
