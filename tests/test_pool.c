/* maxpool2d and avgpool2d: PyTorch fixtures (stride, padding, odd sizes) in f32 and f64, hand
 * values, float64 finite differences on inputs without near-ties, and every error path. */
#include "support.h"

static const char *const max_fixtures[] = {"layer_maxpool2d_2x2.bin", "layer_maxpool2d_2x2_odd.bin",
                                           "layer_maxpool2d_3x3_s2_p1.bin",
                                           "layer_maxpool2d_3x2_s12_p11.bin"};
static const char *const avg_fixtures[] = {
    "layer_avgpool2d_2x2.bin", "layer_avgpool2d_3x3_s2_p1.bin", "layer_avgpool2d_3x2_s21_p10.bin"};

typedef eng_status (*pool_new_fn)(int, int, int, int, int, int, eng_layer **);

/* config: kh, kw, stride_h, stride_w, padding_h, padding_w */
static eng_layer *pool_from_fixture(pool_new_fn make, const fixture *fx)
{
    eng_layer *l;
    assert_ok(make(fixture_config(fx, 0), fixture_config(fx, 1), fixture_config(fx, 2),
                   fixture_config(fx, 3), fixture_config(fx, 4), fixture_config(fx, 5), &l));
    return l;
}

static void check_fixtures(pool_new_fn make, const char *const *names, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        fixture *fx = fixture_load(names[i]);
        for (int k = 0; k < 2; k++) {
            eng_layer *l = pool_from_fixture(make, fx);
            check_layer_against_fixture(l, fx, k ? ENG_F64 : ENG_F32, k ? 1e-14 : 1e-6);
            eng_layer_release(l);
        }
        fixture_free(fx);
    }
}

static void test_maxpool2d_matches_pytorch_in_f32_and_f64(void **state)
{
    (void)state;
    check_fixtures(eng_maxpool2d_new, max_fixtures, 4);
}

static void test_avgpool2d_matches_pytorch_in_f32_and_f64(void **state)
{
    (void)state;
    check_fixtures(eng_avgpool2d_new, avg_fixtures, 3);
}

static void test_maxpool2d_forward_and_backward_by_hand(void **state)
{
    (void)state;
    /* 3x3 windows, stride 2, padding 1 on a 4x4 image of negative values: padding (which
     * PyTorch treats as -inf) never wins. */
    eng_layer *l;
    assert_ok(eng_maxpool2d_new(3, 3, 2, 2, 1, 1, &l));
    eng_tensor *x = TENSOR(ENG_F64, 1, 1, 4, 4), *y = TENSOR(ENG_F64, 1, 1, 2, 2);
    eng_tensor *dy = TENSOR(ENG_F64, 1, 1, 2, 2), *dx = TENSOR(ENG_F64, 1, 1, 4, 4);
    tensor_set_values(
        x, (double[]){-5, -1, -7, -8, -9, -6, -2, -3, -4, -10, -11, -12, -13, -14, -15, -16});
    tensor_set_values(dy, (double[]){1, 2, 3, 4});
    assert_ok(eng_layer_forward(l, x, y, true));
    /* windows: rows -1..1 x cols -1..1, rows -1..1 x cols 1..3, rows 1..3 x cols -1..1,
     * rows 1..3 x cols 1..3 */
    const double y_expected[4] = {-1, -1, -4, -2};
    for (int i = 0; i < 4; i++)
        assert_true(ENG_F64_DATA(y)[i] == y_expected[i]);
    assert_ok(eng_layer_backward(l, x, y, dy, dx));
    /* element 1 (-1) wins two windows: its gradient is 1 + 2 */
    const double dx_expected[16] = {0, 3, 0, 0, 0, 0, 4, 0, 3, 0, 0, 0, 0, 0, 0, 0};
    for (int i = 0; i < 16; i++)
        assert_true(ENG_F64_DATA(dx)[i] == dx_expected[i]);
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_tensor_release(dy);
    eng_tensor_release(dx);
    eng_layer_release(l);
}

