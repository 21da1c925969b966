/* The Winograd F(4x4, 3x3) tile transforms (kernels/winograd4.h), plain and AVX-512 bodies,
 * against the definitions: the forward (transforms around products done here in double)
 * against the convolution's sum, each adjoint against its transform (<T a, b> = <a, T^T b>),
 * and the two bodies against each other bit for bit. F(2x2, 3x3): test_kernels_simd_conv.c. */
#include "support.h"

#include "kernels/cpu.h"
#include "kernels/winograd4.h"

static bool same_bits_f32(float a, float b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* n values uniform in [-1, 1) (seed 0 too: the buffers a kernel overwrites). */
static float *frand(int64_t n, uint64_t seed)
{
    float *p = calloc((size_t)n, sizeof(float));
    eng_rng rng;
    eng_rng_seed(&rng, seed);
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)(2 * eng_rng_uniform(&rng) - 1);
    return p;
}

typedef struct wino_case {
    int n, c, out, h, w, ph, pw;
} wino_case;

/* Around the bodies' chunks (7 input tiles = 30 columns, 16 output tiles = 64 columns): the
 * LeNet 14x14 and ResNet 28x28 and 7x7 layers, 8, 15 and 18 tiles a row, padding 0, 1 and 2,
 * output sizes that are not multiples of 4. */
static const wino_case wino_cases[] = {
    {2, 3, 4, 14, 14, 1, 1}, {1, 2, 3, 28, 28, 1, 1}, {2, 2, 2, 7, 7, 1, 1},
    {1, 3, 2, 5, 8, 2, 2},   {3, 1, 2, 6, 6, 0, 0},   {1, 2, 2, 11, 70, 1, 1},
    {1, 1, 1, 9, 33, 0, 1},  {1, 2, 1, 4, 17, 1, 0},  {1, 1, 2, 3, 58, 1, 1},
};

typedef struct wino_run {
    int oh, ow, tiles;
    int64_t vplane, mplane;
    float *x, *wt, *bias, *u, *v, *m, *y, *dy, *dm, *dv, *dx, *du, *dw;
} wino_run;

static void wino_setup(wino_run *r, const wino_case *k)
{
    r->oh = k->h + 2 * k->ph - 2, r->ow = k->w + 2 * k->pw - 2;
    r->tiles = k->n * ((r->oh + 3) / 4) * ((r->ow + 3) / 4);
    r->vplane = (int64_t)k->c * r->tiles + 16, r->mplane = (int64_t)k->out * r->tiles + 16;
    int64_t nx = (int64_t)k->n * k->c * k->h * k->w, ny = (int64_t)k->n * k->out * r->oh * r->ow;
    int64_t nw = 9 * k->out * k->c;
    r->x = frand(nx, 1), r->wt = frand(nw, 2), r->bias = frand(k->out, 3);
    r->u = frand(36 * nw / 9, 0), r->dy = frand(ny, 4), r->y = frand(ny, 0);
    r->v = frand(36 * r->vplane, 0), r->dv = frand(36 * r->vplane, 5);
    r->m = frand(36 * r->mplane, 0), r->dm = frand(36 * r->mplane, 0);
    r->du = frand(36 * nw / 9, 6), r->dw = frand(nw, 7), r->dx = frand(nx, 8);
}

static void wino_free(wino_run *r)
{
    free(r->x), free(r->wt), free(r->bias), free(r->u), free(r->dy), free(r->y), free(r->v);
    free(r->dv), free(r->m), free(r->dm), free(r->du), free(r->dw), free(r->dx);
}

/* Every transform of the case at the current SIMD level; M = U V in double. dx and dw add to
 * their random starting values. */
static void wino_transforms(wino_run *r, const wino_case *k)
{
    eng_winograd4_weights_f32(r->u, r->wt, k->out, k->c);
    eng_winograd4_input_f32(r->v, r->tiles, r->vplane, r->x, k->n, k->c, k->h, k->w, k->ph, k->pw,
                            r->oh, r->ow);
    for (int xi = 0; xi < 36; xi++)
        for (int o = 0; o < k->out; o++)
            for (int t = 0; t < r->tiles; t++) {
                double acc = 0;
                for (int ch = 0; ch < k->c; ch++)
                    acc += (double)r->u[(xi * k->out + o) * k->c + ch] *
                           r->v[xi * r->vplane + (int64_t)ch * r->tiles + t];
                r->m[xi * r->mplane + (int64_t)o * r->tiles + t] = (float)acc;
            }
    eng_winograd4_output_f32(r->y, r->m, r->tiles, r->mplane, r->bias, k->n, k->out, r->oh, r->ow);
    eng_winograd4_output_grad_f32(r->dm, r->tiles, r->mplane, r->dy, k->n, k->out, r->oh, r->ow);
    eng_winograd4_input_grad_f32(r->dx, r->dv, r->tiles, r->vplane, k->n, k->c, k->h, k->w, k->ph,
                                 k->pw, r->oh, r->ow, true);
    eng_winograd4_weights_grad_f32(r->dw, r->du, k->out, k->c);
}

/* The convolution from its definition (cross-correlation, zero padding), in double. */
static double conv_definition(const wino_run *r, const wino_case *k, int img, int o, int oy, int ox)
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

static void assert_adjoint(double lhs, double rhs, double scale, const char *what)
{
    if (!(fabs(lhs - rhs) <= 1e-5 * scale))
        print_message("%s adjoint: %.9g against %.9g\n", what, lhs, rhs);
    assert_true(fabs(lhs - rhs) <= 1e-5 * scale);
}

/* <T a, b> = <a, T^T b> in double for the input, output and weight transforms; dx0 and dw0
 * are the starting values the adjoints added to. */
