/* The cache-blocked batch-normalisation training kernels (eng_batchnorm_train_forward/backward
 * and the range kernels they are made of, batchnorm.h) against the definitions computed here in
 * long double, at every SIMD level the machine has, f32 and f64, with and without the fused
 * ReLU: shapes with vector tails, one value per sample, and channels in several blocks. */
#include "support.h"

#include "kernels/batchnorm.h"
#include "kernels/cpu.h"

static const eng_simd levels[] = {ENG_SIMD_NONE, ENG_SIMD_AVX2, ENG_SIMD_AVX512};
#define LEVELS (sizeof levels / sizeof levels[0])
#define MAXC 8
#define EPS 1e-5

typedef struct bn_case {
    int n, c, s;
    bool relu;
    double offset;
} bn_case;

/* The kernels' outputs, kept in double whatever the dtype. */
typedef struct bn_out {
    double *x, *dy, *y, *dx;
    double mean[MAXC], var[MAXC], invstd[MAXC], bmean[MAXC], binvstd[MAXC];
    double gamma[MAXC], beta[MAXC], dgamma[MAXC], dbeta[MAXC];
} bn_out;

#define DEFINE_RUN(T, SFX)                                                                         \
    static void run_##SFX(bn_out *o, const bn_case *k)                                             \
    {                                                                                              \
        int64_t total = (int64_t)k->n * k->c * k->s;                                               \
        T *x = malloc(sizeof(T) * (size_t)total), *dy = malloc(sizeof(T) * (size_t)total);         \
        T *y = malloc(sizeof(T) * (size_t)total), *dx = malloc(sizeof(T) * (size_t)total);         \
        T gamma[MAXC], beta[MAXC], dgamma[MAXC] = {0}, dbeta[MAXC] = {0};                          \
        for (int64_t i = 0; i < total; i++)                                                        \
            x[i] = (T)o->x[i], dy[i] = (T)o->dy[i];                                                \
        for (int ch = 0; ch < k->c; ch++)                                                          \
            gamma[ch] = (T)o->gamma[ch], beta[ch] = (T)o->beta[ch];                                \
        eng_batchnorm_train_forward_##SFX(y, o->mean, o->var, o->invstd, x, gamma, beta, EPS,      \
                                          k->n, k->c, k->s, k->relu);                              \
        eng_batchnorm_train_backward_##SFX(dx, dgamma, dbeta, o->bmean, o->binvstd, dy, x,         \
                                           k->relu ? y : NULL, gamma, EPS, k->n, k->c, k->s);      \
        for (int64_t i = 0; i < total; i++)                                                        \
            o->y[i] = y[i], o->dx[i] = dx[i];                                                      \
        for (int ch = 0; ch < k->c; ch++)                                                          \
            o->dgamma[ch] = dgamma[ch], o->dbeta[ch] = dbeta[ch];                                  \
        free(x), free(dy), free(y), free(dx);                                                      \
    }
DEFINE_RUN(float, f32)
DEFINE_RUN(double, f64)

static double rel(long double got, long double want, long double scale)
{
    return (double)(fabsl(got - want) / scale);
}

/* The largest relative error of one channel's outputs against the definitions; the ReLU mask
 * is the kernel's own y (its sign decides relu'; a y within rounding of 0 may go either way). */
static double channel_error(const bn_out *o, const bn_case *k, int ch)
{
    long double m = (long double)k->n * k->s, sum = 0, sq = 0, sg = 0, sgx = 0, ag = 0, agx = 0;
#define AT(i, j) (((int64_t)(i)*k->c + ch) * k->s + (j))
    for (int i = 0; i < k->n; i++)
        for (int j = 0; j < k->s; j++)
            sum += o->x[AT(i, j)];
    long double mu = sum / m;
    for (int i = 0; i < k->n; i++)
        for (int j = 0; j < k->s; j++)
            sq += (o->x[AT(i, j)] - mu) * (o->x[AT(i, j)] - mu);
    long double var = sq / m, is = 1 / sqrtl(var + EPS);
    double err = fmax(rel(o->mean[ch], mu, fabsl(mu)), rel(o->var[ch], var, var));
    err = fmax(err, fmax(rel(o->invstd[ch], is, is), rel(o->binvstd[ch], is, is)));
    err = fmax(err, rel(o->bmean[ch], mu, fabsl(mu)));
    for (int i = 0; i < k->n; i++)
        for (int j = 0; j < k->s; j++) {
            long double xhat = (o->x[AT(i, j)] - mu) * is, ey = xhat * o->gamma[ch] + o->beta[ch];
            if (k->relu && !(ey > 0))
                ey = 0;
            err = fmax(err, rel(o->y[AT(i, j)], ey, 1 + fabsl(ey)));
            long double g = k->relu && !(o->y[AT(i, j)] > 0) ? 0 : o->dy[AT(i, j)];
            sg += g, sgx += g * xhat, ag += fabsl(g), agx += fabsl(g * xhat);
        }
    err =
        fmax(err, fmax(rel(o->dbeta[ch], sg, ag + 1e-300), rel(o->dgamma[ch], sgx, agx + 1e-300)));
    for (int i = 0; i < k->n; i++)
        for (int j = 0; j < k->s; j++) {
            long double xhat = (o->x[AT(i, j)] - mu) * is;
            long double g = k->relu && !(o->y[AT(i, j)] > 0) ? 0 : o->dy[AT(i, j)];
            long double edx = o->gamma[ch] * is * (g - sg / m - xhat * sgx / m);
            err = fmax(err, rel(o->dx[AT(i, j)], edx, 1 + fabsl(edx)));
        }
#undef AT
    return err;
}

