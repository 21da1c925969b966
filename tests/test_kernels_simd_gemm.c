/* The AVX-512 bodies of the small products (kernels/small_gemm.h) against loops written here
 * from the header's definitions. nn and tn compute each element of c as one chain of
 * multiply-adds along the inner dimension in order, whatever the register tile, so they must
 * equal fmaf/fma chains bit for bit; nt sums lanes in a tree, so it is checked to rounding
 * against a double sum. Sizes around every tile edge: rows around the 8- and 4-row tiles,
 * columns around the 16-lane vectors and the 3-vector blocks, inner dimensions 1 and odd,
 * leading dimensions wider than the matrices. The OpenBLAS fallback: test_kernels.c. */
#include "support.h"

#include "kernels/cpu.h"
#include "kernels/gemm.h"
#include "kernels/small_gemm.h"

static const int gemm_rows[] = {1, 3, 4, 5, 7, 8, 9, 12, 13, 16, 17, 25};
static const int gemm_cols[] = {1, 8, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 97, 392};
static const int gemm_inner[] = {1, 2, 16, 37};
#define COUNT(a) (int)(sizeof a / sizeof a[0])

/* n values uniform in [-1, 1). */
static void fill(double *p, int64_t n, uint64_t seed)
{
    eng_rng rng;
    eng_rng_seed(&rng, seed);
    for (int64_t i = 0; i < n; i++)
        p[i] = 2 * eng_rng_uniform(&rng) - 1;
}

