/* Tensors: construction, views, reshape, copy and conversion, element access, initialisers and
 * elementwise arithmetic; every error path with its status and message. */
#include "support.h"

static void test_tensor_new_is_zero_contiguous_and_row_major(void **state)
{
    (void)state;
    eng_tensor *t = TENSOR(ENG_F64, 2, 3, 4);
    assert_int_equal(t->ndim, 3);
    assert_int_equal(eng_tensor_numel(t), 24);
    assert_int_equal(t->strides[0], 12);
    assert_int_equal(t->strides[1], 4);
    assert_int_equal(t->strides[2], 1);
    assert_true(eng_tensor_is_contiguous(t));
    for (int64_t i = 0; i < 24; i++)
        assert_true(ENG_F64_DATA(t)[i] == 0.0);
    assert_string_equal(eng_tensor_shape_str(t), "[2,3,4]");
    eng_tensor_release(t);
}

static void test_tensor_scalar_and_empty_shapes_are_valid(void **state)
{
    (void)state;
    eng_tensor *s = tensor_new(ENG_F32, 0, NULL);
    assert_int_equal(eng_tensor_numel(s), 1);
    assert_string_equal(eng_tensor_shape_str(s), "[]");
    eng_tensor *e = TENSOR(ENG_F32, 0, 5);
    assert_int_equal(eng_tensor_numel(e), 0);
    assert_string_equal(eng_tensor_shape_str(e), "[0,5]");
    eng_tensor_release(s);
    eng_tensor_release(e);
}

static void test_tensor_new_rejects_negative_size(void **state)
{
    (void)state;
    eng_tensor *t = (eng_tensor *)1;
    assert_error(eng_tensor_new(ENG_F32, 3, (int64_t[]){2, -3, 4}, &t), ENG_ESHAPE, "-3",
                 "[2,-3,4]");
    assert_null(t);
}

static void test_tensor_new_rejects_too_many_dimensions(void **state)
{
    (void)state;
    eng_tensor *t;
    int64_t shape[ENG_MAX_DIMS + 1];
    for (int d = 0; d <= ENG_MAX_DIMS; d++)
        shape[d] = 1;
    assert_error(eng_tensor_new(ENG_F32, ENG_MAX_DIMS + 1, shape, &t), ENG_ESHAPE, "9");
    assert_null(t);
}

static void test_tensor_new_rejects_overflowing_size(void **state)
{
    (void)state;
    eng_tensor *t;
    assert_error(eng_tensor_new(ENG_F64, 3, (int64_t[]){1 << 30, 1 << 30, 1 << 30}, &t), ENG_ENOMEM,
                 "[1073741824,1073741824,1073741824]");
    assert_null(t);
}

