/* conv2d's paths besides im2col + GEMM and Winograd (conv2d.c): the direct convolution for
 * few input taps, 1x1 stride-1 convolutions as one product per image on the image itself, and
 * strided f32 convolutions: unfolded by rows of the input at column stride 2 (kernels wider
 * than 1x1), through the input's phases otherwise. */
#include <string.h>

#include "../kernels/broadcast.h"
#include "../kernels/conv_direct.h"
#include "../kernels/conv_phase.h"
#include "../kernels/gemm.h"
#include "../kernels/reduce.h"
#include "../kernels/small_gemm.h"
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

/* xpad holds the phases (the direct path, stride 1, never runs on the same layer), or for 1x1
 * kernels (no phases) the columns of all n images, kept from the forward for the backward;
 * col the columns of a group of images, grid the product's output (or dy extended to the
 * grid), dphase dx's phases. */
static eng_status ensure_phases(conv2d *c, const eng_conv_geometry *g, int64_t columns, int64_t n,
                                bool backward)
{
    int64_t size = is_1x1(c) ? n * g->channels * eng_phase_grid(g) : eng_phase_size(g);
    int64_t cshape[2] = {(int64_t)g->channels * g->kh * g->kw, columns};
    int64_t gshape[2] = {c->out_channels, columns};
    eng_status st = eng_tensor_ensure(&c->xpad, ENG_F32, 1, &size);
    if (!st)
        st = eng_tensor_ensure(&c->col, ENG_F32, 2, cshape);
    if (!st)
        st = eng_tensor_ensure(&c->grid, ENG_F32, 2, gshape);
    if (!st && backward && !is_1x1(c))
        st = eng_tensor_ensure(&c->dphase, ENG_F32, 1, &size);
    return st;
}

/* The columns of images first .. first+count-1 side by side, [k, count*len]: in c->col, or for
 * a 1x1 kernel in c->xpad at the group's place (the forward's, which its backward reads again
 * while kept_columns says they are x's). Returns them. */
static const float *phase_columns(conv2d *c, const float *x, int64_t first, int count,
                                  const eng_conv_geometry *g)
{
    int64_t len = eng_phase_grid(g), x_stride = (int64_t)g->channels * g->height * g->width;
    float *cols =
        is_1x1(c) ? ENG_F32_DATA(c->xpad) + first * g->channels * len : ENG_F32_DATA(c->col);
    for (int k = 0; k < count; k++) {
        float *col = cols + k * len;
        const float *xk = x + (first + k) * x_stride;
        if (is_1x1(c)) {
            eng_phase_subsample_f32(col, count * len, xk, g);
            continue;
        }
        eng_phase_split_f32(ENG_F32_DATA(c->xpad), xk, g);
        eng_phase_im2col_f32(col, count * len, ENG_F32_DATA(c->xpad), g);
    }
    return cols;
}

/* Whether c->xpad holds the columns of x (a 1x1 kernel's forward on x wrote them, and no
 * forward on other data since). A layer whose forwards run a few samples at a time before
 * any backward (model_split.c's stretches) sees other rows of x here, and makes them again. */
static bool kept_columns(const conv2d *c, const eng_tensor *x)
{
    return is_1x1(c) && c->kept_x && c->kept_x == eng_tensor_data(x) && c->kept_n == x->shape[0] &&
           c->kept_h == x->shape[2] && c->kept_w == x->shape[3];
}

/* One image whose grid has no garbage columns: the product's output is y's image itself. */
static bool grid_is_image(int count, const eng_conv_geometry *g)
{
    return count == 1 && eng_phase_cols(g) == g->ow;
}

