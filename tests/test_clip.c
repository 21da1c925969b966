/* Gradient clipping (torch.nn.utils.clip_grad_norm_ and clip_grad_value_) against values
 * worked out by hand, in f64 and f32, with non-finite gradients and error paths. */
#include "support.h"

/* linear(4 -> 3): weight [3,4] and bias [3], gradients set to w and b. */
static eng_model *model_with_grads(eng_dtype dtype, double w, double b, eng_layer **layer)
{
    eng_model *m;
    assert_ok(eng_model_new(&m));
    assert_ok(eng_linear_new(4, 3, true, dtype, NULL, layer));
    assert_ok(eng_model_add(m, *layer));
    eng_layer_release(*layer);
    eng_tensor_fill((*layer)->params[0].grad, w);
    eng_tensor_fill((*layer)->params[1].grad, b);
    return m;
}

static void test_clip_grad_norm_scales_by_max_norm_over_the_total_norm(void **state)
{
    (void)state;
    /* 12 weights of 1 and 3 biases of -2: total 2-norm sqrt(12 + 12) = sqrt(24); max_norm 1
     * scales every gradient by 1 / (sqrt(24) + 1e-6) (PyTorch's form: reciprocal, times). */
    eng_layer *l;
    eng_model *m = model_with_grads(ENG_F64, 1, -2, &l);
    double total;
    assert_ok(eng_clip_grad_norm(eng_model_params(m), 1, 2, false, &total));
    assert_true(total == sqrt(24));
    double coef = 1 / (sqrt(24) + 1e-6) * 1;
    assert_true(ENG_F64_DATA(l->params[0].grad)[11] == coef);
    assert_true(ENG_F64_DATA(l->params[1].grad)[2] == -2 * coef);
    /* Below max_norm nothing changes, to the bit. */
    assert_ok(eng_clip_grad_norm(eng_model_params(m), 10, 2, false, &total));
    assert_double_close(total, 1, 1e-6);
    assert_true(ENG_F64_DATA(l->params[0].grad)[0] == coef);
    eng_model_release(m);
}

static void test_clip_grad_norm_other_norms_and_f32(void **state)
{
    (void)state;
    eng_layer *l;
    eng_model *m = model_with_grads(ENG_F64, 1, -3, &l);
    double total;
    assert_ok(eng_clip_grad_norm(eng_model_params(m), 1.5, INFINITY, false, &total)); /* max |g| */
    assert_true(total == 3);
    assert_double_close(ENG_F64_DATA(l->params[1].grad)[0], -3 * 1.5 / (3 + 1e-6), 1e-15);
    eng_model_release(m);
    m = model_with_grads(ENG_F64, 1, -3, &l);
    assert_ok(
        eng_clip_grad_norm(eng_model_params(m), 100, 1, false, &total)); /* sum |g| = 12 + 9 */
    assert_true(total == 21);
    assert_ok(eng_clip_grad_norm(eng_model_params(m), 100, 3, false, &total)); /* (12 + 81)^(1/3) */
    assert_double_close(total, cbrt(93), 1e-15);
    eng_model_release(m);
    /* f32: the norm is rounded to float and the factor computed in float, as with PyTorch's
     * f32 tensors. */
    m = model_with_grads(ENG_F32, 1, -2, &l);
    assert_ok(eng_clip_grad_norm(eng_model_params(m), 1, 2, false, &total));
    assert_true(total == (double)(float)sqrt(24));
    float coef = 1 / ((float)sqrt(24) + 1e-6f) * 1.0f;
    assert_true(ENG_F32_DATA(l->params[0].grad)[5] == coef);
    assert_true(ENG_F32_DATA(l->params[1].grad)[1] == -2 * coef);
    eng_model_release(m);
}

