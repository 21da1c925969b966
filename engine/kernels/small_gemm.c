#include "small_gemm.h"

#include <cblas.h>
#include <stdbool.h>

#include "cpu.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX512_BODIES 1

/* Lanes [0, left) of a mask of `lanes` lanes. */
static inline unsigned lane_mask(int left, int lanes)
{
    return left >= lanes ? (1u << lanes) - 1 : left > 0 ? (1u << left) - 1 : 0;
}

/* One body per dtype (VT vectors of LANES elements):
 *
 * nn_tile: R rows of c by V vectors of columns (R * V accumulators, R <= 8, V <= 3); each step
 * of the inner dimension loads V vectors of b and broadcasts R elements of a (a[r][p], or
 * a[p][r] when a is given transposed). R, V and a_trans are constants in every call, so each
 * combination compiles to its own straight loop; only the last vector of a tile takes the
 * mask of a partial block of columns. 8 rows by 3 vectors (24 accumulators, 11 loads per 24
 * multiply-adds) run 10 to 30% faster than 8 by 2 on the Winograd shapes (64 x 392 x 32,
 * 16 x 392 x 16). Each element of c is the same chain of multiply-adds along p whatever the
 * tile, so the results do not depend on the tiling. Each tile prefetches the next tile's rows
 * of c and, where b's rows are at least NN_FETCH_LDB elements apart, the first tile of a block
 * of columns the next block's rows of b: both are strided where the hardware prefetchers do
 * not follow, and the linear layer's (3136 columns, c and b from L3) waited on them (128 x
 * 3136 x 64 with accumulation: 56 -> 70 GFLOP/s, 64 x 3136 x 128: 70 -> 82, best of 6
 * interleaved runs on the loaded machine). The convolutions' b (rows of 196 to 784 floats,
 * in L2) runs as fast or 2 to 7% faster without: those prefetches only took load slots (the
 * ResNet's 27 product shapes alternated in one process: 1 to 2% of their time).
 *
 * nt_tile: R rows of a against S rows of b, R * S accumulators along the shared dimension,
 * summed across lanes at the end and added to c; whole vectors of the shared dimension load
 * without a mask, the last partial one with. */
#define NN_FETCH_LDB 1024

