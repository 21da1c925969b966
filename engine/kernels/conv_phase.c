#include "conv_phase.h"

#include <stdbool.h>
#include <string.h>

#include "cpu.h"

/* A strided convolution reads each input element through up to kh*kw windows; im2col gathers
 * it once per window with a strided load per output row. Splitting the padded image into its
 * sh*sw phases reads each element once, and every tap's rows become one contiguous copy (the
 * grid keeps Q columns per output row, ow of them meaningful), the trick of computing a
 * strided convolution as a sum of stride-1 convolutions of the input's polyphase components
 * (Vaidyanathan, Multirate Systems and Filter Banks, 1993, ch. 4). */

int eng_phase_rows(const eng_conv_geometry *g)
{
    return (g->height + 2 * g->ph + g->sh - 1) / g->sh;
}

int eng_phase_cols(const eng_conv_geometry *g)
{
    return (g->width + 2 * g->pw + g->sw - 1) / g->sw;
}

int64_t eng_phase_grid(const eng_conv_geometry *g)
{
    return (int64_t)g->oh * eng_phase_cols(g);
}

int64_t eng_phase_size(const eng_conv_geometry *g)
{
    int64_t q = eng_phase_cols(g);
    return (int64_t)g->channels * g->sh * g->sw * eng_phase_rows(g) * q + q;
}

/* Stride 2 with AVX-512: 32 elements of a padded row (two masked loads, the padding lanes
 * zero) give 16 elements of each column phase by two two-source permutations; the adjoint
 * interleaves two phase rows back into a row. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_PHASE_AVX512 1

/* Lanes [lo, hi) of 16, clamped. */
static inline __mmask16 lanes(int lo, int hi)
{
    lo = lo < 0 ? 0 : lo > 16 ? 16 : lo;
    hi = hi < 0 ? 0 : hi > 16 ? 16 : hi;
    return hi <= lo ? 0 : (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

/* out0[v] = xpad[2 v], out1[v] = xpad[2 v + 1] [optional] for v in [0, q), where xpad[p] = xrow[p -
 * pw] for p - pw in [0, w), else 0. */
__attribute__((target("avx512f"))) static void
split_row2_avx512(float *out0, float *out1, const float *xrow, int w, int pw, int q)
{
    const __m512i even =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    for (int v = 0; v < q; v += 16) {
        int base = 2 * v, lo = pw - base, hi = w + pw - base;
        const float *p = xrow + base - pw;
        __m512 a = _mm512_maskz_loadu_ps(lanes(lo, hi), p);
        __m512 b = _mm512_maskz_loadu_ps(lanes(lo - 16, hi - 16), p + 16);
        __mmask16 m = lanes(0, q - v);
        _mm512_mask_storeu_ps(out0 + v, m, _mm512_permutex2var_ps(a, even, b));
        if (out1)
            _mm512_mask_storeu_ps(out1 + v, m, _mm512_permutex2var_ps(a, odd, b));
    }
}

/* dxrow[x] = xpad[x + pw] for x in [0, w), where xpad[2 v] = in0[v], xpad[2 v + 1] = in1[v]
 * (0 when in1 is NULL). */
__attribute__((target("avx512f"))) static void merge_row2_avx512(float *dxrow, const float *in0,
                                                                 const float *in1, int w, int pw)
{
    const __m512i lo_idx =
        _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi_idx = _mm512_add_epi32(lo_idx, _mm512_set1_epi32(8));
    int q = (w + pw + 1) / 2; /* phase columns that reach the row */
    for (int v = 0; v < q; v += 16) {
        int base = 2 * v, lo = pw - base, hi = w + pw - base;
        __mmask16 m = lanes(0, q - v);
        __m512 e = _mm512_maskz_loadu_ps(m, in0 + v);
        __m512 o = in1 ? _mm512_maskz_loadu_ps(m, in1 + v) : _mm512_setzero_ps();
        float *p = dxrow + base - pw;
        _mm512_mask_storeu_ps(p, lanes(lo, hi), _mm512_permutex2var_ps(e, lo_idx, o));
        _mm512_mask_storeu_ps(p + 16, lanes(lo - 16, hi - 16),
                              _mm512_permutex2var_ps(e, hi_idx, o));
    }
}

/* merge_row2_avx512 adding into dxrow: dxrow[x] += xpad[x + pw] (+0 added where in1 is NULL,
 * as adding a gradient that holds zeros there) */
__attribute__((target("avx512f"))) static void
merge_add_row2_avx512(float *dxrow, const float *in0, const float *in1, int w, int pw)
{
    const __m512i lo_idx =
        _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi_idx = _mm512_add_epi32(lo_idx, _mm512_set1_epi32(8));
    int q = (w + pw + 1) / 2;
    for (int v = 0; v < q; v += 16) {
        int base = 2 * v, lo = pw - base, hi = w + pw - base;
        __mmask16 m = lanes(0, q - v), m0 = lanes(lo, hi), m1 = lanes(lo - 16, hi - 16);
        __m512 e = _mm512_maskz_loadu_ps(m, in0 + v);
        __m512 o = in1 ? _mm512_maskz_loadu_ps(m, in1 + v) : _mm512_setzero_ps();
        float *p = dxrow + base - pw;
        __m512 d0 = _mm512_maskz_loadu_ps(m0, p), d1 = _mm512_maskz_loadu_ps(m1, p + 16);
        _mm512_mask_storeu_ps(p, m0, _mm512_add_ps(d0, _mm512_permutex2var_ps(e, lo_idx, o)));
        _mm512_mask_storeu_ps(p + 16, m1, _mm512_add_ps(d1, _mm512_permutex2var_ps(e, hi_idx, o)));
    }
}

/* d[t] += in[t] for t in [0, n) */
__attribute__((target("avx512f"))) static void add_avx512(float *d, const float *in, int64_t n)
{
    int64_t t = 0;
    for (; t + 16 <= n; t += 16)
        _mm512_storeu_ps(d + t, _mm512_add_ps(_mm512_loadu_ps(d + t), _mm512_loadu_ps(in + t)));
    __mmask16 m = lanes(0, (int)(n - t));
    _mm512_mask_storeu_ps(
        d + t, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, d + t), _mm512_maskz_loadu_ps(m, in + t)));
}
#endif

