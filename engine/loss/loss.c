#include "loss.h"

#include <stdlib.h>

eng_status eng_loss_forward(eng_loss *loss, const eng_tensor *input, const eng_tensor *target,
                            double *value)
{
    if (!eng_tensor_is_contiguous(input) || (target && !eng_tensor_is_contiguous(target)))
        return eng_error(ENG_ESTATE, "%s: input and target must be contiguous (clone them first)",
                         loss->ops->kind);
    return loss->ops->forward(loss, input, target, value);
}

eng_status eng_loss_backward(eng_loss *loss, const eng_tensor *input, const eng_tensor *target,
                             eng_tensor *dinput)
{
    if (!eng_tensor_same_shape(dinput, input) || dinput->dtype != input->dtype ||
        !eng_tensor_is_contiguous(dinput))
        return eng_error(!eng_tensor_same_shape(dinput, input) ? ENG_ESHAPE
                         : dinput->dtype != input->dtype       ? ENG_EDTYPE
                                                               : ENG_ESTATE,
                         "%s: dinput is %s %s, expected %s %s like the input",
                         loss->ops->kind, eng_dtype_name(dinput->dtype),
                         eng_tensor_shape_str(dinput), eng_dtype_name(input->dtype),
                         eng_tensor_shape_str(input));
    return loss->ops->backward(loss, input, target, dinput);
}

void eng_loss_release(eng_loss *loss)
{
    if (!loss)
        return;
    if (loss->ops->destroy)
        loss->ops->destroy(loss);
    free(loss);
}
