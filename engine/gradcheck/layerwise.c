/* Layer-wise mode: every layer checked alone, on the input it really receives from the batch,
 * against a random upstream gradient, so that a failure is pinned on one layer even when it
 * would spread to every tensor below it in a whole-model check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model_container.h"
#include "check_internal.h"

static eng_status append_report(eng_gc_report *all, eng_gc_report *one, const char *layer)
{
    eng_gc_tensor_report *grown =
        realloc(all->tensors, sizeof *grown * (size_t)(all->ntensors + one->ntensors + 1));
    if (!grown)
        return eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    all->tensors = grown;
    for (int i = 0; i < one->ntensors; i++) {
        eng_gc_tensor_report *r = &all->tensors[all->ntensors++];
        *r = one->tensors[i];
        one->tensors[i].worst = NULL; /* moved */
        if (strcmp(r->name, "input") == 0)
            snprintf(r->name, sizeof r->name, "%s.input", layer);
    }
    all->evaluations += one->evaluations;
    if (one->nondeterministic && !all->nondeterministic) {
        all->nondeterministic = true;
        snprintf(all->warning, sizeof all->warning, "layer %.40s: %.200s", layer, one->warning);
    }
    return ENG_OK;
}

/* One layer alone (at path: its label, or its path inside a container, layer i of the model)
 * on its copied real input, in the model's mode, into all; a container that fails is looked
 * into, each layer inside checked alone in turn on the input it really receives. */
static eng_status check_one_layer(eng_layer *layer, const char *path, int i, uint64_t seed,
                                  const eng_tensor *input, bool training, const eng_gc_options *o,
                                  eng_gc_report *all)
{
    eng_rng rng;
    eng_rng_seed(&rng, seed);
    eng_gc_objective *obj = NULL;
    eng_gc_report *one = NULL;
    eng_status st = gc_inner_objective(layer, path, input, training, &rng, &obj);
    if (!st)
        st = eng_gc_check(obj, o, &one);
    bool failed = false;
    if (!st) {
        for (int k = 0; k < one->ntensors; k++) {
            one->tensors[k].layer_index = i;
            failed |= one->tensors[k].verdict == ENG_GC_FAIL;
        }
        st = append_report(all, one, path);
        all->seconds += one->seconds;
        if (!all->loss_noise || one->loss_noise > all->loss_noise)
            all->loss_noise = one->loss_noise;
    }
    eng_gc_report_free(one);
    eng_gc_objective_release(obj);
    if (st || !failed || !eng_layer_is_container(layer))
        return st;
    gc_inner in;
    st = gc_inner_collect(layer, path, input, training, &in);
    if (st)
        return st;
    for (int j = 0; !st && j < in.n; j++)
        st = check_one_layer(in.layers[j], in.paths[j], i, seed + 7919u * (uint64_t)(j + 1),
                             in.inputs[j], training, o, all);
    gc_inner_free(&in);
    return st;
}

static eng_status check_layer(eng_model *model, int i, const eng_tensor *input,
                              const eng_gc_options *o, eng_gc_report *all)
{
    eng_layer *layer = model->layers[i];
    eng_status st =
        check_one_layer(layer, eng_layer_label(layer), i, o->seed + 1000003u * (uint64_t)(i + 1),
                        input, model->training, o, all);
    if (st)
        st = eng_error_wrap(st, "layer-wise check of layer %d (%s)", i + 1, eng_layer_label(layer));
    return st;
}

/* The failing tensor that names the culprit: the first, or one of a layer inside its layer
 * (a container's), the innermost. */
static const eng_gc_tensor_report *culprit_tensor(const eng_gc_report *all)
{
    const eng_gc_tensor_report *best = NULL;
    for (int i = 0; i < all->ntensors; i++) {
        const eng_gc_tensor_report *r = &all->tensors[i];
        if (r->verdict != ENG_GC_FAIL)
            continue;
        size_t n = best ? strlen(best->layer) : 0;
        if (!best || (strncmp(r->layer, best->layer, n) == 0 && r->layer[n] == '.'))
            best = r;
    }
    return best;
}

/* The verdict over the layers, the first failing tensor (its layer named as the culprit, with
 * what is wrong) and the summary with the coverage. */
