/* Objectives over a chain of layers followed by a loss: a whole model on a batch, or one
 * layer projected on a random direction. Activations of the unperturbed point are cached so
 * that perturbing a parameter of layer k re-runs only layers k.. (prefix caching), and layers
 * that can (linear, conv2d) update their cached output for a one-element change instead of
 * recomputing it. */
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "../model_container.h"
#include "../plugin.h"
#include "chain.h"

/* ---- the projection loss <r, y> used to check one layer alone ---- */

typedef struct projection {
    eng_loss base;
    eng_tensor *r;
} projection;

static eng_status projection_forward(eng_loss *loss, const eng_tensor *input,
                                     const eng_tensor *target, double *value)
{
    (void)target;
    const eng_tensor *r = ((projection *)loss)->r;
    int64_t n = eng_tensor_numel(input);
    double acc = 0;
    /* every evaluation of a layer-wise check sums over the whole output: typed loops */
    if (r->dtype == ENG_F64 && input->dtype == ENG_F64 && eng_tensor_is_contiguous(input)) {
        const double *a = eng_tensor_data(r), *b = eng_tensor_data(input);
        for (int64_t i = 0; i < n; i++)
            acc += a[i] * b[i];
    } else {
        for (int64_t i = 0; i < n; i++)
            acc += eng_tensor_get_flat(r, i) * eng_tensor_get_flat(input, i);
    }
    *value = acc;
    return ENG_OK;
}

static eng_status projection_backward(eng_loss *loss, const eng_tensor *input,
                                      const eng_tensor *target, eng_tensor *dinput)
{
    (void)input;
    (void)target;
    return eng_tensor_copy(dinput, ((projection *)loss)->r);
}

static void projection_destroy(eng_loss *loss)
{
    eng_tensor_release(((projection *)loss)->r);
}

static const eng_loss_ops projection_ops = {
    .kind = "projection",
    .forward = projection_forward,
    .backward = projection_backward,
    .destroy = projection_destroy,
};

/* ---- a scaled loss: inner times a constant ---- */

typedef struct scaled_loss {
    eng_loss base;
    eng_loss *inner;
    double scale;
} scaled_loss;

static eng_status scaled_forward(eng_loss *loss, const eng_tensor *input, const eng_tensor *target,
                                 double *value)
{
    scaled_loss *s = (scaled_loss *)loss;
    eng_status st = eng_loss_forward(s->inner, input, target, value);
    *value *= s->scale;
    return st;
}

static eng_status scaled_backward(eng_loss *loss, const eng_tensor *input, const eng_tensor *target,
                                  eng_tensor *dinput)
{
    scaled_loss *s = (scaled_loss *)loss;
    eng_status st = eng_loss_backward(s->inner, input, target, dinput);
    if (!st)
        st = eng_tensor_binary_scalar(dinput, dinput, s->scale, ENG_MUL);
    return st;
}

static const eng_loss_ops scaled_ops = {
    .kind = "scaled",
    .forward = scaled_forward,
    .backward = scaled_backward,
};

eng_status eng_gc_scaled_loss(eng_loss *inner, double scale, eng_loss **out)
{
    *out = NULL;
    if (!isfinite(scale) || scale == 0)
        return eng_error(ENG_EARG, "gradcheck: loss_scale = %g (a finite nonzero number expected)",
                         scale);
    scaled_loss *s = calloc(1, sizeof *s);
    if (!s)
        return eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    s->base.ops = &scaled_ops;
    s->inner = inner;
    s->scale = scale;
    *out = &s->base;
    return ENG_OK;
}

/* ---- evaluation ---- */

static eng_status forward_base(chain *c, double *value)
{
    gc_chain_scratch_stale(c);
    for (int i = 0; i < c->nlayers; i++) {
        eng_status st = gc_chain_run_layer(c, i, gc_chain_input(c, c->base, i), &c->base[i]);
        if (st)
            return st;
    }
    return eng_loss_forward(c->loss, c->base[c->nlayers - 1], c->target, value);
}

static eng_status chain_loss(eng_gc_objective *obj, double *value)
{
    return forward_base(obj->ctx, value);
}

static eng_status ensure_scratch_like_base(chain *c, int k)
{
    return eng_tensor_ensure(&c->scratch[k], c->base[k]->dtype, c->base[k]->ndim,
                             c->base[k]->shape);
}

