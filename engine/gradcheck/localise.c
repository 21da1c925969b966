/* Localisation: when a whole-model check FAILs, the failing tensors are only evidence. A wrong
 * input gradient in layer k corrupts every parameter gradient below k, so the culprit sits at
 * or above the deepest failing tensor's layer, or in the loss. Each suspect is checked alone on
 * the input it really receives (taken from the objective's cached forward: the prefix is never
 * recomputed), with sampled elements, and the report names the layer whose backward is wrong,
 * parameter-free layers and input gradients included. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model_container.h"
#include "check_internal.h"

/* ---- the loss alone: its input (the logits) is the tensor under check ---- */

typedef struct loss_alone {
    eng_loss *loss;
    eng_tensor *input, *target, *dinput;
} loss_alone;

static eng_status la_loss(eng_gc_objective *obj, double *value)
{
    loss_alone *la = obj->ctx;
    return eng_loss_forward(la->loss, la->input, la->target, value);
}

static eng_status la_loss_at(eng_gc_objective *obj, int t, int64_t index, double delta,
                             double *value, uint64_t *signature)
{
    (void)t;
    loss_alone *la = obj->ctx;
    double old = eng_tensor_get_flat(la->input, index);
    eng_tensor_set_flat(la->input, index, old + delta);
    eng_status st = eng_loss_forward(la->loss, la->input, la->target, value);
    eng_tensor_set_flat(la->input, index, old);
    if (signature)
        *signature = 0;
    return st;
}

static eng_status la_gradient(eng_gc_objective *obj)
{
    loss_alone *la = obj->ctx;
    return eng_loss_backward(la->loss, la->input, la->target, la->dinput);
}

static void la_destroy(eng_gc_objective *obj)
{
    loss_alone *la = obj->ctx;
    if (!la)
        return;
    eng_tensor_release(la->input);
    eng_tensor_release(la->target);
    eng_tensor_release(la->dinput);
    free(la);
}

static eng_status loss_objective(eng_loss *loss, const eng_tensor *input, const eng_tensor *target,
                                 eng_gc_objective **out)
{
    *out = NULL;
    eng_gc_objective *obj = calloc(1, sizeof *obj);
    loss_alone *la = calloc(1, sizeof *la);
    eng_gc_tensor *gt = calloc(1, sizeof *gt);
    if (!obj || !la || !gt) {
        free(obj);
        free(la);
        free(gt);
        return eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    }
    obj->ctx = la;
    obj->tensors = gt;
    obj->destroy = la_destroy;
    la->loss = loss;
    eng_status st = eng_tensor_clone(input, &la->input);
    if (!st && target)
        st = eng_tensor_clone(target, &la->target);
    if (!st)
        st = eng_tensor_new(input->dtype, input->ndim, input->shape, &la->dinput);
    if (st) {
        eng_gc_objective_release(obj);
        return st;
    }
    snprintf(gt->name, sizeof gt->name, "input");
    snprintf(gt->layer, sizeof gt->layer, "loss");
    gt->layer_index = -1;
    gt->value = la->input;
    gt->grad = la->dinput;
    obj->ntensors = 1;
    obj->dtype = input->dtype;
    obj->loss = la_loss;
    obj->loss_at = la_loss_at;
    obj->gradient = la_gradient;
    obj->has_signatures = true; /* the built-in losses are smooth */
    obj->all_branches_freeze = true;
    obj->batch = input->ndim ? input->shape[0] : 0;
    *out = obj;
    return ENG_OK;
}

/* What is wrong with a parameter-free kind's input gradient, from its failing elements:
 * with branches frozen, a masked-out input has numerical derivative exactly 0. */
static const char *input_gradient_fault(const char *kind, const eng_gc_tensor_report *r)
{
    int64_t masked_nonzero = 0, failed = 0;
    for (int k = 0; k < r->nworst; k++) {
        const eng_gc_element *e = &r->worst[k];
        if (e->verdict != ENG_GC_FAIL)
            continue;
        failed++;
        masked_nonzero += e->numerical == 0 && e->analytic != 0;
    }
    bool relu = strcmp(kind, "relu") == 0 || strcmp(kind, "leaky_relu") == 0;
    if (relu && failed && masked_nonzero == failed)
        return "input gradient ignores the mask (passes the gradient where the input is <= 0)";
    if (strcmp(kind, "maxpool2d") == 0 && masked_nonzero > 0)
        return "input gradient routes to an element that is not the window's maximum";
    return NULL;
}

