/* The fold (engine/model_fusion.c): a ReLU -> MaxPool2d pair whose backward runs inside the
 * backward of the conv2d before it (the direct path of a first layer, Winograd F(2x2)), the
 * conv2d's output gradient never written. A model that folds gives bit for bit the outputs,
 * parameter gradients and input gradient of the same model with fusion_off, in the serial
 * and split backwards, one thread and several, on inputs with ties and dead windows, and when
 * the pool's winners were overwritten; f64 never folds; the gradient checker's report is
 * unchanged. (Beside tests/test_fusion.c, which holds the pairs' tests, to keep files under
 * 600 lines.) */
#include "support.h"

#include "../engine/gradcheck/gradcheck.h"
#include "../engine/kernels/cpu.h"
#include "../engine/model_fusion.h"

static bool same_bits(const eng_tensor *a, const eng_tensor *b)
{
    return a->dtype == b->dtype && eng_tensor_same_shape(a, b) &&
           memcmp(eng_tensor_data(a), eng_tensor_data(b),
                  (size_t)eng_tensor_numel(a) * eng_dtype_size(a->dtype)) == 0;
}

#define assert_same_bits(a, b, what)                                                               \
    do {                                                                                           \
        bool same_ = same_bits((a), (b));                                                          \
        if (!same_)                                                                                \
            print_message("%s differs (max |diff| %g)\n", (what), max_abs_diff((a), (b)));         \
        assert_true(same_);                                                                        \
    } while (0)

/* Values that make ties and all-negative windows common: -1, -0, +0, 0.5, 2, -3. */
static void fill_tied(eng_tensor *t, uint64_t seed)
{
    static const double values[] = {-1.0, -0.0, 0.0, 0.5, 2.0, -3.0};
    eng_rng rng;
    eng_rng_seed(&rng, seed);
    for (int64_t i = 0; i < eng_tensor_numel(t); i++)
        eng_tensor_set_flat(t, i, values[(int)(eng_rng_uniform(&rng) * 6) % 6]);
}

static void add(eng_model *m, eng_layer *l)
{
    assert_ok(eng_model_add(m, l));
    eng_layer_release(l);
}

/* conv(1->10, 3x3, pad 1: the direct path) -> relu -> maxpool 2 -> conv(10->20, 3x3, pad 1:
 * Winograd F(2x2)) -> relu -> maxpool 2 -> flatten -> linear(-> 4) -> tanh, on x [N,1,h,w]:
 * the LeNet's shape, small. */
static eng_model *make_lenet(eng_dtype dtype, int h, int w)
{
    eng_rng rng;
    eng_rng_seed(&rng, 9);
    eng_model *m;
    assert_ok(eng_model_new(&m));
    eng_conv2d_options o = {.padding_h = 1, .padding_w = 1};
    eng_layer *l;
    assert_ok(eng_conv2d_new(1, 10, 3, 3, &o, dtype, &rng, &l));
    add(m, l);
    assert_ok(eng_relu_new(&l));
    add(m, l);
    assert_ok(eng_maxpool2d_new(2, 2, 2, 2, 0, 0, &l));
    add(m, l);
    assert_ok(eng_conv2d_new(10, 20, 3, 3, &o, dtype, &rng, &l));
    add(m, l);
    assert_ok(eng_relu_new(&l));
    add(m, l);
    assert_ok(eng_maxpool2d_new(2, 2, 2, 2, 0, 0, &l));
    add(m, l);
    assert_ok(eng_flatten_new(&l));
    add(m, l);
    assert_ok(eng_linear_new(20 * (h / 2 / 2) * (w / 2 / 2), 4, true, dtype, &rng, &l));
    add(m, l);
    assert_ok(eng_tanh_new(&l));
    add(m, l);
    return m;
}

typedef struct fold_case {
    int h, w;
    bool want_dx, serial, tied, elsewhere; /* elsewhere: the second pool runs on other data
                                               between forward and backward */
} fold_case;

/* Two steps of the model that folds and of its twin with fusion_off, compared bit for bit;
 * where a pair folds (eng_model_folds), the conv2d's output gradient is never even allocated. */