static eng_status chain_loss_at(eng_gc_objective *obj, int t, int64_t index, double delta,
                                double *value, uint64_t *signature)
{
    chain *c = obj->ctx;
    int param = c->param_of[t];
    eng_tensor *v = obj->tensors[t].value;
    if (param < 0) {
        /* The input: everything downstream changes. */
        double old = eng_tensor_get_flat(v, index);
        eng_tensor_set_flat(v, index, old + delta);
        eng_status st = gc_chain_tail(c, 0, false, value, signature);
        eng_tensor_set_flat(v, index, old);
        return st;
    }
    int k = obj->tensors[t].layer_index;
    eng_layer *layer = c->layers[k];
    if (layer->ops->forward_delta && c->delta_ok[k] == 0) {
        eng_status st = ensure_scratch_like_base(c, k);
        if (!st)
            st = gc_chain_verify_delta(c, k, param, index, delta);
        if (st)
            return st;
    }
    if (layer->ops->forward_delta && c->delta_ok[k] == 1) {
        eng_status st = ensure_scratch_like_base(c, k);
        if (!st)
            st = layer->ops->forward_delta(layer, gc_chain_input(c, c->base, k), c->base[k], param,
                                           index, delta, c->scratch[k]);
        if (st)
            return st;
        return gc_chain_tail(c, k, true, value, signature);
    }
    double old = eng_tensor_get_flat(v, index);
    eng_tensor_set_flat(v, index, old + delta);
    eng_status st = gc_chain_tail(c, k, false, value, signature);
    eng_tensor_set_flat(v, index, old);
    return st;
}

static eng_status chain_gradient(eng_gc_objective *obj)
{
    chain *c = obj->ctx;
    double value;
    eng_status st = forward_base(c, &value);
    if (st)
        return st;
    eng_tensor *out = c->base[c->nlayers - 1];
    st = eng_tensor_ensure(&c->dloss, out->dtype, out->ndim, out->shape);
    if (!st)
        st = eng_loss_backward(c->loss, out, c->target, c->dloss);
    if (st)
        return st;
    for (int i = 0; i < c->nlayers; i++)
        eng_layer_zero_grad(c->layers[i]);
    const eng_tensor *grad = c->dloss;
    for (int i = c->nlayers - 1; i >= 0; i--) {
        const eng_tensor *in = gc_chain_input(c, c->base, i);
        eng_tensor *din = NULL;
        if (i > 0 || c->with_input) {
            st = eng_tensor_ensure(&c->dinputs[i], in->dtype, in->ndim, in->shape);
            if (st)
                return st;
            din = c->dinputs[i];
        }
        st = c->layers[i]->ops->backward(c->layers[i], in, c->base[i], grad, din);
        if (st)
            return eng_error_wrap(st, "gradcheck: backward of layer %d (%s)", i + 1,
                                  eng_layer_label(c->layers[i]));
        grad = din;
    }
    if (c->with_input) {
        /* The input tensor's gradient slot points at dinputs[0], which may have been
         * reallocated: refresh it. */
        obj->tensors[obj->ntensors - 1].grad = c->dinputs[0];
    }
    return ENG_OK;
}

/* A batch of one: no caching (used for a handful of diagnosis evaluations). */
static eng_status chain_sample_loss_at(eng_gc_objective *obj, int64_t s, int t, int64_t index,
                                       double delta, double *value)
{
    chain *c = obj->ctx;
    if (!c->target || s < 0 || s >= c->x->shape[0])
        return eng_error(ENG_EARG, "gradcheck: no sample %lld in this objective", (long long)s);
    eng_tensor *x = NULL, *target = NULL, **outputs = calloc((size_t)c->nlayers, sizeof *outputs);
    if (!outputs)
        return eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    eng_tensor *v = obj->tensors[t].value;
    double old = eng_tensor_get_flat(v, index);
    eng_tensor_set_flat(v, index, old + delta);
    eng_status st = eng_tensor_narrow(c->x, 0, s, 1, &x);
    if (!st)
        st = eng_tensor_narrow(c->target, 0, s, 1, &target);
    for (int i = 0; !st && i < c->nlayers; i++) {
        eng_tensor *rx = NULL, *ry = NULL;
        if (c->frozen && c->ref_x[i]) {
            st = eng_tensor_narrow(c->ref_x[i], 0, s, 1, &rx);
            if (!st)
                st = eng_tensor_narrow(c->ref_y[i], 0, s, 1, &ry);
        }
        if (!st)
            st = gc_chain_run_layer_ref(c, i, i == 0 ? x : outputs[i - 1], &outputs[i], rx, ry);
        eng_tensor_release(rx);
        eng_tensor_release(ry);
    }
    if (!st)
        st = eng_loss_forward(c->loss, outputs[c->nlayers - 1], target, value);
    eng_tensor_set_flat(v, index, old);
    for (int i = 0; i < c->nlayers; i++)
        eng_tensor_release(outputs[i]);
    free(outputs);
    eng_tensor_release(x);
    eng_tensor_release(target);
    return st;
}

