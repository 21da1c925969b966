/* Losses: softmax cross-entropy and MSE against PyTorch fixtures in f32 and f64, by hand,
 * against float64 finite differences, and every error path. */
#include "support.h"

static eng_loss *make(const char *kind)
{
    eng_loss *l = NULL;
    if (strcmp(kind, "cross_entropy") == 0)
        assert_ok(eng_cross_entropy_new(&l));
    else
        assert_ok(eng_mse_new(&l));
    assert_string_equal(l->ops->kind, kind);
    return l;
}

static void check_fixture(const char *name, const char *kind)
{
    fixture *fx = fixture_load(name);
    for (int k = 0; k < 2; k++) {
        eng_dtype dt = k ? ENG_F64 : ENG_F32;
        double tol = k ? 1e-14 : 1e-6;
        eng_loss *l = make(kind);
        eng_tensor *input = tensor_to(fixture_get(fx, "input"), dt);
        const eng_tensor *t = fixture_get(fx, "target");
        eng_tensor *target = t->dtype == ENG_I64 ? tensor_clone(t) : tensor_to(t, dt);
        eng_tensor *dinput = tensor_new(dt, input->ndim, input->shape);
        double value = NAN;
        assert_ok(eng_loss_forward(l, input, target, &value));
        assert_double_close(value, ENG_F64_DATA(fixture_get(fx, "loss"))[0], tol);
        assert_ok(eng_loss_backward(l, input, target, dinput));
        assert_tensor_close(dinput, fixture_get(fx, "dinput"), tol, kind);
        eng_tensor_release(input);
        eng_tensor_release(target);
        eng_tensor_release(dinput);
        eng_loss_release(l);
    }
    fixture_free(fx);
}

static void test_cross_entropy_matches_pytorch_in_f32_and_f64(void **state)
{
    (void)state;
    check_fixture("loss_cross_entropy.bin", "cross_entropy");
}

static void test_mse_matches_pytorch_in_f32_and_f64(void **state)
{
    (void)state;
    check_fixture("loss_mse.bin", "mse");
}

static void test_cross_entropy_of_uniform_logits_is_log_k(void **state)
{
    (void)state;
    eng_loss *l = make("cross_entropy");
    eng_tensor *x = TENSOR(ENG_F64, 4, 10), *y = TENSOR(ENG_I64, 4), *dx = TENSOR(ENG_F64, 4, 10);
    eng_tensor_fill(x, 3.25);
    tensor_set_values(y, (double[]){0, 9, 4, 4});
    double value;
    assert_ok(eng_loss_forward(l, x, y, &value));
    assert_double_close(value, log(10.0), 1e-15);
    assert_ok(eng_loss_backward(l, x, y, dx));
    /* (softmax - onehot) / N = (0.1 - [j == label]) / 4 */
    assert_double_close(eng_tensor_get(dx, (int64_t[]){1, 9}), -0.9 / 4, 1e-15);
    assert_double_close(eng_tensor_get(dx, (int64_t[]){1, 0}), 0.1 / 4, 1e-15);
    /* Shifting a row by a constant changes nothing, even by 1e4. */
    eng_tensor_fill(x, 1e4);
    assert_ok(eng_loss_forward(l, x, y, &value));
    assert_double_close(value, log(10.0), 1e-12);
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_tensor_release(dx);
    eng_loss_release(l);
}

static void test_mse_by_hand(void **state)
{
    (void)state;
    eng_loss *l = make("mse");
    eng_tensor *a = TENSOR(ENG_F32, 2, 2), *b = TENSOR(ENG_F32, 2, 2), *d = TENSOR(ENG_F32, 2, 2);
    tensor_set_values(a, (double[]){1, 2, 3, 4});
    tensor_set_values(b, (double[]){1, 0, 5, 3});
    double value;
    assert_ok(eng_loss_forward(l, a, b, &value));
    assert_true(value == (0 + 4 + 4 + 1) / 4.0);
    assert_ok(eng_loss_backward(l, a, b, d));
    /* 2 (a - b) / 4 */
    const float expected[4] = {0, 1, -1, 0.5f};
    for (int i = 0; i < 4; i++)
        assert_true(ENG_F32_DATA(d)[i] == expected[i]);
    eng_tensor_release(a);
    eng_tensor_release(b);
    eng_tensor_release(d);
    eng_loss_release(l);
}

typedef struct loss_probe {
    eng_loss *loss;
    eng_tensor *input, *target;
} loss_probe;

static double loss_objective(void *ctx)
{
    loss_probe *p = ctx;
    double v;
    assert_ok(eng_loss_forward(p->loss, p->input, p->target, &v));
    return v;
}

