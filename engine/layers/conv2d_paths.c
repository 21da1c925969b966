/* conv2d's paths besides im2col + GEMM and Winograd (conv2d.c): the direct convolution for
 * few input taps, 1x1 stride-1 convolutions as one product per image on the image itself, and
 * strided f32 convolutions through the input's phases. */
#include <string.h>

#include "../kernels/broadcast.h"
#include "../kernels/conv_direct.h"
#include "../kernels/conv_phase.h"
#include "../kernels/gemm.h"
#include "../kernels/reduce.h"
#include "conv2d_impl.h"

/* Stride 1, dilation 1, few taps per output: accumulate straight from the padded input (no
 * im2col matrix; the GEMM's inner dimension would be too short to run at speed). Not f32 1x1
 * layers, whose product on the image runs faster (a 16 -> 16 layer at 28x28, batch 64: 0.31
 * against 0.46 ms); f64 keeps the direct sums it has always had. */
bool eng_conv2d_use_direct(const conv2d *c, const eng_tensor *x)
{
    return eng_conv_direct_is_fast(x->dtype) && c->opts.groups == 1 && c->opts.stride_h == 1 &&
           c->opts.stride_w == 1 && c->opts.dilation_h == 1 && c->opts.dilation_w == 1 &&
           c->in_channels * c->kh * c->kw <= 64 &&
           !(x->dtype == ENG_F32 && eng_conv2d_use_pointwise(c));
}

/* Without a bias the accumulators start from zeros (grid, unused on this path, holds them):
 * the same sums as clearing y and adding, without the clearing pass. */
eng_status eng_conv2d_direct_forward(conv2d *c, const eng_tensor *x, eng_tensor *y,
                                     const eng_conv_geometry *g)
{
    int hp = g->height + 2 * g->ph, wp = g->width + 2 * g->pw;
    int64_t pshape[3] = {g->channels, hp, wp}, bshape[1] = {c->out_channels};
    eng_status st = eng_tensor_ensure(&c->xpad, x->dtype, 3, pshape);
    eng_param *bias = eng_layer_param(&c->base, "bias");
    if (!st && !bias)
        st = eng_tensor_ensure(&c->grid, x->dtype, 1, bshape);
    if (st)
        return st;
    const eng_tensor *b = bias ? bias->value : c->grid, *w = c->base.params[0].value;
    if (!bias)
        eng_tensor_zero(c->grid);
    int64_t plane = (int64_t)g->oh * g->ow, y_stride = (int64_t)c->out_channels * plane;
    int64_t x_stride = (int64_t)g->channels * g->height * g->width;
    for (int64_t i = 0; i < x->shape[0]; i++) {
        switch (x->dtype) {
        case ENG_F32: /* y = bias + conv in one pass */
            eng_pad_f32(ENG_F32_DATA(c->xpad), ENG_F32_DATA(x) + i * x_stride, g->channels,
                        g->height, g->width, g->ph, g->pw);
            eng_conv_direct_bias_f32(ENG_F32_DATA(y) + i * y_stride, ENG_F32_DATA(b),
                                     ENG_F32_DATA(w), ENG_F32_DATA(c->xpad), g->channels, hp, wp,
                                     c->out_channels, c->kh, c->kw);
            break;
        case ENG_F64:
            eng_pad_f64(ENG_F64_DATA(c->xpad), ENG_F64_DATA(x) + i * x_stride, g->channels,
                        g->height, g->width, g->ph, g->pw);
            eng_conv_direct_bias_f64(ENG_F64_DATA(y) + i * y_stride, ENG_F64_DATA(b),
                                     ENG_F64_DATA(w), ENG_F64_DATA(c->xpad), g->channels, hp, wp,
                                     c->out_channels, c->kh, c->kw);
            break;
        default: return eng_error(ENG_EDTYPE, "conv2d: unsupported dtype");
        }
    }
    return ENG_OK;
}

/* The weight and bias gradients without an input gradient (a first layer), on the direct
 * path's terms. */
