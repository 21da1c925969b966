#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/reduce.h"
#include "layers/layer_fusion.h"
#include "model_fusion.h"
#include "model_split.h"
#include "parallel.h"

eng_status eng_model_new(eng_model **out)
{
    eng_model *m = calloc(1, sizeof *m);
    *out = NULL;
    if (!m)
        return eng_error(ENG_ENOMEM, "sequential: out of memory");
    m->training = true;
    m->refcount = 1;
    *out = m;
    return ENG_OK;
}

void eng_model_retain(eng_model *model)
{
    model->refcount++;
}

void eng_model_release(eng_model *model)
{
    if (!model || --model->refcount > 0)
        return;
    for (int i = 0; i < model->nlayers; i++) {
        eng_layer_release(model->layers[i]);
        eng_tensor_release(model->outputs[i]);
        eng_tensor_release(model->dinputs[i]);
    }
    eng_tensor_release(model->input);
    eng_model_drop_replicas(model);
    free(model->layers);
    free(model->outputs);
    free(model->dinputs);
    free(model->fused);
    free(model->params.params);
    free(model);
}

static bool name_taken(const eng_model *model, const char *name)
{
    for (int i = 0; i < model->nlayers; i++)
        if (strcmp(model->layers[i]->name, name) == 0)
            return true;
    return false;
}

eng_status eng_model_add(eng_model *model, eng_layer *layer)
{
    for (int i = 0; i < model->nlayers; i++)
        if (model->layers[i] == layer)
            return eng_error(ENG_EARG, "sequential: layer '%s' is already in this model",
                             eng_layer_label(layer));
    if (layer->name[0] == '\0') {
        int k = 1;
        for (int i = 0; i < model->nlayers; i++)
            k += model->layers[i]->ops == layer->ops;
        char name[ENG_NAME_MAX];
        do
            snprintf(name, sizeof name, "%s_%d", layer->ops->kind, k++);
        while (name_taken(model, name));
        eng_status st = eng_layer_set_name(layer, name);
        if (st)
            return st;
    } else if (name_taken(model, layer->name)) {
        return eng_error(ENG_EARG, "sequential: two layers named '%s'", layer->name);
    }
    if (model->nlayers == model->capacity) {
        int cap = model->capacity ? 2 * model->capacity : 8;
        eng_layer **layers = realloc(model->layers, sizeof *layers * (size_t)cap);
        if (!layers)
            return eng_error(ENG_ENOMEM, "sequential: out of memory");
        model->layers = layers;
        eng_tensor **outputs = realloc(model->outputs, sizeof *outputs * (size_t)cap);
        if (!outputs)
            return eng_error(ENG_ENOMEM, "sequential: out of memory");
        model->outputs = outputs;
        eng_tensor **dinputs = realloc(model->dinputs, sizeof *dinputs * (size_t)cap);
        if (!dinputs)
            return eng_error(ENG_ENOMEM, "sequential: out of memory");
        model->dinputs = dinputs;
        unsigned char *fused = realloc(model->fused, (size_t)cap);
        if (!fused)
            return eng_error(ENG_ENOMEM, "sequential: out of memory");
        model->fused = fused;
        model->capacity = cap;
    }
    eng_model_drop_replicas(model);
    eng_layer_retain(layer);
    model->layers[model->nlayers] = layer;
    model->outputs[model->nlayers] = NULL;
    model->dinputs[model->nlayers] = NULL;
    model->fused[model->nlayers] = ENG_FUSE_NONE;
    if (model->nlayers > 0)
        model->fused[model->nlayers - 1] = ENG_FUSE_NONE;
    model->nlayers++;
    model->forwarded = false;
    return ENG_OK;
}

static bool needs_data_for_shapes(const eng_model *model)
{
    for (int i = 0; i < model->nlayers; i++)
        if (model->layers[i]->ops->shape_needs_data)
            return true;
    return false;
}

/* Checks layer i's input and makes its output buffer. */
static eng_status prepare_output(eng_model *model, int i, const eng_tensor *in)
{
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    eng_status st = eng_layer_output_shape(model->layers[i], in, &ndim, shape);
    if (!st)
        st = eng_tensor_ensure(&model->outputs[i], in->dtype, ndim, shape);
    if (st)
        return eng_error_wrap(st, "layer %d of %d", i + 1, model->nlayers);
    return ENG_OK;
}

