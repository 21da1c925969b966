/* AVX-512 bodies of the f32 training kernels of batch normalisation (batchnorm.c dispatches to
 * them when the processor has AVX-512F): eng_batchnorm_train_forward_avx512_f32 and
 * eng_batchnorm_train_backward_avx512_f32 (the backward with the forward's statistics given).
 *
 * Both go over x in blocks of channels sized to stay in L2 between their two passes, and
 * sweep a block sample by sample: sample i's rows of the block are one contiguous stretch of
 * memory, which the hardware prefetchers follow, where a channel-by-channel sweep jumps
 * between short rows (49 values at 7x7) and waits on memory at each jump. The per-channel sums
 * live in vector accumulators between a channel's rows, so each channel's sums see its values
 * in the same order as a channel-by-channel loop.
 *
 * Element arithmetic is f32 (batchnorm_avx512.c explains the split of the mean into
 * hi = (float)mean and a per-channel constant); the statistics are summed in double as
 * stats_channel_f32 sums them (same lanes, same order: bit for bit the same mean and var). The
 * backward's two sums (of g and of g * (x - hi)) add f32 products in f32 over at most 16
 * vectors of a row (256 values) before each partial sum goes into double accumulators: a
 * relative error of a few f32 roundings of the sum of the terms' magnitudes.
 *
 * A fused ReLU's mask (relu_mask: y > 0, one bit a value) can stand for its output y in the
 * backward: a sixteenth of the bytes the backward reads from memory for y, and a load and a
 * comparison less per 16 values in both passes. */
#include "batchnorm_avx512.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <math.h>
#include <x86intrin.h> /* _m_prefetchw: clang declares it only here */

#include "batchnorm.h"

#define AVX512 __attribute__((target("avx512f,prfchw")))

/* Channels per block at most: the accumulators (4 vectors a channel) are on the stack. */
#define MAX_BLOCK 64
/* Vectors of a row summed in f32 before the partial sums go into double. */
#define F32_RUN 16

static inline __mmask16 mask16(int64_t left)
{
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
}

static inline __mmask8 mask8(int64_t left)
{
    if (left >= 8)
        return 0xff;
    return left > 0 ? (__mmask8)((1u << left) - 1) : 0;
}

/* Channels per block for `tensors` f32 tensors that should stay in L2 together. */
static int64_t block_channels(int64_t n, int64_t s, int64_t tensors)
{
    int64_t b = eng_batchnorm_block_channels(n, s, 4 * tensors);
    return b < MAX_BLOCK ? b : MAX_BLOCK;
}

/* acc[0..1] += the low and high halves of f widened to double. */
AVX512 static inline void add_widened(__m512d acc[2], __m512 f)
{
    acc[0] = _mm512_add_pd(acc[0], _mm512_cvtps_pd(_mm512_castps512_ps256(f)));
    acc[1] = _mm512_add_pd(
        acc[1], _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1))));
}

/* mean and var of channels [c0, c1), sums of d = x - shift and d^2 in double (shift: the
 * channel's first value), lane for lane and in the order of stats_channel_f32. */
AVX512 static void stats_block(double *mean, double *var, const float *x, int64_t n, int64_t c,
                               int64_t s, int64_t c0, int64_t c1)
{
    __m512d acc[MAX_BLOCK][4];
    double m = (double)(n * s);
    for (int64_t ch = c0; ch < c1; ch++)
        acc[ch - c0][0] = acc[ch - c0][1] = acc[ch - c0][2] = acc[ch - c0][3] = _mm512_setzero_pd();
    for (int64_t i = 0; i < n; i++)
        for (int64_t ch = c0; ch < c1; ch++) {
            const float *row = x + (i * c + ch) * s;
            __m512d k = _mm512_set1_pd((double)x[ch * s]), *a = acc[ch - c0];
            __m512d s10 = a[0], s11 = a[1], s20 = a[2], s21 = a[3];
            for (int64_t j = 0; j < s; j += 16) {
                if (i + 1 < n) /* the next sample's stretch */
                    _mm_prefetch((const char *)(row + j + c * s), _MM_HINT_T0);
                __m512 f = _mm512_maskz_loadu_ps(mask16(s - j), row + j);
                __m512d v0 = _mm512_cvtps_pd(_mm512_castps512_ps256(f));
                __m512d v1 = _mm512_cvtps_pd(
                    _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1)));
                __m512d d0 = _mm512_maskz_sub_pd(mask8(s - j), v0, k);
                __m512d d1 = _mm512_maskz_sub_pd(mask8(s - j - 8), v1, k);
                s10 = _mm512_add_pd(s10, d0);
                s20 = _mm512_fmadd_pd(d0, d0, s20);
                s11 = _mm512_add_pd(s11, d1);
                s21 = _mm512_fmadd_pd(d1, d1, s21);
            }
            a[0] = s10, a[1] = s11, a[2] = s20, a[3] = s21;
        }
    for (int64_t ch = c0; ch < c1; ch++) {
        __m512d *a = acc[ch - c0];
        double d1 = _mm512_reduce_add_pd(_mm512_add_pd(a[0], a[1])) / m;
        double d2 = _mm512_reduce_add_pd(_mm512_add_pd(a[2], a[3])) / m;
        mean[ch] = (double)x[ch * s] + d1;
        var[ch] = d2 - d1 * d1 > 0 ? d2 - d1 * d1 : 0.0;
    }
}

