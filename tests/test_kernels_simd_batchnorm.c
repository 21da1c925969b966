/* The cache-blocked batch-normalisation training kernels (eng_batchnorm_train_forward/backward
 * and the range kernels they are made of, batchnorm.h) against the definitions computed here in
 * long double, at every SIMD level the machine has, f32 and f64, with and without the fused
 * ReLU: shapes with vector tails, one value per sample, and channels in several blocks. */
#include "support.h"

#include "kernels/batchnorm.h"
#include "kernels/cpu.h"
#include "kernels/residual.h"

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

/* ---- the backward with the forward's statistics given (eng_batchnorm_train_backward_given) ----
 * Given the statistics train_forward computed, it returns what train_backward returns when it
 * recomputes them from x, bit for bit (the recomputed statistics are the forward's, bit for
 * bit), at every SIMD level; and the AVX-512 f32 kernels agree with the plain ones, within the
 * definitions' tolerance, over more channels than one of their blocks holds. */
#define GIVEN_MAXC 70

typedef struct given_out {
    double *y, *dx;
    double mean[GIVEN_MAXC], invstd[GIVEN_MAXC], dgamma[GIVEN_MAXC], dbeta[GIVEN_MAXC];
} given_out;

#define DEFINE_GIVEN(T, SFX)                                                                       \
    /* o[0]: train_backward (recomputing), o[1]: train_backward_given; xs, dys: the inputs */      \
    static void given_##SFX(given_out o[2], const double *xs, const double *dys, int n, int c,     \
                            int s, bool relu)                                                      \
    {                                                                                              \
        int64_t total = (int64_t)n * c * s;                                                        \
        T *x = malloc(sizeof(T) * (size_t)total), *dy = malloc(sizeof(T) * (size_t)total);         \
        T *y = malloc(sizeof(T) * (size_t)total), *dx = malloc(sizeof(T) * (size_t)total);         \
        T gamma[GIVEN_MAXC], beta[GIVEN_MAXC];                                                     \
        double mean[GIVEN_MAXC], var[GIVEN_MAXC], invstd[GIVEN_MAXC];                              \
        for (int64_t i = 0; i < total; i++)                                                        \
            x[i] = (T)xs[i], dy[i] = (T)dys[i];                                                    \
        for (int ch = 0; ch < c; ch++)                                                             \
            gamma[ch] = (T)(0.25 + 0.1 * ch), beta[ch] = (T)(0.05 * ch - 1);                       \
        eng_batchnorm_train_forward_##SFX(y, mean, var, invstd, x, gamma, beta, EPS, n, c, s,      \
                                          relu);                                                   \
        for (int v = 0; v < 2; v++) {                                                              \
            T dgamma[GIVEN_MAXC] = {0}, dbeta[GIVEN_MAXC] = {0};                                   \
            if (v == 0)                                                                            \
                eng_batchnorm_train_backward_##SFX(dx, dgamma, dbeta, o[0].mean, o[0].invstd, dy,  \
                                                   x, relu ? y : NULL, gamma, EPS, n, c, s);       \
            else                                                                                   \
                eng_batchnorm_train_backward_given_##SFX(dx, dgamma, dbeta, mean, invstd, dy, x,   \
                                                         relu ? y : NULL, gamma, n, c, s);         \
            for (int64_t i = 0; i < total; i++)                                                    \
                o[v].y[i] = y[i], o[v].dx[i] = dx[i];                                              \
            for (int ch = 0; ch < c; ch++)                                                         \
                o[v].dgamma[ch] = dgamma[ch], o[v].dbeta[ch] = dbeta[ch];                          \
        }                                                                                          \
        memcpy(o[1].mean, mean, sizeof mean), memcpy(o[1].invstd, invstd, sizeof invstd);          \
        free(x), free(dy), free(y), free(dx);                                                      \
    }
DEFINE_GIVEN(float, f32)
DEFINE_GIVEN(double, f64)

