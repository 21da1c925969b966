/* AVX-512 bodies of the Winograd F(2x2, 3x3) transforms (winograd.c dispatches to them when
 * the processor has AVX-512F). The plain bodies stage every row through memcpy and memset
 * and run 7-tile rows (a 14-wide LeNet layer) in 4-lane vectors; here a vector holds 16
 * consecutive image columns (7 input windows, which overlap by 2 columns) or 16 consecutive
 * tiles of a transformed matrix, loaded and stored with masks, and the even and odd columns
 * of the windows are split and joined by lane permutations. Formulas as in winograd.c
 * (Lavin and Gray 2016). */
#include "winograd_avx512.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))

/* Tiles per chunk: an input chunk spans 16 image columns (7 windows of 4 columns, stride 2);
 * an output chunk 16 tiles (32 output columns, two vectors per row). */
#define IN_TILES 7
#define OUT_TILES 16

/* Lanes l of [lo, hi) (clipped to 0..16). */
static inline __mmask16 lanes(int lo, int hi)
{
    lo = lo < 0 ? 0 : lo;
    hi = hi > 16 ? 16 : hi;
    if (hi <= lo)
        return 0;
    return (__mmask16)((((uint32_t)1 << hi) - 1) & ~(((uint32_t)1 << lo) - 1));
}

AVX512 static inline __m512 neg(__m512 a)
{
    return _mm512_castsi512_ps(
        _mm512_xor_si512(_mm512_castps_si512(a), _mm512_set1_epi32((int)0x80000000u)));
}

/* The 16 transformed elements of up to 7 tiles of one tile row: out[4i + j] lane l is element
 * (i, j) of B^T d B for the window at columns col0 + 2l .. col0 + 2l + 3 (col0 = 2 tj0 - pw)
 * and rows row0 .. row0 + 3 of plane p (h x w), zero outside the image. */
AVX512 static inline void input_chunk(__m512 out[16], const float *p, int h, int w, int row0,
                                      int col0)
{
    const __m512i two_l = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 0, 0, 0, 0, 0, 0, 0, 0);
    __mmask16 cols = lanes(-col0, w - col0);
    __m512 r[4];
    for (int i = 0; i < 4; i++) {
        int row = row0 + i;
        r[i] = row >= 0 && row < h ? _mm512_maskz_loadu_ps(cols, p + (int64_t)row * w + col0)
                                   : _mm512_setzero_ps();
    }
    __m512 t[4] = {_mm512_sub_ps(r[0], r[2]), _mm512_add_ps(r[1], r[2]), _mm512_sub_ps(r[2], r[1]),
                   _mm512_sub_ps(r[1], r[3])}; /* B^T d */
    for (int i = 0; i < 4; i++) {              /* (B^T d) B */
        __m512 e0 = _mm512_permutexvar_ps(two_l, t[i]);
        __m512 e1 = _mm512_permutexvar_ps(_mm512_add_epi32(two_l, _mm512_set1_epi32(1)), t[i]);
        __m512 e2 = _mm512_permutexvar_ps(_mm512_add_epi32(two_l, _mm512_set1_epi32(2)), t[i]);
        __m512 e3 = _mm512_permutexvar_ps(_mm512_add_epi32(two_l, _mm512_set1_epi32(3)), t[i]);
        out[4 * i] = _mm512_sub_ps(e0, e2);
        out[4 * i + 1] = _mm512_add_ps(e1, e2);
        out[4 * i + 2] = _mm512_sub_ps(e2, e1);
        out[4 * i + 3] = _mm512_sub_ps(e1, e3);
    }
}

/* input_chunk for the whole of two tile rows ti and ti + 1 (tw <= 7: one chunk each), lanes
 * [0, tw) the first and [tw, 2 tw) the second: (B^T d) for each, then the windows' columns of
 * both picked by one two-source permutation (idx: 2 l, else 16 + 2 (l - tw)). */
