/* torch.nn.Flatten: x [N,...] -> y [N, prod(...)], a copy in row-major order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../registry.h"
#include "layers.h"

static eng_status flatten_output_shape(const eng_layer *layer, const eng_tensor *x, int *ndim,
                                       int64_t *shape)
{
    eng_status st = eng_layer_check_input(layer, x, 0, "");
    if (st)
        return st;
    if (x->ndim < 1)
        return eng_error(ENG_ESHAPE, "flatten '%s': x %s has no batch dimension",
                         eng_layer_label(layer), eng_tensor_shape_str(x));
    *ndim = 2;
    shape[0] = x->shape[0];
    shape[1] = 1;
    for (int d = 1; d < x->ndim; d++)
        shape[1] *= x->shape[d];
    return ENG_OK;
}

static eng_status flatten_forward(eng_layer *layer, const eng_tensor *x, eng_tensor *y,
                                  bool training)
{
    (void)layer;
    (void)training;
    memcpy(eng_tensor_data(y), eng_tensor_data(x),
           (size_t)eng_tensor_numel(x) * eng_dtype_size(x->dtype));
    return ENG_OK;
}

static eng_status flatten_backward(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                                   const eng_tensor *dy, eng_tensor *dx)
{
    (void)layer;
    (void)y;
    if (dx)
        memcpy(eng_tensor_data(dx), eng_tensor_data(dy),
               (size_t)eng_tensor_numel(x) * eng_dtype_size(x->dtype));
    return ENG_OK;
}

static eng_status flatten_clone(const eng_layer *layer, eng_dtype dtype, eng_layer **out)
{
    (void)layer;
    (void)dtype;
    return eng_flatten_new(out);
}

static eng_status flatten_describe(const eng_layer *layer, eng_settings *s)
{
    (void)layer;
    (void)s;
    return ENG_OK;
}

/* The same flat layout: the changed positions pass through. */
static eng_status flatten_forward_sparse(eng_layer *layer, const eng_tensor *x_ref,
                                         const eng_tensor *y_ref, const eng_tensor *x,
                                         const int64_t *in, int64_t n, eng_tensor *y, int64_t *out,
                                         int64_t cap, int64_t *nout)
{
    (void)layer;
    (void)x_ref;
    (void)y_ref;
    if (n > cap || x->dtype != ENG_F64) {
        *nout = -1;
        return ENG_OK;
    }
    for (int64_t k = 0; k < n; k++) {
        ENG_F64_DATA(y)[in[k]] = ENG_F64_DATA(x)[in[k]];
        out[k] = in[k];
    }
    *nout = n;
    return ENG_OK;
}

static const eng_layer_ops flatten_ops = {
    .forward_sparse = flatten_forward_sparse,
    .batch_independent = true,
    .sample_by_sample = true,
    .kind = "flatten",
    .output_shape = flatten_output_shape,
    .forward = flatten_forward,
    .backward = flatten_backward,
    .clone = flatten_clone,
};

eng_status eng_flatten_new(eng_layer **out)
{
    eng_layer *l = calloc(1, sizeof *l);
    *out = NULL;
    if (!l)
        return eng_error(ENG_ENOMEM, "flatten: out of memory");
    eng_layer_init(l, &flatten_ops, ENG_F32);
    *out = l;
    return ENG_OK;
}

static eng_status flatten_create(const eng_settings *s, eng_dtype dtype, eng_rng *rng,
                                 eng_layer **out)
{
    (void)s;
    (void)dtype;
    (void)rng;
    return eng_flatten_new(out);
}

ENG_BUILTIN_KIND(flatten) = {
    .name = "flatten",
    .ctor = "Flatten",
    .ops = &flatten_ops,
    .create = flatten_create,
    .describe = flatten_describe,
};
