/* The vectorised bodies of the convolution kernels (Winograd transforms, the im2col path's
 * small products, the direct convolution from its bias, stride-2 unfolding) against the
 * definitions in the kernels' headers, at every SIMD level the machine has (eng_simd_cap).
 * The pointwise kernels' bodies: test_kernels_simd.c. */
#include "support.h"

#include "kernels/broadcast.h"
#include "kernels/conv_direct.h"
#include "kernels/cpu.h"
#include "kernels/gemm.h"
#include "kernels/im2col.h"
#include "kernels/winograd.h"

static const eng_simd levels[] = {ENG_SIMD_NONE, ENG_SIMD_AVX2, ENG_SIMD_AVX512};
#define LEVELS (sizeof levels / sizeof levels[0])

static bool same_bits_f32(float a, float b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}
static bool same_bits_f64(double a, double b)
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

/* ---- Winograd transforms ------------------------------------------------------------------ */

typedef struct wino_case {
    int n, c, out, h, w, ph, pw;
} wino_case;

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
                                k->pw, r->oh, r->ow, true);
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
        rhs += dot_f32(r->m + xi * r->mplane, r->dm + xi * r->mplane, (int64_t)k->out * r->tiles);
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

/* ---- eng_gemm_f32 through the small products ---------------------------------------------- */

/* eng_gemm_f32 with alpha 1 and beta 0 or 1 at the sizes of a convolution's per-image
 * products (they take the AVX-512 small-product bodies; others OpenBLAS), against the naive
 * sum in long double: every transpose, beta 0 over a c full of NaNs, beta 1 adding. */