static void test_maxpool2d_backward_without_forward_recomputes_winners(void **state)
{
    (void)state;
    eng_layer *fresh, *used;
    assert_ok(eng_maxpool2d_new(2, 2, 0, 0, 0, 0, &fresh)); /* stride 0: the kernel size */
    assert_ok(eng_maxpool2d_new(2, 2, 2, 2, 0, 0, &used));
    eng_tensor *x = TENSOR(ENG_F32, 2, 3, 6, 4), *y = TENSOR(ENG_F32, 2, 3, 3, 2);
    eng_tensor *dy = TENSOR(ENG_F32, 2, 3, 3, 2);
    eng_tensor *dx1 = TENSOR(ENG_F32, 2, 3, 6, 4), *dx2 = TENSOR(ENG_F32, 2, 3, 6, 4);
    tensor_distinct(x, 1, 0.01);
    tensor_randn(dy, 2, 1.0);
    assert_ok(eng_layer_forward(used, x, y, true));
    assert_ok(eng_layer_backward(used, x, y, dy, dx1));
    assert_ok(eng_layer_backward(fresh, x, y, dy, dx2));
    assert_true(max_abs_diff(dx1, dx2) == 0);
    /* A forward on another shape, then backward on the first: winners recomputed too. */
    eng_tensor *x_small = TENSOR(ENG_F32, 1, 1, 2, 2), *y_small = TENSOR(ENG_F32, 1, 1, 1, 1);
    assert_ok(eng_layer_forward(used, x_small, y_small, true));
    assert_ok(eng_layer_backward(used, x, y, dy, dx1));
    assert_true(max_abs_diff(dx1, dx2) == 0);
    eng_tensor_release(x_small);
    eng_tensor_release(y_small);
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_tensor_release(dy);
    eng_tensor_release(dx1);
    eng_tensor_release(dx2);
    eng_layer_release(fresh);
    eng_layer_release(used);
}

static void test_avgpool2d_forward_by_hand_counts_padding(void **state)
{
    (void)state;
    /* 2x2 windows, stride 1, padding 1 on a 2x2 image: every window holds the padded
     * border, and PyTorch divides by 4 regardless (count_include_pad=True). */
    eng_layer *l;
    assert_ok(eng_avgpool2d_new(2, 2, 1, 1, 1, 1, &l));
    eng_tensor *x = TENSOR(ENG_F32, 1, 1, 2, 2), *y = TENSOR(ENG_F32, 1, 1, 3, 3);
    tensor_set_values(x, (double[]){4, 8, 12, 16});
    assert_ok(eng_layer_forward(l, x, y, false));
    const double expected[9] = {1, 3, 2, 4, 10, 6, 3, 7, 4};
    for (int i = 0; i < 9; i++)
        assert_true(ENG_F32_DATA(y)[i] == (float)expected[i]);
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_layer_release(l);
}

static void test_pool_gradients_match_finite_differences(void **state)
{
    (void)state;
    for (int kind = 0; kind < 2; kind++) {
        const char *const *names = kind ? avg_fixtures : max_fixtures;
        size_t count = kind ? 3 : 4;
        for (size_t i = 0; i < count; i++) {
            fixture *fx = fixture_load(names[i]);
            eng_layer *l = pool_from_fixture(kind ? eng_avgpool2d_new : eng_maxpool2d_new, fx);
            eng_tensor *x = tensor_clone(fixture_get(fx, "x"));
            /* distinct values 0.01 apart: a step of 1e-4 never changes a window's winner */
            tensor_distinct(x, 90 + i, 0.01);
            check_layer_gradients(l, x, 1e-4, 1e-9);
            eng_tensor_release(x);
            eng_layer_release(l);
            fixture_free(fx);
        }
    }
}

