/* softmax and log_softmax layers and the NLL loss: PyTorch fixtures in f32 and f64, the
 * checker in f64, LogSoftmax + NLLLoss against CrossEntropyLoss (a second method), and the
 * error paths. */
#include "support.h"

static eng_layer *make(bool log, int dim)
{
    eng_layer *l;
    assert_ok(log ? eng_log_softmax_new(&dim, &l) : eng_softmax_new(&dim, &l));
    return l;
}

static void test_softmax_layers_match_pytorch_in_f32_and_f64(void **state)
{
    (void)state;
    const char *const names[] = {"layer_softmax_dim1.bin", "layer_softmax_last.bin",
                                 "layer_log_softmax_dim1.bin", "layer_log_softmax_last.bin"};
    for (int i = 0; i < 4; i++) {
        fixture *fx = fixture_load(names[i]);
        for (int k = 0; k < 2; k++) {
            eng_layer *l = make(i >= 2, fixture_config(fx, 0));
            check_layer_against_fixture(l, fx, k ? ENG_F64 : ENG_F32, k ? 1e-12 : 1e-5);
            if (k)
                assert_checker_passes_layer(l, fixture_get(fx, "x"), true);
            eng_layer_release(l);
        }
        fixture_free(fx);
    }
}

static void test_softmax_implicit_dim_follows_pytorch(void **state)
{
    (void)state;
    /* rank 2: dim 1 (rows sum to 1); rank 3: dim 0 (PyTorch's legacy rule) */
    eng_layer *l;
    assert_ok(eng_softmax_new(NULL, &l));
    assert_false(l->ops->batch_independent); /* may resolve to the batch's dimension */
    eng_tensor *x = tensor_new(ENG_F64, 3, (int64_t[]){2, 3, 1});
    eng_tensor *y = tensor_new(ENG_F64, 3, (int64_t[]){2, 3, 1});
    tensor_set_values(x, (double[]){0, 1, 2, 3, 4, 5});
    assert_ok(eng_layer_forward(l, x, y, true));
    double e3 = exp(3.0);
    assert_double_close(eng_tensor_get_flat(y, 0), 1 / (1 + e3), 1e-15);
    assert_double_close(eng_tensor_get_flat(y, 3), e3 / (1 + e3), 1e-15);
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_layer_release(l);
    l = make(false, 1);
    assert_true(l->ops->batch_independent);
    eng_layer_release(l);
}

static void check_nll_fixture(const char *name, bool sum)
{
    fixture *fx = fixture_load(name);
    for (int k = 0; k < 2; k++) {
        eng_dtype dt = k ? ENG_F64 : ENG_F32;
        double tol = k ? 1e-14 : 1e-6;
        eng_loss *l;
        assert_ok(eng_nll_new(sum, -100, &l));
        eng_tensor *input = tensor_to(fixture_get(fx, "input"), dt);
        eng_tensor *dinput = tensor_new(dt, input->ndim, input->shape);
        double value = NAN;
        assert_ok(eng_loss_forward(l, input, fixture_get(fx, "target"), &value));
        assert_double_close(value, ENG_F64_DATA(fixture_get(fx, "loss"))[0], tol);
        assert_ok(eng_loss_backward(l, input, fixture_get(fx, "target"), dinput));
        assert_tensor_close(dinput, fixture_get(fx, "dinput"), tol, name);
        eng_tensor_release(input);
        eng_tensor_release(dinput);
        eng_loss_release(l);
    }
    fixture_free(fx);
}

static void test_nll_matches_pytorch_in_f32_and_f64(void **state)
{
    (void)state;
    check_nll_fixture("loss_nll_mean.bin", false);
    check_nll_fixture("loss_nll_sum.bin", true);
}

