/* Kernels (engine/kernels): each against values worked out by hand or against a naive loop
 * written straight from the definition in the kernel's header, in f32 and f64. */
#include "support.h"

#include "kernels/activation.h"
#include "kernels/broadcast.h"
#include "kernels/conv_direct.h"
#include "kernels/cpu.h"
#include "kernels/im2col.h"
#include "kernels/pool.h"
#include "kernels/reduce.h"
#include "kernels/small_gemm.h"
#include "kernels/softmax.h"

static void fill_random(double *x, int64_t n, uint64_t seed)
{
    eng_rng rng;
    eng_rng_seed(&rng, seed);
    for (int64_t i = 0; i < n; i++)
        x[i] = 2 * eng_rng_uniform(&rng) - 1;
}

static double max_rel_diff(const double *a, const double *b, int64_t n)
{
    double d = 0, s = 0;
    for (int64_t i = 0; i < n; i++) {
        d = fmax(d, fabs(a[i] - b[i]));
        s = fmax(s, fabs(b[i]));
    }
    return d / (s > 0 ? s : 1);
}

/* ---- gemm ------------------------------------------------------------------------------- */

/* c = alpha * op(a) @ op(b) + beta * c, naive, in long double. */
static void gemm_reference(double *c, const double *a, const double *b, int m, int n, int k,
                           bool ta, bool tb, double alpha, double beta)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            long double acc = 0;
            for (int p = 0; p < k; p++)
                acc += (long double)(ta ? a[p * m + i] : a[i * k + p]) *
                       (tb ? b[j * k + p] : b[p * n + j]);
            c[i * n + j] = (double)(alpha * acc + beta * c[i * n + j]);
        }
}

static void test_gemm_matches_naive_product_for_every_transpose(void **state)
{
    (void)state;
    enum { M = 5, N = 4, K = 3 };
    double a[M * K], b[K * N], c0[M * N];
    fill_random(a, M * K, 1);
    fill_random(b, K * N, 2);
    fill_random(c0, M * N, 3);
    for (int t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        double expected[M * N], c64[M * N];
        float a32[M * K], b32[K * N], c32[M * N];
        memcpy(expected, c0, sizeof c0);
        memcpy(c64, c0, sizeof c0);
        for (int i = 0; i < M * K; i++)
            a32[i] = (float)a[i];
        for (int i = 0; i < K * N; i++)
            b32[i] = (float)b[i];
        for (int i = 0; i < M * N; i++)
            c32[i] = (float)c0[i];
        /* a holds op(a) transposed when ta: the same buffer read as [K,M]. */
        gemm_reference(expected, a, b, M, N, K, ta, tb, 0.5, 2.0);
        eng_gemm_f64(c64, a, b, M, N, K, ta, tb, 0.5, 2.0);
        eng_gemm_f32(c32, a32, b32, M, N, K, ta, tb, 0.5f, 2.0f);
        double c32d[M * N];
        for (int i = 0; i < M * N; i++)
            c32d[i] = c32[i];
        double e64 = max_rel_diff(c64, expected, M * N), e32 = max_rel_diff(c32d, expected, M * N);
        if (e64 > 1e-14 || e32 > 1e-6)
            print_message("trans_a %d trans_b %d: f64 error %.3e, f32 error %.3e\n", ta, tb, e64,
                          e32);
        assert_true(e64 <= 1e-14);
        assert_true(e32 <= 1e-6);
    }
}

/* The small products (Winograd, linear) against the naive sum: row counts around the 8-row
 * (nn, tn) and 4-row (nt) tiles, column counts around the 32-column tiles and 16-lane masks,
 * leading dimensions wider than the matrices, with the AVX-512 bodies and the OpenBLAS
 * fallback. */