eng_status eng_conv2d_direct_backward(conv2d *c, const eng_tensor *x, const eng_tensor *dy,
                                      const eng_conv_geometry *g)
{
    int hp = g->height + 2 * g->ph, wp = g->width + 2 * g->pw;
    int64_t pshape[3] = {g->channels, hp, wp};
    eng_status st = eng_tensor_ensure(&c->xpad, x->dtype, 3, pshape);
    if (st)
        return st;
    eng_param *weight = &c->base.params[0], *bias = eng_layer_param(&c->base, "bias");
    int64_t plane = (int64_t)g->oh * g->ow, y_stride = (int64_t)c->out_channels * plane;
    int64_t x_stride = (int64_t)g->channels * g->height * g->width;
    for (int64_t i = 0; i < x->shape[0]; i++) {
        switch (x->dtype) {
        case ENG_F32: {
            const float *dyi = ENG_F32_DATA(dy) + i * y_stride;
            eng_pad_f32(ENG_F32_DATA(c->xpad), ENG_F32_DATA(x) + i * x_stride, g->channels,
                        g->height, g->width, g->ph, g->pw);
            eng_conv_direct_dweight_f32(ENG_F32_DATA(weight->grad), dyi, ENG_F32_DATA(c->xpad),
                                        g->channels, hp, wp, c->out_channels, c->kh, c->kw);
            if (bias)
                eng_sum_planes_f32(ENG_F32_DATA(bias->grad), dyi, c->out_channels, plane);
            break;
        }
        case ENG_F64: {
            const double *dyi = ENG_F64_DATA(dy) + i * y_stride;
            eng_pad_f64(ENG_F64_DATA(c->xpad), ENG_F64_DATA(x) + i * x_stride, g->channels,
                        g->height, g->width, g->ph, g->pw);
            eng_conv_direct_dweight_f64(ENG_F64_DATA(weight->grad), dyi, ENG_F64_DATA(c->xpad),
                                        g->channels, hp, wp, c->out_channels, c->kh, c->kw);
            if (bias)
                eng_sum_planes_f64(ENG_F64_DATA(bias->grad), dyi, c->out_channels, plane);
            break;
        }
        default: return eng_error(ENG_EDTYPE, "conv2d: unsupported dtype");
        }
    }
    return ENG_OK;
}

/* ---- 1x1, stride 1, no padding: im2col would copy the image unchanged ---------------------- */

bool eng_conv2d_use_pointwise(const conv2d *c)
{
    return c->opts.groups == 1 && c->kh == 1 && c->kw == 1 && c->opts.stride_h == 1 &&
           c->opts.stride_w == 1 && c->opts.padding_h == 0 && c->opts.padding_w == 0;
}

/* y_i [out,plane] = weight [out,in] @ x_i [in,plane], from the broadcast bias: im2col's
 * products on the image itself (the same sums). */
eng_status eng_conv2d_pointwise_forward(conv2d *c, const eng_tensor *x, eng_tensor *y,
                                        const eng_conv_geometry *g)
{
    int plane = g->oh * g->ow, in = g->channels, out = c->out_channels;
    int64_t x_stride = (int64_t)in * plane, y_stride = (int64_t)out * plane;
    eng_param *bias = eng_layer_param(&c->base, "bias");
    const eng_tensor *w = c->base.params[0].value;
    for (int64_t i = 0; i < x->shape[0]; i++) {
        switch (x->dtype) {
        case ENG_F32: {
            float *yi = ENG_F32_DATA(y) + i * y_stride;
            if (bias)
                eng_fill_planes_f32(yi, ENG_F32_DATA(bias->value), out, plane);
            eng_gemm_f32(yi, ENG_F32_DATA(w), ENG_F32_DATA(x) + i * x_stride, out, plane, in, false,
                         false, 1.0f, bias ? 1.0f : 0.0f);
            break;
        }
        case ENG_F64: {
            double *yi = ENG_F64_DATA(y) + i * y_stride;
            if (bias)
                eng_fill_planes_f64(yi, ENG_F64_DATA(bias->value), out, plane);
            eng_gemm_f64(yi, ENG_F64_DATA(w), ENG_F64_DATA(x) + i * x_stride, out, plane, in, false,
                         false, 1.0, bias ? 1.0 : 0.0);
            break;
        }
        default: return eng_error(ENG_EDTYPE, "conv2d: unsupported dtype");
        }
    }
    return ENG_OK;
}

