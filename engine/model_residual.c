/* The residual container followed by a ReLU as one fused pair (engine/model_fusion.c): the
 * block's and the shortcut's outputs summed and rectified in one pass, and in the backward
 * the incoming gradient masked once by the ReLU and handed to both branches. The residual's
 * own output (the sum) and the ReLU's input gradient are not written. */
#include "kernels/activation.h"
#include "kernels/residual.h"
#include "layers/layer_fusion.h"
#include "model_container_impl.h"

bool eng_layer_is_residual(const eng_layer *layer)
{
    return eng_layer_is_container(layer) && ((const container *)layer)->type == CONTAINER_RESIDUAL;
}

static eng_status wrap(const eng_layer *layer, eng_status st)
{
    return st ? eng_error_wrap(st, "residual '%s'", eng_layer_label(layer)) : ENG_OK;
}

eng_status eng_residual_forward_relu(eng_layer *residual, const eng_tensor *x, eng_tensor *y,
                                     bool training)
{
    container *c = (container *)residual;
    const eng_tensor *yb, *ys;
    eng_status st = container_branches_forward(c, x, NULL, training, &yb, &ys);
    if (st)
        return wrap(residual, st);
    int64_t n = eng_tensor_numel(y);
    if (y->dtype == ENG_F32)
        eng_add_relu_f32(ENG_F32_DATA(y), ENG_F32_DATA(yb), ENG_F32_DATA(ys), n);
    else
        eng_add_relu_f64(ENG_F64_DATA(y), ENG_F64_DATA(yb), ENG_F64_DATA(ys), n);
    return ENG_OK;
}

/* relu(s) > 0 exactly where s > 0 (NaN neither), so masking by y is the ReLU's own backward,
 * which masks by its input s. */
eng_status eng_residual_backward_relu(eng_layer *residual, const eng_tensor *x, const eng_tensor *y,
                                      const eng_tensor *dy, eng_tensor *dx)
{
    container *c = (container *)residual;
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
    if (!yb || !ys || !eng_tensor_same_shape(yb, y) || !eng_tensor_same_shape(ys, y))
        return eng_error(ENG_ESTATE, "residual '%s': no output of its branches to sum",
                         eng_layer_label(residual));
    container_sum(y, yb, ys);
    return ENG_OK;
}
