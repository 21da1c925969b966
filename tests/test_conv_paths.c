/* conv2d's paths besides im2col and Winograd (engine/layers/conv2d_paths.c) and the phase
 * kernels under them (kernels/conv_phase.h), against the definitions: the phase columns and
 * their adjoint against im2col's definition at every SIMD level (odd sizes, strides 2 and 3,
 * unequal strides, padding, 1x1 kernels), whole layers (strided f32, 1x1 stride 1 in f32 and
 * f64) against the convolution summed in double, and the nt product in panels. */
#include "support.h"

#include "kernels/conv_phase.h"
#include "kernels/cpu.h"
#include "kernels/small_gemm.h"

static const eng_simd levels[] = {ENG_SIMD_NONE, ENG_SIMD_AVX2, ENG_SIMD_AVX512};
#define LEVELS (sizeof levels / sizeof levels[0])

/* c, h, w, kh, kw, sh, sw, ph, pw */
static const int geometries[][9] = {
    {2, 28, 28, 3, 3, 2, 2, 1, 1}, {3, 14, 14, 3, 3, 2, 2, 1, 1}, {2, 9, 11, 3, 3, 2, 2, 1, 1},
    {1, 7, 33, 3, 3, 2, 2, 0, 0},  {2, 8, 10, 5, 5, 2, 2, 2, 2},  {1, 10, 11, 2, 3, 3, 2, 1, 0},
    {2, 13, 12, 3, 3, 3, 3, 1, 2}, {3, 28, 28, 1, 1, 2, 2, 0, 0}, {2, 13, 15, 1, 1, 2, 2, 0, 0},
    {1, 9, 40, 1, 1, 3, 2, 1, 1},  {1, 6, 70, 3, 2, 1, 2, 1, 1},
};
#define NGEOM (sizeof geometries / sizeof geometries[0])

static eng_conv_geometry geometry(int k)
{
    const int *v = geometries[k];
    eng_conv_geometry g = {.channels = v[0],
                           .height = v[1],
                           .width = v[2],
                           .kh = v[3],
                           .kw = v[4],
                           .sh = v[5],
                           .sw = v[6],
                           .ph = v[7],
                           .pw = v[8],
                           .dh = 1,
                           .dw = 1};
    g.oh = (g.height + 2 * g.ph - g.kh) / g.sh + 1;
    g.ow = (g.width + 2 * g.pw - g.kw) / g.sw + 1;
    return g;
}

static float *frand(int64_t n, uint64_t seed)
{
    float *p = malloc((size_t)n * sizeof(float));
    eng_rng rng;
    eng_rng_seed(&rng, seed);
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)(2 * eng_rng_uniform(&rng) - 1);
    return p;
}

static float *fnan(int64_t n)
{
    float *p = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        p[i] = NAN;
    return p;
}

/* im2col's definition: x[c, oy*sh - ph + i, ox*sw - pw + j], 0 in the padding. */
static float unfolded(const float *x, const eng_conv_geometry *g, int c, int i, int j, int oy,
                      int ox)
{
    int iy = oy * g->sh - g->ph + i, ix = ox * g->sw - g->pw + j;
    bool in = iy >= 0 && iy < g->height && ix >= 0 && ix < g->width;
    return in ? x[((int64_t)c * g->height + iy) * g->width + ix] : 0.0f;
}

/* The columns, in a matrix wider than the grid (ld), bit for bit (they are copies); the
 * garbage columns finite. */
static void check_columns(const float *x, const eng_conv_geometry *g)
{
    int q = eng_phase_cols(g);
    int64_t len = eng_phase_grid(g), ld = len + 5, rows = (int64_t)g->channels * g->kh * g->kw;
    float *col = fnan(rows * ld), *phase = fnan(eng_phase_size(g));
    if (g->kh == 1 && g->kw == 1) {
        eng_phase_subsample_f32(col, ld, x, g);
    } else {
        eng_phase_split_f32(phase, x, g);
        eng_phase_im2col_f32(col, ld, phase, g);
    }
    for (int c = 0, r = 0; c < g->channels; c++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++, r++)
                for (int oy = 0; oy < g->oh; oy++)
                    for (int ox = 0; ox < q; ox++) {
                        float got = col[r * ld + (int64_t)oy * q + ox];
                        if (ox >= g->ow) {
                            assert_true(isfinite(got));
                            continue;
                        }
                        float e = unfolded(x, g, c, i, j, oy, ox);
                        if (memcmp(&got, &e, sizeof e))
                            print_message("row %d (%d,%d): %g, expected %g\n", r, oy, ox,
                                          (double)got, (double)e);
                        assert_memory_equal(&got, &e, sizeof e);
                    }
    free(col), free(phase);
}

