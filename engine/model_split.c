/* Data parallelism inside one model: the batch is cut into contiguous row ranges, one per
 * thread, and each thread runs the whole forward (or backward) of its rows without meeting
 * the others: two synchronisations per training step, instead of one per layer. Inside a
 * thread, OpenBLAS runs single-threaded (eng_parallel_run holds it at one thread), so there
 * is one level of parallelism at a time. */
#include "model_split.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_container.h"
#include "model_fusion.h"
#include "parallel.h"

/* Where each thread keeps its error until the caller reports the first one. */
typedef struct split_job {
    eng_model *model;
    const eng_tensor *dy; /* backward only */
    bool want_dx;
    eng_status status[ENG_MAX_THREADS];
    char message[ENG_MAX_THREADS][512];
    int failed_layer[ENG_MAX_THREADS];
} split_job;

static eng_layer *layer_for(const eng_model *model, int t, int i)
{
    return t == 0 ? model->layers[i] : model->replicas[(size_t)(t - 1) * model->nlayers + i];
}

int eng_model_split_count(const eng_model *model, const eng_tensor *x)
{
    int threads = eng_threads();
    if (model->serial_only || x->ndim < 1 || x->shape[0] < 1 || !eng_tensor_is_contiguous(x))
        return 0;
    for (int i = 0; i < model->nlayers; i++) {
        const eng_tensor *y = model->outputs[i];
        const eng_layer_ops *ops = model->layers[i]->ops;
        if (!ops->batch_independent || !ops->clone || !y || y->ndim < 1 ||
            y->shape[0] != x->shape[0])
            return 0;
    }
    return x->shape[0] < threads ? (int)x->shape[0] : threads;
}

void eng_model_drop_replicas(eng_model *model)
{
    for (int r = 0; r < model->nreplicas * model->nlayers; r++)
        eng_layer_release(model->replicas[r]);
    free(model->replicas);
    model->replicas = NULL;
    model->nreplicas = 0;
}

/* Points the clone's parameter at the model's storage (again, if the value was replaced). */
static eng_status share_param(eng_param *clone, const eng_param *param)
{
    const eng_tensor *v = param->value, *c = clone->value;
    if (c && c->storage == v->storage && c->offset == v->offset && eng_tensor_same_shape(c, v))
        return ENG_OK;
    eng_tensor *view;
    eng_status st = eng_tensor_view(v, &view);
    if (st)
        return st;
    eng_tensor_release(clone->value);
    clone->value = view;
    if (!clone->grad || !eng_tensor_same_shape(clone->grad, v)) {
        eng_tensor_release(clone->grad);
        clone->grad = NULL;
        return eng_tensor_new_like(v, &clone->grad);
    }
    return ENG_OK;
}

/* Points every parameter of the clone (inside containers too) at the layer's storage. */
static eng_status share_params(eng_layer *clone, const eng_layer *layer)
{
    if (eng_layer_is_container(layer)) {
        bool shared = clone->nparams == layer->nparams;
        for (int p = 0; shared && p < layer->nparams; p++)
            shared = clone->params[p].value->storage == layer->params[p].value->storage;
        if (shared)
            return ENG_OK;
        for (int k = 0; k < eng_container_count(layer); k++) {
            const eng_model *m = eng_container_child(layer, k);
            const eng_model *cm = eng_container_child(clone, k);
            for (int i = 0; i < m->nlayers; i++) {
                eng_status st = share_params(cm->layers[i], m->layers[i]);
                if (st)
                    return st;
            }
        }
        return eng_container_refresh(clone);
    }
    for (int p = 0; p < layer->nparams; p++) {
        eng_status st = share_param(&clone->params[p], &layer->params[p]);
        if (st)
            return st;
    }
    return ENG_OK;
}

static eng_status ensure_replicas(eng_model *model, int nsplit)
{
    int need = nsplit - 1;
    if (model->nreplicas < need) {
        size_t count = (size_t)need * model->nlayers;
        eng_layer **grown = realloc(model->replicas, sizeof *grown * count);
        if (!grown)
            return eng_error(ENG_ENOMEM, "sequential: out of memory for %d thread(s)", nsplit);
        model->replicas = grown;
        for (int r = model->nreplicas; r < need; r++) {
            for (int i = 0; i < model->nlayers; i++) {
                eng_layer *layer = model->layers[i];
                eng_layer **slot = &grown[(size_t)r * model->nlayers + i];
                eng_status st = layer->ops->clone(layer, layer->dtype, slot);
                if (st) {
                    /* Keep the replicas complete: drop this partial one. */
                    for (int j = 0; j < i; j++)
                        eng_layer_release(grown[(size_t)r * model->nlayers + j]);
                    return eng_error_wrap(st, "cloning layer %d for thread %d", i + 1, r + 2);
                }
            }
            model->nreplicas = r + 1;
        }
    }
    for (int r = 0; r < need; r++)
        for (int i = 0; i < model->nlayers; i++) {
            eng_status st = share_params(layer_for(model, r + 1, i), model->layers[i]);
            if (st)
                return st;
        }
    return ENG_OK;
}