static eng_status forward_step(eng_model *model, const eng_tensor *x, const eng_tensor **y)
{
    *y = NULL;
    model->forwarded = false;
    if (model->nlayers == 0)
        return eng_error(ENG_ESTATE, "sequential: forward through a model with no layers");
    eng_tensor *view;
    eng_status st = eng_tensor_view(x, &view);
    if (st)
        return st;
    eng_tensor_release(model->input);
    model->input = view;
    /* Shapes and buffers first, for every layer: a split forward needs them all before it
     * starts. A layer whose shape needs its input's values gets it in the serial loop below,
     * once the layers before it have run. */
    bool shapes_later = needs_data_for_shapes(model);
    const eng_tensor *in = view;
    for (int i = 0; i < model->nlayers && !shapes_later; i++) {
        st = prepare_output(model, i, in);
        if (st)
            return st;
        in = model->outputs[i];
    }
    eng_model_plan_fusion(model, view, !shapes_later && !model->fusion_off);
    model->split = shapes_later ? 0 : eng_model_split_count(model, view);
    if (model->split >= 1) {
        st = eng_model_forward_split(model, model->split);
        if (st)
            return st;
    } else {
        eng_blas_use_all_threads();
        in = view;
        for (int i = 0; i < model->nlayers; i++) {
            if (shapes_later && (st = prepare_output(model, i, in)))
                return st;
            int kind = model->fused[i];
            if (kind)
                st = eng_fused_forward(kind, model->layers[i], model->layers[i + 1], in,
                                       model->outputs[i + 1], model->training);
            else
                st = model->layers[i]->ops->forward(model->layers[i], in, model->outputs[i],
                                                    model->training);
            i += kind != ENG_FUSE_NONE;
            if (st)
                return eng_error_wrap(st, "layer %d of %d", i + 1, model->nlayers);
            in = model->outputs[i];
        }
    }
    model->forwarded = true;
    *y = model->outputs[model->nlayers - 1];
    return ENG_OK;
}

eng_status eng_model_forward(eng_model *model, const eng_tensor *x, const eng_tensor **y)
{
    bool previous = eng_fusion_begin(model);
    eng_status st = forward_step(model, x, y);
    eng_fusion_end(previous);
    return st;
}

eng_status eng_model_backward(eng_model *model, const eng_tensor *dy, const eng_tensor **dx)
{
    if (dx)
        *dx = NULL;
    if (!model->forwarded)
        return eng_error(ENG_ESTATE, "sequential: backward without a successful forward");
    const eng_tensor *out = model->outputs[model->nlayers - 1];
    if (!eng_tensor_same_shape(dy, out) || dy->dtype != out->dtype)
        return eng_error(eng_tensor_same_shape(dy, out) ? ENG_EDTYPE : ENG_ESHAPE,
                         "sequential: dy is %s %s, the output was %s %s", eng_dtype_name(dy->dtype),
                         eng_tensor_shape_str(dy), eng_dtype_name(out->dtype),
                         eng_tensor_shape_str(out));
    eng_tensor *dy_contig = NULL;
    if (!eng_tensor_is_contiguous(dy)) {
        eng_status st = eng_tensor_clone(dy, &dy_contig);
        if (st)
            return st;
        dy = dy_contig;
    }
    eng_status st = ENG_OK;
    if (model->split >= 1) {
        for (int i = model->nlayers - 1; i >= 0 && !st; i--) {
            const eng_tensor *in = i == 0 ? model->input : model->outputs[i - 1];
            /* a fused pair's inner gradient, or the one a fold does not write */
            bool skipped =
                (i > 0 && model->fused[i - 1]) ||
                (i + 1 < model->nlayers && eng_model_backward_first(model, i + 1, dx != NULL) < i);
            if ((i > 0 || dx) && !skipped)
                st = eng_tensor_ensure(&model->dinputs[i], in->dtype, in->ndim, in->shape);
        }
        if (!st)
            st = eng_model_backward_split(model, dy, dx != NULL);
        eng_tensor_release(dy_contig);
        if (!st && dx)
            *dx = model->dinputs[0];
        return st;
    }
    eng_blas_use_all_threads();
    bool previous = eng_fusion_begin(model);
    const eng_tensor *grad = dy;
    for (int i = model->nlayers - 1; i >= 0 && !st; i--) {
        /* a fused pair (i - 1, i) runs as one backward into layer i - 1's input gradient, or
         * folded into layer i - 2's backward (model_fusion.c) */
        int kind = i > 0 ? model->fused[i - 1] : ENG_FUSE_NONE;
        int first = eng_model_backward_first(model, i, dx != NULL);
        const eng_tensor *in = first == 0 ? model->input : model->outputs[first - 1];
        eng_tensor *din = NULL;
        if (first > 0 || dx) {
            st = eng_tensor_ensure(&model->dinputs[first], in->dtype, in->ndim, in->shape);
            if (st)
                break;
            din = model->dinputs[first];
        }
        if (first < i - 1)
            st = eng_folded_backward(model->layers[first], model->layers[i], in,
                                     model->outputs[first], model->outputs[i], grad, din);
        else if (kind)
            st = eng_fused_backward(kind, model->layers[first], model->layers[i], in,
                                    model->outputs[i], grad, din);
        else
            st =
                model->layers[i]->ops->backward(model->layers[i], in, model->outputs[i], grad, din);
        if (st)
            st = eng_error_wrap(st, "layer %d of %d", i + 1, model->nlayers);
        grad = din;
        i = first;
    }
    eng_fusion_end(previous);
    eng_tensor_release(dy_contig);
    if (!st && dx)
        *dx = model->dinputs[0];
    return st;
}

