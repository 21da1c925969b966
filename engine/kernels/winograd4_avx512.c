/* AVX-512 bodies of the Winograd F(4x4, 3x3) transforms (winograd4.c dispatches to them when
 * the processor has AVX-512F). Input side: two vectors hold 32 consecutive image columns, 7
 * windows of 6 columns at stride 4; column q of every window is picked out by one two-source
 * lane permutation, and the overlapping columns of the input gradient's windows are joined in
 * registers. Output side: a vector holds 16 consecutive tiles of a transformed matrix, and
 * the 4 columns of the tiles are interleaved into (or split out of) 64 output columns by two
 * rounds of permutations. The formulas are winograd4_formulas.h's, shared with the plain
 * bodies, which these match bit for bit. */
#include "winograd4_avx512.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <stdbool.h>

#include "winograd4_formulas.h"

#define AVX512 __attribute__((target("avx512f")))

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

/* Interleaves lanes 0..7 (hi: 8..15) of a and b: a0 b0 a1 b1 ... */
#define LO_IX _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
#define HI_IX _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)

/* tlo, thi = B^T d along the rows for the 6 input rows from row0, 32 columns from col0 (lanes
 * lo_m, hi_m inside the image, zero elsewhere). */
AVX512 static inline void rows_bt(__m512 tlo[6], __m512 thi[6], const float *p, int row0, int h,
                                  int w, int col0, __mmask16 lo_m, __mmask16 hi_m)
{
    __m512 lo[6], hi[6];
    for (int r = 0; r < 6; r++) {
        int row = row0 + r;
        bool in = row >= 0 && row < h;
        const float *src = p + (int64_t)row * w + col0;
        lo[r] = in ? _mm512_maskz_loadu_ps(lo_m, src) : _mm512_setzero_ps();
        hi[r] = in ? _mm512_maskz_loadu_ps(hi_m, src + 16) : _mm512_setzero_ps();
    }
#define I(r) lo[r]
    WG4_BT(tlo, I);
#undef I
#define I(r) hi[r]
    WG4_BT(thi, I);
#undef I
}

/* Where a row has at most IN_TILES tiles (28x28: 7), two tile rows share a chunk: the second
 * row's windows go to lanes tw .. 2 tw - 1 (its tiles follow the first row's in v), so the
 * column transforms and the stores serve 14 tiles instead of 7. ResNet's 16 -> 16 layer, 8
 * images: 46 -> 39 us. */
AVX512 void eng_winograd4_input_avx512_f32(float *v, int64_t ld, int64_t plane, const float *x,
                                           int n, int c, int h, int w, int ph, int pw, int oh,
                                           int ow)
{
    int th = (oh + 3) / 4, tw = (ow + 3) / 4, per_chunk = tw <= IN_TILES ? 2 : 1;
    int64_t per_image = (int64_t)th * tw;
    __m512i col_ix[6], col_ix2[6]; /* lane l: column 4l + q of the 32; 4 (l - tw) + q */
    const __m512i four_l =
        _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60);
    for (int q = 0; q < 6; q++) {
        __m512i ix = _mm512_add_epi32(four_l, _mm512_set1_epi32(q));
        col_ix[q] = _mm512_and_si512(ix, _mm512_set1_epi32(31));
        col_ix2[q] = _mm512_and_si512(_mm512_sub_epi32(ix, _mm512_set1_epi32(4 * tw)),
                                      _mm512_set1_epi32(31));
    }
    __mmask16 second = lanes(tw, 2 * tw);
    for (int k = 0; k < n; k++)
        for (int ch = 0; ch < c; ch++) {
            const float *p = x + ((int64_t)k * c + ch) * h * w;
            for (int ti = 0; ti < th; ti += per_chunk)
                for (int tj0 = 0; tj0 < tw; tj0 += IN_TILES) {
                    int nt = tw - tj0 < IN_TILES ? tw - tj0 : IN_TILES, col0 = 4 * tj0 - pw;
                    bool two = per_chunk == 2 && ti + 1 < th;
                    __mmask16 lo_m = lanes(-col0, w - col0),
                              hi_m = lanes(-col0 - 16, w - col0 - 16);
                    __m512 tlo[6], thi[6], tlo2[6], thi2[6];
                    rows_bt(tlo, thi, p, 4 * ti - ph, h, w, col0, lo_m, hi_m);
                    if (two)
                        rows_bt(tlo2, thi2, p, 4 * ti + 4 - ph, h, w, col0, lo_m, hi_m);
                    __mmask16 m = lanes(0, two ? 2 * nt : nt);
                    float *dst = v + ch * ld + k * per_image + (int64_t)ti * tw + tj0;
                    for (int i = 0; i < 6; i++) { /* (B^T d) B, window by window in the lanes */
                        __m512 e[6], o[6];
                        for (int q = 0; q < 6; q++) {
                            e[q] = _mm512_permutex2var_ps(tlo[i], col_ix[q], thi[i]);
                            if (two)
                                e[q] = _mm512_mask_mov_ps(
                                    e[q], second,
                                    _mm512_permutex2var_ps(tlo2[i], col_ix2[q], thi2[i]));
                        }
#define I(q) e[q]
                        WG4_BT(o, I);
#undef I
                        for (int j = 0; j < 6; j++)
                            _mm512_mask_storeu_ps(dst + (6 * i + j) * plane, m, o[j]);
                    }
                }
        }
}