AVX512 static inline void input_two_rows(__m512 out[16], const float *p, int h, int w, int row0,
                                         int col0, __m512i idx)
{
    __mmask16 cols = lanes(-col0, w - col0);
    __m512 r[6];
    for (int i = 0; i < 6; i++) {
        int row = row0 + i;
        r[i] = row >= 0 && row < h ? _mm512_maskz_loadu_ps(cols, p + (int64_t)row * w + col0)
                                   : _mm512_setzero_ps();
    }
    __m512 t[2][4];
    for (int q = 0; q < 2; q++) { /* B^T d of tile row q: image rows 2q .. 2q + 3 */
        const __m512 *d = r + 2 * q;
        t[q][0] = _mm512_sub_ps(d[0], d[2]);
        t[q][1] = _mm512_add_ps(d[1], d[2]);
        t[q][2] = _mm512_sub_ps(d[2], d[1]);
        t[q][3] = _mm512_sub_ps(d[1], d[3]);
    }
    const __m512i one = _mm512_set1_epi32(1);
    for (int i = 0; i < 4; i++) { /* (B^T d) B */
        __m512i ix = idx;
        __m512 e0 = _mm512_permutex2var_ps(t[0][i], ix, t[1][i]);
        ix = _mm512_add_epi32(ix, one);
        __m512 e1 = _mm512_permutex2var_ps(t[0][i], ix, t[1][i]);
        ix = _mm512_add_epi32(ix, one);
        __m512 e2 = _mm512_permutex2var_ps(t[0][i], ix, t[1][i]);
        ix = _mm512_add_epi32(ix, one);
        __m512 e3 = _mm512_permutex2var_ps(t[0][i], ix, t[1][i]);
        out[4 * i] = _mm512_sub_ps(e0, e2);
        out[4 * i + 1] = _mm512_add_ps(e1, e2);
        out[4 * i + 2] = _mm512_sub_ps(e2, e1);
        out[4 * i + 3] = _mm512_sub_ps(e1, e3);
    }
}

AVX512 void eng_winograd_input_avx512_f32(float *v, int64_t ld, int64_t plane, const float *x,
                                          int n, int c, int h, int w, int ph, int pw, int oh,
                                          int ow)
{
    int th = (oh + 1) / 2, tw = (ow + 1) / 2, per_image = th * tw;
    const __m512i even =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    __m512i idx =
        _mm512_mask_add_epi32(even, (__mmask16)~lanes(0, tw), even, _mm512_set1_epi32(16 - 2 * tw));
    __m512 out[16];
    for (int k = 0; k < n; k++)
        for (int ch = 0; ch < c; ch++) {
            const float *p = x + ((int64_t)k * c + ch) * h * w;
            int ti0 = 0;
            for (; tw <= IN_TILES && ti0 + 1 < th; ti0 += 2) {
                input_two_rows(out, p, h, w, 2 * ti0 - ph, -pw, idx);
                float *dst = v + ch * ld + (int64_t)k * per_image + (int64_t)ti0 * tw;
                for (int xi = 0; xi < 16; xi++)
                    _mm512_mask_storeu_ps(dst + xi * plane, lanes(0, 2 * tw), out[xi]);
            }
            for (int ti = ti0; ti < th; ti++)
                for (int tj0 = 0; tj0 < tw; tj0 += IN_TILES) {
                    input_chunk(out, p, h, w, 2 * ti - ph, 2 * tj0 - pw);
                    __mmask16 m = lanes(0, tw - tj0 < IN_TILES ? tw - tj0 : IN_TILES);
                    float *dst = v + ch * ld + (int64_t)k * per_image + (int64_t)ti * tw + tj0;
                    for (int xi = 0; xi < 16; xi++)
                        _mm512_mask_storeu_ps(dst + xi * plane, m, out[xi]);
                }
        }
}

/* The transposed layout puts a tile's channels together: the chunk's tiles are scattered
 * c floats apart. */