void gc_describe_culprit(eng_gc_report *report, const char *layer, const char *kind,
                         const eng_gc_tensor_report *r, bool param_free)
{
    const char *dot = strrchr(r->name, '.');
    bool is_input = strcmp(r->name, "input") == 0 || (dot && strcmp(dot, ".input") == 0);
    const char *fault = is_input ? input_gradient_fault(kind, r) : NULL;
    char what[400];
    if (fault)
        snprintf(what, sizeof what, "%s", fault);
    else if (is_input)
        snprintf(what, sizeof what, "input gradient wrong%s%.250s", r->diagnosis[0] ? ": " : "",
                 r->diagnosis);
    else
        snprintf(what, sizeof what, "%.20s gradient wrong%s%.250s", dot ? dot + 1 : r->name,
                 r->diagnosis[0] ? ": " : "", r->diagnosis);
    snprintf(report->culprit, sizeof report->culprit, "%s", layer);
    /* the tensor's name in the layer: "weight", or "conv2d_1.weight" inside a container */
    size_t n = strlen(layer);
    const char *param = strncmp(r->name, layer, n) == 0 && r->name[n] == '.' ? r->name + n + 1
                        : dot                                                ? dot + 1
                                                                             : r->name;
    snprintf(report->culprit_tensor, sizeof report->culprit_tensor, "%.60s.%.60s", layer,
             is_input ? "input" : param);
    snprintf(report->localisation, sizeof report->localisation, "%.60s%s: %s", layer,
             param_free ? " (no parameters)" : "", what);
}

/* Moves the tensors of one into all (names prefixed by the layer), keeping the pointer to the
 * failing one in *failing when there is none yet. */
static eng_status absorb(eng_gc_report *all, eng_gc_report *one, const char *layer)
{
    eng_gc_tensor_report *grown =
        realloc(all->tensors, sizeof *grown * (size_t)(all->ntensors + one->ntensors + 1));
    if (!grown)
        return eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    all->tensors = grown;
    for (int i = 0; i < one->ntensors; i++) {
        eng_gc_tensor_report *r = &all->tensors[all->ntensors++];
        *r = one->tensors[i];
        one->tensors[i].worst = NULL;
        if (strcmp(r->name, "input") == 0)
            snprintf(r->name, sizeof r->name, "%.60s.input", layer);
        if (r->verdict == ENG_GC_FAIL && all->verdict != ENG_GC_FAIL) {
            all->verdict = ENG_GC_FAIL;
            snprintf(all->first_failing, sizeof all->first_failing, "%s", r->name);
        }
    }
    all->evaluations += one->evaluations;
    all->seconds += one->seconds;
    return ENG_OK;
}

/* Takes one suspect's own check into all, naming the culprit after its first failing tensor
 * when none is named yet. */
static eng_status take(eng_gc_report *one, eng_gc_report *all, const char *name, const char *kind,
                       bool param_free, eng_gc_report *report)
{
    for (int k = 0; k < one->ntensors && !report->culprit[0]; k++)
        if (one->tensors[k].verdict == ENG_GC_FAIL)
            gc_describe_culprit(report, name, kind, &one->tensors[k], param_free);
    eng_status st = absorb(all, one, name);
    eng_gc_report_free(one);
    return st;
}

static eng_status check_one(eng_gc_objective *obj, const eng_gc_options *opts, eng_gc_report *all,
                            const char *name, const char *kind, bool param_free,
                            eng_gc_report *report)
{
    eng_gc_report *one = NULL;
    eng_status st = eng_gc_check(obj, opts, &one);
    if (st)
        return st;
    return take(one, all, name, kind, param_free, report);
}

/* The whole-model report's failing parameter tensors of layer i, as an `only` list. */
static void failing_params(const eng_gc_report *report, int i, char *list, size_t size)
{
    size_t used = 0;
    list[0] = '\0';
    for (int k = 0; k < report->ntensors; k++) {
        const eng_gc_tensor_report *r = &report->tensors[k];
        if (r->verdict != ENG_GC_FAIL || r->layer_index != i || strcmp(r->name, "input") == 0)
            continue;
        size_t len = strlen(r->name);
        if (used + len + 2 >= size)
            break;
        used += (size_t)snprintf(list + used, size - used, "%s%s", used ? "," : "", r->name);
    }
}

/* The deepest layer with a failing tensor: its failing parameter tensors are checked on the
 * sample first, and whole only when the sample passes them (a fault in one element must not
 * slip through); its other tensors (the input above all, the costly one) on the sample. */
static eng_status check_deepest(eng_gc_objective *obj, const eng_gc_options *o, const char *failing,
                                eng_gc_report *all, const char *name, const char *kind,
                                eng_gc_report *report)
{
    eng_gc_options of = *o;
    of.only = failing;
    eng_gc_report *one = NULL;
    eng_status st = eng_gc_check(obj, &of, &one);
    if (st)
        return st;
    bool failed = false;
    for (int k = 0; k < one->ntensors; k++)
        failed |= one->tensors[k].verdict == ENG_GC_FAIL;
    if (!failed) {
        eng_gc_report_free(one);
        one = NULL;
        of.samples = 0;
        st = eng_gc_check(obj, &of, &one);
        if (st)
            return st;
    }
    st = take(one, all, name, kind, false, report);
    if (st)
        return st;
    eng_gc_options oe = *o;
    oe.exclude = failing;
    return check_one(obj, &oe, all, name, kind, false, report);
}