static void summarise_layers(const eng_model *model, eng_gc_report *all, bool sampled)
{
    for (int i = 0; i < all->ntensors; i++) {
        eng_gc_tensor_report *r = &all->tensors[i];
        if (r->verdict == ENG_GC_FAIL && all->verdict != ENG_GC_FAIL) {
            all->verdict = ENG_GC_FAIL;
            snprintf(all->first_failing, sizeof all->first_failing, "%s", r->name);
        } else if (r->verdict == ENG_GC_INCONCLUSIVE && all->verdict == ENG_GC_PASS) {
            all->verdict = ENG_GC_INCONCLUSIVE;
        }
    }
    const eng_gc_tensor_report *r = culprit_tensor(all);
    if (r) {
        const eng_layer *layer = gc_layer_at_path(model->layers, model->nlayers, r->layer);
        if (!layer)
            layer = model->layers[r->layer_index];
        gc_describe_culprit(all, r->layer, layer->ops->kind, r, layer->nparams == 0);
        snprintf(all->summary, sizeof all->summary,
                 "layer-wise: the first failing layer is %.63s (layer %d): %.300s", all->culprit,
                 r->layer_index + 1, all->localisation);
    }
    int64_t checked = 0, total = 0;
    for (int i = 0; i < all->ntensors; i++) {
        int64_t n = 1;
        for (int d = 0; d < all->tensors[i].ndim; d++)
            n *= all->tensors[i].shape[d];
        checked += all->tensors[i].checked;
        total += n;
    }
    all->elements_checked = checked;
    all->elements_total = total;
    if (sampled && !all->summary[0])
        snprintf(all->summary, sizeof all->summary,
                 "layer-wise: every layer passes alone on its real input; sampled %d elements per "
                 "tensor (stratified), %lld of %lld in all (%.1f%%); full = true checks every "
                 "element",
                 GC_LAYER_SAMPLES, (long long)checked, (long long)total,
                 total ? 100.0 * (double)checked / (double)total : 100.0);
    all->ok = all->verdict == ENG_GC_PASS;
}

eng_status eng_gc_check_layers(eng_model *model, const eng_tensor *x, const eng_gc_options *opts,
                               eng_gc_report **out)
{
    *out = NULL;
    /* a training-mode forward updates running statistics: the check puts them back */
    gc_saved_buffers saved;
    eng_status st = gc_buffers_save(model->layers, model->nlayers, &saved);
    const eng_tensor *y;
    /* every layer's output is read below: no pair of layers may run fused (model_fusion.c) */
    bool fusion_off = model->fusion_off;
    model->fusion_off = true;
    if (!st)
        st = eng_model_forward(model, x, &y);
    model->fusion_off = fusion_off;
    eng_gc_report *all = st ? NULL : calloc(1, sizeof *all);
    /* Inputs are copied first: checking a layer must not see buffers the model reuses. */
    eng_tensor **inputs = st ? NULL : calloc((size_t)model->nlayers, sizeof *inputs);
    if (!st && (!all || !inputs))
        st = eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    for (int i = 0; i < model->nlayers && !st; i++)
        st = eng_tensor_clone(i == 0 ? model->input : model->outputs[i - 1], &inputs[i]);
    eng_gc_options o = opts ? *opts : (eng_gc_options){0};
    /* Sampled by default (stratified: every row or channel while they fit), with the coverage
     * stated; opts->full checks every element. */
    bool sampled = o.samples == 0 && !o.full;
    if (sampled)
        o.samples = GC_LAYER_SAMPLES;
    if (all) {
        all->dtype = eng_model_dtype(model);
        all->mode = "layer-wise";
        all->verdict = ENG_GC_PASS;
    }
    for (int i = 0; i < model->nlayers && !st; i++)
        st = check_layer(model, i, inputs[i], &o, all);
    for (int i = 0; inputs && i < model->nlayers; i++)
        eng_tensor_release(inputs[i]);
    free(inputs);
    eng_status restored = gc_buffers_restore(&saved);
    if (!st)
        st = restored;
    if (st) {
        eng_gc_report_free(all);
        return st;
    }
    summarise_layers(model, all, sampled);
    *out = all;
    return ENG_OK;
}
