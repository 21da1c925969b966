/* The vectorised bodies of the pointwise kernels (ReLU, 2x2 max pooling, Winograd transforms)
 * against loops written here from the definitions in the kernels' headers, at every SIMD level
 * the machine has (eng_simd_cap), in f32 and f64 where the kernel has both: bit for bit, with
 * NaNs, signed zeros, ties and lengths that leave vector tails. */
#include "support.h"

#include "kernels/activation.h"
#include "kernels/batchnorm.h"
#include "kernels/cpu.h"
#include "kernels/gemm.h"
#include "kernels/pool.h"
#include "kernels/winograd.h"

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

static bool same_bits_f32(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }
static bool same_bits_f64(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

#define RELU_LENGTHS {0, 1, 7, 8, 15, 16, 17, 31, 33, 100, 1000}

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
                bool ok = (isnan(ey) ? isnan(y[i]) && isnan(y32[i])
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
    int32_t *am = malloc(sizeof(int32_t) * (size_t)ny + 4), *ram = malloc(sizeof(int32_t) * (size_t)ny);
    eng_rng rng;
    eng_rng_seed(&rng, seed);
    for (int i = 0; i < nx; i++)
        x[i] = (float)special_value(&rng, i);
    for (int i = 0; i < ny; i++)
        dy[i] = (float)(eng_rng_uniform(&rng) + 0.5);
    y[ny] = 42, dx[nx] = 42, am[ny] = 42;
    eng_pool_geometry g = {.planes = planes, .h = h, .w = w, .kh = 2, .kw = 2, .sh = 2, .sw = 2,
                           .ph = 0, .pw = 0, .oh = oh, .ow = ow};
    maxpool_reference(ry, ram, x, planes, h, w);
    eng_maxpool_forward_f32(y, am, x, &g);
    for (int i = 0; i < ny; i++) {
        bool ok = am[i] == ram[i] && (same_bits_f32(y[i], ry[i]) || (isnan(y[i]) && isnan(ry[i])));
        if (!ok)
            print_message("simd %d planes %d h %d w %d: out %d y %g (expected %g) argmax %d "
                          "(expected %d)\n", (int)eng_simd_level(), planes, h, w, i, (double)y[i],
                          (double)ry[i], am[i], ram[i]);
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
    const int shapes[][3] = {{1, 2, 2},  {3, 4, 4},   {2, 28, 28}, {2, 14, 14}, {1, 6, 30},
                             {2, 4, 32}, {1, 4, 34},  {1, 2, 66},  {2, 7, 9},   {1, 5, 31},
                             {4, 8, 18}, {1, 3, 33}};
    for (size_t l = 0; l < LEVELS; l++) {
        eng_simd old = eng_simd_cap(levels[l]);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            check_maxpool_case(shapes[s][0], shapes[s][1], shapes[s][2], 100 + s);
        eng_simd_cap(old);
    }
}

/* ---- Winograd transforms ------------------------------------------------------------------ */

typedef struct wino_case { int n, c, out, h, w, ph, pw; } wino_case;

/* Sizes around the bodies' chunks (7 input tiles, 16 output tiles per vector pass): rows of
 * 7 tiles (LeNet's 14x14), 14, 35 and odd counts, padding 0, 1 and 2, odd output sizes. */
static const wino_case wino_cases[] = {
    {2, 3, 4, 14, 14, 1, 1}, {1, 2, 3, 28, 28, 1, 1}, {2, 2, 2, 7, 9, 1, 1},
    {1, 3, 2, 5, 8, 2, 2},   {3, 1, 2, 6, 6, 0, 0},   {1, 2, 2, 11, 70, 1, 1},
    {1, 1, 1, 9, 33, 0, 1},  {1, 2, 1, 4, 17, 1, 0},
};

typedef struct wino_run {
    int oh, ow, th, tw, tiles;
    int64_t vplane, mplane;
    float *x, *wt, *bias, *u, *v, *vt, *m, *y, *dy, *dm, *dv, *dx;
} wino_run;

static float *frand(int64_t n, uint64_t seed)
{
    float *p = calloc((size_t)n, sizeof(float));
    eng_rng rng;
    eng_rng_seed(&rng, seed);
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)(2 * eng_rng_uniform(&rng) - 1);
    return p;
}

static void wino_setup(wino_run *r, const wino_case *k)
{
    r->oh = k->h + 2 * k->ph - 2, r->ow = k->w + 2 * k->pw - 2;
    r->th = (r->oh + 1) / 2, r->tw = (r->ow + 1) / 2, r->tiles = k->n * r->th * r->tw;
    r->vplane = (int64_t)k->c * r->tiles + 16, r->mplane = (int64_t)k->out * r->tiles + 16;
    int64_t nx = (int64_t)k->n * k->c * k->h * k->w, ny = (int64_t)k->n * k->out * r->oh * r->ow;
    r->x = frand(nx, 1), r->wt = frand(9 * k->out * k->c, 2), r->bias = frand(k->out, 3);
    r->u = frand(16 * k->out * k->c, 0), r->dy = frand(ny, 4), r->y = frand(ny, 0);
    r->v = frand(16 * r->vplane, 0), r->vt = frand(16 * r->vplane, 0);
    r->dv = frand(16 * r->vplane, 5), r->m = frand(16 * r->mplane, 0);
    r->dm = frand(16 * r->mplane, 0), r->dx = calloc((size_t)nx, sizeof(float));
}

static void wino_free(wino_run *r)
{
    free(r->x), free(r->wt), free(r->bias), free(r->u), free(r->dy), free(r->y), free(r->v);
    free(r->vt), free(r->dv), free(r->m), free(r->dm), free(r->dx);
}

/* Runs every transform of the case at the current SIMD level: y = the forward convolution
 * (transforms around products done here in double), v, vt, dm, dx. */
static void wino_transforms(wino_run *r, const wino_case *k)
{
    eng_winograd_weights_f32(r->u, r->wt, k->out, k->c);
    eng_winograd_input_f32(r->v, r->tiles, r->vplane, r->x, k->n, k->c, k->h, k->w, k->ph, k->pw,
                           r->oh, r->ow);
    eng_winograd_input_t_f32(r->vt, r->vplane, r->x, k->n, k->c, k->h, k->w, k->ph, k->pw, r->oh,
                             r->ow);
    for (int xi = 0; xi < 16; xi++)
        for (int o = 0; o < k->out; o++)
            for (int t = 0; t < r->tiles; t++) {
                double acc = 0;
                for (int ch = 0; ch < k->c; ch++)
                    acc += (double)r->u[(xi * k->out + o) * k->c + ch] *
                           r->v[xi * r->vplane + (int64_t)ch * r->tiles + t];
                r->m[xi * r->mplane + (int64_t)o * r->tiles + t] = (float)acc;
            }
    eng_winograd_output_f32(r->y, r->m, r->tiles, r->mplane, r->bias, k->n, k->out, r->oh, r->ow);
    eng_winograd_output_grad_f32(r->dm, r->tiles, r->mplane, r->dy, k->n, k->out, r->oh, r->ow);
    memset(r->dx, 0, sizeof(float) * (size_t)k->n * k->c * k->h * k->w);
    eng_winograd_input_grad_f32(r->dx, r->dv, r->tiles, r->vplane, k->n, k->c, k->h, k->w, k->ph,
                                k->pw, r->oh, r->ow);
}

/* The convolution from its definition (cross-correlation, zero padding), in double. */
static double conv_definition(const wino_run *r, const wino_case *k, int img, int o, int oy,
                              int ox)
{
    double acc = r->bias[o];
    for (int ch = 0; ch < k->c; ch++)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                int iy = oy - k->ph + i, ix = ox - k->pw + j;
                if (iy >= 0 && iy < k->h && ix >= 0 && ix < k->w)
                    acc += (double)r->wt[((o * k->c + ch) * 3 + i) * 3 + j] *
                           r->x[(((int64_t)img * k->c + ch) * k->h + iy) * k->w + ix];
            }
    return acc;
}

