/* AVX-512F bodies of the Winograd F(2x2, 3x3) tile transforms, for winograd.c's dispatch:
 * same contracts and layouts as the eng_winograd_*_f32 transforms in winograd.h. The forward
 * transforms and the output's adjoint give the plain bodies' results bit for bit (same
 * operations in the same order); the input's adjoint too for rows of at most 7 tiles, and to
 * rounding beyond (chunks of 7 tiles overlap by two columns, added to dx one after the other).
 * Defined on x86-64 only; call them only when eng_simd_level() is ENG_SIMD_AVX512. */
#ifndef ENGINE_KERNELS_WINOGRAD_AVX512_H
#define ENGINE_KERNELS_WINOGRAD_AVX512_H

#include <stdbool.h>
#include <stdint.h>

void eng_winograd_input_avx512_f32(float *v, int64_t ld, int64_t plane, const float *x, int n,
                                   int c, int h, int w, int ph, int pw, int oh, int ow);
void eng_winograd_input_t_avx512_f32(float *vt, int64_t plane, const float *x, int n, int c, int h,
                                     int w, int ph, int pw, int oh, int ow);
void eng_winograd_input_grad_avx512_f32(float *dx, const float *dv, int64_t ld, int64_t plane,
                                        int n, int c, int h, int w, int ph, int pw, int oh, int ow,
                                        bool add);
void eng_winograd_output_avx512_f32(float *y, const float *m, int64_t ld, int64_t plane,
                                    const float *bias, int n, int out, int oh, int ow);
void eng_winograd_output_grad_avx512_f32(float *dm, int64_t ld, int64_t plane, const float *dy,
                                         int n, int out, int oh, int ow);

#endif
