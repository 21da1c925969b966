/* Tensor creation, shape and label operations (engine/tensor_shape.c, engine/tensor_index.c):
 * views share storage, hand-worked values, and every error path with its status and message.
 * Agreement with PyTorch over many shapes and dtypes is tests/lua/test_tensor_fixtures.lua. */
#include "support.h"

#include "tensor_index.h"
#include "tensor_shape.h"

/* t [2,3] = {{0,1,2},{3,4,5}} of dtype. */
static eng_tensor *iota23(eng_dtype dtype)
{
    eng_tensor *t = TENSOR(dtype, 2, 3);
    for (int i = 0; i < 6; i++)
        eng_tensor_set_flat(t, i, i);
    return t;
}

static void assert_values(const eng_tensor *t, const double *expected, int64_t n)
{
    assert_int_equal(eng_tensor_numel(t), n);
    for (int64_t i = 0; i < n; i++) {
        if (eng_tensor_get_flat(t, i) != expected[i])
            print_message("element %lld: %g, expected %g\n", (long long)i,
                          eng_tensor_get_flat(t, i), expected[i]);
        assert_true(eng_tensor_get_flat(t, i) == expected[i]);
    }
}

static void test_creation_functions_give_hand_worked_values(void **state)
{
    (void)state;
    eng_tensor *t;
    assert_ok(eng_tensor_arange(ENG_I64, 5, -1, -2, &t));
    assert_values(t, (double[]){5, 3, 1}, 3);
    eng_tensor_release(t);
    assert_ok(eng_tensor_linspace(ENG_F64, 0, 1, 5, &t));
    assert_values(t, (double[]){0, 0.25, 0.5, 0.75, 1}, 5);
    eng_tensor_release(t);
    assert_ok(eng_tensor_eye(ENG_F32, 2, 3, &t));
    assert_values(t, (double[]){1, 0, 0, 0, 1, 0}, 6);
    eng_tensor_release(t);
}

static void test_creation_functions_reject_bad_arguments(void **state)
{
    (void)state;
    eng_tensor *t;
    assert_error(eng_tensor_arange(ENG_F32, 0, 1, 0, &t), ENG_EARG, "step 0");
    assert_null(t);
    assert_error(eng_tensor_arange(ENG_F32, 3, 1, 1, &t), ENG_EARG, "does not lead");
    assert_error(eng_tensor_arange(ENG_F32, 0, NAN, 1, &t), ENG_EARG, "finite");
    assert_error(eng_tensor_arange(ENG_F32, 0, 1e300, 1e-300, &t), ENG_EARG, "too many");
    assert_error(eng_tensor_arange(ENG_U8, 250, 260, 1, &t), ENG_EARG, "259", "u8");
    assert_error(eng_tensor_linspace(ENG_F32, 0, 1, -1, &t), ENG_EARG, "-1");
    assert_error(eng_tensor_linspace(ENG_I32, 0, 1e10, 3, &t), ENG_EARG, "10000000000", "i32");
    assert_error(eng_tensor_eye(ENG_F32, -1, 2, &t), ENG_ESHAPE, "negative");
}

static void test_transpose_permute_and_unsqueeze_are_views(void **state)
{
    (void)state;
    eng_tensor *t = iota23(ENG_F64), *tr, *p, *u, *s;
    assert_ok(eng_tensor_transpose(t, 0, 1, &tr));
    assert_true(tr->storage == t->storage && !eng_tensor_is_contiguous(tr));
    assert_values(tr, (double[]){0, 3, 1, 4, 2, 5}, 6);
    assert_ok(eng_tensor_permute(t, (int[]){1, 0}, &p));
    assert_values(p, (double[]){0, 3, 1, 4, 2, 5}, 6);
    assert_ok(eng_tensor_unsqueeze(t, 1, &u));
    assert_string_equal(eng_tensor_shape_str(u), "[2,1,3]");
    assert_true(eng_tensor_is_contiguous(u));
    assert_ok(eng_tensor_squeeze(u, -1, &s));
    assert_string_equal(eng_tensor_shape_str(s), "[2,3]");
    eng_tensor_set(s, (int64_t[]){1, 2}, 50);
    assert_true(eng_tensor_get(t, (int64_t[]){1, 2}) == 50);
    eng_tensor_release(s);
    eng_tensor_release(u);
    eng_tensor_release(p);
    eng_tensor_release(tr);
    eng_tensor_release(t);
}

