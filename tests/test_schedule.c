/* Learning-rate schedules: the lr sequences of StepLR, ExponentialLR, CosineAnnealingLR and
 * LinearLR against torch.optim.lr_scheduler (make_optim_fixtures.py's schedules.bin), the
 * chainable form (a hand-set lr carries on), and error paths. */
#include "support.h"

static eng_model *linear_model(void)
{
    eng_model *m;
    eng_layer *l;
    assert_ok(eng_model_new(&m));
    assert_ok(eng_linear_new(2, 1, true, ENG_F64, NULL, &l));
    assert_ok(eng_model_add(m, l));
    eng_layer_release(l);
    return m;
}

static eng_optimizer *sgd(eng_model *m, double lr)
{
    eng_optimizer *opt;
    assert_ok(eng_sgd_new(eng_model_params(m), &(eng_sgd_options){.lr = lr}, &opt));
    return opt;
}

static const char *const cases[] = {"step",         "step_default_gamma", "exponential",
                                    "cosine",       "cosine_zero_min",    "linear",
                                    "linear_decay", "linear_default"};

static void test_schedules_give_torchs_lr_sequences(void **state)
{
    (void)state;
    fixture *fx = fixture_load("schedules.bin");
    eng_model *m = linear_model();
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char key[64];
        snprintf(key, sizeof key, "%s.settings", cases[c]);
        const double *s = ENG_F64_DATA(fixture_get(fx, key));
        snprintf(key, sizeof key, "%s.lr", cases[c]);
        const eng_tensor *lrs = fixture_get(fx, key);
        eng_optimizer *opt = sgd(m, s[0]);
        eng_schedule sched;
        if (strncmp(cases[c], "step", 4) == 0)
            assert_ok(eng_step_lr_init(&sched, opt, (int64_t)s[1], s[2]));
        else if (strncmp(cases[c], "exponential", 11) == 0)
            assert_ok(eng_exponential_lr_init(&sched, opt, s[1]));
        else if (strncmp(cases[c], "cosine", 6) == 0)
            assert_ok(eng_cosine_lr_init(&sched, opt, (int64_t)s[1], s[2]));
        else
            assert_ok(eng_linear_lr_init(&sched, opt, s[1], s[2], (int64_t)s[3]));
        assert_true(sched.base_lr == s[0]);
        double worst = 0;
        int64_t n = eng_tensor_numel(lrs);
        for (int64_t k = 0; k < n; k++) {
            if (k > 0)
                eng_schedule_step(&sched, opt);
            double expected = ENG_F64_DATA(lrs)[k];
            double err = fabs(opt->lr - expected) / (expected != 0 ? expected : 1);
            worst = err > worst ? err : worst;
            if (!(err <= 1e-15))
                print_message("%s: lr after %lld steps %.17g, torch %.17g\n", cases[c],
                              (long long)k, opt->lr, expected);
            assert_true(err <= 1e-15);
            assert_true(sched.last_lr == opt->lr);
            assert_int_equal(sched.last_epoch, k);
        }
        print_message("%-20s %-18s %lld lrs, largest relative difference from torch %.3g\n",
                      cases[c], eng_schedule_kind_name(sched.kind), (long long)n, worst);
        eng_optimizer_release(opt);
    }
    eng_model_release(m);
    fixture_free(fx);
}

static void test_schedules_chain_from_the_current_lr(void **state)
{
    (void)state;
    /* PyTorch's chainable form multiplies whatever lr the optimizer has: an lr set by hand
     * between steps carries on. */
    eng_model *m = linear_model();
    eng_optimizer *opt = sgd(m, 1);
    eng_schedule s;
    assert_ok(eng_step_lr_init(&s, opt, 2, 0.5));
    assert_true(opt->lr == 1);
    eng_schedule_step(&s, opt); /* epoch 1: unchanged */
    assert_true(opt->lr == 1);
    opt->lr = 4;
    eng_schedule_step(&s, opt); /* epoch 2: times gamma */
    assert_true(opt->lr == 2);
    /* LinearLR scales the lr at once, as PyTorch's constructor does */
    assert_ok(eng_linear_lr_init(&s, opt, 0.5, 1, 2));
    assert_true(opt->lr == 1 && s.base_lr == 2);
    eng_schedule_step(&s, opt);
    assert_true(opt->lr == 1.5);
    eng_schedule_step(&s, opt);
    assert_true(opt->lr == 2);
    eng_schedule_step(&s, opt);
    assert_true(opt->lr == 2);
    assert_string_equal(eng_schedule_kind_name(s.kind), "LinearLR");
    eng_optimizer_release(opt);
    eng_model_release(m);
}

static void test_schedules_reject_bad_settings_and_leave_the_lr(void **state)
{
    (void)state;
    eng_model *m = linear_model();
    eng_optimizer *opt = sgd(m, 0.1);
    eng_schedule s;
    assert_error(eng_step_lr_init(&s, opt, 0, 0.1), ENG_EARG, "StepLR: step_size = 0");
    assert_error(eng_step_lr_init(&s, opt, 3, -0.1), ENG_EARG, "StepLR: gamma = -0.1");
    assert_error(eng_exponential_lr_init(&s, opt, 0), ENG_EARG, "ExponentialLR: gamma = 0");
    assert_error(eng_cosine_lr_init(&s, opt, 0, 0), ENG_EARG, "CosineAnnealingLR: T_max = 0");
    assert_error(eng_cosine_lr_init(&s, opt, 10, -1), ENG_EARG, "eta_min = -1");
    assert_error(eng_linear_lr_init(&s, opt, 0, 1, 5), ENG_EARG, "LinearLR: start_factor = 0");
    assert_error(eng_linear_lr_init(&s, opt, 0.5, 1.5, 5), ENG_EARG, "end_factor = 1.5");
    assert_error(eng_linear_lr_init(&s, opt, 0.5, 1, 0), ENG_EARG, "total_iters = 0");
    assert_true(opt->lr == 0.1);
    eng_optimizer_release(opt);
    eng_model_release(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedules_give_torchs_lr_sequences),
        cmocka_unit_test(test_schedules_chain_from_the_current_lr),
        cmocka_unit_test(test_schedules_reject_bad_settings_and_leave_the_lr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
