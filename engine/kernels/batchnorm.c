#include "batchnorm.h"

#include <math.h>
#include <stddef.h>

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

/* f32 training has AVX-512 bodies of its own (channel by channel, f32 element arithmetic). */
#define TRAIN_AVX512_f32(call) AVX512_BODY(call)
#define TRAIN_AVX512_f64(call)

#if defined(__x86_64__) && defined(__GNUC__)
/* The f32 training backward's AVX-512 body takes the statistics given: compute them first
 * (the forward's own kernel, so that they are the forward's bit for bit). */
static void train_backward_recomputed_f32(float *dx, float *dgamma, float *dbeta, double *mean,
                                          double *invstd, const float *dy, const float *x,
                                          const float *relu_y, const float *gamma, double eps,
                                          int64_t n, int64_t c, int64_t s)
{
    eng_batchnorm_stats_avx512_f32(mean, invstd, x, n, c, s, 0, c); /* var first */
    for (int64_t ch = 0; ch < c; ch++)
        invstd[ch] = 1.0 / sqrt(invstd[ch] + eps);
    eng_batchnorm_train_backward_avx512_f32(dx, dgamma, dbeta, mean, invstd, dy, x, relu_y, NULL,
                                            gamma, n, c, s);
}
#endif

/* Element (i, ch, k) of a [n,c,s] block. */
#define AT(p, i, ch, k) ((p)[((i)*c + (ch)) * s + (k)])

/* A quarter of a 2 MB L2 per tensor: a block of x and one of dy (backward) stay resident
 * while the block's outputs stream through. */
#define BLOCK_BYTES (512 * 1024)

int64_t eng_batchnorm_block_channels(int64_t n, int64_t s, int64_t elem_size)
{
    int64_t bytes = n * s * elem_size;
    return bytes > 0 && bytes < BLOCK_BYTES ? BLOCK_BYTES / bytes : 1;
}

