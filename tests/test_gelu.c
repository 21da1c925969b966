/* gelu: PyTorch fixtures (exact and tanh) in f32 and f64, values by hand, and the checker in
 * f64. */
#include "support.h"

static void test_gelu_matches_pytorch_in_f32_and_f64(void **state)
{
    (void)state;
    const char *const names[] = {"layer_gelu_exact.bin", "layer_gelu_tanh.bin"};
    for (int i = 0; i < 2; i++) {
        fixture *fx = fixture_load(names[i]);
        for (int k = 0; k < 2; k++) {
            eng_layer *l;
            assert_ok(eng_gelu_new(fixture_config(fx, 0) != 0, &l));
            check_layer_against_fixture(l, fx, k ? ENG_F64 : ENG_F32, k ? 1e-12 : 1e-5);
            eng_layer_release(l);
        }
        fixture_free(fx);
    }
}

static void test_gelu_by_hand(void **state)
{
    (void)state;
    /* gelu(1) = 0.5 (1 + erf(1/sqrt 2)) = Phi(1) = 0.841344746068543; gelu(0) = 0;
     * gelu'(0) = 1/2 in both forms */
    eng_layer *l;
    assert_ok(eng_gelu_new(false, &l));
    eng_tensor *x = tensor_new(ENG_F64, 1, (int64_t[]){2});
    eng_tensor *y = tensor_new(ENG_F64, 1, (int64_t[]){2});
    eng_tensor *dy = tensor_new(ENG_F64, 1, (int64_t[]){2});
    eng_tensor *dx = tensor_new(ENG_F64, 1, (int64_t[]){2});
    tensor_set_values(x, (double[]){1, 0});
    eng_tensor_fill(dy, 1);
    assert_ok(eng_layer_forward(l, x, y, true));
    assert_ok(eng_layer_backward(l, x, y, dy, dx));
    assert_double_close(eng_tensor_get_flat(y, 0), 0.841344746068543, 1e-14);
    assert_true(eng_tensor_get_flat(y, 1) == 0.0);
    assert_double_close(eng_tensor_get_flat(dx, 1), 0.5, 1e-15);
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_tensor_release(dy);
    eng_tensor_release(dx);
    eng_layer_release(l);
}

static void test_gelu_passes_the_checker_in_f64(void **state)
{
    (void)state;
    fixture *fx = fixture_load("layer_gelu_exact.bin");
    for (int t = 0; t < 2; t++) {
        eng_layer *l;
        assert_ok(eng_gelu_new(t, &l));
        assert_checker_passes_layer(l, fixture_get(fx, "x"), true);
        eng_layer_release(l);
    }
    fixture_free(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gelu_matches_pytorch_in_f32_and_f64),
        cmocka_unit_test(test_gelu_by_hand),
        cmocka_unit_test(test_gelu_passes_the_checker_in_f64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