/* The adjoint: dcol's entries summed onto dx in col2im's order, from dcol with zero garbage
 * columns; every element of dx written. */
static void check_adjoint(const eng_conv_geometry *g, uint64_t seed)
{
    int q = eng_phase_cols(g);
    int64_t len = eng_phase_grid(g), ld = len + 3, rows = (int64_t)g->channels * g->kh * g->kw;
    int64_t nx = (int64_t)g->channels * g->height * g->width;
    float *dcol = frand(rows * ld, seed), *dx = fnan(nx), *dphase = fnan(eng_phase_size(g));
    float *ref = calloc((size_t)nx, sizeof(float));
    for (int64_t r = 0; r < rows; r++)
        for (int oy = 0; oy < g->oh; oy++)
            for (int ox = g->ow; ox < q; ox++)
                dcol[r * ld + (int64_t)oy * q + ox] = 0;
    for (int c = 0, r = 0; c < g->channels; c++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++, r++)
                for (int oy = 0; oy < g->oh; oy++)
                    for (int ox = 0; ox < g->ow; ox++) {
                        int iy = oy * g->sh - g->ph + i, ix = ox * g->sw - g->pw + j;
                        if (iy >= 0 && iy < g->height && ix >= 0 && ix < g->width)
                            ref[((int64_t)c * g->height + iy) * g->width + ix] +=
                                dcol[r * ld + (int64_t)oy * q + ox];
                    }
    if (g->kh == 1 && g->kw == 1)
        eng_phase_upsample_f32(dx, dcol, ld, g, false);
    else
        eng_phase_col2im_f32(dx, dphase, dcol, ld, g);
    for (int64_t i = 0; i < nx; i++) {
        if (dx[i] != ref[i])
            print_message("dx[%lld] = %g, expected %g\n", (long long)i, (double)dx[i],
                          (double)ref[i]);
        assert_true(dx[i] == ref[i]);
    }
    free(dcol), free(dx), free(dphase), free(ref);
}

static void test_phase_columns_and_their_adjoint_match_im2col(void **state)
{
    (void)state;
    for (size_t k = 0; k < NGEOM; k++) {
        eng_conv_geometry g = geometry((int)k);
        float *x = frand((int64_t)g.channels * g.height * g.width, 10 + k);
        for (size_t l = 0; l < LEVELS; l++) {
            eng_simd old = eng_simd_cap(levels[l]);
            check_columns(x, &g);
            check_adjoint(&g, 20 + k);
            eng_simd_cap(old);
        }
        free(x);
    }
}

/* crop drops the garbage columns and adds the bias; extend puts zeros there. */
static void test_phase_crop_and_extend_match_their_definition(void **state)
{
    (void)state;
    const int picks[] = {0, 2, 5, 7};
    for (size_t p = 0; p < sizeof picks / sizeof picks[0]; p++) {
        eng_conv_geometry g = geometry(picks[p]);
        int out = 3, q = eng_phase_cols(&g);
        int64_t len = eng_phase_grid(&g), ld = 2 * len, plane = (int64_t)g.oh * g.ow;
        float *grid = frand(out * ld, 30 + p), *bias = frand(out, 40 + p);
        float *y = fnan(out * plane), *yb = fnan(out * plane), *back = fnan(out * ld);
        eng_phase_crop_f32(y, grid, ld, NULL, out, &g);
        eng_phase_crop_f32(yb, grid, ld, bias, out, &g);
        eng_phase_extend_f32(back, ld, y, out, &g);
        for (int o = 0; o < out; o++)
            for (int oy = 0; oy < g.oh; oy++)
                for (int ox = 0; ox < q; ox++) {
                    float in = grid[o * ld + (int64_t)oy * q + ox];
                    float ext = back[o * ld + (int64_t)oy * q + ox];
                    if (ox >= g.ow) {
                        assert_true(ext == 0.0f);
                        continue;
                    }
                    int64_t at = o * plane + (int64_t)oy * g.ow + ox;
                    assert_true(y[at] == in && ext == in);
                    assert_true(yb[at] == in + bias[o]);
                }
        free(grid), free(bias), free(y), free(yb), free(back);
    }
}

/* ---- whole layers against the convolution summed in double ------------------------------- */

typedef struct layer_case {
    int n, in, out, h, w, kh, kw, sh, sw, ph, pw;
    bool bias;
} layer_case;