static void test_view_ops_reject_bad_dimensions(void **state)
{
    (void)state;
    eng_tensor *t = iota23(ENG_F32), *v;
    assert_error(eng_tensor_transpose(t, 0, 2, &v), ENG_EARG, "transpose", "dimension 3", "[2,3]");
    assert_null(v);
    assert_error(eng_tensor_permute(t, (int[]){0, 0}, &v), ENG_EARG, "dimension 1 appears twice");
    assert_error(eng_tensor_permute(t, (int[]){0, 5}, &v), ENG_EARG, "dimension 6");
    assert_error(eng_tensor_squeeze(t, 2, &v), ENG_EARG, "squeeze", "dimension 3");
    assert_error(eng_tensor_unsqueeze(t, 3, &v), ENG_EARG, "unsqueeze", "dimension 4", "(1..3)");
    assert_error(eng_tensor_flatten(t, 1, 0, &v), ENG_EARG, "start dimension 2 after end");
    eng_tensor *full = TENSOR(ENG_F32, 1, 1, 1, 1, 1, 1, 1, 1);
    assert_error(eng_tensor_unsqueeze(full, 0, &v), ENG_ESHAPE, "8 dimensions");
    eng_tensor_release(full);
    eng_tensor_release(t);
}

static void test_expand_repeats_with_stride_zero_and_names_both_shapes(void **state)
{
    (void)state;
    eng_tensor *row = TENSOR(ENG_F64, 1, 3), *v;
    for (int i = 0; i < 3; i++)
        ENG_F64_DATA(row)[i] = i + 1;
    assert_ok(eng_tensor_expand(row, 3, (int64_t[]){2, 2, -1}, &v));
    assert_string_equal(eng_tensor_shape_str(v), "[2,2,3]");
    assert_int_equal(v->strides[0], 0);
    assert_int_equal(v->strides[1], 0);
    assert_values(v, (double[]){1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3}, 12);
    eng_tensor_release(v);
    assert_error(eng_tensor_expand(row, 2, (int64_t[]){2, 4}, &v), ENG_ESHAPE, "[1,3]", "[2,4]",
                 "dimension 2");
    assert_error(eng_tensor_expand(row, 1, (int64_t[]){3}, &v), ENG_ESHAPE, "[1,3]", "[3]");
    const int64_t big = (int64_t)1 << 40;
    assert_error(eng_tensor_expand(row, 3, (int64_t[]){big, big, 3}, &v), ENG_ENOMEM, "too large");
    eng_tensor_release(row);
}

static void test_cat_and_stack_join_and_name_mismatches(void **state)
{
    (void)state;
    eng_tensor *a = iota23(ENG_F64), *b = TENSOR(ENG_F64, 2, 1), *c, *s;
    ENG_F64_DATA(b)[0] = 9, ENG_F64_DATA(b)[1] = 8;
    assert_ok(eng_tensor_cat(2, (const eng_tensor *[]){a, b}, 1, &c));
    assert_values(c, (double[]){0, 1, 2, 9, 3, 4, 5, 8}, 8);
    eng_tensor_release(c);
    assert_error(eng_tensor_cat(2, (const eng_tensor *[]){a, b}, 0, &c), ENG_ESHAPE,
                 "tensor 2 is [2,1]", "tensor 1 is [2,3]", "dimension 2");
    assert_null(c);
    eng_tensor *f32 = TENSOR(ENG_F32, 2, 3);
    assert_error(eng_tensor_cat(2, (const eng_tensor *[]){a, f32}, 0, &c), ENG_EDTYPE, "f32",
                 "f64");
    assert_error(eng_tensor_cat(0, NULL, 0, &c), ENG_EARG, "no tensors");
    assert_ok(eng_tensor_stack(2, (const eng_tensor *[]){a, a}, 2, &s));
    assert_string_equal(eng_tensor_shape_str(s), "[2,3,2]");
    assert_values(s, (double[]){0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5}, 12);
    eng_tensor_release(s);
    assert_error(eng_tensor_stack(2, (const eng_tensor *[]){a, b}, 0, &s), ENG_ESHAPE,
                 "tensor 2 is [2,1]", "tensor 1 is [2,3]");
    assert_error(eng_tensor_stack(1, (const eng_tensor *[]){a}, 3, &s), ENG_EARG, "dimension 4");
    eng_tensor_release(f32);
    eng_tensor_release(b);
    eng_tensor_release(a);
}

