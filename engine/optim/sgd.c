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
} sgd;

#define DEFINE_SGD_UPDATE(T, SFX)                                                               \
    static void sgd_update_##SFX(T *p, const T *g, T *buf, int64_t n, const eng_sgd_options *o, \
                                 bool first)                                                    \
    {                                                                                           \
        T lr = (T)o->lr, wd = (T)o->weight_decay, mom = (T)o->momentum;                         \
        T damp = (T)1 - (T)o->dampening;                                                        \
        for (int64_t i = 0; i < n; i++) {                                                       \
            T d = g[i];                                                                         \
            if (wd != 0)                                                                        \
                d += wd * p[i];                                                                 \
            if (buf) {                                                                          \
                buf[i] = first ? d : mom * buf[i] + damp * d;                                   \
                d = o->nesterov ? d + mom * buf[i] : buf[i];                                    \
            }                                                                                   \
            p[i] -= lr * d;                                                                     \
        }                                                                                       \
    }

DEFINE_SGD_UPDATE(float, f32)
DEFINE_SGD_UPDATE(double, f64)

static eng_status sgd_step(eng_optimizer *opt)
{
    sgd *s = (sgd *)opt;
    eng_sgd_options o = s->opts;
    o.lr = opt->lr; /* a schedule may have changed it */
    for (int i = 0; i < opt->nparams; i++) {
        eng_tensor *p = opt->params[i].value, *g = opt->params[i].grad, *buf = NULL;
        bool first = false;
        if (!eng_tensor_is_contiguous(p) || !eng_tensor_is_contiguous(g))
            return eng_error(ENG_ESTATE, "sgd: parameter %s is not contiguous",
                             opt->params[i].name);
        if (s->opts.momentum != 0) {
            eng_status st = eng_optimizer_slot(opt, i, 0, &buf, &first);
            if (st)
                return st;
        }
        void *b = buf ? eng_tensor_data(buf) : NULL;
        int64_t n = eng_tensor_numel(p);
        if (p->dtype == ENG_F32)
            sgd_update_f32(ENG_F32_DATA(p), ENG_F32_DATA(g), b, n, &o, first);
        else
            sgd_update_f64(ENG_F64_DATA(p), ENG_F64_DATA(g), b, n, &o, first);
    }
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

static const eng_optim_ops sgd_ops = {
    .kind = "sgd",
    .step = sgd_step,
    .nslots = 1,
    .slot_names = sgd_slots,
    .hyper = sgd_hyper,
};

eng_status eng_sgd_new(eng_model *model, const eng_sgd_options *opts, eng_optimizer **out)
{
    *out = NULL;
    if (!(opts->lr > 0))
        return eng_error(ENG_EARG, "sgd: lr = %g, expected lr > 0", opts->lr);
    if (!(opts->momentum >= 0) || !(opts->dampening >= 0) || !(opts->weight_decay >= 0))
        return eng_error(ENG_EARG, "sgd: momentum (%g), dampening (%g) and weight_decay (%g) "
                         "must be >= 0", opts->momentum, opts->dampening, opts->weight_decay);
    if (opts->nesterov && (opts->momentum <= 0 || opts->dampening != 0))
        return eng_error(ENG_EARG, "sgd: nesterov needs momentum > 0 and dampening = 0");
    sgd *s = calloc(1, sizeof *s);
    if (!s)
        return eng_error(ENG_ENOMEM, "sgd: out of memory");
    s->base.ops = &sgd_ops;
    s->base.lr = opts->lr;
    s->opts = *opts;
    eng_status st = eng_optimizer_init_params(&s->base, model);
    if (st) {
        eng_optimizer_release(&s->base);
        return st;
    }
    *out = &s->base;
    return ENG_OK;
}