static bool avx512(void)
{
#ifdef HAVE_PHASE_AVX512
    return eng_simd_level() == ENG_SIMD_AVX512;
#else
    return false;
#endif
}

static int ceil_div(int a, int b)
{
    return a <= 0 ? 0 : (a + b - 1) / b;
}

/* out[v] = xrow[b + s v - pw] where that lies in [0, w), 0 elsewhere, for v in [0, q). */
static void split_row(float *restrict out, const float *restrict xrow, int w, int b, int s, int pw,
                      int q)
{
    if (!xrow) {
        memset(out, 0, sizeof(float) * (size_t)q);
        return;
    }
    int lo = ceil_div(pw - b, s), hi = ceil_div(w + pw - b, s);
    hi = hi < q ? hi : q;
    lo = lo < hi ? lo : hi;
    const float *p = xrow + b - pw;
    for (int v = 0; v < lo; v++)
        out[v] = 0;
    if (s == 2) /* the common stride, as a constant the compiler can vectorise */
        for (int v = lo; v < hi; v++)
            out[v] = p[2 * v];
    else
        for (int v = lo; v < hi; v++)
            out[v] = p[s * v];
    for (int v = hi; v < q; v++)
        out[v] = 0;
}

/* One row of every column phase b < bs: from xrow (NULL: a padding row) at columns < w. */
static void split_rows(float *out, int64_t plane, const float *xrow, int w, int bs,
                       const eng_conv_geometry *g, int q, bool fast)
{
    (void)fast; /* no AVX-512 body on other processors */
#ifdef HAVE_PHASE_AVX512
    if (fast && g->sw == 2 && xrow) {
        split_row2_avx512(out, bs > 1 ? out + plane : NULL, xrow, w, g->pw, q);
        return;
    }
#endif
    for (int b = 0; b < bs; b++)
        split_row(out + b * plane, xrow, w, b, g->sw, g->pw, q);
}

