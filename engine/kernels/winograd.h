/* Winograd's minimal filtering F(2x2, 3x3) for 3x3 convolutions with stride 1 and dilation 1
 * (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016): each 2x2
 * output tile is A^T [(G g G^T) . (B^T d B)] A for the 4x4 input window d under it, which
 * turns the convolution into 16 matrix products over channels with 2.25 times fewer
 * multiplications than the direct sum. f32 only.
 *
 * Tiles: the output [oh, ow] is cut into 2x2 tiles, th = (oh + 1) / 2 rows by tw = (ow + 1) / 2
 * columns, tile (i, j) of image k numbered k * th * tw + i * tw + j; its input window is rows
 * 2i - ph .. 2i - ph + 3 and columns 2j - pw .. 2j - pw + 3 of the image, zero outside it.
 * The transformed arrays are 16 matrices [rows][ld], matrix xi starting at xi * plane
 * (plane >= rows * ld): element xi of tile t, channel r, at xi * plane + r * ld + t. A plane
 * that is not a multiple of 4096 bytes keeps the 16 matrices' rows from sharing cache sets
 * (rows * ld * 4 often is one: the transforms' 16 streams then evicted each other).
 *
 *   u  [16][out][in]   transformed weights      w  [out][in][3][3]
 *   v  16 x [in][ld]   transformed input tiles  x  [n][in][h][w]
 *   m  16 x [out][ld]  transformed output tiles y  [n][out][oh][ow]
 *
 * The _grad functions are the adjoints (transposes) of the transforms, for the backward:
 * dW = G^T dU G summed, dM = A dY A^T, dX = the windows' B dV B^T added where they overlap. */
#ifndef ENGINE_KERNELS_WINOGRAD_H
#define ENGINE_KERNELS_WINOGRAD_H

#include <stdbool.h>
#include <stdint.h>

/* The widest output row (ow) the transforms take; wider layers use another path. */
#define ENG_WINOGRAD_MAX_WIDTH 512

/* u = G g G^T for every (out, in) pair. */
void eng_winograd_weights_f32(float *u, const float *w, int out, int in);
/* dw += G^T du G for every (out, in) pair. */
void eng_winograd_weights_grad_f32(float *dw, const float *du, int out, int in);

/* v = B^T d B for every tile of the n images (tile columns 0 .. n * th * tw - 1 of v). */
void eng_winograd_input_f32(float *v, int64_t ld, int64_t plane, const float *x, int n, int c,
                            int h, int w, int ph, int pw, int oh, int ow);
/* The same transform into the transposed layout: 16 matrices [tiles][c] (tile t, channel ch
 * of matrix xi at xi * plane + t * c + ch), for the weight gradient's products. */
void eng_winograd_input_t_f32(float *vt, int64_t plane, const float *x, int n, int c, int h, int w,
                              int ph, int pw, int oh, int ow);
/* dx += B dv B^T for every tile, restricted to the image (add), or dx = that sum (!add: dx's
 * old values are never read; the windows cover the whole image, whatever the padding). */
void eng_winograd_input_grad_f32(float *dx, const float *dv, int64_t ld, int64_t plane, int n,
                                 int c, int h, int w, int ph, int pw, int oh, int ow, bool add);

/* y = A^T m A + bias[o] (bias [optional]) for every tile, the parts of the last tiles past
 * oh or ow dropped. */
void eng_winograd_output_f32(float *y, const float *m, int64_t ld, int64_t plane, const float *bias,
                             int n, int out, int oh, int ow);
/* dm = A dy A^T for every tile, dy taken as zero past oh or ow. */
void eng_winograd_output_grad_f32(float *dm, int64_t ld, int64_t plane, const float *dy, int n,
                                  int out, int oh, int ow);

#endif
