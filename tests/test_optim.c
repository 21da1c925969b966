/* Optimizers: 20 steps of SGD (make_fixtures.py) and of RMSprop, Adam, AdamW and Adagrad
 * (make_optim_fixtures.py) against torch.optim from fixtures, in f64 to 1e-12 and in f32, with
 * the final state under PyTorch's names; an AdamW run under a cosine schedule; a run resumed
 * from copied state is bit-identical; updates by hand; lifetime; error paths. */
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
    eng_sgd_options opts = {.lr = o[0],
                            .momentum = o[1],
                            .dampening = o[2],
                            .weight_decay = o[3],
                            .nesterov = o[4] != 0};
    eng_layer *l;
    eng_model *m = linear_model(dtype, &l);
    set_param(l, "weight", fixture_get(fx, "weight"));
    set_param(l, "bias", fixture_get(fx, "bias"));
    eng_optimizer *opt;
    assert_ok(eng_sgd_new(eng_model_params(m), &opts, &opt));
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
    assert_ok(eng_sgd_new(eng_model_params(m), &o, &opt));
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
    assert_ok(eng_sgd_new(eng_model_params(m), &o, &opt));
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
    assert_ok(eng_sgd_new(eng_model_params(m), &o, &opt));
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
    assert_ok(eng_sgd_new(eng_model_params(m), &o, &opt));
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
    assert_error(eng_sgd_new(eng_model_params(m), &(eng_sgd_options){.lr = 0}, &opt), ENG_EARG,
                 "lr = 0");
    assert_null(opt);
    assert_error(eng_sgd_new(eng_model_params(m), &(eng_sgd_options){.lr = -1}, &opt), ENG_EARG,
                 "lr = -1");
    assert_error(eng_sgd_new(eng_model_params(m), &(eng_sgd_options){.lr = NAN}, &opt), ENG_EARG,
                 "lr = nan");
    assert_error(
        eng_sgd_new(eng_model_params(m), &(eng_sgd_options){.lr = 1, .momentum = -0.5}, &opt),
        ENG_EARG, "momentum (-0.5)");
    assert_error(
        eng_sgd_new(eng_model_params(m), &(eng_sgd_options){.lr = 1, .dampening = -1}, &opt),
        ENG_EARG, "dampening (-1)");
    assert_error(
        eng_sgd_new(eng_model_params(m), &(eng_sgd_options){.lr = 1, .weight_decay = -1e-4}, &opt),
        ENG_EARG, "weight_decay (-0.0001)");
    assert_error(
        eng_sgd_new(eng_model_params(m), &(eng_sgd_options){.lr = 1, .nesterov = true}, &opt),
        ENG_EARG, "nesterov", "momentum > 0");
    assert_error(
        eng_sgd_new(
            eng_model_params(m),
            &(eng_sgd_options){.lr = 1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}, &opt),
        ENG_EARG, "dampening = 0");
    assert_null(opt);
    eng_model_release(m);
}

/* ---- the adaptive optimizers against torch.optim (make_optim_fixtures.py) ---- */

typedef eng_status (*make_fn)(eng_model *model, const double *o, eng_optimizer **out);

static eng_status make_rmsprop(eng_model *model, const double *o, eng_optimizer **out)
{
    eng_rmsprop_options opts = {.lr = o[0],
                                .alpha = o[1],
                                .eps = o[2],
                                .weight_decay = o[3],
                                .momentum = o[4],
                                .centered = o[5] != 0};
    return eng_rmsprop_new(eng_model_params(model), &opts, out);
}

static eng_adam_options adam_options(const double *o)
{
    return (eng_adam_options){.lr = o[0],
                              .beta1 = o[1],
                              .beta2 = o[2],
                              .eps = o[3],
                              .weight_decay = o[4],
                              .amsgrad = o[5] != 0};
}

static eng_status make_adam(eng_model *model, const double *o, eng_optimizer **out)
{
    eng_adam_options opts = adam_options(o);
    return eng_adam_new(eng_model_params(model), &opts, out);
}

