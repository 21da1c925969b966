/* Huber loss, torch.nn.HuberLoss(reduction='mean'|'sum', delta=1.0) (PyTorch's doc page):
 *   d = input - target, elementwise;
 *   l(d) = d^2 / 2                   when |d| < delta,
 *          delta * (|d| - delta / 2) otherwise;
 *   loss = sum l(d) / N for 'mean' (N elements; NaN when N = 0, as PyTorch), sum for 'sum'.
 *   d(loss)/d(input) = d when |d| < delta, else delta * sign(d); divided by N for 'mean'.
 * With delta = 1 it is torch.nn.SmoothL1Loss(beta=1). Sums accumulate in double. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loss.h"

typedef struct huber {
    eng_loss base;
    double delta;
    bool sum;
} huber;

static eng_status check(const eng_tensor *input, const eng_tensor *target)
{
    if (!target || !eng_dtype_is_float(input->dtype) || input->dtype != target->dtype)
        return eng_error(ENG_EDTYPE,
                         "huber: input has dtype %s and target %s (both f32 or both "
                         "f64)",
                         eng_dtype_name(input->dtype),
                         target ? eng_dtype_name(target->dtype) : "none");
    if (!eng_tensor_same_shape(input, target))
        return eng_error(ENG_ESHAPE, "huber: input %s and target %s differ in shape",
                         eng_tensor_shape_str(input), eng_tensor_shape_str(target));
    return ENG_OK;
}

static double divisor(const huber *l, int64_t n)
{
    return l->sum ? 1.0 : (double)n;
}

static eng_status huber_forward(eng_loss *loss, const eng_tensor *input, const eng_tensor *target,
                                double *value)
{
    const huber *l = (const huber *)loss;
    eng_status st = check(input, target);
    if (st)
        return st;
    int64_t n = eng_tensor_numel(input);
    double acc = 0, delta = l->delta;
    for (int64_t i = 0; i < n; i++) {
        double d = input->dtype == ENG_F32
                       ? (double)ENG_F32_DATA(input)[i] - ENG_F32_DATA(target)[i]
                       : ENG_F64_DATA(input)[i] - ENG_F64_DATA(target)[i];
        double a = fabs(d);
        acc += a < delta ? 0.5 * d * d : delta * (a - 0.5 * delta);
    }
    *value = n > 0 || l->sum ? acc / divisor(l, n) : NAN;
    return ENG_OK;
}

static eng_status huber_backward(eng_loss *loss, const eng_tensor *input, const eng_tensor *target,
                                 eng_tensor *dinput)
{
    const huber *l = (const huber *)loss;
    eng_status st = check(input, target);
    if (st)
        return st;
    int64_t n = eng_tensor_numel(input);
    double scale = n > 0 ? 1.0 / divisor(l, n) : 0.0, delta = l->delta;
    for (int64_t i = 0; i < n; i++) {
        double d = input->dtype == ENG_F32
                       ? (double)ENG_F32_DATA(input)[i] - ENG_F32_DATA(target)[i]
                       : ENG_F64_DATA(input)[i] - ENG_F64_DATA(target)[i];
        double g = fabs(d) < delta ? d : (d > 0 ? delta : -delta);
        if (input->dtype == ENG_F32)
            ENG_F32_DATA(dinput)[i] = (float)(scale * g);
        else
            ENG_F64_DATA(dinput)[i] = scale * g;
    }
    return ENG_OK;
}

static const eng_loss_ops huber_ops = {
    .kind = "huber",
    .forward = huber_forward,
    .backward = huber_backward,
};

static const eng_setting huber_settings[] = {
    {"delta", ENG_SETTING_NUMBER, ENG_SETTING_POSITIONAL, .def = 1, .min = DBL_MIN, .max = DBL_MAX,
     .doc = "where the loss turns from quadratic to linear (> 0)"},
    {"reduction", ENG_SETTING_STRING, 0, .def_string = "mean", .doc = "'mean' or 'sum'"},
    {0},
};

static eng_status huber_create(const eng_settings *s, eng_loss **out)
{
    const char *red = eng_settings_string(s, "reduction");
    *out = NULL;
    if (strcmp(red, "mean") != 0 && strcmp(red, "sum") != 0)
        return eng_error(ENG_EARG, "HuberLoss: reduction '%s' (expected 'mean' or 'sum')", red);
    huber *l = calloc(1, sizeof *l);
    if (!l)
        return eng_error(ENG_ENOMEM, "huber: out of memory");
    l->base.ops = &huber_ops;
    l->delta = eng_settings_number(s, "delta");
    l->sum = red[0] == 's';
    *out = &l->base;
    return ENG_OK;
}

ENG_BUILTIN_LOSS(huber) = {
    .name = "huber",
    .ctor = "HuberLoss",
    .settings = huber_settings,
    .create = huber_create,
    .doc = "quadratic within delta of the target, linear beyond (torch.nn.HuberLoss)",
};
