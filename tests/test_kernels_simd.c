/* The vectorised bodies of the pointwise kernels (ReLU, 2x2 max pooling, Winograd transforms)
 * against loops written here from the definitions in the kernels' headers, at every SIMD level
 * the machine has (eng_simd_cap), in f32 and f64 where the kernel has both: bit for bit, with
 * NaNs, signed zeros, ties and lengths that leave vector tails. BatchNorm to rounding. The
 * convolution kernels' bodies: test_kernels_simd_conv.c. */
#include "support.h"

#include "kernels/activation.h"
#include "kernels/batchnorm.h"
#include "kernels/cpu.h"
#include "kernels/pool.h"

static const eng_simd levels[] = {ENG_SIMD_NONE, ENG_SIMD_AVX2, ENG_SIMD_AVX512};
#define LEVELS (sizeof levels / sizeof levels[0])

/* Values with ties (a coarse grid), both zeros and NaNs. */
static double special_value(eng_rng *rng, int64_t i)
{
    double u = eng_rng_uniform(rng);
    if (i % 23 == 7)
        return NAN;
    if (i % 19 == 3)
        return -0.0;
    if (i % 17 == 5)
        return 0.0;
    return floor(8 * u) - 4; /* ties in most windows */
}

static bool same_bits_f32(float a, float b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}
static bool same_bits_f64(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

#define RELU_LENGTHS                                                                               \
    {                                                                                              \
        0, 1, 7, 8, 15, 16, 17, 31, 33, 100, 1000                                                  \
    }

static void test_relu_bodies_match_the_definition_bit_for_bit(void **state)
{
    (void)state;
    const int64_t lengths[] = RELU_LENGTHS;
    for (size_t l = 0; l < LEVELS; l++) {
        eng_simd old = eng_simd_cap(levels[l]);
        for (size_t c = 0; c < sizeof lengths / sizeof lengths[0]; c++) {
            int64_t n = lengths[c];
            double x[1000], dy[1000], y[1001], dx[1001];
            float x32[1000], dy32[1000], y32[1001], dx32[1001];
            eng_rng rng;
            eng_rng_seed(&rng, 11 + (uint64_t)c);
            for (int64_t i = 0; i < n; i++) {
                x[i] = special_value(&rng, i), dy[i] = eng_rng_uniform(&rng) - 0.5;
                x32[i] = (float)x[i], dy32[i] = (float)dy[i];
            }
            y[n] = dx[n] = 42, y32[n] = dx32[n] = 42; /* past the end: must stay */
            eng_relu_forward_f64(y, x, n);
            eng_relu_forward_f32(y32, x32, n);
            eng_relu_backward_f64(dx, dy, x, n);
            eng_relu_backward_f32(dx32, dy32, x32, n);
            for (int64_t i = 0; i < n; i++) {
                /* relu(x) = x for x > 0 and NaN (NaN propagates), +0 otherwise (-0 included);
                 * relu'(x) = 1 for x > 0 only */
                double ey = x[i] > 0 || isnan(x[i]) ? x[i] : 0.0;
                double edx = x[i] > 0 ? dy[i] : 0.0;
                bool ok =
                    (isnan(ey) ? isnan(y[i]) && isnan(y32[i])
                               : same_bits_f64(y[i], ey) && same_bits_f32(y32[i], (float)ey)) &&
                    same_bits_f64(dx[i], edx) && same_bits_f32(dx32[i], (float)edx);
                if (!ok)
                    print_message("simd %d n %ld i %ld: x %g y %g/%g dx %g/%g\n",
                                  (int)eng_simd_level(), (long)n, (long)i, x[i], y[i],
                                  (double)y32[i], dx[i], (double)dx32[i]);
                assert_true(ok);
            }
            assert_true(y[n] == 42 && dx[n] == 42 && y32[n] == 42 && dx32[n] == 42);
        }
        eng_simd_cap(old);
    }
}

/* 2x2 stride-2 max pooling from its definition: the first (row-major) strict maximum of each
 * window, a NaN first element keeping the window; dx gets dy at the winner, zero elsewhere. */
static void maxpool_reference(float *y, int32_t *am, const float *x, int planes, int h, int w)
{
    int oh = h / 2, ow = w / 2;
    for (int p = 0; p < planes; p++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                int best = 2 * oy * w + 2 * ox;
                const int cand[3] = {best + 1, best + w, best + w + 1};
                for (int k = 0; k < 3; k++)
                    if (x[p * h * w + cand[k]] > x[p * h * w + best])
                        best = cand[k];
                y[(p * oh + oy) * ow + ox] = x[p * h * w + best];
                am[(p * oh + oy) * ow + ox] = best;
            }
}

static void check_maxpool_case(int planes, int h, int w, uint64_t seed)
{
    int oh = h / 2, ow = w / 2, nx = planes * h * w, ny = planes * oh * ow;
    float *x = malloc(sizeof(float) * (size_t)nx), *dx = malloc(sizeof(float) * (size_t)nx + 4);
    float *y = malloc(sizeof(float) * (size_t)ny + 4), *ry = malloc(sizeof(float) * (size_t)ny);
    float *dy = malloc(sizeof(float) * (size_t)ny);
    int32_t *am = malloc(sizeof(int32_t) * (size_t)ny + 4),
            *ram = malloc(sizeof(int32_t) * (size_t)ny);
    eng_rng rng;
    eng_rng_seed(&rng, seed);
    for (int i = 0; i < nx; i++)
        x[i] = (float)special_value(&rng, i);
    for (int i = 0; i < ny; i++)
        dy[i] = (float)(eng_rng_uniform(&rng) + 0.5);
    y[ny] = 42, dx[nx] = 42, am[ny] = 42;
    eng_pool_geometry g = {.planes = planes,
                           .h = h,
                           .w = w,
                           .kh = 2,
                           .kw = 2,
                           .sh = 2,
                           .sw = 2,
                           .ph = 0,
                           .pw = 0,
                           .oh = oh,
                           .ow = ow};
    maxpool_reference(ry, ram, x, planes, h, w);
    eng_maxpool_forward_f32(y, am, x, &g);
    for (int i = 0; i < ny; i++) {
        bool ok = am[i] == ram[i] && (same_bits_f32(y[i], ry[i]) || (isnan(y[i]) && isnan(ry[i])));
        if (!ok)
            print_message("simd %d planes %d h %d w %d: out %d y %g (expected %g) argmax %d "
                          "(expected %d)\n",
                          (int)eng_simd_level(), planes, h, w, i, (double)y[i], (double)ry[i],
                          am[i], ram[i]);
        assert_true(ok);
    }
    assert_true(y[ny] == 42 && am[ny] == 42);
    if (h % 2 == 0 && w % 2 == 0) {
        eng_maxpool_backward_f32(dx, dy, am, &g);
        for (int p = 0; p < planes; p++)
            for (int i = 0; i < h * w; i++) {
                float e = 0;
                for (int o = 0; o < oh * ow; o++)
                    if (ram[p * oh * ow + o] == i)
                        e = dy[p * oh * ow + o];
                assert_true(same_bits_f32(dx[p * h * w + i], e));
            }
        assert_true(dx[nx] == 42);
    }
    free(x), free(dx), free(y), free(ry), free(dy), free(am), free(ram);
}

static void test_maxpool_2x2_bodies_match_the_definition_bit_for_bit(void **state)
{
    (void)state;
    const int shapes[][3] = {{1, 2, 2},  {3, 4, 4},  {2, 28, 28}, {2, 14, 14},
                             {1, 6, 30}, {2, 4, 32}, {1, 4, 34},  {1, 2, 66},
                             {2, 7, 9},  {1, 5, 31}, {4, 8, 18},  {1, 3, 33}};
    for (size_t l = 0; l < LEVELS; l++) {
        eng_simd old = eng_simd_cap(levels[l]);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            check_maxpool_case(shapes[s][0], shapes[s][1], shapes[s][2], 100 + s);
        eng_simd_cap(old);
    }
}

/* ---- batch normalisation ------------------------------------------------------------------ */

/* Every output of the three kernels against batchnorm.h's formulas in long double, for one
 * dtype at the current SIMD level; returns the largest relative error. x is offset + U(0, 2):
 * a large offset (a mean 1.7 million standard deviations from zero) tests the statistics for
 * cancellation. */
static double check_batchnorm(eng_dtype dtype, int n, int c, int s, bool batch_stats, double offset)
{
    int64_t total = (int64_t)n * c * s;
    double *x = malloc(sizeof(double) * (size_t)total),
           *dy = malloc(sizeof(double) * (size_t)total);
    double *y = malloc(sizeof(double) * (size_t)total),
           *dx = malloc(sizeof(double) * (size_t)total);
    float *x32 = malloc(sizeof(float) * (size_t)total),
          *dy32 = malloc(sizeof(float) * (size_t)total);
    float *y32 = malloc(sizeof(float) * (size_t)total),
          *dx32 = malloc(sizeof(float) * (size_t)total);
    double mean[8], var[8], invstd[8], gamma[8], beta[8], dgamma[8] = {0}, dbeta[8] = {0};
    float gamma32[8], beta32[8], dgamma32[8] = {0}, dbeta32[8] = {0};
    eng_rng rng;
    eng_rng_seed(&rng, 7 + (uint64_t)s);
    for (int64_t i = 0; i < total; i++) { /* an offset mean, as after a ReLU */
        x[i] = (float)(offset + 2 * eng_rng_uniform(&rng)),
        dy[i] = (float)(eng_rng_uniform(&rng) - 0.3);
        x32[i] = (float)x[i], dy32[i] = (float)dy[i];
    }
    for (int ch = 0; ch < c; ch++)
        gamma[ch] = gamma32[ch] = (float)(0.5 + ch), beta[ch] = beta32[ch] = (float)(ch - 1);
    if (dtype == ENG_F64)
        eng_batchnorm_stats_f64(mean, var, x, n, c, s);
    else
        eng_batchnorm_stats_f32(mean, var, x32, n, c, s);
    for (int ch = 0; ch < c; ch++)
        invstd[ch] = 1 / sqrt(var[ch] + 1e-5);
    if (dtype == ENG_F64) {
        eng_batchnorm_forward_f64(y, x, mean, invstd, gamma, beta, n, c, s);
        eng_batchnorm_backward_f64(dx, dgamma, dbeta, dy, x, mean, invstd, gamma, n, c, s,
                                   batch_stats);
    } else {
        eng_batchnorm_forward_f32(y32, x32, mean, invstd, gamma32, beta32, n, c, s);
        eng_batchnorm_backward_f32(dx32, dgamma32, dbeta32, dy32, x32, mean, invstd, gamma32, n, c,
                                   s, batch_stats);
        for (int64_t i = 0; i < total; i++)
            y[i] = y32[i], dx[i] = dx32[i];
        for (int ch = 0; ch < c; ch++)
            dgamma[ch] = dgamma32[ch], dbeta[ch] = dbeta32[ch];
    }
    double err = 0;
    for (int ch = 0; ch < c; ch++) {
        long double sum = 0, sq = 0, sg = 0, sgx = 0, ag = 0, agx = 0, m = (long double)n * s;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < s; k++)
                sum += x[((int64_t)i * c + ch) * s + k];
        long double mu = sum / m;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < s; k++) {
                long double d = x[((int64_t)i * c + ch) * s + k] - mu;
                sq += d * d;
            }
        err = fmax(err, fabs((double)(mean[ch] - mu)) / fabs((double)mu));
        err = fmax(err, fabs((double)(var[ch] - sq / m)) / (double)(sq / m));
        long double is = invstd[ch]; /* from the kernel's variance, checked above */
        for (int i = 0; i < n; i++)
            for (int k = 0; k < s; k++) {
                int64_t at = ((int64_t)i * c + ch) * s + k;
                sg += dy[at], sgx += dy[at] * (x[at] - mu) * is;
                ag += fabsl(dy[at]), agx += fabsl(dy[at] * (x[at] - mu) * is);
            }
        /* the sums relative to their terms' magnitudes (random signs cancel) */
        err = fmax(err, fabs((double)(dbeta[ch] - sg)) / (double)ag);
        err = fmax(err, fabs((double)(dgamma[ch] - sgx)) / (double)agx);
        long double mg = batch_stats ? sg / m : 0, mgx = batch_stats ? sgx / m : 0;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < s; k++) {
                int64_t at = ((int64_t)i * c + ch) * s + k;
                long double xhat = (x[at] - mu) * is;
                long double ey = xhat * gamma[ch] + beta[ch];
                long double edx = gamma[ch] * is * (dy[at] - mg - xhat * mgx);
                err = fmax(err, fabs((double)(y[at] - ey)) / (1 + fabs((double)ey)));
                err = fmax(err, fabs((double)(dx[at] - edx)) / (1 + fabs((double)edx)));
            }
    }
    free(x), free(dy), free(y), free(dx), free(x32), free(dy32), free(y32), free(dx32);
    return err;
}