static void test_dtype_names_sizes_and_parsing(void **state)
{
    (void)state;
    const struct {
        eng_dtype dtype;
        const char *name;
        size_t size;
        bool is_float;
    } cases[] = {
        {ENG_F32, "f32", 4, true},  {ENG_F64, "f64", 8, true},  {ENG_U8, "u8", 1, false},
        {ENG_I32, "i32", 4, false}, {ENG_I64, "i64", 8, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_string_equal(eng_dtype_name(cases[i].dtype), cases[i].name);
        assert_int_equal(eng_dtype_size(cases[i].dtype), cases[i].size);
        assert_int_equal(eng_dtype_is_float(cases[i].dtype), cases[i].is_float);
        eng_dtype parsed;
        assert_ok(eng_dtype_parse(cases[i].name, &parsed));
        assert_int_equal(parsed, cases[i].dtype);
    }
    eng_dtype d;
    assert_ok(eng_dtype_parse("double", &d));
    assert_int_equal(d, ENG_F64);
    assert_ok(eng_dtype_parse("float32", &d));
    assert_int_equal(d, ENG_F32);
    assert_error(eng_dtype_parse("f16", &d), ENG_EDTYPE, "'f16'");
}

static void test_status_names_and_error_wrap(void **state)
{
    (void)state;
    assert_string_equal(eng_status_to_string(ENG_OK), "ENG_OK");
    assert_string_equal(eng_status_to_string(ENG_ESHAPE), "ENG_ESHAPE");
    assert_string_equal(eng_status_to_string(ENG_ESTATE), "ENG_ESTATE");
    assert_int_equal(eng_error(ENG_EARG, "inner %d", 7), ENG_EARG);
    assert_string_equal(eng_errmsg(), "inner 7");
    assert_int_equal(eng_error_wrap(ENG_EARG, "outer %s", "x"), ENG_EARG);
    assert_string_equal(eng_errmsg(), "outer x: inner 7");
    /* a chain longer than the buffer (1024 bytes) is cut at its end and stays terminated */
    char long_inner[1100];
    memset(long_inner, 'i', sizeof long_inner - 1);
    long_inner[sizeof long_inner - 1] = '\0';
    eng_error(ENG_EARG, "%s", long_inner);
    assert_int_equal(strlen(eng_errmsg()), 1023);
    eng_error_wrap(ENG_EARG, "outer");
    assert_int_equal(strlen(eng_errmsg()), 1023);
    assert_memory_equal(eng_errmsg(), "outer: iii", 10);
    assert_int_equal(eng_errmsg()[1022], 'i');
    eng_error_clear();
    assert_string_equal(eng_errmsg(), "");
}

static void test_shape_str_keeps_eight_strings_alive(void **state)
{
    (void)state;
    const char *s[8];
    for (int i = 0; i < 8; i++)
        s[i] = eng_shape_str(1, (int64_t[]){i});
    for (int i = 0; i < 8; i++) {
        char expected[8];
        snprintf(expected, sizeof expected, "[%d]", i);
        assert_string_equal(s[i], expected);
    }
}

static void test_ensure_reuses_a_matching_tensor_and_replaces_others(void **state)
{
    (void)state;
    eng_tensor *slot = NULL;
    assert_ok(eng_tensor_ensure(&slot, ENG_F32, 2, (int64_t[]){2, 3}));
    eng_tensor *first = slot;
    ENG_F32_DATA(slot)[5] = 7.0f;
    assert_ok(eng_tensor_ensure(&slot, ENG_F32, 2, (int64_t[]){2, 3}));
    assert_ptr_equal(slot, first);
    assert_true(ENG_F32_DATA(slot)[5] == 7.0f); /* kept, not cleared */
    assert_ok(eng_tensor_ensure(&slot, ENG_F64, 2, (int64_t[]){2, 3}));
    assert_int_equal(slot->dtype, ENG_F64);
    assert_ok(eng_tensor_ensure(&slot, ENG_F64, 2, (int64_t[]){3, 2}));
    assert_int_equal(slot->shape[0], 3);
    assert_true(ENG_F64_DATA(slot)[5] == 0.0);
    eng_tensor_release(slot);
}

static void test_narrow_and_select_share_storage(void **state)
{
    (void)state;
    eng_tensor *t = TENSOR(ENG_F64, 3, 4);
    for (int i = 0; i < 12; i++)
        ENG_F64_DATA(t)[i] = i;
    eng_tensor *cols, *row;
    assert_ok(eng_tensor_narrow(t, 1, 1, 2, &cols)); /* columns 1..2 */
    assert_string_equal(eng_tensor_shape_str(cols), "[3,2]");
    assert_false(eng_tensor_is_contiguous(cols));
    const double expected_cols[6] = {1, 2, 5, 6, 9, 10};
    for (int i = 0; i < 6; i++)
        assert_true(eng_tensor_get_flat(cols, i) == expected_cols[i]);
    assert_ok(eng_tensor_select(t, 0, 2, &row)); /* row 2 */
    assert_string_equal(eng_tensor_shape_str(row), "[4]");
    assert_true(eng_tensor_is_contiguous(row));
    assert_true(eng_tensor_get(row, (int64_t[]){3}) == 11);
    /* Writes through a view land in the base tensor, and the storage outlives the base. */
    eng_tensor_set(cols, (int64_t[]){2, 1}, -1);
    assert_true(ENG_F64_DATA(t)[10] == -1);
    assert_int_equal(t->storage->refcount, 3);
    eng_tensor_release(t);
    assert_true(eng_tensor_get(row, (int64_t[]){2}) == -1);
    eng_tensor_release(cols);
    eng_tensor_release(row);
}

static void test_narrow_and_select_reject_out_of_range(void **state)
{
    (void)state;
    eng_tensor *t = TENSOR(ENG_F32, 3, 4), *v;
    assert_error(eng_tensor_narrow(t, 2, 0, 1, &v), ENG_EARG, "dimension 3", "[3,4]");
    assert_null(v);
    assert_error(eng_tensor_narrow(t, 1, 3, 2, &v), ENG_EARG, "4..5", "[3,4]");
    assert_error(eng_tensor_narrow(t, 1, -1, 1, &v), ENG_EARG, "[3,4]");
    assert_error(eng_tensor_select(t, 0, 3, &v), ENG_EARG, "index 4", "[3,4]");
    assert_error(eng_tensor_select(t, -1, 0, &v), ENG_EARG, "[3,4]");
    eng_tensor_release(t);
}

static void test_reshape_infers_one_size_and_shares_storage(void **state)
{
    (void)state;
    eng_tensor *t = TENSOR(ENG_F32, 2, 3, 4), *r;
    ENG_F32_DATA(t)[23] = 5;
    assert_ok(eng_tensor_reshape(t, 2, (int64_t[]){-1, 6}, &r));
    assert_string_equal(eng_tensor_shape_str(r), "[4,6]");
    assert_int_equal(r->strides[0], 6);
    assert_true(eng_tensor_get(r, (int64_t[]){3, 5}) == 5);
    assert_ptr_equal(r->storage, t->storage);
    eng_tensor_release(r);
    eng_tensor_release(t);
}

static void test_reshape_rejects_bad_sizes_and_non_contiguous_input(void **state)
{
    (void)state;
    eng_tensor *t = TENSOR(ENG_F32, 2, 3, 4), *r, *v;
    assert_error(eng_tensor_reshape(t, 2, (int64_t[]){5, 5}, &r), ENG_ESHAPE, "[2,3,4]", "[5,5]",
                 "24", "25");
    assert_null(r);
    assert_error(eng_tensor_reshape(t, 2, (int64_t[]){-1, 5}, &r), ENG_ESHAPE, "[2,3,4]", "[-1,5]");
    assert_error(eng_tensor_reshape(t, 2, (int64_t[]){-1, -1}, &r), ENG_ESHAPE, "only one");
    assert_error(eng_tensor_reshape(t, 2, (int64_t[]){-2, 12}, &r), ENG_ESHAPE, "negative");
    assert_ok(eng_tensor_narrow(t, 2, 0, 2, &v));
    assert_error(eng_tensor_reshape(v, 1, (int64_t[]){12}, &r), ENG_ESTATE, "[2,3,2]",
                 "contiguous");
    eng_tensor_release(v);
    eng_tensor_release(t);
}

static void test_copy_converts_dtypes_and_follows_strides(void **state)
{
    (void)state;
    eng_tensor *src = TENSOR(ENG_F64, 2, 3);
    tensor_set_values(src, (double[]){1.5, -2.25, 3, 4, 5, 255});
    eng_tensor *cols, *dst = TENSOR(ENG_F32, 2, 2);
    assert_ok(eng_tensor_narrow(src, 1, 1, 2, &cols));
    assert_ok(eng_tensor_copy(dst, cols));
    const float expected[4] = {-2.25f, 3, 5, 255};
    for (int i = 0; i < 4; i++)
        assert_true(ENG_F32_DATA(dst)[i] == expected[i]);
    /* Row 2 only: -2.25 has no u8 value (refused, see test_to_refuses_out_of_range_values). */
    eng_tensor *row2, *u8;
    assert_ok(eng_tensor_select(src, 0, 1, &row2));
    u8 = tensor_to(row2, ENG_U8);
    eng_tensor_release(row2);
    assert_int_equal(u8->dtype, ENG_U8);
    assert_int_equal(((uint8_t *)eng_tensor_data(u8))[2], 255);
    /* A copy into a strided destination writes only its elements. */
    eng_tensor *base = TENSOR(ENG_F64, 2, 3), *dcols;
    assert_ok(eng_tensor_narrow(base, 1, 0, 2, &dcols));
    assert_ok(eng_tensor_copy(dcols, dst));
    const double expected_base[6] = {-2.25, 3, 0, 5, 255, 0};
    for (int i = 0; i < 6; i++)
        assert_true(ENG_F64_DATA(base)[i] == expected_base[i]);
    eng_tensor_release(dcols);
    eng_tensor_release(base);
    eng_tensor_release(u8);
    eng_tensor_release(cols);
    eng_tensor_release(dst);
    eng_tensor_release(src);
}

static void test_copy_keeps_large_int64_values_exact(void **state)
{
    (void)state;
    eng_tensor *a = TENSOR(ENG_I64, 4), *b = TENSOR(ENG_I64, 2), *v;
    int64_t big = (INT64_C(1) << 53) + 1; /* not representable as a double */
    ((int64_t *)eng_tensor_data(a))[0] = big;
    ((int64_t *)eng_tensor_data(a))[2] = -big;
    eng_tensor *strided;
    assert_ok(eng_tensor_reshape(a, 2, (int64_t[]){2, 2}, &v));
    assert_ok(eng_tensor_narrow(v, 1, 0, 1, &strided)); /* elements 0 and 2 */
    eng_tensor *col;
    assert_ok(eng_tensor_reshape(b, 2, (int64_t[]){2, 1}, &col));
    assert_ok(eng_tensor_copy(col, strided));
    assert_true(((int64_t *)eng_tensor_data(b))[0] == big);
    assert_true(((int64_t *)eng_tensor_data(b))[1] == -big);
    eng_tensor_release(col);
    eng_tensor_release(strided);
    eng_tensor_release(v);
    eng_tensor_release(a);
    eng_tensor_release(b);
}

static void test_copy_rejects_shape_mismatch(void **state)
{
    (void)state;
    eng_tensor *a = TENSOR(ENG_F32, 2, 3), *b = TENSOR(ENG_F32, 3, 2);
    assert_error(eng_tensor_copy(a, b), ENG_ESHAPE, "[2,3]", "[3,2]");
    eng_tensor_release(a);
    eng_tensor_release(b);
}

static void test_clone_is_a_deep_contiguous_copy(void **state)
{
    (void)state;
    eng_tensor *t = TENSOR(ENG_F32, 3, 3), *v;
    for (int i = 0; i < 9; i++)
        ENG_F32_DATA(t)[i] = (float)i;
    assert_ok(eng_tensor_narrow(t, 0, 1, 2, &v));
    eng_tensor *c = tensor_clone(v);
    assert_true(eng_tensor_is_contiguous(c));
    assert_ptr_not_equal(c->storage, t->storage);
    ENG_F32_DATA(t)[3] = 100;
    assert_true(ENG_F32_DATA(c)[0] == 3.0f);
    assert_true(ENG_F32_DATA(c)[5] == 8.0f);
    eng_tensor_release(c);
    eng_tensor_release(v);
    eng_tensor_release(t);
}

static void test_fill_and_zero_touch_only_the_view(void **state)
{
    (void)state;
    eng_tensor *t = TENSOR(ENG_F64, 2, 3), *v;
    eng_tensor_fill(t, 2.5);
    assert_ok(eng_tensor_narrow(t, 1, 2, 1, &v));
    eng_tensor_zero(v);
    const double expected[6] = {2.5, 2.5, 0, 2.5, 2.5, 0};
    for (int i = 0; i < 6; i++)
        assert_true(ENG_F64_DATA(t)[i] == expected[i]);
    eng_tensor_fill(v, -1);
    assert_true(ENG_F64_DATA(t)[2] == -1 && ENG_F64_DATA(t)[5] == -1);
    assert_true(ENG_F64_DATA(t)[4] == 2.5);
    eng_tensor *f = TENSOR(ENG_F32, 3);
    eng_tensor_fill(f, 0.1);
    assert_true(ENG_F32_DATA(f)[2] == 0.1f);
    eng_tensor_zero(f);
    assert_true(ENG_F32_DATA(f)[2] == 0.0f);
    eng_tensor_release(f);
    eng_tensor_release(v);
    eng_tensor_release(t);
}

static void test_get_and_set_by_index_use_strides(void **state)
{
    (void)state;
    eng_tensor *t = TENSOR(ENG_I32, 2, 3, 4);
    eng_tensor_set(t, (int64_t[]){1, 2, 3}, 42);
    assert_int_equal(((int32_t *)eng_tensor_data(t))[1 * 12 + 2 * 4 + 3], 42);
    assert_true(eng_tensor_get(t, (int64_t[]){1, 2, 3}) == 42);
    assert_true(eng_tensor_get_flat(t, 23) == 42);
    eng_tensor_set_flat(t, 0, -7);
    assert_true(eng_tensor_get(t, (int64_t[]){0, 0, 0}) == -7);
    eng_tensor_release(t);
}

static void test_binary_ops_compute_elementwise_with_aliasing(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        eng_dtype dt = k ? ENG_F64 : ENG_F32;
        eng_tensor *a = TENSOR(dt, 2, 2), *b = TENSOR(dt, 2, 2), *c = TENSOR(dt, 2, 2);
        tensor_set_values(a, (double[]){1, 2, 3, 4});
        tensor_set_values(b, (double[]){0.5, -2, 8, 0.25});
        const double add[4] = {1.5, 0, 11, 4.25}, sub[4] = {0.5, 4, -5, 3.75},
                     mul[4] = {0.5, -4, 24, 1}, div[4] = {2, -1, 0.375, 16};
        const struct {
            eng_binary_op op;
            const double *expected;
        } ops[] = {{ENG_ADD, add}, {ENG_SUB, sub}, {ENG_MUL, mul}, {ENG_DIV, div}};
        for (int o = 0; o < 4; o++) {
            assert_ok(eng_tensor_binary(c, a, b, ops[o].op));
            for (int i = 0; i < 4; i++)
                assert_true(eng_tensor_get_flat(c, i) == ops[o].expected[i]);
        }
        assert_ok(eng_tensor_binary(a, a, b, ENG_MUL)); /* dst aliases a */
        for (int i = 0; i < 4; i++)
            assert_true(eng_tensor_get_flat(a, i) == mul[i]);
        assert_ok(eng_tensor_binary_scalar(c, b, 2, ENG_MUL));
        assert_true(eng_tensor_get_flat(c, 2) == 16);
        assert_ok(eng_tensor_binary_scalar(c, c, 1, ENG_SUB));
        assert_true(eng_tensor_get_flat(c, 2) == 15);
        assert_true(eng_tensor_sum(b) == 6.75);
        eng_tensor_release(a);
        eng_tensor_release(b);
        eng_tensor_release(c);
    }
}