static eng_status make_adamw(eng_model *model, const double *o, eng_optimizer **out)
{
    eng_adam_options opts = adam_options(o);
    return eng_adamw_new(eng_model_params(model), &opts, out);
}

static eng_status make_adagrad(eng_model *model, const double *o, eng_optimizer **out)
{
    eng_adagrad_options opts = {.lr = o[0],
                                .lr_decay = o[1],
                                .weight_decay = o[2],
                                .initial_accumulator_value = o[3],
                                .eps = o[4]};
    return eng_adagrad_new(eng_model_params(model), &opts, out);
}

static eng_status make_sgd(eng_model *model, const double *o, eng_optimizer **out)
{
    eng_sgd_options opts = {.lr = o[0],
                            .momentum = o[1],
                            .dampening = o[2],
                            .weight_decay = o[3],
                            .nesterov = o[4] != 0};
    return eng_sgd_new(eng_model_params(model), &opts, out);
}

/* The slot of parameter i named name, or NULL (absent or not created). */
static eng_tensor *slot_named(const eng_optimizer *opt, int i, const char *name)
{
    for (int k = 0; k < opt->ops->nslots; k++)
        if (strcmp(opt->ops->slot_names[k], name) == 0)
            return opt->slots[i * opt->ops->nslots + k];
    return NULL;
}

/* Runs the fixture's 20 steps (under its cosine schedule when it has one) and checks the
 * parameters after every step, the lr in force and the final state. Returns the largest
 * relative error seen. */
static double check_fixture(const char *name, make_fn make, eng_dtype dtype, double tol)
{
    fixture *fx = fixture_load(name);
    eng_layer *l;
    eng_model *m = linear_model(dtype, &l);
    set_param(l, "weight", fixture_get(fx, "weight"));
    set_param(l, "bias", fixture_get(fx, "bias"));
    eng_optimizer *opt;
    assert_ok(make(m, ENG_F64_DATA(fixture_get(fx, "options")), &opt));
    eng_schedule sched;
    bool scheduled = fixture_has(fx, "schedule");
    if (scheduled) {
        const double *s = ENG_F64_DATA(fixture_get(fx, "schedule"));
        assert_ok(eng_cosine_lr_init(&sched, opt, (int64_t)s[0], s[1]));
    }
    const eng_tensor *wt = fixture_get(fx, "weight_traj"), *bt = fixture_get(fx, "bias_traj");
    double worst = 0;
    for (int64_t k = 0; k < 20; k++) {
        if (scheduled)
            assert_true(opt->lr == ENG_F64_DATA(fixture_get(fx, "lr_traj"))[k]);
        set_grad(l->params[0].grad, fixture_get(fx, "grad_weight"), k);
        set_grad(l->params[1].grad, fixture_get(fx, "grad_bias"), k);
        assert_ok(eng_optimizer_step(opt));
        if (scheduled)
            eng_schedule_step(&sched, opt);
        for (int j = 0; j < 2; j++) {
            eng_tensor *expected;
            assert_ok(eng_tensor_select(j == 0 ? wt : bt, 0, k, &expected));
            char what[128];
            snprintf(what, sizeof what, "%s step %lld %s", name, (long long)k + 1,
                     l->params[j].name);
            double err = rel_error(l->params[j].value, expected);
            worst = err > worst ? err : worst;
            assert_tensor_close(l->params[j].value, expected, tol, what);
            eng_tensor_release(expected);
        }
    }
    assert_int_equal(opt->steps, 20);
    /* The state: every slot PyTorch has, under its name, and no other. */
    for (int j = 0; j < 2; j++) {
        for (int k = 0; k < opt->ops->nslots; k++) {
            char key[96];
            snprintf(key, sizeof key, "state.%s.%s", l->params[j].name, opt->ops->slot_names[k]);
            eng_tensor *mine = opt->slots[j * opt->ops->nslots + k];
            if (!fixture_has(fx, key)) {
                if (mine)
                    print_message("%s: slot %s exists, PyTorch has none\n", name, key);
                assert_null(mine);
                continue;
            }
            assert_non_null(mine);
            double err = rel_error(mine, fixture_get(fx, key));
            worst = err > worst ? err : worst;
            assert_tensor_close(mine, fixture_get(fx, key), tol, key);
        }
    }
    for (int i = 0; i < fx->count; i++) {
        const char *key = fx->names[i];
        if (strncmp(key, "state.", 6) == 0) {
            const char *param = key + 6, *slot = strchr(param, '.') + 1;
            assert_non_null(slot_named(opt, strncmp(param, "weight", 6) == 0 ? 0 : 1, slot));
        }
    }
    eng_optimizer_release(opt);
    eng_model_release(m);
    fixture_free(fx);
    return worst;
}