AVX512 void eng_winograd_input_t_avx512_f32(float *vt, int64_t plane, const float *x, int n, int c,
                                            int h, int w, int ph, int pw, int oh, int ow)
{
    int th = (oh + 1) / 2, tw = (ow + 1) / 2, per_image = th * tw;
    __m512i apart =
        _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                           _mm512_set1_epi32(c));
    __m512 out[16];
    for (int k = 0; k < n; k++)
        for (int ch = 0; ch < c; ch++) {
            const float *p = x + ((int64_t)k * c + ch) * h * w;
            for (int ti = 0; ti < th; ti++)
                for (int tj0 = 0; tj0 < tw; tj0 += IN_TILES) {
                    input_chunk(out, p, h, w, 2 * ti - ph, 2 * tj0 - pw);
                    __mmask16 m = lanes(0, tw - tj0 < IN_TILES ? tw - tj0 : IN_TILES);
                    int64_t t = (int64_t)k * per_image + (int64_t)ti * tw + tj0;
                    float *dst = vt + t * c + ch;
                    for (int xi = 0; xi < 16; xi++)
                        _mm512_mask_i32scatter_ps(dst + xi * plane, m, apart, out[xi], 4);
                }
        }
}

/* s = B a for the 4x4 tiles of a chunk (mask m: its tiles' lanes), then the rows of s B^T:
 * c[i][q] is column q of row i of every window. */
AVX512 static inline void input_grad_windows(__m512 c[4][4], const float *a, int64_t plane,
                                             __mmask16 m)
{
    __m512 s[4][4];
    for (int j = 0; j < 4; j++) { /* s = B a */
        __m512 a0 = _mm512_maskz_loadu_ps(m, a + j * plane);
        __m512 a1 = _mm512_maskz_loadu_ps(m, a + (4 + j) * plane);
        __m512 a2 = _mm512_maskz_loadu_ps(m, a + (8 + j) * plane);
        __m512 a3 = _mm512_maskz_loadu_ps(m, a + (12 + j) * plane);
        s[0][j] = a0;
        s[1][j] = _mm512_add_ps(_mm512_sub_ps(a1, a2), a3);
        s[2][j] = _mm512_sub_ps(_mm512_add_ps(a1, a2), a0);
        s[3][j] = neg(a3);
    }
    for (int i = 0; i < 4; i++) { /* s B^T */
        c[i][0] = s[i][0];
        c[i][1] = _mm512_add_ps(_mm512_sub_ps(s[i][1], s[i][2]), s[i][3]);
        c[i][2] = _mm512_sub_ps(_mm512_add_ps(s[i][1], s[i][2]), s[i][0]);
        c[i][3] = neg(s[i][3]);
    }
}

/* row += (or, outside `added`, =) the 16 columns v, those of mask cols. */
AVX512 static inline void add_row(float *row, __mmask16 cols, __mmask16 added, __m512 v)
{
    _mm512_mask_storeu_ps(row, cols, _mm512_add_ps(_mm512_maskz_loadu_ps(added, row), v));
}

/* The input gradient of whole tile rows ti .. ti + rows - 1 (tw <= 7, rows tw <= 16), their
 * tiles side by side in the lanes as in dv (row q's windows in lanes q tw ..): the transforms
 * run once for all of them, each tile row's 2 tw + 2 columns are picked out of the joined
 * windows (its last two, which no window on the right adds to, from c[.][2] and c[.][3]), and
 * an image row that two tile rows cover takes both sums before it is stored: pend carries the
 * last two rows' sums from the call before (above) to the next (unless last). A masked load
 * right after a masked store to the same row would wait for the store. The same sums in the
 * same order as one tile row at a time. */
