/* 2-d convolution with PyTorch's torch.nn.Conv2d semantics: cross-correlation, zero padding,
 * weight [out,in,kh,kw]. Three paths, chosen per layer and input: a direct convolution
 * (kernels/conv_direct*, AVX-512 or AVX2 at run time) for layers with few input taps; Winograd
 * F(2x2,3x3) or F(4x4,3x3) (Lavin and Gray 2015, kernels/winograd*.c, conv2d_winograd.c) for
 * f32 3x3 layers with many input channels; im2col and one GEMM per image (Chellapilla et al.
 * 2006) otherwise, dilated ones included. Grouped convolutions (depthwise too) are in
 * conv2d_grouped.c; the direct path, 1x1 stride-1 products on the image itself and f32 strided
 * layers (im2col from the input's phases) in conv2d_paths.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/broadcast.h"
#include "../kernels/conv_direct.h"
#include "../kernels/gemm.h"
#include "../kernels/im2col.h"
#include "../kernels/reduce.h"
#include "../kernels/small_gemm.h"
#include "../kernels/winograd.h"
#include "../registry.h"
#include "conv2d_impl.h"

eng_status eng_conv2d_geometry(const eng_layer *layer, const eng_tensor *x, eng_conv_geometry *g)
{
    const conv2d *c = (const conv2d *)layer;
    eng_status st = eng_layer_check_input(layer, x, 4, "[N,C,H,W]");
    if (st)
        return st;
    if (x->shape[1] != c->in_channels)
        return eng_error(ENG_ESHAPE, "conv2d '%s': x %s, expected [N,%d,H,W]",
                         eng_layer_label(layer), eng_tensor_shape_str(x), c->in_channels);
    g->channels = c->in_channels;
    g->height = (int)x->shape[2];
    g->width = (int)x->shape[3];
    g->kh = c->kh;
    g->kw = c->kw;
    g->sh = c->opts.stride_h;
    g->sw = c->opts.stride_w;
    g->ph = c->opts.padding_h;
    g->pw = c->opts.padding_w;
    g->dh = c->opts.dilation_h;
    g->dw = c->opts.dilation_w;
    int span_h = g->dh * (g->kh - 1) + 1, span_w = g->dw * (g->kw - 1) + 1;
    if (g->height + 2 * g->ph < span_h || g->width + 2 * g->pw < span_w)
        return eng_error(ENG_ESHAPE,
                         "conv2d '%s': x %s is smaller than the %dx%d kernel "
                         "(padding %d,%d, dilation %d,%d)",
                         eng_layer_label(layer), eng_tensor_shape_str(x), c->kh, c->kw, g->ph,
                         g->pw, g->dh, g->dw);
    g->oh = (g->height + 2 * g->ph - span_h) / g->sh + 1;
    g->ow = (g->width + 2 * g->pw - span_w) / g->sw + 1;
    return ENG_OK;
}

static eng_status conv2d_output_shape(const eng_layer *layer, const eng_tensor *x, int *ndim,
                                      int64_t *shape)
{
    eng_conv_geometry g = {0};
    eng_status st = eng_conv2d_geometry(layer, x, &g);
    if (st)
        return st;
    *ndim = 4;
    shape[0] = x->shape[0];
    shape[1] = ((const conv2d *)layer)->out_channels;
    shape[2] = g.oh;
    shape[3] = g.ow;
    return ENG_OK;
}

static eng_status ensure_col(conv2d *c, const eng_conv_geometry *g, eng_dtype dtype)
{
    int64_t shape[2] = {(int64_t)g->channels * g->kh * g->kw, (int64_t)g->oh * g->ow};
    return eng_tensor_ensure(&c->col, dtype, 2, shape);
}

/* f32 3x3, stride 1, dilation 1, with enough input channels for the GEMMs to dominate:
 * Winograd (conv2d_winograd.c), 2.25 to 4 times fewer multiplications than im2col + GEMM. Its
 * f32 results differ from the direct sum by rounding (up to about 2e-6 of the largest output,
 * conv2d_winograd.c); f64 (gradient checks) keeps the im2col path, which sums exactly as the
 * definition does. */