typedef struct kind_cases {
    const char *kind;
    make_fn make;
    const char *cases[5];
} kind_cases;

static const kind_cases adaptive[] = {
    {"rmsprop", make_rmsprop, {"plain", "centered_momentum", "wd_momentum", "centered_wd"}},
    {"adam", make_adam, {"default", "wd", "amsgrad", "amsgrad_wd"}},
    {"adamw", make_adamw, {"default", "strong_wd", "amsgrad"}},
    {"adagrad", make_adagrad, {"default", "lr_decay_wd", "init_eps"}},
    {"sched_adamw", make_adamw, {"cosine"}},
};

static void check_adaptive(eng_dtype dtype, double tol)
{
    for (size_t i = 0; i < sizeof adaptive / sizeof adaptive[0]; i++) {
        double worst = 0;
        for (int c = 0; adaptive[i].cases[c]; c++) {
            char name[96];
            snprintf(name, sizeof name, "%s_%s_%s.bin", adaptive[i].kind, adaptive[i].cases[c],
                     eng_dtype_name(dtype));
            double err = check_fixture(name, adaptive[i].make, dtype, tol);
            worst = err > worst ? err : worst;
        }
        print_message("%-12s %s: largest relative difference from torch.optim over 20 steps "
                      "and the final state: %.3g\n",
                      adaptive[i].kind, eng_dtype_name(dtype), worst);
    }
}

static void test_adaptive_optimizers_match_torch_for_20_steps_in_f64(void **state)
{
    (void)state;
    check_adaptive(ENG_F64, 1e-12);
}

static void test_adaptive_optimizers_match_torch_for_20_steps_in_f32(void **state)
{
    (void)state;
    check_adaptive(ENG_F32, 1e-6);
}

/* Steps 1..k of the adam_amsgrad_wd fixture's gradients (all kinds use them). */
static void run_steps(eng_optimizer *opt, eng_layer *l, const fixture *fx, int from, int to)
{
    for (int k = from; k < to; k++) {
        set_grad(l->params[0].grad, fixture_get(fx, "grad_weight"), k);
        set_grad(l->params[1].grad, fixture_get(fx, "grad_bias"), k);
        assert_ok(eng_optimizer_step(opt));
    }
}

/* What a checkpoint keeps: the parameters, every slot, the step count and the lr. */
static void copy_state(eng_optimizer *dst, eng_layer *dst_layer, const eng_optimizer *src,
                       const eng_layer *src_layer)
{
    for (int j = 0; j < 2; j++)
        assert_ok(eng_tensor_copy(dst_layer->params[j].value, src_layer->params[j].value));
    for (int i = 0; i < src->nparams; i++) {
        for (int k = 0; k < src->ops->nslots; k++) {
            const eng_tensor *s = src->slots[i * src->ops->nslots + k];
            if (!s)
                continue;
            eng_tensor *d;
            bool created;
            assert_ok(eng_optimizer_slot(dst, i, k, &d, &created));
            assert_true(created);
            assert_ok(eng_tensor_copy(d, s));
        }
    }
    dst->steps = src->steps;
    dst->lr = src->lr;
}

