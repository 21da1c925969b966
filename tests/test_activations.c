/* Pointwise activation layers (relu, leaky_relu, tanh, sigmoid): PyTorch fixtures in f32 and
 * f64, any shape, float64 finite differences away from the kinks, and error paths. */
#include "support.h"

typedef struct activation_case {
    const char *fixture;
    const char *kind;
} activation_case;

static const activation_case cases[] = {
    {"layer_relu.bin", "relu"},
    {"layer_leaky_relu.bin", "leaky_relu"},
    {"layer_tanh.bin", "tanh"},
    {"layer_sigmoid.bin", "sigmoid"},
};

static eng_layer *make(const char *kind, double slope)
{
    eng_layer *l = NULL;
    if (strcmp(kind, "relu") == 0)
        assert_ok(eng_relu_new(&l));
    else if (strcmp(kind, "leaky_relu") == 0)
        assert_ok(eng_leaky_relu_new(slope, &l));
    else if (strcmp(kind, "tanh") == 0)
        assert_ok(eng_tanh_new(&l));
    else
        assert_ok(eng_sigmoid_new(&l));
    assert_string_equal(l->ops->kind, kind);
    return l;
}

static void check_fixtures(eng_dtype dtype, double tol)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fixture *fx = fixture_load(cases[i].fixture);
        /* leaky_relu's config holds the slope in thousandths */
        double slope = fixture_has(fx, "config") && eng_tensor_numel(fixture_get(fx, "config"))
                           ? fixture_config(fx, 0) / 1000.0
                           : 0.0;
        eng_layer *l = make(cases[i].kind, slope);
        check_layer_against_fixture(l, fx, dtype, tol);
        eng_layer_release(l);
        fixture_free(fx);
    }
}

static void test_activations_match_pytorch_in_f64(void **state)
{
    (void)state;
    check_fixtures(ENG_F64, 1e-14);
}

static void test_activations_match_pytorch_in_f32(void **state)
{
    (void)state;
    check_fixtures(ENG_F32, 1e-6);
}

static void test_activations_gradients_match_finite_differences(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        eng_layer *l = make(cases[i].kind, 0.2);
        eng_tensor *x = TENSOR(ENG_F64, 2, 3, 4, 5);
        /* 0.05 away from the relu kink; the step is 1e-5 */
        tensor_randn_away_from_zero(x, 100 + i, 1.5, 0.05);
        check_layer_gradients(l, x, 1e-5, 1e-8);
        eng_tensor_release(x);
        eng_layer_release(l);
    }
}

static void test_activations_accept_any_shape_and_both_dtypes(void **state)
{
    (void)state;
    const int64_t shapes[3][5] = {{7}, {2, 1, 3, 1, 2}, {4, 5}};
    const int ndims[3] = {1, 5, 2};
    eng_layer *l = make("leaky_relu", 0.5);
    for (int s = 0; s < 3; s++) {
        for (int k = 0; k < 2; k++) {
            eng_dtype dt = k ? ENG_F64 : ENG_F32;
            eng_tensor *x = tensor_new(dt, ndims[s], shapes[s]);
            eng_tensor *y = tensor_new(dt, ndims[s], shapes[s]);
            for (int64_t i = 0; i < eng_tensor_numel(x); i++)
                eng_tensor_set_flat(x, i, (double)i - 3);
            int ndim;
            int64_t shape[ENG_MAX_DIMS];
            assert_ok(eng_layer_output_shape(l, x, &ndim, shape));
            assert_int_equal(ndim, ndims[s]);
            assert_ok(eng_layer_forward(l, x, y, true));
            for (int64_t i = 0; i < eng_tensor_numel(x); i++) {
                double v = (double)i - 3;
                assert_true(eng_tensor_get_flat(y, i) == (v > 0 ? v : 0.5 * v));
            }
            eng_tensor_release(x);
            eng_tensor_release(y);
        }
    }
    eng_layer_release(l);
}

static void test_activations_reject_integer_input(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        eng_layer *l = make(cases[i].kind, 0.1);
        eng_tensor *x = TENSOR(ENG_U8, 2, 3);
        int ndim;
        int64_t shape[ENG_MAX_DIMS];
        assert_error(eng_layer_output_shape(l, x, &ndim, shape), ENG_EDTYPE, cases[i].kind, "u8");
        eng_tensor_release(x);
        eng_layer_release(l);
    }
}

static void test_activations_reject_output_of_another_shape_or_dtype(void **state)
{
    (void)state;
    eng_layer *l = make("tanh", 0);
    eng_tensor *x = TENSOR(ENG_F64, 2, 3, 8, 8), *y = TENSOR(ENG_F64, 2, 3, 8, 7);
    eng_tensor *y32 = TENSOR(ENG_F32, 2, 3, 8, 8);
    assert_error(eng_layer_forward(l, x, y, false), ENG_ESHAPE, "tanh", "[2,3,8,7]", "[2,3,8,8]");
    assert_error(eng_layer_forward(l, x, y32, false), ENG_EDTYPE, "f32", "f64");
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_tensor_release(y32);
    eng_layer_release(l);
}

static void test_leaky_relu_describes_its_slope(void **state)
{
    (void)state;
    eng_layer *l = make("leaky_relu", 0.125);
    char *config;
    assert_ok(eng_layer_config(l, &config));
    assert_string_equal(config, "{\"kind\":\"leaky_relu\",\"negative_slope\":0.125}");
    free(config);
    eng_layer *c;
    assert_ok(l->ops->clone(l, ENG_F64, &c));
    eng_tensor *x = TENSOR(ENG_F64, 1), *y = TENSOR(ENG_F64, 1);
    ENG_F64_DATA(x)[0] = -8;
    assert_ok(eng_layer_forward(c, x, y, false));
    assert_true(ENG_F64_DATA(y)[0] == -1);
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_layer_release(c);
    eng_layer_release(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_activations_match_pytorch_in_f64),
        cmocka_unit_test(test_activations_match_pytorch_in_f32),
        cmocka_unit_test(test_activations_gradients_match_finite_differences),
        cmocka_unit_test(test_activations_accept_any_shape_and_both_dtypes),
        cmocka_unit_test(test_activations_reject_integer_input),
        cmocka_unit_test(test_activations_reject_output_of_another_shape_or_dtype),
        cmocka_unit_test(test_leaky_relu_describes_its_slope),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
