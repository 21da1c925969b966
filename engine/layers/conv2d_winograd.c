/* conv2d's Winograd path (f32, 3x3, stride 1, dilation 1; conv2d.c's use_winograd decides
 * when): the images go through in groups, each group's input tiles transformed, multiplied
 * by the transformed weights in one small product per tile element, and transformed back
 * (Lavin and Gray 2015). Two tile sizes: F(2x2, 3x3) (kernels/winograd.c, 16 products) and
 * F(4x4, 3x3) (kernels/winograd4.c, 36 products over 4 times fewer tiles), chosen per output
 * size by choose_variant below. */
#include <stdbool.h>

#include "../kernels/reduce.h"
#include "../kernels/small_gemm.h"
#include "../kernels/winograd.h"
#include "../kernels/winograd4.h"
#include "conv2d_impl.h"

/* One tile size's transforms (winograd.h and winograd4.h give them the same signatures). */
typedef struct wino_variant {
    int tile, elems; /* output tile side m; transformed elements per tile, (m + 2)^2 */
    void (*weights)(float *u, const float *w, int out, int in);
    void (*weights_grad)(float *dw, const float *du, int out, int in);
    void (*input)(float *v, int64_t ld, int64_t plane, const float *x, int n, int c, int h, int w,
                  int ph, int pw, int oh, int ow);
    void (*input_grad)(float *dx, const float *dv, int64_t ld, int64_t plane, int n, int c, int h,
                       int w, int ph, int pw, int oh, int ow, bool add);
    void (*output)(float *y, const float *m, int64_t ld, int64_t plane, const float *bias, int n,
                   int out, int oh, int ow);
    void (*output_grad)(float *dm, int64_t ld, int64_t plane, const float *dy, int n, int out,
                        int oh, int ow);
} wino_variant;

static const wino_variant f2x2 = {2,
                                  16,
                                  eng_winograd_weights_f32,
                                  eng_winograd_weights_grad_f32,
                                  eng_winograd_input_f32,
                                  eng_winograd_input_grad_f32,
                                  eng_winograd_output_f32,
                                  eng_winograd_output_grad_f32};
static const wino_variant f4x4 = {4,
                                  36,
                                  eng_winograd4_weights_f32,
                                  eng_winograd4_weights_grad_f32,
                                  eng_winograd4_input_f32,
                                  eng_winograd4_input_grad_f32,
                                  eng_winograd4_output_f32,
                                  eng_winograd4_output_grad_f32};

static int64_t tiles_per_image(const wino_variant *wv, const eng_conv_geometry *g)
{
    return (int64_t)((g->oh + wv->tile - 1) / wv->tile) * ((g->ow + wv->tile - 1) / wv->tile);
}

/* F(4x4) where it is both accurate enough and faster, else F(2x2).
 * Accuracy: each transformed output is an f32 sum over the input channels (over the output
 * channels for the input gradient), and F(4x4)'s output transform amplifies that sum's
 * rounding about 6 times more than F(2x2)'s. Measured max relative errors against the f64
 * im2col path (20 seeds, 2 to 8 images as test_conv2d.c's Winograd tests, which hold 2e-6):
 * 16 -> 16 channels at 28x28 forward 1.7e-6, input gradient 1.3e-6, weight gradient 1.3e-6;
 * 32 -> 64 at 14x14 2.2e-6, 32 -> 32 2.0e-6, 64 -> 64 at 7x7 3.1e-6 (F(2x2): 2.4e-7 to
 * 4.0e-7). So F(4x4) only for at most 16 channels in and out. The maximum grows with the
 * number of outputs: a batch of 64 at 16 -> 16, 28x28 gives 2.7e-6 forward, 1.3e-6 input
 * and 1.2e-6 weight gradient (F(2x2): 2.5e-7, 2.8e-7, 4.6e-7; 5 seeds).
 * Speed: the products dominate, elems * tiles multiply-adds per (out, in) pair: at 28x28
 * F(4x4) needs 1.78 times fewer (measured, 16 -> 16, batch 64: forward 1.45x, backward 1.5x
 * faster), at 14x14 1.36 times (4 tiles of 4 cover 14 columns; measured 32 -> 64: 0 to 8%
 * faster, 32 -> 32: slower), at 7x7 1.78 times but 2 tiles a row leave the vector bodies'
 * lanes idle (measured 64 -> 64: 20 to 40% slower). So at least 1.5 times fewer products and
 * at least 5 tiles a row. */
