/* The layer interface shared by every kind (engine/layers/layer.c): names, parameter lookup,
 * reference counts, the checked forward/backward entry points, copy_params, clone and
 * describe for every built-in kind. */
#include "support.h"

static void test_layer_label_is_the_kind_until_named(void **state)
{
    (void)state;
    eng_layer *l;
    assert_ok(eng_relu_new(&l));
    assert_string_equal(eng_layer_label(l), "relu");
    assert_ok(eng_layer_set_name(l, "act1"));
    assert_string_equal(eng_layer_label(l), "act1");
    assert_string_equal(l->name, "act1");
    eng_layer_release(l);
}

static void test_layer_set_name_rejects_bad_names(void **state)
{
    (void)state;
    eng_layer *l;
    assert_ok(eng_tanh_new(&l));
    char long_name[ENG_NAME_MAX + 1];
    memset(long_name, 'a', ENG_NAME_MAX);
    long_name[ENG_NAME_MAX] = '\0';
    assert_error(eng_layer_set_name(l, ""), ENG_EARG, "1 to 63");
    assert_error(eng_layer_set_name(l, long_name), ENG_EARG, "1 to 63");
    assert_error(eng_layer_set_name(l, "conv.1"), ENG_EARG, "'conv.1'", "'.'");
    assert_error(eng_layer_set_name(l, "a/b"), ENG_EARG, "'a/b'");
    assert_error(eng_layer_set_name(l, "tab\there"), ENG_EARG, "control");
    assert_string_equal(l->name, ""); /* unchanged */
    eng_layer_release(l);
}

static void test_layer_param_lookup_and_refcount(void **state)
{
    (void)state;
    eng_layer *l;
    assert_ok(eng_linear_new(3, 2, true, ENG_F32, NULL, &l));
    assert_ptr_equal(eng_layer_param(l, "weight"), &l->params[0]);
    assert_ptr_equal(eng_layer_param(l, "bias"), &l->params[1]);
    assert_null(eng_layer_param(l, "gamma"));
    assert_int_equal(l->params[1].grad->dtype, ENG_F32);
    assert_true(eng_tensor_same_shape(l->params[0].grad, l->params[0].value));
    eng_layer_retain(l);
    assert_int_equal(l->refcount, 2);
    eng_layer_release(l);
    assert_int_equal(l->refcount, 1);
    eng_layer_release(l);
    eng_layer_release(NULL);
}

static void test_layer_forward_rejects_non_contiguous_tensors(void **state)
{
    (void)state;
    eng_layer *l;
    assert_ok(eng_relu_new(&l));
    eng_tensor *base = TENSOR(ENG_F64, 4, 6), *x, *y = TENSOR(ENG_F64, 4, 3);
    assert_ok(eng_tensor_narrow(base, 1, 0, 3, &x));
    assert_error(eng_layer_forward(l, x, y, false), ENG_ESTATE, "relu", "contiguous");
    eng_tensor_release(x);
    eng_tensor_release(base);
    eng_tensor_release(y);
    eng_layer_release(l);
}

static void test_layer_backward_rejects_dx_of_another_shape_or_dtype(void **state)
{
    (void)state;
    eng_layer *l;
    assert_ok(eng_sigmoid_new(&l));
    eng_tensor *x = TENSOR(ENG_F32, 2, 3), *y = TENSOR(ENG_F32, 2, 3);
    eng_tensor *dx_shape = TENSOR(ENG_F32, 3, 2), *dx_dtype = TENSOR(ENG_F64, 2, 3);
    assert_ok(eng_layer_forward(l, x, y, false));
    assert_error(eng_layer_backward(l, x, y, y, dx_shape), ENG_ESHAPE, "dx", "[3,2]", "[2,3]");
    assert_error(eng_layer_backward(l, x, y, y, dx_dtype), ENG_EDTYPE, "dx", "f64", "f32");
    assert_error(eng_layer_backward(l, x, y, dx_dtype, NULL), ENG_EDTYPE, "dy", "f64");
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_tensor_release(dx_shape);
    eng_tensor_release(dx_dtype);
    eng_layer_release(l);
}

static void test_layer_copy_params_converts_and_checks_kinds_and_shapes(void **state)
{
    (void)state;
    eng_layer *a, *b, *c, *r;
    assert_ok(eng_linear_new(4, 3, true, ENG_F32, NULL, &a));
    assert_ok(eng_linear_new(4, 3, true, ENG_F64, NULL, &b));
    assert_ok(eng_linear_new(5, 3, true, ENG_F64, NULL, &c));
    assert_ok(eng_relu_new(&r));
    assert_ok(eng_layer_copy_params(b, a));
    assert_true(max_abs_diff(b->params[0].value, a->params[0].value) == 0);
    assert_true(max_abs_diff(b->params[1].value, a->params[1].value) == 0);
    assert_error(eng_layer_copy_params(c, a), ENG_ESHAPE, "weight", "[3,5]", "[3,4]");
    assert_error(eng_layer_copy_params(r, a), ENG_EARG, "linear", "relu");
    eng_layer_release(a);
    eng_layer_release(b);
    eng_layer_release(c);
    eng_layer_release(r);
}

