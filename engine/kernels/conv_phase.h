/* Strided convolution by phases: the zero-padded input of one image split into sh*sw
 * sub-sampled planes, so that every kernel tap of a strided convolution reads a contiguous
 * stretch of one plane (no per-element gathers, no im2col row per output row).
 *
 *   xpad   [C, hp, wp]            the image with its padding (hp = H + 2 ph, wp = W + 2 pw)
 *   phase  [C, sh, sw, R, Q]      phase[c,a,b,u,v] = xpad[c, a + sh*u, b + sw*v], zero past
 *                                 xpad's edge; R = ceil(hp / sh), Q = ceil(wp / sw); then Q
 *                                 zeros of slack (eng_phase_size counts them)
 *   col    [C*kh*kw, L] (ld)      L = oh*Q, the output grid with Q columns per row: row (c,i,j)
 *                                 at column oy*Q + ox holds xpad[c, oy*sh + i, ox*sw + j] for
 *                                 ox < ow (im2col's value); columns ox >= ow hold finite
 *                                 values of no meaning (garbage columns)
 *
 * Tap (i,j) reads plane (i % sh, j % sw) from offset (i / sh)*Q + j / sw onward. Dilation 1.
 * f32 only (the f64 paths keep im2col, whose sums the gradient checks rely on). */
#ifndef ENGINE_KERNELS_CONV_PHASE_H
#define ENGINE_KERNELS_CONV_PHASE_H

#include <stdbool.h>
#include <stdint.h>

#include "im2col.h"

/* R, Q and L of the legend above. */
int eng_phase_rows(const eng_conv_geometry *g);
int eng_phase_cols(const eng_conv_geometry *g);
int64_t eng_phase_grid(const eng_conv_geometry *g);
/* Elements of a phase buffer, slack included. */
int64_t eng_phase_size(const eng_conv_geometry *g);

/* phase [out] = the phases of x [C,H,W], every element written (slack zero). */
void eng_phase_split_f32(float *phase, const float *x, const eng_conv_geometry *g);
/* col [C*kh*kw rows, ld] [out] = the grid columns of every tap, L per row. */
void eng_phase_im2col_f32(float *col, int64_t ld, const float *phase, const eng_conv_geometry *g);
/* The adjoint of split then im2col, given dcol whose garbage columns are zero:
 * dx [C,H,W] [out] = the sum of every dcol entry mapped onto each element (col2im's value).
 * dphase is scratch of eng_phase_size elements. */
void eng_phase_col2im_f32(float *dx, float *dphase, const float *dcol, int64_t ld,
                          const eng_conv_geometry *g);

/* The product's grid and a layer's tensors, for `out` output channels of one image:
 * crop: y [out, oh, ow] [out] = grid [out rows, ld] without its garbage columns, plus
 *       bias [out] [optional] broadcast over each plane;
 * extend: grid [out rows, ld] [out] = dy [out, oh, ow] with zero garbage columns. */
void eng_phase_crop_f32(float *y, const float *grid, int64_t ld, const float *bias, int out,
                        const eng_conv_geometry *g);
void eng_phase_extend_f32(float *grid, int64_t ld, const float *dy, int out,
                          const eng_conv_geometry *g);

/* 1x1 kernels, whose only phase is (0,0) and whose grid has no garbage columns:
 * subsample: col [C rows, ld] [out] = that phase of x [C,H,W] (im2col's value, L per row);
 * upsample:  dx [C,H,W] [out] = its adjoint, dcol scattered back (zero where no output
 *            reads); add: dx += that adjoint instead, in rows some output reads (bit for
 *            bit dx + the adjoint's value there, +0 included), the other rows left alone. */
void eng_phase_subsample_f32(float *col, int64_t ld, const float *x, const eng_conv_geometry *g);
void eng_phase_upsample_f32(float *dx, const float *dcol, int64_t ld, const eng_conv_geometry *g,
                            bool add);

#endif
