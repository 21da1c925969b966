/* RMSprop, torch.optim.RMSprop's single-tensor update (torch 1.13, rmsprop.py), per element:
 *   g = grad + weight_decay * p
 *   square_avg = alpha * square_avg + (1 - alpha) * g * g
 *   centered:  grad_avg = alpha * grad_avg + (1 - alpha) * g
 *              avg = sqrt(square_avg - grad_avg * grad_avg)
 *   else:      avg = sqrt(square_avg)
 *   avg = avg + eps                                     (eps outside the square root)
 *   momentum > 0:  buf = momentum * buf + g / avg;  p = p - lr * buf
 *   else:          p = p - lr * g / avg
 * Each line keeps PyTorch's order of operations (addcmul is self + (value * t1) * t2, addcdiv
 * self + (value * t1) / t2) and f32 parameters are updated in f32 arithmetic, scalars rounded
 * to float first, as PyTorch does. Slots start at zero (torch.zeros_like). */
#include <math.h>
#include <stdlib.h>

#include "optim.h"

enum { SQUARE_AVG, MOMENTUM_BUFFER, GRAD_AVG, NSLOTS };

typedef struct rmsprop {
    eng_optimizer base;
    eng_rmsprop_options opts;
} rmsprop;

/* ga and buf are NULL when not centered and without momentum. */
#define DEFINE_RMSPROP_UPDATE(T, SFX, SQRT)                                                        \
    static void rmsprop_update_##SFX(T *p, const T *g, T *sa, T *ga, T *buf, int64_t n,            \
                                     const eng_rmsprop_options *o, double lr)                      \
    {                                                                                              \
        T alpha = (T)o->alpha, one_minus_alpha = (T)(1 - o->alpha), eps = (T)o->eps;               \
        T wd = (T)o->weight_decay, mom = (T)o->momentum, neg_lr = (T)(-lr);                        \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T d = g[i];                                                                            \
            if (o->weight_decay != 0)                                                              \
                d = d + wd * p[i];                                                                 \
            sa[i] = sa[i] * alpha + one_minus_alpha * d * d;                                       \
            T avg;                                                                                 \
            if (ga) {                                                                              \
                ga[i] = ga[i] * alpha + one_minus_alpha * d;                                       \
                avg = SQRT(sa[i] - ga[i] * ga[i]);                                                 \
            } else {                                                                               \
                avg = SQRT(sa[i]);                                                                 \
            }                                                                                      \
            avg = avg + eps;                                                                       \
            if (buf) {                                                                             \
                buf[i] = buf[i] * mom + d / avg;                                                   \
                p[i] = p[i] + neg_lr * buf[i];                                                     \
            } else {                                                                               \
                p[i] = p[i] + neg_lr * d / avg;                                                    \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_RMSPROP_UPDATE(float, f32, sqrtf)
DEFINE_RMSPROP_UPDATE(double, f64, sqrt)

static eng_status rmsprop_step(eng_optimizer *opt)
{
    const rmsprop *r = (const rmsprop *)opt;
    eng_status st = eng_optimizer_check_params(opt);
    /* clang-format off */
    for (int i = 0; i < opt->nparams && !st; i++) {
        eng_tensor *p = opt->params[i].value, *g = opt->params[i].grad;
        eng_tensor *sa = NULL, *ga = NULL, *buf = NULL;
        bool created;
        st = eng_optimizer_slot(opt, i, SQUARE_AVG, &sa, &created);
        if (!st && r->opts.centered)
            st = eng_optimizer_slot(opt, i, GRAD_AVG, &ga, &created);
        if (!st && r->opts.momentum > 0)
            st = eng_optimizer_slot(opt, i, MOMENTUM_BUFFER, &buf, &created);
        if (st)
            break;
        void *gad = ga ? eng_tensor_data(ga) : NULL, *bufd = buf ? eng_tensor_data(buf) : NULL;
        int64_t n = eng_tensor_numel(p);
        if (p->dtype == ENG_F32)
            rmsprop_update_f32(ENG_F32_DATA(p), ENG_F32_DATA(g), ENG_F32_DATA(sa), gad, bufd, n,
                               &r->opts, opt->lr);
        else
            rmsprop_update_f64(ENG_F64_DATA(p), ENG_F64_DATA(g), ENG_F64_DATA(sa), gad, bufd, n,
                               &r->opts, opt->lr);
    }
    return st;
}

static int rmsprop_hyper(const eng_optimizer *opt, const char **names, double *values, int max)
{
    const eng_rmsprop_options *o = &((const rmsprop *)opt)->opts;
    static const char *const n[] = {"lr",           "alpha",    "eps",
                                     "weight_decay", "momentum", "centered"};
    const double v[] = {opt->lr,           o->alpha,    o->eps,
                        o->weight_decay,   o->momentum, o->centered ? 1.0 : 0.0};
    return eng_optimizer_put_hyper(names, values, max, 6, n, v);
}

static const char *const rmsprop_slots[NSLOTS] = {"square_avg", "momentum_buffer", "grad_avg"};

static const eng_optim_ops rmsprop_ops = {
    .kind = "rmsprop",
    .step = rmsprop_step,
    .nslots = NSLOTS,
    .slot_names = rmsprop_slots,
    .hyper = rmsprop_hyper,
};
/* clang-format on */

eng_status eng_rmsprop_new(const eng_param_list *params, const eng_rmsprop_options *opts,
                           eng_optimizer **out)
{
    *out = NULL;
    if (!(opts->lr > 0))
        return eng_error(ENG_EARG, "rmsprop: lr = %g, expected lr > 0", opts->lr);
    if (!(opts->alpha >= 0))
        return eng_error(ENG_EARG, "rmsprop: alpha = %g, expected alpha >= 0", opts->alpha);
    if (!(opts->eps >= 0))
        return eng_error(ENG_EARG, "rmsprop: eps = %g, expected eps >= 0", opts->eps);
    if (!(opts->momentum >= 0))
        return eng_error(ENG_EARG, "rmsprop: momentum = %g, expected momentum >= 0",
                         opts->momentum);
    if (!(opts->weight_decay >= 0))
        return eng_error(ENG_EARG, "rmsprop: weight_decay = %g, expected weight_decay >= 0",
                         opts->weight_decay);
    rmsprop *r = calloc(1, sizeof *r);
    if (!r)
        return eng_error(ENG_ENOMEM, "rmsprop: out of memory");
    r->base.ops = &rmsprop_ops;
    r->base.lr = opts->lr;
    r->opts = *opts;
    eng_status st = eng_optimizer_init_params(&r->base, params);
    if (st) {
        eng_optimizer_release(&r->base);
        return st;
    }
    *out = &r->base;
    return ENG_OK;
}
