/* The containers' common part (children, the lists of parameters and buffers, clone, signature)
 * and the two kinds that add: sequential and residual. Concat is in model_concat.c. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/elementwise.h"
#include "model_container_impl.h"

extern const eng_layer_kind eng_kind_residual; /* defined below */

/* ---- the lists of parameters and buffers ----
 * Each entry holds views of the tensors of a layer inside (sharing their storage), so that
 * writing through either changes both, and each is released on its own. */

static void release_lists(container *c)
{
    for (int i = 0; i < c->base.nparams; i++) {
        eng_tensor_release(c->all_params[i].value);
        eng_tensor_release(c->all_params[i].grad);
    }
    for (int i = 0; i < c->base.nbuffers; i++)
        eng_tensor_release(c->all_buffers[i].value);
    free(c->all_params);
    free(c->all_buffers);
    free(c->names);
    c->all_params = NULL;
    c->all_buffers = NULL;
    c->names = NULL;
    c->base.nparams = c->base.nbuffers = 0;
    c->base.params = c->all_params;
    c->base.buffers = c->all_buffers;
}

/* Writes "<child>.<layer>.<entry>" (no "<child>." for an unnamed child) into slot. */
static eng_status put_name(const container *c, int child, const eng_layer *layer, const char *entry,
                           char *slot)
{
    const char *prefix = c->child_names[child];
    /* room for the name of the model's layer that holds it all, and its dot (param_list.h) */
    const int max = ENG_PARAM_NAME_MAX - ENG_NAME_MAX;
    int n = snprintf(slot, ENG_PARAM_NAME_MAX, "%s%s%s.%s", prefix, prefix[0] ? "." : "",
                     layer->name, entry);
    if (n >= max)
        return eng_error(ENG_EARG,
                         "%s '%s': the name %.60s... is longer than %d bytes (nest "
                         "less deeply or use shorter names)",
                         c->base.ops->kind, eng_layer_label(&c->base), slot, max - 1);
    return ENG_OK;
}

eng_status eng_container_refresh(eng_layer *layer)
{
    container *c = (container *)layer;
    release_lists(c);
    int np = 0, nb = 0;
    for (int k = 0; k < c->nchildren; k++)
        for (int i = 0; i < c->children[k]->nlayers; i++) {
            np += c->children[k]->layers[i]->nparams;
            nb += c->children[k]->layers[i]->nbuffers;
        }
    c->all_params = calloc((size_t)np + 1, sizeof *c->all_params);
    c->all_buffers = calloc((size_t)nb + 1, sizeof *c->all_buffers);
    c->names = calloc((size_t)(np + nb) + 1, ENG_PARAM_NAME_MAX);
    if (!c->all_params || !c->all_buffers || !c->names) {
        release_lists(c);
        return eng_error(ENG_ENOMEM, "%s: out of memory", layer->ops->kind);
    }
    layer->params = c->all_params;
    layer->buffers = c->all_buffers;
    char *name = c->names;
    for (int k = 0; k < c->nchildren; k++) {
        const eng_model *m = c->children[k];
        for (int i = 0; i < m->nlayers; i++) {
            const eng_layer *l = m->layers[i];
            for (int p = 0; p < l->nparams; p++, name += ENG_PARAM_NAME_MAX) {
                eng_status st = put_name(c, k, l, l->params[p].name, name);
                if (st) {
                    release_lists(c);
                    return st;
                }
                eng_param *e = &c->all_params[layer->nparams];
                e->name = name;
                st = eng_tensor_view(l->params[p].value, &e->value);
                if (!st && (st = eng_tensor_view(l->params[p].grad, &e->grad)))
                    eng_tensor_release(e->value);
                if (st) {
                    release_lists(c);
                    return st;
                }
                layer->nparams++;
                layer->dtype = l->dtype;
            }
            for (int b = 0; b < l->nbuffers; b++, name += ENG_PARAM_NAME_MAX) {
                eng_status st = put_name(c, k, l, l->buffers[b].name, name);
                if (st) {
                    release_lists(c);
                    return st;
                }
                eng_buffer *e = &c->all_buffers[layer->nbuffers];
                e->name = name;
                if ((st = eng_tensor_view(l->buffers[b].value, &e->value))) {
                    release_lists(c);
                    return st;
                }
                layer->nbuffers++;
            }
        }
    }
    return ENG_OK;
}

