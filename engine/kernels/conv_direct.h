/* Direct 2-d convolution for stride 1 and dilation 1, without an im2col matrix: each output
 * row is accumulated from shifted rows of the zero-padded input.
 *
 *   xpad [cin, hp, wp]   the input with its padding already written in (hp = h + 2 ph, ...)
 *   w    [out, cin, kh, kw]
 *   y    [out, oh, ow]   ADDED to (start it at the bias or zero); oh = hp - kh + 1,
 *                        ow = wp - kw + 1
 *
 * Uses AVX-512F, else AVX2 and FMA (f32), when the processor has them (checked at run time),
 * plain C otherwise. */
#ifndef ENGINE_KERNELS_CONV_DIRECT_H
#define ENGINE_KERNELS_CONV_DIRECT_H

#include <stdbool.h>

#include "../dtype.h"

void eng_conv_direct_f32(float *y, const float *w, const float *xpad, int cin, int hp, int wp,
                         int out, int kh, int kw);
void eng_conv_direct_f64(double *y, const double *w, const double *xpad, int cin, int hp, int wp,
                         int out, int kh, int kw);

/* y [out, oh, ow] = bias [out] (broadcast over each plane) + the convolution: overwrites y. */
void eng_conv_direct_bias_f32(float *y, const float *bias, const float *w, const float *xpad,
                              int cin, int hp, int wp, int out, int kh, int kw);
void eng_conv_direct_bias_f64(double *y, const double *bias, const double *w, const double *xpad,
                              int cin, int hp, int wp, int out, int kh, int kw);

/* The weight gradient of the same convolution, ADDED into dw [out, cin, kh, kw]:
 *   dw[o,c,i,j] += sum over oy, ox of dy[o,oy,ox] * xpad[c, oy+i, ox+j]
 * dy [out, oh, ow] with oh = hp - kh + 1, ow = wp - kw + 1. */
void eng_conv_direct_dweight_f32(float *dw, const float *dy, const float *xpad, int cin, int hp,
                                 int wp, int out, int kh, int kw);
void eng_conv_direct_dweight_f64(double *dw, const double *dy, const double *xpad, int cin, int hp,
                                 int wp, int out, int kh, int kw);

/* Whether this processor runs the direct path faster than im2col + GEMM for a few taps. */
bool eng_conv_direct_is_fast(eng_dtype dtype);

/* Writes x [c, h, w] into xpad [c, h + 2 ph, w + 2 pw] with zero borders. */
void eng_pad_f32(float *xpad, const float *x, int c, int h, int w, int ph, int pw);
void eng_pad_f64(double *xpad, const double *x, int c, int h, int w, int ph, int pw);

#endif