static void test_binary_ops_reject_mismatches(void **state)
{
    (void)state;
    eng_tensor *a = TENSOR(ENG_F32, 2, 3), *b = TENSOR(ENG_F32, 3, 2), *d = TENSOR(ENG_F64, 2, 3),
               *u = TENSOR(ENG_U8, 2, 3);
    assert_error(eng_tensor_binary(a, a, b, ENG_ADD), ENG_ESHAPE, "[2,3]", "[3,2]");
    assert_error(eng_tensor_binary(a, a, d, ENG_ADD), ENG_EDTYPE, "f32", "f64");
    assert_error(eng_tensor_binary(u, u, u, ENG_ADD), ENG_EDTYPE, "u8", "[2,3]");
    assert_error(eng_tensor_binary_scalar(b, a, 1, ENG_ADD), ENG_ESHAPE, "[2,3]", "[3,2]");
    assert_error(eng_tensor_binary_scalar(u, u, 1, ENG_ADD), ENG_EDTYPE, "u8");
    eng_tensor_release(a);
    eng_tensor_release(b);
    eng_tensor_release(d);
    eng_tensor_release(u);
}

static void test_sum_accumulates_f32_in_double(void **state)
{
    (void)state;
    /* 2^24 + 1 + 1 + ... : in float every +1 would be lost. */
    eng_tensor *t = TENSOR(ENG_F32, 101);
    eng_tensor_fill(t, 1);
    ENG_F32_DATA(t)[0] = 16777216.0f;
    assert_true(eng_tensor_sum(t) == 16777316.0);
    eng_tensor_release(t);
}

