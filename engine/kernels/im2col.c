#include "im2col.h"

#include <stdbool.h>
#include <string.h>

#include "cpu.h"

/* Stride-2 rows (a ResNet's downsampling layers) in f32: the plain loops move one element at
 * a time; with AVX-512 a two-source permutation picks the even elements of 32 (im2col), and
 * col2im adds into the even lanes only (the odd elements belong to other kernel columns), in
 * the plain loops' order. f64 keeps the plain loops. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_STRIDE2_AVX512 1

static inline __mmask16 mask16(int left)
{
    return left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
}

/* out[ox] = xrow[2 ox] for ox in [lo, hi) */
__attribute__((target("avx512f"))) static void gather2_avx512(float *out, const float *xrow, int lo,
                                                              int hi)
{
    const __m512i even =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (int ox = lo; ox < hi; ox += 16) {
        int count = hi - ox < 16 ? hi - ox : 16, need = 2 * count - 1;
        __m512 a = _mm512_maskz_loadu_ps(mask16(need), xrow + 2 * ox);
        __m512 b = _mm512_maskz_loadu_ps(mask16(need - 16), xrow + 2 * ox + 16);
        _mm512_mask_storeu_ps(out + ox, mask16(count), _mm512_permutex2var_ps(a, even, b));
    }
}

/* xrow[2 ox] += in[ox] for ox in [lo, hi) */
__attribute__((target("avx512f"))) static void scatter_add2_avx512(float *xrow, const float *in,
                                                                   int lo, int hi)
{
    const __m512i spread =
        _mm512_setr_epi32(0, 16, 1, 16, 2, 16, 3, 16, 4, 16, 5, 16, 6, 16, 7, 16);
    const __m512i spread_hi =
        _mm512_add_epi32(spread, _mm512_setr_epi32(8, 0, 8, 0, 8, 0, 8, 0, 8, 0, 8, 0, 8, 0, 8, 0));
    for (int ox = lo; ox < hi; ox += 16) {
        int count = hi - ox < 16 ? hi - ox : 16, need = 2 * count - 1;
        __m512 v = _mm512_maskz_loadu_ps(mask16(count), in + ox), zero = _mm512_setzero_ps();
        __mmask16 m0 = mask16(need) & 0x5555, m1 = mask16(need - 16) & 0x5555;
        float *p = xrow + 2 * ox;
        __m512 s0 =
            _mm512_add_ps(_mm512_maskz_loadu_ps(m0, p), _mm512_permutex2var_ps(v, spread, zero));
        __m512 s1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, p + 16),
                                  _mm512_permutex2var_ps(v, spread_hi, zero));
        _mm512_mask_storeu_ps(p, m0, s0);
        _mm512_mask_storeu_ps(p + 16, m1, s1);
    }
}
#endif

static bool stride2_fast_f32(const eng_conv_geometry *g)
{
#ifdef HAVE_STRIDE2_AVX512
    return g->sw == 2 && eng_simd_level() == ENG_SIMD_AVX512;
#else
    (void)g;
    return false;
#endif
}

static bool stride2_fast_f64(const eng_conv_geometry *g)
{
    (void)g;
    return false;
}

#ifdef HAVE_STRIDE2_AVX512
#define GATHER2_f32(out, xrow, lo, hi) gather2_avx512(out, xrow, lo, hi)
#define SCATTER_ADD2_f32(xrow, in, lo, hi) scatter_add2_avx512(xrow, in, lo, hi)
#else
#define GATHER2_f32(out, xrow, lo, hi) ((void)0)
#define SCATTER_ADD2_f32(xrow, in, lo, hi) ((void)0)
#endif
#define GATHER2_f64(out, xrow, lo, hi) ((void)0)
#define SCATTER_ADD2_f64(xrow, in, lo, hi) ((void)0)

/* For one kernel offset, the output columns ox whose input column lies inside [0, width):
 * ox in [lo, hi). Keeps the inner loops branch-free. */
static void valid_range(int out_size, int in_size, int stride, int pad, int offset, int *lo,
                        int *hi)
{
    int a = 0, b = out_size;
    while (a < b && a * stride - pad + offset < 0)
        a++;
    while (b > a && (b - 1) * stride - pad + offset >= in_size)
        b--;
    *lo = a;
    *hi = b;
}

