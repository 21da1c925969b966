/* conv2d: forward and backward against PyTorch fixtures (stride, padding, dilation, no bias) in
 * f32 and f64, by hand, against float64 finite differences, and every error path. */
#include "support.h"

static const char *const fixtures[] = {"layer_conv2d_basic.bin", "layer_conv2d_strided.bin",
                                       "layer_conv2d_nobias.bin"};

/* config: in, out, kh, kw, stride_h, stride_w, padding_h, padding_w, dilation_h, dilation_w,
 * bias (make_fixtures.py). */
static eng_layer *conv_from_fixture(const fixture *fx, eng_dtype dtype)
{
    eng_conv2d_options o = {
        .stride_h = fixture_config(fx, 4),
        .stride_w = fixture_config(fx, 5),
        .padding_h = fixture_config(fx, 6),
        .padding_w = fixture_config(fx, 7),
        .dilation_h = fixture_config(fx, 8),
        .dilation_w = fixture_config(fx, 9),
        .no_bias = !fixture_config(fx, 10),
    };
    eng_layer *l;
    assert_ok(eng_conv2d_new(fixture_config(fx, 0), fixture_config(fx, 1), fixture_config(fx, 2),
                             fixture_config(fx, 3), &o, dtype, NULL, &l));
    return l;
}

static void check_fixtures(eng_dtype dtype, double tol)
{
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        fixture *fx = fixture_load(fixtures[i]);
        eng_layer *l = conv_from_fixture(fx, dtype);
        assert_int_equal(l->nparams, fixture_config(fx, 10) ? 2 : 1);
        check_layer_against_fixture(l, fx, dtype, tol);
        eng_layer_release(l);
        fixture_free(fx);
    }
}

static void test_conv2d_matches_pytorch_in_f64(void **state)
{
    (void)state;
    check_fixtures(ENG_F64, 1e-12);
}

static void test_conv2d_matches_pytorch_in_f32(void **state)
{
    (void)state;
    check_fixtures(ENG_F32, 1e-5);
}

static void test_conv2d_forward_by_hand_with_padding_and_stride(void **state)
{
    (void)state;
    /* x = 1..9 in a 3x3 image, a 2x2 kernel of ones, bias 0.5, padding 1, stride 2: the
     * windows (top-left corners at -1, 1) see {1}, {2,3}, {4,7}, {5,6,8,9}. */
    eng_conv2d_options o = {.stride_h = 2, .stride_w = 2, .padding_h = 1, .padding_w = 1};
    for (int k = 0; k < 2; k++) {
        eng_dtype dt = k ? ENG_F64 : ENG_F32;
        eng_layer *l;
        assert_ok(eng_conv2d_new(1, 1, 2, 2, &o, dt, NULL, &l));
        eng_tensor_fill(l->params[0].value, 1);
        eng_tensor_fill(l->params[1].value, 0.5);
        eng_tensor *x = TENSOR(dt, 1, 1, 3, 3), *y = TENSOR(dt, 1, 1, 2, 2);
        tensor_set_values(x, (double[]){1, 2, 3, 4, 5, 6, 7, 8, 9});
        assert_ok(eng_layer_forward(l, x, y, false));
        const double expected[4] = {1.5, 5.5, 11.5, 28.5};
        for (int i = 0; i < 4; i++)
            assert_true(eng_tensor_get_flat(y, i) == expected[i]);
        eng_tensor_release(x);
        eng_tensor_release(y);
        eng_layer_release(l);
    }
}

static void test_conv2d_dilation_spreads_the_kernel(void **state)
{
    (void)state;
    /* 1x2 kernel (1, -1) with dilation 3 on a row 0..5: y[j] = x[j] - x[j+3] = -3. */
    eng_conv2d_options o = {.dilation_w = 3, .no_bias = true};
    eng_layer *l;
    assert_ok(eng_conv2d_new(1, 1, 1, 2, &o, ENG_F64, NULL, &l));
    tensor_set_values(l->params[0].value, (double[]){1, -1});
    eng_tensor *x = TENSOR(ENG_F64, 1, 1, 1, 6), *y = TENSOR(ENG_F64, 1, 1, 1, 3);
    tensor_set_values(x, (double[]){0, 1, 2, 3, 4, 5});
    assert_ok(eng_layer_forward(l, x, y, false));
    for (int i = 0; i < 3; i++)
        assert_true(ENG_F64_DATA(y)[i] == -3);
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_layer_release(l);
}