static bool use_winograd(const conv2d *c, const eng_tensor *x)
{
    return x->dtype == ENG_F32 && c->opts.groups == 1 && c->kh == 3 && c->kw == 3 &&
           c->opts.stride_h == 1 && c->opts.stride_w == 1 && c->opts.dilation_h == 1 &&
           c->opts.dilation_w == 1 &&
           x->shape[3] + 2 * c->opts.padding_w <= ENG_WINOGRAD_MAX_WIDTH &&
           !eng_conv2d_use_direct(c, x);
}

static eng_status conv2d_forward(eng_layer *layer, const eng_tensor *x, eng_tensor *y,
                                 bool training)
{
    (void)training;
    conv2d *c = (conv2d *)layer;
    eng_conv_geometry g = {0};
    eng_status st = eng_conv2d_geometry(layer, x, &g);
    if (st)
        return st;
    if (c->opts.groups > 1)
        return eng_conv2d_grouped_forward(c, x, y, &g);
    if (eng_conv2d_use_direct(c, x))
        return eng_conv2d_direct_forward(c, x, y, &g);
    if (use_winograd(c, x))
        return eng_conv2d_winograd_forward(c, x, y, &g);
    if (eng_conv2d_use_pointwise(c))
        return eng_conv2d_pointwise_forward(c, x, y, &g);
    if (eng_conv2d_use_phases(c, x))
        return eng_conv2d_phase_forward(c, x, y, &g);
    st = ensure_col(c, &g, x->dtype);
    if (st)
        return st;
    int64_t n = x->shape[0];
    int k = g.channels * g.kh * g.kw, plane = g.oh * g.ow, out = c->out_channels;
    int64_t x_stride = (int64_t)g.channels * g.height * g.width, y_stride = (int64_t)out * plane;
    eng_param *bias = eng_layer_param(layer, "bias");
    for (int64_t i = 0; i < n; i++) {
        switch (x->dtype) {
        /* y starts as the broadcast bias and the product is added to it (beta = 1): one pass
         * over y instead of GEMM's clearing pass plus a bias pass. */
        case ENG_F32: {
            float *col = ENG_F32_DATA(c->col), *yi = ENG_F32_DATA(y) + i * y_stride;
            eng_im2col_f32(col, ENG_F32_DATA(x) + i * x_stride, &g);
            if (bias)
                eng_fill_planes_f32(yi, ENG_F32_DATA(bias->value), out, plane);
            eng_gemm_f32(yi, ENG_F32_DATA(layer->params[0].value), col, out, plane, k, false, false,
                         1.0f, bias ? 1.0f : 0.0f);
            break;
        }
        case ENG_F64: {
            double *col = ENG_F64_DATA(c->col), *yi = ENG_F64_DATA(y) + i * y_stride;
            eng_im2col_f64(col, ENG_F64_DATA(x) + i * x_stride, &g);
            if (bias)
                eng_fill_planes_f64(yi, ENG_F64_DATA(bias->value), out, plane);
            eng_gemm_f64(yi, ENG_F64_DATA(layer->params[0].value), col, out, plane, k, false, false,
                         1.0, bias ? 1.0 : 0.0);
            break;
        }
        default: return eng_error(ENG_EDTYPE, "conv2d: unsupported dtype");
        }
    }
    return ENG_OK;
}

