#include "layer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void eng_layer_init(eng_layer *layer, const eng_layer_ops *ops, eng_dtype dtype)
{
    memset(layer, 0, sizeof *layer);
    layer->ops = ops;
    layer->dtype = dtype;
    layer->refcount = 1;
    layer->params = layer->param_slots;
    layer->buffers = layer->buffer_slots;
}

eng_status eng_layer_add_param(eng_layer *layer, const char *name, int ndim, const int64_t *shape)
{
    if (layer->nparams == ENG_MAX_PARAMS)
        return eng_error(ENG_ESTATE, "%s: more than %d parameters", layer->ops->kind,
                         ENG_MAX_PARAMS);
    eng_param *p = &layer->params[layer->nparams];
    eng_status st = eng_tensor_new(layer->dtype, ndim, shape, &p->value);
    if (st)
        return st;
    st = eng_tensor_new(layer->dtype, ndim, shape, &p->grad);
    if (st) {
        eng_tensor_release(p->value);
        p->value = NULL;
        return st;
    }
    p->name = name;
    layer->nparams++;
    return ENG_OK;
}

eng_status eng_layer_add_buffer(eng_layer *layer, const char *name, int ndim, const int64_t *shape,
                                double value)
{
    if (layer->nbuffers == ENG_MAX_BUFFERS)
        return eng_error(ENG_ESTATE, "%s: more than %d buffers", layer->ops->kind, ENG_MAX_BUFFERS);
    eng_buffer *b = &layer->buffers[layer->nbuffers];
    eng_status st = eng_tensor_new(layer->dtype, ndim, shape, &b->value);
    if (st)
        return st;
    eng_tensor_fill(b->value, value);
    b->name = name;
    layer->nbuffers++;
    return ENG_OK;
}

eng_param *eng_layer_param(eng_layer *layer, const char *name)
{
    for (int i = 0; i < layer->nparams; i++)
        if (strcmp(layer->params[i].name, name) == 0)
            return &layer->params[i];
    return NULL;
}

void eng_layer_retain(eng_layer *layer)
{
    layer->refcount++;
}

void eng_layer_release(eng_layer *layer)
{
    if (!layer || --layer->refcount > 0)
        return;
    for (int i = 0; i < layer->nparams; i++) {
        eng_tensor_release(layer->params[i].value);
        eng_tensor_release(layer->params[i].grad);
    }
    for (int i = 0; i < layer->nbuffers; i++)
        eng_tensor_release(layer->buffers[i].value);
    if (layer->ops->destroy)
        layer->ops->destroy(layer);
    free(layer);
}

eng_status eng_layer_set_name(eng_layer *layer, const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= ENG_NAME_MAX)
        return eng_error(ENG_EARG, "layer name '%s' must have 1 to %d characters", name,
                         ENG_NAME_MAX - 1);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        /* '.' separates layer and parameter in "conv1.weight"; '/' would split HDF5 paths. */
        if (c == '.' || c == '/' || c < 32)
            return eng_error(
                ENG_EARG, "layer name '%s' may not contain '.', '/' or control characters", name);
    }
    memcpy(layer->name, name, n + 1);
    return ENG_OK;
}

const char *eng_layer_label(const eng_layer *layer)
{
    return layer->name[0] ? layer->name : layer->ops->kind;
}

eng_status eng_layer_check_input(const eng_layer *layer, const eng_tensor *x, int ndim,
                                 const char *expected)
{
    if (!eng_dtype_is_float(x->dtype))
        return eng_error(ENG_EDTYPE, "%s '%s': x has dtype %s (f32 or f64 expected)",
                         layer->ops->kind, eng_layer_label(layer), eng_dtype_name(x->dtype));
    if (layer->nparams > 0 && x->dtype != layer->dtype)
        return eng_error(ENG_EDTYPE,
                         "%s '%s': x %s has dtype %s but the layer's parameters are %s "
                         "(convert one with :to('%s'))",
                         layer->ops->kind, eng_layer_label(layer), eng_tensor_shape_str(x),
                         eng_dtype_name(x->dtype), eng_dtype_name(layer->dtype),
                         eng_dtype_name(layer->dtype));
    if (ndim > 0 && x->ndim != ndim)
        return eng_error(ENG_ESHAPE, "%s '%s': x %s, expected %s", layer->ops->kind,
                         eng_layer_label(layer), eng_tensor_shape_str(x), expected);
    /* Kernels read x as a raw contiguous block; eng_model_forward reaches them through here. */
    if (!eng_tensor_is_contiguous(x))
        return eng_error(ENG_ESTATE, "%s '%s': x %s is not contiguous (clone it first)",
                         layer->ops->kind, eng_layer_label(layer), eng_tensor_shape_str(x));
    return ENG_OK;
}

