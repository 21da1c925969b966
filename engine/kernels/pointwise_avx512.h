/* AVX-512F bodies of the ReLU and 2x2 max-pool kernels, for activation.c's and pool.c's
 * dispatch: same contracts as eng_relu_forward_f32 (activation.h) and the 2x2 stride-2
 * unpadded case of eng_maxpool_forward_f32 / eng_maxpool_backward_f32 (pool.h), bit for bit
 * (the same comparisons in the same order: NaNs and ties go where the plain loops send them).
 * Defined on x86-64 only; call them only when eng_simd_level() is ENG_SIMD_AVX512. */
#ifndef ENGINE_KERNELS_POINTWISE_AVX512_H
#define ENGINE_KERNELS_POINTWISE_AVX512_H

#include <stdbool.h>
#include <stdint.h>

#include "pool.h"

void eng_relu_forward_avx512_f32(float *y, const float *x, int64_t n);
void eng_relu_forward_avx512_f64(double *y, const double *x, int64_t n);
void eng_relu_backward_avx512_f32(float *dx, const float *dy, const float *x, int64_t n);
void eng_relu_backward_avx512_f64(double *dx, const double *dy, const double *x, int64_t n);
/* 2x2 windows, stride 2, no padding; the forward for any h, w (oh = h/2, ow = w/2), the
 * backward for even h and w (every input element in exactly one window, so dx is overwritten
 * without a clearing pass). relu / y [optional, NULL: none]: the ReLU before the pool fused in,
 * as eng_relu_maxpool_forward_f32 / eng_relu_maxpool_backward_f32 (pool.h). */
void eng_maxpool2x2_forward_avx512_f32(float *y, int32_t *argmax, const float *x,
                                       const eng_pool_geometry *g, bool relu);
void eng_maxpool2x2_backward_avx512_f32(float *dx, const float *dy, const float *y,
                                        const int32_t *argmax, const eng_pool_geometry *g);

#endif