/* Only the statuses are cleared: a message is written where a thread fails (clearing all of
 * them cost 33 KB of stores per call, three calls per step). */
static void start_job(split_job *job, eng_model *model, const eng_tensor *dy, bool want_dx,
                      int nsplit)
{
    job->model = model;
    job->dy = dy;
    job->want_dx = want_dx;
    for (int t = 0; t < nsplit; t++)
        job->status[t] = ENG_OK;
}

static void record(split_job *job, int t, int layer, eng_status st)
{
    job->status[t] = st;
    job->failed_layer[t] = layer;
    snprintf(job->message[t], sizeof job->message[t], "%s", eng_errmsg());
}

/* Samples per pass through a stretch of sample-by-sample layers [first, end): as many as keep
 * the stretch's activations (times `copies`: 2 in backward, with the input gradients) within
 * the budget, so that each layer reads what the previous one wrote from cache. 64 KiB did best
 * of 32 KiB .. 1 MiB on the seed CNN (f32, batch 64, one thread: about 19,000 images/s against
 * 17,500 for 256 KiB and 17,000 without stretches; runs on this machine vary by 20%). */
#define STRETCH_CACHE_BYTES (64 * 1024)

/* Whether layer i may run a few samples at a time (as the conv2d it folds into, if any). */
static bool in_stretch(const eng_model *model, int i)
{
    i = eng_model_fold_owner(model, i);
    const eng_layer *layer = model->layers[i];
    const eng_tensor *x = i == 0 ? model->input : model->outputs[i - 1];
    return layer->ops->sample_by_sample &&
           !(layer->ops->prefers_many_samples && layer->ops->prefers_many_samples(layer, x));
}

static int stretch_end(const eng_model *model, int first)
{
    int end = first;
    while (end < model->nlayers && in_stretch(model, end))
        end++;
    return end;
}

static int64_t samples_per_pass(const eng_model *model, int first, int end, int copies)
{
    const eng_tensor *in = first == 0 ? model->input : model->outputs[first - 1];
    int64_t n = in->shape[0], bytes = eng_tensor_numel(in) / n * (int64_t)eng_dtype_size(in->dtype);
    for (int i = first; i < end; i++) {
        const eng_tensor *y = model->outputs[i];
        if (!model->fused[i]) /* a fused pair's inner output is not touched */
            bytes += eng_tensor_numel(y) / n * (int64_t)eng_dtype_size(y->dtype);
    }
    int64_t per = STRETCH_CACHE_BYTES / (bytes * copies);
    return per < 1 ? 1 : per;
}

/* Layer i's forward, or that of the fused pair (i, i + 1) (model_fusion.h), on the rows. */
static eng_status forward_layer(split_job *job, int t, int i, int64_t start, int64_t length)
{
    eng_model *model = job->model;
    eng_layer *layer = layer_for(model, t, i);
    int kind = model->fused[i], last = kind ? i + 1 : i;
    eng_tensor x = eng_tensor_rows(i == 0 ? model->input : model->outputs[i - 1], start, length);
    eng_tensor y = eng_tensor_rows(model->outputs[last], start, length);
    eng_status st =
        kind ? eng_fused_forward(kind, layer, layer_for(model, t, last), &x, &y, model->training)
             : layer->ops->forward(layer, &x, &y, model->training);
    if (st)
        record(job, t, last, st);
    return st;
}

/* The number of layers forward_layer(i) runs. */
static int forward_span(const eng_model *model, int i)
{
    return model->fused[i] ? 2 : 1;
}

/* The first layer of the backward step that ends at layer i (i - 1 for a fused pair, i - 2
 * for a fold: model_fusion.h). */
static int backward_first(const split_job *job, int i)
{
    return eng_model_backward_first(job->model, i, job->want_dx);
}

static void forward_rows(void *ctx, int t, int nsplit)
{
    split_job *job = ctx;
    eng_model *model = job->model;
    int64_t start, length;
    eng_parallel_share(model->input->shape[0], t, nsplit, &start, &length);
    for (int i = 0; i < model->nlayers;) {
        int end = stretch_end(model, i);
        if (end == i) {
            if (forward_layer(job, t, i, start, length))
                return;
            i += forward_span(model, i);
            continue;
        }
        int64_t per = samples_per_pass(model, i, end, 1);
        for (int64_t s = start; s < start + length; s += per) {
            int64_t m = start + length - s < per ? start + length - s : per;
            for (int k = i; k < end; k += forward_span(model, k))
                if (forward_layer(job, t, k, s, m))
                    return;
        }
        i = end;
    }
}

/* Layer i's backward, or that of the fused pair (i - 1, i), on the rows: dx [optional]
 * receives the input gradient of the step's first layer for rows [start, start + length). */
