/* Equivalence with PyTorch on the seed CNN:
 *   Conv2d(1,16,5,padding=2) -> ReLU -> MaxPool2d(2) -> Flatten -> Linear(3136,128) -> ReLU
 *   -> Linear(128,10) -> CrossEntropyLoss (mean)
 * on one batch of 8 images [8,1,28,28] (tests/fixtures/make_fixtures.py, seed_cnn()). The
 * loss and every parameter gradient must agree with PyTorch to 1e-10 in f64 and 1e-4 in f32,
 * relative error = max|a - b| / max|b| per tensor (|a - b| / |b| for the loss). */
#include "support.h"

typedef struct seed_param {
    const char *name; /* PyTorch's name in the fixture */
    int layer;        /* index in the sequential model */
    const char *param;
    uint64_t stream; /* counter-based generator stream (make_fixtures.py) */
    int64_t fan_in;
} seed_param;

/* clang-format off */
static const seed_param params[6] = {
    {"conv1.weight", 0, "weight", 1, 25},  {"conv1.bias", 0, "bias", 2, 25},
    {"fc1.weight", 4, "weight", 3, 3136},  {"fc1.bias", 4, "bias", 4, 3136},
    {"fc2.weight", 6, "weight", 5, 128},   {"fc2.bias", 6, "bias", 6, 128},
};
/* clang-format on */

static eng_model *seed_cnn(eng_dtype dtype)
{
    eng_model *m;
    assert_ok(eng_model_new(&m));
    eng_layer *l[7];
    eng_conv2d_options o = {.padding_h = 2, .padding_w = 2};
    assert_ok(eng_conv2d_new(1, 16, 5, 5, &o, dtype, NULL, &l[0]));
    assert_ok(eng_relu_new(&l[1]));
    assert_ok(eng_maxpool2d_new(2, 2, 0, 0, 0, 0, &l[2]));
    assert_ok(eng_flatten_new(&l[3]));
    assert_ok(eng_linear_new(16 * 14 * 14, 128, true, dtype, NULL, &l[4]));
    assert_ok(eng_relu_new(&l[5]));
    assert_ok(eng_linear_new(128, 10, true, dtype, NULL, &l[6]));
    for (int i = 0; i < 7; i++) {
        assert_ok(eng_model_add(m, l[i]));
        eng_layer_release(l[i]);
    }
    /* The same parameters as PyTorch: generated in f64, rounded to the model's dtype. */
    for (int i = 0; i < 6; i++) {
        eng_param *p = eng_layer_param(m->layers[params[i].layer], params[i].param);
        assert_non_null(p);
        eng_tensor *v = tensor_new(ENG_F64, p->value->ndim, p->value->shape);
        support_param_uniform(v, params[i].stream, params[i].fan_in);
        assert_ok(eng_tensor_copy(p->value, v));
        eng_tensor_release(v);
    }
    return m;
}

static void test_seed_cnn_parameters_are_pytorchs(void **state)
{
    (void)state;
    fixture *fx = fixture_load("seed_cnn_f64.bin");
    eng_model *m = seed_cnn(ENG_F64);
    for (int i = 0; i < 6; i++) {
        if (strcmp(params[i].name, "fc1.weight") == 0)
            continue; /* not stored (3.2 MB); the same generator as the others */
        eng_param *p = eng_layer_param(m->layers[params[i].layer], params[i].param);
        const eng_tensor *expected = fixture_get(fx, params[i].name);
        assert_true(eng_tensor_same_shape(p->value, expected));
        if (max_abs_diff(p->value, expected) != 0)
            print_message("%s differs from the fixture: the generators disagree\n", params[i].name);
        assert_true(max_abs_diff(p->value, expected) == 0);
    }
    eng_model_release(m);
    fixture_free(fx);
}

