/* Containers seen from inside, for the layer-wise check and localisation: when a container
 * (residual, concat, sequential) fails alone, its layers are checked alone too, each on the
 * input it really receives, so that the verdict names the innermost layer whose backward is
 * wrong. A layer inside is named by its path, as its parameters are: "residual_1.linear_1",
 * "residual_1.shortcut.conv2d_1", "concat_1.branch_2.relu_1". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model_container.h"
#include "check_internal.h"

void gc_inner_free(gc_inner *in)
{
    for (int j = 0; j < in->n; j++)
        eng_tensor_release(in->inputs[j]);
    free(in->layers);
    free(in->inputs);
    free(in->paths);
    memset(in, 0, sizeof *in);
}

static int count_inside(const eng_layer *container)
{
    int n = 0;
    for (int k = 0; k < eng_container_count(container); k++)
        n += eng_container_child(container, k)->nlayers;
    return n;
}

/* Copies the inputs the layers of the children received in the container's last forward. */
static eng_status take_inputs(eng_layer *container, const char *path, const eng_tensor *x,
                              gc_inner *in)
{
    for (int k = 0; k < eng_container_count(container); k++) {
        const eng_model *m = eng_container_child(container, k);
        const char *child = eng_container_child_name(container, k);
        for (int i = 0; i < m->nlayers; i++, in->n++) {
            in->layers[in->n] = m->layers[i];
            snprintf(in->paths[in->n], ENG_NAME_MAX, "%.40s%s%.20s.%s", path, child[0] ? "." : "",
                     child, eng_layer_label(m->layers[i]));
            eng_status st = eng_tensor_clone(i == 0 ? x : m->outputs[i - 1], &in->inputs[in->n]);
            if (st)
                return st;
        }
    }
    return ENG_OK;
}

eng_status gc_inner_collect(eng_layer *container, const char *path, const eng_tensor *x,
                            bool training, gc_inner *in)
{
    memset(in, 0, sizeof *in);
    int n = count_inside(container), ndim;
    in->layers = calloc((size_t)n + 1, sizeof *in->layers);
    in->inputs = calloc((size_t)n + 1, sizeof *in->inputs);
    in->paths = calloc((size_t)n + 1, sizeof *in->paths);
    if (!in->layers || !in->inputs || !in->paths) {
        gc_inner_free(in);
        return eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    }
    /* one forward on the real input: the children's outputs are then the inputs inside (the
     * checker's calls into a container run unfused, so every output is written) */
    int64_t shape[ENG_MAX_DIMS];
    eng_tensor *y = NULL;
    eng_status st = eng_layer_output_shape(container, x, &ndim, shape);
    if (!st)
        st = eng_tensor_new(x->dtype, ndim, shape, &y);
    if (!st)
        st = container->ops->forward(container, x, y, training);
    if (!st)
        st = take_inputs(container, path, x, in);
    eng_tensor_release(y);
    if (st) {
        gc_inner_free(in);
        return eng_error_wrap(st, "gradcheck: inside %s", path);
    }
    return ENG_OK;
}

eng_status gc_inner_objective(eng_layer *layer, const char *path, const eng_tensor *x,
                              bool training, eng_rng *rng, eng_gc_objective **out)
{
    eng_status st = eng_gc_layer_objective_mode(layer, x, training, rng, out);
    if (st)
        return st;
    (*out)->batch = x->ndim ? x->shape[0] : 0;
    /* "linear_1.weight" -> "residual_1.linear_1.weight", the name the model gives it */
    const char *label = eng_layer_label(layer);
    size_t n = strlen(label);
    for (int t = 0; t < (*out)->ntensors; t++) {
        eng_gc_tensor *gt = &(*out)->tensors[t];
        if (strncmp(gt->name, label, n) == 0 && gt->name[n] == '.') {
            char rest[sizeof gt->name];
            snprintf(rest, sizeof rest, "%s", gt->name + n + 1);
            snprintf(gt->name, sizeof gt->name, "%.63s.%.63s", path, rest);
        }
        snprintf(gt->layer, sizeof gt->layer, "%s", path);
    }
    return ENG_OK;
}

/* The layer of layers[0..n) at path (a label, or a container's label and a path inside). */
eng_layer *gc_layer_at_path(eng_layer *const *layers, int n, const char *path)
{
    for (int i = 0; i < n; i++) {
        const char *label = eng_layer_label(layers[i]);
        size_t len = strlen(label);
        if (strncmp(path, label, len) != 0)
            continue;
        if (path[len] == '\0')
            return layers[i];
        if (path[len] != '.' || !eng_layer_is_container(layers[i]))
            continue;
        const char *rest = path + len + 1;
        for (int k = 0; k < eng_container_count(layers[i]); k++) {
            const char *child = eng_container_child_name(layers[i], k);
            size_t c = strlen(child);
            const char *inside = rest;
            if (c && (strncmp(rest, child, c) != 0 || rest[c] != '.'))
                continue;
            if (c)
                inside = rest + c + 1;
            const eng_model *m = eng_container_child(layers[i], k);
            eng_layer *found = gc_layer_at_path(m->layers, m->nlayers, inside);
            if (found)
                return found;
        }
    }
    return NULL;
}