#define DEFINE_BATCHNORM(T, SFX)                                                                   \
    void eng_batchnorm_stats_range_##SFX(double *mean, double *var, const T *x, int64_t n,         \
                                         int64_t c, int64_t s, int64_t c0, int64_t c1)             \
    {                                                                                              \
        AVX512_BODY(eng_batchnorm_stats_avx512_##SFX(mean, var, x, n, c, s, c0, c1))               \
        double m = (double)(n * s);                                                                \
        for (int64_t ch = c0; ch < c1; ch++) {                                                     \
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
    void eng_batchnorm_normalise_range_##SFX(                                                      \
        T *y, const T *x, const double *mean, const double *invstd, const T *gamma, const T *beta, \
        int64_t n, int64_t c, int64_t s, int64_t c0, int64_t c1, bool relu)                        \
    {                                                                                              \
        AVX512_BODY(eng_batchnorm_forward_avx512_##SFX(y, x, mean, invstd, gamma, beta, n, c, s,   \
                                                       c0, c1, relu))                              \
        for (int64_t ch = c0; ch < c1; ch++) {                                                     \
            double scale = invstd[ch] * (gamma ? (double)gamma[ch] : 1.0);                         \
            double shift = beta ? (double)beta[ch] : 0.0, mu = mean[ch];                           \
            for (int64_t i = 0; i < n; i++)                                                        \
                for (int64_t k = 0; k < s; k++) {                                                  \
                    double v = ((double)AT(x, i, ch, k) - mu) * scale + shift;                     \
                    AT(y, i, ch, k) = (T)(!relu || v > 0 || v != v ? v : 0.0);                     \
                }                                                                                  \
        }                                                                                          \
    }                                                                                              \
    void eng_batchnorm_backward_range_##SFX(                                                       \
        T *dx, T *dgamma, T *dbeta, const T *dy, const T *x, const T *relu_y, const double *mean,  \
        const double *invstd, const T *gamma, int64_t n, int64_t c, int64_t s, int64_t c0,         \
        int64_t c1, bool batch_stats)                                                              \
    {                                                                                              \
        AVX512_BODY(eng_batchnorm_backward_avx512_##SFX(                                           \
            dx, dgamma, dbeta, dy, x, relu_y, mean, invstd, gamma, n, c, s, c0, c1, batch_stats))  \
        double m = (double)(n * s);                                                                \
        for (int64_t ch = c0; ch < c1; ch++) {                                                     \
            double mu = mean[ch], is = invstd[ch], sg = 0, sgx = 0;                                \
            for (int64_t i = 0; i < n; i++)                                                        \
                for (int64_t k = 0; k < s; k++) {                                                  \
                    double g = relu_y && !(AT(relu_y, i, ch, k) > 0) ? 0 : AT(dy, i, ch, k);       \
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
                    double g = relu_y && !(AT(relu_y, i, ch, k) > 0) ? 0 : AT(dy, i, ch, k);       \
                    double xhat = ((double)AT(x, i, ch, k) - mu) * is;                             \
                    AT(dx, i, ch, k) = (T)(scale * (g - mg - xhat * mgx));                         \
                }                                                                                  \
        }                                                                                          \
    }                                                                                              \
    void eng_batchnorm_stats_##SFX(double *mean, double *var, const T *x, int64_t n, int64_t c,    \
                                   int64_t s)                                                      \
    {                                                                                              \
        eng_batchnorm_stats_range_##SFX(mean, var, x, n, c, s, 0, c);                              \
    }                                                                                              \
    void eng_batchnorm_forward_##SFX(T *y, const T *x, const double *mean, const double *invstd,   \
                                     const T *gamma, const T *beta, int64_t n, int64_t c,          \
                                     int64_t s)                                                    \
    {                                                                                              \
        eng_batchnorm_normalise_range_##SFX(y, x, mean, invstd, gamma, beta, n, c, s, 0, c,        \
                                            false);                                                \
    }                                                                                              \
    void eng_batchnorm_backward_##SFX(T *dx, T *dgamma, T *dbeta, const T *dy, const T *x,         \
                                      const double *mean, const double *invstd, const T *gamma,    \
                                      int64_t n, int64_t c, int64_t s, bool batch_stats)           \
    {                                                                                              \
        eng_batchnorm_backward_range_##SFX(dx, dgamma, dbeta, dy, x, NULL, mean, invstd, gamma, n, \
                                           c, s, 0, c, batch_stats);                               \
    }                                                                                              \
    void eng_batchnorm_train_forward_##SFX(T *y, double *mean, double *var, double *invstd,        \
                                           const T *x, const T *gamma, const T *beta, double eps,  \
                                           int64_t n, int64_t c, int64_t s, bool relu)             \
    {                                                                                              \
        TRAIN_AVX512_##SFX(eng_batchnorm_train_forward_avx512_##SFX(                               \
            y, NULL, mean, var, invstd, x, gamma, beta, eps, n, c, s, relu)) int64_t b =           \
            eng_batchnorm_block_channels(n, s, (int64_t)sizeof(T));                                \
        for (int64_t c0 = 0; c0 < c; c0 += b) {                                                    \
            int64_t c1 = c0 + b < c ? c0 + b : c;                                                  \
            eng_batchnorm_stats_range_##SFX(mean, var, x, n, c, s, c0, c1);                        \
            for (int64_t ch = c0; ch < c1; ch++)                                                   \
                invstd[ch] = 1.0 / sqrt(var[ch] + eps);                                            \
            eng_batchnorm_normalise_range_##SFX(y, x, mean, invstd, gamma, beta, n, c, s, c0, c1,  \
                                                relu);                                             \
        }                                                                                          \
    }                                                                                              \
    void eng_batchnorm_train_backward_given_##SFX(                                                 \
        T *dx, T *dgamma, T *dbeta, const double *mean, const double *invstd, const T *dy,         \
        const T *x, const T *relu_y, const T *gamma, int64_t n, int64_t c, int64_t s)              \
    {                                                                                              \
        TRAIN_AVX512_##SFX(eng_batchnorm_train_backward_avx512_##SFX(                              \
            dx, dgamma, dbeta, mean, invstd, dy, x, relu_y, NULL, gamma, n, c, s)) int64_t b =     \
            eng_batchnorm_block_channels(n, s, 2 * (int64_t)sizeof(T)); /* x and dy */             \
        for (int64_t c0 = 0; c0 < c; c0 += b) {                                                    \
            int64_t c1 = c0 + b < c ? c0 + b : c;                                                  \
            eng_batchnorm_backward_range_##SFX(dx, dgamma, dbeta, dy, x, relu_y, mean, invstd,     \
                                               gamma, n, c, s, c0, c1, true);                      \
        }                                                                                          \
    }                                                                                              \
    void eng_batchnorm_train_backward_##SFX(                                                       \
        T *dx, T *dgamma, T *dbeta, double *mean, double *invstd, const T *dy, const T *x,         \
        const T *relu_y, const T *gamma, double eps, int64_t n, int64_t c, int64_t s)              \
    {                                                                                              \
        TRAIN_AVX512_##SFX(train_backward_recomputed_##SFX(dx, dgamma, dbeta, mean, invstd, dy, x, \
                                                           relu_y, gamma, eps, n, c, s))           \
            int64_t b = eng_batchnorm_block_channels(n, s, 2 * (int64_t)sizeof(T)); /* x and dy */ \
        for (int64_t c0 = 0; c0 < c; c0 += b) {                                                    \
            int64_t c1 = c0 + b < c ? c0 + b : c;                                                  \
            eng_batchnorm_stats_range_##SFX(mean, invstd, x, n, c, s, c0, c1); /* var first */     \
            for (int64_t ch = c0; ch < c1; ch++)                                                   \
                invstd[ch] = 1.0 / sqrt(invstd[ch] + eps);                                         \
            eng_batchnorm_backward_range_##SFX(dx, dgamma, dbeta, dy, x, relu_y, mean, invstd,     \
                                               gamma, n, c, s, c0, c1, true);                      \
        }                                                                                          \
    }

DEFINE_BATCHNORM(float, f32)
DEFINE_BATCHNORM(double, f64)

/* ---- a fused ReLU's mask instead of its output (f32 training) ---- */

int64_t eng_batchnorm_relu_mask_words(int64_t n, int64_t c, int64_t s)
{
    return n * c * ((s + 15) / 16);
}