/* dweight += dy_i @ x_i^T; dx_i = weight^T @ dy_i written straight into dx (no col2im), or
 * added to it (f32 only). */
static eng_status pointwise_backward(conv2d *c, const eng_tensor *x, const eng_tensor *dy,
                                     eng_tensor *dx, const eng_conv_geometry *g, bool add)
{
    int plane = g->oh * g->ow, in = g->channels, out = c->out_channels;
    int64_t x_stride = (int64_t)in * plane, y_stride = (int64_t)out * plane;
    eng_param *weight = &c->base.params[0], *bias = eng_layer_param(&c->base, "bias");
    for (int64_t i = 0; i < x->shape[0]; i++) {
        switch (x->dtype) {
        case ENG_F32: {
            const float *dyi = ENG_F32_DATA(dy) + i * y_stride;
            eng_gemm_f32(ENG_F32_DATA(weight->grad), dyi, ENG_F32_DATA(x) + i * x_stride, out, in,
                         plane, false, true, 1.0f, 1.0f);
            if (bias)
                eng_sum_planes_f32(ENG_F32_DATA(bias->grad), dyi, out, plane);
            if (dx)
                eng_gemm_f32(ENG_F32_DATA(dx) + i * x_stride, ENG_F32_DATA(weight->value), dyi, in,
                             plane, out, true, false, 1.0f, add ? 1.0f : 0.0f);
            break;
        }
        case ENG_F64: {
            const double *dyi = ENG_F64_DATA(dy) + i * y_stride;
            eng_gemm_f64(ENG_F64_DATA(weight->grad), dyi, ENG_F64_DATA(x) + i * x_stride, out, in,
                         plane, false, true, 1.0, 1.0);
            if (bias)
                eng_sum_planes_f64(ENG_F64_DATA(bias->grad), dyi, out, plane);
            if (dx)
                eng_gemm_f64(ENG_F64_DATA(dx) + i * x_stride, ENG_F64_DATA(weight->value), dyi, in,
                             plane, out, true, false, 1.0, 0.0);
            break;
        }
        default: return eng_error(ENG_EDTYPE, "conv2d: unsupported dtype");
        }
    }
    return ENG_OK;
}

eng_status eng_conv2d_pointwise_backward(conv2d *c, const eng_tensor *x, const eng_tensor *dy,
                                         eng_tensor *dx, const eng_conv_geometry *g)
{
    return pointwise_backward(c, x, dy, dx, g, false);
}

/* ---- f32, stride > 1: im2col from the input's phases (kernels/conv_phase.h) ----------------- */

bool eng_conv2d_use_phases(const conv2d *c, const eng_tensor *x)
{
    return x->dtype == ENG_F32 && c->opts.groups == 1 && c->opts.dilation_h == 1 &&
           c->opts.dilation_w == 1 && (c->opts.stride_h > 1 || c->opts.stride_w > 1);
}

/* Columns per product: small planes (7x7) go several images at a time, so that the product's
 * rows are long enough for the vector bodies (gemm.c's LONG_ROW) and its calls few. Such
 * layers therefore ask the model for the whole batch at once. */
#define PHASE_COLUMNS 192

static int64_t phase_images(int64_t n, int64_t grid)
{
    int64_t group = (PHASE_COLUMNS + grid - 1) / grid;
    return group < 1 ? 1 : group > n ? n : group;
}