AVX512 static void input_grad_tile_rows(float *p, const float *a, int64_t plane, int rows, int tw,
                                        int h, int w, int row0, int col0, bool add, bool above,
                                        bool last, __m512 pend[2])
{
    const __m512i prev = _mm512_setr_epi32(0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14);
    const __m512i lo_ix = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    __mmask16 starts = 0; /* the first window of each tile row takes nothing from the left */
    for (int q = 0; q < rows; q++)
        starts |= (__mmask16)(1u << (q * tw));
    __m512 c[4][4], even[4], odd[4];
    input_grad_windows(c, a, plane, lanes(0, rows * tw));
    for (int i = 0; i < 4; i++) {
        even[i] = _mm512_add_ps(c[i][0], _mm512_maskz_permutexvar_ps(~starts, prev, c[i][2]));
        odd[i] = _mm512_add_ps(c[i][1], _mm512_maskz_permutexvar_ps(~starts, prev, c[i][3]));
    }
    __mmask16 cols = lanes(-col0, w - col0) & lanes(0, 2 * tw + 2),
              tail = lanes(2 * tw, 2 * tw + 2);
    for (int rr = 0; rr < 2 * rows + 2; rr++) { /* tile rows rr / 2 - 1 (its row i + 2), rr / 2 */
        int row = row0 + rr;
        if (row < 0 || row >= h) /* (and so in the call after, if rr >= 2 rows) */
            continue;
        float *dst = p + (int64_t)row * w + col0;
        __m512 sum = rr < 2 && above ? pend[rr]
                     : add           ? _mm512_maskz_loadu_ps(cols, dst)
                                     : _mm512_setzero_ps();
        for (int q = rr / 2 - 1; q <= rr / 2; q++) {
            if (q < 0 || q >= rows)
                continue;
            int i = rr - 2 * q;
            /* columns 2l, 2l + 1 from lanes q tw + l; the tail's from lanes q tw + tw - 1 */
            __m512 v = _mm512_permutex2var_ps(
                even[i], _mm512_add_epi32(lo_ix, _mm512_set1_epi32(q * tw)), odd[i]);
            __m512 t = _mm512_permutex2var_ps(
                c[i][2], _mm512_add_epi32(lo_ix, _mm512_set1_epi32(q * tw - 1)), c[i][3]);
            v = _mm512_mask_add_ps(v, tail, _mm512_setzero_ps(), t); /* 0 + t: as a sum */
            sum = _mm512_add_ps(sum, v);
        }
        if (rr >= 2 * rows && !last)
            pend[rr - 2 * rows] = sum;
        else
            _mm512_mask_storeu_ps(dst, cols, sum);
    }
}

/* dx += B dv B^T for up to 7 tiles of one tile row: the windows' columns overlap by two, so
 * column 2l of the chunk gathers (B dv B^T)(., 0) of window l and (., 2) of window l - 1.
 * Rows of at most 7 tiles go several at a time (input_grad_tile_rows): a 14x14 layer's 2, a
 * 7x7 layer's 4. */
AVX512 void eng_winograd_input_grad_avx512_f32(float *dx, const float *dv, int64_t ld,
                                               int64_t plane, int n, int c, int h, int w, int ph,
                                               int pw, int oh, int ow, bool add)
{
    int th = (oh + 1) / 2, tw = (ow + 1) / 2, per_image = th * tw;
    const __m512i prev = _mm512_setr_epi32(0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14);
    const __m512i lo_ix = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    for (int k = 0; k < n; k++)
        for (int ch = 0; ch < c; ch++) {
            float *p = dx + ((int64_t)k * c + ch) * h * w;
            const float *ak = dv + ch * ld + (int64_t)k * per_image;
            if (tw <= IN_TILES) {
                __m512 pend[2];
                for (int ti = 0, per = 16 / tw; ti < th; ti += per)
                    input_grad_tile_rows(p, ak + (int64_t)ti * tw, plane,
                                         th - ti < per ? th - ti : per, tw, h, w, 2 * ti - ph, -pw,
                                         add, ti > 0, ti + per >= th, pend);
                continue;
            }
            for (int ti = 0; ti < th; ti++)
                for (int tj0 = 0; tj0 < tw; tj0 += IN_TILES) {
                    int nt = tw - tj0 < IN_TILES ? tw - tj0 : IN_TILES, col0 = 2 * tj0 - pw;
                    __m512 cw[4][4];
                    input_grad_windows(cw, ak + (int64_t)ti * tw + tj0, plane, lanes(0, nt));
                    __mmask16 cols = lanes(-col0, w - col0) & lanes(0, 2 * nt + 2);
                    /* without add, the columns written before (added to, the others stored
                     * over): the tile row above's last two rows, the chunk on the left's last
                     * two columns */
                    __mmask16 left = add ? cols : tj0 > 0 ? cols & lanes(0, 2) : 0;
                    for (int i = 0; i < 4; i++) { /* the windows' columns joined */
                        int row = 2 * ti - ph + i;
                        if (row < 0 || row >= h)
                            continue;
                        __m512 even = _mm512_add_ps(
                            cw[i][0], _mm512_maskz_permutexvar_ps(0xfffe, prev, cw[i][2]));
                        __m512 odd = _mm512_add_ps(
                            cw[i][1], _mm512_maskz_permutexvar_ps(0xfffe, prev, cw[i][3]));
                        add_row(p + (int64_t)row * w + col0, cols, ti > 0 && i < 2 ? cols : left,
                                _mm512_permutex2var_ps(even, lo_ix, odd));
                    }
                }
        }
}