static void given_alloc(given_out o[2], int64_t total)
{
    for (int v = 0; v < 2; v++)
        o[v].y = malloc(sizeof(double) * (size_t)total),
        o[v].dx = malloc(sizeof(double) * (size_t)total);
}

static void given_free(given_out o[2])
{
    for (int v = 0; v < 2; v++)
        free(o[v].y), free(o[v].dx);
}

/* The largest error of a's outputs against b's, relative to 1 + |b| (y, dx) and to the sum of
 * the terms' magnitudes (dgamma, dbeta: scale[ch], scale[c + ch]). */
static double given_error(const given_out *a, const given_out *b, const double *scale,
                          int64_t total, int c)
{
    double err = 0;
    for (int64_t i = 0; i < total; i++)
        err = fmax(err, fmax(fabs(a->y[i] - b->y[i]) / (1 + fabs(b->y[i])),
                             fabs(a->dx[i] - b->dx[i]) / (1 + fabs(b->dx[i]))));
    for (int ch = 0; ch < c; ch++)
        err = fmax(err, fmax(fabs(a->dgamma[ch] - b->dgamma[ch]) / scale[ch],
                             fabs(a->dbeta[ch] - b->dbeta[ch]) / scale[c + ch]));
    return err;
}

static void test_backward_given_the_forward_statistics_is_the_recomputing_one(void **state)
{
    (void)state;
    const int shapes[][3] = {{2, 3, 1},   {3, 5, 16}, {2, 4, 49},
                             {5, 3, 196}, {3, 70, 5}, {4, 7, 5000}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        int n = shapes[i][0], c = shapes[i][1], s = shapes[i][2];
        int64_t total = (int64_t)n * c * s;
        double *x = malloc(sizeof(double) * (size_t)total),
               *dy = malloc(sizeof *dy * (size_t)total);
        double scale[2 * GIVEN_MAXC] = {0};
        eng_rng rng;
        eng_rng_seed(&rng, 11 + (uint64_t)i);
        for (int64_t j = 0; j < total; j++) {
            x[j] = (float)(1 + 2 * eng_rng_uniform(&rng));
            dy[j] = (float)(eng_rng_uniform(&rng) - 0.3);
            int ch = (int)((j / s) % c);
            scale[ch] += fabs(dy[j]) * 3, scale[c + ch] += fabs(dy[j]); /* |xhat| < 3 here */
        }
        for (int relu = 0; relu < 2; relu++) {
            given_out plain[2], o[2];
            given_alloc(plain, total), given_alloc(o, total);
            for (size_t l = 0; l < LEVELS; l++) {
                eng_simd old = eng_simd_cap(levels[l]);
                for (int d = 0; d < 2; d++) {
                    given_out *out = d == 0 && l == 0 ? plain : o;
                    if (d == 0)
                        given_f32(out, x, dy, n, c, s, relu);
                    else
                        given_f64(out, x, dy, n, c, s, relu);
                    for (int ch = 0; ch < c; ch++) /* the forward's statistics, bit for bit */
                        assert_true(out[0].mean[ch] == out[1].mean[ch] &&
                                    out[0].invstd[ch] == out[1].invstd[ch]);
                    assert_true(given_error(&out[0], &out[1], scale, total, c) == 0);
                    if (d == 0 && l > 0) { /* f32 SIMD bodies against the plain ones */
                        double err = given_error(&out[1], &plain[1], scale, total, c);
                        if (!(err <= 1e-6))
                            print_message("simd %d n %d c %d s %d relu %d: error %g\n",
                                          (int)eng_simd_level(), n, c, s, relu, err);
                        assert_true(err <= 1e-6);
                    }
                }
                eng_simd_cap(old);
            }
            given_free(plain), given_free(o);
        }
        free(x), free(dy);
    }
}

/* ---- the fused ReLU's mask (eng_batchnorm_train_forward/backward_masked_f32) ----
 * The masked forward writes train_forward's y (relu) and statistics and the mask y > 0 (no bit
 * past a row's end); the masked backward returns what train_backward_given returns with y,
 * bit for bit, at every SIMD level. */
