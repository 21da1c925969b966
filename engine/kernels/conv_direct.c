#include "conv_direct.h"

#include "broadcast.h"
#include "conv_direct_avx512.h"
#include "cpu.h"

#include <stdbool.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86_DISPATCH 1
#endif

#define DEFINE_PAD(T, SFX)                                                                         \
    void eng_pad_##SFX(T *xpad, const T *x, int c, int h, int w, int ph, int pw)                   \
    {                                                                                              \
        int hp = h + 2 * ph, wp = w + 2 * pw;                                                      \
        memset(xpad, 0, sizeof(T) * (size_t)c * hp * wp);                                          \
        for (int ch = 0; ch < c; ch++)                                                             \
            for (int i = 0; i < h; i++)                                                            \
                memcpy(xpad + ((long)ch * hp + i + ph) * wp + pw, x + ((long)ch * h + i) * w,      \
                       sizeof(T) * (size_t)w);                                                     \
    }

DEFINE_PAD(float, f32)
DEFINE_PAD(double, f64)

/* Plain C, for processors without AVX2 (or AVX-512 for f64) and for the channels left over
 * by the vector tiles. The weight gradient accumulates in double, as the house style asks of
 * f32 reductions. */
#define DEFINE_GENERIC(T, SFX)                                                                     \
    static void conv_direct_generic_##SFX(T *y, const T *w, const T *xpad, int cin, int hp,        \
                                          int wp, int out, int kh, int kw)                         \
    {                                                                                              \
        int oh = hp - kh + 1, ow = wp - kw + 1;                                                    \
        for (int o = 0; o < out; o++)                                                              \
            for (int c = 0; c < cin; c++)                                                          \
                for (int i = 0; i < kh; i++)                                                       \
                    for (int j = 0; j < kw; j++) {                                                 \
                        T wv = w[(((long)o * cin + c) * kh + i) * kw + j];                         \
                        for (int oy = 0; oy < oh; oy++) {                                          \
                            const T *xr = xpad + ((long)c * hp + oy + i) * wp + j;                 \
                            T *yr = y + ((long)o * oh + oy) * ow;                                  \
                            for (int ox = 0; ox < ow; ox++)                                        \
                                yr[ox] += wv * xr[ox];                                             \
                        }                                                                          \
                    }                                                                              \
    }                                                                                              \
                                                                                                   \
    static void conv_direct_dweight_generic_##SFX(T *dw, const T *dy, const T *xpad, int cin,      \
                                                  int hp, int wp, int out, int kh, int kw)         \
    {                                                                                              \
        int oh = hp - kh + 1, ow = wp - kw + 1;                                                    \
        for (int o = 0; o < out; o++)                                                              \
            for (int c = 0; c < cin; c++)                                                          \
                for (int i = 0; i < kh; i++)                                                       \
                    for (int j = 0; j < kw; j++) {                                                 \
                        double acc = 0;                                                            \
                        for (int oy = 0; oy < oh; oy++) {                                          \
                            const T *xr = xpad + ((long)c * hp + oy + i) * wp + j;                 \
                            const T *dr = dy + ((long)o * oh + oy) * ow;                           \
                            for (int ox = 0; ox < ow; ox++)                                        \
                                acc += (double)dr[ox] * xr[ox];                                    \
                        }                                                                          \
                        dw[(((long)o * cin + c) * kh + i) * kw + j] += (T)acc;                     \
                    }                                                                              \
    }

DEFINE_GENERIC(float, f32)
DEFINE_GENERIC(double, f64)

#ifdef HAVE_X86_DISPATCH
__attribute__((target("avx2,fma"))) static float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

/* Tile: 2 output channels x one kernel row of KW taps: 2*KW accumulators of 8 columns; each
 * step loads two dy rows' 8 columns and KW shifted input vectors. KW is a compile-time
 * constant in each instance so that the accumulators stay in registers. */