static eng_status conv2d_backward(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                                  const eng_tensor *dy, eng_tensor *dx)
{
    (void)y;
    conv2d *c = (conv2d *)layer;
    eng_conv_geometry g = {0};
    eng_status st = eng_conv2d_geometry(layer, x, &g);
    if (st)
        return st;
    if (c->opts.groups > 1)
        return eng_conv2d_grouped_backward(c, x, dy, dx, &g);
    if (!dx && eng_conv2d_use_direct(c, x))
        return eng_conv2d_direct_backward(c, x, dy, &g);
    if (use_winograd(c, x))
        return eng_conv2d_winograd_backward(c, x, dy, dx, &g);
    if (eng_conv2d_use_pointwise(c))
        return eng_conv2d_pointwise_backward(c, x, dy, dx, &g);
    if (eng_conv2d_use_phases(c, x))
        return eng_conv2d_phase_backward(c, x, dy, dx, &g);
    st = ensure_col(c, &g, x->dtype);
    if (st)
        return st;
    int64_t n = x->shape[0];
    int k = g.channels * g.kh * g.kw, plane = g.oh * g.ow, out = c->out_channels;
    int64_t x_stride = (int64_t)g.channels * g.height * g.width, y_stride = (int64_t)out * plane;
    eng_param *weight = &layer->params[0], *bias = eng_layer_param(layer, "bias");
    for (int64_t i = 0; i < n; i++) {
        switch (x->dtype) {
        case ENG_F32: {
            float *col = ENG_F32_DATA(c->col);
            const float *dyi = ENG_F32_DATA(dy) + i * y_stride;
            /* dweight [out,k] += dy_i [out,plane] @ col^T [plane,k] */
            eng_im2col_f32(col, ENG_F32_DATA(x) + i * x_stride, &g);
            eng_gemm_f32(ENG_F32_DATA(weight->grad), dyi, col, out, k, plane, false, true, 1.0f,
                         1.0f);
            if (bias)
                eng_sum_planes_f32(ENG_F32_DATA(bias->grad), dyi, out, plane);
            if (dx) {
                /* dcol [k,plane] = weight^T [k,out] @ dy_i [out,plane] */
                eng_gemm_f32(col, ENG_F32_DATA(weight->value), dyi, k, plane, out, true, false,
                             1.0f, 0.0f);
                eng_col2im_f32(ENG_F32_DATA(dx) + i * x_stride, col, &g);
            }
            break;
        }
        case ENG_F64: {
            double *col = ENG_F64_DATA(c->col);
            const double *dyi = ENG_F64_DATA(dy) + i * y_stride;
            eng_im2col_f64(col, ENG_F64_DATA(x) + i * x_stride, &g);
            eng_gemm_f64(ENG_F64_DATA(weight->grad), dyi, col, out, k, plane, false, true, 1.0,
                         1.0);
            if (bias)
                eng_sum_planes_f64(ENG_F64_DATA(bias->grad), dyi, out, plane);
            if (dx) {
                eng_gemm_f64(col, ENG_F64_DATA(weight->value), dyi, k, plane, out, true, false, 1.0,
                             0.0);
                eng_col2im_f64(ENG_F64_DATA(dx) + i * x_stride, col, &g);
            }
            break;
        }
        default: return eng_error(ENG_EDTYPE, "conv2d: unsupported dtype");
        }
    }
    return ENG_OK;
}

static const eng_layer_ops conv2d_ops;

bool eng_layer_is_conv2d(const eng_layer *layer)
{
    return layer->ops == &conv2d_ops;
}

/* The paths whose backward reads dy a few images at a time, in the order of the images. */
bool eng_conv2d_takes_pooled(const eng_layer *layer, const eng_tensor *x, bool dx)
{
    const conv2d *c = (const conv2d *)layer;
    eng_conv_geometry g = {0};
    if (x->dtype != ENG_F32 || c->opts.groups > 1 || eng_conv2d_geometry(layer, x, &g))
        return false;
    if (eng_conv2d_use_direct(c, x))
        return !dx;
    return use_winograd(c, x) && eng_conv2d_winograd_is_2x2(c, &g);
}

/* Output channels per block of the direct path's folded backward: 8 planes of 28x28 f32 are
 * 25 KB, so the block's gradient, made from the pooled one, stays in L1 while the weight
 * gradient reads it (three times: once per kernel row) and the bias sums read it. */
#define POOLED_BLOCK 8

/* The direct path, image by image and within an image block by block of output channels:
 * each output channel's weight and bias gradients are sums of their own (conv_direct.h,
 * reduce.h), so the blocks give the whole image's sums, bit for bit. */