#define DEFINE_SMALL_GEMM(SFX, T, VT, MT, LANES, LOAD, LOADU, STORE, STOREU, FMA, SET1, ZERO,      \
                          REDUCE, REDUCE44)                                                        \
    static inline __attribute__((always_inline, target("avx512f"))) void nn_tile_##SFX(            \
        T *c, int64_t ldc, const T *a, int64_t lda, const T *b, int64_t ldb, int k, MT mlast,      \
        bool accumulate, const int R, const int V, const bool a_trans, const T *next_c,            \
        const T *next_b, const bool fetch_b)                                                       \
    {                                                                                              \
        VT acc[8][3];                                                                              \
        for (int r = 0; r < 8; r++)                                                                \
            for (int v = 0; v < 3; v++)                                                            \
                _mm_prefetch((const char *)(next_c + r * ldc + v * LANES), _MM_HINT_T0);           \
        for (int r = 0; r < R; r++)                                                                \
            for (int v = 0; v < V; v++) {                                                          \
                T *cp = c + r * ldc + v * LANES;                                                   \
                acc[r][v] = !accumulate ? ZERO() : v == V - 1 ? LOAD(mlast, cp) : LOADU(cp);       \
            }                                                                                      \
        for (int p = 0; p < k; p++) {                                                              \
            VT bv[3];                                                                              \
            for (int v = 0; v < V; v++)                                                            \
                bv[v] = v == V - 1 ? LOAD(mlast, b + p * ldb + v * LANES)                          \
                                   : LOADU(b + p * ldb + v * LANES);                               \
            for (int v = 0; fetch_b && v < 3; v++)                                                 \
                _mm_prefetch((const char *)(next_b + p * ldb + v * LANES), _MM_HINT_T0);           \
            for (int r = 0; r < R; r++) {                                                          \
                VT av = SET1(a_trans ? a[p * lda + r] : a[r * lda + p]);                           \
                for (int v = 0; v < V; v++)                                                        \
                    acc[r][v] = FMA(av, bv[v], acc[r][v]);                                         \
            }                                                                                      \
        }                                                                                          \
        for (int r = 0; r < R; r++)                                                                \
            for (int v = 0; v < V; v++) {                                                          \
                if (v == V - 1)                                                                    \
                    STORE(c + r * ldc + v * LANES, mlast, acc[r][v]);                              \
                else                                                                               \
                    STOREU(c + r * ldc + v * LANES, acc[r][v]);                                    \
            }                                                                                      \
    }                                                                                              \
                                                                                                   \
    /* One block of columns (V vectors, the last with mask mlast) down all m rows: tiles of 8      \
     * rows, then 4, then single rows; fetch_b: prefetch b (not when packed in L1). */             \
    static inline __attribute__((always_inline, target("avx512f"))) void nn_cols_##SFX(            \
        T *c, int64_t ldc, const T *a, int64_t lda, const T *b, int64_t ldb, int m, int k,         \
        MT mlast, bool accumulate, const int V, const bool a_trans, const bool fetch_b)            \
    {                                                                                              \
        int i = 0;                                                                                 \
        const T *next_b = b + 3 * LANES;                                                           \
        for (; i + 8 <= m; i += 8)                                                                 \
            nn_tile_##SFX(c + i * ldc, ldc, a_trans ? a + i : a + i * lda, lda, b, ldb, k, mlast,  \
                          accumulate, 8, V, a_trans,                                               \
                          i + 8 < m ? c + (i + 8) * ldc : c + 3 * LANES, i == 0 ? next_b : b,      \
                          fetch_b);                                                                \
        if (i + 4 <= m) {                                                                          \
            nn_tile_##SFX(c + i * ldc, ldc, a_trans ? a + i : a + i * lda, lda, b, ldb, k, mlast,  \
                          accumulate, 4, V, a_trans, c + i * ldc, i == 0 ? next_b : b, fetch_b);   \
            i += 4;                                                                                \
        }                                                                                          \
        for (; i < m; i++)                                                                         \
            nn_tile_##SFX(c + i * ldc, ldc, a_trans ? a + i : a + i * lda, lda, b, ldb, k, mlast,  \
                          accumulate, 1, V, a_trans, c + i * ldc, b, fetch_b);                     \
    }                                                                                              \
                                                                                                   \
    /* Blocks of 3 vectors of columns; the last 1 to 3 vectors as one block with a mask. */        \
    static inline __attribute__((always_inline, target("avx512f"))) void nn_body_##SFX(            \
        T *c, int64_t ldc, const T *a, int64_t lda, const T *b, int64_t ldb, int m, int n, int k,  \
        bool accumulate, const bool a_trans, const bool fetch_b)                                   \
    {                                                                                              \
        const MT full = (MT)lane_mask(LANES, LANES);                                               \
        int j = 0;                                                                                 \
        for (; j + 3 * LANES < n; j += 3 * LANES)                                                  \
            nn_cols_##SFX(c + j, ldc, a, lda, b + j, ldb, m, k, full, accumulate, 3, a_trans,      \
                          fetch_b);                                                                \
        int left = n - j, vecs = (left + LANES - 1) / LANES;                                       \
        MT mlast = (MT)lane_mask(left - (vecs - 1) * LANES, LANES);                                \
        if (vecs == 3)                                                                             \
            nn_cols_##SFX(c + j, ldc, a, lda, b + j, ldb, m, k, mlast, accumulate, 3, a_trans,     \
                          fetch_b);                                                                \
        else if (vecs == 2)                                                                        \
            nn_cols_##SFX(c + j, ldc, a, lda, b + j, ldb, m, k, mlast, accumulate, 2, a_trans,     \
                          fetch_b);                                                                \
        else if (vecs == 1)                                                                        \
            nn_cols_##SFX(c + j, ldc, a, lda, b + j, ldb, m, k, mlast, accumulate, 1, a_trans,     \
                          fetch_b);                                                                \
    }                                                                                              \
                                                                                                   \
    __attribute__((target("avx512f"))) static void nn_##SFX(                                       \
        T *c, int64_t ldc, const T *a, int64_t lda, bool a_trans, const T *b, int64_t ldb, int m,  \
        int n, int k, bool accumulate)                                                             \
    {                                                                                              \
        bool far = ldb >= NN_FETCH_LDB;                                                            \
        if (a_trans && far)                                                                        \
            nn_body_##SFX(c, ldc, a, lda, b, ldb, m, n, k, accumulate, true, true);                \
        else if (a_trans)                                                                          \
            nn_body_##SFX(c, ldc, a, lda, b, ldb, m, n, k, accumulate, true, false);               \
        else if (far)                                                                              \
            nn_body_##SFX(c, ldc, a, lda, b, ldb, m, n, k, accumulate, false, true);               \
        else                                                                                       \
            nn_body_##SFX(c, ldc, a, lda, b, ldb, m, n, k, accumulate, false, false);              \
    }                                                                                              \
                                                                                                   \
    static inline __attribute__((always_inline, target("avx512f"))) void nt_tile_##SFX(            \
        T *c, int64_t ldc, const T *a, int64_t lda, const T *b, int64_t ldb, int k, int rows,      \
        int cols)                                                                                  \
    {                                                                                              \
        VT acc[4][4];                                                                              \
        for (int r = 0; r < rows; r++)                                                             \
            for (int s = 0; s < cols; s++)                                                         \
                acc[r][s] = ZERO();                                                                \
        int p = 0;                                                                                 \
        for (; p + LANES <= k; p += LANES) {                                                       \
            VT av[4], bv[4];                                                                       \
            for (int r = 0; r < rows; r++)                                                         \
                av[r] = LOADU(a + r * lda + p);                                                    \
            for (int s = 0; s < cols; s++)                                                         \
                bv[s] = LOADU(b + s * ldb + p);                                                    \
            for (int r = 0; r < rows; r++)                                                         \
                for (int s = 0; s < cols; s++)                                                     \
                    acc[r][s] = FMA(av[r], bv[s], acc[r][s]);                                      \
        }                                                                                          \
        if (p < k) {                                                                               \
            MT m = (MT)lane_mask(k - p, LANES);                                                    \
            VT av[4], bv[4];                                                                       \
            for (int r = 0; r < rows; r++)                                                         \
                av[r] = LOAD(m, a + r * lda + p);                                                  \
            for (int s = 0; s < cols; s++)                                                         \
                bv[s] = LOAD(m, b + s * ldb + p);                                                  \
            for (int r = 0; r < rows; r++)                                                         \
                for (int s = 0; s < cols; s++)                                                     \
                    acc[r][s] = FMA(av[r], bv[s], acc[r][s]);                                      \
        }                                                                                          \
        if (rows == 4 && cols == 4) {                                                              \
            REDUCE44(acc, c, ldc);                                                                 \
            return;                                                                                \
        }                                                                                          \
        for (int r = 0; r < rows; r++)                                                             \
            for (int s = 0; s < cols; s++)                                                         \
                c[r * ldc + s] += REDUCE(acc[r][s]);                                               \
    }                                                                                              \
                                                                                                   \
    __attribute__((target("avx512f"))) static void nt_##SFX(                                       \
        T *c, int64_t ldc, const T *a, int64_t lda, const T *b, int64_t ldb, int m, int n, int k)  \
    {                                                                                              \
        int i = 0;                                                                                 \
        for (; i + 4 <= m; i += 4) {                                                               \
            int j = 0;                                                                             \
            for (; j + 4 <= n; j += 4)                                                             \
                nt_tile_##SFX(c + i * ldc + j, ldc, a + i * lda, lda, b + j * ldb, ldb, k, 4, 4);  \
            for (; j < n; j++)                                                                     \
                nt_tile_##SFX(c + i * ldc + j, ldc, a + i * lda, lda, b + j * ldb, ldb, k, 4, 1);  \
        }                                                                                          \
        for (; i < m; i++)                                                                         \
            for (int j = 0; j < n; j++)                                                            \
                nt_tile_##SFX(c + i * ldc + j, ldc, a + i * lda, lda, b + j * ldb, ldb, k, 1, 1);  \
    }