static void test_clip_grad_norm_with_non_finite_gradients(void **state)
{
    (void)state;
    eng_layer *l;
    eng_model *m = model_with_grads(ENG_F64, 1, 1, &l);
    ENG_F64_DATA(l->params[1].grad)[1] = NAN;
    double total;
    assert_error(eng_clip_grad_norm(eng_model_params(m), 1, 2, true, &total), ENG_ENONFINITE,
                 "clip_grad_norm: the total 2-norm of the gradients is nan",
                 "gradient of linear_1.bias has nan at flat index 1", "nothing was clipped");
    assert_true(ENG_F64_DATA(l->params[0].grad)[0] == 1);
    /* Without error_if_nonfinite, PyTorch scales by a NaN factor: every gradient is NaN. */
    assert_ok(eng_clip_grad_norm(eng_model_params(m), 1, 2, false, &total));
    assert_true(isnan(total) && isnan(ENG_F64_DATA(l->params[0].grad)[0]));
    eng_model_release(m);
    /* An infinite gradient: the factor is 0, so finite gradients become 0 and inf * 0 NaN. */
    m = model_with_grads(ENG_F64, 1, 1, &l);
    ENG_F64_DATA(l->params[0].grad)[0] = -INFINITY;
    assert_ok(eng_clip_grad_norm(eng_model_params(m), 1, 2, false, &total));
    assert_true(isinf(total));
    assert_true(ENG_F64_DATA(l->params[0].grad)[1] == 0);
    assert_true(isnan(ENG_F64_DATA(l->params[0].grad)[0]));
    eng_model_release(m);
}

static void test_clip_grad_value_clamps_every_element(void **state)
{
    (void)state;
    eng_layer *l;
    eng_model *m = model_with_grads(ENG_F32, 0.25, -7, &l);
    ENG_F32_DATA(l->params[0].grad)[3] = 3;
    ENG_F32_DATA(l->params[0].grad)[4] = NAN;
    assert_ok(eng_clip_grad_value(eng_model_params(m), 0.5));
    assert_true(ENG_F32_DATA(l->params[0].grad)[0] == 0.25f);
    assert_true(ENG_F32_DATA(l->params[0].grad)[3] == 0.5f);
    assert_true(isnan(ENG_F32_DATA(l->params[0].grad)[4])); /* clamp keeps NaN */
    assert_true(ENG_F32_DATA(l->params[1].grad)[2] == -0.5f);
    assert_ok(eng_clip_grad_value(eng_model_params(m), 0));
    assert_true(ENG_F32_DATA(l->params[1].grad)[0] == 0);
    eng_model_release(m);
}

static void test_clipping_rejects_bad_settings(void **state)
{
    (void)state;
    eng_layer *l;
    eng_model *m = model_with_grads(ENG_F64, 1, 1, &l);
    double total;
    assert_error(eng_clip_grad_norm(eng_model_params(m), -1, 2, false, &total), ENG_EARG,
                 "max_norm = -1");
    assert_error(eng_clip_grad_norm(eng_model_params(m), NAN, 2, false, &total), ENG_EARG,
                 "max_norm = nan");
    assert_error(eng_clip_grad_norm(eng_model_params(m), 1, 0, false, &total), ENG_EARG,
                 "norm_type = 0");
    assert_error(eng_clip_grad_value(eng_model_params(m), -0.5), ENG_EARG, "clip_value = -0.5");
    assert_true(ENG_F64_DATA(l->params[0].grad)[0] == 1);
    eng_model_release(m);
    /* A model without parameters has a total norm of 0, as in PyTorch. */
    assert_ok(eng_model_new(&m));
    assert_ok(eng_clip_grad_norm(eng_model_params(m), 1, 2, false, &total));
    assert_true(total == 0);
    eng_model_release(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clip_grad_norm_scales_by_max_norm_over_the_total_norm),
        cmocka_unit_test(test_clip_grad_norm_other_norms_and_f32),
        cmocka_unit_test(test_clip_grad_norm_with_non_finite_gradients),
        cmocka_unit_test(test_clip_grad_value_clamps_every_element),
        cmocka_unit_test(test_clipping_rejects_bad_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