static void test_small_gemms_match_naive_products(void **state)
{
    (void)state;
    const int shapes[][3] = {{64, 392, 32}, {32, 49, 64}, {9, 33, 5},
                             {1, 1, 1},     {13, 17, 40}, {7, 100, 3}};
    const eng_simd levels[] = {ENG_SIMD_NONE, ENG_SIMD_AVX512};
    for (size_t l = 0; l < 2; l++) {
        eng_simd old = eng_simd_cap(levels[l]);
        for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
            int m = shapes[k][0], n = shapes[k][1], kk = shapes[k][2];
            int64_t ldb = n + 3, ldc = n + 5, lda_nt = kk + 2, ldb_nt = kk + 7, ldc_nt = n + 1;
            size_t na = (size_t)m * lda_nt, nb = (size_t)kk * ldb, nbt = (size_t)n * ldb_nt;
            double *a = malloc(sizeof *a * na), *b = malloc(sizeof *b * nb);
            double *bt = malloc(sizeof *bt * nbt);
            fill_random(a, (int64_t)m * lda_nt, 90 + k);
            fill_random(b, (int64_t)kk * ldb, 91 + k);
            fill_random(bt, (int64_t)n * ldb_nt, 92 + k);
            float *af = malloc(sizeof *af * na), *bf = malloc(sizeof *bf * nb);
            float *btf = malloc(sizeof *btf * nbt), *c = malloc(sizeof *c * (size_t)m * ldc);
            float *cnt = malloc(sizeof *cnt * (size_t)m * ldc_nt);
            for (int64_t i = 0; i < (int64_t)m * lda_nt; i++)
                af[i] = (float)a[i];
            for (int64_t i = 0; i < (int64_t)kk * ldb; i++)
                bf[i] = (float)b[i];
            for (int64_t i = 0; i < (int64_t)n * ldb_nt; i++)
                btf[i] = (float)bt[i];
            for (int64_t i = 0; i < (int64_t)m * ldc_nt; i++)
                cnt[i] = 1.0f; /* nt adds */
            /* tn_acc: a^T with a [k][lda_tn] taken from the same random numbers */
            int64_t lda_tn = m + 4;
            float *atn = malloc(sizeof *atn * (size_t)kk * lda_tn);
            float *ctn = malloc(sizeof *ctn * (size_t)m * ldc);
            for (int64_t i = 0; i < (int64_t)kk * lda_tn; i++)
                atn[i] = (float)(0.5 - 0.01 * (double)(i % 97));
            for (int64_t i = 0; i < (int64_t)m * ldc; i++)
                ctn[i] = -2.0f; /* tn_acc adds */
            /* nn reads a with lda = k: its first m * k elements */
            eng_small_gemm_nn_f32(c, ldc, af, bf, ldb, m, n, kk);
            eng_small_gemm_nt_f32(cnt, ldc_nt, af, lda_nt, btf, ldb_nt, m, n, kk);
            eng_small_gemm_tn_acc_f32(ctn, ldc, atn, lda_tn, bf, ldb, m, n, kk);
            /* nn_acc adds to c: a [m][lda_nt] as in nt, so that lda > k */
            float *cacc = malloc(sizeof *cacc * (size_t)m * ldc);
            for (int64_t i = 0; i < (int64_t)m * ldc; i++)
                cacc[i] = 3.0f;
            eng_small_gemm_nn_acc_f32(cacc, ldc, af, lda_nt, bf, ldb, m, n, kk);
            /* the f64 bodies on the same (f32-representable) numbers, to 1e-14 */
            double *ad = malloc(sizeof *ad * na), *bd = malloc(sizeof *bd * nb);
            double *btd = malloc(sizeof *btd * nbt);
            double *atnd = malloc(sizeof *atnd * (size_t)kk * lda_tn);
            double *cd = malloc(sizeof *cd * (size_t)m * ldc);
            double *cntd = malloc(sizeof *cntd * (size_t)m * ldc_nt);
            double *ctnd = malloc(sizeof *ctnd * (size_t)m * ldc);
            for (size_t i = 0; i < na; i++)
                ad[i] = af[i];
            for (size_t i = 0; i < nb; i++)
                bd[i] = bf[i];
            for (size_t i = 0; i < nbt; i++)
                btd[i] = btf[i];
            for (int64_t i = 0; i < (int64_t)kk * lda_tn; i++)
                atnd[i] = atn[i];
            for (int64_t i = 0; i < (int64_t)m * ldc_nt; i++)
                cntd[i] = 1.0;
            for (int64_t i = 0; i < (int64_t)m * ldc; i++)
                ctnd[i] = -2.0;
            eng_small_gemm_nn_f64(cd, ldc, ad, bd, ldb, m, n, kk);
            eng_small_gemm_nt_f64(cntd, ldc_nt, ad, lda_nt, btd, ldb_nt, m, n, kk);
            eng_small_gemm_tn_acc_f64(ctnd, ldc, atnd, lda_tn, bd, ldb, m, n, kk);
            double worst64 = 0;
            double worst = 0;
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double nn = 0, nt = 1, tn = -2, scale = 1;
                    for (int p = 0; p < kk; p++) {
                        nn += (double)af[i * kk + p] * bf[p * ldb + j];
                        nt += (double)af[i * lda_nt + p] * btf[j * ldb_nt + p];
                        tn += (double)atn[p * lda_tn + i] * bf[p * ldb + j];
                        scale += fabs((double)af[i * kk + p] * bf[p * ldb + j]) +
                                 fabs((double)af[i * lda_nt + p] * btf[j * ldb_nt + p]) +
                                 fabs((double)atn[p * lda_tn + i] * bf[p * ldb + j]);
                    }
                    worst = fmax(worst, fabs(c[i * ldc + j] - nn) / scale);
                    worst = fmax(worst, fabs(cnt[i * ldc_nt + j] - nt) / scale);
                    worst = fmax(worst, fabs(ctn[i * ldc + j] - tn) / scale);
                    double acc = 3;
                    for (int p = 0; p < kk; p++)
                        acc += (double)af[i * lda_nt + p] * bf[p * ldb + j];
                    worst = fmax(worst, fabs(cacc[i * ldc + j] - acc) / scale);
                    worst64 = fmax(worst64, fabs(cd[i * ldc + j] - nn) / scale);
                    worst64 = fmax(worst64, fabs(cntd[i * ldc_nt + j] - nt) / scale);
                    worst64 = fmax(worst64, fabs(ctnd[i * ldc + j] - tn) / scale);
                }
            if (!(worst64 <= 1e-14))
                print_message("f64, simd cap %d, m %d n %d k %d: relative error %.3g\n",
                              (int)levels[l], m, n, kk, worst64);
            assert_true(worst64 <= 1e-14);
            free(ad), free(bd), free(btd), free(atnd), free(cd), free(cntd), free(ctnd);
            free(atn), free(ctn), free(cacc);
            if (!(worst <= 1e-6))
                print_message("simd cap %d, m %d n %d k %d: relative error %.3g\n", (int)levels[l],
                              m, n, kk, worst);
            assert_true(worst <= 1e-6);
            free(a), free(b), free(bt), free(af), free(bf), free(btf), free(c), free(cnt);
        }
        eng_simd_cap(old);
    }
}

static void test_blas_thread_count_round_trips(void **state)
{
    (void)state;
    int before = eng_blas_get_threads();
    eng_blas_set_threads(1);
    assert_int_equal(eng_blas_get_threads(), 1);
    eng_blas_set_threads(before);
}

/* ---- direct convolution ----------------------------------------------------------------- */

typedef struct direct_case {
    int cin, out, h, w, kh, kw, ph, pw;
} direct_case;

/* Shapes that reach the vector tiles' edges: the seed CNN's and LeNet's first layers, output
 * channels that are not a multiple of a tile, rows narrower than one vector and wider than
 * two, non-square kernels. */
static const direct_case direct_cases[] = {
    {1, 16, 28, 28, 5, 5, 2, 2}, {1, 32, 28, 28, 3, 3, 1, 1}, {3, 5, 9, 13, 3, 3, 1, 1},
    {2, 9, 10, 40, 7, 7, 3, 3},  {2, 3, 6, 5, 3, 5, 0, 2},    {4, 6, 11, 70, 5, 3, 2, 1},
};

/* y = y0 + conv(x, w) and dw = dw0 + correlation(dy, x), from the definition, in long double. */
static void direct_reference(double *y, double *dw, const double *x, const double *w,
                             const double *dy, const direct_case *k)
{
    int oh = k->h + 2 * k->ph - k->kh + 1, ow = k->w + 2 * k->pw - k->kw + 1;
    for (int o = 0; o < k->out; o++)
        for (int c = 0; c < k->cin; c++)
            for (int i = 0; i < k->kh; i++)
                for (int j = 0; j < k->kw; j++) {
                    long double g = 0;
                    double wv = w[((o * k->cin + c) * k->kh + i) * k->kw + j];
                    for (int oy = 0; oy < oh; oy++)
                        for (int ox = 0; ox < ow; ox++) {
                            int iy = oy + i - k->ph, ix = ox + j - k->pw;
                            if (iy < 0 || iy >= k->h || ix < 0 || ix >= k->w)
                                continue;
                            double xv = x[(c * k->h + iy) * k->w + ix];
                            y[(o * oh + oy) * ow + ox] += wv * xv;
                            g += (long double)dy[(o * oh + oy) * ow + ox] * xv;
                        }
                    dw[((o * k->cin + c) * k->kh + i) * k->kw + j] += (double)g;
                }
}

