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
/* Lanes [lo, hi) of 16, clamped. */
static inline __mmask16 lanes16(int lo, int hi)
{
    lo = lo < 0 ? 0 : lo > 16 ? 16 : lo;
    hi = hi < 0 ? 0 : hi > 16 ? 16 : hi;
    return hi <= lo ? 0 : (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

/* The (i, oy) that read row iy of x at stride sh (at most 8: eng_im2col_s2_fast's limit):
 * rows[t] = i*kw, oys[t] = oy. Returns their count. Stride 2 without divisions. */
static inline int row_readers(int iy, const eng_conv_geometry *g, int rows[8], int oys[8])
{
    int n = 0, t0 = iy + g->ph, sh = g->sh;
    int i = sh == 2 ? t0 & 1 : t0 % sh, oy = sh == 2 ? t0 >> 1 : t0 / sh;
    for (; i < g->kh && i <= t0; i += sh, oy--)
        if (oy < g->oh)
            rows[n] = i * g->kw, oys[n++] = oy;
    return n;
}

/* eng_im2col_s2_f32 row by row of col, each col row written front to back (stores spread over
 * the rows that read one input row ran 40% slower): 16 output columns from two masked loads
 * of an input row and one permutation; planes at most 8 wide take two output rows per vector
 * (one masked load from each of two input rows), half the stores. Windows in the padding
 * load nothing (mask 0: zeros). */
__attribute__((target("avx512f"))) static void
im2col_s2_avx512(float *col, int64_t ld, const float *x, const eng_conv_geometry *g)
{
    const int w = g->width, h = g->height, ow = g->ow, oh = g->oh, kw = g->kw, pw = g->pw;
    const bool pairs = ow <= 8;
    int id[16];
    for (int t = 0; t < 16; t++) /* pairs: lanes [0, ow) from a, [ow, 2 ow) from b */
        id[t] = !pairs ? 2 * t : t < ow ? 2 * t : t < 2 * ow ? 16 + 2 * (t - ow) : 0;
    const __m512i idx = _mm512_loadu_si512(id);
    const int step = pairs ? 2 : 1;
    for (int ox0 = 0; ox0 < ow; ox0 += 16) {
        __mmask16 ma[8], mb[8];
        for (int j = 0; j < kw; j++) { /* lane 0 reads x column base */
            int base = 2 * ox0 + j - pw;
            ma[j] = lanes16(-base, w - base), mb[j] = lanes16(-base - 16, w - base - 16);
        }
        for (int c = 0; c < g->channels; c++)
            for (int i = 0; i < g->kh; i++) {
                const float *xc = x + (int64_t)c * h * w + 2 * ox0 - pw;
                float *crow = col + ((int64_t)c * g->kh + i) * kw * ld + ox0;
                for (int oy = 0; oy < oh; oy += step) {
                    int r0 = oy * g->sh - g->ph + i, r1 = r0 + g->sh;
                    bool in0 = r0 >= 0 && r0 < h, in1 = pairs && oy + 1 < oh && r1 >= 0 && r1 < h;
                    __mmask16 m = lanes16(0, pairs && oy + 1 < oh ? 2 * ow : ow - ox0);
                    const float *x0 = xc + (int64_t)r0 * w, *x1 = xc + (int64_t)r1 * w;
                    float *out = crow + (int64_t)oy * ow;
                    for (int j = 0; j < kw; j++, out += ld) {
                        __m512 a = _mm512_maskz_loadu_ps(in0 ? ma[j] : 0, x0 + j);
                        __m512 b = pairs ? _mm512_maskz_loadu_ps(in1 ? ma[j] : 0, x1 + j)
                                         : _mm512_maskz_loadu_ps(in0 ? mb[j] : 0, x0 + j + 16);
                        _mm512_mask_storeu_ps(out, m, _mm512_permutex2var_ps(a, idx, b));
                    }
                }
            }
    }
}

/* eng_col2im_s2_f32 by rows of x: the even and odd elements of a row (E, O: x column 2v - pw
 * and 2v + 1 - pw) summed in registers over every (i, oy, j) that reads them, in col2im's
 * order, then interleaved and stored once. */
__attribute__((target("avx512f"))) static void
col2im_s2_avx512(float *x, const float *col, int64_t ld, const eng_conv_geometry *g)
{
    const __m512i lo_idx =
        _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi_idx = _mm512_add_epi32(lo_idx, _mm512_set1_epi32(8));
    const int w = g->width, h = g->height, ow = g->ow, kh = g->kh, kw = g->kw, pw = g->pw;
    const int q = (w + pw + 1) / 2;
    for (int v0 = 0; v0 < q; v0 += 16) {
        __mmask16 md[8], m0 = lanes16(pw - 2 * v0, w + pw - 2 * v0),
                         m1 = lanes16(pw - 2 * v0 - 16, w + pw - 2 * v0 - 16);
        for (int j = 0; j < kw; j++) /* lane v takes output column v - j/2 */
            md[j] = lanes16(j / 2 - v0, ow + j / 2 - v0);
        for (int c = 0; c < g->channels; c++)
            for (int iy = 0; iy < h; iy++) {
                int rows[8], oys[8], n = row_readers(iy, g, rows, oys);
                const float *colc = col + (int64_t)c * kh * kw * ld + v0;
                __m512 e = _mm512_setzero_ps(), o = _mm512_setzero_ps();
                for (int t = 0; t < n; t++)
                    for (int j = 0; j < kw; j++) {
                        const float *in = colc + (rows[t] + j) * ld + (int64_t)oys[t] * ow - j / 2;
                        __m512 d = _mm512_maskz_loadu_ps(md[j], in);
                        if (j % 2)
                            o = _mm512_add_ps(o, d);
                        else
                            e = _mm512_add_ps(e, d);
                    }
                float *p = x + ((int64_t)c * h + iy) * w + 2 * v0 - pw;
                _mm512_mask_storeu_ps(p, m0, _mm512_permutex2var_ps(e, lo_idx, o));
                if (m1) /* rows of at most 16 - pw elements end in the first vector */
                    _mm512_mask_storeu_ps(p + 16, m1, _mm512_permutex2var_ps(e, hi_idx, o));
            }
    }
}
#endif

bool eng_im2col_s2_fast(const eng_conv_geometry *g)
{
#ifdef HAVE_STRIDE2_AVX512
    return g->sw == 2 && g->dh == 1 && g->dw == 1 && (g->kh + g->sh - 1) / g->sh <= 8 &&
           g->kw <= 8 && eng_simd_level() == ENG_SIMD_AVX512;
#else
    (void)g;
    return false;
#endif
}

void eng_im2col_s2_f32(float *col, int64_t ld, const float *x, const eng_conv_geometry *g)
{
#ifdef HAVE_STRIDE2_AVX512
    im2col_s2_avx512(col, ld, x, g);
#else
    (void)col, (void)ld, (void)x, (void)g;
#endif
}

void eng_col2im_s2_f32(float *x, const float *col, int64_t ld, const eng_conv_geometry *g)
{
#ifdef HAVE_STRIDE2_AVX512
    col2im_s2_avx512(x, col, ld, g);
#else
    (void)x, (void)col, (void)ld, (void)g;
#endif
}

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
