/* Gradient clipping, torch.nn.utils.clip_grad_norm_ and clip_grad_value_ (torch 1.13,
 * torch/nn/utils/clip_grad.py). The norm is accumulated in double for both dtypes; the scale
 * factor max_norm / (total + 1e-6), clamped at 1, is computed and applied in the gradient's
 * dtype, as PyTorch's tensor arithmetic does. */
#include "clip.h"

#include <math.h>

#include "../kernels/reduce.h"

/* sum |g|^p (p finite) or max |g| (p infinite) of n elements, accumulated in double; NaN when
 * an element is NaN. */
#define DEFINE_NORM_ACC(T, SFX)                                                                    \
    static double norm_acc_##SFX(const T *g, int64_t n, double p)                                  \
    {                                                                                              \
        double acc = 0;                                                                            \
        if (isinf(p)) {                                                                            \
            for (int64_t i = 0; i < n; i++) {                                                      \
                double a = fabs((double)g[i]);                                                     \
                if (a > acc || a != a)                                                             \
                    acc = a;                                                                       \
                if (acc != acc)                                                                    \
                    break;                                                                         \
            }                                                                                      \
        } else if (p == 2) {                                                                       \
            for (int64_t i = 0; i < n; i++)                                                        \
                acc += (double)g[i] * (double)g[i];                                                \
        } else if (p == 1) {                                                                       \
            for (int64_t i = 0; i < n; i++)                                                        \
                acc += fabs((double)g[i]);                                                         \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++)                                                        \
                acc += pow(fabs((double)g[i]), p);                                                 \
        }                                                                                          \
        return acc;                                                                                \
    }

DEFINE_NORM_ACC(float, f32)
DEFINE_NORM_ACC(double, f64)

/* NaN prints as "-nan" when its sign bit is set (0/0 on x86): messages show "nan". */
static double unsigned_nan(double v)
{
    return v != v ? fabs(v) : v;
}

static eng_status check_grad(const eng_tensor *g, const char *name, const char *fname)
{
    if (!eng_tensor_is_contiguous(g))
        return eng_error(ENG_ESTATE, "%s: gradient of %s is not contiguous", fname, name);
    if (g->dtype != ENG_F32 && g->dtype != ENG_F64)
        return eng_error(ENG_EDTYPE, "%s: gradient of %s is %s, expected f32 or f64", fname, name,
                         eng_dtype_name(g->dtype));
    return ENG_OK;
}

eng_status eng_clip_grad_norm(const eng_param_list *params, double max_norm, double norm_type,
                              bool error_if_nonfinite, double *total_norm)
{
    *total_norm = 0;
    if (!(max_norm >= 0))
        return eng_error(ENG_EARG, "clip_grad_norm: max_norm = %g, expected max_norm >= 0",
                         max_norm);
    if (!(norm_type > 0))
        return eng_error(ENG_EARG,
                         "clip_grad_norm: norm_type = %g, expected > 0 (inf for the "
                         "largest |g|)",
                         norm_type);
    if (!params)
        return eng_error(ENG_EARG, "clipping: no parameter list");
    int n = params->count;
    double acc = 0;
    bool inf_norm = isinf(norm_type);
    for (int i = 0; i < n; i++) {
        const eng_tensor *g = params->params[i].grad;
        const char *name = params->params[i].name;
        eng_status st = check_grad(g, name, "clip_grad_norm");
        if (st)
            return st;
        int64_t numel = eng_tensor_numel(g);
        double a = g->dtype == ENG_F32 ? norm_acc_f32(ENG_F32_DATA(g), numel, norm_type)
                                       : norm_acc_f64(ENG_F64_DATA(g), numel, norm_type);
        if (inf_norm) {
            if (acc == acc && (a > acc || a != a))
                acc = a;
        } else
            acc += a;
    }
    double total = inf_norm ? acc : norm_type == 2 ? sqrt(acc) : pow(acc, 1 / norm_type);
    if (n > 0 && params->params[0].grad->dtype == ENG_F32)
        total = (float)total;
    *total_norm = total;
    if (error_if_nonfinite && total - total != 0) {
        for (int i = 0; i < n; i++) {
            const eng_tensor *g = params->params[i].grad;
            const char *name = params->params[i].name;
            int64_t bad = g->dtype == ENG_F32
                              ? eng_find_nonfinite_f32(ENG_F32_DATA(g), eng_tensor_numel(g))
                              : eng_find_nonfinite_f64(ENG_F64_DATA(g), eng_tensor_numel(g));
            if (bad >= 0)
                return eng_error(ENG_ENONFINITE,
                                 "clip_grad_norm: the total %g-norm of the "
                                 "gradients is %g (gradient of %s has %g at flat index %lld); "
                                 "nothing was clipped",
                                 norm_type, unsigned_nan(total), name,
                                 unsigned_nan(eng_tensor_get_flat(g, bad)), (long long)bad);
        }
        return eng_error(ENG_ENONFINITE,
                         "clip_grad_norm: the total %g-norm of the gradients "
                         "overflowed to %g; nothing was clipped",
                         norm_type, total);
    }
    for (int i = 0; i < n; i++) {
        eng_tensor *g = params->params[i].grad;
        int64_t numel = eng_tensor_numel(g);
        /* PyTorch evaluates max_norm / (total + 1e-6) as (total + 1e-6).reciprocal() * max_norm
         * (Tensor.__rtruediv__); torch.clamp(coef, max=1.0) keeps a NaN coefficient, and so
         * does `coef > 1 ? 1 : coef`. */
        if (g->dtype == ENG_F32) {
            float coef = 1 / ((float)total + 1e-6f) * (float)max_norm;
            coef = coef > 1 ? 1 : coef;
            float *d = ENG_F32_DATA(g);
            for (int64_t k = 0; k < numel; k++)
                d[k] *= coef;
        } else {
            double coef = 1 / (total + 1e-6) * max_norm;
            coef = coef > 1 ? 1 : coef;
            double *d = ENG_F64_DATA(g);
            for (int64_t k = 0; k < numel; k++)
                d[k] *= coef;
        }
    }
    return ENG_OK;
}

eng_status eng_clip_grad_value(const eng_param_list *params, double clip_value)
{
    if (!(clip_value >= 0))
        return eng_error(ENG_EARG, "clip_grad_value: clip_value = %g, expected >= 0", clip_value);
    if (!params)
        return eng_error(ENG_EARG, "clipping: no parameter list");
    int n = params->count;
    for (int i = 0; i < n; i++) {
        eng_status st =
            check_grad(params->params[i].grad, params->params[i].name, "clip_grad_value");
        if (st)
            return st;
    }
    for (int i = 0; i < n; i++) {
        eng_tensor *g = params->params[i].grad;
        int64_t numel = eng_tensor_numel(g);
        if (g->dtype == ENG_F32) {
            float hi = (float)clip_value, *d = ENG_F32_DATA(g);
            for (int64_t k = 0; k < numel; k++)
                d[k] = d[k] > hi ? hi : d[k] < -hi ? -hi : d[k];
        } else {
            double hi = clip_value, *d = ENG_F64_DATA(g);
            for (int64_t k = 0; k < numel; k++)
                d[k] = d[k] > hi ? hi : d[k] < -hi ? -hi : d[k];
        }
    }
    return ENG_OK;
}
