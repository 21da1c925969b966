/* GELU, torch.nn.GELU(approximate='none' | 'tanh'): elementwise, any shape. Smooth, so no
 * signature; batch-independent and sample-by-sample like the other activations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/gelu.h"
#include "../registry.h"
#include "layers.h"

typedef struct gelu {
    eng_layer base;
    bool tanh_approx;
} gelu;

static eng_status gelu_output_shape(const eng_layer *layer, const eng_tensor *x, int *ndim,
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

static eng_status gelu_forward(eng_layer *layer, const eng_tensor *x, eng_tensor *y, bool training)
{
    (void)training;
    bool t = ((const gelu *)layer)->tanh_approx;
    int64_t n = eng_tensor_numel(x);
    if (x->dtype == ENG_F32)
        eng_gelu_forward_f32(ENG_F32_DATA(y), ENG_F32_DATA(x), n, t);
    else
        eng_gelu_forward_f64(ENG_F64_DATA(y), ENG_F64_DATA(x), n, t);
    return ENG_OK;
}

static eng_status gelu_backward(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                                const eng_tensor *dy, eng_tensor *dx)
{
    (void)y;
    if (!dx)
        return ENG_OK;
    bool t = ((const gelu *)layer)->tanh_approx;
    int64_t n = eng_tensor_numel(x);
    if (x->dtype == ENG_F32)
        eng_gelu_backward_f32(ENG_F32_DATA(dx), ENG_F32_DATA(dy), ENG_F32_DATA(x), n, t);
    else
        eng_gelu_backward_f64(ENG_F64_DATA(dx), ENG_F64_DATA(dy), ENG_F64_DATA(x), n, t);
    return ENG_OK;
}

static eng_status gelu_clone(const eng_layer *layer, eng_dtype dtype, eng_layer **out)
{
    (void)dtype;
    return eng_gelu_new(((const gelu *)layer)->tanh_approx, out);
}

static eng_status gelu_describe(const eng_layer *layer, eng_settings *s)
{
    return eng_settings_set_string(s, "approximate",
                                   ((const gelu *)layer)->tanh_approx ? "tanh" : "none");
}

static const eng_layer_ops gelu_ops = {
    .kind = "gelu",
    .output_shape = gelu_output_shape,
    .forward = gelu_forward,
    .backward = gelu_backward,
    .clone = gelu_clone,
    .batch_independent = true,
    .sample_by_sample = true,
};

eng_status eng_gelu_new(bool tanh_approx, eng_layer **out)
{
    *out = NULL;
    gelu *g = calloc(1, sizeof *g);
    if (!g)
        return eng_error(ENG_ENOMEM, "gelu: out of memory");
    eng_layer_init(&g->base, &gelu_ops, ENG_F32);
    g->tanh_approx = tanh_approx;
    *out = &g->base;
    return ENG_OK;
}

/* ---- kind ---- */

static eng_status gelu_create(const eng_settings *s, eng_dtype dtype, eng_rng *rng, eng_layer **out)
{
    (void)dtype;
    (void)rng;
    const char *a = eng_settings_string(s, "approximate");
    if (strcmp(a, "none") != 0 && strcmp(a, "tanh") != 0)
        return eng_error(ENG_EARG, "gelu: approximate '%s' (expected 'none' or 'tanh')", a);
    return eng_gelu_new(a[0] == 't', out);
}

static const eng_setting gelu_settings[] = {
    {"approximate", ENG_SETTING_STRING, ENG_SETTING_SHOWN, .def_string = "none",
     .doc = "'none' (the erf form) or 'tanh'"},
    {0},
};

ENG_BUILTIN_KIND(gelu) = {
    .name = "gelu",
    .ctor = "GELU",
    .ops = &gelu_ops,
    .settings = gelu_settings,
    .create = gelu_create,
    .describe = gelu_describe,
};
