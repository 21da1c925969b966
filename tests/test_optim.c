/* SGD: 20 steps against torch.optim.SGD (momentum, dampening, nesterov, weight decay) from
 * fixtures, in f64 to 1e-12 and in f32; updates by hand; lifetime; error paths. */
#include "support.h"

static eng_model *linear_model(eng_dtype dtype, eng_layer **layer)
{
    eng_model *m;
    assert_ok(eng_model_new(&m));
    assert_ok(eng_linear_new(4, 3, true, dtype, NULL, layer));
    assert_ok(eng_model_add(m, *layer));
    eng_layer_release(*layer); /* the model keeps it alive */
    return m;
}

/* Sets the gradients to step k of the fixture's sequence: the optimizer is tested alone. */
static void set_grad(eng_tensor *grad, const eng_tensor *sequence, int64_t k)
{
    eng_tensor *row;
    assert_ok(eng_tensor_select(sequence, 0, k, &row));
    assert_ok(eng_tensor_copy(grad, row));
    eng_tensor_release(row);
}

static void check_against_pytorch(const char *name, eng_dtype dtype, double tol)
{
    fixture *fx = fixture_load(name);
    const double *o = ENG_F64_DATA(fixture_get(fx, "options"));
    eng_sgd_options opts = {.lr = o[0], .momentum = o[1], .dampening = o[2],
                            .weight_decay = o[3], .nesterov = o[4] != 0};
    eng_layer *l;
    eng_model *m = linear_model(dtype, &l);
    set_param(l, "weight", fixture_get(fx, "weight"));
    set_param(l, "bias", fixture_get(fx, "bias"));
    eng_optimizer *opt;
    assert_ok(eng_sgd_new(m, &opts, &opt));
    const eng_tensor *wt = fixture_get(fx, "weight_traj"), *bt = fixture_get(fx, "bias_traj");
    int64_t steps = wt->shape[0];
    assert_int_equal(steps, 20);
    for (int64_t k = 0; k < steps; k++) {
        set_grad(l->params[0].grad, fixture_get(fx, "grad_weight"), k);
        set_grad(l->params[1].grad, fixture_get(fx, "grad_bias"), k);
        assert_ok(eng_optimizer_step(opt));
        eng_tensor *w_expected, *b_expected;
        assert_ok(eng_tensor_select(wt, 0, k, &w_expected));
        assert_ok(eng_tensor_select(bt, 0, k, &b_expected));
        char what[128];
        snprintf(what, sizeof what, "%s step %lld weight", name, (long long)k + 1);
        assert_tensor_close(l->params[0].value, w_expected, tol, what);
        snprintf(what, sizeof what, "%s step %lld bias", name, (long long)k + 1);
        assert_tensor_close(l->params[1].value, b_expected, tol, what);
        eng_tensor_release(w_expected);
        eng_tensor_release(b_expected);
    }
    assert_int_equal(opt->steps, 20);
    eng_optimizer_release(opt);
    eng_model_release(m);
    fixture_free(fx);
}

static const char *const cases[] = {"momentum", "nesterov_wd", "dampening_wd", "plain_wd"};

static void test_sgd_matches_torch_for_20_steps_in_f64(void **state)
{
    (void)state;
    for (int i = 0; i < 4; i++) {
        char name[64];
        snprintf(name, sizeof name, "sgd_%s_f64.bin", cases[i]);
        check_against_pytorch(name, ENG_F64, 1e-12);
    }
}

static void test_sgd_matches_torch_for_20_steps_in_f32(void **state)
{
    (void)state;
    for (int i = 0; i < 4; i++) {
        char name[64];
        snprintf(name, sizeof name, "sgd_%s_f32.bin", cases[i]);
        check_against_pytorch(name, ENG_F32, 1e-5);
    }
}

static void test_sgd_momentum_updates_by_hand(void **state)
{
    (void)state;
    /* lr 0.5, momentum 0.5, dampening 0.5, weight decay 0.25 on p0 = 2 with g = 1, 2:
     * step 1: d = 1 + 0.25*2 = 1.5, buf = 1.5 (no dampening on the first step), p = 1.25
     * step 2: d = 2 + 0.25*1.25 = 2.3125, buf = 0.5*1.5 + 0.5*2.3125 = 1.90625,
     *         p = 1.25 - 0.5*1.90625 = 0.296875 */
    eng_layer *l;
    eng_model *m = linear_model(ENG_F64, &l);
    eng_tensor_fill(l->params[0].value, 2);
    eng_tensor_fill(l->params[1].value, 2);
    eng_sgd_options o = {.lr = 0.5, .momentum = 0.5, .dampening = 0.5, .weight_decay = 0.25};
    eng_optimizer *opt;
    assert_ok(eng_sgd_new(m, &o, &opt));
    assert_int_equal(opt->nparams, 2);
    assert_string_equal(opt->params[0].name, "linear_1.weight");
    assert_string_equal(opt->params[1].name, "linear_1.bias");
    eng_tensor_fill(l->params[0].grad, 1);
    eng_tensor_fill(l->params[1].grad, 1);
    assert_ok(eng_optimizer_step(opt));
    assert_true(ENG_F64_DATA(l->params[0].value)[5] == 1.25);
    eng_tensor_fill(l->params[0].grad, 2);
    eng_tensor_fill(l->params[1].grad, 2);
    assert_ok(eng_optimizer_step(opt));
    assert_true(ENG_F64_DATA(l->params[0].value)[11] == 0.296875);
    assert_true(ENG_F64_DATA(l->params[1].value)[2] == 0.296875);
    /* A changed learning rate (a schedule) applies from the next step: plain SGD part only. */
    opt->lr = 0;
    assert_ok(eng_optimizer_step(opt));
    assert_true(ENG_F64_DATA(l->params[0].value)[0] == 0.296875);
    assert_int_equal(opt->steps, 3);
    eng_optimizer_release(opt);
    eng_model_release(m);
}

