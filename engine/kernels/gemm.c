#include "gemm.h"

#include <cblas.h>
#include <string.h>

#include "cpu.h"
#include "small_gemm.h"

/* f32 products with alpha 1, beta 0 or 1 and every dimension at most SMALL_DIM (what a
 * convolution's im2col path makes per image or group of images: 32 x 144 by 210 for the
 * ResNet's strided layer on 28x28) go to the AVX-512 small-product bodies (small_gemm.c)
 * where the processor has AVX-512F: OpenBLAS's packing and per-call overheads dominate at these
 * sizes (that layer's backward took 3x longer). nn and tn run their vectors along c's rows:
 * they take rows of at least LONG_ROW, or of at least 32 whose last vector is mostly used
 * (wasted lanes under 15%: 56 and 98 columns run 1.4 to 1.5x OpenBLAS's speed, while 49, a 7x7
 * plane, and 16 run at 0.8 to 0.9x). nt runs as nn on b packed transposed from 32 rows and
 * 32 columns of c on, whatever the shared dimension (64 x 288 by 56: 1.9x OpenBLAS, 64 x 64 by
 * 100: 2x), and below as dot products along the shared dimension, summed across lanes, which
 * need at least LONG_ROW of it. */
#define SMALL_DIM 1024
#define LONG_ROW 128

static bool rows_fit(int n)
{
    int vecs = (n + 15) / 16;
    return n >= LONG_ROW || (n >= 32 && 100 * n >= 85 * 16 * vecs);
}

static bool small_gemm_f32(float *c, const float *a, const float *b, int m, int n, int k,
                           bool trans_a, bool trans_b, float alpha, float beta)
{
    if (eng_simd_level() != ENG_SIMD_AVX512 || alpha != 1.0f || (beta != 0.0f && beta != 1.0f) ||
        (trans_a && trans_b) || m > SMALL_DIM || n > SMALL_DIM || k > SMALL_DIM ||
        !(trans_b ? (m >= 32 && n >= 32) || k >= LONG_ROW : rows_fit(n)))
        return false;
    bool accumulate = beta == 1.0f;
    if (!trans_a && !trans_b) {
        if (accumulate)
            eng_small_gemm_nn_acc_f32(c, n, a, k, b, n, m, n, k);
        else
            eng_small_gemm_nn_f32(c, n, a, b, n, m, n, k);
        return true;
    }
    if (trans_a) {
        if (accumulate)
            eng_small_gemm_tn_acc_f32(c, n, a, m, b, n, m, n, k);
        else
            eng_small_gemm_tn_f32(c, n, a, m, b, n, m, n, k);
        return true;
    }
    if (!accumulate) /* beta 0: c's old contents, NaNs included, do not count */
        memset(c, 0, sizeof(float) * (size_t)m * (size_t)n);
    eng_small_gemm_nt_f32(c, n, a, k, b, k, m, n, k);
    return true;
}

void eng_gemm_f32(float *c, const float *a, const float *b, int m, int n, int k, bool trans_a,
                  bool trans_b, float alpha, float beta)
{
    if (small_gemm_f32(c, a, b, m, n, k, trans_a, trans_b, alpha, beta))
        return;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, trans_a ? m : k, b,
                trans_b ? k : n, beta, c, n);
}

void eng_gemm_f64(double *c, const double *a, const double *b, int m, int n, int k, bool trans_a,
                  bool trans_b, double alpha, double beta)
{
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, trans_a ? m : k, b,
                trans_b ? k : n, beta, c, n);
}

/* Remembered so that switching between the engine's threads and OpenBLAS's (eng_parallel_run,
 * the model's serial path) costs nothing when the count does not change. */
static int blas_threads;

void eng_blas_set_threads(int n)
{
    if (n != blas_threads) {
        openblas_set_num_threads(n);
        blas_threads = n;
    }
}

int eng_blas_get_threads(void)
{
    return openblas_get_num_threads();
}
