#include "softmax.h"

#include <math.h>

/* The row's log-sum-exp is computed in double for both dtypes: the loss is what the gradient
 * checker differentiates, and a float32 sum would add round-off it has to account for. */
#define DEFINE_SOFTMAX_XENT(T, SFX)                                                                \
    double eng_softmax_xent_forward_##SFX(T *probs, const T *logits, const int64_t *labels,        \
                                          int64_t n, int64_t k)                                    \
    {                                                                                              \
        double total = 0;                                                                          \
        for (int64_t i = 0; i < n; i++) {                                                          \
            const T *z = logits + i * k;                                                           \
            T *p = probs + i * k;                                                                  \
            double m = z[0];                                                                       \
            for (int64_t j = 1; j < k; j++)                                                        \
                if (z[j] > m)                                                                      \
                    m = z[j];                                                                      \
            double s = 0;                                                                          \
            for (int64_t j = 0; j < k; j++)                                                        \
                s += exp((double)z[j] - m);                                                        \
            double lse = m + log(s);                                                               \
            for (int64_t j = 0; j < k; j++)                                                        \
                p[j] = (T)exp((double)z[j] - lse);                                                 \
            total += lse - (double)z[labels[i]];                                                   \
        }                                                                                          \
        return n > 0 ? total / (double)n : 0.0;                                                    \
    }                                                                                              \
    void eng_softmax_xent_backward_##SFX(T *dlogits, const T *probs, const int64_t *labels,        \
                                         int64_t n, int64_t k, double scale)                       \
    {                                                                                              \
        T f = (T)(scale / (double)n);                                                              \
        for (int64_t i = 0; i < n; i++) {                                                          \
            for (int64_t j = 0; j < k; j++)                                                        \
                dlogits[i * k + j] = probs[i * k + j] * f;                                         \
            dlogits[i * k + labels[i]] -= f;                                                       \
        }                                                                                          \
    }

DEFINE_SOFTMAX_XENT(float, f32)
DEFINE_SOFTMAX_XENT(double, f64)