/* dd = B dv B^T for up to 7 tiles of a tile row, as winograd4.c's input_grad_chunk: chunk
 * column 4l + q is column q of window l, plus column q + 4 of window l - 1 for q < 2. Added to
 * dx's rows [0, added_rows) of the chunk (all columns) and its first added_cols columns, stored
 * over the others. */
AVX512 static void input_grad_rows(float *p, const float *a, int64_t plane, int nt, int h, int w,
                                   int row0, int col0, int added_rows, int added_cols)
{
    const __m512i prev = _mm512_setr_epi32(0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14);
    __mmask16 m = lanes(0, nt);
    __m512 s[6][6];
    for (int j = 0; j < 6; j++) { /* s = B dv along the rows */
        __m512 in[6], o[6];
        for (int i = 0; i < 6; i++)
            in[i] = _mm512_maskz_loadu_ps(m, a + (6 * i + j) * plane);
#define I(i) in[i]
        WG4_B(o, I);
#undef I
        for (int r = 0; r < 6; r++)
            s[r][j] = o[r];
    }
    int span = 4 * nt + 2;
    __mmask16 cols_lo = lanes(-col0, w - col0) & lanes(0, span);
    __mmask16 cols_hi = lanes(-col0 - 16, w - col0 - 16) & lanes(0, span - 16);
    for (int r = 0; r < 6; r++) {
        int row = row0 + r;
        if (row < 0 || row >= h)
            continue;
        __m512 o[6];
#define I(j) s[r][j]
        WG4_B(o, I); /* s B^T */
#undef I
        __m512 e0 = o[0] + _mm512_maskz_permutexvar_ps(0xfffe, prev, o[4]);
        __m512 e1 = o[1] + _mm512_maskz_permutexvar_ps(0xfffe, prev, o[5]);
        __m512 p02 = _mm512_permutex2var_ps(e0, LO_IX, o[2]);
        __m512 p13 = _mm512_permutex2var_ps(e1, LO_IX, o[3]);
        float *dst = p + (int64_t)row * w + col0;
        bool all = r < added_rows;
        __mmask16 add_lo = all ? cols_lo : cols_lo & lanes(0, added_cols);
        __mmask16 add_hi = all ? cols_hi : cols_hi & lanes(0, added_cols - 16);
        /* (a masked load costs even where its mask is empty: after a store to the same row,
         * it waits for the store) */
        __m512 lo = add_lo ? _mm512_maskz_loadu_ps(add_lo, dst) : _mm512_setzero_ps();
        __m512 hi = add_hi ? _mm512_maskz_loadu_ps(add_hi, dst + 16) : _mm512_setzero_ps();
        lo = lo + _mm512_permutex2var_ps(p02, LO_IX, p13);
        hi = hi + _mm512_permutex2var_ps(p02, HI_IX, p13);
        _mm512_mask_storeu_ps(dst, cols_lo, lo);
        _mm512_mask_storeu_ps(dst + 16, cols_hi, hi);
    }
}

