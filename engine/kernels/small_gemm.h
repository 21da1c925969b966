/* Matrix products with a short inner dimension (nn, tn) or a small output summed over a long
 * one (nt): the Winograd path's and the linear layer's, where OpenBLAS's Haswell kernels and
 * call overheads leave speed behind (on this project's machine the nn body runs at 180-200
 * GFLOP/s against OpenBLAS's 90-100). AVX-512F bodies when eng_simd_level() allows them,
 * OpenBLAS otherwise. f32 and f64, row-major, explicit leading dimensions.
 *
 *   nn:     c [m][ldc]  = a [m][k] (lda = k) @ b [k][ldb]      (n columns of b and c)
 *   nn_acc: c [m][ldc] += a [m][lda] @ b [k][ldb]
 *   nt:     c [m][ldc] += a [m][lda] @ b [n][ldb]^T            (rows of length k)
 *   tn_acc: c [m][ldc] += a [k][lda]^T @ b [k][ldb]            (a's first m columns)
 *   tn:     c [m][ldc]  = a [k][lda]^T @ b [k][ldb]
 *
 * nn and tn compute each element of c as one chain of multiply-adds along the inner dimension
 * in order; so does nt in f32 with at least 32 rows and 32 columns of c (b packed
 * transposed), while smaller f32 nt and f64 nt sum lanes in a tree. */
#ifndef ENGINE_KERNELS_SMALL_GEMM_H
#define ENGINE_KERNELS_SMALL_GEMM_H

#include <stdint.h>

void eng_small_gemm_nn_f32(float *c, int64_t ldc, const float *a, const float *b, int64_t ldb,
                           int m, int n, int k);
void eng_small_gemm_nn_f64(double *c, int64_t ldc, const double *a, const double *b, int64_t ldb,
                           int m, int n, int k);
void eng_small_gemm_nn_acc_f32(float *c, int64_t ldc, const float *a, int64_t lda, const float *b,
                               int64_t ldb, int m, int n, int k);
void eng_small_gemm_tn_f32(float *c, int64_t ldc, const float *a, int64_t lda, const float *b,
                           int64_t ldb, int m, int n, int k);
void eng_small_gemm_tn_acc_f32(float *c, int64_t ldc, const float *a, int64_t lda, const float *b,
                               int64_t ldb, int m, int n, int k);
void eng_small_gemm_tn_acc_f64(double *c, int64_t ldc, const double *a, int64_t lda,
                               const double *b, int64_t ldb, int m, int n, int k);
void eng_small_gemm_nt_f32(float *c, int64_t ldc, const float *a, int64_t lda, const float *b,
                           int64_t ldb, int m, int n, int k);

void eng_small_gemm_nt_f64(double *c, int64_t ldc, const double *a, int64_t lda, const double *b,
                           int64_t ldb, int m, int n, int k);

#endif
