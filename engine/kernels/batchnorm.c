#include "batchnorm.h"

#include "batchnorm_avx512.h"
#include "cpu.h"

/* The AVX-512 bodies (batchnorm_avx512.c) run where the processor has AVX-512F. */
#if defined(__x86_64__) && defined(__GNUC__)
#define AVX512_BODY(call)                                                                          \
    if (eng_simd_level() == ENG_SIMD_AVX512) {                                                     \
        call;                                                                                      \
        return;                                                                                    \
    }
#else
#define AVX512_BODY(call)
#endif

/* Element (i, ch, k) of a [n,c,s] block. */
#define AT(p, i, ch, k) ((p)[((i)*c + (ch)) * s + (k)])

#define DEFINE_BATCHNORM(T, SFX)                                                                   \
    void eng_batchnorm_stats_##SFX(double *mean, double *var, const T *x, int64_t n, int64_t c,    \
                                   int64_t s)                                                      \
    {                                                                                              \
        AVX512_BODY(eng_batchnorm_stats_avx512_##SFX(mean, var, x, n, c, s))                       \
        double m = (double)(n * s);                                                                \
        for (int64_t ch = 0; ch < c; ch++) {                                                       \
            double sum = 0, sq = 0;                                                                \
            for (int64_t i = 0; i < n; i++)                                                        \
                for (int64_t k = 0; k < s; k++)                                                    \
                    sum += (double)AT(x, i, ch, k);                                                \
            double mu = sum / m;                                                                   \
            for (int64_t i = 0; i < n; i++)                                                        \
                for (int64_t k = 0; k < s; k++) {                                                  \
                    double d = (double)AT(x, i, ch, k) - mu;                                       \
                    sq += d * d;                                                                   \
                }                                                                                  \
            mean[ch] = mu;                                                                         \
            var[ch] = sq / m;                                                                      \
        }                                                                                          \
    }                                                                                              \
    void eng_batchnorm_forward_##SFX(T *y, const T *x, const double *mean, const double *invstd,   \
                                     const T *gamma, const T *beta, int64_t n, int64_t c,          \
                                     int64_t s)                                                    \
    {                                                                                              \
        AVX512_BODY(eng_batchnorm_forward_avx512_##SFX(y, x, mean, invstd, gamma, beta, n, c, s))  \
        for (int64_t ch = 0; ch < c; ch++) {                                                       \
            double scale = invstd[ch] * (gamma ? (double)gamma[ch] : 1.0);                         \
            double shift = beta ? (double)beta[ch] : 0.0, mu = mean[ch];                           \
            for (int64_t i = 0; i < n; i++)                                                        \
                for (int64_t k = 0; k < s; k++)                                                    \
                    AT(y, i, ch, k) = (T)(((double)AT(x, i, ch, k) - mu) * scale + shift);         \
        }                                                                                          \
    }                                                                                              \
    void eng_batchnorm_backward_##SFX(T *dx, T *dgamma, T *dbeta, const T *dy, const T *x,         \
                                      const double *mean, const double *invstd, const T *gamma,    \
                                      int64_t n, int64_t c, int64_t s, bool batch_stats)           \
    {                                                                                              \
        AVX512_BODY(eng_batchnorm_backward_avx512_##SFX(dx, dgamma, dbeta, dy, x, mean, invstd,    \
                                                        gamma, n, c, s, batch_stats))              \
        double m = (double)(n * s);                                                                \
        for (int64_t ch = 0; ch < c; ch++) {                                                       \
            double mu = mean[ch], is = invstd[ch], sg = 0, sgx = 0;                                \
            for (int64_t i = 0; i < n; i++)                                                        \
                for (int64_t k = 0; k < s; k++) {                                                  \
                    double g = (double)AT(dy, i, ch, k);                                           \
                    sg += g;                                                                       \
                    sgx += g * ((double)AT(x, i, ch, k) - mu) * is;                                \
                }                                                                                  \
            if (dgamma)                                                                            \
                dgamma[ch] += (T)sgx;                                                              \
            if (dbeta)                                                                             \
                dbeta[ch] += (T)sg;                                                                \
            if (!dx)                                                                               \
                continue;                                                                          \
            double scale = is * (gamma ? (double)gamma[ch] : 1.0);                                 \
            double mg = batch_stats ? sg / m : 0.0, mgx = batch_stats ? sgx / m : 0.0;             \
            for (int64_t i = 0; i < n; i++)                                                        \
                for (int64_t k = 0; k < s; k++) {                                                  \
                    double xhat = ((double)AT(x, i, ch, k) - mu) * is;                             \
                    AT(dx, i, ch, k) = (T)(scale * ((double)AT(dy, i, ch, k) - mg - xhat * mgx));  \
                }                                                                                  \
        }                                                                                          \
    }

DEFINE_BATCHNORM(float, f32)
DEFINE_BATCHNORM(double, f64)