/* c[r][s] += the lane sum of acc[r][s] for a 4x4 tile, all 16 sums at once: four rounds of
 * shuffles and adds halve the vectors (15 additions of whole vectors instead of 16 separate
 * reductions of 4 each), pairing the lanes as _mm512_reduce_add_ps does (halves of 256, then
 * 128, 64 and 32 bits), so each sum is bit for bit the separate reduction's. */
static inline __attribute__((always_inline, target("avx512f"))) void
reduce44_ps(__m512 acc[4][4], float *c, int64_t ldc)
{
    __m512 z[8], w[4], v[2];
    for (int t = 0; t < 8; t++) { /* z[t]: 256-bit halves of x[2t] (low) and x[2t+1] (high) */
        __m512 x = acc[(2 * t) % 4][(2 * t) / 4], y = acc[(2 * t + 1) % 4][(2 * t + 1) / 4];
        z[t] = _mm512_add_ps(_mm512_shuffle_f32x4(x, y, 0x44), _mm512_shuffle_f32x4(x, y, 0xee));
    }
    for (int t = 0; t < 4; t++) /* w[t]: 128-bit quarters hold x[4t] .. x[4t+3] */
        w[t] = _mm512_add_ps(_mm512_shuffle_f32x4(z[2 * t], z[2 * t + 1], 0x88),
                             _mm512_shuffle_f32x4(z[2 * t], z[2 * t + 1], 0xdd));
    for (int t = 0; t < 2; t++) /* quarter q: pairs of x[8t + q] and x[8t + 4 + q] */
        v[t] = _mm512_add_ps(_mm512_shuffle_ps(w[2 * t], w[2 * t + 1], 0x44),
                             _mm512_shuffle_ps(w[2 * t], w[2 * t + 1], 0xee));
    /* quarter q: x[q], x[q + 4], x[q + 8], x[q + 12] */
    __m512 sum =
        _mm512_add_ps(_mm512_shuffle_ps(v[0], v[1], 0x88), _mm512_shuffle_ps(v[0], v[1], 0xdd));
    /* x[t] is acc[t % 4][t / 4], so quarter q is row q of the tile */
    __m128 q0 = _mm512_castps512_ps128(sum), q1 = _mm512_extractf32x4_ps(sum, 1);
    __m128 q2 = _mm512_extractf32x4_ps(sum, 2), q3 = _mm512_extractf32x4_ps(sum, 3);
    _mm_storeu_ps(c, _mm_add_ps(_mm_loadu_ps(c), q0));
    _mm_storeu_ps(c + ldc, _mm_add_ps(_mm_loadu_ps(c + ldc), q1));
    _mm_storeu_ps(c + 2 * ldc, _mm_add_ps(_mm_loadu_ps(c + 2 * ldc), q2));
    _mm_storeu_ps(c + 3 * ldc, _mm_add_ps(_mm_loadu_ps(c + 3 * ldc), q3));
}

