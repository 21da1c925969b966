/* AVX-512 bodies of ReLU and 2x2 max pooling (activation.c and pool.c dispatch to them when
 * the processor has AVX-512F). The build targets baseline x86-64, so the plain loops run 4
 * lanes of SSE; these run 16 (f32) or 8 (f64), with masked loads and stores for the tails. */
#include "pointwise_avx512.h"

#include <stdbool.h>
#include <stddef.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))

/* Lanes [0, left) of a 16-lane mask (all when left >= 16). */
static inline __mmask16 mask16(int64_t left)
{
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
}

static inline __mmask8 mask8(int64_t left)
{
    return left >= 8 ? (__mmask8)0xff : (__mmask8)((1u << left) - 1);
}

/* y = x where x > 0 or x is a NaN ("not less or equal", unordered true), else +0: the plain
 * loop's select. */
AVX512 void eng_relu_forward_avx512_f32(float *y, const float *x, int64_t n)
{
    __m512 zero = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        _mm512_storeu_ps(y + i, _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, zero, _CMP_NLE_UQ), v));
    }
    if (i < n) {
        __mmask16 m = mask16(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        _mm512_mask_storeu_ps(y + i, m,
                              _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, zero, _CMP_NLE_UQ), v));
    }
}

AVX512 void eng_relu_forward_avx512_f64(double *y, const double *x, int64_t n)
{
    __m512d zero = _mm512_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512d v = _mm512_loadu_pd(x + i);
        _mm512_storeu_pd(y + i, _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(v, zero, _CMP_NLE_UQ), v));
    }
    if (i < n) {
        __mmask8 m = mask8(n - i);
        __m512d v = _mm512_maskz_loadu_pd(m, x + i);
        _mm512_mask_storeu_pd(y + i, m,
                              _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(v, zero, _CMP_NLE_UQ), v));
    }
}

/* dx = dy where x > 0 (ordered: a NaN x passes no gradient), else +0. */
AVX512 void eng_relu_backward_avx512_f32(float *dx, const float *dy, const float *x, int64_t n)
{
    __m512 zero = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __mmask16 pos = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + i), zero, _CMP_GT_OQ);
        _mm512_storeu_ps(dx + i, _mm512_maskz_mov_ps(pos, _mm512_loadu_ps(dy + i)));
    }
    if (i < n) {
        __mmask16 m = mask16(n - i);
        __mmask16 pos = _mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(m, x + i), zero, _CMP_GT_OQ);
        _mm512_mask_storeu_ps(dx + i, m, _mm512_maskz_loadu_ps(pos & m, dy + i));
    }
}

AVX512 void eng_relu_backward_avx512_f64(double *dx, const double *dy, const double *x, int64_t n)
{
    __m512d zero = _mm512_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __mmask8 pos = _mm512_cmp_pd_mask(_mm512_loadu_pd(x + i), zero, _CMP_GT_OQ);
        _mm512_storeu_pd(dx + i, _mm512_maskz_mov_pd(pos, _mm512_loadu_pd(dy + i)));
    }
    if (i < n) {
        __mmask8 m = mask8(n - i);
        __mmask8 pos = _mm512_cmp_pd_mask(_mm512_maskz_loadu_pd(m, x + i), zero, _CMP_GT_OQ);
        _mm512_mask_storeu_pd(dx + i, m, _mm512_maskz_loadu_pd(pos & m, dy + i));
    }
}

/* Up to 16 windows of a row pair: the even and odd columns of both rows, split out of two
 * 16-lane loads each by one two-source permutation, then the plain loop's three strict '>'
 * comparisons in row-major order (ties and a NaN first element keep the earlier winner). */
AVX512 static inline void pool_row_forward(float *yr, int32_t *ar, const float *r0, const float *r1,
                                           int base, int w, int count, bool relu)
{
    const __m512i even =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    for (int ox = 0; ox < count; ox += 16) {
        int left = count - ox;
        __mmask16 out = mask16(left);
        __mmask16 lo = mask16(2 * left), hi = mask16(2 * left - 16 > 0 ? 2 * left - 16 : 0);
        __m512 p0 = _mm512_maskz_loadu_ps(lo, r0 + 2 * ox);
        __m512 p1 = _mm512_maskz_loadu_ps(hi, r0 + 2 * ox + 16);
        __m512 q0 = _mm512_maskz_loadu_ps(lo, r1 + 2 * ox);
        __m512 q1 = _mm512_maskz_loadu_ps(hi, r1 + 2 * ox + 16);
        __m512 a = _mm512_permutex2var_ps(p0, even, p1), b = _mm512_permutex2var_ps(p0, odd, p1);
        __m512 c = _mm512_permutex2var_ps(q0, even, q1), d = _mm512_permutex2var_ps(q0, odd, q1);
        __m512i at = _mm512_add_epi32(_mm512_set1_epi32(base + 2 * ox), even);
        __m512 m = a;
        __mmask16 k = _mm512_cmp_ps_mask(b, m, _CMP_GT_OQ);
        m = _mm512_mask_mov_ps(m, k, b);
        at = _mm512_mask_add_epi32(at, k, at, _mm512_set1_epi32(1));
        __m512i atc = _mm512_add_epi32(_mm512_set1_epi32(base + w + 2 * ox), even);
        k = _mm512_cmp_ps_mask(c, m, _CMP_GT_OQ);
        m = _mm512_mask_mov_ps(m, k, c);
        at = _mm512_mask_mov_epi32(at, k, atc);
        k = _mm512_cmp_ps_mask(d, m, _CMP_GT_OQ);
        m = _mm512_mask_mov_ps(m, k, d);
        at = _mm512_mask_add_epi32(at, k, atc, _mm512_set1_epi32(1));
        if (relu) {
            /* where the maximum is not > 0, relu(x) is all +0 and its first cell wins; a NaN
             * maximum stays (the plain loop's select) */
            __mmask16 pos = _mm512_cmp_ps_mask(m, _mm512_setzero_ps(), _CMP_GT_OQ);
            __mmask16 keep = _mm512_cmp_ps_mask(m, _mm512_setzero_ps(), _CMP_NLE_UQ);
            at = _mm512_mask_mov_epi32(_mm512_add_epi32(_mm512_set1_epi32(base + 2 * ox), even),
                                       pos, at);
            m = _mm512_maskz_mov_ps(keep, m);
        }
        _mm512_mask_storeu_ps(yr + ox, out, m);
        _mm512_mask_storeu_epi32(ar + ox, out, at);
    }
}