static void check_direct_case(const direct_case *k, eng_dtype dtype, double tol)
{
    int oh = k->h + 2 * k->ph - k->kh + 1, ow = k->w + 2 * k->pw - k->kw + 1;
    int hp = k->h + 2 * k->ph, wp = k->w + 2 * k->pw;
    int64_t nx = (int64_t)k->cin * k->h * k->w, nw = (int64_t)k->out * k->cin * k->kh * k->kw;
    int64_t ny = (int64_t)k->out * oh * ow, np = (int64_t)k->cin * hp * wp;
    double *x = malloc(sizeof *x * nx), *w = malloc(sizeof *w * nw), *dy = malloc(sizeof *dy * ny);
    double *y = malloc(sizeof *y * ny), *dw = malloc(sizeof *dw * nw);
    fill_random(x, nx, 1);
    fill_random(w, nw, 2);
    fill_random(dy, ny, 3);
    fill_random(y, ny, 4); /* the kernels add to what is there */
    fill_random(dw, nw, 5);
    /* The inputs rounded to the dtype first, so that both sides see the same numbers. */
    if (dtype == ENG_F32) {
        for (int64_t i = 0; i < nx; i++)
            x[i] = (float)x[i];
        for (int64_t i = 0; i < nw; i++)
            w[i] = (float)w[i], dw[i] = (float)dw[i];
        for (int64_t i = 0; i < ny; i++)
            dy[i] = (float)dy[i], y[i] = (float)y[i];
    }
    double *ry = malloc(sizeof *ry * ny), *rdw = malloc(sizeof *rdw * nw);
    memcpy(ry, y, sizeof *ry * ny);
    memcpy(rdw, dw, sizeof *rdw * nw);
    direct_reference(ry, rdw, x, w, dy, k);
    double *gy = malloc(sizeof *gy * ny), *gdw = malloc(sizeof *gdw * nw);
    if (dtype == ENG_F32) {
        float *fx = malloc(sizeof *fx * nx), *fw = malloc(sizeof *fw * nw);
        float *fdy = malloc(sizeof *fdy * ny), *fy = malloc(sizeof *fy * ny);
        float *fdw = malloc(sizeof *fdw * nw), *fp = malloc(sizeof *fp * np);
        for (int64_t i = 0; i < nx; i++)
            fx[i] = (float)x[i];
        for (int64_t i = 0; i < nw; i++)
            fw[i] = (float)w[i], fdw[i] = (float)dw[i];
        for (int64_t i = 0; i < ny; i++)
            fdy[i] = (float)dy[i], fy[i] = (float)y[i];
        eng_pad_f32(fp, fx, k->cin, k->h, k->w, k->ph, k->pw);
        eng_conv_direct_f32(fy, fw, fp, k->cin, hp, wp, k->out, k->kh, k->kw);
        eng_conv_direct_dweight_f32(fdw, fdy, fp, k->cin, hp, wp, k->out, k->kh, k->kw);
        for (int64_t i = 0; i < ny; i++)
            gy[i] = fy[i];
        for (int64_t i = 0; i < nw; i++)
            gdw[i] = fdw[i];
        free(fx), free(fw), free(fdy), free(fy), free(fdw), free(fp);
    } else {
        double *xp = malloc(sizeof *xp * np);
        memcpy(gy, y, sizeof *gy * ny);
        memcpy(gdw, dw, sizeof *gdw * nw);
        eng_pad_f64(xp, x, k->cin, k->h, k->w, k->ph, k->pw);
        eng_conv_direct_f64(gy, w, xp, k->cin, hp, wp, k->out, k->kh, k->kw);
        eng_conv_direct_dweight_f64(gdw, dy, xp, k->cin, hp, wp, k->out, k->kh, k->kw);
        free(xp);
    }
    double ey = max_rel_diff(gy, ry, ny), edw = max_rel_diff(gdw, rdw, nw);
    if (!(ey <= tol && edw <= tol))
        print_message("simd level %d, %s, cin %d out %d %dx%d kernel %dx%d pad %d,%d: y %.3g "
                      "dw %.3g (limit %.1g)\n",
                      (int)eng_simd_level(), eng_dtype_name(dtype), k->cin, k->out, k->h, k->w,
                      k->kh, k->kw, k->ph, k->pw, ey, edw, tol);
    assert_true(ey <= tol && edw <= tol);
    free(x), free(w), free(dy), free(y), free(dw), free(ry), free(rdw), free(gy), free(gdw);
}

static void test_direct_convolution_matches_definition_at_every_simd_level(void **state)
{
    (void)state;
    const eng_simd levels[] = {ENG_SIMD_NONE, ENG_SIMD_AVX2, ENG_SIMD_AVX512};
    for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
        eng_simd old = eng_simd_cap(levels[l]);
        for (size_t c = 0; c < sizeof direct_cases / sizeof direct_cases[0]; c++) {
            check_direct_case(&direct_cases[c], ENG_F64, 1e-13);
            check_direct_case(&direct_cases[c], ENG_F32, 2e-6);
        }
        eng_simd_cap(old);
    }
}

/* ---- im2col / col2im -------------------------------------------------------------------- */