static void test_gemm_f32_small_products_match_the_naive_sum(void **state)
{
    (void)state;
    const int sizes[][3] = {{32, 196, 144}, {144, 196, 32}, {32, 144, 196}, {7, 130, 5},
                            {9, 128, 300},  {64, 49, 288},  {3, 1000, 17}};
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
                                long double term =
                                    (long double)(ta ? a[(int64_t)p * m + i]
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

/* ---- direct convolution starting from the bias -------------------------------------------- */

/* eng_conv_direct_bias_* against the bias broadcast by eng_fill_planes_* and the accumulating
 * eng_conv_direct_* (checked against the definition in test_kernels.c): the same sums in the
 * same order, so bit for bit, including over a y full of NaNs, at every SIMD level. */
static void test_direct_convolution_from_the_bias_equals_fill_then_add(void **state)
{
    (void)state;
    const int cases[][5] = {
        {1, 32, 30, 30, 3}, {3, 5, 9, 20, 5}, {2, 17, 12, 37, 3}, {1, 4, 7, 7, 7}};
    for (size_t l = 0; l < LEVELS; l++) {
        eng_simd old = eng_simd_cap(levels[l]);
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            int cin = cases[k][0], out = cases[k][1], hp = cases[k][2], wp = cases[k][3];
            int kk = cases[k][4], oh = hp - kk + 1, ow = wp - kk + 1, ny = out * oh * ow;
            float *xp = frand((int64_t)cin * hp * wp, 40 + k), *w = frand(out * cin * kk * kk, 50);
            float *b = frand(out, 60), *y = frand(ny, 0), *ref = frand(ny, 0);
            double *xp64 = malloc(sizeof(double) * (size_t)cin * hp * wp);
            double *w64 = malloc(sizeof(double) * (size_t)out * cin * kk * kk), b64[32];
            double *y64 = malloc(sizeof(double) * (size_t)ny),
                   *ref64 = malloc(sizeof(double) * (size_t)ny);
            for (int i = 0; i < cin * hp * wp; i++)
                xp64[i] = xp[i];
            for (int i = 0; i < out * cin * kk * kk; i++)
                w64[i] = w[i];
            for (int i = 0; i < out; i++)
                b64[i] = b[i];
            for (int i = 0; i < ny; i++)
                y[i] = NAN, y64[i] = NAN;
            eng_conv_direct_bias_f32(y, b, w, xp, cin, hp, wp, out, kk, kk);
            eng_conv_direct_bias_f64(y64, b64, w64, xp64, cin, hp, wp, out, kk, kk);
            eng_fill_planes_f32(ref, b, out, (int64_t)oh * ow);
            eng_fill_planes_f64(ref64, b64, out, (int64_t)oh * ow);
            eng_conv_direct_f32(ref, w, xp, cin, hp, wp, out, kk, kk);
            eng_conv_direct_f64(ref64, w64, xp64, cin, hp, wp, out, kk, kk);
            for (int i = 0; i < ny; i++) {
                if (!same_bits_f32(y[i], ref[i]) || !same_bits_f64(y64[i], ref64[i]))
                    print_message("simd %d case %zu at %d: %g/%g against %g/%g\n",
                                  (int)eng_simd_level(), k, i, (double)y[i], y64[i], (double)ref[i],
                                  ref64[i]);
                assert_true(same_bits_f32(y[i], ref[i]) && same_bits_f64(y64[i], ref64[i]));
            }
            free(xp), free(w), free(b), free(y), free(ref), free(xp64), free(w64), free(y64);
            free(ref64);
        }
        eng_simd_cap(old);
    }
}

/* ---- im2col / col2im with stride 2 -------------------------------------------------------- */

/* f32 unfolding and its adjoint at stride 2 (the AVX-512 rows) against the definition in
 * im2col.h, at every SIMD level, bit for bit (the same additions in the same order): widths
 * with 7, 14, 16, 17 and 40 output columns, padding 0 to 2, a dilated kernel. */
static void test_im2col_stride_2_bodies_match_the_definition(void **state)
{
    (void)state;
    const eng_conv_geometry shapes[] = {
        {.channels = 2,
         .height = 28,
         .width = 28,
         .kh = 3,
         .kw = 3,
         .sh = 2,
         .sw = 2,
         .ph = 1,
         .pw = 1,
         .dh = 1,
         .dw = 1},
        {.channels = 3,
         .height = 14,
         .width = 14,
         .kh = 1,
         .kw = 1,
         .sh = 2,
         .sw = 2,
         .dh = 1,
         .dw = 1},
        {.channels = 1,
         .height = 5,
         .width = 33,
         .kh = 3,
         .kw = 3,
         .sh = 2,
         .sw = 2,
         .ph = 0,
         .pw = 0,
         .dh = 1,
         .dw = 1},
        {.channels = 2,
         .height = 9,
         .width = 34,
         .kh = 3,
         .kw = 3,
         .sh = 1,
         .sw = 2,
         .ph = 2,
         .pw = 2,
         .dh = 1,
         .dw = 2},
        {.channels = 1,
         .height = 4,
         .width = 80,
         .kh = 2,
         .kw = 2,
         .sh = 2,
         .sw = 2,
         .dh = 1,
         .dw = 1},
    };
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        eng_conv_geometry g = shapes[k];
        g.oh = (g.height + 2 * g.ph - g.dh * (g.kh - 1) - 1) / g.sh + 1;
        g.ow = (g.width + 2 * g.pw - g.dw * (g.kw - 1) - 1) / g.sw + 1;
        int64_t nx = (int64_t)g.channels * g.height * g.width;
        int64_t ncol = (int64_t)g.channels * g.kh * g.kw * g.oh * g.ow;
        float *x = frand(nx, 70 + k), *dcol = frand(ncol, 80 + k);
        float *col = frand(ncol, 0), *dx = frand(nx, 0), *rdx = calloc((size_t)nx, sizeof(float));
        for (int c = 0; c < g.channels; c++) /* col2im's definition: the sum, in col's order */
            for (int i = 0; i < g.kh; i++)
                for (int j = 0; j < g.kw; j++)
                    for (int oy = 0; oy < g.oh; oy++)
                        for (int ox = 0; ox < g.ow; ox++) {
                            int iy = oy * g.sh - g.ph + i * g.dh, ix = ox * g.sw - g.pw + j * g.dw;
                            int64_t at = (((int64_t)c * g.kh + i) * g.kw + j) * g.oh * g.ow +
                                         (int64_t)oy * g.ow + ox;
                            if (iy >= 0 && iy < g.height && ix >= 0 && ix < g.width)
                                rdx[((int64_t)c * g.height + iy) * g.width + ix] += dcol[at];
                        }
        for (size_t l = 0; l < LEVELS; l++) {
            eng_simd old = eng_simd_cap(levels[l]);
            eng_im2col_f32(col, x, &g);
            eng_col2im_f32(dx, dcol, &g);
            eng_simd_cap(old);
            for (int c = 0; c < g.channels; c++)
                for (int i = 0; i < g.kh; i++)
                    for (int j = 0; j < g.kw; j++)
                        for (int oy = 0; oy < g.oh; oy++)
                            for (int ox = 0; ox < g.ow; ox++) {
                                int iy = oy * g.sh - g.ph + i * g.dh;
                                int ix = ox * g.sw - g.pw + j * g.dw;
                                bool in = iy >= 0 && iy < g.height && ix >= 0 && ix < g.width;
                                float e = in ? x[((int64_t)c * g.height + iy) * g.width + ix] : 0;
                                int64_t at = (((int64_t)c * g.kh + i) * g.kw + j) * g.oh * g.ow +
                                             (int64_t)oy * g.ow + ox;
                                assert_true(same_bits_f32(col[at], e));
                            }
            for (int64_t i = 0; i < nx; i++)
                assert_true(same_bits_f32(dx[i], rdx[i]));
        }
        free(x), free(dcol), free(col), free(dx), free(rdx);
    }
}