/* Only the phases some tap reads are written (a < kh, b < kw: a 1x1 kernel reads one).
 * Input rows and columns past the last window's reach are treated as padding: the garbage
 * columns then see only elements some window also sees. */
void eng_phase_split_f32(float *phase, const float *x, const eng_conv_geometry *g)
{
    int r = eng_phase_rows(g), q = eng_phase_cols(g);
    int as = g->kh < g->sh ? g->kh : g->sh, bs = g->kw < g->sw ? g->kw : g->sw;
    bool fast = avx512();
    int64_t plane = (int64_t)r * q;
    int reach_h = (g->oh - 1) * g->sh + g->kh - g->ph,
        reach_w = (g->ow - 1) * g->sw + g->kw - g->pw;
    int h = g->height < reach_h ? g->height : reach_h, w = g->width < reach_w ? g->width : reach_w;
    for (int c = 0; c < g->channels; c++) {
        const float *xc = x + (int64_t)c * g->height * g->width;
        for (int a = 0; a < as; a++)
            for (int u = 0; u < r; u++) {
                int py = a + g->sh * u - g->ph;
                const float *xrow = py >= 0 && py < h ? xc + (int64_t)py * g->width : NULL;
                float *out = phase + ((int64_t)c * g->sh + a) * g->sw * plane + (int64_t)u * q;
                split_rows(out, plane, xrow, w, bs, g, q, fast);
            }
    }
    memset(phase + (int64_t)g->channels * g->sh * g->sw * plane, 0, sizeof(float) * (size_t)q);
}

/* The start of tap (i,j)'s stretch in the phase buffer of channel c. */
static int64_t tap_offset(const eng_conv_geometry *g, int c, int i, int j, int64_t plane, int q)
{
    return (((int64_t)c * g->sh + i % g->sh) * g->sw + j % g->sw) * plane +
           (int64_t)(i / g->sh) * q + j / g->sw;
}

void eng_phase_im2col_f32(float *col, int64_t ld, const float *phase, const eng_conv_geometry *g)
{
    int q = eng_phase_cols(g);
    int64_t plane = (int64_t)eng_phase_rows(g) * q, len = (int64_t)g->oh * q, row = 0;
    for (int c = 0; c < g->channels; c++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++, row++)
                memcpy(col + row * ld, phase + tap_offset(g, c, i, j, plane, q),
                       sizeof(float) * (size_t)len);
}

/* The rows are added in col's order (col2im's), so each element's sum is col2im's. */
void eng_phase_col2im_f32(float *dx, float *dphase, const float *dcol, int64_t ld,
                          const eng_conv_geometry *g)
{
    int q = eng_phase_cols(g);
    int64_t plane = (int64_t)eng_phase_rows(g) * q, len = (int64_t)g->oh * q, row = 0;
    bool fast = avx512();
    memset(dphase, 0, sizeof(float) * (size_t)eng_phase_size(g));
    for (int c = 0; c < g->channels; c++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++, row++) {
                float *restrict d = dphase + tap_offset(g, c, i, j, plane, q);
                const float *restrict in = dcol + row * ld;
#ifdef HAVE_PHASE_AVX512
                if (fast) {
                    add_avx512(d, in, len);
                    continue;
                }
#endif
                for (int64_t t = 0; t < len; t++)
                    d[t] += in[t];
            }
    for (int c = 0; c < g->channels; c++)
        for (int y = 0; y < g->height; y++) {
            int py = y + g->ph;
            float *restrict dxrow = dx + ((int64_t)c * g->height + y) * g->width;
            const float *pr0 = dphase + ((int64_t)c * g->sh + py % g->sh) * g->sw * plane +
                               (int64_t)(py / g->sh) * q;
#ifdef HAVE_PHASE_AVX512
            if (fast && g->sw == 2) {
                merge_row2_avx512(dxrow, pr0, pr0 + plane, g->width, g->pw);
                continue;
            }
#endif
            for (int b = 0; b < g->sw; b++) {
                const float *restrict pr = pr0 + b * plane;
                int x0 = ((b - g->pw) % g->sw + g->sw) % g->sw; /* first x with (x+pw)%sw == b */
                for (int x = x0; x < g->width; x += g->sw)
                    dxrow[x] = pr[(x + g->pw) / g->sw];
            }
        }
}