/* Rows of at most 8 tiles (a 14-wide LeNet layer has 7) leave half of a vector idle: two
 * tile rows, adjacent in the transformed matrices, go through one vector, lanes [0, tw) the
 * first and [tw, 2 tw) the second. The same operations on each element. */

/* y rows 2 ti .. 2 ti + 3 from tile rows ti and ti + 1 (both < th), tw <= 8. */
AVX512 static inline void output_two_rows(float *p, const float *a, int64_t plane, __m512 b, int ti,
                                          int tw, int oh, int ow)
{
    const __m512i lo_ix = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i next_ix = _mm512_add_epi32(lo_ix, _mm512_set1_epi32(tw));
    __mmask16 mt = lanes(0, 2 * tw), cols = lanes(0, ow);
    __m512 s[2][4];
    for (int j = 0; j < 4; j++) { /* s = A^T a */
        __m512 a0 = _mm512_maskz_loadu_ps(mt, a + j * plane);
        __m512 a1 = _mm512_maskz_loadu_ps(mt, a + (4 + j) * plane);
        __m512 a2 = _mm512_maskz_loadu_ps(mt, a + (8 + j) * plane);
        __m512 a3 = _mm512_maskz_loadu_ps(mt, a + (12 + j) * plane);
        s[0][j] = _mm512_add_ps(_mm512_add_ps(a0, a1), a2);
        s[1][j] = _mm512_sub_ps(_mm512_sub_ps(a1, a2), a3);
    }
    for (int i = 0; i < 2; i++) { /* y = s A + b */
        __m512 ev = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(s[i][0], s[i][1]), s[i][2]), b);
        __m512 od = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(s[i][1], s[i][2]), s[i][3]), b);
        _mm512_mask_storeu_ps(p + (int64_t)(2 * ti + i) * ow, cols,
                              _mm512_permutex2var_ps(ev, lo_ix, od));
        if (2 * ti + 2 + i < oh)
            _mm512_mask_storeu_ps(p + (int64_t)(2 * ti + 2 + i) * ow, cols,
                                  _mm512_permutex2var_ps(ev, next_ix, od));
    }
}

