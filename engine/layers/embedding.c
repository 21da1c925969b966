/* torch.nn.Embedding(num_embeddings, embedding_dim, padding_idx=None): x [*] of indices ->
 * y [*, embedding_dim], row x[i] of weight [num_embeddings, embedding_dim].
 *
 * Layers pass float tensors, so the indices come as floats of the layer's dtype (PyTorch takes
 * int64): each is read as the nearest integer, and one farther than 0.25 from an integer, or
 * out of range, is refused. The input gets a zero gradient (indices are not differentiable),
 * which is also what a finite difference of a nudged index gives. The padding row is zero at
 * creation and gets no gradient, as in PyTorch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../registry.h"
#include "layers.h"

typedef struct embedding {
    eng_layer base;
    int n, d;
    int padding_idx; /* -1: none (already made non-negative) */
} embedding;

static eng_status embedding_output_shape(const eng_layer *layer, const eng_tensor *x, int *ndim,
                                         int64_t *shape)
{
    const embedding *e = (const embedding *)layer;
    eng_status st = eng_layer_check_input(layer, x, 0, "");
    if (st)
        return st;
    if (x->ndim + 1 > ENG_MAX_DIMS)
        return eng_error(ENG_ESHAPE, "embedding '%s': x %s has too many dimensions",
                         eng_layer_label(layer), eng_tensor_shape_str(x));
    *ndim = x->ndim + 1;
    for (int i = 0; i < x->ndim; i++)
        shape[i] = x->shape[i];
    shape[x->ndim] = e->d;
    return ENG_OK;
}

/* The row of index value v, or an error naming it. */
static eng_status row_of(const embedding *e, const eng_tensor *x, int64_t i, int64_t *row)
{
    double v = eng_tensor_get_flat(x, i), r = nearbyint(v);
    if (!(fabs(v - r) <= 0.25) || r < 0 || r >= e->n)
        return eng_error(ENG_EARG, "embedding '%s': x[%lld] = %g is not an index in [0, %d) (x %s)",
                         eng_layer_label(&e->base), (long long)i, v, e->n, eng_tensor_shape_str(x));
    *row = (int64_t)r;
    return ENG_OK;
}

static eng_status embedding_forward(eng_layer *layer, const eng_tensor *x, eng_tensor *y,
                                    bool training)
{
    (void)training;
    const embedding *e = (const embedding *)layer;
    int64_t count = eng_tensor_numel(x);
    size_t row_bytes = (size_t)e->d * eng_dtype_size(x->dtype);
    const char *w = eng_tensor_data(layer->params[0].value);
    char *out = eng_tensor_data(y);
    for (int64_t i = 0; i < count; i++) {
        int64_t r = 0;
        eng_status st = row_of(e, x, i, &r);
        if (st)
            return st;
        memcpy(out + (size_t)i * row_bytes, w + (size_t)r * row_bytes, row_bytes);
    }
    return ENG_OK;
}

static eng_status embedding_backward(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                                     const eng_tensor *dy, eng_tensor *dx)
{
    (void)y;
    const embedding *e = (const embedding *)layer;
    int64_t count = eng_tensor_numel(x), d = e->d;
    if (dx)
        eng_tensor_zero(dx);
    for (int64_t i = 0; i < count; i++) {
        int64_t r = 0;
        eng_status st = row_of(e, x, i, &r);
        if (st)
            return st;
        if (r == e->padding_idx)
            continue;
        if (x->dtype == ENG_F32) {
            float *g = ENG_F32_DATA(layer->params[0].grad) + r * d;
            const float *src = ENG_F32_DATA(dy) + i * d;
            for (int64_t j = 0; j < d; j++)
                g[j] += src[j];
        } else {
            double *g = ENG_F64_DATA(layer->params[0].grad) + r * d;
            const double *src = ENG_F64_DATA(dy) + i * d;
            for (int64_t j = 0; j < d; j++)
                g[j] += src[j];
        }
    }
    return ENG_OK;
}

static eng_status embedding_clone(const eng_layer *layer, eng_dtype dtype, eng_layer **out)
{
    const embedding *e = (const embedding *)layer;
    eng_status st = eng_embedding_new(
        e->n, e->d, e->padding_idx < 0 ? ENG_EMBEDDING_NO_PADDING : e->padding_idx, dtype, NULL,
        out);
    if (!st && (st = eng_layer_copy_params(*out, layer))) {
        eng_layer_release(*out);
        *out = NULL;
    }
    return st;
}

