#include "gelu.h"

#include <math.h>

#define GELU_K 0.044715
#define SQRT_2_OVER_PI 0.79788456080286535588 /* sqrt(2 / pi) */
#define INV_SQRT_2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794 /* 1 / sqrt(2 pi) */

/* Both dtypes evaluate in double (erf and tanh of a float argument, rounded once). */
static double gelu(double x, bool tanh_approx)
{
    if (tanh_approx)
        return 0.5 * x * (1 + tanh(SQRT_2_OVER_PI * (x + GELU_K * x * x * x)));
    return 0.5 * x * (1 + erf(x * INV_SQRT_2));
}

static double gelu_derivative(double x, bool tanh_approx)
{
    if (tanh_approx) {
        double t = tanh(SQRT_2_OVER_PI * (x + GELU_K * x * x * x));
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * GELU_K * x * x);
    }
    return 0.5 * (1 + erf(x * INV_SQRT_2)) + x * exp(-0.5 * x * x) * INV_SQRT_2PI;
}

#define DEFINE_GELU(T, SFX)                                                                        \
    void eng_gelu_forward_##SFX(T *y, const T *x, int64_t n, bool tanh_approx)                     \
    {                                                                                              \
        for (int64_t i = 0; i < n; i++)                                                            \
            y[i] = (T)gelu((double)x[i], tanh_approx);                                             \
    }                                                                                              \
    void eng_gelu_backward_##SFX(T *dx, const T *dy, const T *x, int64_t n, bool tanh_approx)      \
    {                                                                                              \
        for (int64_t i = 0; i < n; i++)                                                            \
            dx[i] = (T)((double)dy[i] * gelu_derivative((double)x[i], tanh_approx));               \
    }

DEFINE_GELU(float, f32)
DEFINE_GELU(double, f64)
