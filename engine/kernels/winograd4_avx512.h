/* AVX-512F bodies of the Winograd F(4x4, 3x3) tile transforms, for winograd4.c's dispatch:
 * same contracts and layouts as the eng_winograd4_*_f32 transforms in winograd4.h, and the
 * same bits as the plain bodies (same operations in the same order, winograd4_formulas.h).
 * Defined on x86-64 only; call them only when eng_simd_level() is ENG_SIMD_AVX512. */
#ifndef ENGINE_KERNELS_WINOGRAD4_AVX512_H
#define ENGINE_KERNELS_WINOGRAD4_AVX512_H

#include <stdbool.h>
#include <stdint.h>

void eng_winograd4_input_avx512_f32(float *v, int64_t ld, int64_t plane, const float *x, int n,
                                    int c, int h, int w, int ph, int pw, int oh, int ow);
void eng_winograd4_input_grad_avx512_f32(float *dx, const float *dv, int64_t ld, int64_t plane,
                                         int n, int c, int h, int w, int ph, int pw, int oh, int ow,
                                         bool add);
void eng_winograd4_output_avx512_f32(float *y, const float *m, int64_t ld, int64_t plane,
                                     const float *bias, int n, int out, int oh, int ow);
void eng_winograd4_output_grad_avx512_f32(float *dm, int64_t ld, int64_t plane, const float *dy,
                                          int n, int out, int oh, int ow);

#endif