static eng_status direct_backward_pooled(conv2d *c, const eng_tensor *x, const eng_pooled_grad *dy,
                                         const eng_conv_geometry *g)
{
    int hp = g->height + 2 * g->ph, wp = g->width + 2 * g->pw, out = c->out_channels;
    int64_t pshape[3] = {g->channels, hp, wp}, rshape[1] = {(int64_t)POOLED_BLOCK * g->oh * g->ow};
    eng_status st = eng_tensor_ensure(&c->xpad, ENG_F32, 3, pshape);
    if (!st)
        st = eng_tensor_ensure(&c->dy_rows, ENG_F32, 1, rshape);
    if (st)
        return st;
    eng_param *weight = &c->base.params[0], *bias = eng_layer_param(&c->base, "bias");
    int64_t plane = (int64_t)g->oh * g->ow, taps = (int64_t)g->channels * c->kh * c->kw;
    int64_t x_stride = (int64_t)g->channels * g->height * g->width;
    float *rows = ENG_F32_DATA(c->dy_rows), *xpad = ENG_F32_DATA(c->xpad);
    for (int64_t i = 0; i < x->shape[0]; i++) {
        eng_pad_f32(xpad, ENG_F32_DATA(x) + i * x_stride, g->channels, g->height, g->width, g->ph,
                    g->pw);
        for (int o = 0; o < out; o += POOLED_BLOCK) {
            int block = out - o < POOLED_BLOCK ? out - o : POOLED_BLOCK;
            st = eng_pooled_grad_planes(dy, i, o, block, rows);
            if (st)
                return st;
            eng_conv_direct_dweight_f32(ENG_F32_DATA(weight->grad) + o * taps, rows, xpad,
                                        g->channels, hp, wp, block, c->kh, c->kw);
            if (bias)
                eng_sum_planes_f32(ENG_F32_DATA(bias->grad) + o, rows, block, plane);
        }
    }
    return ENG_OK;
}

eng_status eng_conv2d_backward_pooled(eng_layer *layer, const eng_tensor *x,
                                      const eng_pooled_grad *dy, eng_tensor *dx)
{
    conv2d *c = (conv2d *)layer;
    eng_conv_geometry g = {0};
    eng_status st = eng_conv2d_geometry(layer, x, &g);
    if (st)
        return st;
    if (!eng_conv2d_takes_pooled(layer, x, dx != NULL))
        return eng_error(ENG_ESTATE, "conv2d: no path takes a pooled gradient for %s",
                         eng_tensor_shape_str(x));
    if (eng_conv2d_use_direct(c, x))
        return direct_backward_pooled(c, x, dy, &g);
    return eng_conv2d_winograd_backward_pooled(c, x, dy, dx, &g);
}

static eng_status conv2d_clone(const eng_layer *layer, eng_dtype dtype, eng_layer **out)
{
    const conv2d *c = (const conv2d *)layer;
    eng_status st =
        eng_conv2d_new(c->in_channels, c->out_channels, c->kh, c->kw, &c->opts, dtype, NULL, out);
    if (st)
        return st;
    return eng_layer_copy_params(*out, layer);
}

static const char *const pair_names[4] = {"kernel_size", "stride", "padding", "dilation"};

static eng_status conv2d_describe(const eng_layer *layer, eng_settings *s)
{
    const conv2d *c = (const conv2d *)layer;
    const eng_conv2d_options *o = &c->opts;
    const int pairs[4][2] = {{c->kh, c->kw},
                             {o->stride_h, o->stride_w},
                             {o->padding_h, o->padding_w},
                             {o->dilation_h, o->dilation_w}};
    eng_status st = eng_settings_set_int(s, "in_channels", c->in_channels);
    if (!st)
        st = eng_settings_set_int(s, "out_channels", c->out_channels);
    for (int i = 0; !st && i < 4; i++)
        st = eng_settings_set_int_list(s, pair_names[i], pairs[i], 2);
    if (!st)
        st = eng_settings_set_int(s, "groups", o->groups);
    return st ? st : eng_settings_set_bool(s, "bias", !o->no_bias);
}