bool eng_conv2d_phase_prefers_many(const conv2d *c, const eng_tensor *x)
{
    eng_conv_geometry g = {0};
    return eng_conv2d_use_phases(c, x) && !eng_conv2d_geometry(&c->base, x, &g) &&
           eng_phase_grid(&g) < PHASE_COLUMNS;
}

static bool is_1x1(const conv2d *c)
{
    return c->kh == 1 && c->kw == 1;
}

/* xpad holds the phases (the direct path, stride 1, never runs on the same layer; 1x1 kernels
 * need none), col the columns of a group of images, grid the product's output (or dy extended
 * to the grid), dphase dx's phases. */
static eng_status ensure_phases(conv2d *c, const eng_conv_geometry *g, int64_t columns,
                                bool backward)
{
    int64_t size = eng_phase_size(g);
    int64_t cshape[2] = {(int64_t)g->channels * g->kh * g->kw, columns};
    int64_t gshape[2] = {c->out_channels, columns};
    eng_status st = is_1x1(c) ? ENG_OK : eng_tensor_ensure(&c->xpad, ENG_F32, 1, &size);
    if (!st)
        st = eng_tensor_ensure(&c->col, ENG_F32, 2, cshape);
    if (!st)
        st = eng_tensor_ensure(&c->grid, ENG_F32, 2, gshape);
    if (!st && backward && !is_1x1(c))
        st = eng_tensor_ensure(&c->dphase, ENG_F32, 1, &size);
    return st;
}

/* col [k, count*len] = the columns of images first .. first+count-1 side by side. */
static void phase_columns(conv2d *c, const float *x, int64_t first, int count,
                          const eng_conv_geometry *g)
{
    int64_t len = eng_phase_grid(g), x_stride = (int64_t)g->channels * g->height * g->width;
    for (int k = 0; k < count; k++) {
        float *col = ENG_F32_DATA(c->col) + k * len;
        const float *xk = x + (first + k) * x_stride;
        if (is_1x1(c)) {
            eng_phase_subsample_f32(col, count * len, xk, g);
            continue;
        }
        eng_phase_split_f32(ENG_F32_DATA(c->xpad), xk, g);
        eng_phase_im2col_f32(col, count * len, ENG_F32_DATA(c->xpad), g);
    }
}

/* One image whose grid has no garbage columns: the product's output is y's image itself. */
static bool grid_is_image(int count, const eng_conv_geometry *g)
{
    return count == 1 && eng_phase_cols(g) == g->ow;
}

eng_status eng_conv2d_phase_forward(conv2d *c, const eng_tensor *x, eng_tensor *y,
                                    const eng_conv_geometry *g)
{
    int64_t n = x->shape[0], len = eng_phase_grid(g), group = phase_images(n, len);
    eng_status st = ensure_phases(c, g, group * len, false);
    if (st)
        return st;
    int k = g->channels * g->kh * g->kw, out = c->out_channels;
    int64_t y_stride = (int64_t)out * g->oh * g->ow;
    eng_param *bias = eng_layer_param(&c->base, "bias");
    const float *b = bias ? ENG_F32_DATA(bias->value) : NULL;
    for (int64_t first = 0; first < n; first += group) {
        int count = (int)(n - first < group ? n - first : group);
        bool direct = grid_is_image(count, g);
        float *yg = ENG_F32_DATA(y) + first * y_stride, *grid = direct ? yg : ENG_F32_DATA(c->grid);
        phase_columns(c, ENG_F32_DATA(x), first, count, g);
        if (direct && b)
            eng_fill_planes_f32(yg, b, out, g->oh * g->ow);
        eng_gemm_f32(grid, ENG_F32_DATA(c->base.params[0].value), ENG_F32_DATA(c->col), out,
                     (int)(count * len), k, false, false, 1.0f, direct && b ? 1.0f : 0.0f);
        for (int i = 0; !direct && i < count; i++)
            eng_phase_crop_f32(yg + i * y_stride, grid + i * len, count * len, b, out, g);
    }
    return ENG_OK;
}

