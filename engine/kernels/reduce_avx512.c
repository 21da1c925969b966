/* The bias-gradient sums of f32 convolutions go through eng_sum_f32 plane by plane, from L2:
 * the plain body widens 4 values per instruction (SSE2), this one 16. */
#include "reduce_avx512.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))

AVX512 static inline __m512d lo_pd(__m512 v)
{
    return _mm512_cvtps_pd(_mm512_castps512_ps256(v));
}

AVX512 static inline __m512d hi_pd(__m512 v)
{
    return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

AVX512 double eng_sum_avx512_f32(const float *x, int64_t n)
{
    __m512d acc[4] = {_mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd(),
                      _mm512_setzero_pd()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
        acc[0] = _mm512_add_pd(acc[0], lo_pd(a));
        acc[1] = _mm512_add_pd(acc[1], hi_pd(a));
        acc[2] = _mm512_add_pd(acc[2], lo_pd(b));
        acc[3] = _mm512_add_pd(acc[3], hi_pd(b));
    }
    for (; i < n; i += 16) { /* masked lanes load as zero */
        int64_t left = n - i;
        __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
        __m512 a = _mm512_maskz_loadu_ps(m, x + i);
        acc[0] = _mm512_add_pd(acc[0], lo_pd(a));
        acc[1] = _mm512_add_pd(acc[1], hi_pd(a));
    }
    __m512d s = _mm512_add_pd(_mm512_add_pd(acc[0], acc[1]), _mm512_add_pd(acc[2], acc[3]));
    return _mm512_reduce_add_pd(s);
}

#endif