/* Tile rows per pack of the input gradient (below). */
#define PACK_MAX 4

/* The input gradient of whole tile rows ti .. ti + rows - 1 (tw <= 7, rows tw <= 16), their
 * tiles side by side in the lanes as in dv (row q's windows in lanes q tw ..): the transforms
 * run once for all of them, each tile row's 4 tw + 2 columns are picked out of the joined
 * windows (its last two, which no window on the right adds to, from o[4] and o[5]), and an
 * image row that two tile rows cover takes both sums before it is stored: pend carries the last
 * two rows' sums from the call before (above) to the next (unless last). A masked load right
 * after a masked store to the same row waits for the store; one tile row at a time, each
 * reloaded the two rows the one above had just stored (ResNet's 16 -> 16 layer, 4 images:
 * 33 -> 21 us). The same sums in the same order as one tile row at a time. */
AVX512 static void input_grad_tile_rows(float *p, const float *a, int64_t plane, int rows, int tw,
                                        int h, int w, int row0, int col0, bool add, bool above,
                                        bool last, __m512 pend[2][2])
{
    const __m512i prev = _mm512_setr_epi32(0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14);
    __mmask16 starts = 0; /* the first window of each tile row takes nothing from the left */
    for (int q = 0; q < rows; q++)
        starts |= (__mmask16)(1u << (q * tw));
    __m512 s[6][6];
    for (int j = 0; j < 6; j++) { /* s = B dv along the rows */
        __m512 in[6], o[6];
        for (int i = 0; i < 6; i++)
            in[i] = _mm512_maskz_loadu_ps(lanes(0, rows * tw), a + (6 * i + j) * plane);
#define I(i) in[i]
        WG4_B(o, I);
#undef I
        for (int r = 0; r < 6; r++)
            s[r][j] = o[r];
    }
    int span = 4 * tw + 2, tail_at = 4 * tw % 16;
    __mmask16 cols[2] = {lanes(-col0, w - col0) & lanes(0, span),
                         lanes(-col0 - 16, w - col0 - 16) & lanes(0, span - 16)};
    __mmask16 tail = lanes(tail_at, tail_at + 2);
    __m512 part[PACK_MAX][2][2]; /* rows 4 and 5 of each tile row, before the one below adds */
    __m512 before[2][2] = {{pend[0][0], pend[0][1]}, {pend[1][0], pend[1][1]}}; /* (if above) */
    static const int order[6] = {2, 3, 4, 5, 0, 1};
    for (int step = 0; step < 6; step++) {
        int r = order[step];
        __m512 o[6];
#define I(j) s[r][j]
        WG4_B(o, I); /* s B^T */
#undef I
        __m512 e0 = o[0] + _mm512_maskz_permutexvar_ps(~starts, prev, o[4]);
        __m512 e1 = o[1] + _mm512_maskz_permutexvar_ps(~starts, prev, o[5]);
        for (int q = 0; q < rows; q++) {
            int row = row0 + 4 * q + r;
            if (row < 0 || row >= h) /* (and so for the tile row below, or the next call) */
                continue;
            /* columns 4l + c from lanes q tw + l; the tail's (4 tw, 4 tw + 1) from o[4] and
             * o[5] at lane q tw + tw - 1 */
            __m512i ix = _mm512_add_epi32(LO_IX, _mm512_set1_epi32(q * tw));
            __m512 p02 = _mm512_permutex2var_ps(e0, ix, o[2]);
            __m512 p13 = _mm512_permutex2var_ps(e1, ix, o[3]);
            __m512 v[2] = {_mm512_permutex2var_ps(p02, LO_IX, p13),
                           _mm512_permutex2var_ps(p02, HI_IX, p13)};
            int last_lane = q * tw + tw - 1;
            __m512i tix = _mm512_mask_set1_epi32(_mm512_set1_epi32(last_lane),
                                                 lanes(tail_at + 1, tail_at + 2), 16 + last_lane);
            __m512 t = _mm512_permutex2var_ps(o[4], tix, o[5]);
            v[span > 16] = _mm512_mask_add_ps(v[span > 16], tail, _mm512_setzero_ps(), t);
            float *dst = p + (int64_t)row * w + col0;
            for (int u = 0; u < 2; u++) {
                __m512 base;
                if (r < 2 && q > 0)
                    base = part[q - 1][r][u];
                else if (r < 2 && above)
                    base = before[r][u];
                else /* (a masked load costs even where its mask is empty) */
                    base = add ? _mm512_maskz_loadu_ps(cols[u], dst + 16 * u) : _mm512_setzero_ps();
                __m512 sum = base + v[u];
                if (r < 4 || (q == rows - 1 && last))
                    _mm512_mask_storeu_ps(dst + 16 * u, cols[u], sum);
                else if (q < rows - 1)
                    part[q][r - 4][u] = sum;
                else
                    pend[r - 4][u] = sum;
            }
        }
    }
}