/* Kernels wider than 1x1 at column stride 2 with AVX-512: im2col by rows of x
 * (kernels/im2col.h's eng_im2col_s2_f32) into exact columns, oh*ow per image with no garbage
 * columns (the phases' grid has oh*Q: 7% more products at 28x28 -> 14x14, 14% at 14x14 ->
 * 7x7), made again in the backward, and col2im from them in one pass per row of dx. Small
 * planes go several images side by side, as on the phases. The columns' and the grid's rows
 * start on whole vectors (ld a multiple of 16): the products load along them, and rows of
 * 196 floats (a 14x14 plane, or four 7x7) cost the dweight product 25% more. The products
 * are small_gemm.h's, whose AVX-512 bodies eng_gemm_f32 would choose for these shapes. */
static bool use_rows2(const conv2d *c, const eng_conv_geometry *g)
{
    return !is_1x1(c) && eng_im2col_s2_fast(g);
}

static int64_t rows2_ld(int64_t columns)
{
    return (columns + 15) / 16 * 16;
}

static eng_status ensure_rows2(conv2d *c, const eng_conv_geometry *g, int64_t columns)
{
    int64_t cshape[2] = {(int64_t)g->channels * g->kh * g->kw, rows2_ld(columns)};
    int64_t gshape[2] = {c->out_channels, rows2_ld(columns)};
    eng_status st = eng_tensor_ensure(&c->col, ENG_F32, 2, cshape);
    return st ? st : eng_tensor_ensure(&c->grid, ENG_F32, 2, gshape);
}

/* The columns of images first .. first+count-1 side by side in c->col, rows ld apart. */
static void rows2_columns(conv2d *c, const float *x, int64_t first, int count, int64_t ld,
                          const eng_conv_geometry *g)
{
    int64_t plane = (int64_t)g->oh * g->ow, x_stride = (int64_t)g->channels * g->height * g->width;
    for (int k = 0; k < count; k++)
        eng_im2col_s2_f32(ENG_F32_DATA(c->col) + k * plane, ld, x + (first + k) * x_stride, g);
}

/* Between count images of planes [count, out, plane] and grid [out, ld]: image i at column
 * i * plane; to_grid copies into the grid, else out of it adding bias [optional]. */
static void rows2_move(float *planes, float *grid, int64_t ld, const float *bias, int count,
                       int out, int64_t plane, bool to_grid)
{
    for (int i = 0; i < count; i++)
        for (int o = 0; o < out; o++) {
            float *p = planes + ((int64_t)i * out + o) * plane, *gp = grid + o * ld + i * plane;
            if (to_grid)
                memcpy(gp, p, sizeof(float) * (size_t)plane);
            else if (!bias)
                memcpy(p, gp, sizeof(float) * (size_t)plane);
            else
                for (int64_t t = 0; t < plane; t++)
                    p[t] = gp[t] + bias[o];
        }
}

/* One image writes y's plane directly (the grid would be y's image but for its ld). */
static eng_status rows2_forward(conv2d *c, const eng_tensor *x, eng_tensor *y,
                                const eng_conv_geometry *g)
{
    int64_t n = x->shape[0], plane = (int64_t)g->oh * g->ow, group = phase_images(n, plane);
    eng_status st = ensure_rows2(c, g, group * plane);
    if (st)
        return st;
    int k = g->channels * g->kh * g->kw, out = c->out_channels;
    int64_t y_stride = out * plane;
    const float *w = ENG_F32_DATA(c->base.params[0].value), *col = ENG_F32_DATA(c->col);
    eng_param *bias = eng_layer_param(&c->base, "bias");
    const float *b = bias ? ENG_F32_DATA(bias->value) : NULL;
    for (int64_t first = 0; first < n; first += group) {
        int count = (int)(n - first < group ? n - first : group);
        int64_t ld = rows2_ld(count * plane);
        float *yg = ENG_F32_DATA(y) + first * y_stride;
        rows2_columns(c, ENG_F32_DATA(x), first, count, ld, g);
        if (count > 1) {
            eng_small_gemm_nn_f32(ENG_F32_DATA(c->grid), ld, w, col, ld, out, (int)(count * plane),
                                  k);
            rows2_move(yg, ENG_F32_DATA(c->grid), ld, b, count, out, plane, false);
        } else if (b) {
            eng_fill_planes_f32(yg, b, out, (int)plane);
            eng_small_gemm_nn_acc_f32(yg, plane, w, k, col, ld, out, (int)plane, k);
        } else {
            eng_small_gemm_nn_f32(yg, plane, w, col, ld, out, (int)plane, k);
        }
    }
    return ENG_OK;
}

