/* linear: PyTorch fixtures (with and without bias) in f32 and f64, by hand, float64 finite
 * differences, initialisation and every error path. */
#include "support.h"

static const char *const fixtures[] = {"layer_linear_bias.bin", "layer_linear_nobias.bin"};

/* config: in_features, out_features, bias */
static eng_layer *linear_from_fixture(const fixture *fx, eng_dtype dtype)
{
    eng_layer *l;
    assert_ok(eng_linear_new(fixture_config(fx, 0), fixture_config(fx, 1),
                             fixture_config(fx, 2) != 0, dtype, NULL, &l));
    return l;
}

static void test_linear_matches_pytorch_in_f32_and_f64(void **state)
{
    (void)state;
    for (size_t i = 0; i < 2; i++) {
        fixture *fx = fixture_load(fixtures[i]);
        for (int k = 0; k < 2; k++) {
            eng_dtype dt = k ? ENG_F64 : ENG_F32;
            eng_layer *l = linear_from_fixture(fx, dt);
            assert_int_equal(l->nparams, fixture_config(fx, 2) ? 2 : 1);
            check_layer_against_fixture(l, fx, dt, k ? 1e-14 : 1e-5);
            eng_layer_release(l);
        }
        fixture_free(fx);
    }
}

static void test_linear_forward_and_backward_by_hand(void **state)
{
    (void)state;
    /* weight [[1,2],[3,4],[5,6]], bias (1,0,-1), x [[1,1],[2,-1]]:
     * y = x @ W^T + b = [[4,7,10],[1,2,3]]; with dy = ones: dx = dy @ W = [[9,12],[9,12]],
     * dW = dy^T @ x = rows (3,0), dbias = (2,2,2). */
    eng_layer *l;
    assert_ok(eng_linear_new(2, 3, true, ENG_F64, NULL, &l));
    tensor_set_values(l->params[0].value, (double[]){1, 2, 3, 4, 5, 6});
    tensor_set_values(l->params[1].value, (double[]){1, 0, -1});
    eng_tensor *x = TENSOR(ENG_F64, 2, 2), *y = TENSOR(ENG_F64, 2, 3), *dy = TENSOR(ENG_F64, 2, 3);
    eng_tensor *dx = TENSOR(ENG_F64, 2, 2);
    tensor_set_values(x, (double[]){1, 1, 2, -1});
    eng_tensor_fill(dy, 1);
    layer_forward_backward(l, x, y, dy, dx);
    const double y_e[6] = {4, 7, 10, 1, 2, 3}, dx_e[4] = {9, 12, 9, 12},
                 dw_e[6] = {3, 0, 3, 0, 3, 0};
    for (int i = 0; i < 6; i++) {
        assert_true(ENG_F64_DATA(y)[i] == y_e[i]);
        assert_true(ENG_F64_DATA(l->params[0].grad)[i] == dw_e[i]);
    }
    for (int i = 0; i < 4; i++)
        assert_true(ENG_F64_DATA(dx)[i] == dx_e[i]);
    for (int i = 0; i < 3; i++)
        assert_true(ENG_F64_DATA(l->params[1].grad)[i] == 2);
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_tensor_release(dy);
    eng_tensor_release(dx);
    eng_layer_release(l);
}

static void test_linear_backward_accumulates_parameter_gradients(void **state)
{
    (void)state;
    fixture *fx = fixture_load("layer_linear_bias.bin");
    for (int k = 0; k < 2; k++) {
        eng_dtype dt = k ? ENG_F64 : ENG_F32;
        eng_layer *l = linear_from_fixture(fx, dt);
        set_param(l, "weight", fixture_get(fx, "weight"));
        set_param(l, "bias", fixture_get(fx, "bias"));
        eng_tensor *x = tensor_to(fixture_get(fx, "x"), dt);
        eng_tensor *r = tensor_to(fixture_get(fx, "r"), dt);
        eng_tensor *y = tensor_new(dt, 2, fixture_get(fx, "y")->shape);
        eng_layer_zero_grad(l);
        assert_ok(eng_layer_forward(l, x, y, true));
        assert_ok(eng_layer_backward(l, x, y, r, NULL)); /* no dx: parameter gradients only */
        assert_ok(eng_layer_backward(l, x, y, r, NULL));
        const char *names[2] = {"dweight", "dbias"};
        for (int i = 0; i < 2; i++) {
            eng_tensor *twice = tensor_clone(fixture_get(fx, names[i]));
            assert_ok(eng_tensor_binary_scalar(twice, twice, 2, ENG_MUL));
            assert_tensor_close(l->params[i].grad, twice, k ? 1e-14 : 1e-5, names[i]);
            eng_tensor_release(twice);
        }
        eng_tensor_release(x);
        eng_tensor_release(r);
        eng_tensor_release(y);
        eng_layer_release(l);
    }
    fixture_free(fx);
}