AVX512 void eng_winograd4_input_grad_avx512_f32(float *dx, const float *dv, int64_t ld,
                                                int64_t plane, int n, int c, int h, int w, int ph,
                                                int pw, int oh, int ow, bool add)
{
    int th = (oh + 3) / 4, tw = (ow + 3) / 4;
    int64_t per_image = (int64_t)th * tw;
    int per = tw <= IN_TILES ? (16 / tw < PACK_MAX ? 16 / tw : PACK_MAX) : 0;
    for (int k = 0; k < n; k++)
        for (int ch = 0; ch < c; ch++) {
            float *p = dx + ((int64_t)k * c + ch) * h * w;
            const float *ak = dv + ch * ld + k * per_image;
            if (per) {
                __m512 z = _mm512_setzero_ps(), pend[2][2] = {{z, z}, {z, z}};
                for (int ti = 0; ti < th; ti += per)
                    input_grad_tile_rows(p, ak + (int64_t)ti * tw, plane,
                                         th - ti < per ? th - ti : per, tw, h, w, 4 * ti - ph, -pw,
                                         add, ti > 0, ti + per >= th, pend);
                continue;
            }
            for (int ti = 0; ti < th; ti++)
                for (int tj0 = 0; tj0 < tw; tj0 += IN_TILES) {
                    int nt = tw - tj0 < IN_TILES ? tw - tj0 : IN_TILES;
                    /* without add: the tile row above wrote rows 0 and 1, the chunk on the
                     * left columns 0 and 1 */
                    int rows = add ? 6 : ti > 0 ? 2 : 0, cols = add ? 32 : tj0 > 0 ? 2 : 0;
                    input_grad_rows(p, ak + (int64_t)ti * tw + tj0, plane, nt, h, w, 4 * ti - ph,
                                    4 * tj0 - pw, rows, cols);
                }
        }
}

/* Tile rows per chunk of the output transform: whole rows of tiles while they fit in the 16
 * lanes (a 28x28 output has 7 tiles a row: 2 rows, 14 lanes instead of 7), else one row in
 * chunks of up to 16 tiles. The tiles of consecutive rows are consecutive columns of the
 * transformed matrices, so a chunk still loads as one vector. ResNet's 16 -> 16 layer, 8
 * images: 55 -> 49 us. The output gradient packs two rows alike (tw <= 8). */
static inline int out_rows_per_chunk(int tw)
{
    return tw <= OUT_TILES ? OUT_TILES / tw : 1;
}

/* A chunk's tile rows laid end to end as 64 interleaved columns x = 4l + q (lane l, tile column
 * q) in 4 vectors: tile row g takes columns [g span, g span + cols) (span = 4 tiles, cols = the
 * image columns it covers). One part per (g, vector u) that holds some of them, with its mask;
 * computed once per chunk, not per output row (at most OUT_TILES + 3 parts). */
typedef struct row_part {
    int g, u;
    __mmask16 m;
} row_part;