/* f64 keeps the separate reductions. */
#define REDUCE44_PD(acc, c, ldc)                                                                   \
    for (int r = 0; r < 4; r++)                                                                    \
        for (int s = 0; s < 4; s++)                                                                \
    c[r * ldc + s] += _mm512_reduce_add_pd(acc[r][s])

#define LOAD_PS(m, p) _mm512_maskz_loadu_ps((m), (p))
#define STORE_PS(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))
#define LOAD_PD(m, p) _mm512_maskz_loadu_pd((m), (p))
#define STORE_PD(p, m, v) _mm512_mask_storeu_pd((p), (m), (v))

DEFINE_SMALL_GEMM(f32, float, __m512, __mmask16, 16, LOAD_PS, _mm512_loadu_ps, STORE_PS,
                  _mm512_storeu_ps, _mm512_fmadd_ps, _mm512_set1_ps, _mm512_setzero_ps,
                  _mm512_reduce_add_ps, reduce44_ps)
DEFINE_SMALL_GEMM(f64, double, __m512d, __mmask8, 8, LOAD_PD, _mm512_loadu_pd, STORE_PD,
                  _mm512_storeu_pd, _mm512_fmadd_pd, _mm512_set1_pd, _mm512_setzero_pd,
                  _mm512_reduce_add_pd, REDUCE44_PD)

/* r[i] (row i of a 16x16 block) becomes column i: 64 shuffles in four rounds. */
static inline __attribute__((always_inline, target("avx512f"))) void transpose16_ps(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) { /* r[4i + s], quarter q: column 4q + s of rows 4i .. 4i + 3 */
        r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
    }
    for (int s = 0; s < 4; s++) {
        __m512 u0 = _mm512_shuffle_f32x4(r[s], r[4 + s], 0x88);
        __m512 u1 = _mm512_shuffle_f32x4(r[s], r[4 + s], 0xdd);
        __m512 u2 = _mm512_shuffle_f32x4(r[8 + s], r[12 + s], 0x88);
        __m512 u3 = _mm512_shuffle_f32x4(r[8 + s], r[12 + s], 0xdd);
        t[s] = _mm512_shuffle_f32x4(u0, u2, 0x88);
        t[8 + s] = _mm512_shuffle_f32x4(u0, u2, 0xdd);
        t[4 + s] = _mm512_shuffle_f32x4(u1, u3, 0x88);
        t[12 + s] = _mm512_shuffle_f32x4(u1, u3, 0xdd);
    }
    for (int i = 0; i < 16; i++)
        r[i] = t[i];
}