#define DEFINE_DWEIGHT_AVX2(KW)                                                                    \
    __attribute__((target("avx2,fma"))) static void conv_direct_dweight_avx2_##KW(                 \
        float *dw, const float *dy, const float *xpad, int cin, int hp, int wp, int out, int kh)   \
    {                                                                                              \
        int oh = hp - kh + 1, ow = wp - KW + 1;                                                    \
        __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);                                  \
        int o = 0;                                                                                 \
        for (; o + 2 <= out; o += 2) {                                                             \
            for (int c = 0; c < cin; c++) {                                                        \
                for (int i = 0; i < kh; i++) {                                                     \
                    __m256 acc0[KW], acc1[KW];                                                     \
                    for (int j = 0; j < KW; j++)                                                   \
                        acc0[j] = acc1[j] = _mm256_setzero_ps();                                   \
                    for (int oy = 0; oy < oh; oy++) {                                              \
                        const float *d0 = dy + ((long)o * oh + oy) * ow;                           \
                        const float *d1 = d0 + (long)oh * ow;                                      \
                        const float *xr = xpad + ((long)c * hp + oy + i) * wp;                     \
                        int ox = 0;                                                                \
                        for (; ox + 8 <= ow; ox += 8) {                                            \
                            __m256 a = _mm256_loadu_ps(d0 + ox), b = _mm256_loadu_ps(d1 + ox);     \
                            for (int j = 0; j < KW; j++) {                                         \
                                __m256 xv = _mm256_loadu_ps(xr + ox + j);                          \
                                acc0[j] = _mm256_fmadd_ps(a, xv, acc0[j]);                         \
                                acc1[j] = _mm256_fmadd_ps(b, xv, acc1[j]);                         \
                            }                                                                      \
                        }                                                                          \
                        if (ox < ow) {                                                             \
                            __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(ow - ox), lane);      \
                            __m256 a = _mm256_maskload_ps(d0 + ox, m);                             \
                            __m256 b = _mm256_maskload_ps(d1 + ox, m);                             \
                            for (int j = 0; j < KW; j++) {                                         \
                                __m256 xv = _mm256_maskload_ps(xr + ox + j, m);                    \
                                acc0[j] = _mm256_fmadd_ps(a, xv, acc0[j]);                         \
                                acc1[j] = _mm256_fmadd_ps(b, xv, acc1[j]);                         \
                            }                                                                      \
                        }                                                                          \
                    }                                                                              \
                    float *w0 = dw + (((long)o * cin + c) * kh + i) * KW;                          \
                    float *w1 = w0 + (long)cin * kh * KW;                                          \
                    for (int j = 0; j < KW; j++) {                                                 \
                        w0[j] += hsum(acc0[j]);                                                    \
                        w1[j] += hsum(acc1[j]);                                                    \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        if (o < out)                                                                               \
            conv_direct_dweight_generic_f32(dw + (long)o * cin * kh * KW, dy + (long)o * oh * ow,  \
                                            xpad, cin, hp, wp, out - o, kh, KW);                   \
    }

DEFINE_DWEIGHT_AVX2(3)
DEFINE_DWEIGHT_AVX2(5)
DEFINE_DWEIGHT_AVX2(7)

/* Register tile: 4 output channels x 16 output columns (8 accumulators of 8 floats); each
 * kernel tap costs two input loads, four weight broadcasts and eight FMAs. Columns past the
 * row's end go through masked loads and stores. */
__attribute__((target("avx2,fma"))) static void conv_direct_avx2(float *y, const float *w,
                                                                 const float *xpad, int cin, int hp,
                                                                 int wp, int out, int kh, int kw)
{
    int oh = hp - kh + 1, ow = wp - kw + 1;
    int o = 0;
    for (; o + 4 <= out; o += 4) {
        for (int oy = 0; oy < oh; oy++) {
            for (int ox = 0; ox < ow; ox += 16) {
                int left = ow - ox;
                __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), lane);
                __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(left - 8), lane);
                bool full = left >= 16;
                __m256 acc[4][2];
                for (int q = 0; q < 4; q++) {
                    float *yr = y + ((long)(o + q) * oh + oy) * ow + ox;
                    acc[q][0] = _mm256_maskload_ps(yr, m0);
                    acc[q][1] = _mm256_maskload_ps(yr + 8, m1);
                }
                for (int c = 0; c < cin; c++) {
                    for (int i = 0; i < kh; i++) {
                        const float *xr = xpad + ((long)c * hp + oy + i) * wp + ox;
                        const float *wr = w + ((long)o * cin + c) * kh * kw + (long)i * kw;
                        long wstride = (long)cin * kh * kw;
                        for (int j = 0; j < kw; j++) {
                            __m256 x0 =
                                full ? _mm256_loadu_ps(xr + j) : _mm256_maskload_ps(xr + j, m0);
                            __m256 x1 = full ? _mm256_loadu_ps(xr + j + 8)
                                             : _mm256_maskload_ps(xr + j + 8, m1);
                            for (int q = 0; q < 4; q++) {
                                __m256 wv = _mm256_broadcast_ss(wr + q * wstride + j);
                                acc[q][0] = _mm256_fmadd_ps(wv, x0, acc[q][0]);
                                acc[q][1] = _mm256_fmadd_ps(wv, x1, acc[q][1]);
                            }
                        }
                    }
                }
                for (int q = 0; q < 4; q++) {
                    float *yr = y + ((long)(o + q) * oh + oy) * ow + ox;
                    _mm256_maskstore_ps(yr, m0, acc[q][0]);
                    _mm256_maskstore_ps(yr + 8, m1, acc[q][1]);
                }
            }
        }
    }
    if (o < out)
        conv_direct_generic_f32(y + (long)o * oh * ow, w + (long)o * cin * kh * kw, xpad, cin, hp,
                                wp, out - o, kh, kw);
}
#endif

