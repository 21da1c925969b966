/* flatten: row-major order by hand in f32 and f64, backward as the inverse reshape, a float64
 * gradient check, and error paths. */
#include "support.h"

static void test_flatten_keeps_row_major_order(void **state)
{
    (void)state;
    eng_layer *l;
    assert_ok(eng_flatten_new(&l));
    for (int k = 0; k < 2; k++) {
        eng_dtype dt = k ? ENG_F64 : ENG_F32;
        eng_tensor *x = TENSOR(dt, 2, 3, 2, 2);
        for (int i = 0; i < 24; i++)
            eng_tensor_set_flat(x, i, i * 0.5);
        int ndim;
        int64_t shape[ENG_MAX_DIMS];
        assert_ok(eng_layer_output_shape(l, x, &ndim, shape));
        assert_string_equal(eng_shape_str(ndim, shape), "[2,12]");
        eng_tensor *y = TENSOR(dt, 2, 12), *dy = TENSOR(dt, 2, 12), *dx = TENSOR(dt, 2, 3, 2, 2);
        assert_ok(eng_layer_forward(l, x, y, true));
        /* x[n,c,h,w] lands at y[n, c*4 + h*2 + w] */
        assert_true(eng_tensor_get(y, (int64_t[]){1, 7}) ==
                    eng_tensor_get(x, (int64_t[]){1, 1, 1, 1}));
        for (int i = 0; i < 24; i++) {
            assert_true(eng_tensor_get_flat(y, i) == i * 0.5);
            eng_tensor_set_flat(dy, i, -i);
        }
        assert_ok(eng_layer_backward(l, x, y, dy, dx));
        for (int i = 0; i < 24; i++)
            assert_true(eng_tensor_get_flat(dx, i) == -i);
        assert_ok(eng_layer_backward(l, x, y, dy, NULL));
        eng_tensor_release(x);
        eng_tensor_release(y);
        eng_tensor_release(dy);
        eng_tensor_release(dx);
    }
    eng_layer_release(l);
}

static void test_flatten_of_a_vector_gives_one_column(void **state)
{
    (void)state;
    eng_layer *l;
    assert_ok(eng_flatten_new(&l));
    eng_tensor *x = TENSOR(ENG_F64, 5);
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    assert_ok(eng_layer_output_shape(l, x, &ndim, shape));
    assert_string_equal(eng_shape_str(ndim, shape), "[5,1]");
    eng_tensor_release(x);
    eng_layer_release(l);
}

static void test_flatten_gradient_matches_finite_differences(void **state)
{
    (void)state;
    eng_layer *l;
    assert_ok(eng_flatten_new(&l));
    eng_tensor *x = TENSOR(ENG_F64, 3, 2, 3, 2);
    tensor_randn(x, 5, 1.0);
    check_layer_gradients(l, x, 1e-3, 1e-10);
    eng_tensor_release(x);
    eng_layer_release(l);
}

static void test_flatten_rejects_scalar_and_integer_input(void **state)
{
    (void)state;
    eng_layer *l;
    assert_ok(eng_flatten_new(&l));
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    eng_tensor *s = tensor_new(ENG_F32, 0, NULL), *i = TENSOR(ENG_I64, 2, 3);
    assert_error(eng_layer_output_shape(l, s, &ndim, shape), ENG_ESHAPE, "flatten", "[]", "batch");
    assert_error(eng_layer_output_shape(l, i, &ndim, shape), ENG_EDTYPE, "i64");
    eng_tensor *x = TENSOR(ENG_F32, 2, 3, 4), *y = TENSOR(ENG_F32, 2, 11);
    assert_error(eng_layer_forward(l, x, y, false), ENG_ESHAPE, "[2,11]", "[2,12]", "[2,3,4]");
    eng_tensor_release(s);
    eng_tensor_release(i);
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_layer_release(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flatten_keeps_row_major_order),
        cmocka_unit_test(test_flatten_of_a_vector_gives_one_column),
        cmocka_unit_test(test_flatten_gradient_matches_finite_differences),
        cmocka_unit_test(test_flatten_rejects_scalar_and_integer_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
