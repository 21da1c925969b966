/* Softmax and log-softmax along one dimension of a contiguous tensor viewed as
 * x [outer, k, inner] (k: the size of that dimension). Max-shifted, sums in double.
 *
 *   softmax:      y = exp(x - max) / sum exp(x - max);   dx = y * (dy - sum(dy * y))
 *   log_softmax:  y = x - logsumexp(x);                  dx = dy - exp(y) * sum(dy)
 * sums run along k; backward overwrites dx from dy and the forward's y. */
#ifndef ENGINE_KERNELS_SOFTMAX_DIM_H
#define ENGINE_KERNELS_SOFTMAX_DIM_H

#include <stdbool.h>
#include <stdint.h>

void eng_softmax_dim_forward_f32(float *y, const float *x, int64_t outer, int64_t k, int64_t inner,
                                 bool take_log);
void eng_softmax_dim_forward_f64(double *y, const double *x, int64_t outer, int64_t k,
                                 int64_t inner, bool take_log);
void eng_softmax_dim_backward_f32(float *dx, const float *dy, const float *y, int64_t outer,
                                  int64_t k, int64_t inner, bool take_log);
void eng_softmax_dim_backward_f64(double *dx, const double *dy, const double *y, int64_t outer,
                                  int64_t k, int64_t inner, bool take_log);

#endif
