/* embedding: PyTorch fixture (repeated indices) in f32 and f64, padding_idx, the checker in
 * f64, and the error paths. */
#include "support.h"

#include "registry.h"

static void test_embedding_matches_pytorch_in_f32_and_f64(void **state)
{
    (void)state;
    fixture *fx = fixture_load("layer_embedding.bin");
    for (int k = 0; k < 2; k++) {
        eng_dtype dt = k ? ENG_F64 : ENG_F32;
        eng_layer *l;
        assert_ok(eng_embedding_new(fixture_config(fx, 0), fixture_config(fx, 1),
                                    ENG_EMBEDDING_NO_PADDING, dt, NULL, &l));
        check_layer_against_fixture(l, fx, dt, k ? 1e-14 : 1e-6);
        if (k) /* the indices are not differentiable: the weight alone */
            check_layer_with_checker(l, fixture_get(fx, "x"), true, false);
        eng_layer_release(l);
    }
    fixture_free(fx);
}

static void test_embedding_padding_row_is_zero_and_gets_no_gradient(void **state)
{
    (void)state;
    eng_layer *l;
    assert_ok(eng_embedding_new(4, 2, -1, ENG_F64, NULL, &l)); /* row 3 */
    for (int j = 0; j < 2; j++)
        assert_true(eng_tensor_get_flat(l->params[0].value, 6 + j) == 0.0);
    eng_tensor *x = tensor_new(ENG_F64, 1, (int64_t[]){3});
    eng_tensor *y = tensor_new(ENG_F64, 2, (int64_t[]){3, 2});
    eng_tensor *dy = tensor_new(ENG_F64, 2, (int64_t[]){3, 2});
    tensor_set_values(x, (double[]){3, 1, 3});
    eng_tensor_fill(dy, 1);
    assert_ok(eng_layer_forward(l, x, y, true));
    assert_ok(eng_layer_backward(l, x, y, dy, NULL));
    assert_true(eng_tensor_get_flat(l->params[0].grad, 6) == 0.0);
    assert_true(eng_tensor_get_flat(l->params[0].grad, 2) == 1.0);
    char buf[128];
    eng_layer_repr(l, buf, sizeof buf);
    assert_string_equal(buf, "Embedding(4, 2, padding_idx=3)");
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_tensor_release(dy);
    eng_layer_release(l);
}

static void test_embedding_rejects_bad_indices_and_settings(void **state)
{
    (void)state;
    eng_layer *l;
    assert_error(eng_embedding_new(0, 2, ENG_EMBEDDING_NO_PADDING, ENG_F32, NULL, &l), ENG_EARG,
                 "num_embeddings (0)");
    assert_error(eng_embedding_new(4, 2, 4, ENG_F32, NULL, &l), ENG_EARG, "padding_idx 4");
    assert_ok(eng_embedding_new(4, 2, ENG_EMBEDDING_NO_PADDING, ENG_F32, NULL, &l));
    eng_tensor *x = tensor_new(ENG_F32, 1, (int64_t[]){2});
    eng_tensor *y = tensor_new(ENG_F32, 2, (int64_t[]){2, 2});
    tensor_set_values(x, (double[]){1, 4});
    assert_error(eng_layer_forward(l, x, y, true), ENG_EARG, "x[1] = 4", "[0, 4)");
    tensor_set_values(x, (double[]){1.5, 2});
    assert_error(eng_layer_forward(l, x, y, true), ENG_EARG, "x[0] = 1.5");
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_layer_release(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedding_matches_pytorch_in_f32_and_f64),
        cmocka_unit_test(test_embedding_padding_row_is_zero_and_gets_no_gradient),
        cmocka_unit_test(test_embedding_rejects_bad_indices_and_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
