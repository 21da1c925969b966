/* Row-major matrix products through OpenBLAS's cblas.
 *
 *   c [m,n] = alpha * op(a) @ op(b) + beta * c,  op(a) [m,k], op(b) [k,n]
 *
 * trans_a/trans_b say whether a/b are stored transposed: a is [k,m] when trans_a. */
#ifndef ENGINE_KERNELS_GEMM_H
#define ENGINE_KERNELS_GEMM_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include <stdbool.h>

void eng_gemm_f32(float *c, const float *a, const float *b, int m, int n, int k, bool trans_a,
                  bool trans_b, float alpha, float beta);
void eng_gemm_f64(double *c, const double *a, const double *b, int m, int n, int k, bool trans_a,
                  bool trans_b, double alpha, double beta);

/* Sets OpenBLAS's thread count (a call that does not change it costs nothing). Called from
 * one thread at a time (the caller of eng_parallel_run). */
void eng_blas_set_threads(int n);
int eng_blas_get_threads(void);

#pragma GCC visibility pop

#endif
