/* layernorm: PyTorch fixtures (one and two normalised dimensions, with and without affine) in
 * f32 and f64, the checker in f64, and the error paths. */
#include "support.h"

static const char *const fixtures[] = {"layer_layernorm_last.bin", "layer_layernorm_two.bin",
                                       "layer_layernorm_two_affine.bin"};

/* config: affine, then normalized_shape */
static eng_layer *layernorm_from_fixture(const fixture *fx, eng_dtype dtype)
{
    const eng_tensor *c = fixture_get(fx, "config");
    int ndim = (int)c->shape[0] - 1;
    int64_t shape[ENG_MAX_DIMS];
    for (int i = 0; i < ndim; i++)
        shape[i] = fixture_config(fx, i + 1);
    eng_layer *l;
    assert_ok(eng_layernorm_new(ndim, shape, 1e-5, fixture_config(fx, 0) != 0, dtype, &l));
    return l;
}

static void test_layernorm_matches_pytorch_in_f32_and_f64(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        fixture *fx = fixture_load(fixtures[i]);
        for (int k = 0; k < 2; k++) {
            eng_dtype dt = k ? ENG_F64 : ENG_F32;
            eng_layer *l = layernorm_from_fixture(fx, dt);
            assert_int_equal(l->nparams, fixture_config(fx, 0) ? 2 : 0);
            check_layer_against_fixture(l, fx, dt, k ? 1e-12 : 1e-4);
            eng_layer_release(l);
        }
        fixture_free(fx);
    }
}

static void test_layernorm_passes_the_checker_in_f64(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        fixture *fx = fixture_load(fixtures[i]);
        eng_layer *l = layernorm_from_fixture(fx, ENG_F64);
        for (int p = 0; p < l->nparams; p++)
            set_param(l, l->params[p].name, fixture_get(fx, l->params[p].name));
        assert_checker_passes_layer(l, fixture_get(fx, "x"), true);
        eng_layer_release(l);
        fixture_free(fx);
    }
}

static void test_layernorm_rejects_bad_settings_and_inputs(void **state)
{
    (void)state;
    eng_layer *l;
    assert_error(eng_layernorm_new(1, (int64_t[]){0}, 1e-5, true, ENG_F32, &l), ENG_EARG,
                 "normalized_shape [0]");
    assert_error(eng_layernorm_new(0, (int64_t[]){4}, 1e-5, true, ENG_F32, &l), ENG_EARG,
                 "0 dimensions");
    assert_error(eng_layernorm_new(1, (int64_t[]){4}, -1, true, ENG_F32, &l), ENG_EARG, "eps");
    assert_ok(eng_layernorm_new(2, (int64_t[]){3, 4}, 1e-5, true, ENG_F32, &l));
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    eng_tensor *x = tensor_new(ENG_F32, 3, (int64_t[]){2, 4, 3});
    assert_error(eng_layer_output_shape(l, x, &ndim, shape), ENG_ESHAPE, "layernorm",
                 "x [2,4,3], expected [N,...,3,4]");
    eng_tensor_release(x);
    x = tensor_new(ENG_F32, 2, (int64_t[]){3, 4});
    assert_error(eng_layer_output_shape(l, x, &ndim, shape), ENG_ESHAPE, "[N,...,3,4]");
    eng_tensor_release(x);
    eng_layer_release(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layernorm_matches_pytorch_in_f32_and_f64),
        cmocka_unit_test(test_layernorm_passes_the_checker_in_f64),
        cmocka_unit_test(test_layernorm_rejects_bad_settings_and_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
