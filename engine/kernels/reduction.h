/* Reductions of one strided vector: n elements, element i at x[i * stride]. Results are
 * returned (no allocation, no failure path). f32 accumulates in double; f64 sums are
 * compensated (Neumaier) and f64 products accumulate in long double, so that a result is
 * within about one rounding of the exact value whatever n. Integer sums and products wrap
 * modulo 2^64, as PyTorch's int64 ones do.
 *
 *   sum, prod            of the n elements (n = 0: 0 and 1)
 *   sumsq_dev            sum of (x - mean)^2, the second pass of a two-pass variance
 *   norm                 (sum |x|^p)^(1/p); p = INFINITY gives max |x|, p = 0 the count of
 *                        nonzeros (torch.norm)
 *   logsumexp            m + log(sum exp(x - m)), m = max x (-inf for n = 0)
 *   argmax / argmin      position of the first largest / smallest element; a NaN counts as
 *                        larger and smaller than everything (the first NaN wins, as in
 *                        torch.max). n must be > 0. */
#ifndef ENGINE_KERNELS_REDUCTION_H
#define ENGINE_KERNELS_REDUCTION_H

#include <stdint.h>

double eng_vsum_f32(const float *x, int64_t n, int64_t stride);
double eng_vsum_f64(const double *x, int64_t n, int64_t stride);
int64_t eng_vsum_i64(const int64_t *x, int64_t n, int64_t stride);
int64_t eng_vsum_i32(const int32_t *x, int64_t n, int64_t stride);
int64_t eng_vsum_u8(const uint8_t *x, int64_t n, int64_t stride);

double eng_vprod_f32(const float *x, int64_t n, int64_t stride);
double eng_vprod_f64(const double *x, int64_t n, int64_t stride);
int64_t eng_vprod_i64(const int64_t *x, int64_t n, int64_t stride);
int64_t eng_vprod_i32(const int32_t *x, int64_t n, int64_t stride);
int64_t eng_vprod_u8(const uint8_t *x, int64_t n, int64_t stride);

double eng_vsumsq_dev_f32(const float *x, int64_t n, int64_t stride, double mean);
double eng_vsumsq_dev_f64(const double *x, int64_t n, int64_t stride, double mean);

double eng_vnorm_f32(const float *x, int64_t n, int64_t stride, double p);
double eng_vnorm_f64(const double *x, int64_t n, int64_t stride, double p);

double eng_vlogsumexp_f32(const float *x, int64_t n, int64_t stride);
double eng_vlogsumexp_f64(const double *x, int64_t n, int64_t stride);

int64_t eng_vargmax_f32(const float *x, int64_t n, int64_t stride);
int64_t eng_vargmax_f64(const double *x, int64_t n, int64_t stride);
int64_t eng_vargmax_i64(const int64_t *x, int64_t n, int64_t stride);
int64_t eng_vargmax_i32(const int32_t *x, int64_t n, int64_t stride);
int64_t eng_vargmax_u8(const uint8_t *x, int64_t n, int64_t stride);
int64_t eng_vargmin_f32(const float *x, int64_t n, int64_t stride);
int64_t eng_vargmin_f64(const double *x, int64_t n, int64_t stride);
int64_t eng_vargmin_i64(const int64_t *x, int64_t n, int64_t stride);
int64_t eng_vargmin_i32(const int32_t *x, int64_t n, int64_t stride);
int64_t eng_vargmin_u8(const uint8_t *x, int64_t n, int64_t stride);

#endif