void eng_model_zero_grad(eng_model *model)
{
    for (int i = 0; i < model->nlayers; i++)
        eng_layer_zero_grad(model->layers[i]);
}

void eng_model_set_training(eng_model *model, bool training)
{
    model->training = training;
}

eng_status eng_model_to(const eng_model *model, eng_dtype dtype, eng_model **out)
{
    eng_model *copy;
    eng_status st = eng_model_new(&copy);
    if (st)
        return st;
    copy->training = model->training;
    for (int i = 0; i < model->nlayers && !st; i++) {
        eng_layer *layer;
        st = model->layers[i]->ops->clone(model->layers[i], dtype, &layer);
        if (st)
            break;
        st = eng_layer_set_name(layer, model->layers[i]->name);
        if (!st)
            st = eng_model_add(copy, layer);
        eng_layer_release(layer);
    }
    if (st) {
        eng_model_release(copy);
        *out = NULL;
        return st;
    }
    *out = copy;
    return ENG_OK;
}

int eng_model_param_count(const eng_model *model)
{
    int n = 0;
    for (int i = 0; i < model->nlayers; i++)
        n += model->layers[i]->nparams;
    return n;
}

eng_param *eng_model_param(eng_model *model, int index, char *full_name, size_t size)
{
    for (int i = 0; i < model->nlayers; i++) {
        eng_layer *layer = model->layers[i];
        if (index < layer->nparams) {
            if (full_name)
                snprintf(full_name, size, "%s.%s", layer->name, layer->params[index].name);
            return &layer->params[index];
        }
        index -= layer->nparams;
    }
    return NULL;
}

const eng_param_list *eng_model_params(eng_model *model)
{
    int n = eng_model_param_count(model);
    eng_named_param *params = realloc(model->params.params, sizeof *params * (size_t)(n ? n : 1));
    if (!params) {
        eng_error(ENG_ENOMEM, "sequential: out of memory");
        return NULL;
    }
    model->params.params = params;
    model->params.count = n;
    for (int i = 0; i < n; i++) {
        eng_param *p = eng_model_param(model, i, params[i].name, sizeof params[i].name);
        params[i].value = p->value;
        params[i].grad = p->grad;
    }
    return &model->params;
}

eng_dtype eng_model_dtype(const eng_model *model)
{
    for (int i = 0; i < model->nlayers; i++)
        if (model->layers[i]->nparams > 0)
            return model->layers[i]->dtype;
    return ENG_F32;
}

/* Index of t's first non-finite element (t contiguous, f32 or f64), -1 when none. */
static int64_t find_nonfinite(const eng_tensor *t)
{
    if (!t || !eng_tensor_is_contiguous(t))
        return -1;
    if (t->dtype == ENG_F32)
        return eng_find_nonfinite_f32(ENG_F32_DATA(t), eng_tensor_numel(t));
    if (t->dtype == ENG_F64)
        return eng_find_nonfinite_f64(ENG_F64_DATA(t), eng_tensor_numel(t));
    return -1;
}

/* NaN prints as "-nan" when its sign bit is set (0/0 on x86): messages show "nan". */
static double unsigned_nan(double v)
{
    return v != v ? fabs(v) : v;
}

/* The error for element i of t: "step 12 (loss nan): <where> has nan at [0,17] of [64,128]". */
static eng_status nonfinite_error(const eng_tensor *t, int64_t i, int64_t step, double loss,
                                  const char *where)
{
    int64_t index[ENG_MAX_DIMS], rest = i;
    for (int d = t->ndim - 1; d >= 0; d--) {
        index[d] = t->shape[d] ? rest % t->shape[d] : 0;
        rest = t->shape[d] ? rest / t->shape[d] : 0;
    }
    return eng_error(ENG_ENONFINITE, "step %lld (loss %g): %s has %g at %s of %s (0-based)",
                     (long long)step, unsigned_nan(loss), where,
                     unsigned_nan(eng_tensor_get_flat(t, i)), eng_shape_str(t->ndim, index),
                     eng_tensor_shape_str(t));
}