static void test_batchnorm_bodies_match_the_definition(void **state)
{
    (void)state;
    const int shapes[][3] = {{2, 3, 1}, {4, 2, 7}, {3, 3, 16}, {2, 4, 49}, {5, 2, 196}, {1, 8, 33}};
    for (size_t l = 0; l < LEVELS; l++) {
        eng_simd old = eng_simd_cap(levels[l]);
        for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
            for (int train = 0; train < 4; train++) {
                double offset = train < 2 ? 3 : 1e6;
                double e64 = check_batchnorm(ENG_F64, shapes[k][0], shapes[k][1], shapes[k][2],
                                             train % 2, offset);
                double e32 = check_batchnorm(ENG_F32, shapes[k][0], shapes[k][1], shapes[k][2],
                                             train % 2, offset);
                /* x - mean carries the rounding of x's magnitude: 1e6 / 0.58 (the standard
                 * deviation) times more, relative, at the large offset */
                double tol64 = offset < 10 ? 1e-13 : 1e-13 * offset / 0.58;
                if (!(e64 <= tol64 && e32 <= 1e-6))
                    print_message("simd %d n %d c %d s %d offset %g: f64 %g f32 %g\n",
                                  (int)eng_simd_level(), shapes[k][0], shapes[k][1], shapes[k][2],
                                  offset, e64, e32);
                assert_true(e64 <= tol64 && e32 <= 1e-6);
            }
        eng_simd_cap(old);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relu_bodies_match_the_definition_bit_for_bit),
        cmocka_unit_test(test_maxpool_2x2_bodies_match_the_definition_bit_for_bit),
        cmocka_unit_test(test_batchnorm_bodies_match_the_definition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
