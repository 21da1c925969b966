#include "layernorm.h"

#include <math.h>

#define DEFINE_LAYERNORM(T, SFX)                                                                   \
    static void row_stats_##SFX(const T *x, int64_t d, double eps, double *mean, double *invstd)   \
    {                                                                                              \
        double s = 0, q = 0;                                                                       \
        for (int64_t j = 0; j < d; j++)                                                            \
            s += (double)x[j];                                                                     \
        double mu = s / (double)d;                                                                 \
        for (int64_t j = 0; j < d; j++) {                                                          \
            double c = (double)x[j] - mu;                                                          \
            q += c * c;                                                                            \
        }                                                                                          \
        *mean = mu;                                                                                \
        *invstd = 1.0 / sqrt(q / (double)d + eps);                                                 \
    }                                                                                              \
    void eng_layernorm_forward_##SFX(T *y, const T *x, const T *gamma, const T *beta,              \
                                     int64_t rows, int64_t d, double eps)                          \
    {                                                                                              \
        for (int64_t r = 0; r < rows; r++) {                                                       \
            const T *xr = x + r * d;                                                               \
            T *yr = y + r * d;                                                                     \
            double mu, is;                                                                         \
            row_stats_##SFX(xr, d, eps, &mu, &is);                                                 \
            for (int64_t j = 0; j < d; j++) {                                                      \
                double v = ((double)xr[j] - mu) * is;                                              \
                if (gamma)                                                                         \
                    v = v * (double)gamma[j] + (double)beta[j];                                    \
                yr[j] = (T)v;                                                                      \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    void eng_layernorm_backward_##SFX(T *dx, T *dgamma, T *dbeta, const T *dy, const T *x,         \
                                      const T *gamma, int64_t rows, int64_t d, double eps)         \
    {                                                                                              \
        for (int64_t r = 0; r < rows; r++) {                                                       \
            const T *xr = x + r * d, *gr = dy + r * d;                                             \
            double mu, is, sg = 0, sgx = 0;                                                        \
            row_stats_##SFX(xr, d, eps, &mu, &is);                                                 \
            for (int64_t j = 0; j < d; j++) {                                                      \
                double xhat = ((double)xr[j] - mu) * is, g = (double)gr[j];                        \
                double gg = g * (gamma ? (double)gamma[j] : 1.0);                                  \
                sg += gg;                                                                          \
                sgx += gg * xhat;                                                                  \
                if (dgamma)                                                                        \
                    dgamma[j] += (T)(g * xhat);                                                    \
                if (dbeta)                                                                         \
                    dbeta[j] += (T)g;                                                              \
            }                                                                                      \
            if (!dx)                                                                               \
                continue;                                                                          \
            double mg = sg / (double)d, mgx = sgx / (double)d;                                     \
            for (int64_t j = 0; j < d; j++) {                                                      \
                double xhat = ((double)xr[j] - mu) * is;                                           \
                double gg = (double)gr[j] * (gamma ? (double)gamma[j] : 1.0);                      \
                dx[r * d + j] = (T)(is * (gg - mg - xhat * mgx));                                  \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_LAYERNORM(float, f32)
DEFINE_LAYERNORM(double, f64)