static void check_case(const bn_case *k, eng_dtype dtype)
{
    int64_t total = (int64_t)k->n * k->c * k->s;
    bn_out o;
    o.x = malloc(sizeof(double) * (size_t)total), o.dy = malloc(sizeof(double) * (size_t)total);
    o.y = malloc(sizeof(double) * (size_t)total), o.dx = malloc(sizeof(double) * (size_t)total);
    eng_rng rng;
    eng_rng_seed(&rng, 5 + (uint64_t)k->s);
    for (int64_t i = 0; i < total; i++) { /* f32-representable, so both dtypes see one x */
        o.x[i] = (float)(k->offset + 2 * eng_rng_uniform(&rng));
        o.dy[i] = (float)(eng_rng_uniform(&rng) - 0.3);
    }
    for (int ch = 0; ch < k->c; ch++) /* with the ReLU, some channels mostly cut, some not */
        o.gamma[ch] = (float)(0.5 + ch), o.beta[ch] = (float)(ch - 1.5);
    if (dtype == ENG_F32)
        run_f32(&o, k);
    else
        run_f64(&o, k);
    double err = 0;
    for (int ch = 0; ch < k->c; ch++)
        err = fmax(err, channel_error(&o, k, ch));
    /* as test_kernels_simd.c: x - mean carries x's rounding, offset / 0.58 times more */
    double tol = dtype == ENG_F32 ? 1e-6 : k->offset < 10 ? 1e-13 : 1e-13 * k->offset / 0.58;
    if (!(err <= tol))
        print_message("simd %d %s n %d c %d s %d relu %d offset %g: error %g\n",
                      (int)eng_simd_level(), eng_dtype_name(dtype), k->n, k->c, k->s, k->relu,
                      k->offset, err);
    assert_true(err <= tol);
    free(o.x), free(o.dy), free(o.y), free(o.dx);
}

static void test_blocked_batchnorm_training_matches_the_definition(void **state)
{
    (void)state;
    /* {4,7,5000}: 6 channels a block forward, 3 backward (f32); {2,3,33000}: one a block */
    const int shapes[][3] = {{2, 3, 1},  {4, 2, 7},  {3, 5, 16},   {2, 4, 49},   {5, 3, 196},
                             {1, 8, 33}, {3, 2, 17}, {4, 7, 5000}, {2, 3, 33000}};
    assert_true(eng_batchnorm_block_channels(4, 5000, 4) == 6);
    assert_true(eng_batchnorm_block_channels(2, 33000, 4) == 1);
    for (size_t l = 0; l < LEVELS; l++) {
        eng_simd old = eng_simd_cap(levels[l]);
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
            for (int v = 0; v < 4; v++) {
                bn_case k = {shapes[i][0], shapes[i][1], shapes[i][2], v % 2, v < 2 ? 3 : 1e6};
                check_case(&k, ENG_F32);
                check_case(&k, ENG_F64);
            }
        eng_simd_cap(old);
    }
}

/* The fused ReLU keeps NaN and writes +0 (never -0) where the normalised value is <= 0. */
static void test_normalise_relu_keeps_nan_and_writes_positive_zero(void **state)
{
    (void)state;
    enum { N = 2, C = 2, S = 19 };
    float x[N * C * S], y[N * C * S];
    double xd[N * C * S], yd[N * C * S], mean[C] = {1, -1}, invstd[C] = {2, 0.5};
    for (int i = 0; i < N * C * S; i++)
        xd[i] = x[i] = (float)((i % 7) - 3) * 0.5f;
    xd[5] = x[5] = NAN;
    for (size_t l = 0; l < LEVELS; l++) {
        eng_simd old = eng_simd_cap(levels[l]);
        eng_batchnorm_normalise_range_f32(y, x, mean, invstd, NULL, NULL, N, C, S, 0, C, true);
        eng_batchnorm_normalise_range_f64(yd, xd, mean, invstd, NULL, NULL, N, C, S, 0, C, true);
        for (int i = 0; i < N * C * S; i++) {
            int ch = (i / S) % C;
            double e = ((double)x[i] - mean[ch]) * invstd[ch];
            if (i == 5) {
                assert_true(isnan(y[i]) && isnan(yd[i]));
                continue;
            }
            assert_true(e > 0 ? y[i] == (float)e && yd[i] == e : y[i] == 0 && !signbit(y[i]));
            assert_true(e > 0 || (yd[i] == 0 && !signbit(yd[i])));
        }
        eng_simd_cap(old);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocked_batchnorm_training_matches_the_definition),
        cmocka_unit_test(test_normalise_relu_keeps_nan_and_writes_positive_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