static int row_parts(row_part *parts, int rows, int span, int cols)
{
    int count = 0;
    for (int g = 0; g < rows; g++)
        for (int u = 0; u < 4; u++) {
            __mmask16 m = lanes(g * span - 16 * u, g * span + cols - 16 * u);
            if (m)
                parts[count++] = (row_part){g, u, m};
        }
    return count;
}

/* Output row i of the chunk's tile rows ti .. (v: the 64 interleaved columns) to each tile
 * row's image row, rows past oh dropped; p + col0 is column 0 of the chunk in row 0. */
AVX512 static inline void store_rows(float *p, const __m512 v[4], const row_part *parts, int count,
                                     int ti, int i, int span, int oh, int ow)
{
    for (int e = 0; e < count; e++) {
        int row = 4 * (ti + parts[e].g) + i;
        if (row < oh)
            _mm512_mask_storeu_ps(p + (int64_t)row * ow - parts[e].g * span + 16 * parts[e].u,
                                  parts[e].m, v[parts[e].u]);
    }
}

AVX512 void eng_winograd4_output_avx512_f32(float *y, const float *m, int64_t ld, int64_t plane,
                                            const float *bias, int n, int out, int oh, int ow)
{
    int th = (oh + 3) / 4, tw = (ow + 3) / 4, per_chunk = out_rows_per_chunk(tw);
    int64_t per_image = (int64_t)th * tw;
    for (int k = 0; k < n; k++)
        for (int o = 0; o < out; o++) {
            float *p = y + ((int64_t)k * out + o) * oh * ow;
            float b = bias ? bias[o] : 0.0f;
            for (int ti = 0; ti < th; ti += per_chunk)
                for (int tj0 = 0; tj0 < tw; tj0 += OUT_TILES) {
                    int nt = tw - tj0 < OUT_TILES ? tw - tj0 : OUT_TILES, cols = ow - 4 * tj0;
                    int rows = th - ti < per_chunk ? th - ti : per_chunk;
                    const float *a = m + o * ld + k * per_image + (int64_t)ti * tw + tj0;
                    __mmask16 mt = lanes(0, rows * nt);
                    row_part parts[OUT_TILES + 4];
                    int count = row_parts(parts, rows, 4 * nt, cols < 4 * nt ? cols : 4 * nt);
                    __m512 s[4][6];
                    for (int j = 0; j < 6; j++) { /* s = A^T a */
                        __m512 in[6], r4[4];
                        for (int i = 0; i < 6; i++)
                            in[i] = _mm512_maskz_loadu_ps(mt, a + (6 * i + j) * plane);
#define I(i) in[i]
                        WG4_AT(r4, I);
#undef I
                        for (int i = 0; i < 4; i++)
                            s[i][j] = r4[i];
                    }
                    for (int i = 0; i < 4 && 4 * ti + i < oh; i++) { /* y = s A + b */
                        __m512 r4[4], v[4];
#define I(j) s[i][j]
                        WG4_AT(r4, I);
#undef I
                        for (int q = 0; q < 4; q++)
                            r4[q] = r4[q] + b;
                        __m512 p_lo = _mm512_permutex2var_ps(r4[0], LO_IX, r4[2]);
                        __m512 p_hi = _mm512_permutex2var_ps(r4[0], HI_IX, r4[2]);
                        __m512 q_lo = _mm512_permutex2var_ps(r4[1], LO_IX, r4[3]);
                        __m512 q_hi = _mm512_permutex2var_ps(r4[1], HI_IX, r4[3]);
                        v[0] = _mm512_permutex2var_ps(p_lo, LO_IX, q_lo);
                        v[1] = _mm512_permutex2var_ps(p_lo, HI_IX, q_lo);
                        v[2] = _mm512_permutex2var_ps(p_hi, LO_IX, q_hi);
                        v[3] = _mm512_permutex2var_ps(p_hi, HI_IX, q_hi);
                        store_rows(p + 4 * tj0, v, parts, count, ti, i, 4 * nt, oh, ow);
                    }
                }
        }
}

