/* Inverted dropout (torch.nn.Dropout): in training each element is zeroed with probability p
 * and the survivors scaled by 1/(1-p); in evaluation the layer is the identity. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../registry.h"
#include "layers.h"

typedef struct dropout {
    eng_layer base;
    double p;
    eng_rng rng;
    eng_tensor *mask; /* u8 like x: 1 where kept, from the last training forward */
    bool masked;      /* whether the last forward applied the mask */
} dropout;

static eng_status dropout_output_shape(const eng_layer *layer, const eng_tensor *x, int *ndim,
                                       int64_t *shape)
{
    eng_status st = eng_layer_check_input(layer, x, 0, "");
    if (st)
        return st;
    *ndim = x->ndim;
    memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    return ENG_OK;
}

static eng_status dropout_forward(eng_layer *layer, const eng_tensor *x, eng_tensor *y,
                                  bool training)
{
    dropout *d = (dropout *)layer;
    int64_t n = eng_tensor_numel(x);
    d->masked = training && d->p > 0;
    if (!d->masked) {
        memcpy(eng_tensor_data(y), eng_tensor_data(x), (size_t)n * eng_dtype_size(x->dtype));
        return ENG_OK;
    }
    eng_status st = eng_tensor_ensure(&d->mask, ENG_U8, x->ndim, x->shape);
    if (st)
        return st;
    uint8_t *mask = eng_tensor_data(d->mask);
    double scale = 1.0 / (1.0 - d->p);
    for (int64_t i = 0; i < n; i++)
        mask[i] = eng_rng_uniform(&d->rng) >= d->p;
    if (x->dtype == ENG_F32) {
        const float *xp = ENG_F32_DATA(x);
        float *yp = ENG_F32_DATA(y);
        for (int64_t i = 0; i < n; i++)
            yp[i] = mask[i] ? xp[i] * (float)scale : 0.0f;
    } else {
        const double *xp = ENG_F64_DATA(x);
        double *yp = ENG_F64_DATA(y);
        for (int64_t i = 0; i < n; i++)
            yp[i] = mask[i] ? xp[i] * scale : 0.0;
    }
    return ENG_OK;
}

static eng_status dropout_backward(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                                   const eng_tensor *dy, eng_tensor *dx)
{
    (void)y;
    dropout *d = (dropout *)layer;
    if (!dx)
        return ENG_OK;
    int64_t n = eng_tensor_numel(x);
    if (!d->masked) {
        memcpy(eng_tensor_data(dx), eng_tensor_data(dy), (size_t)n * eng_dtype_size(x->dtype));
        return ENG_OK;
    }
    if (!eng_tensor_same_shape(d->mask, x))
        return eng_error(ENG_ESTATE, "dropout '%s': backward for x %s after a forward of %s",
                         eng_layer_label(layer), eng_tensor_shape_str(x),
                         eng_tensor_shape_str(d->mask));
    const uint8_t *mask = eng_tensor_data(d->mask);
    double scale = 1.0 / (1.0 - d->p);
    if (x->dtype == ENG_F32) {
        const float *dyp = ENG_F32_DATA(dy);
        float *dxp = ENG_F32_DATA(dx);
        for (int64_t i = 0; i < n; i++)
            dxp[i] = mask[i] ? dyp[i] * (float)scale : 0.0f;
    } else {
        const double *dyp = ENG_F64_DATA(dy);
        double *dxp = ENG_F64_DATA(dx);
        for (int64_t i = 0; i < n; i++)
            dxp[i] = mask[i] ? dyp[i] * scale : 0.0;
    }
    return ENG_OK;
}

static eng_status dropout_clone(const eng_layer *layer, eng_dtype dtype, eng_layer **out)
{
    (void)dtype;
    const dropout *d = (const dropout *)layer;
    eng_status st = eng_dropout_new(d->p, NULL, out);
    if (!st)
        ((dropout *)*out)->rng = d->rng;
    return st;
}

static eng_status dropout_describe(const eng_layer *layer, eng_settings *s)
{
    return eng_settings_set_number(s, "p", ((const dropout *)layer)->p);
}

static eng_rng *dropout_rng(eng_layer *layer)
{
    return &((dropout *)layer)->rng;
}

static void dropout_destroy(eng_layer *layer)
{
    eng_tensor_release(((dropout *)layer)->mask);
}

static const eng_layer_ops dropout_ops = {
    .kind = "dropout",
    .output_shape = dropout_output_shape,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .clone = dropout_clone,
    .destroy = dropout_destroy,
    .rng = dropout_rng,
};

eng_status eng_dropout_new(double p, eng_rng *rng, eng_layer **out)
{
    *out = NULL;
    if (!(p >= 0.0 && p < 1.0))
        return eng_error(ENG_EARG, "dropout: p = %g, expected 0 <= p < 1", p);
    dropout *d = calloc(1, sizeof *d);
    if (!d)
        return eng_error(ENG_ENOMEM, "dropout: out of memory");
    eng_layer_init(&d->base, &dropout_ops, ENG_F32);
    d->p = p;
    eng_rng_seed(&d->rng, eng_rng_next(rng ? rng : eng_rng_global()));
    *out = &d->base;
    return ENG_OK;
}

static eng_status dropout_create(const eng_settings *s, eng_dtype dtype, eng_rng *rng,
                                 eng_layer **out)
{
    (void)dtype;
    return eng_dropout_new(eng_settings_number(s, "p"), rng, out);
}

static const eng_setting dropout_settings[] = {
    /* 0 <= p < 1: the largest double below 1 bounds it. */
    {"p", ENG_SETTING_NUMBER, ENG_SETTING_POSITIONAL | ENG_SETTING_SHOWN, .def = 0.5, .min = 0,
     .max = 0x1.fffffffffffffp-1, .doc = "the probability of zeroing an element"},
    {0},
};

ENG_BUILTIN_KIND(dropout) = {
    .name = "dropout",
    .ctor = "Dropout",
    .ops = &dropout_ops,
    .settings = dropout_settings,
    .create = dropout_create,
    .describe = dropout_describe,
};