static int list_rngs(eng_layer *layer, const char *prefix, eng_rng **rngs,
                     char (*paths)[ENG_PARAM_NAME_MAX], int n, int max)
{
    const container *c = (const container *)layer;
    for (int k = 0; k < c->nchildren; k++) {
        const eng_model *m = c->children[k];
        for (int i = 0; i < m->nlayers; i++) {
            eng_layer *l = m->layers[i];
            char path[ENG_PARAM_NAME_MAX];
            snprintf(path, sizeof path, "%s%s%s%s", prefix, c->child_names[k],
                     c->child_names[k][0] ? "." : "", l->name);
            if (l->ops->rng && n < max) {
                rngs[n] = l->ops->rng(l);
                memcpy(paths[n], path, sizeof path);
            }
            n += l->ops->rng != NULL;
            if (eng_layer_is_container(l)) {
                size_t len = strlen(path);
                if (len + 2 < sizeof path)
                    memcpy(path + len, ".", 2);
                n = list_rngs(l, path, rngs, paths, n, max);
            }
        }
    }
    return n;
}

int eng_container_rngs(eng_layer *layer, eng_rng **rngs, char (*paths)[ENG_PARAM_NAME_MAX], int max)
{
    return eng_layer_is_container(layer) ? list_rngs(layer, "", rngs, paths, 0, max) : 0;
}

/* ---- making, cloning, destroying ---- */

bool eng_layer_is_container(const eng_layer *layer)
{
    return layer && layer->ops->clone == container_clone;
}

int eng_container_count(const eng_layer *layer)
{
    return eng_layer_is_container(layer) ? ((const container *)layer)->nchildren : 0;
}

eng_model *eng_container_child(const eng_layer *layer, int i)
{
    const container *c = (const container *)layer;
    return eng_layer_is_container(layer) && i >= 0 && i < c->nchildren ? c->children[i] : NULL;
}

const char *eng_container_child_name(const eng_layer *layer, int i)
{
    const container *c = (const container *)layer;
    return eng_layer_is_container(layer) && i >= 0 && i < c->nchildren ? c->child_names[i] : NULL;
}

static int depth_of(const eng_layer *layer)
{
    int depth = 0;
    for (int k = 0; k < eng_container_count(layer); k++) {
        const eng_model *m = eng_container_child(layer, k);
        for (int i = 0; i < m->nlayers; i++) {
            int d = depth_of(m->layers[i]);
            depth = d > depth ? d : depth;
        }
    }
    return eng_layer_is_container(layer) ? depth + 1 : 0;
}

/* A new model over the layers of m (shared), checked for what a container cannot hold; ORs the
 * variant flags of its layers into *flags. */
static eng_status adopt(const char *kind, const eng_model *m, unsigned *flags, eng_model **out)
{
    *out = NULL;
    if (!m || m->nlayers == 0)
        return eng_error(ENG_EARG, "%s: a model with no layers", kind);
    eng_status st = eng_model_new(out);
    for (int i = 0; !st && i < m->nlayers; i++) {
        const eng_layer *l = m->layers[i];
        if (l->ops->shape_needs_data)
            st = eng_error(ENG_EARG,
                           "%s: layer '%s' (%s) needs its input's values to tell its "
                           "output shape (give it an output_shape function)",
                           kind, eng_layer_label(l), l->ops->kind);
        else if (depth_of(l) >= ENG_CONTAINER_MAX_DEPTH)
            st = eng_error(ENG_EARG, "%s: containers nested more than %d deep", kind,
                           ENG_CONTAINER_MAX_DEPTH);
        else
            st = eng_model_add(*out, m->layers[i]);
        if (!l->ops->batch_independent || !l->ops->clone)
            *flags &= ~(unsigned)CONTAINER_BATCH_INDEPENDENT;
        if (l->ops->unknown_branches)
            *flags |= CONTAINER_UNKNOWN_BRANCHES;
        if ((l->ops->signature || l->ops->unknown_branches) && !l->ops->forward_frozen)
            *flags &= ~(unsigned)CONTAINER_FREEZES;
    }
    (*out)->training = m->training;
    if (st) {
        eng_model_release(*out);
        *out = NULL;
    }
    return st;
}