static void test_fans_follow_pytorch(void **state)
{
    (void)state;
    int64_t fan_in, fan_out;
    eng_tensor *conv = TENSOR(ENG_F32, 16, 3, 5, 4), *lin = TENSOR(ENG_F32, 10, 128);
    eng_tensor_fans(conv, &fan_in, &fan_out);
    assert_int_equal(fan_in, 3 * 20);
    assert_int_equal(fan_out, 16 * 20);
    eng_tensor_fans(lin, &fan_in, &fan_out);
    assert_int_equal(fan_in, 128);
    assert_int_equal(fan_out, 10);
    eng_tensor_release(conv);
    eng_tensor_release(lin);
}

static void test_initialisers_are_seeded_and_within_bounds(void **state)
{
    (void)state;
    eng_rng r1, r2;
    eng_rng_seed(&r1, 5);
    eng_rng_seed(&r2, 5);
    eng_tensor *a = TENSOR(ENG_F64, 64, 100), *b = TENSOR(ENG_F64, 64, 100);
    assert_ok(eng_tensor_kaiming_uniform(a, &r1));
    assert_ok(eng_tensor_kaiming_uniform(b, &r2));
    assert_true(max_abs_diff(a, b) == 0);
    double bound = 1.0 / sqrt(100.0), lo = 1, hi = -1;
    for (int i = 0; i < 6400; i++) {
        double v = ENG_F64_DATA(a)[i];
        lo = fmin(lo, v);
        hi = fmax(hi, v);
    }
    assert_true(lo >= -bound && hi < bound);
    assert_true(lo < -0.95 * bound && hi > 0.95 * bound); /* fills the range */

    assert_ok(eng_tensor_xavier_uniform(a, &r1));
    double xb = sqrt(6.0 / (100 + 64));
    assert_true(max_abs(a) <= xb && max_abs(a) > 0.95 * xb);

    /* Moments of normal and kaiming_normal: 6400 draws, within 5 standard errors. */
    assert_ok(eng_tensor_normal(a, &r1, 1.0, 2.0));
    double mean = eng_tensor_sum(a) / 6400, var = 0;
    for (int i = 0; i < 6400; i++)
        var += (ENG_F64_DATA(a)[i] - mean) * (ENG_F64_DATA(a)[i] - mean) / 6399;
    assert_true(fabs(mean - 1.0) < 5 * 2.0 / 80);
    assert_true(fabs(var - 4.0) < 5 * 4.0 * sqrt(2.0 / 6399));
    assert_ok(eng_tensor_kaiming_normal(a, &r1));
    var = 0;
    for (int i = 0; i < 6400; i++)
        var += ENG_F64_DATA(a)[i] * ENG_F64_DATA(a)[i] / 6400;
    assert_true(fabs(var - 2.0 / 100) < 5 * (2.0 / 100) * sqrt(2.0 / 6400));
    eng_tensor_release(a);
    eng_tensor_release(b);
}

