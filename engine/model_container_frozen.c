/* The containers' forward_frozen (layer.h): the gradient checker's kink-free evaluation reaches
 * the layers inside. Each layer inside that can freeze runs its own forward_frozen against its
 * own reference input and output, the values it had in a forward of the container at x_ref;
 * the others (smooth) run their forward, in the mode of the container's last forward. The
 * references are taken by one forward at x_ref and kept while the container's reference
 * (x_ref, y_ref) keeps its values: the checker passes one reference for many evaluations,
 * the first at the reference point itself (gc_freeze), and y_ref tells when the parameters
 * inside have moved since (a new reference with the same input). Like forward, it leaves the
 * children's outputs those of this evaluation, so a backward after it follows it. */
#include <stdlib.h>
#include <string.h>

#include "model_container_impl.h"

void container_frozen_release(container *c)
{
    for (int k = 0; k < c->nchildren; k++) {
        for (int i = 0; c->refs[k] && i < c->children[k]->nlayers; i++)
            eng_tensor_release(c->refs[k][i]);
        free(c->refs[k]);
        c->refs[k] = NULL;
    }
    eng_tensor_release(c->ref_x);
    eng_tensor_release(c->ref_y);
    c->ref_x = c->ref_y = NULL;
}

static bool same_values(const eng_tensor *a, const eng_tensor *b)
{
    return a && a->dtype == b->dtype && eng_tensor_same_shape(a, b) &&
           eng_tensor_is_contiguous(a) && eng_tensor_is_contiguous(b) &&
           memcmp(eng_tensor_data(a), eng_tensor_data(b),
                  (size_t)eng_tensor_numel(a) * eng_dtype_size(a->dtype)) == 0;
}

/* Copies of every output inside, after the container's forward at x_ref (y its output). */
static eng_status take_refs(container *c, const eng_tensor *x_ref, const eng_tensor *y_ref,
                            eng_tensor *y)
{
    if (same_values(c->ref_x, x_ref) && same_values(c->ref_y, y_ref))
        return ENG_OK;
    eng_tensor_release(c->ref_x);
    eng_tensor_release(c->ref_y);
    c->ref_x = c->ref_y = NULL;
    eng_status st = c->base.ops->forward(&c->base, x_ref, y, c->training);
    for (int k = 0; !st && k < c->nchildren; k++) {
        const eng_model *m = c->children[k];
        if (!c->refs[k] && !(c->refs[k] = calloc((size_t)m->nlayers, sizeof *c->refs[k])))
            return eng_error(ENG_ENOMEM, "%s: out of memory", c->base.ops->kind);
        for (int i = 0; !st && i < m->nlayers; i++) {
            const eng_tensor *out = m->outputs[i];
            st = eng_tensor_ensure(&c->refs[k][i], out->dtype, out->ndim, out->shape);
            if (!st)
                st = eng_tensor_copy(c->refs[k][i], out);
        }
    }
    if (!st)
        st = eng_tensor_clone(x_ref, &c->ref_x);
    if (!st)
        st = eng_tensor_clone(y_ref, &c->ref_y);
    return st;
}

eng_status container_frozen_child(container *c, int k, const eng_tensor *x_ref,
                                  const eng_tensor *y_ref, const eng_tensor *x, eng_tensor *y,
                                  const eng_tensor **yk)
{
    *yk = NULL;
    eng_status st = take_refs(c, x_ref, y_ref, y);
    eng_model *m = c->children[k];
    const eng_tensor *in = x;
    for (int i = 0; !st && i < m->nlayers; i++) {
        eng_layer *l = m->layers[i];
        int ndim;
        int64_t shape[ENG_MAX_DIMS];
        st = eng_layer_output_shape(l, in, &ndim, shape);
        if (!st)
            st = eng_tensor_ensure(&m->outputs[i], in->dtype, ndim, shape);
        if (!st && l->ops->forward_frozen)
            st = l->ops->forward_frozen(l, i == 0 ? c->ref_x : c->refs[k][i - 1], c->refs[k][i], in,
                                        m->outputs[i]);
        else if (!st)
            st = l->ops->forward(l, in, m->outputs[i], c->training);
        if (st)
            return eng_error_wrap(st, "%s", eng_layer_label(l));
        in = m->outputs[i];
    }
    *yk = in;
    return st;
}

eng_status container_block_frozen(eng_layer *layer, const eng_tensor *x_ref,
                                  const eng_tensor *y_ref, const eng_tensor *x, eng_tensor *y)
{
    container *c = (container *)layer;
    const eng_tensor *yb = NULL, *ys = x;
    eng_status st = ENG_OK;
    if (c->type == CONTAINER_SEQUENTIAL && eng_tensor_is_contiguous(y))
        st = container_alias_output(c->children[0], y);
    if (!st)
        st = container_frozen_child(c, 0, x_ref, y_ref, x, y, &yb);
    if (!st && c->nchildren > 1)
        st = container_frozen_child(c, 1, x_ref, y_ref, x, y, &ys);
    if (!st && c->type == CONTAINER_RESIDUAL)
        container_sum(y, yb, ys);
    else if (!st && eng_tensor_data(yb) != eng_tensor_data(y))
        st = eng_tensor_copy(y, yb);
    if (st)
        return eng_error_wrap(st, "%s '%s' (frozen)", layer->ops->kind, eng_layer_label(layer));
    return ENG_OK;
}