static void check_masked(const float *x, const float *dy, int n, int c, int s)
{
    int64_t total = (int64_t)n * c * s, words = eng_batchnorm_relu_mask_words(n, c, s),
            w = (s + 15) / 16;
    float *y[2], *dx[2], gamma[GIVEN_MAXC], beta[GIVEN_MAXC], dg[2][GIVEN_MAXC] = {{0}},
                                                              db[2][GIVEN_MAXC] = {{0}};
    double mean[2][GIVEN_MAXC], var[2][GIVEN_MAXC], invstd[2][GIVEN_MAXC];
    uint16_t *mask = malloc(sizeof *mask * (size_t)words);
    assert_true(words == (int64_t)n * c * w);
    for (int ch = 0; ch < c; ch++)
        gamma[ch] = (float)(0.25 + 0.1 * ch), beta[ch] = (float)(0.05 * ch - 1);
    for (int v = 0; v < 2; v++)
        y[v] = malloc(sizeof(float) * (size_t)total), dx[v] = malloc(sizeof(float) * (size_t)total);
    eng_batchnorm_train_forward_f32(y[0], mean[0], var[0], invstd[0], x, gamma, beta, EPS, n, c, s,
                                    true);
    eng_batchnorm_train_forward_masked_f32(y[1], mask, mean[1], var[1], invstd[1], x, gamma, beta,
                                           EPS, n, c, s);
    assert_memory_equal(y[0], y[1], sizeof(float) * (size_t)total);
    assert_memory_equal(mean[0], mean[1], sizeof(double) * (size_t)c);
    assert_memory_equal(invstd[0], invstd[1], sizeof(double) * (size_t)c);
    for (int64_t r = 0; r < (int64_t)n * c; r++)
        for (int64_t k = 0; k < 16 * w; k++)
            assert_true((mask[r * w + k / 16] >> (k % 16) & 1) == (k < s && y[0][r * s + k] > 0));
    eng_batchnorm_train_backward_given_f32(dx[0], dg[0], db[0], mean[0], invstd[0], dy, x, y[0],
                                           gamma, n, c, s);
    eng_batchnorm_train_backward_masked_f32(dx[1], dg[1], db[1], mean[0], invstd[0], dy, x, mask,
                                            gamma, n, c, s);
    assert_memory_equal(dx[0], dx[1], sizeof(float) * (size_t)total);
    assert_memory_equal(dg[0], dg[1], sizeof(float) * (size_t)c);
    assert_memory_equal(db[0], db[1], sizeof(float) * (size_t)c);
    for (int v = 0; v < 2; v++)
        free(y[v]), free(dx[v]);
    free(mask);
}

static void test_masked_relu_backward_is_the_one_with_y(void **state)
{
    (void)state;
    const int shapes[][3] = {{2, 3, 1},   {3, 5, 16}, {2, 4, 49},
                             {5, 3, 196}, {3, 70, 5}, {2, 3, 33}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        int n = shapes[i][0], c = shapes[i][1], s = shapes[i][2];
        int64_t total = (int64_t)n * c * s;
        float *x = malloc(sizeof(float) * (size_t)total),
              *dy = malloc(sizeof(float) * (size_t)total);
        eng_rng rng;
        eng_rng_seed(&rng, 17 + (uint64_t)i);
        for (int64_t j = 0; j < total; j++) {
            x[j] = (float)(1 + 2 * eng_rng_uniform(&rng));
            dy[j] = (float)(eng_rng_uniform(&rng) - 0.3);
        }
        for (size_t l = 0; l < LEVELS; l++) {
            eng_simd old = eng_simd_cap(levels[l]);
            check_masked(x, dy, n, c, s);
            eng_simd_cap(old);
        }
        free(x), free(dy);
    }
}

