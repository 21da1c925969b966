/* Softmax cross-entropy, torch.nn.CrossEntropyLoss(reduction='mean'). */
#include <stdlib.h>

#include "../kernels/softmax.h"
#include "loss.h"

typedef struct cross_entropy {
    eng_loss base;
    eng_tensor *probs; /* softmax of the last forward's input */
} cross_entropy;

static eng_status check(const eng_tensor *input, const eng_tensor *target)
{
    if (!eng_dtype_is_float(input->dtype))
        return eng_error(ENG_EDTYPE, "cross_entropy: input has dtype %s (f32 or f64 expected)",
                         eng_dtype_name(input->dtype));
    if (input->ndim != 2)
        return eng_error(ENG_ESHAPE, "cross_entropy: input %s, expected logits [N,K]",
                         eng_tensor_shape_str(input));
    if (target->dtype != ENG_I64)
        return eng_error(ENG_EDTYPE,
                         "cross_entropy: target has dtype %s, expected i64 class indices",
                         eng_dtype_name(target->dtype));
    if (target->ndim != 1 || target->shape[0] != input->shape[0])
        return eng_error(ENG_ESHAPE,
                         "cross_entropy: input %s and target %s, expected [N,K] and [N]",
                         eng_tensor_shape_str(input), eng_tensor_shape_str(target));
    const int64_t *labels = eng_tensor_data(target);
    int64_t k = input->shape[1];
    for (int64_t i = 0; i < target->shape[0]; i++)
        if (labels[i] < 0 || labels[i] >= k)
            return eng_error(ENG_EARG,
                             "cross_entropy: target[%lld] = %lld is not a class in [0,%lld)",
                             (long long)i, (long long)labels[i], (long long)k);
    return ENG_OK;
}

static eng_status cross_entropy_forward(eng_loss *loss, const eng_tensor *input,
                                        const eng_tensor *target, double *value)
{
    cross_entropy *ce = (cross_entropy *)loss;
    eng_status st = check(input, target);
    if (!st)
        st = eng_tensor_ensure(&ce->probs, input->dtype, 2, input->shape);
    if (st)
        return st;
    const int64_t *labels = eng_tensor_data(target);
    int64_t n = input->shape[0], k = input->shape[1];
    if (input->dtype == ENG_F32)
        *value = eng_softmax_xent_forward_f32(ENG_F32_DATA(ce->probs), ENG_F32_DATA(input), labels,
                                              n, k);
    else
        *value = eng_softmax_xent_forward_f64(ENG_F64_DATA(ce->probs), ENG_F64_DATA(input), labels,
                                              n, k);
    return ENG_OK;
}

static eng_status cross_entropy_backward(eng_loss *loss, const eng_tensor *input,
                                         const eng_tensor *target, eng_tensor *dinput)
{
    cross_entropy *ce = (cross_entropy *)loss;
    eng_status st = check(input, target);
    if (st)
        return st;
    if (!ce->probs || !eng_tensor_same_shape(ce->probs, input) || ce->probs->dtype != input->dtype)
        return eng_error(ENG_ESTATE, "cross_entropy: backward for input %s without a forward on it",
                         eng_tensor_shape_str(input));
    const int64_t *labels = eng_tensor_data(target);
    int64_t n = input->shape[0], k = input->shape[1];
    if (input->dtype == ENG_F32)
        eng_softmax_xent_backward_f32(ENG_F32_DATA(dinput), ENG_F32_DATA(ce->probs), labels, n, k,
                                      1.0);
    else
        eng_softmax_xent_backward_f64(ENG_F64_DATA(dinput), ENG_F64_DATA(ce->probs), labels, n, k,
                                      1.0);
    return ENG_OK;
}

static void cross_entropy_destroy(eng_loss *loss)
{
    eng_tensor_release(((cross_entropy *)loss)->probs);
}

static const eng_loss_ops cross_entropy_ops = {
    .kind = "cross_entropy",
    .forward = cross_entropy_forward,
    .backward = cross_entropy_backward,
    .destroy = cross_entropy_destroy,
};

eng_status eng_cross_entropy_new(eng_loss **out)
{
    cross_entropy *ce = calloc(1, sizeof *ce);
    *out = NULL;
    if (!ce)
        return eng_error(ENG_ENOMEM, "cross_entropy: out of memory");
    ce->base.ops = &cross_entropy_ops;
    *out = &ce->base;
    return ENG_OK;
}

static eng_status cross_entropy_create(const eng_settings *s, eng_loss **out)
{
    (void)s;
    return eng_cross_entropy_new(out);
}

ENG_BUILTIN_LOSS(cross_entropy) = {
    .name = "cross_entropy",
    .ctor = "CrossEntropyLoss",
    .create = cross_entropy_create,
    .class_targets = true,
    .doc = "softmax and negative log-likelihood of [N,K] logits and [N] class indices",
};