static eng_conv_geometry geometry(int c, int h, int w, int kh, int kw, int sh, int sw, int ph,
                                  int pw, int dh, int dw)
{
    eng_conv_geometry g = {c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, 0, 0};
    g.oh = (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1;
    g.ow = (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
    return g;
}

static const eng_conv_geometry *conv_cases(int *count)
{
    static eng_conv_geometry cases[5];
    cases[0] = geometry(2, 5, 6, 3, 3, 1, 1, 0, 0, 1, 1);
    cases[1] = geometry(3, 7, 6, 3, 2, 2, 1, 1, 2, 2, 1);
    cases[2] = geometry(1, 6, 9, 2, 3, 3, 2, 1, 1, 1, 3);
    cases[3] = geometry(2, 4, 4, 5, 5, 1, 1, 2, 2, 1, 1); /* padding wider than the image edge */
    cases[4] = geometry(1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1);
    *count = 5;
    return cases;
}

/* col[(c,i,j), (oy,ox)] = x[c, oy*sh - ph + i*dh, ox*sw - pw + j*dw], 0 in the padding. */
static void im2col_reference(double *col, const double *x, const eng_conv_geometry *g)
{
    int plane = g->oh * g->ow;
    for (int c = 0; c < g->channels; c++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++)
                for (int oy = 0; oy < g->oh; oy++)
                    for (int ox = 0; ox < g->ow; ox++) {
                        int iy = oy * g->sh - g->ph + i * g->dh;
                        int ix = ox * g->sw - g->pw + j * g->dw;
                        bool inside = iy >= 0 && iy < g->height && ix >= 0 && ix < g->width;
                        col[((c * g->kh + i) * g->kw + j) * plane + oy * g->ow + ox] =
                            inside ? x[(c * g->height + iy) * g->width + ix] : 0.0;
                    }
}

static void test_im2col_matches_definition_with_stride_padding_dilation(void **state)
{
    (void)state;
    int count;
    const eng_conv_geometry *cases = conv_cases(&count);
    for (int k = 0; k < count; k++) {
        const eng_conv_geometry *g = &cases[k];
        int nx = g->channels * g->height * g->width;
        int ncol = g->channels * g->kh * g->kw * g->oh * g->ow;
        double *x = malloc(sizeof *x * nx), *expected = malloc(sizeof *expected * ncol);
        double *col = malloc(sizeof *col * ncol);
        float *x32 = malloc(sizeof *x32 * nx), *col32 = malloc(sizeof *col32 * ncol);
        fill_random(x, nx, 10 + k);
        for (int i = 0; i < nx; i++)
            x32[i] = (float)x[i];
        /* Poison the outputs: every element must be written. */
        for (int i = 0; i < ncol; i++) {
            col[i] = NAN;
            col32[i] = NAN;
        }
        im2col_reference(expected, x, g);
        eng_im2col_f64(col, x, g);
        eng_im2col_f32(col32, x32, g);
        for (int i = 0; i < ncol; i++) {
            if (col[i] != expected[i] || col32[i] != (float)expected[i])
                print_message("case %d element %d: f64 %g f32 %g expected %g\n", k, i, col[i],
                              (double)col32[i], expected[i]);
            assert_true(col[i] == expected[i]);
            assert_true(col32[i] == (float)expected[i]);
        }
        free(x);
        free(expected);
        free(col);
        free(x32);
        free(col32);
    }
}

static void test_col2im_is_the_adjoint_of_im2col(void **state)
{
    (void)state;
    int count;
    const eng_conv_geometry *cases = conv_cases(&count);
    for (int k = 0; k < count; k++) {
        const eng_conv_geometry *g = &cases[k];
        int nx = g->channels * g->height * g->width;
        int ncol = g->channels * g->kh * g->kw * g->oh * g->ow;
        double *x = malloc(sizeof *x * nx), *c = malloc(sizeof *c * ncol);
        double *colx = malloc(sizeof *colx * ncol), *xc = malloc(sizeof *xc * nx);
        float *c32 = malloc(sizeof *c32 * ncol), *xc32 = malloc(sizeof *xc32 * nx);
        fill_random(x, nx, 20 + k);
        fill_random(c, ncol, 30 + k);
        for (int i = 0; i < ncol; i++)
            c32[i] = (float)c[i];
        for (int i = 0; i < nx; i++)
            xc[i] = xc32[i] = NAN; /* overwritten, not accumulated */
        im2col_reference(colx, x, g);
        eng_col2im_f64(xc, c, g);
        eng_col2im_f32(xc32, c32, g);
        /* <im2col(x), c> = <x, col2im(c)> */
        long double lhs = 0, rhs = 0, rhs32 = 0, scale = 0;
        for (int i = 0; i < ncol; i++) {
            lhs += (long double)colx[i] * c[i];
            scale += fabsl((long double)colx[i] * c[i]);
        }
        for (int i = 0; i < nx; i++) {
            rhs += (long double)x[i] * xc[i];
            rhs32 += (long double)x[i] * xc32[i];
        }
        double e64 = (double)(fabsl(lhs - rhs) / (scale > 0 ? scale : 1));
        double e32 = (double)(fabsl(lhs - rhs32) / (scale > 0 ? scale : 1));
        if (e64 > 1e-14 || e32 > 1e-6)
            print_message("case %d: <im2col x, c> %.17Lg, <x, col2im c> %.17Lg (f32 %.17Lg)\n", k,
                          lhs, rhs, rhs32);
        assert_true(e64 <= 1e-14);
        assert_true(e32 <= 1e-6);
        free(x);
        free(c);
        free(colx);
        free(xc);
        free(c32);
        free(xc32);
    }
}

/* ---- pooling ---------------------------------------------------------------------------- */

static eng_pool_geometry pool_geometry_of(int64_t planes, int h, int w, int kh, int kw, int sh,
                                          int sw, int ph, int pw)
{
    eng_pool_geometry g = {planes, h, w, kh, kw, sh, sw, ph, pw, 0, 0};
    g.oh = (h + 2 * ph - kh) / sh + 1;
    g.ow = (w + 2 * pw - kw) / sw + 1;
    return g;
}

static void test_maxpool_2x2_picks_window_maxima_and_first_of_ties(void **state)
{
    (void)state;
    const double x[16] = {1, 5, 2, 0, 3, 4, 8, 8, 0, 0, -1, -2, 9, 0, -3, -4};
    const double y_expected[4] = {5, 8, 9, -1};
    const int32_t argmax_expected[4] = {1, 6, 12, 10};
    eng_pool_geometry g = pool_geometry_of(1, 4, 4, 2, 2, 2, 2, 0, 0);
    double y[4], dx[16];
    float x32[16], y32[4], dx32[16];
    int32_t am[4], am32[4];
    for (int i = 0; i < 16; i++)
        x32[i] = (float)x[i];
    eng_maxpool_forward_f64(y, am, x, &g);
    eng_maxpool_forward_f32(y32, am32, x32, &g);
    for (int i = 0; i < 4; i++) {
        assert_true(y[i] == y_expected[i] && y32[i] == (float)y_expected[i]);
        assert_int_equal(am[i], argmax_expected[i]);
        assert_int_equal(am32[i], argmax_expected[i]);
    }
    const double dy[4] = {0.5, -1, 2, 3};
    const float dy32[4] = {0.5f, -1, 2, 3};
    eng_maxpool_backward_f64(dx, dy, am, &g);
    eng_maxpool_backward_f32(dx32, dy32, am32, &g);
    for (int i = 0; i < 16; i++) {
        double e = i == 1 ? 0.5 : i == 6 ? -1 : i == 12 ? 2 : i == 10 ? 3 : 0;
        assert_true(dx[i] == e && dx32[i] == (float)e);
    }
    eng_maxpool_backward_xy_f64(dx, dy, x, y, &g);
    eng_maxpool_backward_xy_f32(dx32, dy32, x32, y32, &g);
    for (int i = 0; i < 16; i++) {
        double e = i == 1 ? 0.5 : i == 6 ? -1 : i == 12 ? 2 : i == 10 ? 3 : 0;
        assert_true(dx[i] == e && dx32[i] == (float)e);
    }
}

/* Max over the real elements of each window (padding never wins), first maximum in row-major
 * window order; gradients summed where windows overlap. */
static void maxpool_reference(double *y, int32_t *argmax, const double *x,
                              const eng_pool_geometry *g)
{
    for (int64_t p = 0; p < g->planes; p++)
        for (int oy = 0; oy < g->oh; oy++)
            for (int ox = 0; ox < g->ow; ox++) {
                double m = -INFINITY;
                int best = -1;
                for (int i = 0; i < g->kh; i++)
                    for (int j = 0; j < g->kw; j++) {
                        int iy = oy * g->sh - g->ph + i, ix = ox * g->sw - g->pw + j;
                        if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
                            continue;
                        double v = x[(p * g->h + iy) * g->w + ix];
                        if (best < 0 || v > m) {
                            m = v;
                            best = iy * g->w + ix;
                        }
                    }
                y[(p * g->oh + oy) * g->ow + ox] = m;
                argmax[(p * g->oh + oy) * g->ow + ox] = best;
            }
}

/* Sum over the real elements / ((min(y0+kh, h+ph) - y0) * (min(x0+kw, w+pw) - x0)), PyTorch's
 * count_include_pad=True. */
static void avgpool_reference(double *y, const double *x, const eng_pool_geometry *g)
{
    for (int64_t p = 0; p < g->planes; p++)
        for (int oy = 0; oy < g->oh; oy++)
            for (int ox = 0; ox < g->ow; ox++) {
                int y0 = oy * g->sh - g->ph, x0 = ox * g->sw - g->pw;
                int ny = (y0 + g->kh < g->h + g->ph ? y0 + g->kh : g->h + g->ph) - y0;
                int nx = (x0 + g->kw < g->w + g->pw ? x0 + g->kw : g->w + g->pw) - x0;
                double s = 0;
                for (int iy = y0; iy < y0 + g->kh; iy++)
                    for (int ix = x0; ix < x0 + g->kw; ix++)
                        if (iy >= 0 && iy < g->h && ix >= 0 && ix < g->w)
                            s += x[(p * g->h + iy) * g->w + ix];
                y[(p * g->oh + oy) * g->ow + ox] = s / (ny * nx);
            }
}

static const eng_pool_geometry *pool_cases(int *count)
{
    static eng_pool_geometry cases[6];
    cases[0] = pool_geometry_of(3, 6, 6, 2, 2, 2, 2, 0, 0);
    cases[1] = pool_geometry_of(2, 7, 5, 2, 2, 2, 2, 0, 0); /* odd sizes: last row dropped */
    cases[2] = pool_geometry_of(2, 7, 7, 3, 3, 2, 2, 1, 1);
    cases[3] = pool_geometry_of(1, 5, 6, 3, 2, 1, 2, 1, 1);
    cases[4] = pool_geometry_of(2, 4, 5, 2, 3, 1, 1, 1, 1);
    cases[5] = pool_geometry_of(1, 3, 3, 3, 3, 1, 1, 1, 1);
    *count = 6;
    return cases;
}

static void test_maxpool_matches_reference_with_ties_and_padding(void **state)
{
    (void)state;
    int count;
    const eng_pool_geometry *cases = pool_cases(&count);
    for (int k = 0; k < count; k++) {
        const eng_pool_geometry *g = &cases[k];
        int64_t nx = g->planes * g->h * g->w, ny = g->planes * g->oh * g->ow;
        double *x = malloc(sizeof *x * nx), *y = malloc(sizeof *y * ny);
        double *ye = malloc(sizeof *ye * ny);
        float *x32 = malloc(sizeof *x32 * nx), *y32 = malloc(sizeof *y32 * ny);
        int32_t *am = malloc(sizeof *am * ny), *ame = malloc(sizeof *ame * ny);
        int32_t *am32 = malloc(sizeof *am32 * ny);
        eng_rng rng;
        eng_rng_seed(&rng, 40 + k);
        /* Few distinct, mostly negative values: many ties, and windows whose real elements are
         * all below the zero a padded cell would hold. */
        for (int64_t i = 0; i < nx; i++)
            x32[i] = (float)(x[i] = -(double)eng_rng_below(&rng, 3) - 1);
        maxpool_reference(ye, ame, x, g);
        eng_maxpool_forward_f64(y, am, x, g);
        eng_maxpool_forward_f32(y32, am32, x32, g);
        for (int64_t i = 0; i < ny; i++) {
            if (y[i] != ye[i] || am[i] != ame[i] || am32[i] != ame[i])
                print_message("case %d output %lld: y %g argmax %d (f32 %d), expected %g at %d\n",
                              k, (long long)i, y[i], am[i], am32[i], ye[i], ame[i]);
            assert_true(y[i] == ye[i] && y32[i] == (float)ye[i]);
            assert_int_equal(am[i], ame[i]);
            assert_int_equal(am32[i], ame[i]);
        }
        /* backward: each dy to its window's reference winner (found again from x and y by
         * the kernel, with all these ties), summed where windows overlap */
        double *dy = malloc(sizeof *dy * ny), *dx = malloc(sizeof *dx * nx);
        double *dxe = calloc((size_t)nx, sizeof *dxe);
        float *dy32 = malloc(sizeof *dy32 * ny), *dx32 = malloc(sizeof *dx32 * nx);
        for (int64_t i = 0; i < ny; i++) {
            dy32[i] = (float)(dy[i] = (double)(i % 7) - 3);
            dxe[(i / (g->oh * g->ow)) * g->h * g->w + ame[i]] += dy[i];
        }
        for (int64_t i = 0; i < nx; i++)
            dx[i] = dx32[i] = 99; /* overwritten */
        for (int from_xy = 0; from_xy < 2; from_xy++) {
            if (from_xy) {
                eng_maxpool_backward_xy_f64(dx, dy, x, y, g);
                eng_maxpool_backward_xy_f32(dx32, dy32, x32, y32, g);
            } else {
                eng_maxpool_backward_f64(dx, dy, am, g);
                eng_maxpool_backward_f32(dx32, dy32, am32, g);
            }
            for (int64_t i = 0; i < nx; i++) {
                if (dx[i] != dxe[i] || dx32[i] != (float)dxe[i])
                    print_message("case %d (%s) dx[%lld] = %g (f32 %g), expected %g\n", k,
                                  from_xy ? "from x and y" : "from argmax", (long long)i, dx[i],
                                  dx32[i], dxe[i]);
                assert_true(dx[i] == dxe[i] && dx32[i] == (float)dxe[i]);
            }
        }
        free(dy);
        free(dx);
        free(dxe);
        free(dy32);
        free(dx32);
        free(x);
        free(y);
        free(ye);
        free(x32);
        free(y32);
        free(am);
        free(ame);
        free(am32);
    }
}

/* A NaN in a window: the forward keeps the first element when it is the NaN (y is NaN) and
 * skips a later NaN; the backward from x and y sends the gradient where the forward's winner
 * was. */
static void test_maxpool_backward_follows_the_forward_around_nans(void **state)
{
    (void)state;
    const double nan = NAN;
    const double x[8] = {nan, 5, 1, nan, 2, 3, 7, 0};
    eng_pool_geometry g2 = pool_geometry_of(1, 2, 4, 2, 2, 2, 2, 0, 0); /* 2x2 fast path */
    eng_pool_geometry g3 = pool_geometry_of(1, 2, 4, 2, 2, 2, 2, 0, 1); /* general path */
    const eng_pool_geometry *geometries[2] = {&g2, &g3};
    for (int k = 0; k < 2; k++) {
        const eng_pool_geometry *g = geometries[k];
        double y[3], dy[3] = {10, 20, 30}, dx[8], dxe[8] = {0};
        int32_t am[3];
        eng_maxpool_forward_f64(y, am, x, g);
        for (int i = 0; i < g->ow; i++)
            dxe[am[i]] += dy[i];
        eng_maxpool_backward_xy_f64(dx, dy, x, y, g);
        for (int i = 0; i < 8; i++) {
            if (dx[i] != dxe[i])
                print_message("geometry %d: dx[%d] = %g, expected %g\n", k, i, dx[i], dxe[i]);
            assert_true(dx[i] == dxe[i]);
        }
    }
}

static void test_avgpool_counts_padding_in_the_divisor(void **state)
{
    (void)state;
    /* All ones, 3x3 window, stride 1, padding 1: corners see 4 of 9 cells, edges 6, centre 9. */
    double x[9], y[9];
    for (int i = 0; i < 9; i++)
        x[i] = 1;
    eng_pool_geometry g = pool_geometry_of(1, 3, 3, 3, 3, 1, 1, 1, 1);
    eng_avgpool_forward_f64(y, x, &g);
    const double expected[9] = {4 / 9., 6 / 9., 4 / 9., 6 / 9., 1, 6 / 9., 4 / 9., 6 / 9., 4 / 9.};
    for (int i = 0; i < 9; i++)
        assert_double_close(y[i], expected[i], 1e-15);
}

static void test_avgpool_matches_reference_and_backward_is_its_adjoint(void **state)
{
    (void)state;
    int count;
    const eng_pool_geometry *cases = pool_cases(&count);
    for (int k = 0; k < count; k++) {
        const eng_pool_geometry *g = &cases[k];
        int64_t nx = g->planes * g->h * g->w, ny = g->planes * g->oh * g->ow;
        double *x = malloc(sizeof *x * nx), *y = malloc(sizeof *y * ny);
        double *ye = malloc(sizeof *ye * ny), *dy = malloc(sizeof *dy * ny);
        double *dx = malloc(sizeof *dx * nx);
        float *x32 = malloc(sizeof *x32 * nx), *y32 = malloc(sizeof *y32 * ny);
        float *dy32 = malloc(sizeof *dy32 * ny), *dx32 = malloc(sizeof *dx32 * nx);
        fill_random(x, nx, 50 + k);
        fill_random(dy, ny, 60 + k);
        for (int64_t i = 0; i < nx; i++)
            x32[i] = (float)x[i];
        for (int64_t i = 0; i < ny; i++)
            dy32[i] = (float)dy[i];
        for (int64_t i = 0; i < nx; i++)
            dx[i] = dx32[i] = NAN;
        avgpool_reference(ye, x, g);
        eng_avgpool_forward_f64(y, x, g);
        eng_avgpool_forward_f32(y32, x32, g);
        double y32d[64];
        assert_true(ny <= 64);
        for (int64_t i = 0; i < ny; i++)
            y32d[i] = y32[i];
        double ef = max_rel_diff(y, ye, ny), ef32 = max_rel_diff(y32d, ye, ny);
        if (ef > 1e-15 || ef32 > 1e-6)
            print_message("case %d: forward error f64 %.3e f32 %.3e\n", k, ef, ef32);
        assert_true(ef <= 1e-15 && ef32 <= 1e-6);
        eng_avgpool_backward_f64(dx, dy, g);
        eng_avgpool_backward_f32(dx32, dy32, g);
        long double lhs = 0, rhs = 0, rhs32 = 0;
        for (int64_t i = 0; i < ny; i++)
            lhs += (long double)ye[i] * dy[i];
        for (int64_t i = 0; i < nx; i++) {
            rhs += (long double)x[i] * dx[i];
            rhs32 += (long double)x[i] * dx32[i];
        }
        double e = (double)fabsl(lhs - rhs), e32 = (double)fabsl(lhs - rhs32);
        if (e > 1e-14 || e32 > 1e-5)
            print_message("case %d: <avg x, dy> %.17Lg, <x, dx> %.17Lg (f32 %.17Lg)\n", k, lhs, rhs,
                          rhs32);
        assert_true(e <= 1e-14 && e32 <= 1e-5);
        free(x);
        free(y);
        free(ye);
        free(dy);
        free(dx);
        free(x32);
        free(y32);
        free(dy32);
        free(dx32);
    }
}

/* ---- activations ------------------------------------------------------------------------ */

static void test_relu_and_leaky_relu_values_and_derivative_at_zero(void **state)
{
    (void)state;
    const double x[4] = {-2, 0, 3, -0.5}, dy[4] = {1, 1, 1, 2};
    double y[4], dx[4];
    float x32[4], y32[4], dy32[4], dx32[4];
    for (int i = 0; i < 4; i++) {
        x32[i] = (float)x[i];
        dy32[i] = (float)dy[i];
    }
    eng_relu_forward_f64(y, x, 4);
    eng_relu_forward_f32(y32, x32, 4);
    eng_relu_backward_f64(dx, dy, x, 4);
    eng_relu_backward_f32(dx32, dy32, x32, 4);
    const double relu_y[4] = {0, 0, 3, 0}, relu_dx[4] = {0, 0, 1, 0}; /* relu'(0) = 0 */
    for (int i = 0; i < 4; i++) {
        assert_true(y[i] == relu_y[i] && y32[i] == (float)relu_y[i]);
        assert_true(dx[i] == relu_dx[i] && dx32[i] == (float)relu_dx[i]);
    }
    eng_leaky_relu_forward_f64(y, x, 4, 0.25);
    eng_leaky_relu_forward_f32(y32, x32, 4, 0.25);
    eng_leaky_relu_backward_f64(dx, dy, x, 4, 0.25);
    eng_leaky_relu_backward_f32(dx32, dy32, x32, 4, 0.25);
    const double leaky_y[4] = {-0.5, 0, 3, -0.125}, leaky_dx[4] = {0.25, 0.25, 1, 0.5};
    for (int i = 0; i < 4; i++) {
        assert_true(y[i] == leaky_y[i] && y32[i] == (float)leaky_y[i]);
        assert_true(dx[i] == leaky_dx[i] && dx32[i] == (float)leaky_dx[i]);
    }
}

static void test_tanh_and_sigmoid_at_known_points(void **state)
{
    (void)state;
    /* tanh(ln a) = (a^2 - 1)/(a^2 + 1); sigmoid(ln 3) = 3/4; tanh' = 1 - y^2, sigmoid' =
     * y(1 - y). */
    const double x[3] = {log(2.0), log(3.0), -log(3.0)}, dy[3] = {1, 2, -1};
    const double tanh_y[3] = {0.6, 0.8, -0.8}, tanh_dx[3] = {0.64, 0.72, -0.36};
    const double sig_y[3] = {2 / 3., 0.75, 0.25}, sig_dx[3] = {2 / 9., 0.375, -0.1875};
    double y[3], dx[3];
    float x32[3], y32[3], dy32[3], dx32[3];
    for (int i = 0; i < 3; i++) {
        x32[i] = (float)x[i];
        dy32[i] = (float)dy[i];
    }
    eng_tanh_forward_f64(y, x, 3);
    eng_tanh_forward_f32(y32, x32, 3);
    for (int i = 0; i < 3; i++) {
        assert_double_close(y[i], tanh_y[i], 1e-15);
        assert_double_close(y32[i], tanh_y[i], 1e-5);
    }
    eng_tanh_backward_f64(dx, dy, tanh_y, 3);
    for (int i = 0; i < 3; i++)
        assert_double_close(dx[i], tanh_dx[i], 1e-15);
    eng_sigmoid_forward_f64(y, x, 3);
    eng_sigmoid_forward_f32(y32, x32, 3);
    for (int i = 0; i < 3; i++) {
        assert_double_close(y[i], sig_y[i], 1e-15);
        assert_double_close(y32[i], sig_y[i], 1e-5);
    }
    eng_sigmoid_backward_f64(dx, dy, sig_y, 3);
    float sig_y32[3] = {2 / 3.f, 0.75f, 0.25f};
    eng_sigmoid_backward_f32(dx32, dy32, sig_y32, 3);
    for (int i = 0; i < 3; i++) {
        assert_double_close(dx[i], sig_dx[i], 1e-15);
        assert_double_close(dx32[i], sig_dx[i], 1e-5);
    }
}

static void test_sigmoid_does_not_overflow_at_extreme_inputs(void **state)
{
    (void)state;
    const double x[4] = {-800, 800, -40, 40};
    const float x32[4] = {-120, 120, -40, 40};
    double y[4];
    float y32[4];
    eng_sigmoid_forward_f64(y, x, 4);
    eng_sigmoid_forward_f32(y32, x32, 4);
    assert_true(y[0] >= 0 && y[0] < 1e-300 && y[1] == 1.0);
    assert_true(y32[0] >= 0 && y32[0] < 1e-40f && y32[1] == 1.0f);
    assert_double_close(y[2], exp(-40.0) / (1 + exp(-40.0)), 1e-14);
    assert_double_close(y32[2], exp(-40.0), 1e-5);
    assert_true(y[3] == 1.0);
}

/* ---- reductions and bias ---------------------------------------------------------------- */

static void test_bias_broadcasts_and_their_reductions(void **state)
{
    (void)state;
    double y[6] = {0, 1, 2, 3, 4, 5}, bias[3] = {10, 20, 30}, db[3] = {1, 1, 1};
    eng_fill_rows_f64(y, bias, 2, 3); /* y [2,3] = bias [3] in every row */
    for (int i = 0; i < 6; i++)
        assert_true(y[i] == bias[i % 3]);
    const double rows[6] = {10, 21, 32, 13, 24, 35};
    eng_sum_rows_f64(db, rows, 2, 3); /* accumulates */
    assert_true(db[0] == 24 && db[1] == 46 && db[2] == 68);
    float y32[6] = {0, 1, 2, 3, 4, 5}, b32[2] = {100, 200}, db32[2] = {0, 0};
    eng_fill_planes_f32(y32, b32, 2, 3); /* y [2 channels, plane 3] */
    for (int i = 0; i < 6; i++)
        assert_true(y32[i] == (i < 3 ? 100 : 200));
    const float planes[6] = {100, 101, 102, 203, 204, 205};
    eng_sum_planes_f32(db32, planes, 2, 3);
    assert_true(db32[0] == 303 && db32[1] == 612);
    float r32[3] = {1, 2, 3}, s32[3] = {0, 0, 0};
    eng_sum_rows_f32(s32, r32, 3, 1);
    assert_true(s32[0] == 6);
    double p64[4] = {1, 2, 3, 4}, q64[2] = {0.5, 0.5};
    eng_fill_planes_f64(p64, q64, 2, 2);
    eng_sum_planes_f64(q64, p64, 2, 2); /* 0.5 + (0.5 + 0.5) per plane */
    assert_true(q64[0] == 1.5 && q64[1] == 1.5);
    float r2[4] = {1, 2, 3, 4}, c2[2] = {0.5f, -0.5f};
    eng_fill_rows_f32(r2, c2, 2, 2);
    assert_true(r2[0] == 0.5f && r2[1] == -0.5f && r2[2] == 0.5f && r2[3] == -0.5f);
}

static void test_sums_accumulate_in_double(void **state)
{
    (void)state;
    enum { N = 1003 };
    float *x = malloc(sizeof *x * N);
    double *d = malloc(sizeof *d * N);
    x[0] = 16777216.0f; /* 2^24: float addition of 1 to it is lost */
    d[0] = 0x1p53;
    for (int i = 1; i < N; i++) {
        x[i] = 1;
        d[i] = 0.5;
    }
    assert_true(eng_sum_f32(x, N) == 16777216.0 + (N - 1));
    assert_true(eng_sum_f32(x, 0) == 0);
    assert_true(eng_sum_f64(d + 1, N - 1) == 0.5 * (N - 1));
    float *dbias = calloc(1, sizeof *dbias);
    eng_sum_planes_f32(dbias, x + 1, 1, N - 1);
    assert_true(*dbias == (float)(N - 1));
    free(dbias);
    free(x);
    free(d);
}

/* ---- softmax cross-entropy -------------------------------------------------------------- */

static void test_softmax_xent_hand_values(void **state)
{
    (void)state;
    /* Row 0: equal logits, loss ln 3. Row 1: logits (ln 1, ln 2, ln 5) + 7, label 2: softmax
     * (1/8, 2/8, 5/8), loss ln(8/5). */
    const double logits[6] = {0.5, 0.5, 0.5, 7, 7 + log(2.0), 7 + log(5.0)};
    const int64_t labels[2] = {1, 2};
    const double probs_expected[6] = {1 / 3., 1 / 3., 1 / 3., 0.125, 0.25, 0.625};
    double probs[6], dl[6];
    double loss = eng_softmax_xent_forward_f64(probs, logits, labels, 2, 3);
    assert_double_close(loss, (log(3.0) + log(8.0 / 5.0)) / 2, 1e-15);
    for (int i = 0; i < 6; i++)
        assert_double_close(probs[i], probs_expected[i], 1e-14);
    eng_softmax_xent_backward_f64(dl, probs_expected, labels, 2, 3, 2.0);
    /* scale * (p - onehot) / n with scale 2, n 2 */
    const double dl_expected[6] = {1 / 3., -2 / 3., 1 / 3., 0.125, 0.25, -0.375};
    for (int i = 0; i < 6; i++)
        assert_double_close(dl[i], dl_expected[i], 1e-15);
    float l32[6], p32[6], d32[6];
    for (int i = 0; i < 6; i++)
        l32[i] = (float)logits[i];
    double loss32 = eng_softmax_xent_forward_f32(p32, l32, labels, 2, 3);
    assert_double_close(loss32, (log(3.0) + log(8.0 / 5.0)) / 2, 1e-5);
    eng_softmax_xent_backward_f32(d32, p32, labels, 2, 3, 1.0);
    for (int i = 0; i < 6; i++)
        assert_double_close(d32[i], dl_expected[i] / 2, 1e-5);
}

static void test_softmax_xent_is_stable_for_huge_logits(void **state)
{
    (void)state;
    const double logits[4] = {1000, 0, -1000, 1000};
    const int64_t labels[2] = {1, 0};
    double probs[4];
    /* Row 0: loss = logsumexp(1000, 0) - 0 = 1000 + log1p(e^-1000) = 1000. Row 1: 2000. */
    double loss = eng_softmax_xent_forward_f64(probs, logits, labels, 2, 2);
    assert_double_close(loss, 1500.0, 1e-15);
    assert_true(probs[0] == 1.0 && probs[1] >= 0 && probs[1] < 1e-300);
    float l32[4] = {100, 0, -100, 100}, p32[4];
    double loss32 = eng_softmax_xent_forward_f32(p32, l32, labels, 2, 2);
    assert_double_close(loss32, 150.0, 1e-6);
    assert_true(p32[0] == 1.0f && p32[3] == 1.0f);
    assert_double_close(eng_softmax_xent_forward_f64(probs, logits, labels, 0, 2), 0.0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_matches_naive_product_for_every_transpose),
        cmocka_unit_test(test_blas_thread_count_round_trips),
        cmocka_unit_test(test_small_gemms_match_naive_products),
        cmocka_unit_test(test_direct_convolution_matches_definition_at_every_simd_level),
        cmocka_unit_test(test_im2col_matches_definition_with_stride_padding_dilation),
        cmocka_unit_test(test_col2im_is_the_adjoint_of_im2col),
        cmocka_unit_test(test_maxpool_2x2_picks_window_maxima_and_first_of_ties),
        cmocka_unit_test(test_maxpool_matches_reference_with_ties_and_padding),
        cmocka_unit_test(test_maxpool_backward_follows_the_forward_around_nans),
        cmocka_unit_test(test_avgpool_counts_padding_in_the_divisor),
        cmocka_unit_test(test_avgpool_matches_reference_and_backward_is_its_adjoint),
        cmocka_unit_test(test_relu_and_leaky_relu_values_and_derivative_at_zero),
        cmocka_unit_test(test_tanh_and_sigmoid_at_known_points),
        cmocka_unit_test(test_sigmoid_does_not_overflow_at_extreme_inputs),
        cmocka_unit_test(test_bias_broadcasts_and_their_reductions),
        cmocka_unit_test(test_sums_accumulate_in_double),
        cmocka_unit_test(test_softmax_xent_hand_values),
        cmocka_unit_test(test_softmax_xent_is_stable_for_huge_logits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