eng_status container_make(container_type type, const eng_layer_ops *variants, int dim,
                          const eng_model *const *children, const char *const *names, int n,
                          eng_layer **out)
{
    *out = NULL;
    const char *kind = variants[0].kind;
    if (n < 1 || n > ENG_CONTAINER_MAX_CHILDREN)
        return eng_error(ENG_EARG, "%s: %d models (1 to %d expected)", kind, n,
                         ENG_CONTAINER_MAX_CHILDREN);
    container *c = calloc(1, sizeof *c);
    if (!c)
        return eng_error(ENG_ENOMEM, "%s: out of memory", kind);
    eng_layer_init(&c->base, &variants[0], ENG_F32);
    c->type = type;
    c->variants = variants;
    c->dim = dim;
    unsigned flags = CONTAINER_BATCH_INDEPENDENT | CONTAINER_FREEZES;
    eng_status st = ENG_OK;
    for (int k = 0; k < n && !st; k++) {
        snprintf(c->child_names[k], ENG_NAME_MAX, "%s", names[k]);
        st = adopt(kind, children[k], &flags, &c->children[k]);
        if (!st)
            c->nchildren = k + 1;
    }
    c->base.ops = &variants[flags];
    if (!st)
        st = eng_container_refresh(&c->base);
    if (st) {
        eng_layer_release(&c->base);
        return st;
    }
    *out = &c->base;
    return ENG_OK;
}

eng_status container_clone(const eng_layer *layer, eng_dtype dtype, eng_layer **out)
{
    const container *c = (const container *)layer;
    eng_model *copies[ENG_CONTAINER_MAX_CHILDREN] = {0};
    const char *names[ENG_CONTAINER_MAX_CHILDREN];
    eng_status st = ENG_OK;
    for (int k = 0; k < c->nchildren && !st; k++) {
        names[k] = c->child_names[k];
        st = eng_model_to(c->children[k], dtype, &copies[k]);
    }
    if (!st)
        st = container_make(c->type, c->variants, c->dim, (const eng_model *const *)copies, names,
                            c->nchildren, out);
    if (!st && layer->name[0])
        st = eng_layer_set_name(*out, layer->name);
    if (st) {
        eng_layer_release(*out);
        *out = NULL;
    }
    for (int k = 0; k < c->nchildren; k++)
        eng_model_release(copies[k]);
    return st;
}

void container_destroy(eng_layer *layer)
{
    container *c = (container *)layer;
    /* eng_layer_release dropped the lists' references already */
    layer->nparams = layer->nbuffers = 0;
    release_lists(c);
    container_frozen_release(c); /* before the children: it counts their layers */
    for (int k = 0; k < c->nchildren; k++)
        eng_model_release(c->children[k]);
    for (int k = 0; k < ENG_CONTAINER_MAX_CHILDREN; k++)
        eng_tensor_release(c->dys[k]);
    eng_tensor_release(c->tmp);
    eng_tensor_release(c->dmask);
    free(c->relu_mask);
}

/* The branches the last forward took, over every layer inside that can tell. */
uint64_t container_signature(const eng_layer *layer, const eng_tensor *x, const eng_tensor *y)
{
    (void)y;
    const container *c = (const container *)layer;
    uint64_t h = ENG_HASH_INIT;
    for (int k = 0; k < c->nchildren; k++) {
        const eng_model *m = c->children[k];
        for (int i = 0; i < m->nlayers; i++) {
            const eng_layer *l = m->layers[i];
            if (l->ops->signature && m->outputs[i])
                h = eng_hash_word(
                    h, l->ops->signature(l, i == 0 ? x : m->outputs[i - 1], m->outputs[i]));
        }
    }
    return h;
}

void container_sum(eng_tensor *dst, const eng_tensor *a, const eng_tensor *b)
{
    int64_t n = eng_tensor_numel(dst);
    if (dst->dtype == ENG_F32)
        eng_binary_f32(ENG_OP_ADD, ENG_F32_DATA(dst), 1, ENG_F32_DATA(a), 1, ENG_F32_DATA(b), 1, n);
    else
        eng_binary_f64(ENG_OP_ADD, ENG_F64_DATA(dst), 1, ENG_F64_DATA(a), 1, ENG_F64_DATA(b), 1, n);
}

void container_add(eng_tensor *dst, const eng_tensor *src)
{
    container_sum(dst, dst, src);
}

/* ---- sequential and residual ---- */

