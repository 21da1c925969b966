/* AVX-512 bodies of the direct convolution (conv_direct.c dispatches to them when the
 * processor has AVX-512F). Masked loads and stores handle the columns past a row's end, so
 * every width takes the same path. One body per dtype, from the macros below. */
#include "conv_direct_avx512.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* Lanes [0, left) of a mask (all when left >= lanes, none when left <= 0). */
static inline unsigned lane_mask(int left, int lanes)
{
    if (left >= lanes)
        return lanes == 16 ? 0xffffu : 0xffu;
    return left > 0 ? (1u << left) - 1 : 0;
}

/* Forward register tile: Q output channels x V vectors of consecutive output columns, Q * V
 * accumulators; each kernel tap costs V input loads, Q weight broadcasts and Q * V FMAs.
 * Output channels past the last whole tile go through a one-channel tile. */
#define DEFINE_FORWARD(SFX, T, VT, MT, LANES, Q, V, LOAD, STORE, FMA, SET1)                        \
    static inline __attribute__((always_inline, target("avx512f"))) void forward_tile_##SFX(       \
        T *y, const T *bias, const T *w, const T *xpad, int cin, int hp, int wp, int kh, int kw,   \
        int oh, int ow, int q_count, int o)                                                        \
    {                                                                                              \
        long wstride = (long)cin * kh * kw;                                                        \
        for (int oy = 0; oy < oh; oy++) {                                                          \
            for (int ox = 0; ox < ow; ox += V * LANES) {                                           \
                MT m[V];                                                                           \
                VT acc[Q][V];                                                                      \
                for (int v = 0; v < V; v++)                                                        \
                    m[v] = (MT)lane_mask(ow - ox - v * LANES, LANES);                              \
                for (int q = 0; q < q_count; q++)                                                  \
                    for (int v = 0; v < V; v++)                                                    \
                        acc[q][v] =                                                                \
                            bias                                                                   \
                                ? SET1(bias[o + q])                                                \
                                : LOAD(m[v], y + ((long)(o + q) * oh + oy) * ow + ox + v * LANES); \
                for (int c = 0; c < cin; c++) {                                                    \
                    for (int i = 0; i < kh; i++) {                                                 \
                        const T *xr = xpad + ((long)c * hp + oy + i) * wp + ox;                    \
                        const T *wr = w + (long)o * wstride + ((long)c * kh + i) * kw;             \
                        for (int j = 0; j < kw; j++) {                                             \
                            VT xv[V];                                                              \
                            for (int v = 0; v < V; v++)                                            \
                                xv[v] = LOAD(m[v], xr + j + v * LANES);                            \
                            for (int q = 0; q < q_count; q++) {                                    \
                                VT wv = SET1(wr[q * wstride + j]);                                 \
                                for (int v = 0; v < V; v++)                                        \
                                    acc[q][v] = FMA(wv, xv[v], acc[q][v]);                         \
                            }                                                                      \
                        }                                                                          \
                    }                                                                              \
                }                                                                                  \
                for (int q = 0; q < q_count; q++)                                                  \
                    for (int v = 0; v < V; v++)                                                    \
                        STORE(y + ((long)(o + q) * oh + oy) * ow + ox + v * LANES, m[v],           \
                              acc[q][v]);                                                          \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    __attribute__((target("avx512f"))) void eng_conv_direct_avx512_##SFX(                          \
        T *y, const T *bias, const T *w, const T *xpad, int cin, int hp, int wp, int out, int kh,  \
        int kw)                                                                                    \
    {                                                                                              \
        int oh = hp - kh + 1, ow = wp - kw + 1, o = 0;                                             \
        for (; o + Q <= out; o += Q)                                                               \
            forward_tile_##SFX(y, bias, w, xpad, cin, hp, wp, kh, kw, oh, ow, Q, o);               \
        for (; o < out; o++)                                                                       \
            forward_tile_##SFX(y, bias, w, xpad, cin, hp, wp, kh, kw, oh, ow, 1, o);               \
    }

/* Weight-gradient tile: QN output channels x the KW taps of one kernel row, QN * KW
 * accumulators over the output columns; each step loads QN dy vectors and KW shifted input
 * vectors. KW and QN are compile-time constants at every call (whole tiles of Q channels, then
 * single channels), so that the accumulators stay in registers. */
#define DEFINE_DWEIGHT(SFX, T, VT, MT, LANES, Q, KW, LOAD, FMA, ZERO, REDUCE)                      \
    static inline                                                                                  \
        __attribute__((always_inline, target("avx512f"))) void dweight_tile_##SFX##_##KW(          \
            T *dw, const T *dy, const T *xpad, int cin, int hp, int wp, int kh, int oh, int ow,    \
            int o, int qn)                                                                         \
    {                                                                                              \
        for (int c = 0; c < cin; c++) {                                                            \
            for (int i = 0; i < kh; i++) {                                                         \
                VT acc[Q][KW];                                                                     \
                _Pragma("GCC unroll 8") for (int q = 0; q < qn; q++)                               \
                    _Pragma("GCC unroll 8") for (int j = 0; j < KW; j++) acc[q][j] = ZERO();       \
                for (int oy = 0; oy < oh; oy++) {                                                  \
                    const T *xr = xpad + ((long)c * hp + oy + i) * wp;                             \
                    const T *d0 = dy + ((long)o * oh + oy) * ow;                                   \
                    for (int ox = 0; ox < ow; ox += LANES) {                                       \
                        MT m = (MT)lane_mask(ow - ox, LANES);                                      \
                        VT d[Q];                                                                   \
                        _Pragma("GCC unroll 8") for (int q = 0; q < qn; q++) d[q] =                \
                            LOAD(m, d0 + (long)q * oh * ow + ox);                                  \
                        _Pragma("GCC unroll 8") for (int j = 0; j < KW; j++)                       \
                        {                                                                          \
                            VT xv = LOAD(m, xr + ox + j);                                          \
                            _Pragma("GCC unroll 8") for (int q = 0; q < qn; q++) acc[q][j] =       \
                                FMA(d[q], xv, acc[q][j]);                                          \
                        }                                                                          \
                    }                                                                              \
                }                                                                                  \
                _Pragma("GCC unroll 8") for (int q = 0; q < qn; q++)                               \
                {                                                                                  \
                    T *wq = dw + (((long)(o + q) * cin + c) * kh + i) * KW;                        \
                    _Pragma("GCC unroll 8") for (int j = 0; j < KW; j++) wq[j] +=                  \
                        REDUCE(acc[q][j]);                                                         \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    __attribute__((target("avx512f"))) static void dweight_##SFX##_##KW(                           \
        T *dw, const T *dy, const T *xpad, int cin, int hp, int wp, int out, int kh)               \
    {                                                                                              \
        int oh = hp - kh + 1, ow = wp - KW + 1, o = 0;                                             \
        for (; o + Q <= out; o += Q)                                                               \
            dweight_tile_##SFX##_##KW(dw, dy, xpad, cin, hp, wp, kh, oh, ow, o, Q);                \
        for (; o < out; o++)                                                                       \
            dweight_tile_##SFX##_##KW(dw, dy, xpad, cin, hp, wp, kh, oh, ow, o, 1);                \
    }

#define LOAD_PS(m, p) _mm512_maskz_loadu_ps((m), (p))
#define STORE_PS(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))
#define LOAD_PD(m, p) _mm512_maskz_loadu_pd((m), (p))
#define STORE_PD(p, m, v) _mm512_mask_storeu_pd((p), (m), (v))

DEFINE_FORWARD(f32, float, __m512, __mmask16, 16, 8, 2, LOAD_PS, STORE_PS, _mm512_fmadd_ps,
               _mm512_set1_ps)
DEFINE_FORWARD(f64, double, __m512d, __mmask8, 8, 4, 4, LOAD_PD, STORE_PD, _mm512_fmadd_pd,
               _mm512_set1_pd)

DEFINE_DWEIGHT(f32, float, __m512, __mmask16, 16, 4, 3, LOAD_PS, _mm512_fmadd_ps, _mm512_setzero_ps,
               _mm512_reduce_add_ps)
DEFINE_DWEIGHT(f32, float, __m512, __mmask16, 16, 4, 5, LOAD_PS, _mm512_fmadd_ps, _mm512_setzero_ps,
               _mm512_reduce_add_ps)
DEFINE_DWEIGHT(f32, float, __m512, __mmask16, 16, 2, 7, LOAD_PS, _mm512_fmadd_ps, _mm512_setzero_ps,
               _mm512_reduce_add_ps)
DEFINE_DWEIGHT(f64, double, __m512d, __mmask8, 8, 4, 3, LOAD_PD, _mm512_fmadd_pd, _mm512_setzero_pd,
               _mm512_reduce_add_pd)
DEFINE_DWEIGHT(f64, double, __m512d, __mmask8, 8, 4, 5, LOAD_PD, _mm512_fmadd_pd, _mm512_setzero_pd,
               _mm512_reduce_add_pd)
DEFINE_DWEIGHT(f64, double, __m512d, __mmask8, 8, 2, 7, LOAD_PD, _mm512_fmadd_pd, _mm512_setzero_pd,
               _mm512_reduce_add_pd)

bool eng_conv_direct_dweight_avx512_f32(float *dw, const float *dy, const float *xpad, int cin,
                                        int hp, int wp, int out, int kh, int kw)
{
    switch (kw) {
    case 3: dweight_f32_3(dw, dy, xpad, cin, hp, wp, out, kh); return true;
    case 5: dweight_f32_5(dw, dy, xpad, cin, hp, wp, out, kh); return true;
    case 7: dweight_f32_7(dw, dy, xpad, cin, hp, wp, out, kh); return true;
    default: return false;
    }
}

bool eng_conv_direct_dweight_avx512_f64(double *dw, const double *dy, const double *xpad, int cin,
                                        int hp, int wp, int out, int kh, int kw)
{
    switch (kw) {
    case 3: dweight_f64_3(dw, dy, xpad, cin, hp, wp, out, kh); return true;
    case 5: dweight_f64_5(dw, dy, xpad, cin, hp, wp, out, kh); return true;
    case 7: dweight_f64_7(dw, dy, xpad, cin, hp, wp, out, kh); return true;
    default: return false;
    }
}

#endif
