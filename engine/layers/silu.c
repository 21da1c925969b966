/* SiLU (swish with beta 1), torch.nn.SiLU(): elementwise, any shape (PyTorch's doc page):
 *   y = x * sigmoid(x),   dx = dy * s * (1 + x * (1 - s)) with s = sigmoid(x).
 * The whole kind is this file, math included (issue 14: a new built-in kind touches one C
 * file): the loops are a few lines over raw pointers, as in kernels/, and nothing else uses
 * them. sigmoid is evaluated from exp(-|x|) so that it never overflows. */
#include <math.h>
#include <stdlib.h>

#include "../registry.h"

static float sigmoid_f32(float x)
{
    float e = expf(-fabsf(x));
    return x >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

static double sigmoid_f64(double x)
{
    double e = exp(-fabs(x));
    return x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

static void silu_forward_f32(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] * sigmoid_f32(x[i]);
}

static void silu_forward_f64(double *y, const double *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] * sigmoid_f64(x[i]);
}

static void silu_backward_f32(float *dx, const float *dy, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float s = sigmoid_f32(x[i]);
        dx[i] = dy[i] * s * (1.0f + x[i] * (1.0f - s));
    }
}

static void silu_backward_f64(double *dx, const double *dy, const double *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double s = sigmoid_f64(x[i]);
        dx[i] = dy[i] * s * (1.0 + x[i] * (1.0 - s));
    }
}

static eng_status silu_output_shape(const eng_layer *layer, const eng_tensor *x, int *ndim,
                                    int64_t *shape)
{
    eng_status st = eng_layer_check_input(layer, x, 0, "");
    if (st)
        return st;
    *ndim = x->ndim;
    for (int d = 0; d < x->ndim; d++)
        shape[d] = x->shape[d];
    return ENG_OK;
}

static eng_status silu_forward(eng_layer *layer, const eng_tensor *x, eng_tensor *y, bool training)
{
    (void)layer;
    (void)training;
    int64_t n = eng_tensor_numel(x);
    if (x->dtype == ENG_F32)
        silu_forward_f32(ENG_F32_DATA(y), ENG_F32_DATA(x), n);
    else
        silu_forward_f64(ENG_F64_DATA(y), ENG_F64_DATA(x), n);
    return ENG_OK;
}

static eng_status silu_backward(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                                const eng_tensor *dy, eng_tensor *dx)
{
    (void)layer;
    (void)y;
    if (!dx)
        return ENG_OK;
    int64_t n = eng_tensor_numel(x);
    if (x->dtype == ENG_F32)
        silu_backward_f32(ENG_F32_DATA(dx), ENG_F32_DATA(dy), ENG_F32_DATA(x), n);
    else
        silu_backward_f64(ENG_F64_DATA(dx), ENG_F64_DATA(dy), ENG_F64_DATA(x), n);
    return ENG_OK;
}

static eng_status silu_clone(const eng_layer *layer, eng_dtype dtype, eng_layer **out);

static const eng_layer_ops silu_ops = {
    .kind = "silu",
    .output_shape = silu_output_shape,
    .forward = silu_forward,
    .backward = silu_backward,
    .clone = silu_clone,
    .batch_independent = true,
    .sample_by_sample = true,
};

/* ---- kind: made by name through the registry (no declaration in layers.h) ---- */

static eng_status silu_create(const eng_settings *s, eng_dtype dtype, eng_rng *rng, eng_layer **out)
{
    (void)s;
    (void)dtype;
    (void)rng;
    *out = NULL;
    eng_layer *l = calloc(1, sizeof *l);
    if (!l)
        return eng_error(ENG_ENOMEM, "silu: out of memory");
    eng_layer_init(l, &silu_ops, ENG_F32);
    *out = l;
    return ENG_OK;
}

static eng_status silu_clone(const eng_layer *layer, eng_dtype dtype, eng_layer **out)
{
    (void)layer;
    return silu_create(NULL, dtype, NULL, out);
}

static eng_status silu_describe(const eng_layer *layer, eng_settings *s)
{
    (void)layer;
    (void)s;
    return ENG_OK;
}

ENG_BUILTIN_KIND(silu) = {
    .name = "silu",
    .ctor = "SiLU",
    .ops = &silu_ops,
    .create = silu_create,
    .describe = silu_describe,
    .doc = "x * sigmoid(x), elementwise",
};