/* Per-channel f32 constants of y = (x - hi) * a + b (normalise_channel_f32's). */
typedef struct affine_f32 {
    float hi, a, b;
} affine_f32;

/* y = (x - hi) * a + b over channels [c0, c1), relu as normalise_channel_f32; relu_mask
 * [optional, with relu]: y > 0 as eng_batchnorm_train_forward_masked_f32 keeps it. */
AVX512 static void normalise_block(float *y, uint16_t *relu_mask, const float *x,
                                   const affine_f32 *k, int64_t n, int64_t c, int64_t s, int64_t c0,
                                   int64_t c1, bool relu)
{
    int64_t w = (s + 15) / 16;
    __m512 zero = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i++)
        for (int64_t ch = c0; ch < c1; ch++) {
            int64_t at = (i * c + ch) * s;
            __m512 vhi = _mm512_set1_ps(k[ch - c0].hi), a = _mm512_set1_ps(k[ch - c0].a);
            __m512 b = _mm512_set1_ps(k[ch - c0].b);
            for (int64_t j = 0; j < s; j += 16) {
                __mmask16 mk = mask16(s - j);
                if (i + 1 < n) /* the next sample's stretch of y, for writing */
                    _m_prefetchw(y + at + j + c * s);
                __m512 v = _mm512_fmadd_ps(
                    _mm512_sub_ps(_mm512_maskz_loadu_ps(mk, x + at + j), vhi), a, b);
                if (relu) /* keep v > 0 and NaN, +0 elsewhere */
                    v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, zero, _CMP_NLE_UQ), v);
                _mm512_mask_storeu_ps(y + at + j, mk, v);
                if (relu_mask)
                    relu_mask[(i * c + ch) * w + j / 16] =
                        (uint16_t)(_mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ) & mk);
            }
        }
}

/* The statistics of p's channels [c0, c1) and their constants k[ch - c0]. */
AVX512 static void train_block(affine_f32 *k, const eng_batchnorm_train_f32 *p, int64_t n,
                               int64_t c, int64_t s, int64_t c0, int64_t c1)
{
    stats_block(p->mean, p->var, p->x, n, c, s, c0, c1);
    for (int64_t ch = c0; ch < c1; ch++) {
        p->invstd[ch] = 1.0 / sqrt(p->var[ch] + p->eps);
        double scale = p->invstd[ch] * (p->gamma ? (double)p->gamma[ch] : 1.0);
        double shift = p->beta ? (double)p->beta[ch] : 0.0;
        float hi = (float)p->mean[ch];
        k[ch - c0] =
            (affine_f32){hi, (float)scale, (float)(shift - (p->mean[ch] - (double)hi) * scale)};
    }
}

AVX512 void eng_batchnorm_train_forward_avx512_f32(float *y, uint16_t *relu_mask, double *mean,
                                                   double *var, double *invstd, const float *x,
                                                   const float *gamma, const float *beta,
                                                   double eps, int64_t n, int64_t c, int64_t s,
                                                   bool relu)
{
    affine_f32 k[MAX_BLOCK];
    int64_t b = block_channels(n, s, 2); /* x and y */
    for (int64_t c0 = 0; c0 < c; c0 += b) {
        int64_t c1 = c0 + b < c ? c0 + b : c;
        eng_batchnorm_train_f32 p = {x, gamma, beta, eps, mean, var, invstd};
        train_block(k, &p, n, c, s, c0, c1);
        normalise_block(y, relu ? relu_mask : NULL, x, k, n, c, s, c0, c1, relu);
    }
}

/* y = relu(a's output + b's output) and its mask over channels [c0, c1) (normalise_block's
 * arithmetic for each, then add_relu_mask's). */