static void test_linear_gradients_match_finite_differences(void **state)
{
    (void)state;
    for (int bias = 0; bias < 2; bias++) {
        eng_rng rng;
        eng_rng_seed(&rng, 11);
        eng_layer *l;
        assert_ok(eng_linear_new(7, 4, bias, ENG_F64, &rng, &l));
        eng_tensor *x = TENSOR(ENG_F64, 5, 7);
        tensor_randn(x, 12, 1.0);
        check_layer_gradients(l, x, 1e-3, 1e-9);
        eng_tensor_release(x);
        eng_layer_release(l);
    }
}

static void test_linear_initialises_like_pytorch(void **state)
{
    (void)state;
    eng_rng rng;
    eng_rng_seed(&rng, 4);
    eng_layer *l;
    assert_ok(eng_linear_new(400, 30, true, ENG_F64, &rng, &l));
    assert_string_equal(eng_tensor_shape_str(l->params[0].value), "[30,400]");
    assert_string_equal(l->params[0].name, "weight");
    assert_string_equal(l->params[1].name, "bias");
    double bound = 1 / sqrt(400.0);
    assert_true(max_abs(l->params[0].value) <= bound && max_abs(l->params[0].value) > 0.9 * bound);
    assert_true(max_abs(l->params[1].value) <= bound && max_abs(l->params[1].value) > 0);
    eng_layer_release(l);
}

static void test_linear_rejects_feature_mismatch(void **state)
{
    (void)state;
    eng_layer *l;
    assert_ok(eng_linear_new(5, 3, true, ENG_F32, NULL, &l));
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    eng_tensor *x = TENSOR(ENG_F32, 4, 6), *x4 = TENSOR(ENG_F32, 4, 1, 5, 1);
    assert_error(eng_layer_output_shape(l, x, &ndim, shape), ENG_ESHAPE, "linear", "[4,6]",
                 "[N,5] (in_features 5, x has 6)");
    assert_error(eng_layer_output_shape(l, x4, &ndim, shape), ENG_ESHAPE, "[4,1,5,1]",
                 "expected [N,5] (flatten the input first)");
    eng_tensor_release(x);
    eng_tensor_release(x4);
    eng_layer_release(l);
}

static void test_linear_rejects_dtype_mismatch(void **state)
{
    (void)state;
    eng_layer *l;
    assert_ok(eng_linear_new(5, 3, true, ENG_F32, NULL, &l));
    assert_ok(eng_layer_set_name(l, "fc1"));
    eng_tensor *x = TENSOR(ENG_F64, 4, 5), *y = TENSOR(ENG_F64, 4, 3);
    assert_error(eng_layer_forward(l, x, y, false), ENG_EDTYPE, "'fc1'", "[4,5]", "f64", "f32");
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_layer_release(l);
}

static void test_linear_rejects_bad_constructor_arguments(void **state)
{
    (void)state;
    eng_layer *l = (eng_layer *)1;
    assert_error(eng_linear_new(0, 3, true, ENG_F32, NULL, &l), ENG_EARG, "(0)", "(3)");
    assert_null(l);
    assert_error(eng_linear_new(3, -2, true, ENG_F32, NULL, &l), ENG_EARG, "(-2)");
    assert_error(eng_linear_new(3, 2, true, ENG_U8, NULL, &l), ENG_EDTYPE, "u8");
    assert_null(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_matches_pytorch_in_f32_and_f64),
        cmocka_unit_test(test_linear_forward_and_backward_by_hand),
        cmocka_unit_test(test_linear_backward_accumulates_parameter_gradients),
        cmocka_unit_test(test_linear_gradients_match_finite_differences),
        cmocka_unit_test(test_linear_initialises_like_pytorch),
        cmocka_unit_test(test_linear_rejects_feature_mismatch),
        cmocka_unit_test(test_linear_rejects_dtype_mismatch),
        cmocka_unit_test(test_linear_rejects_bad_constructor_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
