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

/* ---- cache-blocked training passes (and their building blocks, for fused layers) ----
 * A block of channels [c0, c1) is n*(c1-c0) rows of s values. The training kernels take x
 * block by block, each block sized by eng_batchnorm_block_channels to stay in the L2 cache
 * between the pass that first reads it and the next ones, so that x (and dy) cross memory
 * once instead of two or three times. Per channel, the arithmetic and its order are those of
 * the unblocked kernels above: the results are the same bit for bit.
 *
 *   block_channels: channels per block for one [n, ., s] tensor of elem_size-byte values
 *   stats_range:     eng_batchnorm_stats over channels [c0, c1) only (mean, var [c] written
 *                    there only)
 *   normalise_range: eng_batchnorm_forward over [c0, c1); relu: y = relu(y) as
 *                    eng_relu_forward (NaN stays NaN), for a fused BatchNorm -> ReLU
 *   backward_range:  eng_batchnorm_backward over [c0, c1); relu_y [optional]: dy is the
 *                    gradient of relu(y) with y this layer's output (or relu's, the same
 *                    sign), so that g = y > 0 ? dy : 0 (relu's backward fused in)
 *   train_forward:   training forward: mean, var (biased), invstd = 1 / sqrt(var + eps) [c]
 *                    [out] and y (relu as above), block by block
 *   train_backward:  backward with the batch's statistics, recomputed from x block by block
 *                    (mean, invstd [c] [out] are written as scratch), relu_y as above
 *   train_backward_given: train_backward with the statistics given (mean, invstd [c] [in], as
 *                    train_forward wrote them for this x): no pass over x for them
 *   relu_mask_words: the uint16 words of a ReLU mask for [n, c, s]: w = ceil(s / 16) a row,
 *                    bit t of word (i * c + ch) * w + k for value 16 * k + t of row (i, ch)
 *   train_forward_masked: train_forward with relu, and relu_mask [relu_mask_words] [out]: y > 0
 *   train_backward_masked: train_backward_given with relu_y's place taken by that mask (the
 *                    same results bit for bit; a sixteenth of the bytes to read) */
int64_t eng_batchnorm_block_channels(int64_t n, int64_t s, int64_t elem_size);

void eng_batchnorm_stats_range_f32(double *mean, double *var, const float *x, int64_t n, int64_t c,
                                   int64_t s, int64_t c0, int64_t c1);
void eng_batchnorm_stats_range_f64(double *mean, double *var, const double *x, int64_t n, int64_t c,
                                   int64_t s, int64_t c0, int64_t c1);
void eng_batchnorm_normalise_range_f32(float *y, const float *x, const double *mean,
                                       const double *invstd, const float *gamma, const float *beta,
                                       int64_t n, int64_t c, int64_t s, int64_t c0, int64_t c1,
                                       bool relu);
void eng_batchnorm_normalise_range_f64(double *y, const double *x, const double *mean,
                                       const double *invstd, const double *gamma,
                                       const double *beta, int64_t n, int64_t c, int64_t s,
                                       int64_t c0, int64_t c1, bool relu);
void eng_batchnorm_backward_range_f32(float *dx, float *dgamma, float *dbeta, const float *dy,
                                      const float *x, const float *relu_y, const double *mean,
                                      const double *invstd, const float *gamma, int64_t n,
                                      int64_t c, int64_t s, int64_t c0, int64_t c1,
                                      bool batch_stats);
void eng_batchnorm_backward_range_f64(double *dx, double *dgamma, double *dbeta, const double *dy,
                                      const double *x, const double *relu_y, const double *mean,
                                      const double *invstd, const double *gamma, int64_t n,
                                      int64_t c, int64_t s, int64_t c0, int64_t c1,
                                      bool batch_stats);

void eng_batchnorm_train_forward_f32(float *y, double *mean, double *var, double *invstd,
                                     const float *x, const float *gamma, const float *beta,
                                     double eps, int64_t n, int64_t c, int64_t s, bool relu);
void eng_batchnorm_train_forward_f64(double *y, double *mean, double *var, double *invstd,
                                     const double *x, const double *gamma, const double *beta,
                                     double eps, int64_t n, int64_t c, int64_t s, bool relu);
void eng_batchnorm_train_backward_f32(float *dx, float *dgamma, float *dbeta, double *mean,
                                      double *invstd, const float *dy, const float *x,
                                      const float *relu_y, const float *gamma, double eps,
                                      int64_t n, int64_t c, int64_t s);
void eng_batchnorm_train_backward_f64(double *dx, double *dgamma, double *dbeta, double *mean,
                                      double *invstd, const double *dy, const double *x,
                                      const double *relu_y, const double *gamma, double eps,
                                      int64_t n, int64_t c, int64_t s);
void eng_batchnorm_train_backward_given_f32(float *dx, float *dgamma, float *dbeta,
                                            const double *mean, const double *invstd,
                                            const float *dy, const float *x, const float *relu_y,
                                            const float *gamma, int64_t n, int64_t c, int64_t s);
void eng_batchnorm_train_backward_given_f64(double *dx, double *dgamma, double *dbeta,
                                            const double *mean, const double *invstd,
                                            const double *dy, const double *x, const double *relu_y,
                                            const double *gamma, int64_t n, int64_t c, int64_t s);
int64_t eng_batchnorm_relu_mask_words(int64_t n, int64_t c, int64_t s);
void eng_batchnorm_train_forward_masked_f32(float *y, uint16_t *relu_mask, double *mean,
                                            double *var, double *invstd, const float *x,
                                            const float *gamma, const float *beta, double eps,
                                            int64_t n, int64_t c, int64_t s);
void eng_batchnorm_train_backward_masked_f32(float *dx, float *dgamma, float *dbeta,
                                             const double *mean, const double *invstd,
                                             const float *dy, const float *x,
                                             const uint16_t *relu_mask, const float *gamma,
                                             int64_t n, int64_t c, int64_t s);

/* Two BatchNorms in training whose outputs are summed and rectified (a residual block's last
 * BatchNorm and its shortcut's, then the ReLU after the residual: engine/model_residual.c):
 *   y = relu(bn_a(x_a) + bn_b(x_b)), relu_mask: y > 0 (eng_batchnorm_train_forward_masked_f32's
 * layout), each BatchNorm's mean, var and invstd written as eng_batchnorm_train_forward_f32
 * writes them; bit for bit the two forwards (y not relu), then eng_add_relu_mask_f32 on their
 * outputs, which are not written. In blocks of channels sized so that a block of both inputs
 * and of y stays in L2 between the statistics and the output pass: each input is read from
 * memory once. */
typedef struct eng_batchnorm_train_f32 {
    const float *x, *gamma, *beta; /* gamma, beta [optional] */
    double eps;
    double *mean, *var, *invstd; /* [c] out */
} eng_batchnorm_train_f32;
void eng_batchnorm_train_add_relu_f32(float *y, uint16_t *relu_mask,
                                      const eng_batchnorm_train_f32 *a,
                                      const eng_batchnorm_train_f32 *b, int64_t n, int64_t c,
                                      int64_t s);

#endif
