/* Data parallelism inside one model: the batch is cut into contiguous row ranges, one per
 * thread, and each thread runs the whole forward (or backward) of its rows without meeting
 * the others: two synchronisations per training step, instead of one per layer. Inside a
 * thread, OpenBLAS runs single-threaded (eng_parallel_run holds it at one thread), so there
 * is one level of parallelism at a time. */
#include "model_split.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void row_range(int64_t n, int t, int nsplit, int64_t *start, int64_t *length)
{
    *start = n * t / nsplit;
    *length = n * (t + 1) / nsplit - *start;
}

int eng_model_split_count(const eng_model *model, const eng_tensor *x)
{
    int threads = eng_threads();
    if (threads <= 1 || x->ndim < 1 || x->shape[0] < 2 || !eng_tensor_is_contiguous(x))
        return 1;
    for (int i = 0; i < model->nlayers; i++) {
        const eng_tensor *y = model->outputs[i];
        const eng_layer_ops *ops = model->layers[i]->ops;
        if (!ops->batch_independent || !ops->clone || !y || y->ndim < 1 ||
            y->shape[0] != x->shape[0])
            return 1;
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
                eng_layer *layer = model->layers[i], **slot = &grown[(size_t)r * model->nlayers + i];
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
            eng_layer *layer = model->layers[i], *clone = layer_for(model, r + 1, i);
            for (int p = 0; p < layer->nparams; p++) {
                eng_status st = share_param(&clone->params[p], &layer->params[p]);
                if (st)
                    return st;
            }
        }
    return ENG_OK;
}

static void record(split_job *job, int t, int layer, eng_status st)
{
    job->status[t] = st;
    job->failed_layer[t] = layer;
    snprintf(job->message[t], sizeof job->message[t], "%s", eng_errmsg());
}

static void forward_rows(void *ctx, int t, int nsplit)
{
    split_job *job = ctx;
    eng_model *model = job->model;
    int64_t start, length;
    row_range(model->input->shape[0], t, nsplit, &start, &length);
    eng_tensor x = eng_tensor_rows(model->input, start, length);
    for (int i = 0; i < model->nlayers; i++) {
        eng_layer *layer = layer_for(model, t, i);
        eng_tensor y = eng_tensor_rows(model->outputs[i], start, length);
        eng_status st = layer->ops->forward(layer, &x, &y, model->training);
        if (st) {
            record(job, t, i, st);
            return;
        }
        x = y;
    }
}

static void backward_rows(void *ctx, int t, int nsplit)
{
    split_job *job = ctx;
    eng_model *model = job->model;
    int64_t start, length;
    row_range(model->input->shape[0], t, nsplit, &start, &length);
    if (t > 0)
        for (int i = 0; i < model->nlayers; i++)
            eng_layer_zero_grad(layer_for(model, t, i));
    eng_tensor grad = eng_tensor_rows(job->dy, start, length);
    for (int i = model->nlayers - 1; i >= 0; i--) {
        eng_layer *layer = layer_for(model, t, i);
        eng_tensor x = eng_tensor_rows(i == 0 ? model->input : model->outputs[i - 1], start,
                                       length);
        eng_tensor y = eng_tensor_rows(model->outputs[i], start, length);
        eng_tensor dx;
        bool has_dx = i > 0 || job->want_dx;
        if (has_dx)
            dx = eng_tensor_rows(model->dinputs[i], start, length);
        eng_status st = layer->ops->backward(layer, &x, &y, &grad, has_dx ? &dx : NULL);
        if (st) {
            record(job, t, i, st);
            return;
        }
        grad = dx;
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
            row_range(eng_tensor_numel(g), t, nsplit, &start, &length);
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
    split_job job = {.model = model};
    eng_parallel_run(nsplit, forward_rows, &job);
    return first_failure(model, &job, nsplit);
}

eng_status eng_model_backward_split(eng_model *model, const eng_tensor *dy, bool want_dx)
{
    int nsplit = model->split;
    eng_status st = ensure_replicas(model, nsplit);
    if (st)
        return st;
    split_job job = {.model = model, .dy = dy, .want_dx = want_dx};
    eng_parallel_run(nsplit, backward_rows, &job);
    st = first_failure(model, &job, nsplit);
    if (!st)
        eng_parallel_run(nsplit, reduce_grads, &job);
    return st;
}