/* dy's images copied into the grid (whole-vector rows), dweight += dgrid @ columns^T, the
 * columns' gradient weight^T @ dgrid over the columns, then col2im image by image. */
static eng_status rows2_backward(conv2d *c, const eng_tensor *x, const eng_tensor *dy,
                                 eng_tensor *dx, const eng_conv_geometry *g)
{
    int64_t n = x->shape[0], plane = (int64_t)g->oh * g->ow, group = phase_images(n, plane);
    eng_status st = ensure_rows2(c, g, group * plane);
    if (st)
        return st;
    int k = g->channels * g->kh * g->kw, out = c->out_channels;
    int64_t x_stride = (int64_t)g->channels * g->height * g->width, y_stride = out * plane;
    eng_param *weight = &c->base.params[0], *bias = eng_layer_param(&c->base, "bias");
    float *col = ENG_F32_DATA(c->col), *dgrid = ENG_F32_DATA(c->grid);
    for (int64_t first = 0; first < n; first += group) {
        int count = (int)(n - first < group ? n - first : group), cols = (int)(count * plane);
        int64_t ld = rows2_ld(cols);
        float *dyg = ENG_F32_DATA(dy) + first * y_stride;
        rows2_columns(c, ENG_F32_DATA(x), first, count, ld, g);
        rows2_move(dyg, dgrid, ld, NULL, count, out, plane, true);
        eng_small_gemm_nt_f32(ENG_F32_DATA(weight->grad), k, dgrid, ld, col, ld, out, k, cols);
        for (int i = 0; bias && i < count; i++)
            eng_sum_planes_f32(ENG_F32_DATA(bias->grad), dyg + i * y_stride, out, (int)plane);
        if (!dx)
            continue;
        eng_small_gemm_tn_f32(col, ld, ENG_F32_DATA(weight->value), k, dgrid, ld, k, cols, out);
        for (int i = 0; i < count; i++)
            eng_col2im_s2_f32(ENG_F32_DATA(dx) + (first + i) * x_stride, col + i * plane, ld, g);
    }
    return ENG_OK;
}

eng_status eng_conv2d_phase_forward(conv2d *c, const eng_tensor *x, eng_tensor *y,
                                    const eng_conv_geometry *g)
{
    int64_t n = x->shape[0], len = eng_phase_grid(g), group = phase_images(n, len);
    c->kept_x = NULL;
    if (use_rows2(c, g))
        return rows2_forward(c, x, y, g);
    eng_status st = ensure_phases(c, g, group * len, n, false);
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
        const float *col = phase_columns(c, ENG_F32_DATA(x), first, count, g);
        if (direct && b)
            eng_fill_planes_f32(yg, b, out, g->oh * g->ow);
        eng_gemm_f32(grid, ENG_F32_DATA(c->base.params[0].value), col, out, (int)(count * len), k,
                     false, false, 1.0f, direct && b ? 1.0f : 0.0f);
        for (int i = 0; !direct && i < count; i++)
            eng_phase_crop_f32(yg + i * y_stride, grid + i * len, count * len, b, out, g);
    }
    if (is_1x1(c)) {
        c->kept_x = eng_tensor_data(x);
        c->kept_n = n, c->kept_h = x->shape[2], c->kept_w = x->shape[3];
    }
    return ENG_OK;
}

