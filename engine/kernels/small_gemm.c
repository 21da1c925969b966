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
 * of c and, the first of a block of columns, the next block's rows of b: both are strided
 * (ldc, ldb apart) where the hardware prefetchers do not follow, and the linear layer's
 * (3136 columns, c and b from L3) waited on them (128 x 3136 x 64 with accumulation: 56 ->
 * 70 GFLOP/s, 64 x 3136 x 128: 70 -> 82, best of 6 interleaved runs on the loaded machine).
 *
 * nt_tile: R rows of a against S rows of b, R * S accumulators along the shared dimension,
 * summed across lanes at the end and added to c; whole vectors of the shared dimension load
 * without a mask, the last partial one with. */
#define DEFINE_SMALL_GEMM(SFX, T, VT, MT, LANES, LOAD, LOADU, STORE, STOREU, FMA, SET1, ZERO,      \
                          REDUCE, REDUCE44)                                                        \
    static inline __attribute__((always_inline, target("avx512f"))) void nn_tile_##SFX(            \
        T *c, int64_t ldc, const T *a, int64_t lda, const T *b, int64_t ldb, int k, MT mlast,      \
        bool accumulate, const int R, const int V, const bool a_trans, const T *next_c,            \
        const T *next_b)                                                                           \
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
            for (int v = 0; v < 3; v++)                                                            \
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
     * rows, then 4, then single rows. */                                                          \
    static inline __attribute__((always_inline, target("avx512f"))) void nn_cols_##SFX(            \
        T *c, int64_t ldc, const T *a, int64_t lda, const T *b, int64_t ldb, int m, int k,         \
        MT mlast, bool accumulate, const int V, const bool a_trans)                                \
    {                                                                                              \
        int i = 0;                                                                                 \
        const T *next_b = b + 3 * LANES;                                                           \
        for (; i + 8 <= m; i += 8)                                                                 \
            nn_tile_##SFX(c + i * ldc, ldc, a_trans ? a + i : a + i * lda, lda, b, ldb, k, mlast,  \
                          accumulate, 8, V, a_trans,                                               \
                          i + 8 < m ? c + (i + 8) * ldc : c + 3 * LANES, i == 0 ? next_b : b);     \
        if (i + 4 <= m) {                                                                          \
            nn_tile_##SFX(c + i * ldc, ldc, a_trans ? a + i : a + i * lda, lda, b, ldb, k, mlast,  \
                          accumulate, 4, V, a_trans, c + i * ldc, i == 0 ? next_b : b);            \
            i += 4;                                                                                \
        }                                                                                          \
        for (; i < m; i++)                                                                         \
            nn_tile_##SFX(c + i * ldc, ldc, a_trans ? a + i : a + i * lda, lda, b, ldb, k, mlast,  \
                          accumulate, 1, V, a_trans, c + i * ldc, b);                              \
    }                                                                                              \
                                                                                                   \
    /* Blocks of 3 vectors of columns; the last 1 to 3 vectors as one block with a mask. */        \
    static inline __attribute__((always_inline, target("avx512f"))) void nn_body_##SFX(            \
        T *c, int64_t ldc, const T *a, int64_t lda, const T *b, int64_t ldb, int m, int n, int k,  \
        bool accumulate, const bool a_trans)                                                       \
    {                                                                                              \
        const MT full = (MT)lane_mask(LANES, LANES);                                               \
        int j = 0;                                                                                 \
        for (; j + 3 * LANES < n; j += 3 * LANES)                                                  \
            nn_cols_##SFX(c + j, ldc, a, lda, b + j, ldb, m, k, full, accumulate, 3, a_trans);     \
        int left = n - j, vecs = (left + LANES - 1) / LANES;                                       \
        MT mlast = (MT)lane_mask(left - (vecs - 1) * LANES, LANES);                                \
        if (vecs == 3)                                                                             \
            nn_cols_##SFX(c + j, ldc, a, lda, b + j, ldb, m, k, mlast, accumulate, 3, a_trans);    \
        else if (vecs == 2)                                                                        \
            nn_cols_##SFX(c + j, ldc, a, lda, b + j, ldb, m, k, mlast, accumulate, 2, a_trans);    \
        else if (vecs == 1)                                                                        \
            nn_cols_##SFX(c + j, ldc, a, lda, b + j, ldb, m, k, mlast, accumulate, 1, a_trans);    \
    }                                                                                              \
                                                                                                   \
    __attribute__((target("avx512f"))) static void nn_##SFX(                                       \
        T *c, int64_t ldc, const T *a, int64_t lda, bool a_trans, const T *b, int64_t ldb, int m,  \
        int n, int k, bool accumulate)                                                             \
    {                                                                                              \
        if (a_trans)                                                                               \
            nn_body_##SFX(c, ldc, a, lda, b, ldb, m, n, k, accumulate, true);                      \
        else                                                                                       \
            nn_body_##SFX(c, ldc, a, lda, b, ldb, m, n, k, accumulate, false);                     \
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

/* A long shared dimension (the linear layer 3136 -> 128) goes in panels of at most NT_PANEL
 * columns, each added into c in turn: a panel of both operands stays in L2 while every tile
 * runs over it, instead of b coming from L3 once per 4 rows of a (64x128x3136: 72 -> 100
 * GFLOP/s). f32 only: each panel's sum is rounded into c, so the f32 results move by a few
 * units of rounding when k > NT_PANEL; f64 (gradient checks) keeps one pass. */
#define NT_PANEL 768

void eng_small_gemm_nt_f32(float *c, int64_t ldc, const float *a, int64_t lda, const float *b,
                           int64_t ldb, int m, int n, int k)
{
#ifdef HAVE_AVX512_BODIES
    if (eng_simd_level() == ENG_SIMD_AVX512) {
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