AVX512 void eng_winograd_output_avx512_f32(float *y, const float *m, int64_t ld, int64_t plane,
                                           const float *bias, int n, int out, int oh, int ow)
{
    int th = (oh + 1) / 2, tw = (ow + 1) / 2, per_image = th * tw;
    const __m512i lo_ix = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi_ix = _mm512_add_epi32(lo_ix, _mm512_set1_epi32(8));
    for (int k = 0; k < n; k++)
        for (int o = 0; o < out; o++) {
            float *p = y + ((int64_t)k * out + o) * oh * ow;
            __m512 b = _mm512_set1_ps(bias ? bias[o] : 0.0f);
            int ti = 0;
            for (; tw <= 8 && ti + 1 < th; ti += 2)
                output_two_rows(p, m + o * ld + (int64_t)k * per_image + (int64_t)ti * tw, plane, b,
                                ti, tw, oh, ow);
            for (; ti < th; ti++)
                for (int tj0 = 0; tj0 < tw; tj0 += OUT_TILES) {
                    int nt = tw - tj0 < OUT_TILES ? tw - tj0 : OUT_TILES;
                    const float *a = m + o * ld + (int64_t)k * per_image + (int64_t)ti * tw + tj0;
                    __mmask16 mt = lanes(0, nt);
                    __m512 s[2][4];
                    for (int j = 0; j < 4; j++) { /* s = A^T a */
                        __m512 a0 = _mm512_maskz_loadu_ps(mt, a + j * plane);
                        __m512 a1 = _mm512_maskz_loadu_ps(mt, a + (4 + j) * plane);
                        __m512 a2 = _mm512_maskz_loadu_ps(mt, a + (8 + j) * plane);
                        __m512 a3 = _mm512_maskz_loadu_ps(mt, a + (12 + j) * plane);
                        s[0][j] = _mm512_add_ps(_mm512_add_ps(a0, a1), a2);
                        s[1][j] = _mm512_sub_ps(_mm512_sub_ps(a1, a2), a3);
                    }
                    int cols = ow - 2 * tj0;
                    for (int i = 0; i < 2 && 2 * ti + i < oh; i++) { /* y = s A + b */
                        __m512 ev = _mm512_add_ps(
                            _mm512_add_ps(_mm512_add_ps(s[i][0], s[i][1]), s[i][2]), b);
                        __m512 od = _mm512_add_ps(
                            _mm512_sub_ps(_mm512_sub_ps(s[i][1], s[i][2]), s[i][3]), b);
                        float *r = p + (int64_t)(2 * ti + i) * ow + 2 * tj0;
                        _mm512_mask_storeu_ps(r, lanes(0, cols),
                                              _mm512_permutex2var_ps(ev, lo_ix, od));
                        _mm512_mask_storeu_ps(r + 16, lanes(0, cols - 16),
                                              _mm512_permutex2var_ps(ev, hi_ix, od));
                    }
                }
        }
}

/* dm of tile rows ti and ti + 1 (both < th) from dy rows 2 ti .. 2 ti + 3, tw <= 8: lane l
 * of a row's even columns is column 2 l of the first tile row's image row for l < tw, column
 * 2 (l - tw) of the second's beyond. */
AVX512 static inline void output_grad_two_rows(float *mt, int64_t plane, const float *p, int ti,
                                               int tw, int oh, int ow, __m512i even, __m512i odd)
{
    __mmask16 cols = lanes(0, ow);
    __m512 g[2][2];
    for (int i = 0; i < 2; i++) {
        __m512 first = _mm512_maskz_loadu_ps(cols, p + (int64_t)(2 * ti + i) * ow);
        __m512 second = 2 * ti + 2 + i < oh
                            ? _mm512_maskz_loadu_ps(cols, p + (int64_t)(2 * ti + 2 + i) * ow)
                            : _mm512_setzero_ps();
        g[i][0] = _mm512_permutex2var_ps(first, even, second);
        g[i][1] = _mm512_permutex2var_ps(first, odd, second);
    }
    __m512 sr[4][2] = {{g[0][0], g[0][1]},
                       {_mm512_add_ps(g[0][0], g[1][0]), _mm512_add_ps(g[0][1], g[1][1])},
                       {_mm512_sub_ps(g[0][0], g[1][0]), _mm512_sub_ps(g[0][1], g[1][1])},
                       {neg(g[1][0]), neg(g[1][1])}};
    __mmask16 m = lanes(0, 2 * tw);
    for (int i = 0; i < 4; i++) {
        _mm512_mask_storeu_ps(mt + (4 * i) * plane, m, sr[i][0]);
        _mm512_mask_storeu_ps(mt + (4 * i + 1) * plane, m, _mm512_add_ps(sr[i][0], sr[i][1]));
        _mm512_mask_storeu_ps(mt + (4 * i + 2) * plane, m, _mm512_sub_ps(sr[i][0], sr[i][1]));
        _mm512_mask_storeu_ps(mt + (4 * i + 3) * plane, m, neg(sr[i][1]));
    }
}