static void test_initialisers_reject_integer_tensors(void **state)
{
    (void)state;
    eng_tensor *t = TENSOR(ENG_I64, 4, 4);
    assert_error(eng_tensor_uniform(t, NULL, 0, 1), ENG_EDTYPE, "i64", "[4,4]");
    assert_error(eng_tensor_normal(t, NULL, 0, 1), ENG_EDTYPE, "i64");
    assert_error(eng_tensor_kaiming_uniform(t, NULL), ENG_EDTYPE, "i64");
    eng_tensor_release(t);
}

static void test_rng_is_reproducible_and_uniform_in_unit_interval(void **state)
{
    (void)state;
    eng_rng a, b;
    eng_rng_seed(&a, 123);
    eng_rng_seed(&b, 123);
    for (int i = 0; i < 100; i++)
        assert_true(eng_rng_next(&a) == eng_rng_next(&b));
    eng_rng_seed(&b, 124);
    assert_true(eng_rng_next(&a) != eng_rng_next(&b));
    /* Below(n) hits every value of a small range about equally (chi-square, 9 dof). */
    int counts[10] = {0};
    for (int i = 0; i < 10000; i++) {
        uint64_t k = eng_rng_below(&a, 10);
        assert_true(k < 10);
        counts[k]++;
    }
    double chi2 = 0;
    for (int k = 0; k < 10; k++)
        chi2 += (counts[k] - 1000.0) * (counts[k] - 1000.0) / 1000.0;
    assert_true(chi2 < 35); /* p < 1e-4 for 9 degrees of freedom */
    for (int i = 0; i < 1000; i++) {
        double u = eng_rng_uniform(&a);
        assert_true(u >= 0 && u < 1);
    }
}

