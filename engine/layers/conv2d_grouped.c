/* conv2d with groups > 1 (torch.nn.Conv2d's groups; depthwise when groups = in_channels):
 * output channels [gi*out/groups, (gi+1)*out/groups) see only input channels
 * [gi*in/groups, (gi+1)*in/groups), through weight [out, in/groups, kh, kw]. One im2col and
 * one GEMM per image and group, with dilation and stride as in the ungrouped path. */
#include <string.h>

#include "../kernels/broadcast.h"
#include "../kernels/gemm.h"
#include "../kernels/reduce.h"
#include "conv2d_impl.h"

/* The geometry of one group: its channels only. */
static eng_conv_geometry group_geometry(const conv2d *c, const eng_conv_geometry *g)
{
    eng_conv_geometry gg = *g;
    gg.channels = c->in_channels / c->opts.groups;
    return gg;
}

static eng_status ensure_group_col(conv2d *c, const eng_conv_geometry *gg, eng_dtype dtype)
{
    int64_t shape[2] = {(int64_t)gg->channels * gg->kh * gg->kw, (int64_t)gg->oh * gg->ow};
    return eng_tensor_ensure(&c->col, dtype, 2, shape);
}

#define GROUPED_FORWARD(T, SFX)                                                                    \
    static void grouped_forward_##SFX(conv2d *c, const T *x, T *y, const T *w, const T *bias,      \
                                      int64_t n, const eng_conv_geometry *gg)                      \
    {                                                                                              \
        int groups = c->opts.groups, cout = c->out_channels / groups;                              \
        int k = gg->channels * gg->kh * gg->kw, plane = gg->oh * gg->ow;                           \
        int64_t xg = (int64_t)gg->channels * gg->height * gg->width, yg = (int64_t)cout * plane;   \
        T *col = (T *)eng_tensor_data(c->col);                                                     \
        for (int64_t i = 0; i < n; i++)                                                            \
            for (int gi = 0; gi < groups; gi++) {                                                  \
                T *yo = y + (i * groups + gi) * yg;                                                \
                eng_im2col_##SFX(col, x + (i * groups + gi) * xg, gg);                             \
                if (bias)                                                                          \
                    eng_fill_planes_##SFX(yo, bias + gi * cout, cout, plane);                      \
                eng_gemm_##SFX(yo, w + (int64_t)gi * cout * k, col, cout, plane, k, false, false,  \
                               1, bias ? 1 : 0);                                                   \
            }                                                                                      \
    }

GROUPED_FORWARD(float, f32)
GROUPED_FORWARD(double, f64)

eng_status eng_conv2d_grouped_forward(conv2d *c, const eng_tensor *x, eng_tensor *y,
                                      const eng_conv_geometry *g)
{
    eng_conv_geometry gg = group_geometry(c, g);
    eng_status st = ensure_group_col(c, &gg, x->dtype);
    if (st)
        return st;
    eng_param *bias = eng_layer_param(&c->base, "bias");
    const void *b = bias ? eng_tensor_data(bias->value) : NULL;
    const void *w = eng_tensor_data(c->base.params[0].value);
    if (x->dtype == ENG_F32)
        grouped_forward_f32(c, ENG_F32_DATA(x), ENG_F32_DATA(y), w, b, x->shape[0], &gg);
    else
        grouped_forward_f64(c, ENG_F64_DATA(x), ENG_F64_DATA(y), w, b, x->shape[0], &gg);
    return ENG_OK;
}

/* dweight_g [cout,k] += dy_g [cout,plane] @ col^T; dcol = weight_g^T @ dy_g, then col2im into
 * the group's channels of dx (which col2im overwrites). */
#define GROUPED_BACKWARD(T, SFX)                                                                   \
    static void grouped_backward_##SFX(conv2d *c, const T *x, const T *dy, T *dx, const T *w,      \
                                       T *dw, T *dbias, int64_t n, const eng_conv_geometry *gg)    \
    {                                                                                              \
        int groups = c->opts.groups, cout = c->out_channels / groups;                              \
        int k = gg->channels * gg->kh * gg->kw, plane = gg->oh * gg->ow;                           \
        int64_t xg = (int64_t)gg->channels * gg->height * gg->width, yg = (int64_t)cout * plane;   \
        T *col = (T *)eng_tensor_data(c->col);                                                     \
        for (int64_t i = 0; i < n; i++)                                                            \
            for (int gi = 0; gi < groups; gi++) {                                                  \
                const T *dyo = dy + (i * groups + gi) * yg;                                        \
                int64_t wo = (int64_t)gi * cout * k;                                               \
                eng_im2col_##SFX(col, x + (i * groups + gi) * xg, gg);                             \
                eng_gemm_##SFX(dw + wo, dyo, col, cout, k, plane, false, true, 1, 1);              \
                if (dbias)                                                                         \
                    eng_sum_planes_##SFX(dbias + gi * cout, dyo, cout, plane);                     \
                if (dx) {                                                                          \
                    eng_gemm_##SFX(col, w + wo, dyo, k, plane, cout, true, false, 1, 0);           \
                    eng_col2im_##SFX(dx + (i * groups + gi) * xg, col, gg);                        \
                }                                                                                  \
            }                                                                                      \
    }