void eng_conv_direct_f32(float *y, const float *w, const float *xpad, int cin, int hp, int wp,
                         int out, int kh, int kw)
{
#ifdef HAVE_X86_DISPATCH
    if (eng_simd_level() == ENG_SIMD_AVX512) {
        eng_conv_direct_avx512_f32(y, NULL, w, xpad, cin, hp, wp, out, kh, kw);
        return;
    }
    if (eng_simd_level() >= ENG_SIMD_AVX2) {
        conv_direct_avx2(y, w, xpad, cin, hp, wp, out, kh, kw);
        return;
    }
#endif
    conv_direct_generic_f32(y, w, xpad, cin, hp, wp, out, kh, kw);
}

void eng_conv_direct_f64(double *y, const double *w, const double *xpad, int cin, int hp, int wp,
                         int out, int kh, int kw)
{
#ifdef HAVE_X86_DISPATCH
    if (eng_simd_level() == ENG_SIMD_AVX512) {
        eng_conv_direct_avx512_f64(y, NULL, w, xpad, cin, hp, wp, out, kh, kw);
        return;
    }
#endif
    conv_direct_generic_f64(y, w, xpad, cin, hp, wp, out, kh, kw);
}

/* With AVX-512 the accumulators start at the bias: no pass that fills y first. */
void eng_conv_direct_bias_f32(float *y, const float *bias, const float *w, const float *xpad,
                              int cin, int hp, int wp, int out, int kh, int kw)
{
#ifdef HAVE_X86_DISPATCH
    if (eng_simd_level() == ENG_SIMD_AVX512) {
        eng_conv_direct_avx512_f32(y, bias, w, xpad, cin, hp, wp, out, kh, kw);
        return;
    }
#endif
    eng_fill_planes_f32(y, bias, out, (int64_t)(hp - kh + 1) * (wp - kw + 1));
    eng_conv_direct_f32(y, w, xpad, cin, hp, wp, out, kh, kw);
}

void eng_conv_direct_bias_f64(double *y, const double *bias, const double *w, const double *xpad,
                              int cin, int hp, int wp, int out, int kh, int kw)
{
#ifdef HAVE_X86_DISPATCH
    if (eng_simd_level() == ENG_SIMD_AVX512) {
        eng_conv_direct_avx512_f64(y, bias, w, xpad, cin, hp, wp, out, kh, kw);
        return;
    }
#endif
    eng_fill_planes_f64(y, bias, out, (int64_t)(hp - kh + 1) * (wp - kw + 1));
    eng_conv_direct_f64(y, w, xpad, cin, hp, wp, out, kh, kw);
}

void eng_conv_direct_dweight_f32(float *dw, const float *dy, const float *xpad, int cin, int hp,
                                 int wp, int out, int kh, int kw)
{
#ifdef HAVE_X86_DISPATCH
    if (eng_simd_level() == ENG_SIMD_AVX512 &&
        eng_conv_direct_dweight_avx512_f32(dw, dy, xpad, cin, hp, wp, out, kh, kw))
        return;
    if (eng_simd_level() >= ENG_SIMD_AVX2) {
        switch (kw) {
        case 3: conv_direct_dweight_avx2_3(dw, dy, xpad, cin, hp, wp, out, kh); return;
        case 5: conv_direct_dweight_avx2_5(dw, dy, xpad, cin, hp, wp, out, kh); return;
        case 7: conv_direct_dweight_avx2_7(dw, dy, xpad, cin, hp, wp, out, kh); return;
        default: break;
        }
    }
#endif
    conv_direct_dweight_generic_f32(dw, dy, xpad, cin, hp, wp, out, kh, kw);
}

void eng_conv_direct_dweight_f64(double *dw, const double *dy, const double *xpad, int cin, int hp,
                                 int wp, int out, int kh, int kw)
{
#ifdef HAVE_X86_DISPATCH
    if (eng_simd_level() == ENG_SIMD_AVX512 &&
        eng_conv_direct_dweight_avx512_f64(dw, dy, xpad, cin, hp, wp, out, kh, kw))
        return;
#endif
    conv_direct_dweight_generic_f64(dw, dy, xpad, cin, hp, wp, out, kh, kw);
}

bool eng_conv_direct_is_fast(eng_dtype dtype)
{
    /* f32's plain C body is still faster than im2col + GEMM for these few taps; f64's only
     * wins with AVX-512 (against OpenBLAS's dgemm). */
    return dtype == ENG_F32 || (dtype == ENG_F64 && eng_simd_level() == ENG_SIMD_AVX512);
}