/* Issue 13: start + length overflowed for start near INT64_MAX and the check passed, giving a
 * view outside the storage. */
static void test_narrow_refuses_start_near_int64_max(void **state)
{
    (void)state;
    eng_tensor *t = TENSOR(ENG_F32, 4), *v;
    assert_error(eng_tensor_narrow(t, 0, INT64_MAX - 1, 2, &v), ENG_EARG, "out of range", "[4]");
    assert_null(v);
    assert_error(eng_tensor_narrow(t, 0, 2, INT64_MAX, &v), ENG_EARG, "out of range");
    assert_error(eng_tensor_narrow(t, 0, 5, 0, &v), ENG_EARG, "out of range");
    assert_ok(eng_tensor_narrow(t, 0, 4, 0, &v)); /* an empty view at the end is valid */
    assert_int_equal(v->shape[0], 0);
    eng_tensor_release(v);
    eng_tensor_release(t);
}

/* Issue 13: the product of the sizes wrapped: [2^62+1,4] passed as 4 elements, and a view
 * [2^62,2^62,0] of an empty tensor made every walk over it endless. */
static void test_reshape_refuses_overflowing_sizes(void **state)
{
    (void)state;
    eng_tensor *t = TENSOR(ENG_F32, 4), *e = TENSOR(ENG_F32, 0), *v;
    const int64_t big = (int64_t)1 << 62;
    assert_error(eng_tensor_reshape(t, 2, (int64_t[]){big + 1, 4}, &v), ENG_ESHAPE, "overflow");
    assert_null(v);
    assert_error(eng_tensor_reshape(e, 3, (int64_t[]){big, big, 0}, &v), ENG_ESHAPE, "overflow");
    assert_error(eng_tensor_reshape(t, 2, (int64_t[]){big, -1}, &v), ENG_ESHAPE, "[4]");
    assert_error(eng_tensor_reshaped(t, 2, (int64_t[]){big + 1, 4}, &v), ENG_ESHAPE, "overflow");
    eng_tensor_release(e);
    eng_tensor_release(t);
}