/* dy extended to the grid (zero garbage columns): dweight += dgrid @ col^T, dcol = weight^T @
 * dgrid, whose garbage columns are then zero as the phases' adjoint requires. add (1x1 kernels
 * only): dx += the input gradient, touching only the elements some output reads. */
static eng_status phase_backward(conv2d *c, const eng_tensor *x, const eng_tensor *dy,
                                 eng_tensor *dx, const eng_conv_geometry *g, bool add)
{
    int64_t n = x->shape[0], len = eng_phase_grid(g), group = phase_images(n, len);
    eng_status st = ensure_phases(c, g, group * len, dx != NULL);
    if (st)
        return st;
    int k = g->channels * g->kh * g->kw, out = c->out_channels, plane = g->oh * g->ow;
    int64_t x_stride = (int64_t)g->channels * g->height * g->width, y_stride = (int64_t)out * plane;
    eng_param *weight = &c->base.params[0], *bias = eng_layer_param(&c->base, "bias");
    float *col = ENG_F32_DATA(c->col);
    for (int64_t first = 0; first < n; first += group) {
        int count = (int)(n - first < group ? n - first : group);
        int64_t ld = count * len;
        const float *dyg = ENG_F32_DATA(dy) + first * y_stride, *dgrid = dyg;
        phase_columns(c, ENG_F32_DATA(x), first, count, g);
        if (!grid_is_image(count, g)) {
            for (int i = 0; i < count; i++)
                eng_phase_extend_f32(ENG_F32_DATA(c->grid) + i * len, ld, dyg + i * y_stride, out,
                                     g);
            dgrid = ENG_F32_DATA(c->grid);
        }
        eng_gemm_f32(ENG_F32_DATA(weight->grad), dgrid, col, out, k, (int)ld, false, true, 1.0f,
                     1.0f);
        for (int i = 0; bias && i < count; i++)
            eng_sum_planes_f32(ENG_F32_DATA(bias->grad), dyg + i * y_stride, out, plane);
        if (!dx)
            continue;
        eng_gemm_f32(col, ENG_F32_DATA(weight->value), dgrid, k, (int)ld, out, true, false, 1.0f,
                     0.0f);
        for (int i = 0; i < count; i++) {
            float *dxi = ENG_F32_DATA(dx) + (first + i) * x_stride;
            if (is_1x1(c))
                eng_phase_upsample_f32(dxi, col + i * len, ld, g, add);
            else
                eng_phase_col2im_f32(dxi, ENG_F32_DATA(c->dphase), col + i * len, ld, g);
        }
    }
    return ENG_OK;
}

eng_status eng_conv2d_phase_backward(conv2d *c, const eng_tensor *x, const eng_tensor *dy,
                                     eng_tensor *dx, const eng_conv_geometry *g)
{
    return phase_backward(c, x, dy, dx, g, false);
}

/* ---- adding into dx (layer.h's backward_add): f32 1x1 kernels, strided or not ------------- */

bool eng_conv2d_can_add_dx(const eng_layer *layer, const eng_tensor *x)
{
    const conv2d *c = (const conv2d *)layer;
    return x->dtype == ENG_F32 && c->opts.groups == 1 && is_1x1(c) &&
           (eng_conv2d_use_pointwise(c) || eng_conv2d_use_phases(c, x));
}

eng_status eng_conv2d_backward_add(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                                   const eng_tensor *dy, eng_tensor *dx)
{
    (void)y;
    conv2d *c = (conv2d *)layer;
    eng_conv_geometry g = {0};
    eng_status st = eng_conv2d_geometry(layer, x, &g);
    if (!st && !eng_conv2d_can_add_dx(layer, x))
        st = eng_error(ENG_ESTATE, "conv2d '%s': cannot add its input gradient into dx",
                       eng_layer_label(layer));
    if (st)
        return st;
    return eng_conv2d_use_pointwise(c) ? pointwise_backward(c, x, dy, dx, &g, true)
                                       : phase_backward(c, x, dy, dx, &g, true);
}