eng_status eng_layer_output_shape(const eng_layer *layer, const eng_tensor *x, int *ndim,
                                  int64_t *shape)
{
    return layer->ops->output_shape(layer, x, ndim, shape);
}

static eng_status check_output(const eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                               const char *what)
{
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    eng_status st = layer->ops->output_shape(layer, x, &ndim, shape);
    if (st)
        return st;
    if (y->ndim != ndim || memcmp(y->shape, shape, sizeof(int64_t) * (size_t)ndim) != 0)
        return eng_error(ENG_ESHAPE, "%s '%s': %s is %s, expected %s for x %s", layer->ops->kind,
                         eng_layer_label(layer), what, eng_tensor_shape_str(y),
                         eng_shape_str(ndim, shape), eng_tensor_shape_str(x));
    if (y->dtype != x->dtype)
        return eng_error(ENG_EDTYPE, "%s '%s': %s has dtype %s, x has %s", layer->ops->kind,
                         eng_layer_label(layer), what, eng_dtype_name(y->dtype),
                         eng_dtype_name(x->dtype));
    if (!eng_tensor_is_contiguous(x) || !eng_tensor_is_contiguous(y))
        return eng_error(ENG_ESTATE, "%s '%s': tensors must be contiguous (clone them first)",
                         layer->ops->kind, eng_layer_label(layer));
    return ENG_OK;
}

eng_status eng_layer_forward(eng_layer *layer, const eng_tensor *x, eng_tensor *y, bool training)
{
    eng_status st = check_output(layer, x, y, "y");
    if (st)
        return st;
    return layer->ops->forward(layer, x, y, training);
}

eng_status eng_layer_backward(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                              const eng_tensor *dy, eng_tensor *dx)
{
    eng_status st = check_output(layer, x, y, "y");
    if (st)
        return st;
    st = check_output(layer, x, dy, "dy");
    if (st)
        return st;
    if (dx &&
        (!eng_tensor_same_shape(dx, x) || dx->dtype != x->dtype || !eng_tensor_is_contiguous(dx)))
        return eng_error(!eng_tensor_same_shape(dx, x) ? ENG_ESHAPE
                         : dx->dtype != x->dtype       ? ENG_EDTYPE
                                                       : ENG_ESTATE,
                         "%s '%s': dx is %s %s, expected %s %s like x", layer->ops->kind,
                         eng_layer_label(layer), eng_dtype_name(dx->dtype),
                         eng_tensor_shape_str(dx), eng_dtype_name(x->dtype),
                         eng_tensor_shape_str(x));
    return layer->ops->backward(layer, x, y, dy, dx);
}

void eng_layer_zero_grad(eng_layer *layer)
{
    for (int i = 0; i < layer->nparams; i++)
        eng_tensor_zero(layer->params[i].grad);
}

eng_status eng_layer_copy_params(eng_layer *dst, const eng_layer *src)
{
    if (dst->ops != src->ops || dst->nparams != src->nparams || dst->nbuffers != src->nbuffers)
        return eng_error(ENG_EARG, "cannot copy parameters of %s '%s' into %s '%s'", src->ops->kind,
                         eng_layer_label(src), dst->ops->kind, eng_layer_label(dst));
    for (int i = 0; i < src->nparams; i++) {
        eng_status st = eng_tensor_copy(dst->params[i].value, src->params[i].value);
        if (st)
            return eng_error(st, "%s '%s': parameter %s is %s, source has %s", dst->ops->kind,
                             eng_layer_label(dst), dst->params[i].name,
                             eng_tensor_shape_str(dst->params[i].value),
                             eng_tensor_shape_str(src->params[i].value));
    }
    for (int i = 0; i < src->nbuffers; i++) {
        eng_status st = eng_tensor_copy(dst->buffers[i].value, src->buffers[i].value);
        if (st)
            return eng_error(st, "%s '%s': buffer %s is %s, source has %s", dst->ops->kind,
                             eng_layer_label(dst), dst->buffers[i].name,
                             eng_tensor_shape_str(dst->buffers[i].value),
                             eng_tensor_shape_str(src->buffers[i].value));
    }
    return ENG_OK;
}

uint64_t eng_hash_bytes(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t word;
        memcpy(&word, p + i, 8);
        h = eng_hash_word(h, word);
    }
    for (; i < n; i++)
        h = eng_hash_word(h, p[i]);
    return h;
}