static double dot_f32(const float *a, const float *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* <T a, b> = <a, T^T b> for a transform T and its adjoint, in double over the used parts. */
static void check_adjoints(const wino_run *r, const wino_case *k)
{
    double lhs = 0, rhs = 0, scale = 0;
    for (int xi = 0; xi < 16; xi++)
        for (int ch = 0; ch < k->c; ch++) {
            const float *a = r->v + xi * r->vplane + (int64_t)ch * r->tiles;
            lhs += dot_f32(a, r->dv + xi * r->vplane + (int64_t)ch * r->tiles, r->tiles);
        }
    int64_t nx = (int64_t)k->n * k->c * k->h * k->w;
    rhs = dot_f32(r->x, r->dx, nx);
    scale = sqrt(dot_f32(r->dx, r->dx, nx) * dot_f32(r->x, r->x, nx));
    if (!(fabs(lhs - rhs) <= 1e-5 * scale))
        print_message("input adjoint: %.9g against %.9g\n", lhs, rhs);
    assert_true(fabs(lhs - rhs) <= 1e-5 * scale);
    /* output: y - bias is linear in m */
    lhs = 0, scale = 0;
    int plane = r->oh * r->ow;
    for (int img = 0; img < k->n; img++)
        for (int o = 0; o < k->out; o++)
            for (int q = 0; q < plane; q++) {
                int64_t at = ((int64_t)img * k->out + o) * plane + q;
                lhs += ((double)r->y[at] - r->bias[o]) * r->dy[at];
                scale += fabs(((double)r->y[at] - r->bias[o]) * r->dy[at]);
            }
    rhs = 0;
    for (int xi = 0; xi < 16; xi++)
        rhs += dot_f32(r->m + xi * r->mplane, r->dm + xi * r->mplane,
                       (int64_t)k->out * r->tiles);
    if (!(fabs(lhs - rhs) <= 1e-5 * scale))
        print_message("output adjoint: %.9g against %.9g\n", lhs, rhs);
    assert_true(fabs(lhs - rhs) <= 1e-5 * scale);
}

/* plain [optional]: the plain bodies' run of the case, to compare with; keep [optional]
 * receives this run (else it is freed). */
static void check_wino_case(const wino_case *k, const wino_run *plain, wino_run *keep)
{
    wino_run r;
    wino_setup(&r, k);
    wino_transforms(&r, k);
    double err = 0, big = 0; /* forward against the definition */
    for (int img = 0; img < k->n; img++)
        for (int o = 0; o < k->out; o++)
            for (int oy = 0; oy < r.oh; oy++)
                for (int ox = 0; ox < r.ow; ox++) {
                    double e = conv_definition(&r, k, img, o, oy, ox);
                    float got = r.y[(((int64_t)img * k->out + o) * r.oh + oy) * r.ow + ox];
                    err = fmax(err, fabs(got - e)), big = fmax(big, fabs(e));
                }
    if (!(err <= 1e-5 * big))
        print_message("simd %d case %dx%d pad %d,%d: forward off by %g of %g\n",
                      (int)eng_simd_level(), k->h, k->w, k->ph, k->pw, err, big);
    assert_true(err <= 1e-5 * big);
    for (int xi = 0; xi < 16; xi++) /* the transposed layout holds the same numbers */
        for (int ch = 0; ch < k->c; ch++)
            for (int t = 0; t < r.tiles; t++)
                assert_true(same_bits_f32(r.vt[xi * r.vplane + (int64_t)t * k->c + ch],
                                          r.v[xi * r.vplane + (int64_t)ch * r.tiles + t]));
    check_adjoints(&r, k);
    if (plain) { /* the plain bodies' numbers: equal, dx to rounding past 7 tiles a row */
        int64_t ny = (int64_t)k->n * k->out * r.oh * r.ow, nx = (int64_t)k->n * k->c * k->h * k->w;
        for (int64_t i = 0; i < ny; i++)
            assert_true(r.y[i] == plain->y[i]);
        for (int64_t i = 0; i < 16 * r.vplane - 16; i++)
            assert_true(r.v[i] == plain->v[i] && r.vt[i] == plain->vt[i]);
        for (int xi = 0; xi < 16; xi++)
            for (int64_t i = 0; i < (int64_t)k->out * r.tiles; i++)
                assert_true(r.dm[xi * r.mplane + i] == plain->dm[xi * r.mplane + i]);
        double tol = r.tw <= 7 ? 0 : 1e-6;
        for (int64_t i = 0; i < nx; i++)
            assert_true(fabs(r.dx[i] - plain->dx[i]) <= tol * (1 + fabs(plain->dx[i])));
    }
    if (keep)
        *keep = r;
    else
        wino_free(&r);
}

static void test_winograd_transform_bodies_match_the_definition(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof wino_cases / sizeof wino_cases[0]; c++) {
        wino_run plain;
        eng_simd old = eng_simd_cap(ENG_SIMD_NONE);
        check_wino_case(&wino_cases[c], NULL, &plain);
        eng_simd_cap(ENG_SIMD_AVX512);
        check_wino_case(&wino_cases[c], &plain, NULL);
        eng_simd_cap(old);
        wino_free(&plain);
    }
}