static void test_label_ops_give_hand_worked_values(void **state)
{
    (void)state;
    eng_tensor *t = iota23(ENG_F32), *ix = TENSOR(ENG_I64, 2), *out;
    int64_t *p = eng_tensor_data(ix);
    p[0] = 2, p[1] = 0;
    assert_ok(eng_tensor_index_select(t, 1, ix, 0, &out));
    assert_values(out, (double[]){2, 0, 5, 3}, 4);
    eng_tensor_release(out);
    eng_tensor *g = TENSOR(ENG_I32, 2, 1);
    ((int32_t *)eng_tensor_data(g))[0] = 3, ((int32_t *)eng_tensor_data(g))[1] = 1;
    assert_ok(eng_tensor_gather(t, 1, g, 1, &out)); /* positions counted from 1 */
    assert_values(out, (double[]){2, 3}, 2);
    eng_tensor *acc = TENSOR(ENG_F32, 2, 3);
    assert_ok(eng_tensor_scatter_add(acc, 1, g, out, 1));
    assert_ok(eng_tensor_scatter_add(acc, 1, g, out, 1));
    assert_values(acc, (double[]){0, 0, 4, 6, 0, 0}, 6);
    eng_tensor_release(out);
    assert_ok(eng_tensor_one_hot(ix, 3, 0, ENG_F64, &out));
    assert_values(out, (double[]){0, 0, 1, 1, 0, 0}, 6);
    eng_tensor_release(out);
    eng_tensor_release(acc);
    eng_tensor_release(g);
    eng_tensor_release(ix);
    eng_tensor_release(t);
}

static void test_label_ops_refuse_bad_positions_shapes_and_dtypes(void **state)
{
    (void)state;
    eng_tensor *t = iota23(ENG_F32), *ix = TENSOR(ENG_I64, 2), *out;
    ((int64_t *)eng_tensor_data(ix))[1] = 3;
    assert_error(eng_tensor_index_select(t, 1, ix, 0, &out), ENG_EARG, "index 3", "element 2",
                 "dimension 2 of [2,3]", "(0..2)");
    assert_null(out);
    assert_error(eng_tensor_index_select(t, 2, ix, 0, &out), ENG_EARG, "dimension 3");
    eng_tensor *fl = TENSOR(ENG_F32, 2);
    assert_error(eng_tensor_index_select(t, 0, fl, 0, &out), ENG_EDTYPE, "f32", "i64 or i32");
    eng_tensor *g = TENSOR(ENG_I64, 3, 1);
    assert_error(eng_tensor_gather(t, 1, g, 0, &out), ENG_ESHAPE, "index [3,1]", "tensor [2,3]",
                 "dimension 1");
    eng_tensor *g1 = TENSOR(ENG_I64, 2);
    assert_error(eng_tensor_gather(t, 1, g1, 0, &out), ENG_ESHAPE, "index [2]", "[2,3]");
    eng_tensor *acc = TENSOR(ENG_F32, 2, 3), *src = TENSOR(ENG_F64, 3, 1);
    assert_error(eng_tensor_scatter_add(acc, 1, g, src, 0), ENG_ESHAPE, "dimension 1");
    eng_tensor *src2 = TENSOR(ENG_F64, 2, 1), *g2 = TENSOR(ENG_I64, 2, 1);
    assert_error(eng_tensor_scatter_add(acc, 1, g2, src2, 0), ENG_EDTYPE, "f64", "f32");
    ((int64_t *)eng_tensor_data(g2))[0] = -1;
    eng_tensor *src3 = TENSOR(ENG_F32, 2, 1);
    assert_error(eng_tensor_scatter_add(acc, 1, g2, src3, 0), ENG_EARG, "index -1");
    assert_values(acc, (double[]){0, 0, 0, 0, 0, 0}, 6); /* nothing written */
    assert_error(eng_tensor_one_hot(ix, 3, 0, ENG_F32, &out), ENG_EARG, "label 3", "3 classes");
    assert_error(eng_tensor_one_hot(ix, 0, 0, ENG_F32, &out), ENG_EARG, "0 classes");
    eng_tensor *list[] = {src3, g2, src2, src, acc, g1, g, fl, ix, t};
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++)
        eng_tensor_release(list[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_creation_functions_give_hand_worked_values),
        cmocka_unit_test(test_creation_functions_reject_bad_arguments),
        cmocka_unit_test(test_transpose_permute_and_unsqueeze_are_views),
        cmocka_unit_test(test_view_ops_reject_bad_dimensions),
        cmocka_unit_test(test_expand_repeats_with_stride_zero_and_names_both_shapes),
        cmocka_unit_test(test_cat_and_stack_join_and_name_mismatches),
        cmocka_unit_test(test_label_ops_give_hand_worked_values),
        cmocka_unit_test(test_label_ops_refuse_bad_positions_shapes_and_dtypes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
