/* Winograd's minimal filtering F(4x4, 3x3) for 3x3 convolutions with stride 1 and dilation 1:
 * each 4x4 output tile is A^T [(G g G^T) . (B^T d B)] A for the 6x6 input window d under it,
 * 36 matrix products over channels, 2.25 multiplications per output instead of F(2x2, 3x3)'s
 * 4 (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016). The
 * interpolation points are 0, 1, -1, 1/2, -2 and infinity: of the sets built from 0, +-1, +-2,
 * +-1/2, the one with the smallest f32 error (Barabasz et al., "Error analysis and improving
 * the accuracy of Winograd convolution", 2020; about 3x below Lavin's 0, +-1, +-2). f32 only.
 *
 * Layout as winograd.h's with 4x4 tiles and 36 matrices: th = (oh + 3) / 4 tile rows by
 * tw = (ow + 3) / 4 columns, tile (i, j) of image k numbered k * th * tw + i * tw + j, its
 * input window rows 4i - ph .. 4i - ph + 5 and columns 4j - pw .. 4j - pw + 5 (zero outside
 * the image); element xi (0 .. 35, row-major in the 6x6 tile) of tile t, channel r at
 * xi * plane + r * ld + t (plane >= rows * ld).
 *
 *   u  [36][out][in]   transformed weights      w  [out][in][3][3]
 *   v  36 x [in][ld]   transformed input tiles  x  [n][in][h][w]
 *   m  36 x [out][ld]  transformed output tiles y  [n][out][oh][ow]
 *
 * The _grad functions are the adjoints (transposes) of the transforms, for the backward. */
#ifndef ENGINE_KERNELS_WINOGRAD4_H
#define ENGINE_KERNELS_WINOGRAD4_H

#include <stdbool.h>
#include <stdint.h>

/* u = G g G^T for every (out, in) pair (computed in double, rounded once). */
void eng_winograd4_weights_f32(float *u, const float *w, int out, int in);
/* dw += G^T du G for every (out, in) pair (in double). */
void eng_winograd4_weights_grad_f32(float *dw, const float *du, int out, int in);
/* v = B^T d B for every tile of the n images (tile columns 0 .. n * th * tw - 1 of v). */
void eng_winograd4_input_f32(float *v, int64_t ld, int64_t plane, const float *x, int n, int c,
                             int h, int w, int ph, int pw, int oh, int ow);
/* dx += B dv B^T for every tile, restricted to the image (add), or dx = that sum (!add: dx's
 * old values are never read; the windows cover the whole image, whatever the padding). */
void eng_winograd4_input_grad_f32(float *dx, const float *dv, int64_t ld, int64_t plane, int n,
                                  int c, int h, int w, int ph, int pw, int oh, int ow, bool add);
/* y = A^T m A + bias[o] (bias [optional]) for every tile, the parts past oh or ow dropped. */
void eng_winograd4_output_f32(float *y, const float *m, int64_t ld, int64_t plane,
                              const float *bias, int n, int out, int oh, int ow);
/* dm = A dy A^T for every tile, dy taken as zero past oh or ow. */
void eng_winograd4_output_grad_f32(float *dm, int64_t ld, int64_t plane, const float *dy, int n,
                                   int out, int oh, int ow);

#endif