AVX512 static void add_relu_block(float *y, uint16_t *relu_mask, const float *xa,
                                  const affine_f32 *ka, const float *xb, const affine_f32 *kb,
                                  int64_t n, int64_t c, int64_t s, int64_t c0, int64_t c1)
{
    int64_t w = (s + 15) / 16;
    __m512 zero = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i++)
        for (int64_t ch = c0; ch < c1; ch++) {
            int64_t at = (i * c + ch) * s;
            const affine_f32 *p = ka + (ch - c0), *q = kb + (ch - c0);
            __m512 hia = _mm512_set1_ps(p->hi), aa = _mm512_set1_ps(p->a);
            __m512 ba = _mm512_set1_ps(p->b), hib = _mm512_set1_ps(q->hi);
            __m512 ab = _mm512_set1_ps(q->a), bb = _mm512_set1_ps(q->b);
            for (int64_t j = 0; j < s; j += 16) {
                __mmask16 mk = mask16(s - j);
                if (i + 1 < n) /* the next sample's stretch of y, for writing */
                    _m_prefetchw(y + at + j + c * s);
                __m512 va = _mm512_fmadd_ps(
                    _mm512_sub_ps(_mm512_maskz_loadu_ps(mk, xa + at + j), hia), aa, ba);
                __m512 vb = _mm512_fmadd_ps(
                    _mm512_sub_ps(_mm512_maskz_loadu_ps(mk, xb + at + j), hib), ab, bb);
                __m512 v = _mm512_add_ps(va, vb); /* keep v > 0 and NaN, +0 elsewhere */
                v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, zero, _CMP_NLE_UQ), v);
                _mm512_mask_storeu_ps(y + at + j, mk, v);
                relu_mask[(i * c + ch) * w + j / 16] =
                    (uint16_t)(_mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ) & mk);
            }
        }
}

AVX512 void eng_batchnorm_train_add_relu_avx512_f32(float *y, uint16_t *relu_mask,
                                                    const eng_batchnorm_train_f32 *a,
                                                    const eng_batchnorm_train_f32 *b, int64_t n,
                                                    int64_t c, int64_t s)
{
    affine_f32 ka[MAX_BLOCK], kb[MAX_BLOCK];
    int64_t blk = block_channels(n, s, 3); /* x_a, x_b and y */
    for (int64_t c0 = 0; c0 < c; c0 += blk) {
        int64_t c1 = c0 + blk < c ? c0 + blk : c;
        train_block(ka, a, n, c, s, c0, c1);
        train_block(kb, b, n, c, s, c0, c1);
        add_relu_block(y, relu_mask, a->x, ka, b->x, kb, n, c, s, c0, c1);
    }
}

/* What the backward knows of the ReLU after the layer: y, or its mask y > 0, or neither. */
typedef struct relu_of {
    const float *y;
    const uint16_t *mask;
} relu_of;

/* g = dy where y > 0 (all of dy without a ReLU), lanes of mk of row r's values [j, j + 16). */
AVX512 static inline __m512 masked_g(const float *dy, relu_of ru, int64_t r, int64_t s, int64_t j,
                                     __mmask16 mk)
{
    int64_t at = r * s + j;
    if (ru.mask)
        return _mm512_maskz_loadu_ps(mk & ru.mask[r * ((s + 15) / 16) + j / 16], dy + at);
    const float *relu_y = ru.y;
    __m512 g = _mm512_maskz_loadu_ps(mk, dy + at);
    if (relu_y)
        g = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(mk, relu_y + at),
                                                   _mm512_setzero_ps(), _CMP_GT_OQ),
                                g);
    return g;
}

/* out[ch][0], [1]: the sums of g and of g * (x - hi[ch]) over channels [c0, c1). */
AVX512 static void grad_sums_block(double (*out)[2], const float *dy, const float *x, relu_of ru,
                                   const affine_f32 *k, int64_t n, int64_t c, int64_t s, int64_t c0,
                                   int64_t c1)
{
    __m512d acc[MAX_BLOCK][4];
    for (int64_t ch = c0; ch < c1; ch++)
        acc[ch - c0][0] = acc[ch - c0][1] = acc[ch - c0][2] = acc[ch - c0][3] = _mm512_setzero_pd();
    for (int64_t i = 0; i < n; i++)
        for (int64_t ch = c0; ch < c1; ch++) {
            int64_t at = (i * c + ch) * s;
            __m512 vhi = _mm512_set1_ps(k[ch - c0].hi);
            for (int64_t j0 = 0; j0 < s; j0 += 16 * F32_RUN) {
                __m512 sg = _mm512_setzero_ps(), sgd = _mm512_setzero_ps();
                int64_t j1 = j0 + 16 * F32_RUN < s ? j0 + 16 * F32_RUN : s;
                for (int64_t j = j0; j < j1; j += 16) {
                    __mmask16 mk = mask16(s - j);
                    if (i + 1 < n) { /* the next sample's stretches */
                        _mm_prefetch((const char *)(x + at + j + c * s), _MM_HINT_T0);
                        _mm_prefetch((const char *)(dy + at + j + c * s), _MM_HINT_T0);
                        if (ru.y)
                            _mm_prefetch((const char *)(ru.y + at + j + c * s), _MM_HINT_T0);
                    }
                    __m512 g = masked_g(dy, ru, i * c + ch, s, j, mk); /* masked lanes: g = 0 */
                    __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(mk, x + at + j), vhi);
                    sg = _mm512_add_ps(sg, g);
                    sgd = _mm512_fmadd_ps(g, d, sgd);
                }
                add_widened(acc[ch - c0], sg);
                add_widened(acc[ch - c0] + 2, sgd);
            }
        }
    for (int64_t ch = c0; ch < c1; ch++) {
        __m512d *a = acc[ch - c0];
        out[ch - c0][0] = _mm512_reduce_add_pd(_mm512_add_pd(a[0], a[1]));
        out[ch - c0][1] = _mm512_reduce_add_pd(_mm512_add_pd(a[2], a[3]));
    }
}

