/* AVX-512F body of eng_sum_f32 (reduce.h), for reduce.c's dispatch: the same sum in double,
 * in four 8-lane partial sums (f32 values widened on load, the tail by a masked load), so it
 * differs from the plain body's by double rounding only. Defined on x86-64 only; call it only
 * when eng_simd_level() is ENG_SIMD_AVX512. */
#ifndef ENGINE_KERNELS_REDUCE_AVX512_H
#define ENGINE_KERNELS_REDUCE_AVX512_H

#include <stdint.h>

double eng_sum_avx512_f32(const float *x, int64_t n);

#endif