#define NT_COLS 48   /* columns of c per block: the nn body's 3 vectors */
#define NT_CHUNK 128 /* inner-dimension steps per packed block */

/* bt [kc][NT_COLS] = b's rows [0, rows) (rows <= NT_COLS), columns [0, kc), transposed; rows up
 * to the next multiple of 16 are zero. */
static inline __attribute__((always_inline, target("avx512f"))) void
pack_bt_f32(float *bt, const float *b, int64_t ldb, int rows, int kc)
{
    for (int g = 0; g < rows; g += 16)
        for (int q = 0; q < kc; q += 16) {
            __mmask16 cols = (__mmask16)lane_mask(kc - q, 16);
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = g + i < rows ? _mm512_maskz_loadu_ps(cols, b + (g + i) * ldb + q)
                                    : _mm512_setzero_ps();
            transpose16_ps(r);
            int last = kc - q < 16 ? kc - q : 16;
            for (int t = 0; t < last; t++)
                _mm512_store_ps(bt + (q + t) * NT_COLS + g, r[t]);
        }
}

/* nt as nn: blocks of NT_COLS rows of b and NT_CHUNK steps of the inner dimension are packed
 * transposed (aligned, on the stack), and the nn body adds a @ bt into c. Each element of c is
 * then one chain of multiply-adds along the inner dimension in order from c's value. */
__attribute__((target("avx512f"))) static void nt_packed_f32(float *c, int64_t ldc, const float *a,
                                                             int64_t lda, const float *b,
                                                             int64_t ldb, int m, int n, int k)
{
    float bt[NT_CHUNK * NT_COLS] __attribute__((aligned(64)));
    for (int j = 0; j < n; j += NT_COLS) {
        int rows = n - j < NT_COLS ? n - j : NT_COLS, vecs = (rows + 15) / 16;
        __mmask16 mlast = (__mmask16)lane_mask(rows - (vecs - 1) * 16, 16);
        for (int p = 0; p < k; p += NT_CHUNK) {
            int kc = k - p < NT_CHUNK ? k - p : NT_CHUNK;
            pack_bt_f32(bt, b + j * ldb + p, ldb, rows, kc);
            if (vecs == 3)
                nn_cols_f32(c + j, ldc, a + p, lda, bt, NT_COLS, m, kc, mlast, true, 3, false,
                            false);
            else if (vecs == 2)
                nn_cols_f32(c + j, ldc, a + p, lda, bt, NT_COLS, m, kc, mlast, true, 2, false,
                            false);
            else
                nn_cols_f32(c + j, ldc, a + p, lda, bt, NT_COLS, m, kc, mlast, true, 1, false,
                            false);
        }
    }
}
#endif

/* The public entry points: the AVX-512 body, or OpenBLAS with the same contract. */
void eng_small_gemm_nn_f32(float *c, int64_t ldc, const float *a, const float *b, int64_t ldb,
                           int m, int n, int k)
{
#ifdef HAVE_AVX512_BODIES
    if (eng_simd_level() == ENG_SIMD_AVX512) {
        nn_f32(c, ldc, a, k, false, b, ldb, m, n, k, false);
        return;
    }
#endif
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, (int)ldb, 0.0f,
                c, (int)ldc);
}

void eng_small_gemm_nn_f64(double *c, int64_t ldc, const double *a, const double *b, int64_t ldb,
                           int m, int n, int k)
{
#ifdef HAVE_AVX512_BODIES
    if (eng_simd_level() == ENG_SIMD_AVX512) {
        nn_f64(c, ldc, a, k, false, b, ldb, m, n, k, false);
        return;
    }
#endif
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0, a, k, b, (int)ldb, 0.0, c,
                (int)ldc);
}

void eng_small_gemm_nn_acc_f32(float *c, int64_t ldc, const float *a, int64_t lda, const float *b,
                               int64_t ldb, int m, int n, int k)
{
#ifdef HAVE_AVX512_BODIES
    if (eng_simd_level() == ENG_SIMD_AVX512) {
        nn_f32(c, ldc, a, lda, false, b, ldb, m, n, k, true);
        return;
    }
#endif
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, (int)lda, b, (int)ldb,
                1.0f, c, (int)ldc);
}

