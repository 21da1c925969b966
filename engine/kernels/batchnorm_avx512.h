/* AVX-512F bodies of the batch-normalisation kernels, for batchnorm.c's dispatch: same
 * contracts as eng_batchnorm_stats/normalise/backward_range_f32 and _f64 in batchnorm.h. The f32
 * training kernels eng_batchnorm_train_forward_avx512_f32 and train_backward_avx512_f32 (that of
 * eng_batchnorm_train_backward_given_f32) are in batchnorm_train_avx512.c: blocks of channels
 * that stay in L2 between their passes, swept sample by sample. Sums accumulate in 8-lane
 * partial sums (the plain loops' single running sum is a chain of dependent additions, 4 cycles
 * an element): the statistics differ from the plain bodies' by double rounding; the f32
 * backward's gradient sums add f32 partial sums of up to 256 values in double. Defined on x86-64
 * only; call them only when eng_simd_level() is ENG_SIMD_AVX512. */
#ifndef ENGINE_KERNELS_BATCHNORM_AVX512_H
#define ENGINE_KERNELS_BATCHNORM_AVX512_H

#include <stdbool.h>
#include <stdint.h>

#include "batchnorm.h"

void eng_batchnorm_stats_avx512_f32(double *mean, double *var, const float *x, int64_t n, int64_t c,
                                    int64_t s, int64_t c0, int64_t c1);
void eng_batchnorm_stats_avx512_f64(double *mean, double *var, const double *x, int64_t n,
                                    int64_t c, int64_t s, int64_t c0, int64_t c1);
void eng_batchnorm_forward_avx512_f32(float *y, const float *x, const double *mean,
                                      const double *invstd, const float *gamma, const float *beta,
                                      int64_t n, int64_t c, int64_t s, int64_t c0, int64_t c1,
                                      bool relu);
void eng_batchnorm_forward_avx512_f64(double *y, const double *x, const double *mean,
                                      const double *invstd, const double *gamma, const double *beta,
                                      int64_t n, int64_t c, int64_t s, int64_t c0, int64_t c1,
                                      bool relu);
void eng_batchnorm_backward_avx512_f32(float *dx, float *dgamma, float *dbeta, const float *dy,
                                       const float *x, const float *relu_y, const double *mean,
                                       const double *invstd, const float *gamma, int64_t n,
                                       int64_t c, int64_t s, int64_t c0, int64_t c1,
                                       bool batch_stats);
void eng_batchnorm_backward_avx512_f64(double *dx, double *dgamma, double *dbeta, const double *dy,
                                       const double *x, const double *relu_y, const double *mean,
                                       const double *invstd, const double *gamma, int64_t n,
                                       int64_t c, int64_t s, int64_t c0, int64_t c1,
                                       bool batch_stats);
void eng_batchnorm_train_forward_avx512_f32(float *y, uint16_t *relu_mask, double *mean,
                                            double *var, double *invstd, const float *x,
                                            const float *gamma, const float *beta, double eps,
                                            int64_t n, int64_t c, int64_t s, bool relu);
void eng_batchnorm_train_backward_avx512_f32(float *dx, float *dgamma, float *dbeta,
                                             const double *mean, const double *invstd,
                                             const float *dy, const float *x, const float *relu_y,
                                             const uint16_t *relu_mask, const float *gamma,
                                             int64_t n, int64_t c, int64_t s);
void eng_batchnorm_train_add_relu_avx512_f32(float *y, uint16_t *relu_mask,
                                             const eng_batchnorm_train_f32 *a,
                                             const eng_batchnorm_train_f32 *b, int64_t n, int64_t c,
                                             int64_t s);

#endif