AVX512 void eng_maxpool2x2_forward_avx512_f32(float *y, int32_t *argmax, const float *x,
                                              const eng_pool_geometry *g, bool relu)
{
    for (int64_t p = 0; p < g->planes; p++) {
        const float *xp = x + p * g->h * g->w;
        for (int oy = 0; oy < g->oh; oy++) {
            int64_t at = (p * g->oh + oy) * g->ow;
            const float *r0 = xp + 2 * oy * g->w;
            pool_row_forward(y + at, argmax + at, r0, r0 + g->w, 2 * oy * g->w, g->w, g->ow, relu);
        }
    }
}

/* Each window's dy goes to the one of its four cells the argmax names, zeros to the others;
 * the even and odd columns are interleaved back by a two-source permutation. */
AVX512 static inline void pool_row_backward(float *r0, float *r1, const float *dyr, const float *yr,
                                            const int32_t *ar, int base, int w, int count)
{
    const __m512i even =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i lo_ix = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi_ix = _mm512_add_epi32(lo_ix, _mm512_set1_epi32(8));
    const __m512i one = _mm512_set1_epi32(1);
    for (int ox = 0; ox < count; ox += 16) {
        int left = count - ox;
        __mmask16 in = mask16(left);
        __mmask16 lo = mask16(2 * left), hi = mask16(2 * left - 16 > 0 ? 2 * left - 16 : 0);
        __m512 d = _mm512_maskz_loadu_ps(in, dyr + ox);
        if (yr) /* the fused ReLU passes dy where its output, the pooled y, is > 0 */
            d = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(in, yr + ox),
                                                       _mm512_setzero_ps(), _CMP_GT_OQ),
                                    d);
        __m512i at = _mm512_maskz_loadu_epi32(in, ar + ox);
        __m512i c0 = _mm512_add_epi32(_mm512_set1_epi32(base + 2 * ox), even);
        __m512i c1 = _mm512_add_epi32(c0, _mm512_set1_epi32(w));
        __m512 wa = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(at, c0), d);
        __m512 wb = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(at, _mm512_add_epi32(c0, one)), d);
        __m512 wc = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(at, c1), d);
        __m512 wd = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(at, _mm512_add_epi32(c1, one)), d);
        _mm512_mask_storeu_ps(r0 + 2 * ox, lo, _mm512_permutex2var_ps(wa, lo_ix, wb));
        _mm512_mask_storeu_ps(r0 + 2 * ox + 16, hi, _mm512_permutex2var_ps(wa, hi_ix, wb));
        _mm512_mask_storeu_ps(r1 + 2 * ox, lo, _mm512_permutex2var_ps(wc, lo_ix, wd));
        _mm512_mask_storeu_ps(r1 + 2 * ox + 16, hi, _mm512_permutex2var_ps(wc, hi_ix, wd));
    }
}

AVX512 void eng_maxpool2x2_backward_avx512_f32(float *dx, const float *dy, const float *y,
                                               const int32_t *argmax, const eng_pool_geometry *g)
{
    for (int64_t p = 0; p < g->planes; p++) {
        float *dxp = dx + p * g->h * g->w;
        for (int oy = 0; oy < g->oh; oy++) {
            int64_t at = (p * g->oh + oy) * g->ow;
            float *r0 = dxp + 2 * oy * g->w;
            if (y)
                pool_row_backward(r0, r0 + g->w, dy + at, y + at, argmax + at, 2 * oy * g->w, g->w,
                                  g->ow);
            else
                pool_row_backward(r0, r0 + g->w, dy + at, NULL, argmax + at, 2 * oy * g->w, g->w,
                                  g->ow);
        }
    }
}

#endif