static eng_status block_shape(const eng_layer *layer, const eng_tensor *x, int *ndim,
                              int64_t *shape)
{
    const container *c = (const container *)layer;
    eng_status st = eng_model_output_shape(c->children[0], x, ndim, shape);
    if (st)
        return eng_error_wrap(st, "%s '%s'", layer->ops->kind, eng_layer_label(layer));
    if (c->type != CONTAINER_RESIDUAL)
        return ENG_OK;
    int sn = x->ndim;
    int64_t ss[ENG_MAX_DIMS];
    memcpy(ss, x->shape, sizeof ss[0] * (size_t)x->ndim);
    if (c->nchildren > 1 && (st = eng_model_output_shape(c->children[1], x, &sn, ss)))
        return eng_error_wrap(st, "residual '%s': shortcut", eng_layer_label(layer));
    bool same = sn == *ndim;
    for (int d = 0; same && d < sn; d++)
        same = ss[d] == shape[d];
    if (!same) {
        char block[128];
        snprintf(block, sizeof block, "%s", eng_shape_str(*ndim, shape));
        return eng_error(ENG_ESHAPE,
                         "residual '%s': for x %s the block gives %s but the %s "
                         "gives %s (a projection shortcut can match them)",
                         eng_layer_label(layer), eng_tensor_shape_str(x), block,
                         c->nchildren > 1 ? "shortcut" : "identity shortcut",
                         eng_shape_str(sn, ss));
    }
    return ENG_OK;
}

/* In a split model every thread's replica of the container aliases rows of the same output
 * buffer at once: the storage's reference count (a plain int) changes under this lock. */
static pthread_mutex_t alias_lock = PTHREAD_MUTEX_INITIALIZER;

/* Nothing is copied: a new view only when y is another tensor than last time (a thread's
 * rows, the gradient checker's scratch). */
eng_status container_alias_output(eng_model *m, const eng_tensor *y)
{
    eng_tensor **slot = &m->outputs[m->nlayers - 1];
    const eng_tensor *t = *slot;
    if (t && t->storage == y->storage && t->offset == y->offset && t->dtype == y->dtype &&
        eng_tensor_same_shape(t, y) && eng_tensor_is_contiguous(y))
        return ENG_OK;
    eng_tensor *view;
    pthread_mutex_lock(&alias_lock);
    eng_status st = eng_tensor_view(y, &view);
    if (!st) {
        eng_tensor_release(*slot);
        *slot = view;
    }
    pthread_mutex_unlock(&alias_lock);
    return st;
}

eng_status container_branches_forward(container *c, const eng_tensor *x, const eng_tensor *y,
                                      bool training, const eng_tensor **yb, const eng_tensor **ys)
{
    eng_status st = ENG_OK;
    *yb = NULL;
    *ys = x;
    c->training = training;
    if (c->type == CONTAINER_SEQUENTIAL && y && eng_tensor_is_contiguous(y))
        st = container_alias_output(c->children[0], y);
    if (!st)
        st = eng_model_forward_nested(c->children[0], x, training, yb);
    if (!st && c->nchildren > 1)
        st = eng_model_forward_nested(c->children[1], x, training, ys);
    return st;
}

static eng_status block_forward(eng_layer *layer, const eng_tensor *x, eng_tensor *y, bool training)
{
    container *c = (container *)layer;
    const eng_tensor *yb, *ys;
    eng_status st = container_branches_forward(c, x, y, training, &yb, &ys);
    /* one pass: the block's output and the shortcut's summed straight into y */
    if (!st && c->type == CONTAINER_RESIDUAL)
        container_sum(y, yb, ys);
    else if (!st && eng_tensor_data(yb) != eng_tensor_data(y))
        st = eng_tensor_copy(y, yb);
    if (st)
        return eng_error_wrap(st, "%s '%s'", layer->ops->kind, eng_layer_label(layer));
    return ENG_OK;
}

eng_status container_branches_backward(container *c, const eng_tensor *x, const eng_tensor *dy,
                                       eng_tensor *dx)
{
    /* a branch that can add its input gradient into the other's runs second: no scratch, no
     * sum pass; the block second where it can (a Winograd convolution then skips clearing dx) */
    if (c->type == CONTAINER_RESIDUAL && c->nchildren > 1 && dx) {
        int second = eng_model_can_add_dx(c->children[0], x)   ? 0
                     : eng_model_can_add_dx(c->children[1], x) ? 1
                                                               : -1;
        if (second >= 0) {
            eng_status st = eng_model_backward_nested(c->children[1 - second], x, dy, dx);
            return st ? st : eng_model_backward_nested_add(c->children[second], x, dy, dx);
        }
    }
    eng_status st = eng_model_backward_nested(c->children[0], x, dy, dx);
    if (!st && c->nchildren > 1 && dx) {
        st = eng_tensor_ensure(&c->tmp, x->dtype, x->ndim, x->shape);
        if (!st)
            st = eng_model_backward_nested(c->children[1], x, dy, c->tmp);
        if (!st)
            container_add(dx, c->tmp);
    } else if (!st && c->nchildren > 1) {
        st = eng_model_backward_nested(c->children[1], x, dy, NULL);
    } else if (!st && c->type == CONTAINER_RESIDUAL && dx) {
        container_add(dx, dy);
    }
    return st;
}