static void test_loss_gradients_match_finite_differences(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        eng_loss *l = make(k ? "mse" : "cross_entropy");
        eng_tensor *input = TENSOR(ENG_F64, 6, 5), *d = TENSOR(ENG_F64, 6, 5), *target;
        tensor_randn(input, 50, 2.0);
        if (k) {
            target = TENSOR(ENG_F64, 6, 5);
            tensor_randn(target, 51, 1.0);
        } else {
            target = TENSOR(ENG_I64, 6);
            tensor_set_values(target, (double[]){0, 4, 2, 2, 1, 3});
        }
        double v;
        assert_ok(eng_loss_forward(l, input, target, &v));
        assert_ok(eng_loss_backward(l, input, target, d));
        loss_probe p = {l, input, target};
        assert_gradient(input, d, loss_objective, &p, 1e-5, 1e-8, l->ops->kind);
        eng_tensor_release(input);
        eng_tensor_release(target);
        eng_tensor_release(d);
        eng_loss_release(l);
    }
}

static void test_cross_entropy_rejects_bad_inputs_and_targets(void **state)
{
    (void)state;
    eng_loss *l = make("cross_entropy");
    eng_tensor *x = TENSOR(ENG_F32, 4, 10), *x3 = TENSOR(ENG_F32, 4, 10, 1),
               *xi = TENSOR(ENG_I32, 4, 10), *y = TENSOR(ENG_I64, 4), *y5 = TENSOR(ENG_I64, 5),
               *yf = TENSOR(ENG_F32, 4);
    double v;
    assert_error(eng_loss_forward(l, x3, y, &v), ENG_ESHAPE, "[4,10,1]", "[N,K]");
    assert_error(eng_loss_forward(l, xi, y, &v), ENG_EDTYPE, "i32");
    assert_error(eng_loss_forward(l, x, yf, &v), ENG_EDTYPE, "f32", "i64");
    assert_error(eng_loss_forward(l, x, y5, &v), ENG_ESHAPE, "[4,10]", "[5]");
    ((int64_t *)eng_tensor_data(y))[2] = 10;
    assert_error(eng_loss_forward(l, x, y, &v), ENG_EARG, "target[2] = 10", "[0,10)");
    ((int64_t *)eng_tensor_data(y))[2] = -1;
    assert_error(eng_loss_forward(l, x, y, &v), ENG_EARG, "target[2] = -1");
    eng_tensor_release(x);
    eng_tensor_release(x3);
    eng_tensor_release(xi);
    eng_tensor_release(y);
    eng_tensor_release(y5);
    eng_tensor_release(yf);
    eng_loss_release(l);
}

static void test_cross_entropy_backward_needs_a_forward_on_that_input(void **state)
{
    (void)state;
    eng_loss *l = make("cross_entropy");
    eng_tensor *x = TENSOR(ENG_F64, 2, 3), *y = TENSOR(ENG_I64, 2), *dx = TENSOR(ENG_F64, 2, 3);
    eng_tensor *x4 = TENSOR(ENG_F64, 4, 3), *y4 = TENSOR(ENG_I64, 4), *dx4 = TENSOR(ENG_F64, 4, 3);
    assert_error(eng_loss_backward(l, x, y, dx), ENG_ESTATE, "[2,3]", "forward");
    double v;
    assert_ok(eng_loss_forward(l, x, y, &v));
    assert_error(eng_loss_backward(l, x4, y4, dx4), ENG_ESTATE, "[4,3]");
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_tensor_release(dx);
    eng_tensor_release(x4);
    eng_tensor_release(y4);
    eng_tensor_release(dx4);
    eng_loss_release(l);
}

static void test_losses_reject_dinput_of_another_shape_or_dtype(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        eng_loss *l = make(k ? "mse" : "cross_entropy");
        eng_tensor *x = TENSOR(ENG_F32, 3, 4);
        eng_tensor *t = k ? TENSOR(ENG_F32, 3, 4) : TENSOR(ENG_I64, 3);
        eng_tensor *d_shape = TENSOR(ENG_F32, 4, 3), *d_dtype = TENSOR(ENG_F64, 3, 4);
        double v;
        assert_ok(eng_loss_forward(l, x, t, &v));
        assert_error(eng_loss_backward(l, x, t, d_shape), ENG_ESHAPE, l->ops->kind, "[4,3]",
                     "[3,4]");
        assert_error(eng_loss_backward(l, x, t, d_dtype), ENG_EDTYPE, l->ops->kind, "f64", "f32");
        eng_tensor_release(x);
        eng_tensor_release(t);
        eng_tensor_release(d_shape);
        eng_tensor_release(d_dtype);
        eng_loss_release(l);
    }
}