GROUPED_BACKWARD(float, f32)
GROUPED_BACKWARD(double, f64)

eng_status eng_conv2d_grouped_backward(conv2d *c, const eng_tensor *x, const eng_tensor *dy,
                                       eng_tensor *dx, const eng_conv_geometry *g)
{
    eng_conv_geometry gg = group_geometry(c, g);
    eng_status st = ensure_group_col(c, &gg, x->dtype);
    if (st)
        return st;
    eng_param *weight = &c->base.params[0], *bias = eng_layer_param(&c->base, "bias");
    void *db = bias ? eng_tensor_data(bias->grad) : NULL;
    void *dxp = dx ? eng_tensor_data(dx) : NULL;
    if (x->dtype == ENG_F32)
        grouped_backward_f32(c, ENG_F32_DATA(x), ENG_F32_DATA(dy), dxp, ENG_F32_DATA(weight->value),
                             ENG_F32_DATA(weight->grad), db, x->shape[0], &gg);
    else
        grouped_backward_f64(c, ENG_F64_DATA(x), ENG_F64_DATA(dy), dxp, ENG_F64_DATA(weight->value),
                             ENG_F64_DATA(weight->grad), db, x->shape[0], &gg);
    return ENG_OK;
}

/* weight[o,c,i,j] += delta adds delta * x[n, g(o)*cin + c, oy*sh - ph + i*dh, ox*sw - pw + j*dw]
 * to y[n,o,oy,ox] wherever that input lies inside the image (g(o) the group of o, cin the
 * input channels per group); bias[o] += delta adds delta to the whole plane o. */
eng_status eng_conv2d_forward_delta(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                                    int param, int64_t index, double delta, eng_tensor *y_out)
{
    const conv2d *c = (const conv2d *)layer;
    eng_conv_geometry g = {0};
    eng_status st = eng_conv2d_geometry(layer, x, &g);
    if (!st)
        st = eng_tensor_copy(y_out, y);
    if (st)
        return st;
    int cin = c->in_channels / c->opts.groups, cout = c->out_channels / c->opts.groups;
    int64_t per_out = (int64_t)cin * c->kh * c->kw;
    int64_t o = param == 0 ? index / per_out : index;
    int64_t rest = index % per_out;
    int ch = (int)(o / cout) * cin + (int)(rest / (c->kh * c->kw));
    int ki = (int)(rest / c->kw % c->kh), kj = (int)(rest % c->kw);
    int64_t plane = (int64_t)g.oh * g.ow;
    for (int64_t n = 0; n < x->shape[0]; n++) {
        int64_t ybase = (n * c->out_channels + o) * plane;
        int64_t xbase = (n * c->in_channels + ch) * (int64_t)g.height * g.width;
        for (int oy = 0; oy < g.oh; oy++) {
            for (int ox = 0; ox < g.ow; ox++) {
                double v = 1.0;
                if (param == 0) {
                    int iy = oy * g.sh - g.ph + ki * g.dh, ix = ox * g.sw - g.pw + kj * g.dw;
                    if (iy < 0 || iy >= g.height || ix < 0 || ix >= g.width)
                        continue;
                    int64_t at = xbase + (int64_t)iy * g.width + ix;
                    v = x->dtype == ENG_F32 ? ENG_F32_DATA(x)[at] : ENG_F64_DATA(x)[at];
                }
                int64_t at = ybase + (int64_t)oy * g.ow + ox;
                if (x->dtype == ENG_F32)
                    ENG_F32_DATA(y_out)[at] += (float)delta * (float)v;
                else
                    ENG_F64_DATA(y_out)[at] += delta * v;
            }
        }
    }
    return ENG_OK;
}