static const wino_variant *choose_variant(const conv2d *c, const eng_conv_geometry *g)
{
    int64_t p2 = f2x2.elems * tiles_per_image(&f2x2, g),
            p4 = f4x4.elems * tiles_per_image(&f4x4, g);
    bool accurate = c->in_channels <= 16 && c->out_channels <= 16;
    bool faster = 2 * p2 >= 3 * p4 && (g->ow + 3) / 4 >= 5;
    return accurate && faster ? &f4x4 : &f2x2;
}

/* Images per group: 4 keeps the transformed tiles of a 14x14 LeNet layer (32 -> 64 channels)
 * at 1.2 MB, within this machine's 2 MB of L2 with the backward's dy rows (a fold makes them
 * from the pooled gradient: 200 KB), and the GEMMs at 196 columns. Once the fold had taken the
 * full-size gradient out, the LeNet (f32, batch 64, 1 thread, CPU time, loaded machine, 3 to 4
 * interleaved runs) trained at 4,237 images/s with groups of 4 against 3,778 with 8 and 4,125
 * with 2; the ResNet alike or better (1,132 against 1,080). Before the fold 4, 8 and 16
 * measured alike, 32 slower. */
#define WINOGRAD_GROUP 4

/* The stride between the transformed matrices: their size plus one cache line, so that it is
 * never a multiple of 4096 bytes (see winograd.h). */
static int64_t winograd_plane(int rows, int64_t tiles)
{
    return rows * tiles + 16;
}

static eng_status ensure_winograd(conv2d *c, const wino_variant *wv, const eng_conv_geometry *g,
                                  int64_t images, bool backward)
{
    int64_t tiles = images * tiles_per_image(wv, g);
    int64_t ushape[3] = {wv->elems, c->out_channels, c->in_channels};
    int64_t vsize = wv->elems * winograd_plane(c->in_channels, tiles);
    int64_t msize = wv->elems * winograd_plane(c->out_channels, tiles);
    eng_status st = eng_tensor_ensure(&c->wino_u, ENG_F32, 3, ushape);
    if (!st)
        st = eng_tensor_ensure(&c->wino_v, ENG_F32, 1, &vsize);
    if (!st)
        st = eng_tensor_ensure(&c->wino_m, ENG_F32, 1, &msize);
    int64_t utshape[3] = {wv->elems, c->in_channels, c->out_channels};
    if (!st && backward)
        st = eng_tensor_ensure(&c->wino_du, ENG_F32, 3, ushape);
    if (!st && backward)
        st = eng_tensor_ensure(&c->wino_ut, ENG_F32, 3, utshape);
    return st;
}

eng_status eng_conv2d_winograd_forward(conv2d *c, const eng_tensor *x, eng_tensor *y,
                                       const eng_conv_geometry *g)
{
    const wino_variant *wv = choose_variant(c, g);
    int64_t n = x->shape[0], group = n < WINOGRAD_GROUP ? n : WINOGRAD_GROUP;
    eng_status st = ensure_winograd(c, wv, g, group, false);
    if (st)
        return st;
    int out = c->out_channels, in = c->in_channels;
    int64_t x_stride = (int64_t)in * g->height * g->width, y_stride = (int64_t)out * g->oh * g->ow;
    int64_t per_image = tiles_per_image(wv, g);
    float *u = ENG_F32_DATA(c->wino_u), *v = ENG_F32_DATA(c->wino_v), *m = ENG_F32_DATA(c->wino_m);
    eng_param *bias = eng_layer_param(&c->base, "bias");
    wv->weights(u, ENG_F32_DATA(c->base.params[0].value), out, in);
    for (int64_t first = 0; first < n; first += group) {
        int count = (int)(n - first < group ? n - first : group);
        int64_t tiles = count * per_image;
        int64_t vp = winograd_plane(in, tiles), mp = winograd_plane(out, tiles);
        wv->input(v, tiles, vp, ENG_F32_DATA(x) + first * x_stride, count, in, g->height, g->width,
                  g->ph, g->pw, g->oh, g->ow);
        for (int xi = 0; xi < wv->elems; xi++) /* M = U V */
            eng_small_gemm_nn_f32(m + xi * mp, tiles, u + xi * out * in, v + xi * vp, tiles, out,
                                  (int)tiles, in);
        wv->output(ENG_F32_DATA(y) + first * y_stride, m, tiles, mp,
                   bias ? ENG_F32_DATA(bias->value) : NULL, count, out, g->oh, g->ow);
    }
    return ENG_OK;
}

bool eng_conv2d_winograd_is_2x2(const conv2d *c, const eng_conv_geometry *g)
{
    return choose_variant(c, g) == &f2x2;
}

/* The exact gradients of the forward above: dM = A dY A^T; dU += dM V^T, dW += G^T dU G;
 * dV = U^T dM, dX = the windows' B dV B^T added up. dy is the dense gradient, or NULL and
 * pooled gives it (each group's rows made into c->dy_rows before they are read). */
