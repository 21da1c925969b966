#include "residual.h"

#include "cpu.h"

/* The plain loops' select is eng_relu_forward's; the AVX-512 body's is that of
 * eng_relu_forward_avx512 (keep where "not less or equal" to zero, unordered true). */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_RESIDUAL_AVX512 1

__attribute__((target("avx512f"))) static void add_relu_avx512_f32(float *y, const float *a,
                                                                   const float *b, int64_t n)
{
    const __m512 zero = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 s = _mm512_add_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        _mm512_storeu_ps(y + i, _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(s, zero, _CMP_NLE_UQ), s));
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512 s = _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
        _mm512_mask_storeu_ps(y + i, m,
                              _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(s, zero, _CMP_NLE_UQ), s));
    }
}

__attribute__((target("avx512f"))) static void add_relu_mask_avx512_f32(float *y, uint16_t *mask,
                                                                        const float *a,
                                                                        const float *b,
                                                                        int64_t rows, int64_t s)
{
    const __m512 zero = _mm512_setzero_ps();
    int64_t w = (s + 15) / 16;
    __mmask16 tail = (__mmask16)((1u << (s % 16)) - 1);
    for (int64_t r = 0; r < rows; r++, y += s, a += s, b += s, mask += w) {
        int64_t j = 0;
        for (; j + 16 <= s; j += 16) {
            __m512 v = _mm512_add_ps(_mm512_loadu_ps(a + j), _mm512_loadu_ps(b + j));
            __mmask16 pos = _mm512_cmp_ps_mask(v, zero, _CMP_NLE_UQ);
            _mm512_storeu_ps(y + j, _mm512_maskz_mov_ps(pos, v));
            mask[j / 16] = (uint16_t)_mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ);
        }
        if (j < s) {
            __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(tail, a + j),
                                     _mm512_maskz_loadu_ps(tail, b + j));
            __mmask16 pos = _mm512_cmp_ps_mask(v, zero, _CMP_NLE_UQ);
            _mm512_mask_storeu_ps(y + j, tail, _mm512_maskz_mov_ps(pos, v));
            mask[j / 16] = (uint16_t)(_mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ) & tail);
        }
    }
}

__attribute__((target("avx512f"))) static void add_relu_avx512_f64(double *y, const double *a,
                                                                   const double *b, int64_t n)
{
    const __m512d zero = _mm512_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512d s = _mm512_add_pd(_mm512_loadu_pd(a + i), _mm512_loadu_pd(b + i));
        _mm512_storeu_pd(y + i, _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(s, zero, _CMP_NLE_UQ), s));
    }
    if (i < n) {
        __mmask8 m = (__mmask8)((1u << (n - i)) - 1);
        __m512d s = _mm512_add_pd(_mm512_maskz_loadu_pd(m, a + i), _mm512_maskz_loadu_pd(m, b + i));
        _mm512_mask_storeu_pd(y + i, m,
                              _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(s, zero, _CMP_NLE_UQ), s));
    }
}
#endif

static int avx512(void)
{
#ifdef HAVE_RESIDUAL_AVX512
    return eng_simd_level() == ENG_SIMD_AVX512;
#else
    return 0;
#endif
}

void eng_add_relu_f32(float *y, const float *a, const float *b, int64_t n)
{
#ifdef HAVE_RESIDUAL_AVX512
    if (avx512()) {
        add_relu_avx512_f32(y, a, b, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) {
        float s = a[i] + b[i];
        y[i] = s > 0 || s != s ? s : 0.0f; /* NaN stays NaN */
    }
}

void eng_add_relu_f64(double *y, const double *a, const double *b, int64_t n)
{
#ifdef HAVE_RESIDUAL_AVX512
    if (avx512()) {
        add_relu_avx512_f64(y, a, b, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) {
        double s = a[i] + b[i];
        y[i] = s > 0 || s != s ? s : 0.0;
    }
}

void eng_add_relu_mask_f32(float *y, uint16_t *mask, const float *a, const float *b, int64_t rows,
                           int64_t s)
{
#ifdef HAVE_RESIDUAL_AVX512
    if (avx512()) {
        add_relu_mask_avx512_f32(y, mask, a, b, rows, s);
        return;
    }
#endif
    int64_t w = (s + 15) / 16;
    for (int64_t r = 0; r < rows; r++) {
        eng_add_relu_f32(y + r * s, a + r * s, b + r * s, s);
        for (int64_t k = 0; k < w; k++) {
            unsigned bits = 0;
            for (int64_t j = 16 * k; j < s && j < 16 * k + 16; j++)
                bits |= (unsigned)(y[r * s + j] > 0) << (j - 16 * k);
            mask[r * w + k] = (uint16_t)bits;
        }
    }
}
