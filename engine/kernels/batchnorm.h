/* Batch normalisation (Ioffe and Szegedy 2015; torch.nn.BatchNorm1d/2d) over x [n,c,s]: each
 * channel c is normalised over its n*s values (s = H*W for 2d, L or 1 for 1d). Per-channel
 * statistics are double for both dtypes; f32 sums accumulate in double.
 *
 *   stats:    mean [c], var [c] = the biased (1/(n*s)) variance, two passes
 *   forward:  y = (x - mean[c]) * invstd[c] * gamma[c] + beta[c]; gamma, beta [optional]:
 *             NULL means 1 and 0 (affine=False)
 *   backward: with xhat = (x - mean) * invstd and g = dy,
 *             dgamma [c] += sum g * xhat, dbeta [c] += sum g   ([optional] NULL: skipped)
 *             dx = gamma * invstd * (g - mean(g) - xhat * mean(g * xhat))   batch statistics
 *             dx = gamma * invstd * g                                        fixed statistics
 *             (dx [optional]: NULL skips it). batch_stats says whether mean and invstd were
 *             the batch's own (training), whose dependence on x gives the two mean terms. */
#ifndef ENGINE_KERNELS_BATCHNORM_H
#define ENGINE_KERNELS_BATCHNORM_H

#include <stdbool.h>
#include <stdint.h>

void eng_batchnorm_stats_f32(double *mean, double *var, const float *x, int64_t n, int64_t c,
                             int64_t s);
void eng_batchnorm_stats_f64(double *mean, double *var, const double *x, int64_t n, int64_t c,
                             int64_t s);

void eng_batchnorm_forward_f32(float *y, const float *x, const double *mean, const double *invstd,
                               const float *gamma, const float *beta, int64_t n, int64_t c,
                               int64_t s);
void eng_batchnorm_forward_f64(double *y, const double *x, const double *mean, const double *invstd,
                               const double *gamma, const double *beta, int64_t n, int64_t c,
                               int64_t s);

void eng_batchnorm_backward_f32(float *dx, float *dgamma, float *dbeta, const float *dy,
                                const float *x, const double *mean, const double *invstd,
                                const float *gamma, int64_t n, int64_t c, int64_t s,
                                bool batch_stats);
void eng_batchnorm_backward_f64(double *dx, double *dgamma, double *dbeta, const double *dy,
                                const double *x, const double *mean, const double *invstd,
                                const double *gamma, int64_t n, int64_t c, int64_t s,
                                bool batch_stats);

#endif
