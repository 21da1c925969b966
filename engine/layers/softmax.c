/* torch.nn.Softmax(dim) and torch.nn.LogSoftmax(dim) as layers, any shape. Without a dim
 * PyTorch picks one from the input's rank (dim 0 for ranks 0, 1 and 3, else 1: its legacy
 * rule, kept for compatibility); so does this layer. Pair LogSoftmax with NLLLoss for
 * CrossEntropyLoss's value. Each sample is normalised on its own when dim is not 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/softmax_dim.h"
#include "../registry.h"
#include "layers.h"

typedef struct softmax {
    eng_layer base;
    bool log;
    bool implicit; /* no dim given: PyTorch's legacy rule */
    int dim;       /* as given, may be negative */
} softmax;

/* The dimension for x, or -1 when out of range. */
static int resolve_dim(const softmax *s, const eng_tensor *x)
{
    if (s->implicit)
        return (x->ndim == 0 || x->ndim == 1 || x->ndim == 3) ? 0 : 1;
    int d = s->dim < 0 ? s->dim + x->ndim : s->dim;
    return d >= 0 && d < x->ndim ? d : -1;
}

static eng_status softmax_output_shape(const eng_layer *layer, const eng_tensor *x, int *ndim,
                                       int64_t *shape)
{
    eng_status st = eng_layer_check_input(layer, x, 0, "");
    if (st)
        return st;
    const softmax *s = (const softmax *)layer;
    if (x->ndim < 1 || resolve_dim(s, x) < 0)
        return eng_error(ENG_ESHAPE, "%s '%s': dim %d is out of range for x %s", layer->ops->kind,
                         eng_layer_label(layer), s->dim, eng_tensor_shape_str(x));
    *ndim = x->ndim;
    for (int d = 0; d < x->ndim; d++)
        shape[d] = x->shape[d];
    return ENG_OK;
}

static void split(const softmax *s, const eng_tensor *x, int64_t *outer, int64_t *k, int64_t *inner)
{
    int d = resolve_dim(s, x);
    *outer = *inner = 1;
    for (int i = 0; i < d; i++)
        *outer *= x->shape[i];
    for (int i = d + 1; i < x->ndim; i++)
        *inner *= x->shape[i];
    *k = x->shape[d];
}

static eng_status softmax_forward(eng_layer *layer, const eng_tensor *x, eng_tensor *y,
                                  bool training)
{
    (void)training;
    const softmax *s = (const softmax *)layer;
    int64_t outer, k, inner;
    split(s, x, &outer, &k, &inner);
    if (x->dtype == ENG_F32)
        eng_softmax_dim_forward_f32(ENG_F32_DATA(y), ENG_F32_DATA(x), outer, k, inner, s->log);
    else
        eng_softmax_dim_forward_f64(ENG_F64_DATA(y), ENG_F64_DATA(x), outer, k, inner, s->log);
    return ENG_OK;
}

static eng_status softmax_backward(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                                   const eng_tensor *dy, eng_tensor *dx)
{
    if (!dx)
        return ENG_OK;
    const softmax *s = (const softmax *)layer;
    int64_t outer, k, inner;
    split(s, x, &outer, &k, &inner);
    if (x->dtype == ENG_F32)
        eng_softmax_dim_backward_f32(ENG_F32_DATA(dx), ENG_F32_DATA(dy), ENG_F32_DATA(y), outer, k,
                                     inner, s->log);
    else
        eng_softmax_dim_backward_f64(ENG_F64_DATA(dx), ENG_F64_DATA(dy), ENG_F64_DATA(y), outer, k,
                                     inner, s->log);
    return ENG_OK;
}

static eng_status softmax_make(bool log, bool implicit, int dim, eng_layer **out);

static eng_status softmax_clone(const eng_layer *layer, eng_dtype dtype, eng_layer **out)
{
    (void)dtype;
    const softmax *s = (const softmax *)layer;
    return softmax_make(s->log, s->implicit, s->dim, out);
}