static void test_a_run_resumed_from_slots_steps_and_lr_is_bit_identical(void **state)
{
    (void)state;
    static const struct {
        make_fn make;
        double options[6];
    } kinds[] = {
        {make_sgd, {0.05, 0.9, 0.1, 0.01, 0}},
        {make_rmsprop, {0.01, 0.9, 1e-6, 0.01, 0.9, 1}},
        {make_adam, {0.02, 0.5, 0.9, 1e-4, 0.05, 1}},
        {make_adamw, {0.05, 0.8, 0.999, 1e-8, 0.1, 1}},
        {make_adagrad, {0.1, 0.05, 0.01, 0.1, 1e-10}},
    };
    for (int dt = 0; dt < 2; dt++) {
        eng_dtype dtype = dt ? ENG_F32 : ENG_F64;
        fixture *fx = fixture_load(dt ? "adam_amsgrad_wd_f32.bin" : "adam_amsgrad_wd_f64.bin");
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
            eng_layer *la, *lb, *lc;
            eng_model *ma = linear_model(dtype, &la), *mb = linear_model(dtype, &lb);
            eng_model *mc = linear_model(dtype, &lc);
            set_param(la, "weight", fixture_get(fx, "weight"));
            set_param(la, "bias", fixture_get(fx, "bias"));
            set_param(lb, "weight", fixture_get(fx, "weight"));
            set_param(lb, "bias", fixture_get(fx, "bias"));
            eng_optimizer *a, *b, *c;
            assert_ok(kinds[i].make(ma, kinds[i].options, &a));
            assert_ok(kinds[i].make(mb, kinds[i].options, &b));
            assert_ok(kinds[i].make(mc, kinds[i].options, &c));
            a->lr = b->lr = kinds[i].options[0] / 2; /* as a schedule would have left it */
            run_steps(a, la, fx, 0, 20);
            run_steps(b, lb, fx, 0, 10);
            copy_state(c, lc, b, lb);
            eng_optimizer_release(b); /* nothing of the first half survives but the copy */
            eng_model_release(mb);
            run_steps(c, lc, fx, 10, 20);
            assert_int_equal(c->steps, 20);
            for (int j = 0; j < 2; j++) {
                double d = max_abs_diff(lc->params[j].value, la->params[j].value);
                if (d != 0)
                    print_message("%s %s: resumed run differs by %g\n", a->ops->kind,
                                  eng_dtype_name(dtype), d);
                assert_true(d == 0);
            }
            eng_optimizer_release(a);
            eng_optimizer_release(c);
            eng_model_release(ma);
            eng_model_release(mc);
        }
        fixture_free(fx);
    }
}

static void test_adam_first_step_by_hand(void **state)
{
    (void)state;
    /* lr 0.1, betas (0.9, 0.999), eps 1e-8, p = 1, g = 0.5:
     * m = 0.05, v = 0.00025; step_size = 0.1 / (1 - 0.9) = 1, sqrt(v) / sqrt(1 - 0.999) = 0.5
     * p = 1 - 1 * 0.05 / (0.5 + 1e-8) = 1 - 0.1 / (1 + 2e-8) */
    eng_layer *l;
    eng_model *m = linear_model(ENG_F64, &l);
    eng_tensor_fill(l->params[0].value, 1);
    eng_tensor_fill(l->params[0].grad, 0.5);
    eng_adam_options o = ENG_ADAM_DEFAULTS;
    o.lr = 0.1;
    eng_optimizer *opt;
    assert_ok(eng_adam_new(eng_model_params(m), &o, &opt));
    assert_ok(eng_optimizer_step(opt));
    assert_double_close(ENG_F64_DATA(l->params[0].value)[3], 1 - 0.1 / (1 + 2e-8), 1e-15);
    /* a zero gradient leaves the bias where it was: m = v = 0, the update is 0 / eps */
    assert_true(ENG_F64_DATA(l->params[1].value)[0] == ENG_F64_DATA(l->params[1].value)[0]);
    assert_string_equal(opt->ops->kind, "adam");
    assert_string_equal(opt->ops->slot_names[0], "exp_avg");
    assert_null(opt->slots[2]); /* max_exp_avg_sq only with amsgrad */
    const char *names[8];
    double values[8];
    assert_int_equal(opt->ops->hyper(opt, names, values, 8), 6);
    assert_string_equal(names[1], "beta1");
    assert_true(values[1] == 0.9 && values[2] == 0.999 && values[5] == 0);
    eng_optimizer_release(opt);
    eng_model_release(m);
}

