/* Mean squared error, torch.nn.MSELoss(reduction='mean'). */
#include <stdlib.h>

#include "loss.h"

static eng_status check(const eng_tensor *input, const eng_tensor *target)
{
    if (!eng_dtype_is_float(input->dtype) || input->dtype != target->dtype)
        return eng_error(ENG_EDTYPE, "mse: input has dtype %s and target %s (both f32 or both f64)",
                         eng_dtype_name(input->dtype), eng_dtype_name(target->dtype));
    if (!eng_tensor_same_shape(input, target))
        return eng_error(ENG_ESHAPE, "mse: input %s and target %s differ in shape",
                         eng_tensor_shape_str(input), eng_tensor_shape_str(target));
    return ENG_OK;
}

static eng_status mse_forward(eng_loss *loss, const eng_tensor *input, const eng_tensor *target,
                              double *value)
{
    (void)loss;
    eng_status st = check(input, target);
    if (st)
        return st;
    int64_t n = eng_tensor_numel(input);
    double acc = 0;
    if (input->dtype == ENG_F32) {
        const float *a = ENG_F32_DATA(input), *b = ENG_F32_DATA(target);
        for (int64_t i = 0; i < n; i++)
            acc += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    } else {
        const double *a = ENG_F64_DATA(input), *b = ENG_F64_DATA(target);
        for (int64_t i = 0; i < n; i++)
            acc += (a[i] - b[i]) * (a[i] - b[i]);
    }
    *value = n > 0 ? acc / (double)n : 0.0;
    return ENG_OK;
}

static eng_status mse_backward(eng_loss *loss, const eng_tensor *input, const eng_tensor *target,
                               eng_tensor *dinput)
{
    (void)loss;
    eng_status st = check(input, target);
    if (st)
        return st;
    int64_t n = eng_tensor_numel(input);
    double f = n > 0 ? 2.0 / (double)n : 0.0;
    if (input->dtype == ENG_F32) {
        const float *a = ENG_F32_DATA(input), *b = ENG_F32_DATA(target);
        float *d = ENG_F32_DATA(dinput);
        for (int64_t i = 0; i < n; i++)
            d[i] = (float)(f * ((double)a[i] - b[i]));
    } else {
        const double *a = ENG_F64_DATA(input), *b = ENG_F64_DATA(target);
        double *d = ENG_F64_DATA(dinput);
        for (int64_t i = 0; i < n; i++)
            d[i] = f * (a[i] - b[i]);
    }
    return ENG_OK;
}

static const eng_loss_ops mse_ops = {
    .kind = "mse",
    .forward = mse_forward,
    .backward = mse_backward,
};

eng_status eng_mse_new(eng_loss **out)
{
    eng_loss *l = calloc(1, sizeof *l);
    *out = NULL;
    if (!l)
        return eng_error(ENG_ENOMEM, "mse: out of memory");
    l->ops = &mse_ops;
    *out = l;
    return ENG_OK;
}

static eng_status mse_create(const eng_settings *s, eng_loss **out)
{
    (void)s;
    return eng_mse_new(out);
}

ENG_BUILTIN_LOSS(mse) = {
    .name = "mse",
    .ctor = "MSELoss",
    .create = mse_create,
    .doc = "mean of (input - target)^2",
};