static void check_fold(eng_dtype dtype, const fold_case *fc, int threads)
{
    eng_model *fused = make_lenet(dtype, fc->h, fc->w), *plain = make_lenet(dtype, fc->h, fc->w);
    plain->fusion_off = true;
    fused->serial_only = plain->serial_only = fc->serial;
    assert_ok(eng_set_threads(threads));
    int64_t batch = 11; /* Winograd groups of 4, 4 and 3 */
    /* the direct conv2d folds without an input gradient; Winograd where its output is even */
    bool fold1 = dtype == ENG_F32 && !fc->want_dx;
    bool fold2 = dtype == ENG_F32 && (fc->h / 2) % 2 == 0 && (fc->w / 2) % 2 == 0;
    for (int step = 0; step < 2; step++) {
        eng_tensor *x = TENSOR(dtype, batch, 1, fc->h, fc->w), *r = TENSOR(dtype, batch, 4);
        if (fc->tied)
            fill_tied(x, 60 + step);
        else
            tensor_randn(x, 60 + step, 1.0);
        tensor_randn(r, 70 + step, 1.0);
        const eng_tensor *ya, *yb, *dxa = NULL, *dxb = NULL;
        assert_ok(eng_model_forward(fused, x, &ya));
        assert_ok(eng_model_forward(plain, x, &yb));
        assert_same_bits(ya, yb, "output");
        assert_int_equal(fused->fused[1], ENG_FUSE_RELU_MAXPOOL);
        assert_int_equal(fused->fused[4], ENG_FUSE_RELU_MAXPOOL);
        assert_true(eng_model_folds(fused, 1, fc->want_dx) == fold1);
        assert_true(eng_model_folds(fused, 4, fc->want_dx) == fold2);
        assert_false(eng_model_folds(plain, 1, fc->want_dx) || eng_model_folds(plain, 4, true));
        eng_tensor *other = NULL, *pooled = NULL;
        if (fc->elsewhere) {
            other = tensor_clone(fused->outputs[3]);
            pooled = tensor_clone(fused->outputs[5]);
            tensor_randn(other, 80 + step, 1.0);
            assert_ok(eng_layer_forward(fused->layers[5], other, pooled, true));
        }
        assert_ok(eng_model_backward(fused, r, fc->want_dx ? &dxa : NULL));
        assert_ok(eng_model_backward(plain, r, fc->want_dx ? &dxb : NULL));
        if (fc->want_dx)
            assert_same_bits(dxa, dxb, "input gradient");
        for (int i = 0; i < eng_model_param_count(fused); i++) {
            char name[2 * ENG_NAME_MAX];
            eng_param *pa = eng_model_param(fused, i, name, sizeof name);
            assert_same_bits(pa->grad, eng_model_param(plain, i, NULL, 0)->grad, name);
        }
        if (fold1)
            assert_null(fused->dinputs[1]);
        if (fold2)
            assert_null(fused->dinputs[4]);
        assert_int_equal(eng_model_check_finite(fused, step, 1.0), ENG_OK);
        eng_tensor_release(other);
        eng_tensor_release(pooled);
        eng_tensor_release(x);
        eng_tensor_release(r);
    }
    assert_ok(eng_set_threads(1));
    eng_model_release(fused);
    eng_model_release(plain);
}

static void test_relu_maxpool_folded_into_conv2d_equals_separate_layers_bit_for_bit(void **state)
{
    (void)state;
    const fold_case cases[] = {
        {.h = 12, .w = 16},                    /* both fold */
        {.h = 12, .w = 16, .want_dx = true},   /* the first conv2d computes dx: no fold there */
        {.h = 12, .w = 16, .serial = true},    /* model.c's serial backward */
        {.h = 12, .w = 16, .tied = true},      /* ties, zeros of both signs, dead windows */
        {.h = 12, .w = 16, .elsewhere = true}, /* winners found again from x and y */
        {.h = 28, .w = 36, .want_dx = true, .serial = true},
        {.h = 14, .w = 14}, /* 7x7 after the first pool: the second won't */
    };
    int threads[] = {1, 3};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int t = 0; t < 2; t++) {
            check_fold(ENG_F32, &cases[k], threads[t]);
            check_fold(ENG_F64, &cases[k], threads[t]); /* f64 never folds */
        }
}

/* The same on the plain C and AVX2 bodies of the kernels the fold runs (the direct weight
 * gradient, the Winograd transforms, the pool's backward). */
static void test_relu_maxpool_folded_into_conv2d_on_every_simd_level(void **state)
{
    (void)state;
    const fold_case cases[] = {{.h = 12, .w = 16},
                               {.h = 12, .w = 16, .tied = true, .serial = true}};
    eng_simd levels[] = {ENG_SIMD_NONE, ENG_SIMD_AVX2};
    for (int l = 0; l < 2; l++) {
        eng_simd old = eng_simd_cap(levels[l]);
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
            check_fold(ENG_F32, &cases[k], 1);
        eng_simd_cap(old);
    }
}

/* The gradient checker runs a folding model's layers apart: the same report either way. */
static void test_gradient_check_of_a_folding_model_runs_the_layers_apart(void **state)
{
    (void)state;
    eng_model *m = make_lenet(ENG_F32, 8, 8);
    eng_tensor *x = TENSOR(ENG_F32, 3, 1, 8, 8);
    tensor_randn(x, 82, 1.0);
    const eng_tensor *y;
    assert_ok(eng_model_forward(m, x, &y));
    assert_true(eng_model_folds(m, 1, false) && eng_model_folds(m, 4, false));
    eng_gc_report *report[2];
    for (int off = 0; off < 2; off++) {
        m->fusion_off = off == 1;
        assert_ok(eng_model_forward(m, x, &y));
        assert_int_equal(m->fused[4], off ? ENG_FUSE_NONE : ENG_FUSE_RELU_MAXPOOL);
        assert_ok(eng_gc_check_layers(m, x, NULL, &report[off]));
    }
    eng_gc_report *a = report[0], *b = report[1];
    assert_int_equal(a->verdict, b->verdict);
    assert_true(a->verdict != ENG_GC_FAIL);
    assert_int_equal(a->ntensors, b->ntensors);
    for (int k = 0; k < a->ntensors; k++) {
        const eng_gc_tensor_report *ta = &a->tensors[k], *tb = &b->tensors[k];
        assert_string_equal(ta->name, tb->name);
        assert_int_equal(ta->verdict, tb->verdict);
        assert_int_equal(ta->checked, tb->checked);
        assert_true(ta->max_rel == tb->max_rel && ta->chi2 == tb->chi2);
    }
    eng_gc_report_free(a);
    eng_gc_report_free(b);
    eng_tensor_release(x);
    eng_model_release(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relu_maxpool_folded_into_conv2d_equals_separate_layers_bit_for_bit),
        cmocka_unit_test(test_relu_maxpool_folded_into_conv2d_on_every_simd_level),
        cmocka_unit_test(test_gradient_check_of_a_folding_model_runs_the_layers_apart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