static void test_pool_rejects_bad_constructor_arguments(void **state)
{
    (void)state;
    pool_new_fn makers[2] = {eng_maxpool2d_new, eng_avgpool2d_new};
    const char *kinds[2] = {"maxpool2d", "avgpool2d"};
    for (int k = 0; k < 2; k++) {
        eng_layer *l = (eng_layer *)1;
        assert_error(makers[k](0, 2, 0, 0, 0, 0, &l), ENG_EARG, kinds[k], "(0,2)");
        assert_null(l);
        assert_error(makers[k](2, 2, -1, 1, 0, 0, &l), ENG_EARG, kinds[k], "stride (-1,1)");
        assert_error(makers[k](3, 3, 1, 1, 2, 0, &l), ENG_EARG, kinds[k], "padding (2,0)");
        assert_error(makers[k](3, 3, 1, 1, 0, -1, &l), ENG_EARG, "padding (0,-1)");
        assert_null(l);
    }
}

static void test_pool_rejects_wrong_rank_dtype_and_small_input(void **state)
{
    (void)state;
    pool_new_fn makers[2] = {eng_maxpool2d_new, eng_avgpool2d_new};
    for (int k = 0; k < 2; k++) {
        eng_layer *l;
        assert_ok(makers[k](3, 3, 1, 1, 0, 0, &l));
        int ndim;
        int64_t shape[ENG_MAX_DIMS];
        eng_tensor *x3 = TENSOR(ENG_F32, 3, 8, 8), *small = TENSOR(ENG_F64, 2, 3, 2, 8),
                   *xi = TENSOR(ENG_I32, 2, 3, 8, 8);
        assert_error(eng_layer_output_shape(l, x3, &ndim, shape), ENG_ESHAPE, "[3,8,8]",
                     "[N,C,H,W]");
        assert_error(eng_layer_output_shape(l, small, &ndim, shape), ENG_ESHAPE, "[2,3,2,8]",
                     "3x3");
        assert_error(eng_layer_output_shape(l, xi, &ndim, shape), ENG_EDTYPE, "i32");
        eng_tensor_release(x3);
        eng_tensor_release(small);
        eng_tensor_release(xi);
        eng_layer_release(l);
    }
}

static void test_pool_accepts_both_float_dtypes_in_one_layer(void **state)
{
    (void)state;
    eng_layer *l;
    assert_ok(eng_maxpool2d_new(2, 2, 0, 0, 0, 0, &l));
    eng_tensor *x32 = TENSOR(ENG_F32, 1, 1, 2, 2), *y32 = TENSOR(ENG_F32, 1, 1, 1, 1);
    eng_tensor *x64 = TENSOR(ENG_F64, 1, 1, 2, 2), *y64 = TENSOR(ENG_F64, 1, 1, 1, 1);
    tensor_set_values(x32, (double[]){1, 4, 2, 3});
    tensor_set_values(x64, (double[]){1, 2, 5, 3});
    assert_ok(eng_layer_forward(l, x32, y32, false));
    assert_ok(eng_layer_forward(l, x64, y64, false));
    assert_true(ENG_F32_DATA(y32)[0] == 4 && ENG_F64_DATA(y64)[0] == 5);
    eng_tensor_release(x32);
    eng_tensor_release(y32);
    eng_tensor_release(x64);
    eng_tensor_release(y64);
    eng_layer_release(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_maxpool2d_matches_pytorch_in_f32_and_f64),
        cmocka_unit_test(test_avgpool2d_matches_pytorch_in_f32_and_f64),
        cmocka_unit_test(test_maxpool2d_forward_and_backward_by_hand),
        cmocka_unit_test(test_maxpool2d_backward_without_forward_recomputes_winners),
        cmocka_unit_test(test_avgpool2d_forward_by_hand_counts_padding),
        cmocka_unit_test(test_pool_gradients_match_finite_differences),
        cmocka_unit_test(test_pool_rejects_bad_constructor_arguments),
        cmocka_unit_test(test_pool_rejects_wrong_rank_dtype_and_small_input),
        cmocka_unit_test(test_pool_accepts_both_float_dtypes_in_one_layer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