/* dy extended to the grid (zero garbage columns): dweight += dgrid @ col^T, dcol = weight^T @
 * dgrid, whose garbage columns are then zero as the phases' adjoint requires. add (1x1 kernels
 * only): dx += the input gradient, touching only the elements some output reads. */
static eng_status phase_backward(conv2d *c, const eng_tensor *x, const eng_tensor *dy,
                                 eng_tensor *dx, const eng_conv_geometry *g, bool add)
{
    if (use_rows2(c, g))
        return rows2_backward(c, x, dy, dx, g);
    int64_t n = x->shape[0], len = eng_phase_grid(g), group = phase_images(n, len);
    bool kept = kept_columns(c, x);
    eng_status st = ensure_phases(c, g, group * len, n, dx != NULL);
    if (st)
        return st;
    int k = g->channels * g->kh * g->kw, out = c->out_channels, plane = g->oh * g->ow;
    int64_t x_stride = (int64_t)g->channels * g->height * g->width, y_stride = (int64_t)out * plane;
    eng_param *weight = &c->base.params[0], *bias = eng_layer_param(&c->base, "bias");
    float *dcol = ENG_F32_DATA(c->col); /* the columns' gradient (over them, but for 1x1) */
    for (int64_t first = 0; first < n; first += group) {
        int count = (int)(n - first < group ? n - first : group);
        int64_t ld = count * len;
        const float *dyg = ENG_F32_DATA(dy) + first * y_stride, *dgrid = dyg;
        const float *col = kept ? ENG_F32_DATA(c->xpad) + first * g->channels * len
                                : phase_columns(c, ENG_F32_DATA(x), first, count, g);
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
        eng_gemm_f32(dcol, ENG_F32_DATA(weight->value), dgrid, k, (int)ld, out, true, false, 1.0f,
                     0.0f);
        for (int i = 0; i < count; i++) {
            float *dxi = ENG_F32_DATA(dx) + (first + i) * x_stride;
            if (is_1x1(c))
                eng_phase_upsample_f32(dxi, dcol + i * len, ld, g, add);
            else
                eng_phase_col2im_f32(dxi, ENG_F32_DATA(c->dphase), dcol + i * len, ld, g);
        }
    }
    return ENG_OK;
}

eng_status eng_conv2d_phase_backward(conv2d *c, const eng_tensor *x, const eng_tensor *dy,
                                     eng_tensor *dx, const eng_conv_geometry *g)
{
    return phase_backward(c, x, dy, dx, g, false);
}

/* ---- adding into dx (layer.h's backward_add): f32 1x1 kernels, strided or not, and the
 * Winograd path (winograd: whether the layer takes it for x, conv2d.c's rule) ---------------- */

bool eng_conv2d_can_add_dx_on(const eng_layer *layer, const eng_tensor *x, bool winograd)
{
    const conv2d *c = (const conv2d *)layer;
    return x->dtype == ENG_F32 && c->opts.groups == 1 &&
           (winograd ||
            (is_1x1(c) && (eng_conv2d_use_pointwise(c) || eng_conv2d_use_phases(c, x))));
}

eng_status eng_conv2d_backward_add_on(eng_layer *layer, const eng_tensor *x, const eng_tensor *dy,
                                      eng_tensor *dx, bool winograd)
{
    conv2d *c = (conv2d *)layer;
    eng_conv_geometry g = {0};
    eng_status st = eng_conv2d_geometry(layer, x, &g);
    if (!st && !eng_conv2d_can_add_dx_on(layer, x, winograd))
        st = eng_error(ENG_ESTATE, "conv2d '%s': cannot add its input gradient into dx",
                       eng_layer_label(layer));
    if (st)
        return st;
    if (winograd)
        return eng_conv2d_winograd_backward_add(c, x, dy, dx, &g);
    return eng_conv2d_use_pointwise(c) ? pointwise_backward(c, x, dy, dx, &g, true)
                                       : phase_backward(c, x, dy, dx, &g, true);
}
