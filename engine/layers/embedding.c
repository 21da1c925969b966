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
        return eng_error(ENG_EARG,
                         "embedding '%s': x[%lld] = %g is not an index in [0, %d) (x %s)",
                         eng_layer_label(&e->base), (long long)i, v, e->n,
                         eng_tensor_shape_str(x));
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

static int embedding_describe(const eng_layer *layer, char *buf, size_t size)
{
    const embedding *e = (const embedding *)layer;
    if (e->padding_idx < 0)
        return snprintf(buf, size, "{kind='embedding', num_embeddings=%d, embedding_dim=%d}",
                        e->n, e->d);
    return snprintf(buf, size,
                    "{kind='embedding', num_embeddings=%d, embedding_dim=%d, padding_idx=%d}",
                    e->n, e->d, e->padding_idx);
}

static const eng_layer_ops embedding_ops = {
    .kind = "embedding",
    .output_shape = embedding_output_shape,
    .forward = embedding_forward,
    .backward = embedding_backward,
    .clone = embedding_clone,
    .describe = embedding_describe,
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
                     : padding_idx < 0 ? padding_idx + num_embeddings : padding_idx;
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