/* fc1.weight.grad = g^T @ a, g [8,128], a [8,3136], in long double. */
static eng_tensor *fc1_weight_grad(const eng_tensor *g, const eng_tensor *a)
{
    int64_t n = g->shape[0], out = g->shape[1], in = a->shape[1];
    eng_tensor *w = TENSOR(ENG_F64, out, in);
    for (int64_t o = 0; o < out; o++)
        for (int64_t i = 0; i < in; i++) {
            long double acc = 0;
            for (int64_t k = 0; k < n; k++)
                acc += (long double)eng_tensor_get_flat(g, k * out + o) *
                       eng_tensor_get_flat(a, k * in + i);
            ENG_F64_DATA(w)[o * in + i] = (double)acc;
        }
    return w;
}

static void check_against_pytorch(eng_dtype dtype, const char *fixture_name, double tol)
{
    fixture *fx = fixture_load(fixture_name);
    fixture *fx64 = fixture_load("seed_cnn_f64.bin"); /* holds fc1's input a (see the script) */
    eng_model *m = seed_cnn(dtype);
    eng_loss *ce;
    assert_ok(eng_cross_entropy_new(&ce));
    const eng_tensor *x = fixture_get(fx, "x"), *labels = fixture_get(fx, "labels");
    assert_int_equal(x->dtype, dtype);
    assert_string_equal(eng_tensor_shape_str(x), "[8,1,28,28]");

    eng_model_zero_grad(m);
    const eng_tensor *logits;
    assert_ok(eng_model_forward(m, x, &logits));
    double loss;
    assert_ok(eng_loss_forward(ce, logits, labels, &loss));
    eng_tensor *dlogits = tensor_new(dtype, logits->ndim, logits->shape);
    assert_ok(eng_loss_backward(ce, logits, labels, dlogits));
    assert_ok(eng_model_backward(m, dlogits, NULL));

    double expected_loss = eng_tensor_get_flat(fixture_get(fx, "loss"), 0);
    double loss_err = fabs(loss - expected_loss) / fabs(expected_loss);
    print_message("%s: loss %.17g, PyTorch %.17g, relative error %.2e\n", eng_dtype_name(dtype),
                  loss, expected_loss, loss_err);
    assert_true(loss_err <= tol);

    for (int i = 0; i < 6; i++) {
        eng_param *p = eng_layer_param(m->layers[params[i].layer], params[i].param);
        char key[64];
        eng_tensor *expected;
        if (strcmp(params[i].name, "fc1.weight") == 0)
            expected = fc1_weight_grad(fixture_get(fx, "fc1.weight.grad.g"),
                                       fixture_get(fx64, "fc1.weight.grad.a"));
        else {
            snprintf(key, sizeof key, "%s.grad", params[i].name);
            expected = tensor_clone(fixture_get(fx, key));
        }
        char what[96];
        snprintf(what, sizeof what, "%s %s.grad", eng_dtype_name(dtype), params[i].name);
        double err = rel_error(p->grad, expected);
        print_message("%s: relative error %.2e (max |grad| %.3g)\n", what, err, max_abs(expected));
        assert_tensor_close(p->grad, expected, tol, what);
        eng_tensor_release(expected);
    }
    eng_tensor_release(dlogits);
    eng_loss_release(ce);
    eng_model_release(m);
    fixture_free(fx64);
    fixture_free(fx);
}

static void test_seed_cnn_loss_and_gradients_match_pytorch_in_f64(void **state)
{
    (void)state;
    check_against_pytorch(ENG_F64, "seed_cnn_f64.bin", 1e-10);
}

static void test_seed_cnn_loss_and_gradients_match_pytorch_in_f32(void **state)
{
    (void)state;
    check_against_pytorch(ENG_F32, "seed_cnn_f32.bin", 1e-4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_cnn_parameters_are_pytorchs),
        cmocka_unit_test(test_seed_cnn_loss_and_gradients_match_pytorch_in_f64),
        cmocka_unit_test(test_seed_cnn_loss_and_gradients_match_pytorch_in_f32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