static eng_status chain_localise(eng_gc_objective *obj, int from, const eng_gc_options *opts,
                                 eng_gc_report *report)
{
    chain *c = obj->ctx;
    bool frozen = c->frozen;
    c->frozen = false;
    double value;
    eng_status st = forward_base(c, &value);
    const eng_tensor **inputs = calloc((size_t)c->nlayers + 1, sizeof *inputs);
    if (!st && !inputs)
        st = eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    if (!st) {
        for (int i = 0; i <= c->nlayers; i++)
            inputs[i] = gc_chain_input(c, c->base, i);
        st = gc_localise(c->layers, c->nlayers, c->training, inputs, c->owns_loss ? NULL : c->loss,
                         c->target, from, opts, report);
    }
    free(inputs);
    /* the layers' own checks wrote their gradients: the objective's are restored */
    if (!st)
        st = chain_gradient(obj);
    c->frozen = frozen;
    return st;
}

/* Takes the branches at the current values as the reference (on), or drops them (off). */
static eng_status chain_freeze(eng_gc_objective *obj, bool on)
{
    chain *c = obj->ctx;
    c->frozen = false;
    if (!on)
        return ENG_OK;
    double value;
    eng_status st = forward_base(c, &value);
    for (int i = 0; !st && i < c->nlayers; i++) {
        if (!c->layers[i]->ops->forward_frozen)
            continue;
        const eng_tensor *in = gc_chain_input(c, c->base, i);
        st = eng_tensor_ensure(&c->ref_x[i], in->dtype, in->ndim, in->shape);
        if (!st)
            st = eng_tensor_copy(c->ref_x[i], in);
        if (!st)
            st = eng_tensor_ensure(&c->ref_y[i], c->base[i]->dtype, c->base[i]->ndim,
                                   c->base[i]->shape);
        if (!st)
            st = eng_tensor_copy(c->ref_y[i], c->base[i]);
    }
    if (st)
        return st;
    c->frozen = true;
    return ENG_OK;
}

static void chain_destroy(eng_gc_objective *obj)
{
    chain *c = obj->ctx;
    if (!c)
        return;
    (void)gc_buffers_restore(&c->buffers); /* copies of what was there: cannot fail */
    for (int i = 0; c->layers && c->base && c->scratch && c->dinputs && i < c->nlayers; i++) {
        eng_layer_release(c->layers[i]);
        eng_tensor_release(c->base[i]);
        eng_tensor_release(c->scratch[i]);
        eng_tensor_release(c->dinputs[i]);
        if (c->ref_x) {
            eng_tensor_release(c->ref_x[i]);
            eng_tensor_release(c->ref_y[i]);
        }
    }
    free(c->ref_x);
    free(c->ref_y);
    gc_chain_sparse_free(c);
    if (c->owns_loss)
        eng_loss_release(c->loss);
    eng_tensor_release(c->x);
    eng_tensor_release(c->target);
    eng_tensor_release(c->dloss);
    free(c->layers);
    free(c->base);
    free(c->scratch);
    free(c->dinputs);
    free(c->delta_ok);
    free(c->param_of);
    free(c);
}

void eng_gc_objective_release(eng_gc_objective *obj)
{
    if (!obj)
        return;
    if (obj->destroy)
        obj->destroy(obj);
    free(obj->tensors);
    free(obj);
}