static eng_status backward_layer(split_job *job, int t, int i, int64_t start, int64_t length)
{
    eng_model *model = job->model;
    eng_layer *layer = layer_for(model, t, i);
    int first = backward_first(job, i);
    eng_tensor x =
        eng_tensor_rows(first == 0 ? model->input : model->outputs[first - 1], start, length);
    eng_tensor y = eng_tensor_rows(model->outputs[i], start, length);
    eng_tensor dy =
        eng_tensor_rows(i == model->nlayers - 1 ? job->dy : model->dinputs[i + 1], start, length);
    eng_tensor dx;
    bool has_dx = first > 0 || job->want_dx;
    if (has_dx)
        dx = eng_tensor_rows(model->dinputs[first], start, length);
    eng_status st;
    if (first < i - 1) { /* the pair (i - 1, i) folded into layer first's backward */
        eng_tensor xr = eng_tensor_rows(model->outputs[first], start, length);
        st = eng_folded_backward(layer_for(model, t, first), layer, &x, &xr, &y, &dy,
                                 has_dx ? &dx : NULL);
    } else if (first < i)
        st = eng_fused_backward(model->fused[first], layer_for(model, t, first), layer, &x, &y, &dy,
                                has_dx ? &dx : NULL);
    else
        st = layer->ops->backward(layer, &x, &y, &dy, has_dx ? &dx : NULL);
    if (st)
        record(job, t, i, st);
    return st;
}

static void backward_rows(void *ctx, int t, int nsplit)
{
    split_job *job = ctx;
    eng_model *model = job->model;
    int64_t start, length;
    eng_parallel_share(model->input->shape[0], t, nsplit, &start, &length);
    if (t > 0)
        for (int i = 0; i < model->nlayers; i++)
            eng_layer_zero_grad(layer_for(model, t, i));
    for (int i = model->nlayers - 1; i >= 0;) {
        /* the stretch of sample-by-sample layers ending at i */
        if (!in_stretch(model, i)) {
            if (backward_layer(job, t, i, start, length))
                return;
            i = backward_first(job, i) - 1;
            continue;
        }
        int first = i;
        while (first > 0 && in_stretch(model, first - 1))
            first--;
        int64_t per = samples_per_pass(model, first, i + 1, 2);
        for (int64_t s = start; s < start + length; s += per) {
            int64_t m = start + length - s < per ? start + length - s : per;
            for (int k = i; k >= first; k = backward_first(job, k) - 1)
                if (backward_layer(job, t, k, s, m))
                    return;
        }
        i = first - 1;
    }
}

/* model.grad += the clones' gradients, each thread taking its share of every tensor's
 * elements. */
static void reduce_grads(void *ctx, int t, int nsplit)
{
    const eng_model *model = ((split_job *)ctx)->model;
    for (int i = 0; i < model->nlayers; i++) {
        const eng_layer *layer = model->layers[i];
        for (int p = 0; p < layer->nparams; p++) {
            eng_tensor *g = layer->params[p].grad;
            int64_t start, length;
            eng_parallel_share(eng_tensor_numel(g), t, nsplit, &start, &length);
            for (int r = 1; r < nsplit; r++) {
                const eng_tensor *c = layer_for(model, r, i)->params[p].grad;
                if (g->dtype == ENG_F32) {
                    float *dst = ENG_F32_DATA(g) + start;
                    const float *src = ENG_F32_DATA(c) + start;
                    for (int64_t k = 0; k < length; k++)
                        dst[k] += src[k];
                } else {
                    double *dst = ENG_F64_DATA(g) + start;
                    const double *src = ENG_F64_DATA(c) + start;
                    for (int64_t k = 0; k < length; k++)
                        dst[k] += src[k];
                }
            }
        }
    }
}

static eng_status first_failure(const eng_model *model, const split_job *job, int nsplit)
{
    for (int t = 0; t < nsplit; t++)
        if (job->status[t])
            return eng_error(job->status[t], "layer %d of %d: %s", job->failed_layer[t] + 1,
                             model->nlayers, job->message[t]);
    return ENG_OK;
}

eng_status eng_model_forward_split(eng_model *model, int nsplit)
{
    eng_status st = ensure_replicas(model, nsplit);
    if (st)
        return st;
    split_job job;
    start_job(&job, model, NULL, false, nsplit);
    eng_parallel_run(nsplit, forward_rows, &job);
    return first_failure(model, &job, nsplit);
}

eng_status eng_model_backward_split(eng_model *model, const eng_tensor *dy, bool want_dx)
{
    /* the clones are those the forward made and bound */
    int nsplit = model->split;
    split_job job;
    start_job(&job, model, dy, want_dx, nsplit);
    eng_parallel_run(nsplit, backward_rows, &job);
    eng_status st = first_failure(model, &job, nsplit);
    if (!st && nsplit > 1)
        eng_parallel_run(nsplit, reduce_grads, &job);
    return st;
}
