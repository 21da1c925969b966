#include "activation.h"

#include <math.h>

#include "cpu.h"
#include "pointwise_avx512.h"

/* ReLU runs its AVX-512 body where the processor has one (the build targets baseline x86-64,
 * whose plain loops run 4 lanes). */
#if defined(__x86_64__) && defined(__GNUC__)
#define RELU_AVX512(call)                                                                          \
    if (eng_simd_level() == ENG_SIMD_AVX512) {                                                     \
        call;                                                                                      \
        return;                                                                                    \
    }
#else
#define RELU_AVX512(call)
#endif

#define DEFINE_ACTIVATIONS(T, SFX, TANH, EXP)                                                      \
    void eng_relu_forward_##SFX(T *restrict y, const T *restrict x, int64_t n)                     \
    {                                                                                              \
        RELU_AVX512(eng_relu_forward_avx512_##SFX(y, x, n))                                        \
        for (int64_t i = 0; i < n; i++)                                                            \
            y[i] = x[i] > 0 || x[i] != x[i] ? x[i] : (T)0; /* NaN stays NaN, as in PyTorch */      \
    }                                                                                              \
    void eng_relu_backward_##SFX(T *restrict dx, const T *restrict dy, const T *restrict x,        \
                                 int64_t n)                                                        \
    {                                                                                              \
        RELU_AVX512(eng_relu_backward_avx512_##SFX(dx, dy, x, n))                                  \
        /* Both operands loaded unconditionally so that the select vectorises (no branch on        \
         * random signs). */                                                                       \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T d = dy[i];                                                                           \
            dx[i] = x[i] > 0 ? d : (T)0;                                                           \
        }                                                                                          \
    }                                                                                              \
    void eng_relu_mask_##SFX(T *restrict d, const T *restrict x, int64_t n)                        \
    {                                                                                              \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T v = d[i];                                                                            \
            d[i] = x[i] > 0 ? v : (T)0;                                                            \
        }                                                                                          \
    }                                                                                              \
    void eng_leaky_relu_forward_##SFX(T *restrict y, const T *restrict x, int64_t n, double slope) \
    {                                                                                              \
        T s = (T)slope;                                                                            \
        for (int64_t i = 0; i < n; i++)                                                            \
            y[i] = x[i] > 0 ? x[i] : x[i] * s;                                                     \
    }                                                                                              \
    void eng_leaky_relu_backward_##SFX(T *restrict dx, const T *restrict dy, const T *restrict x,  \
                                       int64_t n, double slope)                                    \
    {                                                                                              \
        T s = (T)slope;                                                                            \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T d = dy[i];                                                                           \
            dx[i] = x[i] > 0 ? d : d * s;                                                          \
        }                                                                                          \
    }                                                                                              \
    void eng_tanh_forward_##SFX(T *restrict y, const T *restrict x, int64_t n)                     \
    {                                                                                              \
        for (int64_t i = 0; i < n; i++)                                                            \
            y[i] = TANH(x[i]);                                                                     \
    }                                                                                              \
    void eng_tanh_backward_##SFX(T *restrict dx, const T *restrict dy, const T *restrict y,        \
                                 int64_t n)                                                        \
    {                                                                                              \
        for (int64_t i = 0; i < n; i++)                                                            \
            dx[i] = dy[i] * ((T)1 - y[i] * y[i]);                                                  \
    }                                                                                              \
    void eng_relu_frozen_##SFX(T *restrict y, const T *restrict x_ref, const T *restrict x,        \
                               int64_t n, double slope)                                            \
    {                                                                                              \
        T s = (T)slope;                                                                            \
        if (s == 0) {                                                                              \
            /* a select between a load and zero vectorises (no branch to mispredict on a           \
             * random mask); a NaN stays NaN, as in the forward */                                 \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T v = x[i];                                                                        \
                y[i] = x_ref[i] > 0 || v != v ? v : (T)0;                                          \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        for (int64_t i = 0; i < n; i++)                                                            \
            y[i] = x_ref[i] > 0 ? x[i] : x[i] * s;                                                 \
    }                                                                                              \
    void eng_sigmoid_forward_##SFX(T *restrict y, const T *restrict x, int64_t n)                  \
    {                                                                                              \
        /* Two branches so that EXP never overflows. */                                            \
        for (int64_t i = 0; i < n; i++) {                                                          \
            if (x[i] >= 0) {                                                                       \
                y[i] = (T)1 / ((T)1 + EXP(-x[i]));                                                 \
            } else {                                                                               \
                T e = EXP(x[i]);                                                                   \
                y[i] = e / ((T)1 + e);                                                             \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    void eng_sigmoid_backward_##SFX(T *restrict dx, const T *restrict dy, const T *restrict y,     \
                                    int64_t n)                                                     \
    {                                                                                              \
        for (int64_t i = 0; i < n; i++)                                                            \
            dx[i] = dy[i] * y[i] * ((T)1 - y[i]);                                                  \
    }

DEFINE_ACTIVATIONS(float, f32, tanhf, expf)
DEFINE_ACTIVATIONS(double, f64, tanh, exp)