static eng_status chain_alloc(eng_gc_objective *obj, chain *c, int n, int ntensors)
{
    c->layers = calloc((size_t)n, sizeof *c->layers);
    c->base = calloc((size_t)n, sizeof *c->base);
    c->scratch = calloc((size_t)n, sizeof *c->scratch);
    c->dinputs = calloc((size_t)n, sizeof *c->dinputs);
    c->delta_ok = calloc((size_t)n, sizeof *c->delta_ok);
    c->ref_x = calloc((size_t)n, sizeof *c->ref_x);
    c->ref_y = calloc((size_t)n, sizeof *c->ref_y);
    obj->tensors = calloc((size_t)(ntensors ? ntensors : 1), sizeof *obj->tensors);
    c->param_of = calloc((size_t)(ntensors ? ntensors : 1), sizeof *c->param_of);
    if (!c->layers || !c->base || !c->scratch || !c->dinputs || !c->delta_ok || !obj->tensors ||
        !c->param_of || !c->ref_x || !c->ref_y)
        return eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    return gc_chain_sparse_alloc(c);
}

/* The objective's tensors: every parameter ("<layer>.<param>"), then the input. */
static void name_tensors(eng_gc_objective *obj, chain *c, eng_layer **layers, int n,
                         bool with_input)
{
    int t = 0;
    for (int i = 0; i < n; i++) {
        for (int p = 0; p < layers[i]->nparams; p++, t++) {
            eng_gc_tensor *gt = &obj->tensors[t];
            snprintf(gt->name, sizeof gt->name, "%s.%s", eng_layer_label(layers[i]),
                     layers[i]->params[p].name);
            snprintf(gt->layer, sizeof gt->layer, "%s", eng_layer_label(layers[i]));
            gt->layer_index = i;
            gt->value = layers[i]->params[p].value;
            gt->grad = layers[i]->params[p].grad;
            c->param_of[t] = p;
        }
    }
    if (with_input) {
        eng_gc_tensor *gt = &obj->tensors[t];
        snprintf(gt->name, sizeof gt->name, "input");
        gt->layer_index = 0;
        snprintf(gt->layer, sizeof gt->layer, "%s", eng_layer_label(layers[0]));
        gt->value = c->x;
        c->param_of[t] = -1;
        t++;
    }
    obj->ntensors = t;
}

/* Whether a layer may branch without a signature to tell (written in Lua, or a plugin's without
 * one), itself or inside a container (whose signature and forward_frozen skip it). */
static bool branches_unseen(const eng_layer *l)
{
    if (l->ops->unknown_branches || (!l->ops->signature && eng_plugin_owns_ops(l->ops)))
        return true;
    for (int k = 0; k < eng_container_count(l); k++) {
        const eng_model *m = eng_container_child(l, k);
        for (int i = 0; i < m->nlayers; i++)
            if (branches_unseen(m->layers[i]))
                return true;
    }
    return false;
}

