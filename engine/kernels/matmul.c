#include "matmul.h"

#include <cblas.h>

void eng_matmul_f32(float *c, int ldc, const float *a, int lda, bool trans_a, const float *b,
                    int ldb, bool trans_b, int m, int n, int k)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
}

void eng_matmul_f64(double *c, int ldc, const double *a, int lda, bool trans_a, const double *b,
                    int ldb, bool trans_b, int m, int n, int k)
{
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, 1.0, a, lda, b, ldb, 0.0, c, ldc);
}

double eng_dot_f32(const float *a, int sa, const float *b, int sb, int n)
{
    return cblas_dsdot(n, a, sa, b, sb);
}

double eng_dot_f64(const double *a, int sa, const double *b, int sb, int n)
{
    return cblas_ddot(n, a, sa, b, sb);
}
