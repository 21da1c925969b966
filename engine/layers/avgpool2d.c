/* Average pooling, torch.nn.AvgPool2d with count_include_pad=True. */
#include <stdlib.h>

#include "layers.h"
#include "pool_common.h"

typedef struct avgpool2d {
    eng_layer base;
    pool_config cfg;
} avgpool2d;

static eng_status avgpool2d_output_shape(const eng_layer *layer, const eng_tensor *x, int *ndim,
                                         int64_t *shape)
{
    return pool_output_shape(layer, &((const avgpool2d *)layer)->cfg, x, ndim, shape);
}

static eng_status avgpool2d_forward(eng_layer *layer, const eng_tensor *x, eng_tensor *y,
                                    bool training)
{
    (void)training;
    eng_pool_geometry g;
    eng_status st = pool_geometry(layer, &((avgpool2d *)layer)->cfg, x, &g);
    if (st)
        return st;
    if (x->dtype == ENG_F32)
        eng_avgpool_forward_f32(ENG_F32_DATA(y), ENG_F32_DATA(x), &g);
    else
        eng_avgpool_forward_f64(ENG_F64_DATA(y), ENG_F64_DATA(x), &g);
    return ENG_OK;
}

static eng_status avgpool2d_backward(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                                     const eng_tensor *dy, eng_tensor *dx)
{
    (void)y;
    if (!dx)
        return ENG_OK;
    eng_pool_geometry g;
    eng_status st = pool_geometry(layer, &((avgpool2d *)layer)->cfg, x, &g);
    if (st)
        return st;
    if (x->dtype == ENG_F32)
        eng_avgpool_backward_f32(ENG_F32_DATA(dx), ENG_F32_DATA(dy), &g);
    else
        eng_avgpool_backward_f64(ENG_F64_DATA(dx), ENG_F64_DATA(dy), &g);
    return ENG_OK;
}

static eng_status avgpool2d_clone(const eng_layer *layer, eng_dtype dtype, eng_layer **out)
{
    (void)dtype;
    const pool_config *c = &((const avgpool2d *)layer)->cfg;
    return eng_avgpool2d_new(c->kh, c->kw, c->sh, c->sw, c->ph, c->pw, out);
}

static eng_status avgpool2d_describe(const eng_layer *layer, eng_settings *s)
{
    return pool_describe(&((const avgpool2d *)layer)->cfg, s);
}

static const eng_layer_ops avgpool2d_ops = {
    .batch_independent = true,
    .sample_by_sample = true,
    .kind = "avgpool2d",
    .output_shape = avgpool2d_output_shape,
    .forward = avgpool2d_forward,
    .backward = avgpool2d_backward,
    .clone = avgpool2d_clone,
};

eng_status eng_avgpool2d_new(int kh, int kw, int stride_h, int stride_w, int padding_h,
                             int padding_w, eng_layer **out)
{
    *out = NULL;
    pool_config cfg;
    eng_status st =
        pool_config_init(&cfg, "avgpool2d", kh, kw, stride_h, stride_w, padding_h, padding_w);
    if (st)
        return st;
    avgpool2d *a = calloc(1, sizeof *a);
    if (!a)
        return eng_error(ENG_ENOMEM, "avgpool2d: out of memory");
    eng_layer_init(&a->base, &avgpool2d_ops, ENG_F32);
    a->cfg = cfg;
    *out = &a->base;
    return ENG_OK;
}

static eng_status avgpool2d_create(const eng_settings *s, eng_dtype dtype, eng_rng *rng,
                                   eng_layer **out)
{
    (void)dtype;
    (void)rng;
    int v[6];
    pool_settings_get(s, v);
    return eng_avgpool2d_new(v[0], v[1], v[2], v[3], v[4], v[5], out);
}

ENG_BUILTIN_KIND(avgpool2d) = {
    .name = "avgpool2d",
    .ctor = "AvgPool2d",
    .ops = &avgpool2d_ops,
    .settings = pool_settings,
    .create = avgpool2d_create,
    .describe = avgpool2d_describe,
};