/* Issue 13: 1e40 became INT_MIN in i32 and NaN -2^63 in i64; now refused with the value and
 * the dtype, before anything is written. */
static void test_to_refuses_out_of_range_values(void **state)
{
    (void)state;
    eng_tensor *t = TENSOR(ENG_F64, 3), *out;
    tensor_set_values(t, (double[]){1, 1e40, 2});
    assert_error(eng_tensor_to(t, ENG_I32, &out), ENG_EARG, "1e+40", "i32");
    assert_null(out);
    tensor_set_values(t, (double[]){1, 2, NAN});
    assert_error(eng_tensor_to(t, ENG_I64, &out), ENG_EARG, "nan", "i64", "element 3");
    tensor_set_values(t, (double[]){-2.25, 0, 0});
    assert_error(eng_tensor_to(t, ENG_U8, &out), ENG_EARG, "-2.25", "u8");
    tensor_set_values(t, (double[]){2147483647.9, -2147483648.9, 255.9});
    eng_tensor *i32 = tensor_to(t, ENG_I32); /* truncation toward zero stays in range */
    assert_int_equal(((int32_t *)eng_tensor_data(i32))[0], INT32_MAX);
    assert_int_equal(((int32_t *)eng_tensor_data(i32))[1], INT32_MIN);
    eng_tensor *i64 = TENSOR(ENG_I64, 2), *dst = TENSOR(ENG_I32, 2);
    ((int64_t *)eng_tensor_data(i64))[1] = (int64_t)1 << 40;
    assert_error(eng_tensor_copy(dst, i64), ENG_EARG, "1099511627776", "i32");
    assert_int_equal(((int32_t *)eng_tensor_data(dst))[0], 0);
    eng_tensor_release(dst);
    eng_tensor_release(i64);
    eng_tensor_release(i32);
    eng_tensor_release(t);
}

