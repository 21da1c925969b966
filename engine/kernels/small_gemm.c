#include "small_gemm.h"

#include <cblas.h>
#include <stdbool.h>

#include "cpu.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX512_BODIES 1

static inline __mmask16 lanes(int left)
{
    return left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
}

/* R rows of c by 32 columns: 2R accumulators; each step of the inner dimension loads two
 * vectors of b and broadcasts R elements of a (a[r][p], or a[p][r] when a is given
 * transposed). b's 32-column block stays in L1 across the row tiles. */
static inline __attribute__((always_inline, target("avx512f"))) void
nn_tile(float *c, int64_t ldc, const float *a, int64_t lda, bool a_trans, const float *b,
        int64_t ldb, int k, int j, __mmask16 m0, __mmask16 m1, int rows, bool accumulate)
{
    __m512 acc[8][2];
    for (int r = 0; r < rows; r++) {
        acc[r][0] = accumulate ? _mm512_maskz_loadu_ps(m0, c + r * ldc + j) : _mm512_setzero_ps();
        acc[r][1] = accumulate ? _mm512_maskz_loadu_ps(m1, c + r * ldc + j + 16)
                               : _mm512_setzero_ps();
    }
    for (int p = 0; p < k; p++) {
        __m512 b0 = _mm512_maskz_loadu_ps(m0, b + p * ldb + j);
        __m512 b1 = _mm512_maskz_loadu_ps(m1, b + p * ldb + j + 16);
        for (int r = 0; r < rows; r++) {
            __m512 av = _mm512_set1_ps(a_trans ? a[p * lda + r] : a[r * lda + p]);
            acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
        }
    }
    for (int r = 0; r < rows; r++) {
        _mm512_mask_storeu_ps(c + r * ldc + j, m0, acc[r][0]);
        _mm512_mask_storeu_ps(c + r * ldc + j + 16, m1, acc[r][1]);
    }
}

static inline __attribute__((always_inline, target("avx512f"))) void
nn_body(float *c, int64_t ldc, const float *a, int64_t lda, bool a_trans, const float *b,
        int64_t ldb, int m, int n, int k, bool accumulate)
{
    for (int j = 0; j < n; j += 32) {
        __mmask16 m0 = lanes(n - j), m1 = lanes(n - j - 16);
        int i = 0;
        for (; i + 8 <= m; i += 8)
            nn_tile(c + i * ldc, ldc, a_trans ? a + i : a + i * lda, lda, a_trans, b, ldb, k, j,
                    m0, m1, 8, accumulate);
        for (; i < m; i++)
            nn_tile(c + i * ldc, ldc, a_trans ? a + i : a + i * lda, lda, a_trans, b, ldb, k, j,
                    m0, m1, 1, accumulate);
    }
}

__attribute__((target("avx512f"))) static void nn_avx512(float *c, int64_t ldc, const float *a,
                                                         const float *b, int64_t ldb, int m,
                                                         int n, int k)
{
    nn_body(c, ldc, a, k, false, b, ldb, m, n, k, false);
}

__attribute__((target("avx512f"))) static void tn_acc_avx512(float *c, int64_t ldc,
                                                             const float *a, int64_t lda,
                                                             const float *b, int64_t ldb, int m,
                                                             int n, int k)
{
    nn_body(c, ldc, a, lda, true, b, ldb, m, n, k, true);
}

/* R rows of a against S rows of b: R * S accumulators along the shared dimension, summed
 * across lanes at the end and added to c. */
static inline __attribute__((always_inline, target("avx512f"))) void
nt_tile(float *c, int64_t ldc, const float *a, int64_t lda, const float *b, int64_t ldb, int k,
        int rows, int cols)
{
    __m512 acc[4][4];
    for (int r = 0; r < rows; r++)
        for (int s = 0; s < cols; s++)
            acc[r][s] = _mm512_setzero_ps();
    for (int p = 0; p < k; p += 16) {
        __mmask16 m = lanes(k - p);
        __m512 av[4], bv[4];
        for (int r = 0; r < rows; r++)
            av[r] = _mm512_maskz_loadu_ps(m, a + r * lda + p);
        for (int s = 0; s < cols; s++)
            bv[s] = _mm512_maskz_loadu_ps(m, b + s * ldb + p);
        for (int r = 0; r < rows; r++)
            for (int s = 0; s < cols; s++)
                acc[r][s] = _mm512_fmadd_ps(av[r], bv[s], acc[r][s]);
    }
    for (int r = 0; r < rows; r++)
        for (int s = 0; s < cols; s++)
            c[r * ldc + s] += _mm512_reduce_add_ps(acc[r][s]);
}

__attribute__((target("avx512f"))) static void nt_avx512(float *c, int64_t ldc, const float *a,
                                                         int64_t lda, const float *b,
                                                         int64_t ldb, int m, int n, int k)
{
    int i = 0;
    for (; i + 4 <= m; i += 4) {
        int j = 0;
        for (; j + 4 <= n; j += 4)
            nt_tile(c + i * ldc + j, ldc, a + i * lda, lda, b + j * ldb, ldb, k, 4, 4);
        for (; j < n; j++)
            nt_tile(c + i * ldc + j, ldc, a + i * lda, lda, b + j * ldb, ldb, k, 4, 1);
    }
    for (; i < m; i++)
        for (int j = 0; j < n; j++)
            nt_tile(c + i * ldc + j, ldc, a + i * lda, lda, b + j * ldb, ldb, k, 1, 1);
}
#endif

void eng_small_gemm_nn_f32(float *c, int64_t ldc, const float *a, const float *b, int64_t ldb,
                           int m, int n, int k)
{
#ifdef HAVE_AVX512_BODIES
    if (eng_simd_level() == ENG_SIMD_AVX512) {
        nn_avx512(c, ldc, a, b, ldb, m, n, k);
        return;
    }
#endif
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, (int)ldb,
                0.0f, c, (int)ldc);
}

void eng_small_gemm_nt_f32(float *c, int64_t ldc, const float *a, int64_t lda, const float *b,
                           int64_t ldb, int m, int n, int k)
{
#ifdef HAVE_AVX512_BODIES
    if (eng_simd_level() == ENG_SIMD_AVX512) {
        nt_avx512(c, ldc, a, lda, b, ldb, m, n, k);
        return;
    }
#endif
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, (int)lda, b,
                (int)ldb, 1.0f, c, (int)ldc);
}

void eng_small_gemm_tn_acc_f32(float *c, int64_t ldc, const float *a, int64_t lda,
                               const float *b, int64_t ldb, int m, int n, int k)
{
#ifdef HAVE_AVX512_BODIES
    if (eng_simd_level() == ENG_SIMD_AVX512) {
        tn_acc_avx512(c, ldc, a, lda, b, ldb, m, n, k);
        return;
    }
#endif
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, k, 1.0f, a, (int)lda, b,
                (int)ldb, 1.0f, c, (int)ldc);
}