static void conv2d_destroy(eng_layer *layer)
{
    conv2d *c = (conv2d *)layer;
    eng_tensor_release(c->col);
    eng_tensor_release(c->xpad);
    eng_tensor_release(c->grid);
    eng_tensor_release(c->dphase);
    eng_tensor_release(c->wino_u);
    eng_tensor_release(c->wino_ut);
    eng_tensor_release(c->wino_du);
    eng_tensor_release(c->wino_v);
    eng_tensor_release(c->wino_m);
    eng_tensor_release(c->dy_rows);
}

static bool conv2d_prefers_many_samples(const eng_layer *layer, const eng_tensor *x)
{
    const conv2d *c = (const conv2d *)layer;
    return use_winograd(c, x) || eng_conv2d_phase_prefers_many(c, x);
}

static const eng_layer_ops conv2d_ops = {
    .prefers_many_samples = conv2d_prefers_many_samples,
    .batch_independent = true,
    .sample_by_sample = true,
    .forward_delta = eng_conv2d_forward_delta,
    .kind = "conv2d",
    .output_shape = conv2d_output_shape,
    .forward = conv2d_forward,
    .backward = conv2d_backward,
    .can_add_dx = eng_conv2d_can_add_dx,
    .backward_add = eng_conv2d_backward_add,
    .clone = conv2d_clone,
    .destroy = conv2d_destroy,
};

eng_status eng_conv2d_new(int in_channels, int out_channels, int kh, int kw,
                          const eng_conv2d_options *opts, eng_dtype dtype, eng_rng *rng,
                          eng_layer **out)
{
    *out = NULL;
    eng_conv2d_options o = opts ? *opts : (eng_conv2d_options){0};
    o.stride_h = o.stride_h ? o.stride_h : 1, o.stride_w = o.stride_w ? o.stride_w : 1;
    o.dilation_h = o.dilation_h ? o.dilation_h : 1, o.dilation_w = o.dilation_w ? o.dilation_w : 1;
    o.groups = o.groups ? o.groups : 1;
    if (in_channels <= 0 || out_channels <= 0 || kh <= 0 || kw <= 0)
        return eng_error(ENG_EARG,
                         "conv2d: channels (%d, %d) and kernel size (%d, %d) must be positive",
                         in_channels, out_channels, kh, kw);
    if (o.stride_h < 0 || o.stride_w < 0 || o.dilation_h < 0 || o.dilation_w < 0 ||
        o.padding_h < 0 || o.padding_w < 0)
        return eng_error(ENG_EARG,
                         "conv2d: stride (%d,%d), padding (%d,%d) and dilation (%d,%d) "
                         "may not be negative",
                         o.stride_h, o.stride_w, o.padding_h, o.padding_w, o.dilation_h,
                         o.dilation_w);
    if (o.groups < 1 || in_channels % o.groups || out_channels % o.groups)
        return eng_error(ENG_EARG,
                         "conv2d: groups (%d) must divide in_channels (%d) and "
                         "out_channels (%d)",
                         o.groups, in_channels, out_channels);
    if (!eng_dtype_is_float(dtype))
        return eng_error(ENG_EDTYPE, "conv2d: dtype %s (f32 or f64 expected)",
                         eng_dtype_name(dtype));
    conv2d *c = calloc(1, sizeof *c);
    if (!c)
        return eng_error(ENG_ENOMEM, "conv2d: out of memory");
    eng_layer_init(&c->base, &conv2d_ops, dtype);
    c->in_channels = in_channels;
    c->out_channels = out_channels;
    c->kh = kh;
    c->kw = kw;
    c->opts = o;
    int cin = in_channels / o.groups; /* input channels each output sees */
    int64_t wshape[4] = {out_channels, cin, kh, kw}, bshape[1] = {out_channels};
    eng_status st = eng_layer_add_param(&c->base, "weight", 4, wshape);
    if (!st && !o.no_bias)
        st = eng_layer_add_param(&c->base, "bias", 1, bshape);
    if (!st)
        st = eng_tensor_kaiming_uniform(c->base.params[0].value, rng);
    if (!st && !o.no_bias) {
        double bound = 1.0 / sqrt((double)cin * kh * kw); /* fan_in, as PyTorch */
        st = eng_tensor_uniform(c->base.params[1].value, rng, -bound, bound);
    }
    if (st) {
        eng_layer_release(&c->base);
        return st;
    }
    *out = &c->base;
    return ENG_OK;
}

