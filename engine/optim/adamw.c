/* AdamW, torch.optim.AdamW's single-tensor update (torch 1.13, adamw.py), at step t:
 *   p = p * (1 - lr * weight_decay)                         (decoupled weight decay, first)
 *   exp_avg = beta1 * exp_avg + (1 - beta1) * grad
 *   exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * grad * grad
 *   amsgrad: max_exp_avg_sq = max(max_exp_avg_sq, exp_avg_sq), used below instead
 *   denom = sqrt(exp_avg_sq) / sqrt(1 - beta2^t) + eps
 *   p = p - (lr / (1 - beta1^t)) * exp_avg / denom
 * The gradient itself is never decayed. Loshchilov and Hutter, "Decoupled Weight Decay
 * Regularization", ICLR 2019, algorithm 2. Scalars in double, elements in the parameter's dtype
 * in PyTorch's order of operations, as in adam.c. */
#include <math.h>
#include <stdlib.h>

#include "optim.h"

enum { EXP_AVG, EXP_AVG_SQ, MAX_EXP_AVG_SQ, NSLOTS };

typedef struct adamw {
    eng_optimizer base;
    eng_adam_options opts;
} adamw;

/* decay = 1 - lr * weight_decay, step_size = lr / (1 - beta1^t), bc2_sqrt = sqrt(1 - beta2^t);
 * vmax is NULL without amsgrad. */
#define DEFINE_ADAMW_UPDATE(T, SFX, SQRT)                                                       \
    static void adamw_update_##SFX(T *p, const T *g, T *m, T *v, T *vmax, int64_t n,            \
                                   const eng_adam_options *o, double decay, double step_size,   \
                                   double bc2_sqrt)                                             \
    {                                                                                           \
        T beta1 = (T)o->beta1, one_minus_beta1 = (T)(1 - o->beta1);                             \
        T beta2 = (T)o->beta2, one_minus_beta2 = (T)(1 - o->beta2);                             \
        T eps = (T)o->eps, bc2 = (T)bc2_sqrt, keep = (T)decay, neg_step = (T)(-step_size);      \
        for (int64_t i = 0; i < n; i++) {                                                       \
            T d = g[i];                                                                         \
            p[i] = p[i] * keep;                                                                 \
            m[i] = m[i] * beta1 + one_minus_beta1 * d;                                          \
            v[i] = v[i] * beta2 + one_minus_beta2 * d * d;                                      \
            T second = v[i];                                                                    \
            if (vmax) {                                                                         \
                /* torch.maximum: NaN wins */                                                   \
                if (!(vmax[i] >= v[i]) && vmax[i] == vmax[i])                                   \
                    vmax[i] = v[i];                                                             \
                second = vmax[i];                                                               \
            }                                                                                   \
            T denom = SQRT(second) / bc2 + eps;                                                 \
            p[i] = p[i] + neg_step * m[i] / denom;                                              \
        }                                                                                       \
    }

DEFINE_ADAMW_UPDATE(float, f32, sqrtf)
DEFINE_ADAMW_UPDATE(double, f64, sqrt)

static eng_status adamw_step(eng_optimizer *opt)
{
    const adamw *a = (const adamw *)opt;
    double t = (double)(opt->steps + 1);
    double decay = 1 - opt->lr * a->opts.weight_decay;
    double step_size = opt->lr / (1 - pow(a->opts.beta1, t));
    double bc2_sqrt = sqrt(1 - pow(a->opts.beta2, t));
    eng_status st = eng_optimizer_check_params(opt);
    for (int i = 0; i < opt->nparams && !st; i++) {
        eng_tensor *p = opt->params[i].value, *g = opt->params[i].grad;
        eng_tensor *m = NULL, *v = NULL, *vmax = NULL;
        bool created;
        st = eng_optimizer_slot(opt, i, EXP_AVG, &m, &created);
        if (!st)
            st = eng_optimizer_slot(opt, i, EXP_AVG_SQ, &v, &created);
        if (!st && a->opts.amsgrad)
            st = eng_optimizer_slot(opt, i, MAX_EXP_AVG_SQ, &vmax, &created);
        if (st)
            break;
        void *vmaxd = vmax ? eng_tensor_data(vmax) : NULL;
        int64_t n = eng_tensor_numel(p);
        if (p->dtype == ENG_F32)
            adamw_update_f32(ENG_F32_DATA(p), ENG_F32_DATA(g), ENG_F32_DATA(m), ENG_F32_DATA(v),
                             vmaxd, n, &a->opts, decay, step_size, bc2_sqrt);
        else
            adamw_update_f64(ENG_F64_DATA(p), ENG_F64_DATA(g), ENG_F64_DATA(m), ENG_F64_DATA(v),
                             vmaxd, n, &a->opts, decay, step_size, bc2_sqrt);
    }
    return st;
}

static int adamw_hyper(const eng_optimizer *opt, const char **names, double *values, int max)
{
    const eng_adam_options *o = &((const adamw *)opt)->opts;
    static const char *const n[] = {"lr", "beta1", "beta2", "eps", "weight_decay", "amsgrad"};
    const double v[] = {opt->lr, o->beta1,         o->beta2,
                        o->eps,  o->weight_decay,  o->amsgrad ? 1.0 : 0.0};
    return eng_optimizer_put_hyper(names, values, max, 6, n, v);
}

static const char *const adamw_slots[NSLOTS] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};

static const eng_optim_ops adamw_ops = {
    .kind = "adamw",
    .step = adamw_step,
    .nslots = NSLOTS,
    .slot_names = adamw_slots,
    .hyper = adamw_hyper,
};

eng_status eng_adamw_new(eng_model *model, const eng_adam_options *opts, eng_optimizer **out)
{
    *out = NULL;
    eng_status st = eng_adam_check_options("adamw", opts);
    if (st)
        return st;
    adamw *a = calloc(1, sizeof *a);
    if (!a)
        return eng_error(ENG_ENOMEM, "adamw: out of memory");
    a->base.ops = &adamw_ops;
    a->base.lr = opts->lr;
    a->opts = *opts;
    st = eng_optimizer_init_params(&a->base, model);
    if (st) {
        eng_optimizer_release(&a->base);
        return st;
    }
    *out = &a->base;
    return ENG_OK;
}