/* The stride-2 unfolding by rows of x (eng_im2col_s2_f32, the strided layers' columns) and
 * its col2im, with AVX-512, against the definition in im2col.h bit for bit: rows ld apart
 * (the padding between them untouched), every element of x written, kernels 1 to 5 wide,
 * row strides 1 to 3, padding 0 to 2, 7 to 35 output columns (several vectors a row). */
static void test_im2col_by_rows_at_stride_2_matches_the_definition(void **state)
{
    (void)state;
    /* c, h, w, kh, kw, sh, ph, pw */
    const int cases[][8] = {
        {2, 28, 28, 3, 3, 2, 1, 1}, {3, 14, 14, 3, 3, 2, 1, 1}, {2, 9, 11, 3, 3, 2, 1, 1},
        {1, 7, 33, 3, 3, 2, 0, 0},  {2, 8, 10, 5, 5, 2, 2, 2},  {1, 10, 11, 2, 3, 3, 1, 0},
        {2, 6, 70, 3, 2, 1, 1, 1},  {1, 5, 40, 4, 4, 2, 2, 2},  {2, 16, 16, 3, 1, 2, 1, 0}};
    eng_simd old = eng_simd_cap(ENG_SIMD_AVX512);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int *v = cases[k];
        eng_conv_geometry g = {.channels = v[0],
                               .height = v[1],
                               .width = v[2],
                               .kh = v[3],
                               .kw = v[4],
                               .sh = v[5],
                               .sw = 2,
                               .ph = v[6],
                               .pw = v[7],
                               .dh = 1,
                               .dw = 1};
        g.oh = (g.height + 2 * g.ph - g.kh) / g.sh + 1;
        g.ow = (g.width + 2 * g.pw - g.kw) / 2 + 1;
        if (!eng_im2col_s2_fast(&g)) /* no AVX-512 here: nothing to check */
            break;
        int64_t nx = (int64_t)g.channels * g.height * g.width, plane = (int64_t)g.oh * g.ow;
        int64_t rows = (int64_t)g.channels * g.kh * g.kw, ld = plane + 13;
        float *x = frand(nx, 90 + k), *dcol = frand(rows * ld, 100 + k);
        float *col = malloc(sizeof(float) * (size_t)(rows * ld)), *ref = frand(rows * plane, 0);
        float *dx = malloc(sizeof(float) * (size_t)nx), *rdx = calloc((size_t)nx, sizeof(float));
        float *packed = malloc(sizeof(float) * (size_t)(rows * plane));
        for (int64_t i = 0; i < rows * ld; i++)
            col[i] = NAN;
        for (int64_t i = 0; i < nx; i++)
            dx[i] = NAN;
        for (int64_t r = 0; r < rows; r++)
            memcpy(packed + r * plane, dcol + r * ld, sizeof(float) * (size_t)plane);
        eng_im2col_f32(ref, x, &g);
        eng_col2im_f32(rdx, packed, &g);
        eng_im2col_s2_f32(col, ld, x, &g);
        eng_col2im_s2_f32(dx, dcol, ld, &g);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t t = 0; t < ld; t++) {
                float got = col[r * ld + t];
                assert_true(t < plane ? same_bits_f32(got, ref[r * plane + t]) : isnan(got));
            }
        for (int64_t i = 0; i < nx; i++) {
            if (!same_bits_f32(dx[i], rdx[i]))
                print_message("case %zu dx[%lld] = %g, expected %g\n", k, (long long)i,
                              (double)dx[i], (double)rdx[i]);
            assert_true(same_bits_f32(dx[i], rdx[i]));
        }
        free(x), free(dcol), free(col), free(ref), free(dx), free(rdx), free(packed);
    }
    eng_conv_geometry dilated = {.channels = 1,
                                 .height = 9,
                                 .width = 9,
                                 .kh = 3,
                                 .kw = 3,
                                 .sh = 2,
                                 .sw = 2,
                                 .dh = 2,
                                 .dw = 2,
                                 .oh = 3,
                                 .ow = 3};
    assert_false(eng_im2col_s2_fast(&dilated));
    eng_simd_cap(old);
}

