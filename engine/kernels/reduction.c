/* Strided vector reductions (see reduction.h). */
#include "reduction.h"

#include <math.h>

double eng_vsum_f32(const float *x, int64_t n, int64_t stride)
{
    double acc = 0;
    if (stride == 1)
        for (int64_t i = 0; i < n; i++)
            acc += x[i];
    else
        for (int64_t i = 0; i < n; i++)
            acc += x[i * stride];
    return acc;
}

/* Neumaier's variant of Kahan summation (Neumaier 1974): the rounding error of every
 * addition is kept in c, whichever operand is larger. */
double eng_vsum_f64(const double *x, int64_t n, int64_t stride)
{
    double s = 0, c = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = x[i * stride], t = s + v;
        c += fabs(s) >= fabs(v) ? (s - t) + v : (v - t) + s;
        s = t;
    }
    return s + c;
}

#define INT_SUM_PROD(SUM, PROD, T)                                                                 \
    int64_t SUM(const T *x, int64_t n, int64_t stride)                                             \
    {                                                                                              \
        uint64_t acc = 0;                                                                          \
        for (int64_t i = 0; i < n; i++)                                                            \
            acc += (uint64_t)(int64_t)x[i * stride];                                               \
        return (int64_t)acc;                                                                       \
    }                                                                                              \
    int64_t PROD(const T *x, int64_t n, int64_t stride)                                            \
    {                                                                                              \
        uint64_t acc = 1;                                                                          \
        for (int64_t i = 0; i < n; i++)                                                            \
            acc *= (uint64_t)(int64_t)x[i * stride];                                               \
        return (int64_t)acc;                                                                       \
    }

INT_SUM_PROD(eng_vsum_i64, eng_vprod_i64, int64_t)
INT_SUM_PROD(eng_vsum_i32, eng_vprod_i32, int32_t)
INT_SUM_PROD(eng_vsum_u8, eng_vprod_u8, uint8_t)

double eng_vprod_f32(const float *x, int64_t n, int64_t stride)
{
    double acc = 1;
    for (int64_t i = 0; i < n; i++)
        acc *= x[i * stride];
    return acc;
}

double eng_vprod_f64(const double *x, int64_t n, int64_t stride)
{
    long double acc = 1;
    for (int64_t i = 0; i < n; i++)
        acc *= x[i * stride];
    return (double)acc;
}

#define FLOAT_REDUCTIONS(SUMSQ, NORM, LSE, T)                                                      \
    double SUMSQ(const T *x, int64_t n, int64_t stride, double mean)                               \
    {                                                                                              \
        double s = 0, c = 0;                                                                       \
        for (int64_t i = 0; i < n; i++) {                                                          \
            double d = (double)x[i * stride] - mean, v = d * d, t = s + v;                         \
            c += s >= v ? (s - t) + v : (v - t) + s;                                               \
            s = t;                                                                                 \
        }                                                                                          \
        return s + c;                                                                              \
    }                                                                                              \
    double NORM(const T *x, int64_t n, int64_t stride, double p)                                   \
    {                                                                                              \
        double s = 0, c = 0;                                                                       \
        for (int64_t i = 0; i < n; i++) {                                                          \
            double a = fabs((double)x[i * stride]), v;                                             \
            if (isinf(p) || a != a) {                                                              \
                if (!(a <= s))                                                                     \
                    s = a;                                                                         \
                continue;                                                                          \
            }                                                                                      \
            v = p == 2 ? a * a : p == 1 ? a : p == 0 ? (a != 0) : pow(a, p);                       \
            double t = s + v;                                                                      \
            c += s >= v ? (s - t) + v : (v - t) + s;                                               \
            s = t;                                                                                 \
        }                                                                                          \
        s += c;                                                                                    \
        return isinf(p) || p == 1 || p == 0 ? s : p == 2 ? sqrt(s) : pow(s, 1 / p);                \
    }                                                                                              \
    double LSE(const T *x, int64_t n, int64_t stride)                                              \
    {                                                                                              \
        double m = -INFINITY, s = 0;                                                               \
        for (int64_t i = 0; i < n; i++) {                                                          \
            double v = x[i * stride];                                                              \
            if (!(v <= m))                                                                         \
                m = v;                                                                             \
        }                                                                                          \
        if (isinf(m) || m != m)                                                                    \
            return m;                                                                              \
        for (int64_t i = 0; i < n; i++)                                                            \
            s += exp((double)x[i * stride] - m);                                                   \
        return m + log(s);                                                                         \
    }

FLOAT_REDUCTIONS(eng_vsumsq_dev_f32, eng_vnorm_f32, eng_vlogsumexp_f32, float)
FLOAT_REDUCTIONS(eng_vsumsq_dev_f64, eng_vnorm_f64, eng_vlogsumexp_f64, double)

/* BETTER(v, b): v replaces the best b. For floats a NaN replaces anything and nothing
 * replaces a NaN (the scan stops at the first one). */
#define ARG(NAME, T, BETTER)                                                                       \
    int64_t NAME(const T *x, int64_t n, int64_t stride)                                            \
    {                                                                                              \
        int64_t best = 0;                                                                          \
        T b = x[0];                                                                                \
        for (int64_t i = 1; i < n && b == b; i++) {                                                \
            T v = x[i * stride];                                                                   \
            if (BETTER(v, b)) {                                                                    \
                b = v;                                                                             \
                best = i;                                                                          \
            }                                                                                      \
        }                                                                                          \
        return best;                                                                               \
    }
#define GREATER(v, b) ((v) != (v) || (v) > (b))
#define LESS(v, b) ((v) != (v) || (v) < (b))

ARG(eng_vargmax_f32, float, GREATER)
ARG(eng_vargmax_f64, double, GREATER)
ARG(eng_vargmax_i64, int64_t, GREATER)
ARG(eng_vargmax_i32, int32_t, GREATER)
ARG(eng_vargmax_u8, uint8_t, GREATER)
ARG(eng_vargmin_f32, float, LESS)
ARG(eng_vargmin_f64, double, LESS)
ARG(eng_vargmin_i64, int64_t, LESS)
ARG(eng_vargmin_i32, int32_t, LESS)
ARG(eng_vargmin_u8, uint8_t, LESS)