static eng_layer *every_kind(int k)
{
    eng_layer *l = NULL;
    eng_conv2d_options o = {.stride_h = 2, .padding_w = 1, .dilation_h = 2, .no_bias = true};
    switch (k) {
    case 0: assert_ok(eng_conv2d_new(2, 3, 3, 2, &o, ENG_F32, NULL, &l)); break;
    case 1: assert_ok(eng_linear_new(4, 5, true, ENG_F32, NULL, &l)); break;
    case 2: assert_ok(eng_maxpool2d_new(3, 2, 0, 1, 1, 0, &l)); break;
    case 3: assert_ok(eng_avgpool2d_new(2, 2, 0, 0, 0, 0, &l)); break;
    case 4: assert_ok(eng_relu_new(&l)); break;
    case 5: assert_ok(eng_leaky_relu_new(0.01, &l)); break;
    case 6: assert_ok(eng_tanh_new(&l)); break;
    case 7: assert_ok(eng_sigmoid_new(&l)); break;
    case 8: assert_ok(eng_flatten_new(&l)); break;
    case 9: assert_ok(eng_dropout_new(0.25, NULL, &l)); break;
    }
    return l;
}

static const char *const descriptions[10] = {
    "{\"kind\":\"conv2d\",\"in_channels\":2,\"out_channels\":3,\"kernel_size\":[3,2],"
    "\"stride\":[2,1],\"padding\":[0,1],\"dilation\":[2,1],\"groups\":1,\"bias\":false}",
    "{\"kind\":\"linear\",\"in_features\":4,\"out_features\":5,\"bias\":true}",
    "{\"kind\":\"maxpool2d\",\"kernel_size\":[3,2],\"stride\":[3,1],\"padding\":[1,0]}",
    "{\"kind\":\"avgpool2d\",\"kernel_size\":[2,2],\"stride\":[2,2],\"padding\":[0,0]}",
    "{\"kind\":\"relu\"}",
    "{\"kind\":\"leaky_relu\",\"negative_slope\":0.01}",
    "{\"kind\":\"tanh\"}",
    "{\"kind\":\"sigmoid\"}",
    "{\"kind\":\"flatten\"}",
    "{\"kind\":\"dropout\",\"p\":0.25}",
};

static void test_every_kind_describes_its_configuration(void **state)
{
    (void)state;
    for (int k = 0; k < 10; k++) {
        eng_layer *l = every_kind(k);
        char *config;
        assert_ok(eng_layer_config(l, &config));
        assert_string_equal(config, descriptions[k]);
        free(config);
        eng_layer_release(l);
    }
}

static void test_every_kind_clones_its_configuration_and_converts_parameters(void **state)
{
    (void)state;
    for (int k = 0; k < 10; k++) {
        eng_layer *l = every_kind(k), *c;
        for (int i = 0; i < l->nparams; i++)
            tensor_randn(l->params[i].value, (uint64_t)(k * 10 + i), 1.0);
        assert_ok(l->ops->clone(l, ENG_F64, &c));
        assert_ptr_equal(c->ops, l->ops);
        char *a, *b;
        assert_ok(eng_layer_config(l, &a));
        assert_ok(eng_layer_config(c, &b));
        assert_string_equal(a, b);
        free(a);
        free(b);
        assert_int_equal(c->nparams, l->nparams);
        for (int i = 0; i < l->nparams; i++) {
            assert_int_equal(c->dtype, ENG_F64);
            assert_int_equal(c->params[i].value->dtype, ENG_F64);
            assert_int_equal(c->params[i].grad->dtype, ENG_F64);
            assert_string_equal(c->params[i].name, l->params[i].name);
            /* f32 -> f64 is exact; the copy does not share storage */
            assert_true(max_abs_diff(c->params[i].value, l->params[i].value) == 0);
            assert_ptr_not_equal(c->params[i].value->storage, l->params[i].value->storage);
            assert_true(max_abs(c->params[i].grad) == 0);
        }
        eng_layer_release(c);
        eng_layer_release(l);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layer_label_is_the_kind_until_named),
        cmocka_unit_test(test_layer_set_name_rejects_bad_names),
        cmocka_unit_test(test_layer_param_lookup_and_refcount),
        cmocka_unit_test(test_layer_forward_rejects_non_contiguous_tensors),
        cmocka_unit_test(test_layer_backward_rejects_dx_of_another_shape_or_dtype),
        cmocka_unit_test(test_layer_copy_params_converts_and_checks_kinds_and_shapes),
        cmocka_unit_test(test_every_kind_describes_its_configuration),
        cmocka_unit_test(test_every_kind_clones_its_configuration_and_converts_parameters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