static double at4(const eng_tensor *t, int64_t a, int64_t b, int64_t c, int64_t d)
{
    return eng_tensor_get_flat(t, ((a * t->shape[1] + b) * t->shape[2] + c) * t->shape[3] + d);
}

/* y, dx, dweight, dbias of the definition, in double, from the layer's own values. */
static void reference(const layer_case *k, eng_layer *l, const eng_tensor *x, const eng_tensor *dy,
                      eng_tensor *y, eng_tensor *dx, eng_tensor *dw, eng_tensor *db)
{
    const eng_tensor *w = l->params[0].value;
    int oh = (int)y->shape[2], ow = (int)y->shape[3];
    for (int n = 0; n < k->n; n++)
        for (int o = 0; o < k->out; o++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    double s = k->bias ? eng_tensor_get_flat(l->params[1].value, o) : 0;
                    double g = at4(dy, n, o, oy, ox);
                    int64_t yat = ((int64_t)(n * k->out + o) * oh + oy) * ow + ox;
                    for (int c = 0; c < k->in; c++)
                        for (int i = 0; i < k->kh; i++)
                            for (int j = 0; j < k->kw; j++) {
                                int iy = oy * k->sh - k->ph + i, ix = ox * k->sw - k->pw + j;
                                if (iy < 0 || iy >= k->h || ix < 0 || ix >= k->w)
                                    continue;
                                int64_t xat = ((int64_t)(n * k->in + c) * k->h + iy) * k->w + ix;
                                int64_t wat = ((int64_t)(o * k->in + c) * k->kh + i) * k->kw + j;
                                s += eng_tensor_get_flat(w, wat) * eng_tensor_get_flat(x, xat);
                                eng_tensor_set_flat(dx, xat,
                                                    eng_tensor_get_flat(dx, xat) +
                                                        g * eng_tensor_get_flat(w, wat));
                                eng_tensor_set_flat(dw, wat,
                                                    eng_tensor_get_flat(dw, wat) +
                                                        g * eng_tensor_get_flat(x, xat));
                            }
                    eng_tensor_set_flat(y, yat, s);
                    if (k->bias)
                        eng_tensor_set_flat(db, o, eng_tensor_get_flat(db, o) + g);
                }
}

static void check_layer(const layer_case *k, eng_dtype dtype, double tol)
{
    eng_conv2d_options o = {.stride_h = k->sh,
                            .stride_w = k->sw,
                            .padding_h = k->ph,
                            .padding_w = k->pw,
                            .no_bias = !k->bias};
    eng_layer *l;
    eng_rng rng;
    eng_rng_seed(&rng, 7);
    assert_ok(eng_conv2d_new(k->in, k->out, k->kh, k->kw, &o, dtype, &rng, &l));
    int oh = (k->h + 2 * k->ph - k->kh) / k->sh + 1, ow = (k->w + 2 * k->pw - k->kw) / k->sw + 1;
    eng_tensor *x = TENSOR(dtype, k->n, k->in, k->h, k->w),
               *dx = TENSOR(dtype, k->n, k->in, k->h, k->w);
    eng_tensor *y = TENSOR(dtype, k->n, k->out, oh, ow), *dy = TENSOR(dtype, k->n, k->out, oh, ow);
    eng_tensor *ry = TENSOR(ENG_F64, k->n, k->out, oh, ow);
    eng_tensor *rdx = TENSOR(ENG_F64, k->n, k->in, k->h, k->w);
    eng_tensor *rdw = TENSOR(ENG_F64, k->out, k->in, k->kh, k->kw), *rdb = TENSOR(ENG_F64, k->out);
    tensor_randn(x, 1, 1.0);
    tensor_randn(dy, 2, 1.0);
    eng_tensor_fill(dx, NAN); /* backward overwrites dx */
    reference(k, l, x, dy, ry, rdx, rdw, rdb);
    for (int pass = 1; pass <= 2; pass++) { /* the second pass adds into the gradients */
        if (pass == 1)
            eng_layer_zero_grad(l);
        eng_tensor_fill(y, NAN);
        assert_ok(eng_layer_forward(l, x, y, true));
        assert_ok(eng_layer_backward(l, x, y, dy, dx));
        assert_tensor_close(y, ry, tol, "y");
        assert_tensor_close(dx, rdx, tol, "dx");
    }
    for (int64_t i = 0; i < eng_tensor_numel(rdw); i++)
        eng_tensor_set_flat(rdw, i, 2 * eng_tensor_get_flat(rdw, i));
    for (int64_t i = 0; i < eng_tensor_numel(rdb); i++)
        eng_tensor_set_flat(rdb, i, 2 * eng_tensor_get_flat(rdb, i));
    assert_tensor_close(l->params[0].grad, rdw, tol, "dweight");
    if (k->bias)
        assert_tensor_close(l->params[1].grad, rdb, tol, "dbias");
    eng_tensor_release(x), eng_tensor_release(dx), eng_tensor_release(y), eng_tensor_release(dy);
    eng_tensor_release(ry), eng_tensor_release(rdx), eng_tensor_release(rdw);
    eng_tensor_release(rdb);
    eng_layer_release(l);
}