static void test_log_softmax_with_nll_equals_cross_entropy(void **state)
{
    (void)state;
    fixture *fx = fixture_load("loss_cross_entropy.bin");
    const eng_tensor *logits = fixture_get(fx, "input"), *target = fixture_get(fx, "target");
    eng_layer *ls = make(true, 1);
    eng_tensor *y = tensor_new(ENG_F64, 2, logits->shape);
    eng_tensor *dy = tensor_new(ENG_F64, 2, logits->shape);
    eng_tensor *dx = tensor_new(ENG_F64, 2, logits->shape);
    eng_loss *nll;
    assert_ok(eng_nll_new(false, -100, &nll));
    double value;
    assert_ok(eng_layer_forward(ls, logits, y, true));
    assert_ok(eng_loss_forward(nll, y, target, &value));
    assert_ok(eng_loss_backward(nll, y, target, dy));
    assert_ok(eng_layer_backward(ls, logits, y, dy, dx));
    assert_double_close(value, ENG_F64_DATA(fixture_get(fx, "loss"))[0], 1e-14);
    assert_tensor_close(dx, fixture_get(fx, "dinput"), 1e-13, "log_softmax + nll");
    /* the whole pair under the checker: a model of one LogSoftmax with the NLL loss */
    eng_model *m;
    assert_ok(eng_model_new(&m));
    assert_ok(eng_model_add(m, ls));
    eng_gc_objective *obj;
    eng_gc_report *r;
    assert_ok(eng_gc_model_objective(m, nll, logits, target, true, &obj));
    assert_ok(eng_gc_check(obj, &(eng_gc_options){.seed = 1}, &r));
    assert_int_equal(r->verdict, ENG_GC_PASS);
    eng_gc_report_free(r);
    eng_gc_objective_release(obj);
    eng_model_release(m);
    eng_loss_release(nll);
    eng_layer_release(ls);
    eng_tensor_release(y);
    eng_tensor_release(dy);
    eng_tensor_release(dx);
    fixture_free(fx);
}

static void test_nll_ignores_ignore_index_and_rejects_bad_targets(void **state)
{
    (void)state;
    /* input rows (-1,-2), (-3,-4); targets (1, ignored): mean over one sample = 2 */
    eng_loss *l;
    assert_ok(eng_nll_new(false, 7, &l));
    eng_tensor *input = tensor_new(ENG_F64, 2, (int64_t[]){2, 2});
    tensor_set_values(input, (double[]){-1, -2, -3, -4});
    eng_tensor *target = tensor_new(ENG_I64, 1, (int64_t[]){2});
    ((int64_t *)eng_tensor_data(target))[0] = 1;
    ((int64_t *)eng_tensor_data(target))[1] = 7;
    double value;
    assert_ok(eng_loss_forward(l, input, target, &value));
    assert_true(value == 2.0);
    ((int64_t *)eng_tensor_data(target))[1] = 2;
    assert_error(eng_loss_forward(l, input, target, &value), ENG_EARG, "target[1] = 2", "[0, 2)");
    eng_tensor *bad = tensor_new(ENG_I64, 1, (int64_t[]){3});
    assert_error(eng_loss_forward(l, input, bad, &value), ENG_ESHAPE, "expected i64 [2]");
    eng_tensor_release(bad);
    eng_tensor_release(input);
    eng_tensor_release(target);
    eng_loss_release(l);
}

static void test_softmax_rejects_a_dim_out_of_range(void **state)
{
    (void)state;
    eng_layer *l = make(true, 3);
    assert_ok(eng_layer_set_name(l, "probs"));
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    eng_tensor *x = tensor_new(ENG_F32, 2, (int64_t[]){2, 3});
    assert_error(eng_layer_output_shape(l, x, &ndim, shape), ENG_ESHAPE,
                 "log_softmax 'probs': dim 3 is out of range for x [2,3]");
    eng_tensor_release(x);
    eng_layer_release(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax_layers_match_pytorch_in_f32_and_f64),
        cmocka_unit_test(test_softmax_implicit_dim_follows_pytorch),
        cmocka_unit_test(test_nll_matches_pytorch_in_f32_and_f64),
        cmocka_unit_test(test_log_softmax_with_nll_equals_cross_entropy),
        cmocka_unit_test(test_nll_ignores_ignore_index_and_rejects_bad_targets),
        cmocka_unit_test(test_softmax_rejects_a_dim_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
