/* Stochastic gradient descent with momentum, torch.optim.SGD's update:
 *   g = grad + weight_decay * p
 *   buf = g on the first step, else momentum * buf + (1 - dampening) * g
 *   g = nesterov ? g + momentum * buf : buf      (when momentum > 0)
 *   p = p - lr * g
 * f32 parameters are updated in f32 arithmetic, as PyTorch does. */
#include <stdlib.h>

#include "optim.h"

typedef struct sgd {
    eng_optimizer base;
    eng_sgd_options opts;
    bool *created; /* [nparams] the momentum buffer was created by the current step */
} sgd;

/* The loop body is specialised on the two flags (weight decay, Nesterov) so that each variant
 * is branch-free and vectorises. A created buffer is all zeros, so the first step's
 * "buf = d" is the general update with momentum 0 and dampening 0 (0 * 0 + 1 * d = d). */
#define DEFINE_SGD_UPDATE(T, SFX)                                                                  \
    static inline __attribute__((always_inline)) void sgd_loop_##SFX(                              \
        T *restrict p, const T *restrict g, T *restrict buf, int64_t n, T lr, T wd, T mom, T keep, \
        T damp, bool decay, bool nesterov)                                                         \
    {                                                                                              \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T d = decay ? g[i] + wd * p[i] : g[i];                                                 \
            T b = keep * buf[i] + damp * d;                                                        \
            buf[i] = b;                                                                            \
            p[i] -= lr * (nesterov ? d + mom * b : b);                                             \
        }                                                                                          \
    }                                                                                              \
    static void sgd_update_##SFX(T *restrict p, const T *restrict g, T *restrict buf, int64_t n,   \
                                 const eng_sgd_options *o, bool first)                             \
    {                                                                                              \
        const T lr = (T)o->lr, wd = (T)o->weight_decay, mom = (T)o->momentum;                      \
        const T keep = first ? (T)0 : mom, damp = first ? (T)1 : (T)1 - (T)o->dampening;           \
        const bool decay = wd != 0;                                                                \
        if (!buf) {                                                                                \
            if (decay)                                                                             \
                for (int64_t i = 0; i < n; i++)                                                    \
                    p[i] -= lr * (g[i] + wd * p[i]);                                               \
            else                                                                                   \
                for (int64_t i = 0; i < n; i++)                                                    \
                    p[i] -= lr * g[i];                                                             \
        } else if (o->nesterov) {                                                                  \
            if (decay)                                                                             \
                sgd_loop_##SFX(p, g, buf, n, lr, wd, mom, keep, damp, true, true);                 \
            else                                                                                   \
                sgd_loop_##SFX(p, g, buf, n, lr, wd, mom, keep, damp, false, true);                \
        } else {                                                                                   \
            if (decay)                                                                             \
                sgd_loop_##SFX(p, g, buf, n, lr, wd, mom, keep, damp, true, false);                \
            else                                                                                   \
                sgd_loop_##SFX(p, g, buf, n, lr, wd, mom, keep, damp, false, false);               \
        }                                                                                          \
    }

DEFINE_SGD_UPDATE(float, f32)
DEFINE_SGD_UPDATE(double, f64)

typedef struct sgd_job {
    sgd *s;
    eng_sgd_options opts;
} sgd_job;

static void sgd_update_range(void *ctx, int i, int64_t start, int64_t length)
{
    const sgd_job *job = ctx;
    const eng_optimizer *opt = &job->s->base;
    eng_tensor *p = opt->params[i].value, *g = opt->params[i].grad;
    eng_tensor *buf = job->opts.momentum != 0 ? opt->slots[i * opt->ops->nslots] : NULL;
    bool first = job->s->created[i];
    if (p->dtype == ENG_F32)
        sgd_update_f32(ENG_F32_DATA(p) + start, ENG_F32_DATA(g) + start,
                       buf ? ENG_F32_DATA(buf) + start : NULL, length, &job->opts, first);
    else
        sgd_update_f64(ENG_F64_DATA(p) + start, ENG_F64_DATA(g) + start,
                       buf ? ENG_F64_DATA(buf) + start : NULL, length, &job->opts, first);
}

static eng_status sgd_step(eng_optimizer *opt)
{
    sgd *s = (sgd *)opt;
    sgd_job job = {.s = s, .opts = s->opts};
    job.opts.lr = opt->lr; /* a schedule may have changed it */
    for (int i = 0; i < opt->nparams; i++) {
        eng_tensor *p = opt->params[i].value, *g = opt->params[i].grad, *buf;
        s->created[i] = false;
        if (!eng_tensor_is_contiguous(p) || !eng_tensor_is_contiguous(g))
            return eng_error(ENG_ESTATE, "sgd: parameter %s is not contiguous",
                             opt->params[i].name);
        if (s->opts.momentum != 0) {
            eng_status st = eng_optimizer_slot(opt, i, 0, &buf, &s->created[i]);
            if (st)
                return st;
        }
    }
    eng_optimizer_update_ranges(opt, sgd_update_range, &job);
    return ENG_OK;
}

static int sgd_hyper(const eng_optimizer *opt, const char **names, double *values, int max)
{
    const sgd *s = (const sgd *)opt;
    const char *n[] = {"lr", "momentum", "dampening", "weight_decay", "nesterov"};
    double v[] = {opt->lr, s->opts.momentum, s->opts.dampening, s->opts.weight_decay,
                  s->opts.nesterov ? 1.0 : 0.0};
    for (int i = 0; i < 5 && i < max; i++) {
        names[i] = n[i];
        values[i] = v[i];
    }
    return 5;
}

static const char *const sgd_slots[] = {"momentum_buffer"};

static void sgd_destroy(eng_optimizer *opt)
{
    free(((sgd *)opt)->created);
}

static const eng_optim_ops sgd_ops = {
    .kind = "sgd",
    .destroy = sgd_destroy,
    .step = sgd_step,
    .nslots = 1,
    .slot_names = sgd_slots,
    .hyper = sgd_hyper,
};

eng_status eng_sgd_new(const eng_param_list *params, const eng_sgd_options *opts,
                       eng_optimizer **out)
{
    *out = NULL;
    if (!(opts->lr > 0))
        return eng_error(ENG_EARG, "sgd: lr = %g, expected lr > 0", opts->lr);
    if (!(opts->momentum >= 0) || !(opts->dampening >= 0) || !(opts->weight_decay >= 0))
        return eng_error(ENG_EARG,
                         "sgd: momentum (%g), dampening (%g) and weight_decay (%g) "
                         "must be >= 0",
                         opts->momentum, opts->dampening, opts->weight_decay);
    if (opts->nesterov && (opts->momentum <= 0 || opts->dampening != 0))
        return eng_error(ENG_EARG, "sgd: nesterov needs momentum > 0 and dampening = 0");
    sgd *s = calloc(1, sizeof *s);
    if (!s)
        return eng_error(ENG_ENOMEM, "sgd: out of memory");
    s->base.ops = &sgd_ops;
    s->base.lr = opts->lr;
    s->opts = *opts;
    eng_status st = eng_optimizer_init_params(&s->base, params);
    if (!st && !(s->created = calloc((size_t)s->base.nparams + 1, sizeof *s->created)))
        st = eng_error(ENG_ENOMEM, "sgd: out of memory");
    if (st) {
        eng_optimizer_release(&s->base);
        return st;
    }
    *out = &s->base;
    return ENG_OK;
}