/* The setting is Lua's: dimensions 1-based (as t:size(d)), negative ones from the end, 0 for
 * none given (PyTorch's dim=None). */
static eng_status softmax_describe(const eng_layer *layer, eng_settings *st)
{
    const softmax *s = (const softmax *)layer;
    if (s->implicit)
        return ENG_OK;
    return eng_settings_set_int(st, "dim", s->dim >= 0 ? s->dim + 1 : s->dim);
}

/* Batch-independent only when dim is not the batch's: a clone on another thread would
 * otherwise normalise over part of the batch. The ops flag is static, so it is left unset
 * unless dim is positive (an implicit or negative dim may resolve to 0 for some ranks). */
#define SOFTMAX_OPS(NAME, KIND, INDEPENDENT)                                                       \
    static const eng_layer_ops NAME = {                                                            \
        .kind = KIND,                                                                              \
        .output_shape = softmax_output_shape,                                                      \
        .forward = softmax_forward,                                                                \
        .backward = softmax_backward,                                                              \
        .clone = softmax_clone,                                                                    \
        .batch_independent = INDEPENDENT,                                                          \
        .sample_by_sample = INDEPENDENT,                                                           \
    };

SOFTMAX_OPS(softmax_ops, "softmax", true)
SOFTMAX_OPS(softmax_mixing_ops, "softmax", false)
SOFTMAX_OPS(log_softmax_ops, "log_softmax", true)
SOFTMAX_OPS(log_softmax_mixing_ops, "log_softmax", false)

static eng_status softmax_make(bool log, bool implicit, int dim, eng_layer **out)
{
    *out = NULL;
    softmax *s = calloc(1, sizeof *s);
    if (!s)
        return eng_error(ENG_ENOMEM, "%s: out of memory", log ? "log_softmax" : "softmax");
    bool mixing = implicit || dim <= 0;
    const eng_layer_ops *ops = log ? (mixing ? &log_softmax_mixing_ops : &log_softmax_ops)
                                   : (mixing ? &softmax_mixing_ops : &softmax_ops);
    eng_layer_init(&s->base, ops, ENG_F32);
    s->log = log;
    s->implicit = implicit;
    s->dim = dim;
    *out = &s->base;
    return ENG_OK;
}

eng_status eng_softmax_new(const int *dim, eng_layer **out)
{
    return softmax_make(false, dim == NULL, dim ? *dim : 0, out);
}

eng_status eng_log_softmax_new(const int *dim, eng_layer **out)
{
    return softmax_make(true, dim == NULL, dim ? *dim : 0, out);
}

/* ---- kinds ---- */

static eng_status softmax_create(const eng_settings *st, eng_dtype dtype, eng_rng *rng,
                                 eng_layer **out)
{
    (void)dtype;
    (void)rng;
    int d = eng_settings_int(st, "dim");
    return softmax_make(strcmp(st->kind->name, "log_softmax") == 0, d == 0, d > 0 ? d - 1 : d, out);
}

static const eng_setting softmax_settings[] = {
    {"dim", ENG_SETTING_INT, ENG_SETTING_POSITIONAL, .def = 0, .min = -ENG_MAX_DIMS,
     .max = ENG_MAX_DIMS,
     .doc = "1-based dimension (negative: from the end); 0: PyTorch's implicit choice"},
    {0},
};

/* The kind of each pair of ops: both of a kind's ops declare the same settings. */
ENG_BUILTIN_KIND(softmax) = {
    .name = "softmax",
    .ctor = "Softmax",
    .ops = &softmax_ops,
    .settings = softmax_settings,
    .create = softmax_create,
    .describe = softmax_describe,
};
ENG_BUILTIN_KIND(log_softmax) = {
    .name = "log_softmax",
    .ctor = "LogSoftmax",
    .ops = &log_softmax_ops,
    .settings = softmax_settings,
    .create = softmax_create,
    .describe = softmax_describe,
};
