/* adaptive_avgpool2d: PyTorch fixtures (1x1, uneven 2x3, overlapping 4x4 from 5x7) in f32 and
 * f64, the checker in f64, and the error paths. */
#include "support.h"

static const char *const fixtures[] = {"layer_adaptive_avgpool2d_1x1.bin",
                                       "layer_adaptive_avgpool2d_2x3.bin",
                                       "layer_adaptive_avgpool2d_4x4.bin"};

static void test_adaptive_avgpool2d_matches_pytorch_in_f32_and_f64(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        fixture *fx = fixture_load(fixtures[i]);
        for (int k = 0; k < 2; k++) {
            eng_layer *l;
            assert_ok(eng_adaptive_avgpool2d_new(fixture_config(fx, 0), fixture_config(fx, 1), &l));
            check_layer_against_fixture(l, fx, k ? ENG_F64 : ENG_F32, k ? 1e-12 : 1e-5);
            if (k)
                assert_checker_passes_layer(l, fixture_get(fx, "x"), true);
            eng_layer_release(l);
        }
        fixture_free(fx);
    }
}

static void test_adaptive_avgpool2d_rejects_bad_settings_and_inputs(void **state)
{
    (void)state;
    eng_layer *l;
    assert_error(eng_adaptive_avgpool2d_new(0, 1, &l), ENG_EARG, "output size (0,1)");
    assert_ok(eng_adaptive_avgpool2d_new(1, 1, &l));
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    eng_tensor *x = tensor_new(ENG_F32, 2, (int64_t[]){2, 3});
    assert_error(eng_layer_output_shape(l, x, &ndim, shape), ENG_ESHAPE, "adaptive_avgpool2d",
                 "[N,C,H,W]");
    eng_tensor_release(x);
    eng_layer_release(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adaptive_avgpool2d_matches_pytorch_in_f32_and_f64),
        cmocka_unit_test(test_adaptive_avgpool2d_rejects_bad_settings_and_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
