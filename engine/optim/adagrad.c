/* Adagrad, torch.optim.Adagrad's single-tensor update for dense gradients (torch 1.13,
 * adagrad.py), at step t:
 *   g = grad + weight_decay * p
 *   clr = lr / (1 + (t - 1) * lr_decay)                     (in double, as a Python float)
 *   sum = sum + g * g                                       (sum starts at
 *                                                            initial_accumulator_value)
 *   p = p - clr * g / (sqrt(sum) + eps)
 * Duchi, Hazan and Singer, "Adaptive Subgradient Methods for Online Learning and Stochastic
 * Optimization", JMLR 12 (2011). Elements in the parameter's dtype, PyTorch's order of
 * operations. */
#include <math.h>
#include <stdlib.h>

#include "optim.h"

enum { SUM, NSLOTS };

typedef struct adagrad {
    eng_optimizer base;
    eng_adagrad_options opts;
} adagrad;

#define DEFINE_ADAGRAD_UPDATE(T, SFX, SQRT)                                                        \
    static void adagrad_update_##SFX(T *p, const T *g, T *sum, int64_t n,                          \
                                     const eng_adagrad_options *o, double clr)                     \
    {                                                                                              \
        T wd = (T)o->weight_decay, eps = (T)o->eps, neg_clr = (T)(-clr);                           \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T d = g[i];                                                                            \
            if (o->weight_decay != 0)                                                              \
                d = d + wd * p[i];                                                                 \
            sum[i] = sum[i] + d * d;                                                               \
            T std = SQRT(sum[i]) + eps;                                                            \
            p[i] = p[i] + neg_clr * d / std;                                                       \
        }                                                                                          \
    }

DEFINE_ADAGRAD_UPDATE(float, f32, sqrtf)
DEFINE_ADAGRAD_UPDATE(double, f64, sqrt)

static eng_status adagrad_step(eng_optimizer *opt)
{
    const adagrad *a = (const adagrad *)opt;
    double t = (double)(opt->steps + 1);
    double clr = opt->lr / (1 + (t - 1) * a->opts.lr_decay);
    eng_status st = eng_optimizer_check_params(opt);
    for (int i = 0; i < opt->nparams && !st; i++) {
        eng_tensor *p = opt->params[i].value, *g = opt->params[i].grad, *sum = NULL;
        bool created;
        st = eng_optimizer_slot(opt, i, SUM, &sum, &created);
        if (st)
            break;
        if (created) /* torch.full_like(p, initial_accumulator_value) */
            eng_tensor_fill(sum, a->opts.initial_accumulator_value);
        int64_t n = eng_tensor_numel(p);
        if (p->dtype == ENG_F32)
            adagrad_update_f32(ENG_F32_DATA(p), ENG_F32_DATA(g), ENG_F32_DATA(sum), n, &a->opts,
                               clr);
        else
            adagrad_update_f64(ENG_F64_DATA(p), ENG_F64_DATA(g), ENG_F64_DATA(sum), n, &a->opts,
                               clr);
    }
    return st;
}

static int adagrad_hyper(const eng_optimizer *opt, const char **names, double *values, int max)
{
    const eng_adagrad_options *o = &((const adagrad *)opt)->opts;
    static const char *const n[] = {"lr", "lr_decay", "weight_decay", "initial_accumulator_value",
                                    "eps"};
    const double v[] = {opt->lr, o->lr_decay, o->weight_decay, o->initial_accumulator_value,
                        o->eps};
    return eng_optimizer_put_hyper(names, values, max, 5, n, v);
}

static const char *const adagrad_slots[NSLOTS] = {"sum"};

static const eng_optim_ops adagrad_ops = {
    .kind = "adagrad",
    .step = adagrad_step,
    .nslots = NSLOTS,
    .slot_names = adagrad_slots,
    .hyper = adagrad_hyper,
};

eng_status eng_adagrad_new(const eng_param_list *params, const eng_adagrad_options *opts,
                           eng_optimizer **out)
{
    *out = NULL;
    if (!(opts->lr > 0))
        return eng_error(ENG_EARG, "adagrad: lr = %g, expected lr > 0", opts->lr);
    if (!(opts->lr_decay >= 0))
        return eng_error(ENG_EARG, "adagrad: lr_decay = %g, expected lr_decay >= 0",
                         opts->lr_decay);
    if (!(opts->weight_decay >= 0))
        return eng_error(ENG_EARG, "adagrad: weight_decay = %g, expected weight_decay >= 0",
                         opts->weight_decay);
    if (!(opts->initial_accumulator_value >= 0))
        return eng_error(ENG_EARG, "adagrad: initial_accumulator_value = %g, expected >= 0",
                         opts->initial_accumulator_value);
    if (!(opts->eps >= 0))
        return eng_error(ENG_EARG, "adagrad: eps = %g, expected eps >= 0", opts->eps);
    adagrad *a = calloc(1, sizeof *a);
    if (!a)
        return eng_error(ENG_ENOMEM, "adagrad: out of memory");
    a->base.ops = &adagrad_ops;
    a->base.lr = opts->lr;
    a->opts = *opts;
    eng_status st = eng_optimizer_init_params(&a->base, params);
    if (st) {
        eng_optimizer_release(&a->base);
        return st;
    }
    *out = &a->base;
    return ENG_OK;
}
