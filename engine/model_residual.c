/* The residual container followed by a ReLU as one fused pair (engine/model_fusion.c): the
 * block's and the shortcut's outputs summed and rectified in one pass, and in the backward
 * the incoming gradient masked once by the ReLU and handed to both branches. The residual's
 * own output (the sum) and the ReLU's input gradient are not written.
 *
 * When both branches end in a BatchNorm2d that can read a ReLU's mask in its backward (f32,
 * training: eng_model_takes_relu_mask), the forward also writes the mask y > 0, a bit a value,
 * and the backward hands dy and that mask to both branches instead of writing dy masked (a
 * pass that read dy and y and wrote a tensor as large). The mask is kept for the y the
 * forward wrote, keyed by its pointer and size: a y changed in place between the forward and
 * the backward is not noticed (as BatchNorm's statistics, engine/layers/batchnorm.c).
 *
 * In f32 training the forward goes further: each branch runs but its last BatchNorm, and the
 * two BatchNorms, the sum and the ReLU are one blocked pass (eng_batchnorm_add_relu: each
 * BatchNorm's input read from memory once, neither output written nor read back). The
 * BatchNorms' outputs are then not written either; their readers: the backward (a BatchNorm's
 * backward does not read its output), the gradient checker and container signatures (unfused
 * runs only), and the non-finite guard, for which eng_residual_output writes them first. */
#include <stdlib.h>

#include "kernels/activation.h"
#include "kernels/residual.h"
#include "layers/layer_fusion.h"
#include "model_container_impl.h"
#include "model_fusion.h"

bool eng_layer_is_residual(const eng_layer *layer)
{
    return eng_layer_is_container(layer) && ((const container *)layer)->type == CONTAINER_RESIDUAL;
}

static eng_status wrap(const eng_layer *layer, eng_status st)
{
    return st ? eng_error_wrap(st, "residual '%s'", eng_layer_label(layer)) : ENG_OK;
}

/* Whether both branches take the mask of the ReLU's output (after their forward on x). */
static bool branches_take_mask(const container *c, const eng_tensor *x)
{
    return c->nchildren == 2 && eng_model_takes_relu_mask(c->children[0], x) &&
           eng_model_takes_relu_mask(c->children[1], x);
}

/* Room in c->relu_mask for y's mask in BatchNorm's layout for y's shape [N,C,...] (rows: N * C,
 * each of s values, the rest of the shape); false: none (out of memory or no such rows). */
static bool reserve_mask(container *c, const eng_tensor *y, int64_t *rows, int64_t *s)
{
    *rows = y->ndim >= 2 ? y->shape[0] * y->shape[1] : 0, *s = 1;
    for (int d = 2; d < y->ndim; d++)
        *s *= y->shape[d];
    if (*rows <= 0 || *s <= 0)
        return false;
    int64_t words = *rows * ((*s + 15) / 16);
    if (words <= c->mask_words)
        return true;
    uint16_t *p = realloc(c->relu_mask, sizeof *p * (size_t)words);
    if (!p)
        return false;
    c->relu_mask = p;
    c->mask_words = words;
    return true;
}

/* c->relu_mask now holds the mask of y (the backward's key). */
static void mask_made_for(container *c, const eng_tensor *y)
{
    c->mask_y = eng_tensor_data(y);
    c->mask_numel = eng_tensor_numel(y);
}

/* y = relu(yb + ys) with its mask y > 0 in BatchNorm's layout for y's shape [N,C,...] (rows:
 * N * C, s: the rest); false: not made (then nothing is written). */
static bool add_relu_masked(container *c, eng_tensor *y, const eng_tensor *yb, const eng_tensor *ys)
{
    int64_t rows, s;
    if (!reserve_mask(c, y, &rows, &s))
        return false;
    eng_add_relu_mask_f32(ENG_F32_DATA(y), c->relu_mask, ENG_F32_DATA(yb), ENG_F32_DATA(ys), rows,
                          s);
    mask_made_for(c, y);
    return true;
}

/* Whether both branches end in BatchNorms that sum in one pass (eng_batchnorm_add_relu). */
static bool last_batchnorms_sum(const container *c, const eng_tensor *y, bool training)
{
    if (c->nchildren != 2 || y->dtype != ENG_F32 || !eng_tensor_is_contiguous(y))
        return false;
    const eng_model *b = c->children[0], *s = c->children[1];
    return b->nlayers > 0 && s->nlayers > 0 &&
           eng_batchnorm_sums_with(b->layers[b->nlayers - 1], s->layers[s->nlayers - 1], training);
}

/* Each branch but its last layer, then the two BatchNorms, the sum and the ReLU in one pass. */
static eng_status forward_batchnorm_pair(container *c, const eng_tensor *x, eng_tensor *y)
{
    eng_model *b = c->children[0], *s = c->children[1];
    const eng_tensor *xb, *xs;
    eng_status st = eng_model_forward_nested_part(b, x, true, b->nlayers - 1, &xb);
    if (!st)
        st = eng_model_forward_nested_part(s, x, true, s->nlayers - 1, &xs);
    if (st)
        return st;
    int64_t rows, sp;
    if (!reserve_mask(c, y, &rows, &sp))
        return eng_error(ENG_ENOMEM,
                         "no room for the ReLU's mask of y %s (out of memory, or no "
                         "values per channel)",
                         eng_tensor_shape_str(y));
    c->last_unwritten = true;
    st = eng_batchnorm_add_relu(b->layers[b->nlayers - 1], xb, s->layers[s->nlayers - 1], xs, y,
                                c->relu_mask);
    if (!st)
        mask_made_for(c, y);
    return st;
}