/* With no garbage columns (q == ow) each channel's plane is one contiguous stretch. */
void eng_phase_crop_f32(float *y, const float *grid, int64_t ld, const float *bias, int out,
                        const eng_conv_geometry *g)
{
    int q = eng_phase_cols(g), rows = q == g->ow ? 1 : g->oh,
        width = q == g->ow ? g->oh * q : g->ow;
    for (int o = 0; o < out; o++) {
        float b = bias ? bias[o] : 0.0f;
        for (int oy = 0; oy < rows; oy++) {
            float *restrict yrow = y + ((int64_t)o * g->oh + oy) * g->ow;
            const float *restrict in = grid + o * ld + (int64_t)oy * q;
            if (bias)
                for (int ox = 0; ox < width; ox++)
                    yrow[ox] = in[ox] + b;
            else
                memcpy(yrow, in, sizeof(float) * (size_t)width);
        }
    }
}

void eng_phase_extend_f32(float *grid, int64_t ld, const float *dy, int out,
                          const eng_conv_geometry *g)
{
    int q = eng_phase_cols(g), rows = q == g->ow ? 1 : g->oh,
        width = q == g->ow ? g->oh * q : g->ow;
    for (int o = 0; o < out; o++)
        for (int oy = 0; oy < rows; oy++) {
            float *row = grid + o * ld + (int64_t)oy * q;
            memcpy(row, dy + ((int64_t)o * g->oh + oy) * g->ow, sizeof(float) * (size_t)width);
            memset(row + width, 0, sizeof(float) * (size_t)(q - g->ow));
        }
}

/* A 1x1 kernel reads only phase (0,0), whose plane is the column matrix's row itself. */
void eng_phase_subsample_f32(float *col, int64_t ld, const float *x, const eng_conv_geometry *g)
{
    int q = eng_phase_cols(g);
    bool fast = avx512();
    int h = (g->oh - 1) * g->sh + 1 - g->ph, w = (g->ow - 1) * g->sw + 1 - g->pw;
    h = g->height < h ? g->height : h, w = g->width < w ? g->width : w;
    for (int c = 0; c < g->channels; c++)
        for (int u = 0; u < g->oh; u++) {
            int py = g->sh * u - g->ph;
            const float *xrow =
                py >= 0 && py < h ? x + ((int64_t)c * g->height + py) * g->width : NULL;
            split_rows(col + c * ld + (int64_t)u * q, 0, xrow, w, 1, g, q, fast);
        }
}

/* Rows of dx no output reads: zeroed, or left alone when adding. */
void eng_phase_upsample_f32(float *dx, const float *dcol, int64_t ld, const eng_conv_geometry *g,
                            bool add)
{
    int q = eng_phase_cols(g);
    bool fast = avx512() && g->sw == 2;
    for (int c = 0; c < g->channels; c++)
        for (int y = 0; y < g->height; y++) {
            int py = y + g->ph;
            float *dxrow = dx + ((int64_t)c * g->height + y) * g->width;
            const float *in = dcol + c * ld + (int64_t)(py / g->sh) * q;
            if (py % g->sh || py / g->sh >= g->oh) {
                if (!add)
                    memset(dxrow, 0, sizeof(float) * (size_t)g->width);
                continue;
            }
#ifdef HAVE_PHASE_AVX512
            if (fast) {
                (add ? merge_add_row2_avx512 : merge_row2_avx512)(dxrow, in, NULL, g->width, g->pw);
                continue;
            }
#endif
            (void)fast;
            for (int x = 0; x < g->width; x++) {
                int px = x + g->pw;
                float v = px % g->sw || px / g->sw >= g->ow ? 0.0f : in[px / g->sw];
                dxrow[x] = add ? dxrow[x] + v : v;
            }
        }
}