/* ---- batch normalisation ------------------------------------------------------------------ */

/* Every output of the three kernels against batchnorm.h's formulas in long double, for one
 * dtype at the current SIMD level; err receives the largest relative error. */
static double check_batchnorm(eng_dtype dtype, int n, int c, int s, bool batch_stats)
{
    int64_t total = (int64_t)n * c * s;
    double *x = malloc(sizeof(double) * (size_t)total), *dy = malloc(sizeof(double) * (size_t)total);
    double *y = malloc(sizeof(double) * (size_t)total), *dx = malloc(sizeof(double) * (size_t)total);
    float *x32 = malloc(sizeof(float) * (size_t)total), *dy32 = malloc(sizeof(float) * (size_t)total);
    float *y32 = malloc(sizeof(float) * (size_t)total), *dx32 = malloc(sizeof(float) * (size_t)total);
    double mean[8], var[8], invstd[8], gamma[8], beta[8], dgamma[8] = {0}, dbeta[8] = {0};
    float gamma32[8], beta32[8], dgamma32[8] = {0}, dbeta32[8] = {0};
    eng_rng rng;
    eng_rng_seed(&rng, 7 + (uint64_t)s);
    for (int64_t i = 0; i < total; i++) { /* an offset mean, as after a ReLU */
        x[i] = (float)(3 + 2 * eng_rng_uniform(&rng)), dy[i] = (float)(eng_rng_uniform(&rng) - 0.3);
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
        eng_batchnorm_backward_f32(dx32, dgamma32, dbeta32, dy32, x32, mean, invstd, gamma32, n,
                                   c, s, batch_stats);
        for (int64_t i = 0; i < total; i++)
            y[i] = y32[i], dx[i] = dx32[i];
        for (int ch = 0; ch < c; ch++)
            dgamma[ch] = dgamma32[ch], dbeta[ch] = dbeta32[ch];
    }
    double err = 0;
    for (int ch = 0; ch < c; ch++) {
        long double sum = 0, sq = 0, sg = 0, sgx = 0, m = (long double)n * s;
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
            }
        err = fmax(err, fabs((double)(dbeta[ch] - sg)) / (double)fabsl(sg));
        err = fmax(err, fabs((double)(dgamma[ch] - sgx)) / (double)fabsl(sgx));
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
    const int shapes[][3] = {{2, 3, 1}, {4, 2, 7}, {3, 3, 16}, {2, 4, 49}, {5, 2, 196},
                             {1, 8, 33}};
    for (size_t l = 0; l < LEVELS; l++) {
        eng_simd old = eng_simd_cap(levels[l]);
        for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
            for (int train = 0; train < 2; train++) {
                double e64 = check_batchnorm(ENG_F64, shapes[k][0], shapes[k][1], shapes[k][2],
                                             train);
                double e32 = check_batchnorm(ENG_F32, shapes[k][0], shapes[k][1], shapes[k][2],
                                             train);
                if (!(e64 <= 1e-13 && e32 <= 1e-6))
                    print_message("simd %d n %d c %d s %d: f64 %g f32 %g\n", (int)eng_simd_level(),
                                  shapes[k][0], shapes[k][1], shapes[k][2], e64, e32);
                assert_true(e64 <= 1e-13 && e32 <= 1e-6);
            }
        eng_simd_cap(old);
    }
}