static eng_status block_backward(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                                 const eng_tensor *dy, eng_tensor *dx)
{
    (void)y;
    eng_status st = container_branches_backward((container *)layer, x, dy, dx);
    if (st)
        return eng_error_wrap(st, "%s '%s'", layer->ops->kind, eng_layer_label(layer));
    return ENG_OK;
}

static const eng_layer_ops sequential_variants[CONTAINER_VARIANTS] = CONTAINER_OPS_ALL(
    "sequential", block_shape, block_forward, block_backward, container_block_frozen);

static const eng_layer_ops residual_variants[CONTAINER_VARIANTS] = CONTAINER_OPS_ALL(
    "residual", block_shape, block_forward, block_backward, container_block_frozen);

eng_status eng_residual_new(const eng_model *block, const eng_model *shortcut, eng_layer **out)
{
    const eng_model *children[2] = {block, shortcut};
    char shortcut_name[ENG_NAME_MAX];
    eng_container_child_name_of(&eng_kind_residual, 1, shortcut_name, sizeof shortcut_name);
    const char *names[2] = {"", shortcut_name};
    *out = NULL;
    if (block)
        for (int i = 0; i < block->nlayers; i++)
            if (strcmp(block->layers[i]->name, shortcut_name) == 0)
                return eng_error(ENG_EARG,
                                 "residual: the block has a layer named '%s' "
                                 "(the shortcut's parameters are named so)",
                                 shortcut_name);
    return container_make(CONTAINER_RESIDUAL, residual_variants, 0, children, names,
                          shortcut ? 2 : 1, out);
}

eng_status eng_sequential_layer_new(const eng_model *block, eng_layer **out)
{
    const char *names[1] = {""};
    return container_make(CONTAINER_SEQUENTIAL, sequential_variants, 0, &block, names, 1, out);
}

/* ---- the kinds ---- */

static eng_status no_settings(const eng_layer *layer, eng_settings *s)
{
    (void)layer;
    (void)s;
    return ENG_OK;
}

ENG_BUILTIN_KIND(sequential) = {
    .name = "sequential",
    .ctor = "Sequential",
    .ops = &sequential_variants[0],
    .describe = no_settings,
    .doc = "a model as one layer of another (its children: the block)",
};

ENG_BUILTIN_KIND(residual) = {
    .name = "residual",
    .ctor = "Residual",
    .ops = &residual_variants[0],
    .describe = no_settings,
    .doc = "y = block(x) + shortcut(x), the shortcut the identity when absent",
};

bool eng_kind_is_container(const eng_layer_kind *kind)
{
    return kind == &eng_kind_sequential || kind == &eng_kind_residual ||
           (kind && kind->ops && kind->ops->clone == container_clone);
}

void eng_container_child_name_of(const eng_layer_kind *kind, int k, char *buf, size_t size)
{
    if (kind == &eng_kind_residual)
        snprintf(buf, size, "%s", k == 1 ? "shortcut" : "");
    else if (kind && kind->ops == &eng_concat_variants[0])
        snprintf(buf, size, "branch_%d", k + 1);
    else
        snprintf(buf, size, "%s", "");
}

eng_status eng_container_create(const eng_settings *s, const eng_model *const *children, int n,
                                eng_layer **out)
{
    *out = NULL;
    const eng_layer_kind *kind = s->kind;
    if (kind == &eng_kind_residual && (n == 1 || n == 2))
        return eng_residual_new(children[0], n == 2 ? children[1] : NULL, out);
    if (kind == &eng_kind_sequential && n == 1)
        return eng_sequential_layer_new(children[0], out);
    if (kind->ops == &eng_concat_variants[0])
        return eng_concat_new(eng_settings_int(s, "dim"), children, n, out);
    return eng_error(ENG_EARG, "%s: cannot hold %d models", kind->name, n);
}