eng_status eng_model_check_finite(const eng_model *model, int64_t step, double loss)
{
    char where[2 * ENG_NAME_MAX + ENG_PARAM_NAME_MAX];
    int64_t bad;
    if (model->forwarded && (bad = find_nonfinite(model->input)) >= 0)
        return nonfinite_error(model->input, bad, step, loss, "the input x");
    for (int i = 0; i < model->nlayers; i++) {
        const eng_layer *layer = model->layers[i];
        for (int k = 0; k < layer->nparams; k++) {
            if ((bad = find_nonfinite(layer->params[k].value)) >= 0) {
                snprintf(where, sizeof where, "layer %d '%s' (%s): parameter %s", i + 1,
                         layer->name, layer->ops->kind, layer->params[k].name);
                return nonfinite_error(layer->params[k].value, bad, step, loss, where);
            }
        }
        /* a fused pair's inner output was not written: write it now (model_fusion.c) */
        const eng_tensor *in = i == 0 ? model->input : model->outputs[i - 1];
        eng_status st = model->forwarded && model->fused[i]
                            ? eng_fused_inner_output(model->fused[i], layer, in, model->outputs[i])
                            : ENG_OK;
        if (st)
            return st;
        if (model->forwarded && (bad = find_nonfinite(model->outputs[i])) >= 0) {
            snprintf(where, sizeof where, "layer %d '%s' (%s): output", i + 1, layer->name,
                     layer->ops->kind);
            return nonfinite_error(model->outputs[i], bad, step, loss, where);
        }
    }
    for (int i = model->nlayers - 1; i >= 0; i--) {
        const eng_layer *layer = model->layers[i];
        for (int k = 0; k < layer->nparams; k++) {
            if ((bad = find_nonfinite(layer->params[k].grad)) >= 0) {
                snprintf(where, sizeof where, "layer %d '%s' (%s): gradient of %s", i + 1,
                         layer->name, layer->ops->kind, layer->params[k].name);
                return nonfinite_error(layer->params[k].grad, bad, step, loss, where);
            }
        }
        if (i > 0 && !eng_model_grad_skipped(model, i) &&
            (bad = find_nonfinite(model->dinputs[i])) >= 0) {
            snprintf(where, sizeof where, "layer %d '%s' (%s): gradient of its input", i + 1,
                     layer->name, layer->ops->kind);
            return nonfinite_error(model->dinputs[i], bad, step, loss, where);
        }
    }
    if (loss - loss != 0)
        return eng_error(ENG_ENONFINITE,
                         "step %lld (loss %g): the loss is not finite although every parameter, "
                         "output and gradient is",
                         (long long)step, unsigned_nan(loss));
    return ENG_OK;
}

eng_status eng_model_output_shape(const eng_model *model, const eng_tensor *x, int *ndim,
                                  int64_t *shape)
{
    if (model->nlayers == 0)
        return eng_error(ENG_ESTATE, "sequential: no layers");
    /* A shape-only descriptor: output_shape reads shapes and dtypes, never values. */
    eng_tensor in = *x;
    for (int i = 0; i < model->nlayers; i++) {
        int n;
        int64_t s[ENG_MAX_DIMS];
        eng_status st = eng_layer_output_shape(model->layers[i], &in, &n, s);
        if (st)
            return st;
        in.ndim = n;
        in.offset = 0;
        int64_t stride = 1;
        for (int d = n - 1; d >= 0; d--) {
            in.shape[d] = s[d];
            in.strides[d] = stride;
            stride *= s[d];
        }
    }
    *ndim = in.ndim;
    memcpy(shape, in.shape, sizeof in.shape[0] * (size_t)in.ndim);
    return ENG_OK;
}

/* The fusion (model_fusion.c) of the pair (i, i + 1) for a nested forward, with layer i + 1's
 * output buffer made; 0 when the step may not fuse or the pair does not. */
static int nested_pair(eng_model *model, int i, int count, const eng_tensor *in, eng_status *st)
{
    *st = ENG_OK;
    if (!eng_fusion_active() || model->fusion_off || i + 1 >= count ||
        model->layers[i + 1]->ops->shape_needs_data)
        return ENG_FUSE_NONE;
    int kind = eng_model_fusable(model, i, in, true);
    if (kind)
        *st = prepare_output(model, i + 1, model->outputs[i]);
    return *st ? ENG_FUSE_NONE : kind;
}

