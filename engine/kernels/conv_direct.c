#include "conv_direct.h"

#include <stdbool.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86_DISPATCH 1
#endif

void eng_pad_f32(float *xpad, const float *x, int c, int h, int w, int ph, int pw)
{
    int hp = h + 2 * ph, wp = w + 2 * pw;
    memset(xpad, 0, sizeof(float) * (size_t)c * hp * wp);
    for (int ch = 0; ch < c; ch++)
        for (int i = 0; i < h; i++)
            memcpy(xpad + ((long)ch * hp + i + ph) * wp + pw, x + ((long)ch * h + i) * w,
                   sizeof(float) * (size_t)w);
}

static void conv_direct_generic(float *y, const float *w, const float *xpad, int cin, int hp,
                                int wp, int out, int kh, int kw)
{
    int oh = hp - kh + 1, ow = wp - kw + 1;
    for (int o = 0; o < out; o++)
        for (int c = 0; c < cin; c++)
            for (int i = 0; i < kh; i++)
                for (int j = 0; j < kw; j++) {
                    float wv = w[(((long)o * cin + c) * kh + i) * kw + j];
                    for (int oy = 0; oy < oh; oy++) {
                        const float *xr = xpad + ((long)c * hp + oy + i) * wp + j;
                        float *yr = y + ((long)o * oh + oy) * ow;
                        for (int ox = 0; ox < ow; ox++)
                            yr[ox] += wv * xr[ox];
                    }
                }
}

#ifdef HAVE_X86_DISPATCH
/* Register tile: 4 output channels x 16 output columns (8 accumulators of 8 floats); each
 * kernel tap costs two input loads, four weight broadcasts and eight FMAs. Columns past the
 * row's end go through masked loads and stores. */
__attribute__((target("avx2,fma"))) static void
conv_direct_avx2(float *y, const float *w, const float *xpad, int cin, int hp, int wp, int out,
                 int kh, int kw)
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
                            __m256 x0 = full ? _mm256_loadu_ps(xr + j)
                                             : _mm256_maskload_ps(xr + j, m0);
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
        conv_direct_generic(y + (long)o * oh * ow, w + (long)o * cin * kh * kw, xpad, cin, hp,
                            wp, out - o, kh, kw);
}
#endif

void eng_conv_direct_f32(float *y, const float *w, const float *xpad, int cin, int hp, int wp,
                         int out, int kh, int kw)
{
#ifdef HAVE_X86_DISPATCH
    static int has_avx2 = -1;
    if (has_avx2 < 0)
        has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (has_avx2) {
        conv_direct_avx2(y, w, xpad, cin, hp, wp, out, kh, kw);
        return;
    }
#endif
    conv_direct_generic(y, w, xpad, cin, hp, wp, out, kh, kw);
}
