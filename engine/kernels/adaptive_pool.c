#include "adaptive_pool.h"

#include <string.h>

static int64_t start_index(int64_t i, int64_t out, int64_t in)
{
    return i * in / out;
}

static int64_t end_index(int64_t i, int64_t out, int64_t in)
{
    return ((i + 1) * in + out - 1) / out;
}

#define DEFINE_ADAPTIVE_AVGPOOL(T, SFX)                                                            \
    void eng_adaptive_avgpool2d_forward_##SFX(T *y, const T *x, int64_t planes, int64_t h,         \
                                              int64_t w, int64_t oh, int64_t ow)                   \
    {                                                                                              \
        for (int64_t p = 0; p < planes; p++)                                                       \
            for (int64_t i = 0; i < oh; i++) {                                                     \
                int64_t r0 = start_index(i, oh, h), r1 = end_index(i, oh, h);                      \
                for (int64_t j = 0; j < ow; j++) {                                                 \
                    int64_t c0 = start_index(j, ow, w), c1 = end_index(j, ow, w);                  \
                    double s = 0;                                                                  \
                    for (int64_t r = r0; r < r1; r++)                                              \
                        for (int64_t c = c0; c < c1; c++)                                          \
                            s += (double)x[(p * h + r) * w + c];                                   \
                    y[(p * oh + i) * ow + j] = (T)(s / (double)((r1 - r0) * (c1 - c0)));           \
                }                                                                                  \
            }                                                                                      \
    }                                                                                              \
    void eng_adaptive_avgpool2d_backward_##SFX(T *dx, const T *dy, int64_t planes, int64_t h,      \
                                               int64_t w, int64_t oh, int64_t ow)                  \
    {                                                                                              \
        memset(dx, 0, sizeof(T) * (size_t)(planes * h * w));                                       \
        for (int64_t p = 0; p < planes; p++)                                                       \
            for (int64_t i = 0; i < oh; i++) {                                                     \
                int64_t r0 = start_index(i, oh, h), r1 = end_index(i, oh, h);                      \
                for (int64_t j = 0; j < ow; j++) {                                                 \
                    int64_t c0 = start_index(j, ow, w), c1 = end_index(j, ow, w);                  \
                    T g =                                                                          \
                        (T)((double)dy[(p * oh + i) * ow + j] / (double)((r1 - r0) * (c1 - c0)));  \
                    for (int64_t r = r0; r < r1; r++)                                              \
                        for (int64_t c = c0; c < c1; c++)                                          \
                            dx[(p * h + r) * w + c] += g;                                          \
                }                                                                                  \
            }                                                                                      \
    }

DEFINE_ADAPTIVE_AVGPOOL(float, f32)
DEFINE_ADAPTIVE_AVGPOOL(double, f64)