static void test_sgd_nesterov_updates_by_hand(void **state)
{
    (void)state;
    /* lr 1, momentum 0.5, nesterov, p0 = 0, g = 1, 1:
     * step 1: buf = 1, d = 1 + 0.5*1 = 1.5, p = -1.5
     * step 2: buf = 0.5 + 1 = 1.5, d = 1 + 0.75 = 1.75, p = -3.25 */
    eng_layer *l;
    eng_model *m = linear_model(ENG_F32, &l);
    eng_tensor_zero(l->params[0].value);
    eng_sgd_options o = {.lr = 1, .momentum = 0.5, .nesterov = true};
    eng_optimizer *opt;
    assert_ok(eng_sgd_new(m, &o, &opt));
    for (int k = 0; k < 2; k++) {
        eng_tensor_fill(l->params[0].grad, 1);
        assert_ok(eng_optimizer_step(opt));
    }
    assert_true(ENG_F32_DATA(l->params[0].value)[7] == -3.25f);
    eng_optimizer_release(opt);
    eng_model_release(m);
}

static void test_sgd_outlives_the_model_it_was_made_for(void **state)
{
    (void)state;
    eng_layer *l;
    eng_model *m = linear_model(ENG_F64, &l);
    eng_sgd_options o = {.lr = 0.1, .momentum = 0.9};
    eng_optimizer *opt;
    assert_ok(eng_sgd_new(m, &o, &opt));
    eng_model_release(m); /* frees the layer; the optimizer's views keep the storage */
    eng_tensor_fill(opt->params[0].grad, 1);
    eng_tensor_fill(opt->params[0].value, 1);
    assert_ok(eng_optimizer_step(opt));
    assert_double_close(ENG_F64_DATA(opt->params[0].value)[0], 0.9, 1e-15);
    eng_optimizer_release(opt);
}

static void test_sgd_on_a_model_without_parameters_does_nothing(void **state)
{
    (void)state;
    eng_model *m;
    assert_ok(eng_model_new(&m));
    eng_sgd_options o = {.lr = 0.1};
    eng_optimizer *opt;
    assert_ok(eng_sgd_new(m, &o, &opt));
    assert_int_equal(opt->nparams, 0);
    assert_ok(eng_optimizer_step(opt));
    eng_optimizer_release(opt);
    eng_model_release(m);
}

static void test_sgd_rejects_bad_options(void **state)
{
    (void)state;
    eng_layer *l;
    eng_model *m = linear_model(ENG_F32, &l);
    eng_optimizer *opt = (eng_optimizer *)1;
    assert_error(eng_sgd_new(m, &(eng_sgd_options){.lr = 0}, &opt), ENG_EARG, "lr = 0");
    assert_null(opt);
    assert_error(eng_sgd_new(m, &(eng_sgd_options){.lr = -1}, &opt), ENG_EARG, "lr = -1");
    assert_error(eng_sgd_new(m, &(eng_sgd_options){.lr = NAN}, &opt), ENG_EARG, "lr = nan");
    assert_error(eng_sgd_new(m, &(eng_sgd_options){.lr = 1, .momentum = -0.5}, &opt), ENG_EARG,
                 "momentum (-0.5)");
    assert_error(eng_sgd_new(m, &(eng_sgd_options){.lr = 1, .dampening = -1}, &opt), ENG_EARG,
                 "dampening (-1)");
    assert_error(eng_sgd_new(m, &(eng_sgd_options){.lr = 1, .weight_decay = -1e-4}, &opt),
                 ENG_EARG, "weight_decay (-0.0001)");
    assert_error(eng_sgd_new(m, &(eng_sgd_options){.lr = 1, .nesterov = true}, &opt), ENG_EARG,
                 "nesterov", "momentum > 0");
    assert_error(eng_sgd_new(m, &(eng_sgd_options){.lr = 1, .momentum = 0.9, .dampening = 0.1,
                                                   .nesterov = true},
                             &opt),
                 ENG_EARG, "dampening = 0");
    assert_null(opt);
    eng_model_release(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_matches_torch_for_20_steps_in_f64),
        cmocka_unit_test(test_sgd_matches_torch_for_20_steps_in_f32),
        cmocka_unit_test(test_sgd_momentum_updates_by_hand),
        cmocka_unit_test(test_sgd_nesterov_updates_by_hand),
        cmocka_unit_test(test_sgd_outlives_the_model_it_was_made_for),
        cmocka_unit_test(test_sgd_on_a_model_without_parameters_does_nothing),
        cmocka_unit_test(test_sgd_rejects_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