/* PyTorch's view rule: a transposed matrix viewed back, a narrowed block refused. */
static void test_reshape_views_compatible_strides_and_reshaped_copies(void **state)
{
    (void)state;
    eng_tensor *t = TENSOR(ENG_F64, 2, 3, 4), *cols, *v, *c;
    for (int i = 0; i < 24; i++)
        ENG_F64_DATA(t)[i] = i;
    assert_ok(eng_tensor_narrow(t, 2, 0, 2, &cols));                  /* [2,3,2], strides 12,4,1 */
    assert_ok(eng_tensor_reshape(cols, 3, (int64_t[]){2, 3, 2}, &v)); /* same shape: a view */
    eng_tensor_release(v);
    assert_ok(eng_tensor_reshape(cols, 2, (int64_t[]){6, 2}, &v)); /* dims 1,2 merge */
    assert_int_equal(v->strides[0], 4);
    assert_true(eng_tensor_get(v, (int64_t[]){5, 1}) == 21);
    eng_tensor_release(v);
    assert_error(eng_tensor_reshape(cols, 1, (int64_t[]){12}, &v), ENG_ESTATE, "[2,3,2]");
    assert_ok(eng_tensor_reshaped(cols, 1, (int64_t[]){12}, &c));
    assert_true(c->storage != t->storage && eng_tensor_is_contiguous(c));
    const double expected[12] = {0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21};
    for (int i = 0; i < 12; i++)
        assert_true(ENG_F64_DATA(c)[i] == expected[i]);
    eng_tensor_release(c);
    eng_tensor_release(cols);
    eng_tensor_release(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tensor_new_is_zero_contiguous_and_row_major),
        cmocka_unit_test(test_tensor_scalar_and_empty_shapes_are_valid),
        cmocka_unit_test(test_tensor_new_rejects_negative_size),
        cmocka_unit_test(test_tensor_new_rejects_too_many_dimensions),
        cmocka_unit_test(test_tensor_new_rejects_overflowing_size),
        cmocka_unit_test(test_dtype_names_sizes_and_parsing),
        cmocka_unit_test(test_status_names_and_error_wrap),
        cmocka_unit_test(test_shape_str_keeps_eight_strings_alive),
        cmocka_unit_test(test_ensure_reuses_a_matching_tensor_and_replaces_others),
        cmocka_unit_test(test_narrow_and_select_share_storage),
        cmocka_unit_test(test_narrow_and_select_reject_out_of_range),
        cmocka_unit_test(test_reshape_infers_one_size_and_shares_storage),
        cmocka_unit_test(test_reshape_rejects_bad_sizes_and_non_contiguous_input),
        cmocka_unit_test(test_copy_converts_dtypes_and_follows_strides),
        cmocka_unit_test(test_narrow_refuses_start_near_int64_max),
        cmocka_unit_test(test_reshape_refuses_overflowing_sizes),
        cmocka_unit_test(test_to_refuses_out_of_range_values),
        cmocka_unit_test(test_reshape_views_compatible_strides_and_reshaped_copies),
        cmocka_unit_test(test_copy_keeps_large_int64_values_exact),
        cmocka_unit_test(test_copy_rejects_shape_mismatch),
        cmocka_unit_test(test_clone_is_a_deep_contiguous_copy),
        cmocka_unit_test(test_fill_and_zero_touch_only_the_view),
        cmocka_unit_test(test_get_and_set_by_index_use_strides),
        cmocka_unit_test(test_binary_ops_compute_elementwise_with_aliasing),
        cmocka_unit_test(test_binary_ops_reject_mismatches),
        cmocka_unit_test(test_sum_accumulates_f32_in_double),
        cmocka_unit_test(test_fans_follow_pytorch),
        cmocka_unit_test(test_initialisers_are_seeded_and_within_bounds),
        cmocka_unit_test(test_initialisers_reject_integer_tensors),
        cmocka_unit_test(test_rng_is_reproducible_and_uniform_in_unit_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
