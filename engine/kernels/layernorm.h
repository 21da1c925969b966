/* Layer normalisation (Ba, Kiros and Hinton 2016; torch.nn.LayerNorm) of x [rows, d]: each
 * row normalised over its d values with its mean and biased variance, in double.
 *
 *   forward:  y = (x - mean) * invstd * gamma + beta; gamma, beta [d] [optional]: NULL = 1, 0
 *   backward: with xhat = (x - mean) * invstd and gg = dy * gamma,
 *             dgamma [d] += sum over rows dy * xhat, dbeta [d] += sum over rows dy ([optional])
 *             dx = invstd * (gg - mean(gg) - xhat * mean(gg * xhat))  ([optional])
 * Both recompute each row's statistics from x. */
#ifndef ENGINE_KERNELS_LAYERNORM_H
#define ENGINE_KERNELS_LAYERNORM_H

#include <stdint.h>

void eng_layernorm_forward_f32(float *y, const float *x, const float *gamma, const float *beta,
                               int64_t rows, int64_t d, double eps);
void eng_layernorm_forward_f64(double *y, const double *x, const double *gamma, const double *beta,
                               int64_t rows, int64_t d, double eps);
void eng_layernorm_backward_f32(float *dx, float *dgamma, float *dbeta, const float *dy,
                                const float *x, const float *gamma, int64_t rows, int64_t d,
                                double eps);
void eng_layernorm_backward_f64(double *dx, double *dgamma, double *dbeta, const double *dy,
                                const double *x, const double *gamma, int64_t rows, int64_t d,
                                double eps);

#endif
