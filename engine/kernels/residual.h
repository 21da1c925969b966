/* The residual connection's elementwise steps (engine/model_residual.c): the sum of a block
 * and its shortcut with the ReLU that follows it, as one pass.
 *
 * add_relu: y[i] = relu(a[i] + b[i]), bit for bit the sum (eng_binary's add) followed by
 *           eng_relu_forward: a NaN sum stays NaN, a sum <= 0 (-0 included) gives +0.
 * y may be a or b.
 * add_relu_mask: add_relu over rows of s values (rows * s in all), also writing the mask y > 0
 *           one bit a value, in BatchNorm's layout (eng_batchnorm_relu_mask_words: row r's
 *           value j is bit j % 16 of mask[r * ((s + 15) / 16) + j / 16], no bit set past a
 *           row's end), which a BatchNorm's backward reads instead of y (model_residual.c). */
#ifndef ENGINE_KERNELS_RESIDUAL_H
#define ENGINE_KERNELS_RESIDUAL_H

#include <stdint.h>

void eng_add_relu_f32(float *y, const float *a, const float *b, int64_t n);
void eng_add_relu_f64(double *y, const double *a, const double *b, int64_t n);
void eng_add_relu_mask_f32(float *y, uint16_t *mask, const float *a, const float *b, int64_t rows,
                           int64_t s);

#endif