static bool same_bits_f32(float a, float b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}
static bool same_bits_f64(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* Operands for one shape: a [m][lda] (nn) or [k][lda] (tn), b [k][ldb], c [m][ldc], with
 * lda, ldb, ldc past the matrices so that a body reading or writing out of bounds shows. */
typedef struct operands {
    int m, n, k;
    int64_t lda, ldb, ldc;
    double *a, *b, *c0;
} operands;

static operands operands_new(int m, int n, int k, uint64_t seed)
{
    operands o = {m, n, k, (m > k ? m : k) + 3, n + 5, n + 2, NULL, NULL, NULL};
    int64_t rows = m > k ? m : k;
    o.a = malloc(sizeof(double) * (size_t)(rows * o.lda));
    o.b = malloc(sizeof(double) * (size_t)(k * o.ldb));
    o.c0 = malloc(sizeof(double) * (size_t)(m * o.ldc));
    fill(o.a, rows * o.lda, seed);
    fill(o.b, k * o.ldb, seed + 1);
    fill(o.c0, m * o.ldc, seed + 2);
    return o;
}

static void operands_free(operands *o)
{
    free(o->a);
    free(o->b);
    free(o->c0);
}

/* c = (accumulate ? c0 : 0) + a @ b as fmaf chains (trans: a [k][lda] read as a^T); nn without
 * accumulation reads a with lda = k. Returns false at the first element that differs. */
static bool check_f32(const operands *o, bool trans, bool accumulate)
{
    int64_t n_a = (int64_t)(o->m > o->k ? o->m : o->k) * o->lda;
    float *a = malloc(sizeof(float) * (size_t)n_a),
          *b = malloc(sizeof(float) * (size_t)(o->k * o->ldb));
    float *c = malloc(sizeof(float) * (size_t)(o->m * o->ldc));
    for (int64_t i = 0; i < n_a; i++)
        a[i] = (float)o->a[i];
    for (int64_t i = 0; i < o->k * o->ldb; i++)
        b[i] = (float)o->b[i];
    for (int64_t i = 0; i < o->m * o->ldc; i++)
        c[i] = (float)o->c0[i];
    int64_t lda = !trans && !accumulate ? o->k : o->lda;
    if (trans && accumulate)
        eng_small_gemm_tn_acc_f32(c, o->ldc, a, lda, b, o->ldb, o->m, o->n, o->k);
    else if (trans)
        eng_small_gemm_tn_f32(c, o->ldc, a, lda, b, o->ldb, o->m, o->n, o->k);
    else if (accumulate)
        eng_small_gemm_nn_acc_f32(c, o->ldc, a, lda, b, o->ldb, o->m, o->n, o->k);
    else
        eng_small_gemm_nn_f32(c, o->ldc, a, b, o->ldb, o->m, o->n, o->k);
    bool same = true;
    for (int i = 0; i < o->m && same; i++)
        for (int j = 0; j < o->ldc && same; j++) {
            float want = (float)o->c0[i * o->ldc + j]; /* past column n: untouched */
            if (j < o->n) {
                want = accumulate ? want : 0.0f;
                for (int p = 0; p < o->k; p++)
                    want = fmaf(trans ? a[p * lda + i] : a[i * lda + p], b[p * o->ldb + j], want);
            }
            if (!same_bits_f32(c[i * o->ldc + j], want)) {
                print_message("f32 %s%s m=%d n=%d k=%d: c[%d][%d] = %.9g, want %.9g\n",
                              trans ? "tn" : "nn", accumulate ? "_acc" : "", o->m, o->n, o->k, i, j,
                              c[i * o->ldc + j], want);
                same = false;
            }
        }
    free(a);
    free(b);
    free(c);
    return same;
}

/* The f64 bodies the header declares: nn (c overwritten, lda = k) and tn_acc. */
static bool check_f64(const operands *o, bool trans)
{
    double *c = malloc(sizeof(double) * (size_t)(o->m * o->ldc));
    memcpy(c, o->c0, sizeof(double) * (size_t)(o->m * o->ldc));
    int64_t lda = trans ? o->lda : o->k;
    if (trans)
        eng_small_gemm_tn_acc_f64(c, o->ldc, o->a, lda, o->b, o->ldb, o->m, o->n, o->k);
    else
        eng_small_gemm_nn_f64(c, o->ldc, o->a, o->b, o->ldb, o->m, o->n, o->k);
    bool same = true;
    for (int i = 0; i < o->m && same; i++)
        for (int j = 0; j < o->ldc && same; j++) {
            double want = o->c0[i * o->ldc + j];
            if (j < o->n) {
                want = trans ? want : 0.0;
                for (int p = 0; p < o->k; p++)
                    want = fma(trans ? o->a[p * lda + i] : o->a[i * lda + p], o->b[p * o->ldb + j],
                               want);
            }
            if (!same_bits_f64(c[i * o->ldc + j], want)) {
                print_message("f64 %s m=%d n=%d k=%d: c[%d][%d] = %.17g, want %.17g\n",
                              trans ? "tn_acc" : "nn", o->m, o->n, o->k, i, j, c[i * o->ldc + j],
                              want);
                same = false;
            }
        }
    free(c);
    return same;
}

static void test_nn_and_tn_bodies_are_fma_chains_bit_for_bit(void **state)
{
    (void)state;
    if (eng_simd_level() != ENG_SIMD_AVX512)
        skip();
    uint64_t seed = 1;
    for (int r = 0; r < COUNT(gemm_rows); r++)
        for (int cc = 0; cc < COUNT(gemm_cols); cc++)
            for (int p = 0; p < COUNT(gemm_inner); p++) {
                operands o = operands_new(gemm_rows[r], gemm_cols[cc], gemm_inner[p], seed += 3);
                bool ok = check_f32(&o, false, false) && check_f32(&o, false, true) &&
                          check_f32(&o, true, false) && check_f32(&o, true, true) &&
                          check_f64(&o, false) && check_f64(&o, true);
                operands_free(&o);
                assert_true(ok);
            }
}

/* nt (c += a @ b^T, a [m][lda], b [n][ldb]) with at least 32 rows and columns runs as nn on b
 * packed transposed (kernels/small_gemm.c): each element one fmaf chain along the inner dimension
 * from c's value, bit for bit, around the packing's edges (blocks of 48 columns and 128 steps of
 * the inner dimension, 16x16 transposes) and with misaligned leading dimensions. */
static bool check_nt_f32(int m, int n, int k, uint64_t seed)
{
    int64_t lda = k + 3, ldb = k + 5, ldc = n + 2;
    double *ad = malloc(sizeof(double) * (size_t)(m * lda + n * ldb + m * ldc));
    fill(ad, m * lda + n * ldb + m * ldc, seed);
    float *a = malloc(sizeof(float) * (size_t)(m * lda)),
          *b = malloc(sizeof(float) * (size_t)(n * ldb));
    float *c = malloc(sizeof(float) * (size_t)(m * ldc)),
          *c0 = malloc(sizeof(float) * (size_t)(m * ldc));
    for (int64_t i = 0; i < m * lda; i++)
        a[i] = (float)ad[i];
    for (int64_t i = 0; i < n * ldb; i++)
        b[i] = (float)ad[m * lda + i];
    for (int64_t i = 0; i < m * ldc; i++)
        c[i] = c0[i] = (float)ad[m * lda + n * ldb + i];
    eng_small_gemm_nt_f32(c, ldc, a, lda, b, ldb, m, n, k);
    bool same = true;
    for (int i = 0; i < m && same; i++)
        for (int j = 0; j < ldc && same; j++) {
            float want = c0[i * ldc + j]; /* past column n: untouched */
            for (int p = 0; j < n && p < k; p++)
                want = fmaf(a[i * lda + p], b[j * ldb + p], want);
            if (!same_bits_f32(c[i * ldc + j], want)) {
                print_message("f32 nt m=%d n=%d k=%d: c[%d][%d] = %.9g, want %.9g\n", m, n, k, i, j,
                              c[i * ldc + j], want);
                same = false;
            }
        }
    free(ad);
    free(a);
    free(b);
    free(c);
    free(c0);
    return same;
}

static void test_nt_f32_packed_is_fma_chains_bit_for_bit(void **state)
{
    (void)state;
    if (eng_simd_level() != ENG_SIMD_AVX512)
        skip();
    static const int cols[] = {32, 33, 47, 48, 49, 63, 64, 97, 144, 290};
    static const int inner[] = {1, 2, 15, 16, 37, 127, 128, 129, 210, 300};
    static const int rows[] = {32, 33, 36, 37, 39, 40, 45};
    uint64_t seed = 5;
    for (int r = 0; r < COUNT(rows); r++)
        for (int cc = 0; cc < COUNT(cols); cc++)
            for (int p = 0; p < COUNT(inner); p++)
                assert_true(check_nt_f32(rows[r], cols[cc], inner[p], seed += 3));
}

/* eng_gemm_f32 (alpha 1, beta 0 over a c of NaNs or 1) on rows shorter than 128 that its
 * dispatch gives to the small products (nn, tn: 56 and 98 columns; nt: from 32 columns of c
 * with a short shared dimension) and on some it leaves to OpenBLAS (49, 16 and 8 columns),
 * against the sum in double: every element within 1e-6 of the sum of the terms' magnitudes. */
static void test_gemm_f32_short_rows_match_the_sum(void **state)
{
    (void)state;
    static const int sizes[][3] = {{64, 56, 288}, {288, 56, 64}, {64, 98, 288},
                                   {64, 288, 56}, {64, 64, 100}, {10, 64, 7},
                                   {64, 49, 288}, {64, 16, 49},  {5, 8, 3}};
    uint64_t seed = 11;
    for (int z = 0; z < COUNT(sizes); z++)
        for (int t = 0; t < 3; t++) /* nn, tn, nt */
            for (int beta = 0; beta < 2; beta++) {
                int m = sizes[z][0], n = sizes[z][1], k = sizes[z][2];
                bool ta = t == 1, tb = t == 2;
                int64_t na = (int64_t)m * k, nb = (int64_t)k * n, nc = (int64_t)m * n;
                double *d = malloc(sizeof(double) * (size_t)(na + nb + nc));
                fill(d, na + nb + nc, seed += 3);
                float *a = malloc(sizeof(float) * (size_t)na),
                      *b = malloc(sizeof(float) * (size_t)nb);
                float *c = malloc(sizeof(float) * (size_t)nc);
                for (int64_t i = 0; i < na; i++)
                    a[i] = (float)d[i];
                for (int64_t i = 0; i < nb; i++)
                    b[i] = (float)d[na + i];
                for (int64_t i = 0; i < nc; i++)
                    c[i] = beta ? (float)d[na + nb + i] : NAN;
                eng_gemm_f32(c, a, b, m, n, k, ta, tb, 1.0f, (float)beta);
                double worst = 0;
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) {
                        double acc = beta ? (double)(float)d[na + nb + i * n + j] : 0;
                        double mag = fabs(acc);
                        for (int p = 0; p < k; p++) {
                            double term = (double)(ta ? a[p * m + i] : a[i * k + p]) *
                                          (tb ? b[j * k + p] : b[p * n + j]);
                            acc += term, mag += fabs(term);
                        }
                        double e = fabs(c[i * n + j] - acc) / mag;
                        worst = isnan(e) ? INFINITY : fmax(worst, e);
                    }
                if (!(worst <= 1e-6))
                    print_message("%dx%dx%d trans %d beta %d: error %g\n", m, n, k, t, beta, worst);
                free(d);
                free(a);
                free(b);
                free(c);
                assert_true(worst <= 1e-6);
            }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nn_and_tn_bodies_are_fma_chains_bit_for_bit),
        cmocka_unit_test(test_nt_f32_packed_is_fma_chains_bit_for_bit),
        cmocka_unit_test(test_gemm_f32_short_rows_match_the_sum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