static void test_conv2d_gradients_match_finite_differences(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        fixture *fx = fixture_load(fixtures[i]);
        eng_layer *l = conv_from_fixture(fx, ENG_F64);
        for (int p = 0; p < l->nparams; p++)
            tensor_randn(l->params[p].value, 70 + (uint64_t)p, 0.5);
        eng_tensor *x = tensor_clone(fixture_get(fx, "x"));
        tensor_randn(x, 80 + i, 1.0);
        check_layer_gradients(l, x, 1e-3, 1e-9);
        eng_tensor_release(x);
        eng_layer_release(l);
        fixture_free(fx);
    }
}

static void test_conv2d_backward_accumulates_parameter_gradients(void **state)
{
    (void)state;
    fixture *fx = fixture_load("layer_conv2d_basic.bin");
    eng_layer *l = conv_from_fixture(fx, ENG_F64);
    set_param(l, "weight", fixture_get(fx, "weight"));
    set_param(l, "bias", fixture_get(fx, "bias"));
    eng_tensor *x = fixture_get(fx, "x"), *r = fixture_get(fx, "r");
    eng_tensor *y = tensor_new(ENG_F64, 4, fixture_get(fx, "y")->shape);
    eng_layer_zero_grad(l);
    assert_ok(eng_layer_forward(l, x, y, true));
    /* dx NULL: parameter gradients only. */
    assert_ok(eng_layer_backward(l, x, y, r, NULL));
    assert_ok(eng_layer_backward(l, x, y, r, NULL));
    eng_tensor *twice = tensor_clone(fixture_get(fx, "dweight"));
    assert_ok(eng_tensor_binary_scalar(twice, twice, 2, ENG_MUL));
    assert_tensor_close(l->params[0].grad, twice, 1e-12, "2 x dweight");
    eng_tensor_release(twice);
    twice = tensor_clone(fixture_get(fx, "dbias"));
    assert_ok(eng_tensor_binary_scalar(twice, twice, 2, ENG_MUL));
    assert_tensor_close(l->params[1].grad, twice, 1e-12, "2 x dbias");
    eng_layer_zero_grad(l);
    assert_true(max_abs(l->params[0].grad) == 0 && max_abs(l->params[1].grad) == 0);
    eng_tensor_release(twice);
    eng_tensor_release(y);
    eng_layer_release(l);
    fixture_free(fx);
}

static void test_conv2d_initialises_like_pytorch(void **state)
{
    (void)state;
    eng_rng rng;
    eng_rng_seed(&rng, 3);
    eng_layer *l;
    assert_ok(eng_conv2d_new(4, 32, 3, 5, NULL, ENG_F32, &rng, &l));
    assert_string_equal(eng_tensor_shape_str(l->params[0].value), "[32,4,3,5]");
    assert_string_equal(eng_tensor_shape_str(l->params[1].value), "[32]");
    double bound = 1 / sqrt(60.0);
    assert_true(max_abs(l->params[0].value) <= bound);
    assert_true(max_abs(l->params[0].value) > 0.9 * bound);
    assert_true(max_abs(l->params[1].value) <= bound);
    assert_true(max_abs(l->params[1].value) > 0);
    assert_true(max_abs(l->params[0].grad) == 0);
    eng_layer_release(l);
}

typedef struct winograd_case {
    int in, out, h, w, pad, n;
    bool bias;
} winograd_case;

/* Each case's f32 layer (which takes a Winograd path) against its f64 clone (im2col + GEMM,
 * the definition's sums): forward, then two backwards (the second adds to the parameter
 * gradients), input and parameter gradients, all within 2e-6. Seeds from seed, seed + 10 and
 * seed + 20 (plus the case's index). */