/* Bit t of word r * w + k of relu_mask: value 16 * k + t of row r (w = words a row). */
static bool relu_bit(const uint16_t *relu_mask, int64_t r, int64_t s, int64_t k)
{
    return relu_mask[r * ((s + 15) / 16) + k / 16] >> (k % 16) & 1;
}

void eng_batchnorm_train_forward_masked_f32(float *y, uint16_t *relu_mask, double *mean,
                                            double *var, double *invstd, const float *x,
                                            const float *gamma, const float *beta, double eps,
                                            int64_t n, int64_t c, int64_t s)
{
    AVX512_BODY(eng_batchnorm_train_forward_avx512_f32(y, relu_mask, mean, var, invstd, x, gamma,
                                                       beta, eps, n, c, s, true))
    eng_batchnorm_train_forward_f32(y, mean, var, invstd, x, gamma, beta, eps, n, c, s, true);
    int64_t w = (s + 15) / 16;
    for (int64_t r = 0; r < n * c; r++)
        for (int64_t k = 0; k < w; k++) {
            unsigned bits = 0;
            for (int64_t t = 0; t < 16 && 16 * k + t < s; t++)
                bits |= (unsigned)(y[r * s + 16 * k + t] > 0) << t;
            relu_mask[r * w + k] = (uint16_t)bits;
        }
}

/* The plain body: eng_batchnorm_backward_range_f32's arithmetic (batch_stats), g from the mask. */
void eng_batchnorm_train_backward_masked_f32(float *dx, float *dgamma, float *dbeta,
                                             const double *mean, const double *invstd,
                                             const float *dy, const float *x,
                                             const uint16_t *relu_mask, const float *gamma,
                                             int64_t n, int64_t c, int64_t s)
{
    AVX512_BODY(eng_batchnorm_train_backward_avx512_f32(dx, dgamma, dbeta, mean, invstd, dy, x,
                                                        NULL, relu_mask, gamma, n, c, s))
    double m = (double)(n * s);
    for (int64_t ch = 0; ch < c; ch++) {
        double mu = mean[ch], is = invstd[ch], sg = 0, sgx = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < s; k++) {
                double g = relu_bit(relu_mask, i * c + ch, s, k) ? AT(dy, i, ch, k) : 0;
                sg += g;
                sgx += g * ((double)AT(x, i, ch, k) - mu) * is;
            }
        if (dgamma)
            dgamma[ch] += (float)sgx;
        if (dbeta)
            dbeta[ch] += (float)sg;
        if (!dx)
            continue;
        double scale = is * (gamma ? (double)gamma[ch] : 1.0), mg = sg / m, mgx = sgx / m;
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < s; k++) {
                double g = relu_bit(relu_mask, i * c + ch, s, k) ? AT(dy, i, ch, k) : 0;
                double xhat = ((double)AT(x, i, ch, k) - mu) * is;
                AT(dx, i, ch, k) = (float)(scale * (g - mg - xhat * mgx));
            }
    }
}

/* ---- two BatchNorms summed and rectified (f32 training) ---- */

/* y = (float)(((double)x - mean) * scale + shift), normalise_range_f32's element. */
static float normalised_f32(const eng_batchnorm_train_f32 *p, int64_t ch, float x)
{
    double scale = p->invstd[ch] * (p->gamma ? (double)p->gamma[ch] : 1.0);
    double shift = p->beta ? (double)p->beta[ch] : 0.0;
    return (float)(((double)x - p->mean[ch]) * scale + shift);
}

void eng_batchnorm_train_add_relu_f32(float *y, uint16_t *relu_mask,
                                      const eng_batchnorm_train_f32 *a,
                                      const eng_batchnorm_train_f32 *b, int64_t n, int64_t c,
                                      int64_t s)
{
    AVX512_BODY(eng_batchnorm_train_add_relu_avx512_f32(y, relu_mask, a, b, n, c, s))
    const eng_batchnorm_train_f32 *in[2] = {a, b};
    for (int k = 0; k < 2; k++) { /* train_forward_f32's statistics */
        eng_batchnorm_stats_range_f32(in[k]->mean, in[k]->var, in[k]->x, n, c, s, 0, c);
        for (int64_t ch = 0; ch < c; ch++)
            in[k]->invstd[ch] = 1.0 / sqrt(in[k]->var[ch] + in[k]->eps);
    }
    int64_t w = (s + 15) / 16;
    for (int64_t r = 0; r < n * c; r++) {
        int64_t ch = r % c;
        for (int64_t k = 0; k < w; k++) {
            unsigned bits = 0;
            for (int64_t t = 0; t < 16 && 16 * k + t < s; t++) {
                int64_t at = r * s + 16 * k + t;
                float v = normalised_f32(a, ch, a->x[at]) + normalised_f32(b, ch, b->x[at]);
                y[at] = v > 0 || v != v ? v : 0.0f; /* eng_add_relu_f32's */
                bits |= (unsigned)(y[at] > 0) << t;
            }
            relu_mask[r * w + k] = (uint16_t)bits;
        }
    }
}