static eng_status conv2d_create(const eng_settings *s, eng_dtype dtype, eng_rng *rng,
                                eng_layer **out)
{
    int v[4][2];
    for (int i = 0; i < 4; i++)
        eng_settings_ints(s, pair_names[i], v[i], 2);
    eng_conv2d_options o = {v[1][0],
                            v[1][1],
                            v[2][0],
                            v[2][1],
                            v[3][0],
                            v[3][1],
                            !eng_settings_bool(s, "bias"),
                            eng_settings_int(s, "groups")};
    return eng_conv2d_new(eng_settings_int(s, "in_channels"), eng_settings_int(s, "out_channels"),
                          v[0][0], v[0][1], &o, dtype, rng, out);
}

static eng_status conv2d_param_shapes(const eng_settings *s, eng_param_shape *out, int *n)
{
    int k[2], in = eng_settings_int(s, "in_channels"), o = eng_settings_int(s, "out_channels");
    eng_settings_ints(s, "kernel_size", k, 2);
    int groups = eng_settings_int(s, "groups");
    if (groups < 1 || in % groups || o % groups)
        return eng_error(ENG_EARG,
                         "conv2d: groups (%d) must divide in_channels (%d) and "
                         "out_channels (%d)",
                         groups, in, o);
    out[0] = (eng_param_shape){"weight", 4, {o, in / groups, k[0], k[1]}};
    out[1] = (eng_param_shape){"bias", 1, {o}};
    *n = eng_settings_bool(s, "bias") ? 2 : 1;
    return ENG_OK;
}

#define CHANNELS(NAME)                                                                             \
    {                                                                                              \
        NAME, ENG_SETTING_INT, ENG_SETTING_REQUIRED | ENG_SETTING_POSITIONAL | ENG_SETTING_BARE,   \
            .min = 1, .max = ENG_SETTING_INT_MAX                                                   \
    }
#define PAIR(NAME, FLAGS, DEF, MIN, DOC)                                                           \
    {                                                                                              \
        NAME, ENG_SETTING_INTS, FLAGS, .def = DEF, .min = MIN, .max = 1 << 20, .len = 2,           \
                                       .doc = DOC                                                  \
    }

static const eng_setting conv2d_settings[] = {
    CHANNELS("in_channels"),
    CHANNELS("out_channels"),
    PAIR("kernel_size", ENG_SETTING_REQUIRED | ENG_SETTING_POSITIONAL | ENG_SETTING_SHOWN, 0, 1,
         "(kh, kw), or k for (k, k)"),
    PAIR("stride", ENG_SETTING_SHOWN, 1, 1, "(sh, sw)"),
    PAIR("padding", 0, 0, 0, "zero padding (ph, pw)"),
    PAIR("dilation", 0, 1, 1, "(dh, dw)"),
    {"groups", ENG_SETTING_INT, 0, .def = 1, .min = 1, .max = ENG_SETTING_INT_MAX,
     .doc = "channel groups: each output sees in_channels/groups inputs"},
    {"bias", ENG_SETTING_BOOL, 0, .def = 1, .doc = "whether the layer adds a learned bias"},
    {0},
};

ENG_BUILTIN_KIND(conv2d) = {.name = "conv2d",
                            .ctor = "Conv2d",
                            .ops = &conv2d_ops,
                            .settings = conv2d_settings,
                            .takes_dtype = true,
                            .create = conv2d_create,
                            .describe = conv2d_describe,
                            .param_shapes = conv2d_param_shapes};