static void check_winograd_cases(const winograd_case *cases, size_t ncases, uint64_t seed,
                                 const char *label)
{
    char what[64];
    for (size_t k = 0; k < ncases; k++) {
        eng_conv2d_options o = {
            .padding_h = cases[k].pad, .padding_w = cases[k].pad, .no_bias = !cases[k].bias};
        eng_rng rng;
        eng_rng_seed(&rng, seed + k);
        eng_layer *l32, *l64;
        assert_ok(eng_conv2d_new(cases[k].in, cases[k].out, 3, 3, &o, ENG_F32, &rng, &l32));
        assert_ok(l32->ops->clone(l32, ENG_F64, &l64));
        eng_tensor *x = TENSOR(ENG_F64, cases[k].n, cases[k].in, cases[k].h, cases[k].w);
        tensor_randn(x, seed + 10 + k, 1.0);
        eng_tensor *x32 = tensor_to(x, ENG_F32);
        int ndim;
        int64_t shape[4];
        assert_ok(eng_layer_output_shape(l64, x, &ndim, shape));
        eng_tensor *y64 = tensor_new(ENG_F64, ndim, shape), *y32 = tensor_new(ENG_F32, ndim, shape);
        eng_tensor *dy = tensor_new(ENG_F64, ndim, shape);
        tensor_randn(dy, seed + 20 + k, 1.0);
        eng_tensor *dy32 = tensor_to(dy, ENG_F32);
        eng_tensor *dx64 = tensor_clone(x), *dx32 = tensor_clone(x32);
        assert_ok(eng_layer_forward(l64, x, y64, true));
        assert_ok(eng_layer_forward(l32, x32, y32, true));
        snprintf(what, sizeof what, "%s forward", label);
        assert_tensor_close(y32, y64, 2e-6, what);
        for (int pass = 0; pass < 2; pass++) {
            assert_ok(eng_layer_backward(l64, x, y64, dy, dx64));
            assert_ok(eng_layer_backward(l32, x32, y32, dy32, dx32));
        }
        snprintf(what, sizeof what, "%s input gradient", label);
        assert_tensor_close(dx32, dx64, 2e-6, what);
        for (int p = 0; p < l32->nparams; p++)
            assert_tensor_close(l32->params[p].grad, l64->params[p].grad, 2e-6,
                                l32->params[p].name);
        eng_tensor_release(x), eng_tensor_release(x32), eng_tensor_release(y64);
        eng_tensor_release(y32), eng_tensor_release(dy), eng_tensor_release(dy32);
        eng_tensor_release(dx64), eng_tensor_release(dx32);
        eng_layer_release(l32), eng_layer_release(l64);
    }
}

/* f32 3x3 convolutions with many input channels take the Winograd path, with tiles cut at odd
 * sizes, padding 0, 1 and 2. */
static void test_conv2d_winograd_path_equals_the_f64_im2col_path(void **state)
{
    (void)state;
    const winograd_case cases[] = {
        {8, 5, 7, 9, 1, 3, true},
        {16, 4, 6, 6, 0, 2, false},
        {9, 3, 5, 8, 2, 17, true},
        {32, 64, 14, 14, 1, 2, true},
    };
    check_winograd_cases(cases, sizeof cases / sizeof cases[0], 60, "winograd");
}

/* f32 3x3 layers with at most 16 channels in and out and rows of at least 5 output tiles of
 * 4 take Winograd F(4x4, 3x3) (conv2d_winograd.c): the same layer in f64 (im2col + GEMM)
 * agrees within the F(2x2) test's 2e-6, forward, input and parameter gradients, with the
 * ResNet's 16 -> 16 28x28 layer, padding 0, 1 and 2, sizes that are not multiples of 4 and a
 * second backward accumulating. */
static void test_conv2d_winograd_4x4_path_equals_the_f64_im2col_path(void **state)
{
    (void)state;
    const winograd_case cases[] = {
        {16, 16, 28, 28, 1, 3, false},
        {12, 16, 30, 26, 0, 2, true},
        {16, 7, 21, 25, 2, 2, true},
    };
    check_winograd_cases(cases, sizeof cases / sizeof cases[0], 160, "winograd 4x4");
}

static void test_conv2d_rejects_channel_mismatch(void **state)
{
    (void)state;
    eng_layer *l;
    assert_ok(eng_conv2d_new(2, 4, 3, 3, NULL, ENG_F64, NULL, &l));
    eng_tensor *x = TENSOR(ENG_F64, 2, 3, 8, 8), *y = TENSOR(ENG_F64, 2, 4, 6, 6);
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    assert_error(eng_layer_output_shape(l, x, &ndim, shape), ENG_ESHAPE, "conv2d", "[2,3,8,8]",
                 "[N,2,H,W]");
    assert_error(eng_layer_forward(l, x, y, false), ENG_ESHAPE, "[2,3,8,8]", "[N,2,H,W]");
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_layer_release(l);
}

static void test_conv2d_rejects_input_smaller_than_the_dilated_kernel(void **state)
{
    (void)state;
    eng_conv2d_options o = {.padding_h = 1, .dilation_h = 2, .dilation_w = 2};
    eng_layer *l;
    assert_ok(eng_conv2d_new(1, 1, 3, 3, &o, ENG_F32, NULL, &l));
    eng_tensor *x = TENSOR(ENG_F32, 1, 1, 8, 4); /* width 4 < span 5 */
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    assert_error(eng_layer_output_shape(l, x, &ndim, shape), ENG_ESHAPE, "[1,1,8,4]", "3x3",
                 "dilation 2,2");
    eng_tensor_release(x);
    eng_layer_release(l);
}

