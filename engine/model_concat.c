/* concat: y = cat(branch_1(x), ..., branch_k(x)) along one dimension (torch.cat), each branch
 * a model on the same x (Torch7's ConcatTable followed by JoinTable). */
#include <stdio.h>
#include <string.h>

#include "model_container_impl.h"

extern const eng_layer_kind eng_kind_concat; /* defined at the end */

/* dim (1-based or negative) as a 0-based dimension of an ndim-dimensional output, -1 when out
 * of range or the batch's. */
static int resolve_dim(int dim, int ndim)
{
    int d = dim > 0 ? dim - 1 : dim + ndim;
    return d >= 1 && d < ndim ? d : -1;
}

static eng_status concat_shape(const eng_layer *layer, const eng_tensor *x, int *ndim,
                               int64_t *shape)
{
    const container *c = (const container *)layer;
    int d = -1;
    for (int k = 0; k < c->nchildren; k++) {
        int n;
        int64_t s[ENG_MAX_DIMS];
        eng_status st = eng_model_output_shape(c->children[k], x, &n, s);
        if (st)
            return eng_error_wrap(st, "concat '%s': branch %d", eng_layer_label(layer), k + 1);
        if (k == 0) {
            d = resolve_dim(c->dim, n);
            if (d < 0)
                return eng_error(ENG_ESHAPE,
                                 "concat '%s': dim %d is out of range for the "
                                 "branches' output %s (2..%d, or negative; never the batch's)",
                                 eng_layer_label(layer), c->dim, eng_shape_str(n, s), n);
            *ndim = n;
            memcpy(shape, s, sizeof s[0] * (size_t)n);
            continue;
        }
        bool fits = n == *ndim;
        for (int i = 0; fits && i < n; i++)
            fits = i == d || s[i] == shape[i];
        if (!fits) {
            char first[128];
            snprintf(first, sizeof first, "%s", eng_shape_str(*ndim, shape));
            return eng_error(ENG_ESHAPE,
                             "concat '%s': branch %d gives %s, branch 1 gives %s "
                             "(only dim %d may differ)",
                             eng_layer_label(layer), k + 1, eng_shape_str(n, s), first, c->dim);
        }
        shape[d] += s[d];
    }
    return ENG_OK;
}

/* Copies between branch k's output (or gradient) b and its slice of the whole y: to_y from b
 * into y, else from y into b. Both contiguous. */
static void move_slice(eng_tensor *y, eng_tensor *b, int d, int64_t at, bool to_y)
{
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < d; i++)
        outer *= y->shape[i];
    for (int i = d + 1; i < y->ndim; i++)
        inner *= y->shape[i];
    size_t size = eng_dtype_size(y->dtype);
    size_t row = (size_t)(b->shape[d] * inner) * size, yrow = (size_t)(y->shape[d] * inner) * size;
    char *yd = (char *)eng_tensor_data(y) + (size_t)(at * inner) * size;
    char *bd = eng_tensor_data(b);
    for (int64_t o = 0; o < outer; o++) {
        if (to_y)
            memcpy(yd + (size_t)o * yrow, bd + (size_t)o * row, row);
        else
            memcpy(bd + (size_t)o * row, yd + (size_t)o * yrow, row);
    }
}

static eng_status concat_forward(eng_layer *layer, const eng_tensor *x, eng_tensor *y,
                                 bool training)
{
    container *c = (container *)layer;
    int d = resolve_dim(c->dim, y->ndim);
    int64_t at = 0;
    c->training = training;
    for (int k = 0; k < c->nchildren; k++) {
        const eng_tensor *yk;
        eng_status st = eng_model_forward_nested(c->children[k], x, training, &yk);
        if (st)
            return eng_error_wrap(st, "concat '%s': branch %d", eng_layer_label(layer), k + 1);
        move_slice(y, (eng_tensor *)yk, d, at, true);
        at += yk->shape[d];
    }
    return ENG_OK;
}