static eng_status winograd_backward(conv2d *c, const eng_tensor *x, const eng_tensor *dy,
                                    const eng_pooled_grad *pooled, eng_tensor *dx,
                                    const eng_conv_geometry *g, bool add)
{
    const wino_variant *wv = choose_variant(c, g);
    int64_t n = x->shape[0], group = n < WINOGRAD_GROUP ? n : WINOGRAD_GROUP;
    int64_t rows_shape[4] = {group, c->out_channels, g->oh, g->ow};
    eng_status st = ensure_winograd(c, wv, g, group, true);
    if (!st && pooled)
        st = eng_tensor_ensure(&c->dy_rows, ENG_F32, 4, rows_shape);
    if (st)
        return st;
    int out = c->out_channels, in = c->in_channels, elems = wv->elems;
    int64_t x_stride = (int64_t)in * g->height * g->width, y_stride = (int64_t)out * g->oh * g->ow;
    int64_t per_image = tiles_per_image(wv, g);
    float *u = ENG_F32_DATA(c->wino_u), *du = ENG_F32_DATA(c->wino_du);
    float *v = ENG_F32_DATA(c->wino_v), *m = ENG_F32_DATA(c->wino_m);
    eng_param *weight = &c->base.params[0], *bias = eng_layer_param(&c->base, "bias");
    wv->weights(u, ENG_F32_DATA(weight->value), out, in);
    float *ut = ENG_F32_DATA(c->wino_ut);
    for (int xi = 0; xi < elems; xi++)
        for (int o = 0; o < out; o++)
            for (int ch = 0; ch < in; ch++)
                ut[(xi * in + ch) * out + o] = u[(xi * out + o) * in + ch];
    eng_tensor_zero(c->wino_du);
    for (int64_t first = 0; first < n; first += group) {
        int count = (int)(n - first < group ? n - first : group);
        int64_t tiles = count * per_image;
        int64_t vp = winograd_plane(in, tiles), mp = winograd_plane(out, tiles);
        const float *dyg = pooled ? ENG_F32_DATA(c->dy_rows) : ENG_F32_DATA(dy) + first * y_stride;
        if (pooled && (st = eng_pooled_grad_rows(pooled, first, count, ENG_F32_DATA(c->dy_rows))))
            return st;
        /* dU += dM V^T: an nt product summed along the tiles (a long inner dimension) */
        wv->input(v, tiles, vp, ENG_F32_DATA(x) + first * x_stride, count, in, g->height, g->width,
                  g->ph, g->pw, g->oh, g->ow);
        wv->output_grad(m, tiles, mp, dyg, count, out, g->oh, g->ow);
        for (int xi = 0; xi < elems; xi++)
            eng_small_gemm_nt_f32(du + xi * out * in, in, m + xi * mp, tiles, v + xi * vp, tiles,
                                  out, in, (int)tiles);
        if (dx) {
            /* v is free again: it takes dV = U^T dM */
            for (int xi = 0; xi < elems; xi++)
                eng_small_gemm_nn_f32(v + xi * vp, tiles, ut + xi * in * out, m + xi * mp, tiles,
                                      in, (int)tiles, out);
            wv->input_grad(ENG_F32_DATA(dx) + first * x_stride, v, tiles, vp, count, in, g->height,
                           g->width, g->ph, g->pw, g->oh, g->ow, add);
        }
        if (bias)
            for (int k = 0; k < count; k++)
                eng_sum_planes_f32(ENG_F32_DATA(bias->grad), dyg + k * y_stride, out,
                                   (int64_t)g->oh * g->ow);
    }
    wv->weights_grad(ENG_F32_DATA(weight->grad), du, out, in);
    return ENG_OK;
}

eng_status eng_conv2d_winograd_backward(conv2d *c, const eng_tensor *x, const eng_tensor *dy,
                                        eng_tensor *dx, const eng_conv_geometry *g)
{
    return winograd_backward(c, x, dy, NULL, dx, g, false);
}

eng_status eng_conv2d_winograd_backward_add(conv2d *c, const eng_tensor *x, const eng_tensor *dy,
                                            eng_tensor *dx, const eng_conv_geometry *g)
{
    return winograd_backward(c, x, dy, NULL, dx, g, true);
}

eng_status eng_conv2d_winograd_backward_pooled(conv2d *c, const eng_tensor *x,
                                               const eng_pooled_grad *dy, eng_tensor *dx,
                                               const eng_conv_geometry *g)
{
    return winograd_backward(c, x, NULL, dy, dx, g, false);
}
