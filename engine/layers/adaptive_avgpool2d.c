/* torch.nn.AdaptiveAvgPool2d(output_size): x [N,C,H,W] -> y [N,C,oh,ow], any output size
 * (1x1 is global average pooling). Cells follow PyTorch's floor/ceil bounds, so they overlap
 * when H is not a multiple of oh. */
#include <stdio.h>
#include <stdlib.h>

#include "../kernels/adaptive_pool.h"
#include "../registry.h"
#include "layers.h"

typedef struct adaptive_avgpool2d {
    eng_layer base;
    int oh, ow;
} adaptive_avgpool2d;

static eng_status aap_output_shape(const eng_layer *layer, const eng_tensor *x, int *ndim,
                                   int64_t *shape)
{
    const adaptive_avgpool2d *a = (const adaptive_avgpool2d *)layer;
    eng_status st = eng_layer_check_input(layer, x, 4, "[N,C,H,W]");
    if (st)
        return st;
    if (x->shape[2] < 1 || x->shape[3] < 1)
        return eng_error(ENG_ESHAPE, "adaptive_avgpool2d '%s': x %s has an empty plane",
                         eng_layer_label(layer), eng_tensor_shape_str(x));
    *ndim = 4;
    shape[0] = x->shape[0];
    shape[1] = x->shape[1];
    shape[2] = a->oh;
    shape[3] = a->ow;
    return ENG_OK;
}

static eng_status aap_forward(eng_layer *layer, const eng_tensor *x, eng_tensor *y, bool training)
{
    (void)training;
    const adaptive_avgpool2d *a = (const adaptive_avgpool2d *)layer;
    int64_t planes = x->shape[0] * x->shape[1], h = x->shape[2], w = x->shape[3];
    if (x->dtype == ENG_F32)
        eng_adaptive_avgpool2d_forward_f32(ENG_F32_DATA(y), ENG_F32_DATA(x), planes, h, w, a->oh,
                                           a->ow);
    else
        eng_adaptive_avgpool2d_forward_f64(ENG_F64_DATA(y), ENG_F64_DATA(x), planes, h, w, a->oh,
                                           a->ow);
    return ENG_OK;
}

static eng_status aap_backward(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                               const eng_tensor *dy, eng_tensor *dx)
{
    (void)y;
    if (!dx)
        return ENG_OK;
    const adaptive_avgpool2d *a = (const adaptive_avgpool2d *)layer;
    int64_t planes = x->shape[0] * x->shape[1], h = x->shape[2], w = x->shape[3];
    if (x->dtype == ENG_F32)
        eng_adaptive_avgpool2d_backward_f32(ENG_F32_DATA(dx), ENG_F32_DATA(dy), planes, h, w, a->oh,
                                            a->ow);
    else
        eng_adaptive_avgpool2d_backward_f64(ENG_F64_DATA(dx), ENG_F64_DATA(dy), planes, h, w, a->oh,
                                            a->ow);
    return ENG_OK;
}

static eng_status aap_clone(const eng_layer *layer, eng_dtype dtype, eng_layer **out)
{
    (void)dtype;
    const adaptive_avgpool2d *a = (const adaptive_avgpool2d *)layer;
    return eng_adaptive_avgpool2d_new(a->oh, a->ow, out);
}

static eng_status aap_describe(const eng_layer *layer, eng_settings *s)
{
    const adaptive_avgpool2d *a = (const adaptive_avgpool2d *)layer;
    return eng_settings_set_int_list(s, "output_size", (int[]){a->oh, a->ow}, 2);
}

static const eng_layer_ops aap_ops = {
    .kind = "adaptive_avgpool2d",
    .output_shape = aap_output_shape,
    .forward = aap_forward,
    .backward = aap_backward,
    .clone = aap_clone,
    .batch_independent = true,
    .sample_by_sample = true,
};

eng_status eng_adaptive_avgpool2d_new(int oh, int ow, eng_layer **out)
{
    *out = NULL;
    if (oh < 1 || ow < 1)
        return eng_error(ENG_EARG, "adaptive_avgpool2d: output size (%d,%d) must be positive", oh,
                         ow);
    adaptive_avgpool2d *a = calloc(1, sizeof *a);
    if (!a)
        return eng_error(ENG_ENOMEM, "adaptive_avgpool2d: out of memory");
    eng_layer_init(&a->base, &aap_ops, ENG_F32);
    a->oh = oh;
    a->ow = ow;
    *out = &a->base;
    return ENG_OK;
}

/* ---- kind ---- */

static eng_status aap_create(const eng_settings *s, eng_dtype dtype, eng_rng *rng, eng_layer **out)
{
    (void)dtype;
    (void)rng;
    int v[2];
    eng_settings_ints(s, "output_size", v, 2);
    return eng_adaptive_avgpool2d_new(v[0], v[1], out);
}

static const eng_setting aap_settings[] = {
    {"output_size", ENG_SETTING_INTS,
     ENG_SETTING_REQUIRED | ENG_SETTING_POSITIONAL | ENG_SETTING_SHOWN, .min = 1, .max = 1 << 20,
     .len = 2, .doc = "(oh, ow), or s for (s, s); 1 is global pooling"},
    {0},
};

ENG_BUILTIN_KIND(adaptive_avgpool2d) = {
    .name = "adaptive_avgpool2d",
    .ctor = "AdaptiveAvgPool2d",
    .ops = &aap_ops,
    .settings = aap_settings,
    .create = aap_create,
    .describe = aap_describe,
};