#define DEFINE_IM2COL(T, SFX)                                                                      \
    void eng_im2col_##SFX(T *col, const T *x, const eng_conv_geometry *g)                          \
    {                                                                                              \
        int plane = g->oh * g->ow;                                                                 \
        bool fast2 = stride2_fast_##SFX(g);                                                        \
        for (int c = 0; c < g->channels; c++) {                                                    \
            const T *xc = x + (long)c * g->height * g->width;                                      \
            for (int i = 0; i < g->kh; i++) {                                                      \
                int ylo, yhi;                                                                      \
                valid_range(g->oh, g->height, g->sh, g->ph, i * g->dh, &ylo, &yhi);                \
                for (int j = 0; j < g->kw; j++) {                                                  \
                    int xlo, xhi;                                                                  \
                    valid_range(g->ow, g->width, g->sw, g->pw, j * g->dw, &xlo, &xhi);             \
                    T *row = col + ((long)(c * g->kh + i) * g->kw + j) * plane;                    \
                    /* zeros only where the window falls in the padding */                         \
                    memset(row, 0, sizeof(T) * (size_t)ylo * g->ow);                               \
                    memset(row + (long)yhi * g->ow, 0, sizeof(T) * (size_t)(g->oh - yhi) * g->ow); \
                    for (int oy = ylo; oy < yhi; oy++) {                                           \
                        int iy = oy * g->sh - g->ph + i * g->dh;                                   \
                        const T *xrow = xc + (long)iy * g->width - g->pw + j * g->dw;              \
                        T *out = row + (long)oy * g->ow;                                           \
                        for (int ox = 0; ox < xlo; ox++)                                           \
                            out[ox] = 0;                                                           \
                        if (g->sw == 1) {                                                          \
                            memcpy(out + xlo, xrow + xlo, sizeof(T) * (size_t)(xhi - xlo));        \
                        } else if (fast2) {                                                        \
                            GATHER2_##SFX(out, xrow, xlo, xhi);                                    \
                        } else {                                                                   \
                            for (int ox = xlo; ox < xhi; ox++)                                     \
                                out[ox] = xrow[(long)ox * g->sw];                                  \
                        }                                                                          \
                        for (int ox = xhi; ox < g->ow; ox++)                                       \
                            out[ox] = 0;                                                           \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

#define DEFINE_COL2IM(T, SFX)                                                                      \
    void eng_col2im_##SFX(T *x, const T *col, const eng_conv_geometry *g)                          \
    {                                                                                              \
        int plane = g->oh * g->ow;                                                                 \
        bool fast2 = stride2_fast_##SFX(g);                                                        \
        memset(x, 0, sizeof(T) * (size_t)g->channels * g->height * g->width);                      \
        for (int c = 0; c < g->channels; c++) {                                                    \
            T *xc = x + (long)c * g->height * g->width;                                            \
            for (int i = 0; i < g->kh; i++) {                                                      \
                int ylo, yhi;                                                                      \
                valid_range(g->oh, g->height, g->sh, g->ph, i * g->dh, &ylo, &yhi);                \
                for (int j = 0; j < g->kw; j++) {                                                  \
                    int xlo, xhi;                                                                  \
                    valid_range(g->ow, g->width, g->sw, g->pw, j * g->dw, &xlo, &xhi);             \
                    const T *row = col + ((long)(c * g->kh + i) * g->kw + j) * plane;              \
                    for (int oy = ylo; oy < yhi; oy++) {                                           \
                        int iy = oy * g->sh - g->ph + i * g->dh;                                   \
                        T *xrow = xc + (long)iy * g->width - g->pw + j * g->dw;                    \
                        const T *in = row + (long)oy * g->ow;                                      \
                        if (fast2) {                                                               \
                            SCATTER_ADD2_##SFX(xrow, in, xlo, xhi);                                \
                            continue;                                                              \
                        }                                                                          \
                        for (int ox = xlo; ox < xhi; ox++)                                         \
                            xrow[(long)ox * g->sw] += in[ox];                                      \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_IM2COL(float, f32)
DEFINE_IM2COL(double, f64)
DEFINE_COL2IM(float, f32)
DEFINE_COL2IM(double, f64)
