/* Unfolding of one image for convolution as a matrix product (Chellapilla et al. 2006).
 *
 *   x   [C,H,W]
 *   col [C*kh*kw, oh*ow], row (c,i,j) holds x[c, oy*sh - ph + i*dh, ox*sw - pw + j*dw]
 *       at column oy*ow + ox, zero where that falls in the padding.
 *
 * col2im is the adjoint: it overwrites x with the sum of every col entry mapped onto it. */
#ifndef ENGINE_KERNELS_IM2COL_H
#define ENGINE_KERNELS_IM2COL_H

typedef struct eng_conv_geometry {
    int channels, height, width;
    int kh, kw, sh, sw, ph, pw, dh, dw;
    int oh, ow;
} eng_conv_geometry;

void eng_im2col_f32(float *col, const float *x, const eng_conv_geometry *g);
void eng_im2col_f64(double *col, const double *x, const eng_conv_geometry *g);
void eng_col2im_f32(float *x, const float *col, const eng_conv_geometry *g);
void eng_col2im_f64(double *x, const double *col, const eng_conv_geometry *g);

#endif