/* ---- two BatchNorms summed and rectified (eng_batchnorm_train_add_relu_f32) ----
 * y, the mask and both BatchNorms' statistics are those of the two training forwards followed
 * by eng_add_relu_mask_f32 on their outputs, bit for bit, at every SIMD level, for shapes with
 * row tails, more channels than one of the kernel's blocks holds, affine or not. */
static void check_add_relu(const float *xs[2], int n, int c, int s, bool affine)
{
    int64_t total = (int64_t)n * c * s, words = eng_batchnorm_relu_mask_words(n, c, s);
    float *yk[2], *y[2], gamma[2][GIVEN_MAXC], beta[2][GIVEN_MAXC];
    double st[2][2][3][GIVEN_MAXC]; /* [way][batchnorm][mean, var, invstd] */
    uint16_t *mask[2];
    for (int v = 0; v < 2; v++) {
        yk[v] = malloc(sizeof(float) * (size_t)total), y[v] = malloc(sizeof(float) * (size_t)total);
        mask[v] = malloc(sizeof(uint16_t) * (size_t)words);
        for (int ch = 0; ch < c; ch++)
            gamma[v][ch] = (float)(0.5 + 0.1 * ch - v), beta[v][ch] = (float)(0.05 * ch - v);
    }
    eng_batchnorm_train_f32 p[2];
    for (int k = 0; k < 2; k++) {
        const float *g = affine ? gamma[k] : NULL, *b = affine ? beta[k] : NULL;
        eng_batchnorm_train_forward_f32(yk[k], st[0][k][0], st[0][k][1], st[0][k][2], xs[k], g, b,
                                        EPS, n, c, s, false);
        p[k] = (eng_batchnorm_train_f32){xs[k], g, b, EPS, st[1][k][0], st[1][k][1], st[1][k][2]};
    }
    eng_add_relu_mask_f32(y[0], mask[0], yk[0], yk[1], (int64_t)n * c, s);
    eng_batchnorm_train_add_relu_f32(y[1], mask[1], &p[0], &p[1], n, c, s);
    assert_memory_equal(y[0], y[1], sizeof(float) * (size_t)total);
    assert_memory_equal(mask[0], mask[1], sizeof(uint16_t) * (size_t)words);
    for (int k = 0; k < 2; k++)
        for (int q = 0; q < 3; q++)
            assert_memory_equal(st[0][k][q], st[1][k][q], sizeof(double) * (size_t)c);
    for (int v = 0; v < 2; v++)
        free(yk[v]), free(y[v]), free(mask[v]);
}

static void test_two_batchnorms_summed_and_rectified_are_the_layers_in_turn(void **state)
{
    (void)state;
    const int shapes[][3] = {{2, 3, 1},   {3, 5, 16}, {2, 4, 49},
                             {5, 3, 196}, {3, 70, 5}, {2, 3, 33}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        int n = shapes[i][0], c = shapes[i][1], s = shapes[i][2];
        int64_t total = (int64_t)n * c * s;
        float *x[2];
        eng_rng rng;
        eng_rng_seed(&rng, 23 + (uint64_t)i);
        for (int k = 0; k < 2; k++) {
            x[k] = malloc(sizeof(float) * (size_t)total);
            for (int64_t j = 0; j < total; j++)
                x[k][j] = (float)(k + 2 * eng_rng_uniform(&rng) - 1);
        }
        const float *xs[2] = {x[0], x[1]};
        for (size_t l = 0; l < LEVELS; l++) {
            eng_simd old = eng_simd_cap(levels[l]);
            check_add_relu(xs, n, c, s, true);
            check_add_relu(xs, n, c, s, false);
            eng_simd_cap(old);
        }
        free(x[0]), free(x[1]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocked_batchnorm_training_matches_the_definition),
        cmocka_unit_test(test_normalise_relu_keeps_nan_and_writes_positive_zero),
        cmocka_unit_test(test_backward_given_the_forward_statistics_is_the_recomputing_one),
        cmocka_unit_test(test_masked_relu_backward_is_the_one_with_y),
        cmocka_unit_test(test_two_batchnorms_summed_and_rectified_are_the_layers_in_turn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