static void test_adamw_decays_weights_without_touching_the_gradient(void **state)
{
    (void)state;
    /* With a zero gradient only the decoupled decay acts: p = p * (1 - lr * weight_decay). */
    eng_layer *l;
    eng_model *m = linear_model(ENG_F64, &l);
    eng_tensor_fill(l->params[0].value, 2);
    eng_adam_options o = ENG_ADAMW_DEFAULTS;
    o.lr = 0.1;
    o.weight_decay = 0.5;
    eng_optimizer *opt;
    assert_ok(eng_adamw_new(eng_model_params(m), &o, &opt));
    assert_ok(eng_optimizer_step(opt));
    assert_ok(eng_optimizer_step(opt));
    assert_double_close(ENG_F64_DATA(l->params[0].value)[0], 2 * 0.95 * 0.95, 1e-15);
    /* Adam's L2 decay goes through the moments instead: the first step moves by about lr. */
    eng_optimizer_release(opt);
    eng_tensor_fill(l->params[0].value, 2);
    o = ENG_ADAM_DEFAULTS;
    o.lr = 0.1;
    o.weight_decay = 0.5;
    assert_ok(eng_adam_new(eng_model_params(m), &o, &opt));
    assert_ok(eng_optimizer_step(opt));
    assert_double_close(ENG_F64_DATA(l->params[0].value)[0], 2 - 0.1 / (1 + 1e-8), 1e-15);
    eng_optimizer_release(opt);
    eng_model_release(m);
}

static void test_adagrad_and_rmsprop_steps_by_hand(void **state)
{
    (void)state;
    /* Adagrad lr 0.5, initial_accumulator_value 5, g = 2: sum = 9, p = 1 - 0.5 * 2 / 3 */
    eng_layer *l;
    eng_model *m = linear_model(ENG_F64, &l);
    eng_tensor_fill(l->params[0].value, 1);
    eng_tensor_fill(l->params[0].grad, 2);
    eng_adagrad_options ao = ENG_ADAGRAD_DEFAULTS;
    ao.lr = 0.5;
    ao.initial_accumulator_value = 5;
    ao.eps = 0;
    eng_optimizer *opt;
    assert_ok(eng_adagrad_new(eng_model_params(m), &ao, &opt));
    assert_ok(eng_optimizer_step(opt));
    assert_double_close(ENG_F64_DATA(l->params[0].value)[0], 1 - 1.0 / 3, 1e-15);
    assert_true(ENG_F64_DATA(opt->slots[0])[0] == 9);
    assert_true(ENG_F64_DATA(opt->slots[1])[0] == 5); /* the bias's gradient is 0 */
    eng_optimizer_release(opt);
    /* RMSprop lr 0.1, alpha 0.75, eps 0, g = 2: square_avg = 0.25 * 4 = 1, p = 1 - 0.1 * 2 */
    eng_tensor_fill(l->params[0].value, 1);
    eng_rmsprop_options ro = ENG_RMSPROP_DEFAULTS;
    ro.lr = 0.1;
    ro.alpha = 0.75;
    ro.eps = 0;
    assert_ok(eng_rmsprop_new(eng_model_params(m), &ro, &opt));
    assert_ok(eng_optimizer_step(opt));
    assert_double_close(ENG_F64_DATA(l->params[0].value)[0], 0.8, 1e-15);
    /* centered: grad_avg = 0.5, avg = sqrt(1 - 0.25) */
    eng_optimizer_release(opt);
    eng_tensor_fill(l->params[0].value, 1);
    ro.centered = true;
    assert_ok(eng_rmsprop_new(eng_model_params(m), &ro, &opt));
    assert_ok(eng_optimizer_step(opt));
    assert_double_close(ENG_F64_DATA(l->params[0].value)[0], 1 - 0.2 / sqrt(0.75), 1e-15);
    assert_non_null(slot_named(opt, 0, "grad_avg"));
    assert_null(slot_named(opt, 0, "momentum_buffer"));
    eng_optimizer_release(opt);
    eng_model_release(m);
}

