/* AVX-512 bodies of batch normalisation (batchnorm.c dispatches to them when the processor
 * has AVX-512F). Each channel's rows (s contiguous values per sample) go 16 at a time as two
 * 8-lane double vectors, f32 values widened on load and narrowed on store; masked loads and
 * stores take the rows' tails, and masked lanes read as zero and are kept out of the sums. */
#include "batchnorm_avx512.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <x86intrin.h> /* _m_prefetchw: clang declares it only here */
#include <math.h>

#define AVX512 __attribute__((target("avx512f,prfchw")))

static inline void prefetch(const void *p)
{
    _mm_prefetch((const char *)p, _MM_HINT_T0);
}

/* Lanes [0, left) of 16 (all when left >= 16). */
static inline __mmask16 mask16(int64_t left)
{
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
}

/* Lanes [0, left) of 8 (all when left >= 8, none when left <= 0). */
static inline __mmask8 mask8(int64_t left)
{
    if (left >= 8)
        return 0xff;
    return left > 0 ? (__mmask8)((1u << left) - 1) : 0;
}

/* 16 values from p (left of them real) as two double vectors, zero past left. */
AVX512 static inline void load16_f32(__m512d v[2], const float *p, int64_t left)
{
    __m512 f = _mm512_maskz_loadu_ps(mask16(left), p);
    v[0] = _mm512_cvtps_pd(_mm512_castps512_ps256(f));
    v[1] = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1)));
}

AVX512 static inline void load16_f64(__m512d v[2], const double *p, int64_t left)
{
    v[0] = _mm512_maskz_loadu_pd(mask8(left), p);
    v[1] = _mm512_maskz_loadu_pd(mask8(left - 8), p + 8);
}

AVX512 static inline void store16_f32(float *p, const __m512d v[2], int64_t left)
{
    __mmask16 m = mask16(left);
    __m256 lo = _mm512_cvtpd_ps(v[0]), hi = _mm512_cvtpd_ps(v[1]);
    __m512d both =
        _mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(lo)), _mm256_castps_pd(hi), 1);
    _mm512_mask_storeu_ps(p, m, _mm512_castpd_ps(both));
}

AVX512 static inline void store16_f64(double *p, const __m512d v[2], int64_t left)
{
    _mm512_mask_storeu_pd(p, mask8(left), v[0]);
    _mm512_mask_storeu_pd(p + 8, mask8(left - 8), v[1]);
}

/* g = ry > 0 ? g : 0 over the 16 values of g, ry read from p (left of them real). */
#define DEFINE_RELU_MASK(T, SFX)                                                                   \
    AVX512 static inline void relu_mask_##SFX(__m512d g[2], const T *p, int64_t left)              \
    {                                                                                              \
        __m512d r[2];                                                                              \
        load16_##SFX(r, p, left);                                                                  \
        for (int h = 0; h < 2; h++)                                                                \
            g[h] = _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(r[h], _mm512_setzero_pd(), _CMP_GT_OQ),  \
                                       g[h]);                                                      \
    }
DEFINE_RELU_MASK(float, f32)
DEFINE_RELU_MASK(double, f64)

/* Two passes (the mean, then the squared deviations from it), as the plain body. */
#define DEFINE_STATS_TWO_PASS(T, SFX)                                                              \
    AVX512 void eng_batchnorm_stats_avx512_##SFX(double *mean, double *var, const T *x, int64_t n, \
                                                 int64_t c, int64_t s, int64_t c0, int64_t c1)     \
    {                                                                                              \
        double m = (double)(n * s);                                                                \
        for (int64_t ch = c0; ch < c1; ch++) {                                                     \
            __m512d acc[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()}, v[2];                     \
            for (int64_t i = 0; i < n; i++)                                                        \
                for (int64_t k = 0; k < s; k += 16) {                                              \
                    load16_##SFX(v, x + (i * c + ch) * s + k, s - k);                              \
                    acc[0] = _mm512_add_pd(acc[0], v[0]);                                          \
                    acc[1] = _mm512_add_pd(acc[1], v[1]);                                          \
                }                                                                                  \
            double mu = _mm512_reduce_add_pd(_mm512_add_pd(acc[0], acc[1])) / m;                   \
            __m512d vmu = _mm512_set1_pd(mu);                                                      \
            acc[0] = acc[1] = _mm512_setzero_pd();                                                 \
            for (int64_t i = 0; i < n; i++)                                                        \
                for (int64_t k = 0; k < s; k += 16) {                                              \
                    load16_##SFX(v, x + (i * c + ch) * s + k, s - k);                              \
                    for (int h = 0; h < 2; h++) {                                                  \
                        __m512d d = _mm512_maskz_sub_pd(mask8(s - k - 8 * h), v[h], vmu);          \
                        acc[h] = _mm512_fmadd_pd(d, d, acc[h]);                                    \
                    }                                                                              \
                }                                                                                  \
            mean[ch] = mu;                                                                         \
            var[ch] = _mm512_reduce_add_pd(_mm512_add_pd(acc[0], acc[1])) / m;                     \
        }                                                                                          \
    }

