/* conv2d with groups (depthwise included) and dilation: PyTorch fixtures in f32 and f64, the
 * checker in f64 (which also tests forward_delta against a full forward), the grouped path
 * against a sum of ungrouped convolutions (a second method), and the error paths. */
#include "support.h"

#include "registry.h"

static const char *const fixtures[] = {"layer_conv2d_groups2.bin", "layer_conv2d_depthwise.bin",
                                       "layer_conv2d_depthwise_mult.bin",
                                       "layer_conv2d_dilated.bin"};

/* config: in, out, kh, kw, stride_h, stride_w, padding_h, padding_w, dilation_h, dilation_w,
 * bias, groups (make_layer_fixtures.py). */
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
        .groups = fixture_config(fx, 11),
    };
    eng_layer *l;
    assert_ok(eng_conv2d_new(fixture_config(fx, 0), fixture_config(fx, 1), fixture_config(fx, 2),
                             fixture_config(fx, 3), &o, dtype, NULL, &l));
    return l;
}

static void test_grouped_conv2d_matches_pytorch_in_f32_and_f64(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        fixture *fx = fixture_load(fixtures[i]);
        for (int k = 0; k < 2; k++) {
            eng_dtype dt = k ? ENG_F64 : ENG_F32;
            eng_layer *l = conv_from_fixture(fx, dt);
            check_layer_against_fixture(l, fx, dt, k ? 1e-12 : 1e-5);
            if (k)
                assert_checker_passes_layer(l, fixture_get(fx, "x"), true);
            eng_layer_release(l);
        }
        fixture_free(fx);
    }
}

/* groups = 2 equals two ungrouped convolutions on the two halves of the channels. */
static void test_grouped_conv2d_equals_its_groups_run_apart(void **state)
{
    (void)state;
    eng_conv2d_options og = {.padding_h = 1, .padding_w = 1, .groups = 2};
    eng_conv2d_options o1 = {.padding_h = 1, .padding_w = 1};
    eng_layer *g, *a, *b;
    assert_ok(eng_conv2d_new(4, 6, 3, 3, &og, ENG_F64, NULL, &g));
    assert_ok(eng_conv2d_new(2, 3, 3, 3, &o1, ENG_F64, NULL, &a));
    assert_ok(eng_conv2d_new(2, 3, 3, 3, &o1, ENG_F64, NULL, &b));
    /* weight [6,2,3,3]: rows 0..2 are a's, 3..5 b's; bias likewise */
    int64_t wn = 3 * 2 * 9;
    for (int64_t i = 0; i < wn; i++) {
        eng_tensor_set_flat(a->params[0].value, i, eng_tensor_get_flat(g->params[0].value, i));
        eng_tensor_set_flat(b->params[0].value, i, eng_tensor_get_flat(g->params[0].value, wn + i));
    }
    for (int i = 0; i < 3; i++) {
        eng_tensor_set_flat(a->params[1].value, i, eng_tensor_get_flat(g->params[1].value, i));
        eng_tensor_set_flat(b->params[1].value, i, eng_tensor_get_flat(g->params[1].value, 3 + i));
    }
    eng_tensor *x = tensor_new(ENG_F64, 4, (int64_t[]){2, 4, 5, 5});
    tensor_randn(x, 8, 1.0);
    eng_tensor *y = tensor_new(ENG_F64, 4, (int64_t[]){2, 6, 5, 5});
    assert_ok(eng_layer_forward(g, x, y, true));
    for (int n = 0; n < 2; n++)
        for (int half = 0; half < 2; half++) {
            eng_tensor *xn, *xh, *xc;
            assert_ok(eng_tensor_narrow(x, 0, n, 1, &xn));
            assert_ok(eng_tensor_narrow(xn, 1, 2 * half, 2, &xh));
            assert_ok(eng_tensor_clone(xh, &xc));
            eng_tensor *yh = tensor_new(ENG_F64, 4, (int64_t[]){1, 3, 5, 5});
            assert_ok(eng_layer_forward(half ? b : a, xc, yh, true));
            for (int64_t i = 0; i < 75; i++) {
                double want = eng_tensor_get_flat(yh, i);
                double got = eng_tensor_get_flat(y, n * 150 + half * 75 + i);
                assert_double_close(got, want, 1e-13);
            }
            eng_tensor_release(xn);
            eng_tensor_release(xh);
            eng_tensor_release(xc);
            eng_tensor_release(yh);
        }
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_layer_release(g);
    eng_layer_release(a);
    eng_layer_release(b);
}

static void test_grouped_conv2d_settings_and_errors(void **state)
{
    (void)state;
    eng_layer *l;
    eng_conv2d_options o = {.groups = 3};
    assert_error(eng_conv2d_new(4, 6, 3, 3, &o, ENG_F32, NULL, &l), ENG_EARG,
                 "groups (3) must divide in_channels (4) and out_channels (6)");
    o.groups = 3;
    assert_ok(eng_conv2d_new(3, 6, 3, 3, &o, ENG_F32, NULL, &l));
    assert_int_equal(l->params[0].value->shape[1], 1); /* [out, in/groups, kh, kw] */
    char buf[160];
    eng_layer_repr(l, buf, sizeof buf);
    assert_non_null(strstr(buf, "groups=3"));
    eng_layer_release(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grouped_conv2d_matches_pytorch_in_f32_and_f64),
        cmocka_unit_test(test_grouped_conv2d_equals_its_groups_run_apart),
        cmocka_unit_test(test_grouped_conv2d_settings_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