AVX512 void eng_winograd_output_grad_avx512_f32(float *dm, int64_t ld, int64_t plane,
                                                const float *dy, int n, int out, int oh, int ow)
{
    int th = (oh + 1) / 2, tw = (ow + 1) / 2, per_image = th * tw;
    const __m512i even =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    /* two tile rows: lanes [tw, 2 tw) take the second source's even (odd) columns */
    __mmask16 second = (__mmask16)~lanes(0, tw);
    __m512i even2 = _mm512_mask_add_epi32(even, second, even,
                                          _mm512_set1_epi32(16 - 2 * tw)); /* 16 + 2 (l - tw) */
    __m512i odd2 = _mm512_add_epi32(even2, _mm512_set1_epi32(1));
    for (int k = 0; k < n; k++)
        for (int o = 0; o < out; o++) {
            const float *p = dy + ((int64_t)k * out + o) * oh * ow;
            float *mk = dm + o * ld + (int64_t)k * per_image;
            int ti0 = 0;
            for (; tw <= 8 && ti0 + 1 < th; ti0 += 2)
                output_grad_two_rows(mk + (int64_t)ti0 * tw, plane, p, ti0, tw, oh, ow, even2,
                                     odd2);
            for (int ti = ti0; ti < th; ti++)
                for (int tj0 = 0; tj0 < tw; tj0 += OUT_TILES) {
                    int nt = tw - tj0 < OUT_TILES ? tw - tj0 : OUT_TILES, cols = ow - 2 * tj0;
                    __m512 g[2][2]; /* rows 2 ti + i: even and odd columns */
                    for (int i = 0; i < 2; i++) {
                        __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps();
                        if (2 * ti + i < oh) {
                            const float *r = p + (int64_t)(2 * ti + i) * ow + 2 * tj0;
                            lo = _mm512_maskz_loadu_ps(lanes(0, cols), r);
                            hi = _mm512_maskz_loadu_ps(lanes(0, cols - 16), r + 16);
                        }
                        g[i][0] = _mm512_permutex2var_ps(lo, even, hi);
                        g[i][1] = _mm512_permutex2var_ps(lo, odd, hi);
                    }
                    /* s = A g: (a, b), (a + c, b + d), (a - c, b - d), (-c, -d) */
                    __m512 sr[4][2] = {
                        {g[0][0], g[0][1]},
                        {_mm512_add_ps(g[0][0], g[1][0]), _mm512_add_ps(g[0][1], g[1][1])},
                        {_mm512_sub_ps(g[0][0], g[1][0]), _mm512_sub_ps(g[0][1], g[1][1])},
                        {neg(g[1][0]), neg(g[1][1])}};
                    float *mt = dm + o * ld + (int64_t)k * per_image + (int64_t)ti * tw + tj0;
                    __mmask16 m = lanes(0, nt);
                    for (int i = 0; i < 4; i++) { /* dm = s A^T */
                        _mm512_mask_storeu_ps(mt + (4 * i) * plane, m, sr[i][0]);
                        _mm512_mask_storeu_ps(mt + (4 * i + 1) * plane, m,
                                              _mm512_add_ps(sr[i][0], sr[i][1]));
                        _mm512_mask_storeu_ps(mt + (4 * i + 2) * plane, m,
                                              _mm512_sub_ps(sr[i][0], sr[i][1]));
                        _mm512_mask_storeu_ps(mt + (4 * i + 3) * plane, m, neg(sr[i][1]));
                    }
                }
        }
}

#endif