/* f32: one pass over the channel, summing d = x - K and d^2 in double with K the channel's
 * first value (the shifted-data algorithm: the variance S2/m - (S1/m)^2 loses to cancellation
 * only (mean - K)^2 / var times the double rounding, tiny for any K drawn from the data, and
 * f32 values carry 24 bits). One read of x instead of two: the statistics are a third of
 * BatchNorm's forward traffic. */
/* One channel's statistics. */
AVX512 static void stats_channel_f32(double *mean, double *var, const float *x, int64_t n,
                                     int64_t c, int64_t s, int64_t ch)
{
    double m = (double)(n * s);
    double shift = n * s > 0 ? (double)x[ch * s] : 0.0;
    __m512d k = _mm512_set1_pd(shift), s1[2], s2[2], v[2];
    s1[0] = s1[1] = s2[0] = s2[1] = _mm512_setzero_pd();
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < s; j += 16) {
            int64_t at = (i * c + ch) * s + j;
            if (i + 1 < n) /* the next sample's row: a jump the prefetchers miss */
                prefetch(x + at + c * s);
            load16_f32(v, x + at, s - j);
            for (int h = 0; h < 2; h++) {
                __m512d d = _mm512_maskz_sub_pd(mask8(s - j - 8 * h), v[h], k);
                s1[h] = _mm512_add_pd(s1[h], d);
                s2[h] = _mm512_fmadd_pd(d, d, s2[h]);
            }
        }
    double d1 = _mm512_reduce_add_pd(_mm512_add_pd(s1[0], s1[1])) / m;
    double d2 = _mm512_reduce_add_pd(_mm512_add_pd(s2[0], s2[1])) / m;
    mean[ch] = shift + d1;
    var[ch] = d2 - d1 * d1 > 0 ? d2 - d1 * d1 : 0.0;
}

AVX512 void eng_batchnorm_stats_avx512_f32(double *mean, double *var, const float *x, int64_t n,
                                           int64_t c, int64_t s, int64_t c0, int64_t c1)
{
    for (int64_t ch = c0; ch < c1; ch++)
        stats_channel_f32(mean, var, x, n, c, s, ch);
}

/* The f64 forward; the f32 one computes in f32 (below). */
#define DEFINE_FORWARD_AVX512(T, SFX)                                                              \
    AVX512 void eng_batchnorm_forward_avx512_##SFX(                                                \
        T *y, const T *x, const double *mean, const double *invstd, const T *gamma, const T *beta, \
        int64_t n, int64_t c, int64_t s, int64_t c0, int64_t c1, bool relu)                        \
    {                                                                                              \
        for (int64_t ch = c0; ch < c1; ch++) {                                                     \
            __m512d scale = _mm512_set1_pd(invstd[ch] * (gamma ? (double)gamma[ch] : 1.0));        \
            __m512d shift = _mm512_set1_pd(beta ? (double)beta[ch] : 0.0);                         \
            __m512d mu = _mm512_set1_pd(mean[ch]), v[2];                                           \
            for (int64_t i = 0; i < n; i++)                                                        \
                for (int64_t k = 0; k < s; k += 16) {                                              \
                    int64_t at = (i * c + ch) * s + k;                                             \
                    load16_##SFX(v, x + at, s - k);                                                \
                    for (int h = 0; h < 2; h++) { /* (x - mu) * scale + shift, unfused */          \
                        v[h] =                                                                     \
                            _mm512_add_pd(_mm512_mul_pd(_mm512_sub_pd(v[h], mu), scale), shift);   \
                        if (relu) /* keep v > 0 and NaN */                                         \
                            v[h] = _mm512_maskz_mov_pd(                                            \
                                _mm512_cmp_pd_mask(v[h], _mm512_setzero_pd(), _CMP_NLE_UQ), v[h]); \
                    }                                                                              \
                    store16_##SFX(y + at, v, s - k);                                               \
                }                                                                                  \
        }                                                                                          \
    }
