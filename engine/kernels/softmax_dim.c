#include "softmax_dim.h"

#include <math.h>

/* Element j of the line (o, i): x[(o * k + j) * inner + i]. */
#define DEFINE_SOFTMAX_DIM(T, SFX)                                                                 \
    void eng_softmax_dim_forward_##SFX(T *y, const T *x, int64_t outer, int64_t k, int64_t inner,  \
                                       bool take_log)                                              \
    {                                                                                              \
        for (int64_t o = 0; o < outer; o++)                                                        \
            for (int64_t i = 0; i < inner; i++) {                                                  \
                const T *xl = x + o * k * inner + i;                                               \
                T *yl = y + o * k * inner + i;                                                     \
                double m = (double)xl[0], s = 0;                                                   \
                for (int64_t j = 1; j < k; j++)                                                    \
                    if ((double)xl[j * inner] > m)                                                 \
                        m = (double)xl[j * inner];                                                 \
                for (int64_t j = 0; j < k; j++)                                                    \
                    s += exp((double)xl[j * inner] - m);                                           \
                double lse = m + log(s);                                                           \
                for (int64_t j = 0; j < k; j++) {                                                  \
                    double v = (double)xl[j * inner] - lse;                                        \
                    yl[j * inner] = (T)(take_log ? v : exp(v));                                    \
                }                                                                                  \
            }                                                                                      \
    }                                                                                              \
    void eng_softmax_dim_backward_##SFX(T *dx, const T *dy, const T *y, int64_t outer, int64_t k,  \
                                        int64_t inner, bool take_log)                              \
    {                                                                                              \
        for (int64_t o = 0; o < outer; o++)                                                        \
            for (int64_t i = 0; i < inner; i++) {                                                  \
                int64_t base = o * k * inner + i;                                                  \
                double s = 0;                                                                      \
                for (int64_t j = 0; j < k; j++) {                                                  \
                    double g = (double)dy[base + j * inner];                                       \
                    s += take_log ? g : g * (double)y[base + j * inner];                           \
                }                                                                                  \
                for (int64_t j = 0; j < k; j++) {                                                  \
                    int64_t at = base + j * inner;                                                 \
                    double g = (double)dy[at], v = (double)y[at];                                  \
                    dx[at] = (T)(take_log ? g - exp(v) * s : v * (g - s));                         \
                }                                                                                  \
            }                                                                                      \
    }

DEFINE_SOFTMAX_DIM(float, f32)
DEFINE_SOFTMAX_DIM(double, f64)
