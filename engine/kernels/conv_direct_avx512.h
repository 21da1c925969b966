/* The AVX-512F bodies of the direct convolution, for conv_direct.c's dispatch (same contracts
 * as eng_conv_direct_f32 and eng_conv_direct_dweight_f32 in conv_direct.h). Defined on x86-64
 * only; call them only when eng_simd_level() is ENG_SIMD_AVX512. The weight-gradient bodies
 * exist for kernel widths 3, 5 and 7 and return false for the others. The forward with a
 * bias [out] overwrites y with bias + the convolution (eng_conv_direct_bias_f32); with NULL it
 * adds to y. */
#ifndef ENGINE_KERNELS_CONV_DIRECT_AVX512_H
#define ENGINE_KERNELS_CONV_DIRECT_AVX512_H

#include <stdbool.h>

void eng_conv_direct_avx512_f32(float *y, const float *bias, const float *w, const float *xpad,
                                int cin, int hp, int wp, int out, int kh, int kw);
void eng_conv_direct_avx512_f64(double *y, const double *bias, const double *w, const double *xpad,
                                int cin, int hp, int wp, int out, int kh, int kw);
bool eng_conv_direct_dweight_avx512_f32(float *dw, const float *dy, const float *xpad, int cin,
                                        int hp, int wp, int out, int kh, int kw);
bool eng_conv_direct_dweight_avx512_f64(double *dw, const double *dy, const double *xpad, int cin,
                                        int hp, int wp, int out, int kh, int kw);

#endif