/* Rows of at most 8 tiles run two tile rows per vector (winograd_avx512.c): an even and an
 * odd number of tile rows, several images and channels, 7 and 8 tiles a row (the input
 * transform pairs rows up to 7), an odd output size, against the definition and the plain
 * bodies bit for bit. */
static void test_winograd_two_tile_rows_per_vector_match_the_definition(void **state)
{
    (void)state;
    static const wino_case cases[] = {
        {3, 2, 3, 14, 14, 1, 1}, {2, 3, 2, 12, 14, 1, 1}, {2, 2, 2, 16, 16, 1, 1},
        {2, 1, 3, 9, 13, 1, 1},  {1, 2, 2, 8, 2, 0, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        wino_run plain;
        eng_simd old = eng_simd_cap(ENG_SIMD_NONE);
        check_wino_case(&cases[c], NULL, &plain);
        eng_simd_cap(ENG_SIMD_AVX512);
        check_wino_case(&cases[c], &plain, NULL);
        eng_simd_cap(old);
        wino_free(&plain);
    }
}

/* The input gradient's overwriting form (add false) against the adding one on a zeroed dx: the
 * same values, whatever dx held (NaN here: a value read before it is written shows), at every
 * SIMD level. */
static void test_winograd_input_grad_overwrites_as_it_adds_to_zero(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof wino_cases / sizeof wino_cases[0]; c++) {
        const wino_case *k = &wino_cases[c];
        int oh = k->h + 2 * k->ph - 2, ow = k->w + 2 * k->pw - 2;
        int tiles = k->n * ((oh + 1) / 2) * ((ow + 1) / 2);
        int64_t vplane = (int64_t)k->c * tiles + 16, nx = (int64_t)k->n * k->c * k->h * k->w;
        float *dv = frand(16 * vplane, 5), *added = calloc((size_t)nx, sizeof(float));
        float *stored = malloc(sizeof(float) * (size_t)nx);
        eng_simd old = eng_simd_level();
        for (size_t l = 0; l < LEVELS; l++) {
            eng_simd_cap(levels[l]);
            memset(added, 0, sizeof(float) * (size_t)nx);
            for (int64_t i = 0; i < nx; i++)
                stored[i] = NAN;
            eng_winograd_input_grad_f32(added, dv, tiles, vplane, k->n, k->c, k->h, k->w, k->ph,
                                        k->pw, oh, ow, true);
            eng_winograd_input_grad_f32(stored, dv, tiles, vplane, k->n, k->c, k->h, k->w, k->ph,
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
        cmocka_unit_test(test_winograd_transform_bodies_match_the_definition),
        cmocka_unit_test(test_gemm_f32_small_products_match_the_naive_sum),
        cmocka_unit_test(test_direct_convolution_from_the_bias_equals_fill_then_add),
        cmocka_unit_test(test_im2col_stride_2_bodies_match_the_definition),
        cmocka_unit_test(test_im2col_by_rows_at_stride_2_matches_the_definition),
        cmocka_unit_test(test_winograd_two_tile_rows_per_vector_match_the_definition),
        cmocka_unit_test(test_winograd_input_grad_overwrites_as_it_adds_to_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