static void test_adaptive_optimizers_reject_bad_options(void **state)
{
    (void)state;
    eng_layer *l;
    eng_model *m = linear_model(ENG_F32, &l);
    eng_optimizer *opt = (eng_optimizer *)1;
    eng_rmsprop_options r = ENG_RMSPROP_DEFAULTS;
    r.lr = -1;
    assert_error(eng_rmsprop_new(eng_model_params(m), &r, &opt), ENG_EARG, "rmsprop: lr = -1",
                 "lr > 0");
    assert_null(opt);
    r = ENG_RMSPROP_DEFAULTS;
    r.alpha = -0.5;
    assert_error(eng_rmsprop_new(eng_model_params(m), &r, &opt), ENG_EARG, "alpha = -0.5");
    r = ENG_RMSPROP_DEFAULTS;
    r.eps = -1e-8;
    assert_error(eng_rmsprop_new(eng_model_params(m), &r, &opt), ENG_EARG, "eps = -1e-08");
    r = ENG_RMSPROP_DEFAULTS;
    r.momentum = NAN;
    assert_error(eng_rmsprop_new(eng_model_params(m), &r, &opt), ENG_EARG, "momentum = nan");
    r = ENG_RMSPROP_DEFAULTS;
    r.weight_decay = -1;
    assert_error(eng_rmsprop_new(eng_model_params(m), &r, &opt), ENG_EARG, "weight_decay = -1");

    eng_adam_options a = ENG_ADAM_DEFAULTS;
    a.lr = 0;
    assert_error(eng_adam_new(eng_model_params(m), &a, &opt), ENG_EARG, "adam: lr = 0");
    a = ENG_ADAM_DEFAULTS;
    a.beta1 = 1;
    assert_error(eng_adam_new(eng_model_params(m), &a, &opt), ENG_EARG,
                 "adam: beta1 (betas[1]) = 1");
    a = ENG_ADAMW_DEFAULTS;
    a.beta2 = -0.1;
    assert_error(eng_adamw_new(eng_model_params(m), &a, &opt), ENG_EARG,
                 "adamw: beta2 (betas[2]) = -0.1");
    a = ENG_ADAMW_DEFAULTS;
    a.eps = -1;
    assert_error(eng_adamw_new(eng_model_params(m), &a, &opt), ENG_EARG, "adamw: eps = -1");
    a = ENG_ADAM_DEFAULTS;
    a.weight_decay = -0.01;
    assert_error(eng_adam_new(eng_model_params(m), &a, &opt), ENG_EARG, "weight_decay = -0.01");

    eng_adagrad_options g = ENG_ADAGRAD_DEFAULTS;
    g.lr = NAN;
    assert_error(eng_adagrad_new(eng_model_params(m), &g, &opt), ENG_EARG, "adagrad: lr = nan");
    g = ENG_ADAGRAD_DEFAULTS;
    g.lr_decay = -1;
    assert_error(eng_adagrad_new(eng_model_params(m), &g, &opt), ENG_EARG, "lr_decay = -1");
    g = ENG_ADAGRAD_DEFAULTS;
    g.initial_accumulator_value = -1;
    assert_error(eng_adagrad_new(eng_model_params(m), &g, &opt), ENG_EARG,
                 "initial_accumulator_value = -1");
    g = ENG_ADAGRAD_DEFAULTS;
    g.eps = -1;
    assert_error(eng_adagrad_new(eng_model_params(m), &g, &opt), ENG_EARG, "adagrad: eps = -1");
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
        cmocka_unit_test(test_adaptive_optimizers_match_torch_for_20_steps_in_f64),
        cmocka_unit_test(test_adaptive_optimizers_match_torch_for_20_steps_in_f32),
        cmocka_unit_test(test_a_run_resumed_from_slots_steps_and_lr_is_bit_identical),
        cmocka_unit_test(test_adam_first_step_by_hand),
        cmocka_unit_test(test_adamw_decays_weights_without_touching_the_gradient),
        cmocka_unit_test(test_adagrad_and_rmsprop_steps_by_hand),
        cmocka_unit_test(test_adaptive_optimizers_reject_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
