/* Negative log-likelihood, torch.nn.NLLLoss(reduction='mean'|'sum', ignore_index=-100):
 * input [N,C] log-probabilities (LogSoftmax's output), target [N] i64 class indices.
 *   loss = -sum_i input[i, target_i], over the samples whose target is not ignore_index,
 *   divided by their count for 'mean' (NaN when every sample is ignored, as PyTorch). */
#include <stdlib.h>
#include <string.h>

#include "loss.h"

typedef struct nll {
    eng_loss base;
    bool sum;
    int64_t ignore_index;
} nll;

static eng_status check(const nll *l, const eng_tensor *input, const eng_tensor *target)
{
    if (!eng_dtype_is_float(input->dtype) || input->ndim != 2)
        return eng_error(ENG_ESHAPE,
                         "nll: input is %s %s, expected f32 or f64 [N,C] "
                         "log-probabilities",
                         eng_dtype_name(input->dtype), eng_tensor_shape_str(input));
    if (!target || target->dtype != ENG_I64 || target->ndim != 1 ||
        target->shape[0] != input->shape[0])
        return eng_error(ENG_ESHAPE, "nll: target is %s %s, expected i64 [%lld] for input %s",
                         target ? eng_dtype_name(target->dtype) : "none",
                         target ? eng_tensor_shape_str(target) : "", (long long)input->shape[0],
                         eng_tensor_shape_str(input));
    const int64_t *t = eng_tensor_data(target);
    for (int64_t i = 0; i < target->shape[0]; i++)
        if (t[i] != l->ignore_index && (t[i] < 0 || t[i] >= input->shape[1]))
            return eng_error(ENG_EARG, "nll: target[%lld] = %lld is not a class in [0, %lld)",
                             (long long)i, (long long)t[i], (long long)input->shape[1]);
    return ENG_OK;
}

/* The divisor: the count of counted samples for 'mean', 1 for 'sum'. */
static double divisor(const nll *l, const eng_tensor *target)
{
    if (l->sum)
        return 1.0;
    const int64_t *t = eng_tensor_data(target);
    int64_t count = 0;
    for (int64_t i = 0; i < target->shape[0]; i++)
        count += t[i] != l->ignore_index;
    return (double)count;
}

static eng_status nll_forward(eng_loss *loss, const eng_tensor *input, const eng_tensor *target,
                              double *value)
{
    const nll *l = (const nll *)loss;
    eng_status st = check(l, input, target);
    if (st)
        return st;
    const int64_t *t = eng_tensor_data(target);
    int64_t n = input->shape[0], c = input->shape[1];
    double acc = 0;
    for (int64_t i = 0; i < n; i++)
        if (t[i] != l->ignore_index)
            acc -= eng_tensor_get_flat(input, i * c + t[i]);
    *value = acc / divisor(l, target);
    return ENG_OK;
}

static eng_status nll_backward(eng_loss *loss, const eng_tensor *input, const eng_tensor *target,
                               eng_tensor *dinput)
{
    const nll *l = (const nll *)loss;
    eng_status st = check(l, input, target);
    if (st)
        return st;
    const int64_t *t = eng_tensor_data(target);
    int64_t n = input->shape[0], c = input->shape[1];
    double g = -1.0 / divisor(l, target);
    eng_tensor_zero(dinput);
    for (int64_t i = 0; i < n; i++)
        if (t[i] != l->ignore_index)
            eng_tensor_set_flat(dinput, i * c + t[i], g);
    return ENG_OK;
}

static const eng_loss_ops nll_ops = {
    .kind = "nll",
    .forward = nll_forward,
    .backward = nll_backward,
};

eng_status eng_nll_new(bool sum, int64_t ignore_index, eng_loss **out)
{
    nll *l = calloc(1, sizeof *l);
    *out = NULL;
    if (!l)
        return eng_error(ENG_ENOMEM, "nll: out of memory");
    l->base.ops = &nll_ops;
    l->sum = sum;
    l->ignore_index = ignore_index;
    *out = &l->base;
    return ENG_OK;
}

static const eng_setting nll_settings[] = {
    {"reduction", ENG_SETTING_STRING, 0, .def_string = "mean", .doc = "'mean' or 'sum'"},
    {"ignore_index", ENG_SETTING_INT, 0, .def = -100, .min = -ENG_SETTING_INT_MAX,
     .max = ENG_SETTING_INT_MAX, .doc = "a target value that counts for nothing"},
    {0},
};

static eng_status nll_create(const eng_settings *s, eng_loss **out)
{
    const char *red = eng_settings_string(s, "reduction");
    if (strcmp(red, "mean") != 0 && strcmp(red, "sum") != 0)
        return eng_error(ENG_EARG, "NLLLoss: reduction '%s' (expected 'mean' or 'sum')", red);
    return eng_nll_new(red[0] == 's', eng_settings_int(s, "ignore_index"), out);
}

ENG_BUILTIN_LOSS(nll) = {
    .name = "nll",
    .ctor = "NLLLoss",
    .settings = nll_settings,
    .create = nll_create,
    .class_targets = true,
    .doc = "negative log-likelihood of [N,C] log-probabilities and [N] class indices",
};