/* Columns 4l + q (q = 0..3) of 64 columns, l = 0..15: g[q] lane l. The columns are those of
 * row a, [0, cols) (zero up to span), then where b is given those of row b from column span on
 * (its tiles in lanes span / 4 ..): two tile rows of at most 8 tiles in one vector. */
AVX512 static inline void split_row(__m512 g[4], const float *a, const float *b, int cols, int span)
{
    const __m512i even =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    __m512 v[4];
    for (int q = 0; q < 4; q++) {
        v[q] = _mm512_maskz_loadu_ps(lanes(0, cols - 16 * q), a + 16 * q);
        if (b)
            v[q] = _mm512_mask_loadu_ps(v[q], lanes(span - 16 * q, span + cols - 16 * q),
                                        b + 16 * q - span);
    }
    __m512 p0 = _mm512_permutex2var_ps(v[0], even, v[1]),
           p1 = _mm512_permutex2var_ps(v[0], odd, v[1]);
    __m512 p2 = _mm512_permutex2var_ps(v[2], even, v[3]),
           p3 = _mm512_permutex2var_ps(v[2], odd, v[3]);
    g[0] = _mm512_permutex2var_ps(p0, even, p2);
    g[2] = _mm512_permutex2var_ps(p0, odd, p2);
    g[1] = _mm512_permutex2var_ps(p1, even, p3);
    g[3] = _mm512_permutex2var_ps(p1, odd, p3);
}

/* dm for the chunk of tiles at mt (mask m) from g = its 4 output rows split into columns. */
AVX512 static inline void output_grad_chunk(float *mt, int64_t plane, __mmask16 m, __m512 g[4][4])
{
    __m512 s[6][4];
    for (int q = 0; q < 4; q++) { /* s = A g */
        __m512 r6[6];
#define I(i) g[i][q]
        WG4_A(r6, I);
#undef I
        for (int i = 0; i < 6; i++)
            s[i][q] = r6[i];
    }
    for (int i = 0; i < 6; i++) { /* dm = s A^T */
        __m512 r6[6];
#define I(q) s[i][q]
        WG4_A(r6, I);
#undef I
        for (int j = 0; j < 6; j++)
            _mm512_mask_storeu_ps(mt + (6 * i + j) * plane, m, r6[j]);
    }
}

/* Two tile rows a chunk where they fit in the lanes (tw <= 8: a 28x28 output's 7 tiles a row
 * take 14 lanes instead of 7), the second row's image rows loaded into the upper columns of
 * the first's; else one row in chunks of 16 tiles. */
AVX512 void eng_winograd4_output_grad_avx512_f32(float *dm, int64_t ld, int64_t plane,
                                                 const float *dy, int n, int out, int oh, int ow)
{
    int th = (oh + 3) / 4, tw = (ow + 3) / 4, per_chunk = 2 * tw <= OUT_TILES ? 2 : 1;
    int64_t per_image = (int64_t)th * tw;
    for (int k = 0; k < n; k++)
        for (int o = 0; o < out; o++) {
            const float *p = dy + ((int64_t)k * out + o) * oh * ow;
            for (int ti = 0; ti < th; ti += per_chunk)
                for (int tj0 = 0; tj0 < tw; tj0 += OUT_TILES) {
                    int nt = tw - tj0 < OUT_TILES ? tw - tj0 : OUT_TILES, cols = ow - 4 * tj0;
                    int rows = per_chunk == 2 && ti + 1 < th ? 2 : 1;
                    __m512 g[4][4];
                    for (int i = 0; i < 4; i++) {
                        int row = 4 * ti + i, next = row + 4;
                        const float *b = rows == 2 && next < oh ? p + (int64_t)next * ow : NULL;
                        if (row < oh)
                            split_row(g[i], p + (int64_t)row * ow + 4 * tj0, b, cols, 4 * nt);
                        else
                            for (int q = 0; q < 4; q++)
                                g[i][q] = _mm512_setzero_ps();
                    }
                    output_grad_chunk(dm + o * ld + k * per_image + (int64_t)ti * tw + tj0, plane,
                                      lanes(0, rows * nt), g);
                }
        }
}

#endif