static eng_status concat_backward(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                                  const eng_tensor *dy, eng_tensor *dx)
{
    container *c = (container *)layer;
    int d = resolve_dim(c->dim, y->ndim);
    int64_t at = 0;
    eng_status st = ENG_OK;
    if (dx && c->nchildren > 1)
        st = eng_tensor_ensure(&c->tmp, x->dtype, x->ndim, x->shape);
    for (int k = 0; k < c->nchildren && !st; k++) {
        const eng_model *m = c->children[k];
        const eng_tensor *yk = m->outputs[m->nlayers - 1];
        st = eng_tensor_ensure(&c->dys[k], yk->dtype, yk->ndim, yk->shape);
        if (st)
            break;
        move_slice((eng_tensor *)dy, c->dys[k], d, at, false);
        at += yk->shape[d];
        eng_tensor *dxk = !dx ? NULL : k == 0 ? dx : c->tmp;
        st = eng_model_backward_nested(c->children[k], x, c->dys[k], dxk);
        if (st)
            st = eng_error_wrap(st, "concat '%s': branch %d", eng_layer_label(layer), k + 1);
        else if (dx && k > 0)
            container_add(dx, c->tmp);
    }
    return st;
}

/* With the branches' branches frozen at x_ref (model_container_frozen.c). */
static eng_status concat_frozen(eng_layer *layer, const eng_tensor *x_ref, const eng_tensor *y_ref,
                                const eng_tensor *x, eng_tensor *y)
{
    container *c = (container *)layer;
    int d = resolve_dim(c->dim, y->ndim);
    int64_t at = 0;
    for (int k = 0; k < c->nchildren; k++) {
        const eng_tensor *yk;
        eng_status st = container_frozen_child(c, k, x_ref, y_ref, x, y, &yk);
        if (st)
            return eng_error_wrap(st, "concat '%s': branch %d", eng_layer_label(layer), k + 1);
        move_slice(y, (eng_tensor *)yk, d, at, true);
        at += yk->shape[d];
    }
    return ENG_OK;
}

const eng_layer_ops eng_concat_variants[CONTAINER_VARIANTS] =
    CONTAINER_OPS_ALL("concat", concat_shape, concat_forward, concat_backward, concat_frozen);

eng_status eng_concat_new(int dim, const eng_model *const *branches, int n, eng_layer **out)
{
    *out = NULL;
    if (dim == 0 || dim == 1 || dim < -ENG_MAX_DIMS || dim > ENG_MAX_DIMS)
        return eng_error(ENG_EARG,
                         "concat: dim %d (2..%d, or negative from the end; never "
                         "the batch's)",
                         dim, ENG_MAX_DIMS);
    if (n < 1 || n > ENG_CONTAINER_MAX_CHILDREN)
        return eng_error(ENG_EARG, "concat: %d branches (1 to %d)", n, ENG_CONTAINER_MAX_CHILDREN);
    char names[ENG_CONTAINER_MAX_CHILDREN][ENG_NAME_MAX];
    const char *pointers[ENG_CONTAINER_MAX_CHILDREN];
    for (int k = 0; k < n; k++) {
        eng_container_child_name_of(&eng_kind_concat, k, names[k], sizeof names[k]);
        pointers[k] = names[k];
    }
    return container_make(CONTAINER_CONCAT, eng_concat_variants, dim, branches, pointers, n, out);
}

static const eng_setting concat_settings[] = {
    {"dim", ENG_SETTING_INT, ENG_SETTING_REQUIRED | ENG_SETTING_POSITIONAL | ENG_SETTING_BARE,
     .min = -ENG_MAX_DIMS, .max = ENG_MAX_DIMS,
     .doc = "the dimension joined: 1-based, negative from the end, never the batch's"},
    {0},
};

static eng_status concat_describe(const eng_layer *layer, eng_settings *s)
{
    return eng_settings_set_int(s, "dim", ((const container *)layer)->dim);
}

ENG_BUILTIN_KIND(concat) = {
    .name = "concat",
    .ctor = "Concat",
    .ops = &eng_concat_variants[0],
    .settings = concat_settings,
    .describe = concat_describe,
    .doc = "y = the branches' outputs joined along dim",
};
