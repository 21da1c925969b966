#include "im2col.h"

#include <string.h>

/* For one kernel offset, the output columns ox whose input column lies inside [0, width):
 * ox in [lo, hi). Keeps the inner loops branch-free. */
static void valid_range(int out_size, int in_size, int stride, int pad, int offset, int *lo,
                        int *hi)
{
    int a = 0, b = out_size;
    while (a < b && a * stride - pad + offset < 0)
        a++;
    while (b > a && (b - 1) * stride - pad + offset >= in_size)
        b--;
    *lo = a;
    *hi = b;
}

#define DEFINE_IM2COL(T, SFX)                                                                   \
    void eng_im2col_##SFX(T *col, const T *x, const eng_conv_geometry *g)                       \
    {                                                                                           \
        int plane = g->oh * g->ow;                                                              \
        for (int c = 0; c < g->channels; c++) {                                                 \
            const T *xc = x + (long)c * g->height * g->width;                                   \
            for (int i = 0; i < g->kh; i++) {                                                   \
                int ylo, yhi;                                                                   \
                valid_range(g->oh, g->height, g->sh, g->ph, i * g->dh, &ylo, &yhi);             \
                for (int j = 0; j < g->kw; j++) {                                               \
                    int xlo, xhi;                                                               \
                    valid_range(g->ow, g->width, g->sw, g->pw, j * g->dw, &xlo, &xhi);          \
                    T *row = col + ((long)(c * g->kh + i) * g->kw + j) * plane;                 \
                    /* zeros only where the window falls in the padding */                      \
                    memset(row, 0, sizeof(T) * (size_t)ylo * g->ow);                            \
                    memset(row + (long)yhi * g->ow, 0, sizeof(T) * (size_t)(g->oh - yhi) * g->ow); \
                    for (int oy = ylo; oy < yhi; oy++) {                                        \
                        int iy = oy * g->sh - g->ph + i * g->dh;                                \
                        const T *xrow = xc + (long)iy * g->width - g->pw + j * g->dw;           \
                        T *out = row + (long)oy * g->ow;                                        \
                        for (int ox = 0; ox < xlo; ox++)                                        \
                            out[ox] = 0;                                                        \
                        if (g->sw == 1) {                                                       \
                            memcpy(out + xlo, xrow + xlo, sizeof(T) * (size_t)(xhi - xlo));     \
                        } else {                                                                \
                            for (int ox = xlo; ox < xhi; ox++)                                  \
                                out[ox] = xrow[(long)ox * g->sw];                               \
                        }                                                                       \
                        for (int ox = xhi; ox < g->ow; ox++)                                    \
                            out[ox] = 0;                                                        \
                    }                                                                           \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    }

#define DEFINE_COL2IM(T, SFX)                                                                   \
    void eng_col2im_##SFX(T *x, const T *col, const eng_conv_geometry *g)                       \
    {                                                                                           \
        int plane = g->oh * g->ow;                                                              \
        memset(x, 0, sizeof(T) * (size_t)g->channels * g->height * g->width);                   \
        for (int c = 0; c < g->channels; c++) {                                                 \
            T *xc = x + (long)c * g->height * g->width;                                         \
            for (int i = 0; i < g->kh; i++) {                                                   \
                int ylo, yhi;                                                                   \
                valid_range(g->oh, g->height, g->sh, g->ph, i * g->dh, &ylo, &yhi);             \
                for (int j = 0; j < g->kw; j++) {                                               \
                    int xlo, xhi;                                                               \
                    valid_range(g->ow, g->width, g->sw, g->pw, j * g->dw, &xlo, &xhi);          \
                    const T *row = col + ((long)(c * g->kh + i) * g->kw + j) * plane;           \
                    for (int oy = ylo; oy < yhi; oy++) {                                        \
                        int iy = oy * g->sh - g->ph + i * g->dh;                                \
                        T *xrow = xc + (long)iy * g->width - g->pw + j * g->dw;                 \
                        const T *in = row + (long)oy * g->ow;                                   \
                        for (int ox = xlo; ox < xhi; ox++)                                      \
                            xrow[(long)ox * g->sw] += in[ox];                                   \
                    }                                                                           \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    }

DEFINE_IM2COL(float, f32)
DEFINE_IM2COL(double, f64)
DEFINE_COL2IM(float, f32)
DEFINE_COL2IM(double, f64)
