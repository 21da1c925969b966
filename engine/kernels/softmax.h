/* Softmax cross-entropy over a batch, as torch.nn.CrossEntropyLoss(reduction='mean').
 *
 *   logits [n,k], labels [n] in [0,k) (checked by the caller)
 *   forward writes probs [n,k] = softmax(logits) (max-shifted, so it never overflows) and
 *   returns mean_i(logsumexp(logits_i) - logits_i[label_i]), accumulated in double.
 *   backward overwrites dlogits [n,k] = scale * (probs - onehot(labels)) / n. */
#ifndef ENGINE_KERNELS_SOFTMAX_H
#define ENGINE_KERNELS_SOFTMAX_H

#include <stdint.h>

double eng_softmax_xent_forward_f32(float *probs, const float *logits, const int64_t *labels,
                                    int64_t n, int64_t k);
double eng_softmax_xent_forward_f64(double *probs, const double *logits, const int64_t *labels,
                                    int64_t n, int64_t k);
void eng_softmax_xent_backward_f32(float *dlogits, const float *probs, const int64_t *labels,
                                   int64_t n, int64_t k, double scale);
void eng_softmax_xent_backward_f64(double *dlogits, const double *probs, const int64_t *labels,
                                   int64_t n, int64_t k, double scale);

#endif