/* A container that failed alone: the layers inside are checked alone on the inputs they really
 * receive (one inside that fails too, in turn), and the innermost failing one is named; the
 * container stays the culprit when every layer inside passes (its own sum or join is wrong). */
static eng_status descend(eng_layer *container, const char *path, uint64_t seed, bool training,
                          const eng_tensor *input, const eng_gc_options *o, eng_gc_report *all,
                          eng_gc_report *report)
{
    gc_inner in;
    eng_status st = gc_inner_collect(container, path, input, training, &in);
    if (st)
        return st;
    char culprit[sizeof report->culprit], tensor[sizeof report->culprit_tensor];
    char where[sizeof report->localisation];
    memcpy(culprit, report->culprit, sizeof culprit);
    memcpy(tensor, report->culprit_tensor, sizeof tensor);
    memcpy(where, report->localisation, sizeof where);
    report->culprit[0] = '\0';
    for (int j = in.n - 1; !st && j >= 0; j--) {
        eng_layer *l = in.layers[j];
        eng_rng rng;
        uint64_t inner_seed = seed + 7919u * (uint64_t)(j + 1);
        eng_rng_seed(&rng, inner_seed);
        eng_gc_objective *obj = NULL;
        bool named = report->culprit[0] != '\0';
        st = gc_inner_objective(l, in.paths[j], in.inputs[j], training, &rng, &obj);
        if (!st)
            st = check_one(obj, o, all, in.paths[j], l->ops->kind, l->nparams == 0, report);
        eng_gc_objective_release(obj);
        if (!st && !named && report->culprit[0] && eng_layer_is_container(l))
            st = descend(l, in.paths[j], inner_seed, training, in.inputs[j], o, all, report);
    }
    if (!report->culprit[0]) {
        memcpy(report->culprit, culprit, sizeof culprit);
        memcpy(report->culprit_tensor, tensor, sizeof tensor);
        memcpy(report->localisation, where, sizeof where);
    }
    gc_inner_free(&in);
    return st;
}

/* Layer i alone on the input it really receives, with a fixed random projection. */
static eng_status check_suspect(eng_layer *layer, int i, bool training, const eng_tensor *input,
                                const eng_gc_options *o, const eng_gc_report *whole,
                                eng_gc_report *all, eng_gc_report *report)
{
    eng_rng rng;
    uint64_t seed = o->seed + 1000003u * (uint64_t)(i + 1);
    eng_rng_seed(&rng, seed);
    eng_gc_objective *obj = NULL;
    eng_status st = eng_gc_layer_objective_mode(layer, input, training, &rng, &obj);
    if (st)
        return st;
    obj->batch = input->ndim ? input->shape[0] : 0;
    char failing[512];
    failing_params(whole, i, failing, sizeof failing);
    const char *label = eng_layer_label(layer), *kind = layer->ops->kind;
    bool named = report->culprit[0] != '\0';
    if (failing[0])
        st = check_deepest(obj, o, failing, all, label, kind, report);
    else
        st = check_one(obj, o, all, label, kind, layer->nparams == 0, report);
    eng_gc_objective_release(obj);
    /* a container named: the culprit is looked for inside it */
    if (!st && !named && report->culprit[0] && eng_layer_is_container(layer))
        st = descend(layer, label, seed, training, input, o, all, report);
    return st;
}

eng_status gc_localise(eng_layer **layers, int nlayers, bool training,
                       const eng_tensor *const *inputs, eng_loss *loss, const eng_tensor *target,
                       int from, const eng_gc_options *opts_in, eng_gc_report *report)
{
    eng_gc_options o = opts_in ? *opts_in : (eng_gc_options){0};
    o.only = NULL;
    o.exclude = NULL;
    if (o.samples <= 0)
        o.samples = GC_LAYER_SAMPLES;
    eng_gc_report *all = calloc(1, sizeof *all);
    if (!all)
        return eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    all->mode = "layer-wise (localisation)";
    all->dtype = report->dtype;
    all->verdict = ENG_GC_PASS;
    eng_status st = ENG_OK;
    /* the loss first: a wrong loss backward makes every layer look wrong */
    if (loss && target) {
        eng_gc_objective *obj = NULL;
        st = loss_objective(loss, inputs[nlayers], target, &obj);
        if (!st)
            st = check_one(obj, &o, all, "loss", loss->ops->kind, true, report);
        eng_gc_objective_release(obj);
    }
    for (int i = nlayers - 1; !st && i >= (from > 0 ? from : 0); i--)
        st = check_suspect(layers[i], i, training, inputs[i], &o, report, all, report);
    if (st) {
        eng_gc_report_free(all);
        return st;
    }
    all->ok = all->verdict == ENG_GC_PASS;
    report->localised = all;
    return ENG_OK;
}