void eng_small_gemm_tn_f32(float *c, int64_t ldc, const float *a, int64_t lda, const float *b,
                           int64_t ldb, int m, int n, int k)
{
#ifdef HAVE_AVX512_BODIES
    if (eng_simd_level() == ENG_SIMD_AVX512) {
        nn_f32(c, ldc, a, lda, true, b, ldb, m, n, k, false);
        return;
    }
#endif
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, k, 1.0f, a, (int)lda, b, (int)ldb,
                0.0f, c, (int)ldc);
}

void eng_small_gemm_tn_acc_f32(float *c, int64_t ldc, const float *a, int64_t lda, const float *b,
                               int64_t ldb, int m, int n, int k)
{
#ifdef HAVE_AVX512_BODIES
    if (eng_simd_level() == ENG_SIMD_AVX512) {
        nn_f32(c, ldc, a, lda, true, b, ldb, m, n, k, true);
        return;
    }
#endif
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, k, 1.0f, a, (int)lda, b, (int)ldb,
                1.0f, c, (int)ldc);
}

void eng_small_gemm_tn_acc_f64(double *c, int64_t ldc, const double *a, int64_t lda,
                               const double *b, int64_t ldb, int m, int n, int k)
{
#ifdef HAVE_AVX512_BODIES
    if (eng_simd_level() == ENG_SIMD_AVX512) {
        nn_f64(c, ldc, a, lda, true, b, ldb, m, n, k, true);
        return;
    }
#endif
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, k, 1.0, a, (int)lda, b, (int)ldb,
                1.0, c, (int)ldc);
}

/* f32 nt with at least NT_PACKED_MIN rows and columns of c runs as nn on b packed transposed
 * (nt_packed_f32): no lane sums, aligned loads whatever lda and ldb, and no masked tail of the
 * inner dimension (rows of 196 or 210 floats, the Winograd and strided layers' dweight, are
 * misaligned by 16 bytes to 48 rows after rows; 32x144x210: 97 -> 134 GFLOP/s, 64x64x64 x16
 * Winograd planes: 115 -> 141). With fewer columns the nn tiles have a single vector, and with
 * fewer rows each packed element serves too few multiply-adds (the linear layer at batch 16:
 * 138 -> 113 GFLOP/s, at batch 4: 139 -> 53): the packing costs more than it saves (16x16x196:
 * 108 -> 95), and the dot-product tiles stay. There a long shared dimension (k > NT_PANEL)
 * goes in panels, each added into c in turn: a panel of both operands stays in L2 while every
 * tile runs over it. f32 only: each panel's sum is rounded into c; f64 (gradient checks) keeps
 * one pass of the dot-product tiles. */
#define NT_PACKED_MIN 32
#define NT_PANEL 768

void eng_small_gemm_nt_f32(float *c, int64_t ldc, const float *a, int64_t lda, const float *b,
                           int64_t ldb, int m, int n, int k)
{
#ifdef HAVE_AVX512_BODIES
    if (eng_simd_level() == ENG_SIMD_AVX512) {
        if (m >= NT_PACKED_MIN && n >= NT_PACKED_MIN) {
            nt_packed_f32(c, ldc, a, lda, b, ldb, m, n, k);
            return;
        }
        int panels = (k + NT_PANEL - 1) / NT_PANEL;
        if (panels <= 1) {
            nt_f32(c, ldc, a, lda, b, ldb, m, n, k);
            return;
        }
        int step = ((k + panels - 1) / panels + 15) / 16 * 16;
        for (int p = 0; p < k; p += step)
            nt_f32(c, ldc, a + p, lda, b + p, ldb, m, n, k - p < step ? k - p : step);
        return;
    }
#endif
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, (int)lda, b, (int)ldb,
                1.0f, c, (int)ldc);
}

void eng_small_gemm_nt_f64(double *c, int64_t ldc, const double *a, int64_t lda, const double *b,
                           int64_t ldb, int m, int n, int k)
{
#ifdef HAVE_AVX512_BODIES
    if (eng_simd_level() == ENG_SIMD_AVX512) {
        nt_f64(c, ldc, a, lda, b, ldb, m, n, k);
        return;
    }
#endif
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0, a, (int)lda, b, (int)ldb,
                1.0, c, (int)ldc);
}