static eng_status embedding_describe(const eng_layer *layer, eng_settings *s)
{
    const embedding *e = (const embedding *)layer;
    eng_status st = eng_settings_set_int(s, "num_embeddings", e->n);
    if (!st)
        st = eng_settings_set_int(s, "embedding_dim", e->d);
    if (!st && e->padding_idx >= 0)
        st = eng_settings_set_int(s, "padding_idx", e->padding_idx);
    return st;
}

static const eng_layer_ops embedding_ops = {
    .kind = "embedding",
    .output_shape = embedding_output_shape,
    .forward = embedding_forward,
    .backward = embedding_backward,
    .clone = embedding_clone,
    .batch_independent = true,
};

eng_status eng_embedding_new(int num_embeddings, int embedding_dim, int padding_idx,
                             eng_dtype dtype, eng_rng *rng, eng_layer **out)
{
    *out = NULL;
    if (num_embeddings <= 0 || embedding_dim <= 0)
        return eng_error(ENG_EARG,
                         "embedding: num_embeddings (%d) and embedding_dim (%d) must be positive",
                         num_embeddings, embedding_dim);
    if (padding_idx != ENG_EMBEDDING_NO_PADDING &&
        (padding_idx < -num_embeddings || padding_idx >= num_embeddings))
        return eng_error(ENG_EARG, "embedding: padding_idx %d is outside [-%d, %d)", padding_idx,
                         num_embeddings, num_embeddings);
    if (!eng_dtype_is_float(dtype))
        return eng_error(ENG_EDTYPE, "embedding: dtype %s (f32 or f64 expected)",
                         eng_dtype_name(dtype));
    embedding *e = calloc(1, sizeof *e);
    if (!e)
        return eng_error(ENG_ENOMEM, "embedding: out of memory");
    eng_layer_init(&e->base, &embedding_ops, dtype);
    e->n = num_embeddings;
    e->d = embedding_dim;
    e->padding_idx = padding_idx == ENG_EMBEDDING_NO_PADDING ? -1
                     : padding_idx < 0                       ? padding_idx + num_embeddings
                                                             : padding_idx;
    int64_t shape[2] = {num_embeddings, embedding_dim};
    eng_status st = eng_layer_add_param(&e->base, "weight", 2, shape);
    if (!st)
        st = eng_tensor_normal(e->base.params[0].value, rng, 0.0, 1.0);
    if (!st && e->padding_idx >= 0)
        for (int j = 0; j < embedding_dim; j++)
            eng_tensor_set_flat(e->base.params[0].value,
                                (int64_t)e->padding_idx * embedding_dim + j, 0.0);
    if (st) {
        eng_layer_release(&e->base);
        return st;
    }
    *out = &e->base;
    return ENG_OK;
}

/* ---- kind ---- */

static eng_status embedding_create(const eng_settings *s, eng_dtype dtype, eng_rng *rng,
                                   eng_layer **out)
{
    return eng_embedding_new(eng_settings_int(s, "num_embeddings"),
                             eng_settings_int(s, "embedding_dim"),
                             eng_settings_int(s, "padding_idx"), dtype, rng, out);
}

static eng_status embedding_param_shapes(const eng_settings *s, eng_param_shape *out, int *n)
{
    out[0] = (eng_param_shape){
        "weight", 2, {eng_settings_int(s, "num_embeddings"), eng_settings_int(s, "embedding_dim")}};
    *n = 1;
    return ENG_OK;
}

static const eng_setting embedding_settings[] = {
    {"num_embeddings", ENG_SETTING_INT,
     ENG_SETTING_REQUIRED | ENG_SETTING_POSITIONAL | ENG_SETTING_BARE, .min = 1,
     .max = ENG_SETTING_INT_MAX, .doc = "rows of the table"},
    {"embedding_dim", ENG_SETTING_INT,
     ENG_SETTING_REQUIRED | ENG_SETTING_POSITIONAL | ENG_SETTING_BARE, .min = 1,
     .max = ENG_SETTING_INT_MAX, .doc = "the size of each row"},
    {"padding_idx", ENG_SETTING_INT, 0, .def = ENG_EMBEDDING_NO_PADDING,
     .min = ENG_EMBEDDING_NO_PADDING, .max = ENG_SETTING_INT_MAX,
     .doc = "0-based row kept at zero without gradient (negative: from the end); none by default"},
    {0},
};

ENG_BUILTIN_KIND(embedding) = {
    .name = "embedding",
    .ctor = "Embedding",
    .ops = &embedding_ops,
    .settings = embedding_settings,
    .takes_dtype = true,
    .create = embedding_create,
    .describe = embedding_describe,
    .param_shapes = embedding_param_shapes,
};
