/* Unfolding of one image for convolution as a matrix product (Chellapilla et al. 2006).
 *
 *   x   [C,H,W]
 *   col [C*kh*kw, oh*ow], row (c,i,j) holds x[c, oy*sh - ph + i*dh, ox*sw - pw + j*dw]
 *       at column oy*ow + ox, zero where that falls in the padding.
 *
 * col2im is the adjoint: it overwrites x with the sum of every col entry mapped onto it. */
#ifndef ENGINE_KERNELS_IM2COL_H
#define ENGINE_KERNELS_IM2COL_H

#include <stdbool.h>
#include <stdint.h>

typedef struct eng_conv_geometry {
    int channels, height, width;
    int kh, kw, sh, sw, ph, pw, dh, dw;
    int oh, ow;
} eng_conv_geometry;

void eng_im2col_f32(float *col, const float *x, const eng_conv_geometry *g);
void eng_im2col_f64(double *col, const double *x, const eng_conv_geometry *g);
void eng_col2im_f32(float *x, const float *col, const eng_conv_geometry *g);
void eng_col2im_f64(double *x, const double *col, const eng_conv_geometry *g);

/* f32, column stride 2, dilation 1, with AVX-512 (eng_im2col_s2_fast says whether the
 * processor and geometry allow it; the calls do nothing otherwise): the same columns with
 * rows ld apart (several images side by side), made by rows of x (each gathered once per
 * kernel column), and col2im's value from them, each element's sum in col2im's order, every
 * element of x written (no clearing pass). */
bool eng_im2col_s2_fast(const eng_conv_geometry *g);
void eng_im2col_s2_f32(float *col, int64_t ld, const float *x, const eng_conv_geometry *g);
void eng_col2im_s2_f32(float *x, const float *col, int64_t ld, const eng_conv_geometry *g);

#endif