#define DEFINE_BACKWARD_AVX512(T, SFX)                                                             \
    AVX512 void eng_batchnorm_backward_avx512_##SFX(                                               \
        T *dx, T *dgamma, T *dbeta, const T *dy, const T *x, const T *relu_y, const double *mean,  \
        const double *invstd, const T *gamma, int64_t n, int64_t c, int64_t s, int64_t c0,         \
        int64_t c1, bool batch_stats)                                                              \
    {                                                                                              \
        double m = (double)(n * s);                                                                \
        for (int64_t ch = c0; ch < c1; ch++) {                                                     \
            __m512d mu = _mm512_set1_pd(mean[ch]), is = _mm512_set1_pd(invstd[ch]);                \
            __m512d sg = _mm512_setzero_pd(), sgx = _mm512_setzero_pd(), g[2], v[2];               \
            for (int64_t i = 0; i < n; i++)                                                        \
                for (int64_t k = 0; k < s; k += 16) {                                              \
                    int64_t at = (i * c + ch) * s + k;                                             \
                    load16_##SFX(g, dy + at, s - k);                                               \
                    if (relu_y)                                                                    \
                        relu_mask_##SFX(g, relu_y + at, s - k);                                    \
                    load16_##SFX(v, x + at, s - k);                                                \
                    for (int h = 0; h < 2; h++) { /* masked lanes: g = 0 */                        \
                        sg = _mm512_add_pd(sg, g[h]);                                              \
                        __m512d xhat = _mm512_mul_pd(_mm512_sub_pd(v[h], mu), is);                 \
                        sgx = _mm512_fmadd_pd(g[h], xhat, sgx);                                    \
                    }                                                                              \
                }                                                                                  \
            double sum_g = _mm512_reduce_add_pd(sg), sum_gx = _mm512_reduce_add_pd(sgx);           \
            if (dgamma)                                                                            \
                dgamma[ch] += (T)sum_gx;                                                           \
            if (dbeta)                                                                             \
                dbeta[ch] += (T)sum_g;                                                             \
            if (!dx)                                                                               \
                continue;                                                                          \
            __m512d scale = _mm512_set1_pd(invstd[ch] * (gamma ? (double)gamma[ch] : 1.0));        \
            __m512d mg = _mm512_set1_pd(batch_stats ? sum_g / m : 0.0);                            \
            __m512d mgx = _mm512_set1_pd(batch_stats ? sum_gx / m : 0.0);                          \
            for (int64_t i = 0; i < n; i++)                                                        \
                for (int64_t k = 0; k < s; k += 16) {                                              \
                    int64_t at = (i * c + ch) * s + k;                                             \
                    load16_##SFX(g, dy + at, s - k);                                               \
                    if (relu_y)                                                                    \
                        relu_mask_##SFX(g, relu_y + at, s - k);                                    \
                    load16_##SFX(v, x + at, s - k);                                                \
                    for (int h = 0; h < 2; h++) { /* scale * ((g - mg) - xhat * mgx) */            \
                        __m512d xhat = _mm512_mul_pd(_mm512_sub_pd(v[h], mu), is);                 \
                        __m512d t =                                                                \
                            _mm512_sub_pd(_mm512_sub_pd(g[h], mg), _mm512_mul_pd(xhat, mgx));      \
                        g[h] = _mm512_mul_pd(scale, t);                                            \
                    }                                                                              \
                    store16_##SFX(dx + at, g, s - k);                                              \
                }                                                                                  \
        }                                                                                          \
    }

DEFINE_STATS_TWO_PASS(double, f64)
DEFINE_FORWARD_AVX512(double, f64)
DEFINE_BACKWARD_AVX512(float, f32)
DEFINE_BACKWARD_AVX512(double, f64)

/* ---- f32 element-wise passes in f32 arithmetic (the sums stay in double) ----
 * With hi = (float)mean, x - hi is exact where x is within a factor 2 of the mean (Sterbenz)
 * and rounds relative to |x - hi| elsewhere; the rest of the mean, mean - hi, goes into a
 * per-channel constant computed in double. So y and dx carry a few f32 roundings of their own
 * terms (|xhat * gamma|, |beta|, |gamma * invstd * dy|), never of x's magnitude, as the double
 * arithmetic did, at a third of its instructions (no conversions). */

/* y = (x - mean) * scale + shift over channel ch, relu as eng_batchnorm_normalise_range. */
AVX512 static void normalise_channel_f32(float *y, const float *x, double mean, double scale,
                                         double shift, int64_t n, int64_t c, int64_t s, int64_t ch,
                                         bool relu)
{
    float hi = (float)mean;
    __m512 vhi = _mm512_set1_ps(hi), a = _mm512_set1_ps((float)scale);
    __m512 b = _mm512_set1_ps((float)(shift - (mean - (double)hi) * scale)),
           zero = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < s; k += 16) {
            int64_t at = (i * c + ch) * s + k;
            __mmask16 m = mask16(s - k);
            if (i + 1 < n) /* the next sample's row of y, for writing */
                _m_prefetchw(y + at + c * s);
            __m512 v = _mm512_fmadd_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + at), vhi), a, b);
            if (relu) /* keep v > 0 and NaN, +0 elsewhere */
                v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, zero, _CMP_NLE_UQ), v);
            _mm512_mask_storeu_ps(y + at, m, v);
        }
}

AVX512 void eng_batchnorm_forward_avx512_f32(float *y, const float *x, const double *mean,
                                             const double *invstd, const float *gamma,
                                             const float *beta, int64_t n, int64_t c, int64_t s,
                                             int64_t c0, int64_t c1, bool relu)
{
    for (int64_t ch = c0; ch < c1; ch++)
        normalise_channel_f32(y, x, mean[ch], invstd[ch] * (gamma ? (double)gamma[ch] : 1.0),
                              beta ? (double)beta[ch] : 0.0, n, c, s, ch, relu);
}

#endif