static void check_adjoints(const wino_run *r, const wino_case *k, const float *dx0,
                           const float *dw0)
{
    double lhs = 0, rhs = 0, scale = 0;
    for (int xi = 0; xi < 36; xi++)
        lhs += dot_f32(r->v + xi * r->vplane, r->dv + xi * r->vplane, (int64_t)k->c * r->tiles);
    int64_t nx = (int64_t)k->n * k->c * k->h * k->w;
    for (int64_t i = 0; i < nx; i++) {
        rhs += (double)r->x[i] * ((double)r->dx[i] - dx0[i]);
        scale += fabs((double)r->x[i] * ((double)r->dx[i] - dx0[i]));
    }
    assert_adjoint(lhs, rhs, scale, "input");
    lhs = 0, rhs = 0, scale = 0; /* output: y - bias is linear in m */
    int plane = r->oh * r->ow;
    for (int64_t at = 0; at < (int64_t)k->n * k->out * plane; at++) {
        double yb = (double)r->y[at] - r->bias[at / plane % k->out];
        lhs += yb * r->dy[at], scale += fabs(yb * r->dy[at]);
    }
    for (int xi = 0; xi < 36; xi++)
        rhs += dot_f32(r->m + xi * r->mplane, r->dm + xi * r->mplane, (int64_t)k->out * r->tiles);
    assert_adjoint(lhs, rhs, scale, "output");
    lhs = dot_f32(r->u, r->du, 36 * k->out * k->c), rhs = 0, scale = 0; /* weights */
    for (int64_t i = 0; i < 9 * k->out * k->c; i++) {
        rhs += (double)r->wt[i] * ((double)r->dw[i] - dw0[i]);
        scale += fabs((double)r->wt[i] * ((double)r->dw[i] - dw0[i]));
    }
    assert_adjoint(lhs, rhs, scale, "weight");
}

/* plain [optional]: the plain bodies' run of the case, to compare with bit for bit. */
static void check_wino_case(const wino_case *k, const wino_run *plain, wino_run *keep)
{
    wino_run r;
    wino_setup(&r, k);
    int64_t nx = (int64_t)k->n * k->c * k->h * k->w, nw = 9 * k->out * k->c;
    float *dx0 = frand(nx, 8), *dw0 = frand(nw, 7);
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
    check_adjoints(&r, k, dx0, dw0);
    if (plain) {
        int64_t ny = (int64_t)k->n * k->out * r.oh * r.ow;
        for (int64_t i = 0; i < ny; i++)
            assert_true(same_bits_f32(r.y[i], plain->y[i]));
        for (int64_t i = 0; i < nx; i++)
            assert_true(same_bits_f32(r.dx[i], plain->dx[i]));
        for (int xi = 0; xi < 36; xi++) {
            for (int64_t i = 0; i < (int64_t)k->c * r.tiles; i++)
                assert_true(same_bits_f32(r.v[xi * r.vplane + i], plain->v[xi * r.vplane + i]));
            for (int64_t i = 0; i < (int64_t)k->out * r.tiles; i++)
                assert_true(same_bits_f32(r.dm[xi * r.mplane + i], plain->dm[xi * r.mplane + i]));
        }
    }
    free(dx0), free(dw0);
    if (keep)
        *keep = r;
    else
        wino_free(&r);
}

static void test_winograd4_transform_bodies_match_the_definition(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof wino_cases / sizeof wino_cases[0]; c++) {
        wino_run plain;
        eng_simd old = eng_simd_cap(ENG_SIMD_NONE);
        check_wino_case(&wino_cases[c], NULL, &plain);
        eng_simd_cap(ENG_SIMD_AVX512);
        if (eng_simd_level() == ENG_SIMD_AVX512)
            check_wino_case(&wino_cases[c], &plain, NULL);
        eng_simd_cap(old);
        wino_free(&plain);
    }
}

/* The input gradient's overwriting form (add false) against the adding one on a zeroed dx: the
 * same values, whatever dx held (NaN here: a value read before it is written shows), at each
 * SIMD level. */
static void test_winograd4_input_grad_overwrites_as_it_adds_to_zero(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof wino_cases / sizeof wino_cases[0]; c++) {
        const wino_case *k = &wino_cases[c];
        int oh = k->h + 2 * k->ph - 2, ow = k->w + 2 * k->pw - 2;
        int tiles = k->n * ((oh + 3) / 4) * ((ow + 3) / 4);
        int64_t vplane = (int64_t)k->c * tiles + 16, nx = (int64_t)k->n * k->c * k->h * k->w;
        float *dv = frand(36 * vplane, 5), *added = calloc((size_t)nx, sizeof(float));
        float *stored = malloc(sizeof(float) * (size_t)nx);
        eng_simd old = eng_simd_level();
        for (int level = 0; level < 2; level++) {
            eng_simd_cap(level ? ENG_SIMD_AVX512 : ENG_SIMD_NONE);
            memset(added, 0, sizeof(float) * (size_t)nx);
            for (int64_t i = 0; i < nx; i++)
                stored[i] = NAN;
            eng_winograd4_input_grad_f32(added, dv, tiles, vplane, k->n, k->c, k->h, k->w, k->ph,
                                         k->pw, oh, ow, true);
            eng_winograd4_input_grad_f32(stored, dv, tiles, vplane, k->n, k->c, k->h, k->w, k->ph,
                                         k->pw, oh, ow, false);
            for (int64_t i = 0; i < nx; i++)
                assert_true(stored[i] == added[i]);
        }
        eng_simd_cap(old);
        free(dv), free(added), free(stored);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_winograd4_transform_bodies_match_the_definition),
        cmocka_unit_test(test_winograd4_input_grad_overwrites_as_it_adds_to_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