/* The phases path (f32, stride above 1): 7x7-like planes go several images per product, so
 * batches of 5 and 9 leave a remainder group. */
static void test_strided_f32_layers_match_the_definition(void **state)
{
    (void)state;
    const layer_case cases[] = {
        {5, 3, 4, 9, 11, 3, 3, 2, 2, 1, 1, true},   {9, 4, 6, 7, 7, 3, 3, 2, 2, 1, 1, false},
        {3, 2, 5, 28, 28, 3, 3, 2, 2, 1, 1, true},  {9, 5, 3, 7, 9, 1, 1, 2, 2, 0, 0, true},
        {4, 3, 2, 28, 28, 1, 1, 2, 2, 0, 0, false}, {5, 2, 3, 10, 13, 2, 3, 3, 2, 1, 0, true},
        {6, 3, 4, 13, 12, 5, 5, 3, 3, 2, 2, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (size_t l = 0; l < LEVELS; l++) {
            eng_simd old = eng_simd_cap(levels[l]);
            check_layer(&cases[i], ENG_F32, 2e-6);
            eng_simd_cap(old);
        }
}

/* 1x1 stride 1: one product per image on the image itself, f64 to rounding of its sums. */
static void test_pointwise_layers_match_the_definition(void **state)
{
    (void)state;
    const layer_case cases[] = {
        {3, 16, 16, 28, 28, 1, 1, 1, 1, 0, 0, false},
        {5, 3, 7, 5, 9, 1, 1, 1, 1, 0, 0, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_layer(&cases[i], ENG_F64, 1e-13);
        check_layer(&cases[i], ENG_F32, 2e-6);
    }
}

/* ---- the nt product over a long shared dimension (the linear layer's forward) ------------- */

/* c += a @ b^T with k past one panel (kernels/small_gemm.c's NT_PANEL), odd sizes and leading
 * dimensions, against the sum in long double, at every SIMD level. */
static void test_nt_product_over_long_rows_matches_the_naive_sum(void **state)
{
    (void)state;
    const int shapes[][3] = {{64, 128, 3136}, {5, 7, 1000}, {6, 9, 768}, {4, 4, 1537}};
    for (size_t z = 0; z < sizeof shapes / sizeof shapes[0]; z++) {
        int m = shapes[z][0], n = shapes[z][1], k = shapes[z][2], lda = k + 3, ldb = k + 1;
        float *a = frand((int64_t)m * lda, 50 + z), *b = frand((int64_t)n * ldb, 60 + z);
        float *c0 = frand((int64_t)m * (n + 2), 70 + z), *c = malloc(sizeof *c * m * (n + 2));
        for (size_t l = 0; l < LEVELS; l++) {
            eng_simd old = eng_simd_cap(levels[l]);
            memcpy(c, c0, sizeof *c * m * (n + 2));
            eng_small_gemm_nt_f32(c, n + 2, a, lda, b, ldb, m, n, k);
            eng_simd_cap(old);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    long double acc = c0[i * (n + 2) + j], mag = fabsl(acc);
                    for (int p = 0; p < k; p++) {
                        long double t =
                            (long double)a[(int64_t)i * lda + p] * b[(int64_t)j * ldb + p];
                        acc += t, mag += fabsl(t);
                    }
                    double e = fabs((double)(c[i * (n + 2) + j] - acc)) / (double)mag;
                    if (!(e <= 1e-6))
                        print_message("%dx%dx%d at (%d,%d): error %g\n", m, n, k, i, j, e);
                    assert_true(e <= 1e-6);
                }
        }
        free(a), free(b), free(c0), free(c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phase_columns_and_their_adjoint_match_im2col),
        cmocka_unit_test(test_phase_crop_and_extend_match_their_definition),
        cmocka_unit_test(test_strided_f32_layers_match_the_definition),
        cmocka_unit_test(test_pointwise_layers_match_the_definition),
        cmocka_unit_test(test_nt_product_over_long_rows_matches_the_naive_sum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
