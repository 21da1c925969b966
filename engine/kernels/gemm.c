#include "gemm.h"

#include <cblas.h>


void eng_gemm_f32(float *c, const float *a, const float *b, int m, int n, int k, bool trans_a,
                  bool trans_b, float alpha, float beta)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, trans_a ? m : k, b,
                trans_b ? k : n, beta, c, n);
}

void eng_gemm_f64(double *c, const double *a, const double *b, int m, int n, int k,
                  bool trans_a, bool trans_b, double alpha, double beta)
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