static void test_conv2d_rejects_wrong_rank_and_dtype(void **state)
{
    (void)state;
    eng_layer *l;
    assert_ok(eng_conv2d_new(3, 2, 3, 3, NULL, ENG_F64, NULL, &l));
    assert_ok(eng_layer_set_name(l, "conv1"));
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    eng_tensor *x3 = TENSOR(ENG_F64, 3, 8, 8), *x32 = TENSOR(ENG_F32, 2, 3, 8, 8),
               *xu8 = TENSOR(ENG_U8, 2, 3, 8, 8);
    assert_error(eng_layer_output_shape(l, x3, &ndim, shape), ENG_ESHAPE, "'conv1'", "[3,8,8]",
                 "[N,C,H,W]");
    assert_error(eng_layer_output_shape(l, x32, &ndim, shape), ENG_EDTYPE, "'conv1'", "[2,3,8,8]",
                 "f32", "f64");
    assert_error(eng_layer_output_shape(l, xu8, &ndim, shape), ENG_EDTYPE, "u8");
    eng_tensor_release(x3);
    eng_tensor_release(x32);
    eng_tensor_release(xu8);
    eng_layer_release(l);
}

static void test_conv2d_rejects_bad_constructor_arguments(void **state)
{
    (void)state;
    eng_layer *l = (eng_layer *)1;
    assert_error(eng_conv2d_new(0, 4, 3, 3, NULL, ENG_F32, NULL, &l), ENG_EARG, "(0, 4)");
    assert_null(l);
    assert_error(eng_conv2d_new(1, 4, 3, -1, NULL, ENG_F32, NULL, &l), ENG_EARG, "(3, -1)");
    eng_conv2d_options neg_stride = {.stride_h = -1};
    assert_error(eng_conv2d_new(1, 4, 3, 3, &neg_stride, ENG_F32, NULL, &l), ENG_EARG,
                 "stride (-1,1)");
    eng_conv2d_options neg_pad = {.padding_w = -2};
    assert_error(eng_conv2d_new(1, 4, 3, 3, &neg_pad, ENG_F32, NULL, &l), ENG_EARG,
                 "padding (0,-2)");
    assert_error(eng_conv2d_new(1, 4, 3, 3, NULL, ENG_I64, NULL, &l), ENG_EDTYPE, "i64");
    assert_null(l);
}

static void test_conv2d_forward_and_backward_reject_wrong_buffers(void **state)
{
    (void)state;
    eng_layer *l;
    assert_ok(eng_conv2d_new(3, 2, 3, 3, NULL, ENG_F32, NULL, &l));
    eng_tensor *x = TENSOR(ENG_F32, 2, 3, 8, 8), *y = TENSOR(ENG_F32, 2, 2, 6, 6);
    eng_tensor *bad_y = TENSOR(ENG_F32, 2, 2, 8, 8), *y64 = TENSOR(ENG_F64, 2, 2, 6, 6);
    eng_tensor *dx = TENSOR(ENG_F32, 2, 3, 8, 8), *bad_dx = TENSOR(ENG_F32, 2, 3, 8, 7);
    assert_error(eng_layer_forward(l, x, bad_y, false), ENG_ESHAPE, "[2,2,8,8]", "[2,2,6,6]",
                 "[2,3,8,8]");
    assert_error(eng_layer_forward(l, x, y64, false), ENG_EDTYPE, "f64", "f32");
    assert_ok(eng_layer_forward(l, x, y, false));
    assert_error(eng_layer_backward(l, x, y, bad_y, dx), ENG_ESHAPE, "dy", "[2,2,8,8]");
    assert_error(eng_layer_backward(l, x, y, y, bad_dx), ENG_ESHAPE, "dx", "[2,3,8,7]",
                 "[2,3,8,8]");
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_tensor_release(bad_y);
    eng_tensor_release(y64);
    eng_tensor_release(dx);
    eng_tensor_release(bad_dx);
    eng_layer_release(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_matches_pytorch_in_f64),
        cmocka_unit_test(test_conv2d_matches_pytorch_in_f32),
        cmocka_unit_test(test_conv2d_forward_by_hand_with_padding_and_stride),
        cmocka_unit_test(test_conv2d_dilation_spreads_the_kernel),
        cmocka_unit_test(test_conv2d_gradients_match_finite_differences),
        cmocka_unit_test(test_conv2d_backward_accumulates_parameter_gradients),
        cmocka_unit_test(test_conv2d_initialises_like_pytorch),
        cmocka_unit_test(test_conv2d_winograd_path_equals_the_f64_im2col_path),
        cmocka_unit_test(test_conv2d_winograd_4x4_path_equals_the_f64_im2col_path),
        cmocka_unit_test(test_conv2d_rejects_channel_mismatch),
        cmocka_unit_test(test_conv2d_rejects_input_smaller_than_the_dilated_kernel),
        cmocka_unit_test(test_conv2d_rejects_wrong_rank_and_dtype),
        cmocka_unit_test(test_conv2d_rejects_bad_constructor_arguments),
        cmocka_unit_test(test_conv2d_forward_and_backward_reject_wrong_buffers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