static void test_mse_rejects_shape_and_dtype_mismatch(void **state)
{
    (void)state;
    eng_loss *l = make("mse");
    eng_tensor *a = TENSOR(ENG_F64, 2, 3, 8, 8), *b = TENSOR(ENG_F64, 2, 3, 8, 7),
               *c = TENSOR(ENG_F32, 2, 3, 8, 8);
    double v;
    assert_error(eng_loss_forward(l, a, b, &v), ENG_ESHAPE, "[2,3,8,8]", "[2,3,8,7]");
    assert_error(eng_loss_forward(l, a, c, &v), ENG_EDTYPE, "f64", "f32");
    eng_tensor_release(a);
    eng_tensor_release(b);
    eng_tensor_release(c);
    eng_loss_release(l);
}

static void test_losses_reject_non_contiguous_input(void **state)
{
    (void)state;
    eng_loss *l = make("mse");
    eng_tensor *base = TENSOR(ENG_F64, 3, 4), *a, *b = TENSOR(ENG_F64, 3, 2);
    assert_ok(eng_tensor_narrow(base, 1, 1, 2, &a));
    double v;
    assert_error(eng_loss_forward(l, a, b, &v), ENG_ESTATE, "mse", "contiguous");
    eng_tensor_release(a);
    eng_tensor_release(b);
    eng_tensor_release(base);
    eng_loss_release(l);
}

/* Every loss kind is declared validly and made by name from its settings; a bad value is
 * refused with the loss, the setting and the value; Huber's value by hand. */
static void test_loss_kinds_are_made_by_name_from_their_declared_settings(void **state)
{
    (void)state;
    static const char *const names[] = {"cross_entropy", "huber", "mse", "nll"};
    assert_int_equal(eng_loss_kind_count(), 4);
    for (int i = 0; i < 4; i++) {
        const eng_loss_kind *kind = eng_loss_kind_find(names[i]);
        assert_non_null(kind);
        assert_ok(eng_settings_check_decl(kind->name, kind->settings));
        eng_settings s;
        eng_loss *l = NULL;
        eng_loss_settings_init(&s, kind);
        assert_ok(eng_loss_create(&s, &l));
        assert_string_equal(l->ops->kind, names[i]);
        eng_loss_release(l);
    }
    assert_null(eng_loss_kind_find("nope"));

    eng_settings s;
    eng_loss *l = NULL;
    eng_loss_settings_init(&s, eng_loss_kind_find("huber"));
    assert_error(eng_settings_set_number(&s, "delta", 0), ENG_EARG,
                 "huber: setting 'delta' must be", "got 0");
    assert_error(eng_settings_set_number(&s, "beta", 1), ENG_EARG, "huber: unknown setting 'beta'",
                 "delta, reduction");
    assert_ok(eng_settings_set_number(&s, "delta", 0.5));
    assert_ok(eng_settings_set_string(&s, "reduction", "sum"));
    assert_ok(eng_loss_create(&s, &l));
    /* d = 0.1, 3, -2 with delta 0.5: 0.005 + 0.5 * (3 - 0.25) + 0.5 * (2 - 0.25) */
    eng_tensor *x = TENSOR(ENG_F64, 3), *y = TENSOR(ENG_F64, 3);
    double *xd = ENG_F64_DATA(x);
    xd[0] = 0.1, xd[1] = 3, xd[2] = -2;
    double value;
    assert_ok(eng_loss_forward(l, x, y, &value));
    assert_true(fabs(value - (0.005 + 1.375 + 0.875)) <= 1e-15);
    eng_loss_release(l);

    eng_loss_settings_init(&s, eng_loss_kind_find("nll"));
    assert_ok(eng_settings_set_string(&s, "reduction", "none"));
    assert_error(eng_loss_create(&s, &l), ENG_EARG, "NLLLoss: reduction 'none'");
    assert_null(l);
    eng_tensor_release(x);
    eng_tensor_release(y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cross_entropy_matches_pytorch_in_f32_and_f64),
        cmocka_unit_test(test_mse_matches_pytorch_in_f32_and_f64),
        cmocka_unit_test(test_cross_entropy_of_uniform_logits_is_log_k),
        cmocka_unit_test(test_mse_by_hand),
        cmocka_unit_test(test_loss_gradients_match_finite_differences),
        cmocka_unit_test(test_cross_entropy_rejects_bad_inputs_and_targets),
        cmocka_unit_test(test_cross_entropy_backward_needs_a_forward_on_that_input),
        cmocka_unit_test(test_losses_reject_dinput_of_another_shape_or_dtype),
        cmocka_unit_test(test_mse_rejects_shape_and_dtype_mismatch),
        cmocka_unit_test(test_losses_reject_non_contiguous_input),
        cmocka_unit_test(test_loss_kinds_are_made_by_name_from_their_declared_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
