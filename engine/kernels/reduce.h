/* The reductions adjoint to the bias broadcasts of broadcast.h. f32 sums accumulate in double.
 *
 * rows:   dbias [cols] += sum over rows of dy [rows,cols]
 * planes: dbias [channels] += sum over plane of dy [channels,plane] */
#ifndef ENGINE_KERNELS_REDUCE_H
#define ENGINE_KERNELS_REDUCE_H

#include <stdint.h>

void eng_sum_rows_f32(float *dbias, const float *dy, int64_t rows, int64_t cols);
void eng_sum_rows_f64(double *dbias, const double *dy, int64_t rows, int64_t cols);

void eng_sum_planes_f32(float *dbias, const float *dy, int64_t channels, int64_t plane);
void eng_sum_planes_f64(double *dbias, const double *dy, int64_t channels, int64_t plane);

/* Sum of n elements, accumulated in double. */
double eng_sum_f32(const float *x, int64_t n);
double eng_sum_f64(const double *x, int64_t n);

/* Index of the first NaN or infinite element of x[n]; -1 when every element is finite. */
int64_t eng_find_nonfinite_f32(const float *x, int64_t n);
int64_t eng_find_nonfinite_f64(const double *x, int64_t n);

#endif