/* Builds the objective over layers[0..n) (retained), copying x and target. */
static eng_status chain_new(eng_layer **layers, int n, bool training, const eng_tensor *x,
                            const eng_tensor *target, bool with_input, eng_gc_objective **out)
{
    *out = NULL;
    if (n == 0)
        return eng_error(ENG_EARG, "gradcheck: the model has no layers");
    eng_dtype dtype = x->dtype;
    for (int i = 0; i < n; i++)
        if (layers[i]->nparams > 0)
            dtype = layers[i]->dtype;
    if (!eng_dtype_is_float(dtype))
        return eng_error(ENG_EDTYPE, "gradcheck: dtype %s (f32 or f64 expected)",
                         eng_dtype_name(dtype));
    eng_gc_objective *obj = calloc(1, sizeof *obj);
    chain *c = calloc(1, sizeof *c);
    if (!obj || !c) {
        free(obj);
        free(c);
        return eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    }
    obj->ctx = c;
    obj->destroy = chain_destroy;
    obj->loss = chain_loss;
    obj->loss_at = chain_loss_at;
    obj->gradient = chain_gradient;
    obj->dtype = dtype;
    obj->has_signatures = true;
    obj->all_branches_freeze = true;
    obj->batch = x->ndim > 0 ? x->shape[0] : 0;
    c->nlayers = n;
    c->training = training;
    c->with_input = with_input;
    int ntensors = with_input;
    for (int i = 0; i < n; i++)
        ntensors += layers[i]->nparams;
    eng_status st = chain_alloc(obj, c, n, ntensors);
    if (st)
        goto fail;
    bool freezable = false;
    for (int i = 0; i < n; i++) {
        eng_layer_retain(layers[i]);
        c->layers[i] = layers[i];
        /* one layer that may branch unseen (written in Lua, or a plugin's without a
         * signature) sends every element through the five-point test */
        bool unseen = branches_unseen(layers[i]);
        if (unseen)
            obj->has_signatures = false;
        if (layers[i]->ops->forward_frozen)
            freezable = true;
        else if (unseen || layers[i]->ops->signature) /* a container, Lua, a plugin */
            obj->all_branches_freeze = false;
        if (layers[i]->nparams > 0 && layers[i]->dtype != dtype) {
            st =
                eng_error(ENG_EDTYPE,
                          "gradcheck: layer %s is %s, others are %s (convert the model with :to())",
                          eng_layer_label(layers[i]), eng_dtype_name(layers[i]->dtype),
                          eng_dtype_name(dtype));
            goto fail;
        }
    }
    /* Layers that cannot freeze (Lua, plugins) keep their kinks, which the signatures or the
     * five-point test still catch; those that can stop contributing any. */
    if (freezable)
        obj->freeze = chain_freeze;
    st = eng_tensor_to(x, dtype, &c->x);
    if (!st && target)
        st = eng_tensor_clone(target, &c->target);
    if (st)
        goto fail;
    name_tensors(obj, c, layers, n, with_input);
    *out = obj;
    return ENG_OK;
fail:
    eng_gc_objective_release(obj);
    return st;
}

eng_status eng_gc_model_objective(eng_model *model, eng_loss *loss, const eng_tensor *x,
                                  const eng_tensor *target, bool with_input, eng_gc_objective **out)
{
    eng_status st =
        chain_new(model->layers, model->nlayers, model->training, x, target, with_input, out);
    if (st)
        return st;
    chain *c = (*out)->ctx;
    c->loss = loss;
    (*out)->localise = chain_localise;
    /* the loss of one sample alone means something only when no layer mixes samples */
    bool independent = true;
    for (int i = 0; i < model->nlayers; i++)
        independent = independent && model->layers[i]->ops->batch_independent;
    if (independent && target && target->ndim >= 1 && x->ndim >= 1 &&
        target->shape[0] == x->shape[0])
        (*out)->sample_loss_at = chain_sample_loss_at;
    double value;
    if (model->training)
        st = gc_buffers_save(model->layers, model->nlayers, &c->buffers);
    /* One forward now: shape errors surface here, with the layer named. */
    if (!st)
        st = forward_base(c, &value);
    if (st) {
        eng_gc_objective_release(*out);
        *out = NULL;
    }
    return st;
}

eng_status eng_gc_layer_objective(eng_layer *layer, const eng_tensor *x, eng_rng *rng,
                                  eng_gc_objective **out)
{
    return eng_gc_layer_objective_mode(layer, x, false, rng, out);
}

eng_status eng_gc_layer_objective_mode(eng_layer *layer, const eng_tensor *x, bool training,
                                       eng_rng *rng, eng_gc_objective **out)
{
    eng_status st = chain_new(&layer, 1, training, x, NULL, true, out);
    if (st)
        return st;
    chain *c = (*out)->ctx;
    if (training) {
        st = gc_buffers_save(&layer, 1, &c->buffers);
        if (st)
            goto fail;
    }
    projection *p = calloc(1, sizeof *p);
    if (!p) {
        st = eng_error(ENG_ENOMEM, "gradcheck: out of memory");
        goto fail;
    }
    p->base.ops = &projection_ops;
    c->loss = &p->base;
    c->owns_loss = true;
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    st = eng_layer_output_shape(layer, c->x, &ndim, shape);
    if (!st)
        st = eng_tensor_new(c->x->dtype, ndim, shape, &p->r);
    if (!st)
        st = eng_tensor_normal(p->r, rng, 0.0, 1.0);
    if (!st) {
        double value;
        st = forward_base(c, &value);
    }
    if (!st)
        return ENG_OK;
fail:
    eng_gc_objective_release(*out);
    *out = NULL;
    return st;
}