/* ---- eng_gemm_f32 through the small products ---------------------------------------------- */

/* eng_gemm_f32 with alpha 1 and beta 0 or 1 at the sizes of a convolution's per-image
 * products (they take the AVX-512 small-product bodies; others OpenBLAS), against the naive
 * sum in long double: every transpose, beta 0 over a c full of NaNs, beta 1 adding. */
static void test_gemm_f32_small_products_match_the_naive_sum(void **state)
{
    (void)state;
    const int sizes[][3] = {{32, 196, 144}, {144, 196, 32}, {32, 144, 196}, {7, 130, 5},
                            {9, 128, 300}, {64, 49, 288}, {3, 1000, 17}};
    for (size_t l = 0; l < LEVELS; l++) {
        eng_simd old = eng_simd_cap(levels[l]);
        for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++)
            for (int t = 0; t < 3; t++) /* nn, tn, nt */
                for (int beta = 0; beta < 2; beta++) {
                    int m = sizes[z][0], n = sizes[z][1], k = sizes[z][2];
                    bool ta = t == 1, tb = t == 2;
                    float *a = frand((int64_t)m * k, 10 + z), *b = frand((int64_t)k * n, 20 + z);
                    float *c = frand((int64_t)m * n, 30 + z), *c0 = frand((int64_t)m * n, 30 + z);
                    if (!beta)
                        for (int64_t i = 0; i < (int64_t)m * n; i++)
                            c[i] = NAN;
                    eng_gemm_f32(c, a, b, m, n, k, ta, tb, 1.0f, (float)beta);
                    double err = 0;
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < n; j++) {
                            long double acc = beta ? c0[(int64_t)i * n + j] : 0, mag = fabsl(acc);
                            for (int p = 0; p < k; p++) {
                                long double term = (long double)(ta ? a[(int64_t)p * m + i]
                                                                    : a[(int64_t)i * k + p]) *
                                                   (tb ? b[(int64_t)j * k + p] : b[(int64_t)p * n + j]);
                                acc += term, mag += fabsl(term);
                            }
                            double e = fabs((double)(c[(int64_t)i * n + j] - acc)) / (double)mag;
                            err = isnan(e) ? INFINITY : fmax(err, e);
                        }
                    if (!(err <= 1e-6))
                        print_message("simd %d %dx%dx%d trans %d beta %d: error %g\n",
                                      (int)eng_simd_level(), m, n, k, t, beta, err);
                    assert_true(err <= 1e-6);
                    free(a), free(b), free(c), free(c0);
                }
        eng_simd_cap(old);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relu_bodies_match_the_definition_bit_for_bit),
        cmocka_unit_test(test_maxpool_2x2_bodies_match_the_definition_bit_for_bit),
        cmocka_unit_test(test_winograd_transform_bodies_match_the_definition),
        cmocka_unit_test(test_batchnorm_bodies_match_the_definition),
        cmocka_unit_test(test_gemm_f32_small_products_match_the_naive_sum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