eng_status eng_residual_forward_relu(eng_layer *residual, const eng_tensor *x, eng_tensor *y,
                                     bool training)
{
    container *c = (container *)residual;
    const eng_tensor *yb, *ys;
    c->mask_y = NULL;
    c->last_unwritten = false;
    c->training = training;
    if (last_batchnorms_sum(c, y, training))
        return wrap(residual, forward_batchnorm_pair(c, x, y));
    eng_status st = container_branches_forward(c, x, NULL, training, &yb, &ys);
    if (st)
        return wrap(residual, st);
    int64_t n = eng_tensor_numel(y);
    if (y->dtype == ENG_F32 && eng_tensor_is_contiguous(y) && branches_take_mask(c, x) &&
        add_relu_masked(c, y, yb, ys))
        return ENG_OK;
    if (y->dtype == ENG_F32)
        eng_add_relu_f32(ENG_F32_DATA(y), ENG_F32_DATA(yb), ENG_F32_DATA(ys), n);
    else
        eng_add_relu_f64(ENG_F64_DATA(y), ENG_F64_DATA(yb), ENG_F64_DATA(ys), n);
    return ENG_OK;
}

/* container_branches_backward's order (a branch that can add its input gradient into the
 * other's runs second), each branch given dy and the mask. */
static eng_status masked_branches_backward(container *c, const eng_tensor *x, const eng_tensor *dy,
                                           eng_tensor *dx)
{
    const uint16_t *mask = c->relu_mask;
    if (!dx) {
        eng_status st =
            eng_model_backward_nested_relu_mask(c->children[0], x, dy, mask, NULL, false);
        return st ? st
                  : eng_model_backward_nested_relu_mask(c->children[1], x, dy, mask, NULL, false);
    }
    int second = eng_model_can_add_dx(c->children[0], x)   ? 0
                 : eng_model_can_add_dx(c->children[1], x) ? 1
                                                           : -1;
    if (second >= 0) {
        eng_status st =
            eng_model_backward_nested_relu_mask(c->children[1 - second], x, dy, mask, dx, false);
        return st ? st
                  : eng_model_backward_nested_relu_mask(c->children[second], x, dy, mask, dx, true);
    }
    eng_status st = eng_model_backward_nested_relu_mask(c->children[0], x, dy, mask, dx, false);
    if (!st)
        st = eng_tensor_ensure(&c->tmp, x->dtype, x->ndim, x->shape);
    if (!st)
        st = eng_model_backward_nested_relu_mask(c->children[1], x, dy, mask, c->tmp, false);
    if (!st)
        container_add(dx, c->tmp);
    return st;
}

/* relu(s) > 0 exactly where s > 0 (NaN neither), so masking by y is the ReLU's own backward,
 * which masks by its input s. */
eng_status eng_residual_backward_relu(eng_layer *residual, const eng_tensor *x, const eng_tensor *y,
                                      const eng_tensor *dy, eng_tensor *dx)
{
    container *c = (container *)residual;
    if (c->mask_y && c->mask_y == eng_tensor_data(y) && c->mask_numel == eng_tensor_numel(y) &&
        branches_take_mask(c, x))
        return wrap(residual, masked_branches_backward(c, x, dy, dx));
    eng_status st = eng_tensor_ensure(&c->dmask, y->dtype, y->ndim, y->shape);
    if (st)
        return wrap(residual, st);
    int64_t n = eng_tensor_numel(y);
    if (y->dtype == ENG_F32)
        eng_relu_backward_f32(ENG_F32_DATA(c->dmask), ENG_F32_DATA(dy), ENG_F32_DATA(y), n);
    else
        eng_relu_backward_f64(ENG_F64_DATA(c->dmask), ENG_F64_DATA(dy), ENG_F64_DATA(y), n);
    return wrap(residual, container_branches_backward(c, x, c->dmask, dx));
}

eng_status eng_residual_output(const eng_layer *residual, const eng_tensor *x, eng_tensor *y)
{
    const container *c = (const container *)residual;
    const eng_model *block = c->children[0], *shortcut = c->children[1];
    const eng_tensor *yb = block->outputs[block->nlayers - 1];
    const eng_tensor *ys = c->nchildren > 1 ? shortcut->outputs[shortcut->nlayers - 1] : x;
    for (int k = 0; c->last_unwritten && yb && ys && k < 2; k++) { /* write them now */
        const eng_model *m = c->children[k];
        int last = m->nlayers - 1;
        eng_status st = eng_batchnorm_output(m->layers[last], last ? m->outputs[last - 1] : x,
                                             m->outputs[last]);
        if (st)
            return st;
    }
    if (!yb || !ys || !eng_tensor_same_shape(yb, y) || !eng_tensor_same_shape(ys, y))
        return eng_error(ENG_ESTATE, "residual '%s': no output of its branches to sum",
                         eng_layer_label(residual));
    container_sum(y, yb, ys);
    return ENG_OK;
}