eng_status eng_model_forward_nested(eng_model *model, const eng_tensor *x, bool training,
                                    const eng_tensor **y)
{
    return eng_model_forward_nested_part(model, x, training, model->nlayers, y);
}

eng_status eng_model_forward_nested_part(eng_model *model, const eng_tensor *x, bool training,
                                         int count, const eng_tensor **y)
{
    *y = NULL;
    model->training = training;
    for (int i = 0; i < model->nlayers; i++)
        model->fused[i] = ENG_FUSE_NONE;
    const eng_tensor *in = x;
    for (int i = 0; i < model->nlayers; i++) {
        eng_status st = prepare_output(model, i, in);
        if (i >= count) /* layer i's output buffer, for the caller */
            return st ? st : (*y = in, ENG_OK);
        int kind = st ? ENG_FUSE_NONE : nested_pair(model, i, count, in, &st);
        if (!st && kind)
            st = eng_fused_forward(kind, model->layers[i], model->layers[i + 1], in,
                                   model->outputs[i + 1], training);
        else if (!st)
            st = model->layers[i]->ops->forward(model->layers[i], in, model->outputs[i], training);
        if (st)
            return st;
        model->fused[i] = (unsigned char)kind;
        i += kind != ENG_FUSE_NONE;
        in = model->outputs[i];
    }
    *y = in;
    return ENG_OK;
}

bool eng_model_can_add_dx(const eng_model *model, const eng_tensor *x)
{
    const eng_layer *first = model->nlayers > 0 ? model->layers[0] : NULL;
    return first && (model->nlayers == 1 || model->fused[0] == ENG_FUSE_NONE) &&
           first->ops->can_add_dx && first->ops->backward_add && first->ops->can_add_dx(first, x);
}

/* relu_mask [optional]: dy is the gradient of a ReLU after the model whose output's mask y > 0
 * this is; the last layer takes it (eng_model_takes_relu_mask) */
static eng_status backward_nested(eng_model *model, const eng_tensor *x, const eng_tensor *dy,
                                  const uint16_t *relu_mask, eng_tensor *dx, bool add)
{
    const eng_tensor *grad = dy;
    for (int i = model->nlayers - 1; i >= 0; i--) {
        /* a fused pair (i - 1, i) runs as one backward into layer i - 1's input gradient */
        int kind = i > 0 ? model->fused[i - 1] : ENG_FUSE_NONE, first = kind ? i - 1 : i;
        const eng_tensor *in = first == 0 ? x : model->outputs[first - 1];
        eng_tensor *din = dx;
        if (first > 0) {
            eng_status st =
                eng_tensor_ensure(&model->dinputs[first], in->dtype, in->ndim, in->shape);
            if (st)
                return st;
            din = model->dinputs[first];
        }
        eng_layer *layer = model->layers[i];
        eng_status st;
        if (kind)
            st = eng_fused_backward(kind, model->layers[first], layer, in, model->outputs[i], grad,
                                    din);
        else if (relu_mask && i == model->nlayers - 1)
            st = eng_batchnorm_backward_relu_mask(layer, in, relu_mask, grad, din);
        else if (add && i == 0)
            st = layer->ops->backward_add(layer, in, model->outputs[i], grad, din);
        else
            st = layer->ops->backward(layer, in, model->outputs[i], grad, din);
        if (st)
            return eng_error_wrap(st, "%s", eng_layer_label(layer));
        grad = din;
        i = first;
    }
    return ENG_OK;
}

eng_status eng_model_backward_nested(eng_model *model, const eng_tensor *x, const eng_tensor *dy,
                                     eng_tensor *dx)
{
    return backward_nested(model, x, dy, NULL, dx, false);
}

eng_status eng_model_backward_nested_add(eng_model *model, const eng_tensor *x,
                                         const eng_tensor *dy, eng_tensor *dx)
{
    if (!dx || !eng_model_can_add_dx(model, x))
        return eng_error(ENG_ESTATE, "sequential: its first layer cannot add into dx");
    return backward_nested(model, x, dy, NULL, dx, true);
}

eng_status eng_model_backward_nested_relu_mask(eng_model *model, const eng_tensor *x,
                                               const eng_tensor *dy, const uint16_t *relu_mask,
                                               eng_tensor *dx, bool add)
{
    if (!eng_model_takes_relu_mask(model, x))
        return eng_error(ENG_ESTATE, "sequential: its last layer cannot take a ReLU's mask");
    if (add && (!dx || !eng_model_can_add_dx(model, x)))
        return eng_error(ENG_ESTATE, "sequential: its first layer cannot add into dx");
    return backward_nested(model, x, dy, relu_mask, dx, add);
}
