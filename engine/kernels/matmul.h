/* Strided matrix products through OpenBLAS, for tensor views:
 *
 *   c [m,n] = op(a) @ op(b),  op(a) [m,k], op(b) [k,n], row-major with leading dimensions
 *
 * a is stored [m,k] with rows lda apart, or [k,m] when trans_a (likewise b); c's rows are
 * ldc apart. Leading dimensions must be at least the stored row length and 1. */
#ifndef ENGINE_KERNELS_MATMUL_H
#define ENGINE_KERNELS_MATMUL_H

#include <stdbool.h>
#include <stdint.h>

void eng_matmul_f32(float *c, int ldc, const float *a, int lda, bool trans_a, const float *b,
                    int ldb, bool trans_b, int m, int n, int k);
void eng_matmul_f64(double *c, int ldc, const double *a, int lda, bool trans_a, const double *b,
                    int ldb, bool trans_b, int m, int n, int k);
/* sum a[i * sa] * b[i * sb] over n, accumulated in double (cblas_dsdot for f32). */
double eng_dot_f32(const float *a, int sa, const float *b, int sb, int n);
double eng_dot_f64(const double *a, int sa, const double *b, int sb, int n);

#endif