/* dx = a * g + kx * (x - hi) + b over channels [c0, c1) (k[].a, .b hold a and b, kx[]). */
AVX512 static void dx_block(float *dx, const float *dy, const float *x, relu_of ru,
                            const affine_f32 *k, const float *kx, int64_t n, int64_t c, int64_t s,
                            int64_t c0, int64_t c1)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t ch = c0; ch < c1; ch++) {
            int64_t at = (i * c + ch) * s;
            __m512 vhi = _mm512_set1_ps(k[ch - c0].hi), va = _mm512_set1_ps(k[ch - c0].a);
            __m512 vk = _mm512_set1_ps(kx[ch - c0]), vb = _mm512_set1_ps(k[ch - c0].b);
            for (int64_t j = 0; j < s; j += 16) {
                __mmask16 mk = mask16(s - j);
                if (i + 1 < n) /* the next sample's stretch of dx, for writing */
                    _m_prefetchw(dx + at + j + c * s);
                __m512 g = masked_g(dy, ru, i * c + ch, s, j, mk);
                __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(mk, x + at + j), vhi);
                _mm512_mask_storeu_ps(dx + at + j, mk,
                                      _mm512_fmadd_ps(vk, d, _mm512_fmadd_ps(va, g, vb)));
            }
        }
}

/* Block by block: the two sums in one pass from memory (sum g * xhat = invstd * (sum g * d -
 * (mean - hi) * sum g) with d = x - hi), then dx while the block is still in L2:
 * dx = a * (g - sum g / m - xhat * sum g xhat / m), a = gamma * invstd. */
AVX512 void eng_batchnorm_train_backward_avx512_f32(float *dx, float *dgamma, float *dbeta,
                                                    const double *mean, const double *invstd,
                                                    const float *dy, const float *x,
                                                    const float *relu_y, const uint16_t *relu_mask,
                                                    const float *gamma, int64_t n, int64_t c,
                                                    int64_t s)
{
    relu_of ru = {relu_mask ? NULL : relu_y, relu_mask};
    affine_f32 k[MAX_BLOCK];
    float kx[MAX_BLOCK];
    double sums[MAX_BLOCK][2], m = (double)(n * s);
    int64_t b = block_channels(n, s, relu_y && !relu_mask ? 4 : 3); /* x, dy, relu_y, dx */
    for (int64_t c0 = 0; c0 < c; c0 += b) {
        int64_t c1 = c0 + b < c ? c0 + b : c;
        for (int64_t ch = c0; ch < c1; ch++)
            k[ch - c0].hi = (float)mean[ch];
        grad_sums_block(sums, dy, x, ru, k, n, c, s, c0, c1);
        for (int64_t ch = c0; ch < c1; ch++) {
            double hi = (double)k[ch - c0].hi, sum_g = sums[ch - c0][0];
            double sum_gx = invstd[ch] * (sums[ch - c0][1] - (mean[ch] - hi) * sum_g);
            if (dgamma)
                dgamma[ch] += (float)sum_gx;
            if (dbeta)
                dbeta[ch] += (float)sum_g;
            double a = invstd[ch] * (gamma ? (double)gamma[ch] : 1.0);
            double kxd = -a * invstd[ch] * (sum_gx / m), b0 = -a * (sum_g / m);
            k[ch - c0].a = (float)a;
            k[ch - c0].b = (float)(b0 + kxd * (hi - mean[ch]));
            kx[ch - c0] = (float)kxd;
        }
        if (dx)
            dx_block(dx, dy, x, ru, k, kx, n, c, s, c0, c1);
    }
}

#endif
