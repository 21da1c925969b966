/* The gradient checker against a zoo of deliberately wrong backward passes, correct layers at
 * kinks, tiny gradients, nondeterminism and float32. Each wrong backward is a built-in layer
 * whose vtable's backward is replaced by one that post-processes the correct result. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h"
#include "gradcheck/gradcheck.h"

#define OK(call) assert_int_equal((call), ENG_OK)

#include "gradcheck_nets.h"

static batch make_batch(eng_dtype dtype, uint64_t seed)
{
    return make_batch_of(dtype, seed, false, NULL);
}

static const eng_gc_tensor_report *find_tensor(const eng_gc_report *r, const char *name)
{
    const eng_gc_tensor_report *t = find(r, name);
    if (!t) {
        print_report(r);
        fail_msg("no tensor %s in the report", name);
    }
    return t;
}

/* Runs a whole-model check of small_cnn with the bug in one layer; returns the report. */
static eng_gc_report *check_model(eng_model *m, eng_loss *loss, batch *b, int64_t samples)
{
    eng_gc_objective *obj;
    eng_gc_report *r;
    OK(eng_gc_model_objective(m, loss, b->x, b->y, false, &obj));
    eng_gc_options opts = {.samples = samples, .seed = 7};
    OK(eng_gc_check(obj, &opts, &r));
    eng_gc_objective_release(obj);
    return r;
}

static void expect_failure(eng_gc_report *r, const char *tensor, const char *diagnosis)
{
    const eng_gc_tensor_report *t = find_tensor(r, tensor);
    if (r->verdict != ENG_GC_FAIL || strcmp(r->first_failing, tensor) != 0 ||
        t->verdict != ENG_GC_FAIL || !strstr(t->diagnosis, diagnosis)) {
        print_report(r);
        fail_msg("expected %s to FAIL first with '%s'", tensor, diagnosis);
    }
    for (int i = 0; i < r->ntensors; i++)
        if (r->tensors[i].verdict == ENG_GC_FAIL && strcmp(r->tensors[i].layer, t->layer) != 0 &&
            strstr(r->summary, "loss") == NULL) {
            /* A wrong weight gradient never leaks into other layers' gradients. */
            print_report(r);
            fail_msg("%s fails too", r->tensors[i].name);
        }
}

static void run_zoo_case(int layer, bug kind, const char *tensor, const char *diagnosis)
{
    eng_rng_seed(eng_rng_global(), 11);
    eng_model *m = small_cnn(ENG_F64, layer, kind, 1.0);
    batch b = make_batch(ENG_F64, 5);
    eng_loss *ce;
    OK(eng_cross_entropy_new(&ce));
    eng_gc_report *r = check_model(m, ce, &b, 24);
    expect_failure(r, tensor, diagnosis);
    eng_gc_report_free(r);
    eng_loss_release(ce);
    eng_model_release(m);
    free_batch(&b);
}

static void test_gradcheck_names_a_doubled_gradient(void **state)
{
    (void)state;
    run_zoo_case(5, BUG_DOUBLED, "linear_1.weight", "scale 2");
}

static void test_gradcheck_names_a_sign_flip(void **state)
{
    (void)state;
    run_zoo_case(7, BUG_SIGN, "linear_2.weight", "sign");
}

static void test_gradcheck_names_a_transposed_weight_gradient(void **state)
{
    (void)state;
    run_zoo_case(5, BUG_TRANSPOSED, "linear_1.weight", "transpose");
}

static void test_gradcheck_names_a_bias_gradient_not_summed_over_the_batch(void **state)
{
    (void)state;
    run_zoo_case(1, BUG_BIAS_FIRST_SAMPLE, "conv2d_1.bias", "sample 1's gradient alone");
}

static void test_gradcheck_names_a_gradient_of_the_first_sample_only(void **state)
{
    (void)state;
    run_zoo_case(5, BUG_FIRST_SAMPLE_ONLY, "linear_1.weight", "sample 1's gradient alone");
}

/* The seed question: a 0.86 factor on gradients of about 1e-10. */
static void test_gradcheck_names_a_086_factor_on_tiny_gradients(void **state)
{
    (void)state;
    eng_rng_seed(eng_rng_global(), 11);
    bug_factor = 0.86;
    eng_model *m = small_cnn(ENG_F64, 1, BUG_SCALE, 1e-4);
    batch b = make_batch(ENG_F64, 5);
    eng_loss *ce;
    OK(eng_cross_entropy_new(&ce));
    eng_gc_report *r = check_model(m, ce, &b, 24);
    const eng_gc_tensor_report *t = find_tensor(r, "conv2d_1.weight");
    if (!(t->grad_rms > 1e-12 && t->grad_rms < 1e-8)) {
        print_report(r);
        fail_msg("conv2d_1.weight gradients should be tiny, rms %g", t->grad_rms);
    }
    expect_failure(r, "conv2d_1.weight", "scale 0.86");
    bug_factor = 1.0;
    if (!strstr(t->diagnosis, "vanishing")) {
        print_report(r);
        fail_msg("tiny gradients should be called vanishing");
    }
    eng_gc_report_free(r);
    eng_loss_release(ce);
    eng_model_release(m);
    free_batch(&b);
}

/* The loss's backward forgets 1/N: every tensor is off by the batch size. */
static const eng_loss_ops *original_loss_ops;
static eng_loss_ops missing_mean_ops;

static eng_status missing_mean_backward(eng_loss *loss, const eng_tensor *input,
                                        const eng_tensor *target, eng_tensor *dinput)
{
    eng_status st = original_loss_ops->backward(loss, input, target, dinput);
    if (!st)
        st = eng_tensor_binary_scalar(dinput, dinput, (double)input->shape[0], ENG_MUL);
    return st;
}

static void test_gradcheck_names_a_missing_one_over_n_in_the_loss(void **state)
{
    (void)state;
    eng_rng_seed(eng_rng_global(), 11);
    eng_model *m = small_cnn(ENG_F64, 0, BUG_NONE, 1.0);
    batch b = make_batch(ENG_F64, 5);
    eng_loss *ce;
    OK(eng_cross_entropy_new(&ce));
    original_loss_ops = ce->ops;
    missing_mean_ops = *ce->ops;
    missing_mean_ops.backward = missing_mean_backward;
    ce->ops = &missing_mean_ops;
    eng_gc_report *r = check_model(m, ce, &b, 16);
    const eng_gc_tensor_report *t = find_tensor(r, "linear_2.bias");
    if (r->verdict != ENG_GC_FAIL || !strstr(t->diagnosis, "batch size 4") ||
        !strstr(r->summary, "missing 1/N") || !strstr(r->summary, "loss")) {
        print_report(r);
        fail_msg("expected every tensor to fail by the batch size, blamed on the loss");
    }
    eng_gc_report_free(r);
    eng_loss_release(ce);
    eng_model_release(m);
    free_batch(&b);
}

/* conv padding off by one: the input gradient is wrong on the border only; the layer-wise
 * mode pins it on the layer. */
static void test_gradcheck_layerwise_names_a_conv_border_bug(void **state)
{
    (void)state;
    eng_rng_seed(eng_rng_global(), 11);
    eng_model *m = small_cnn(ENG_F64, 1, BUG_BORDER_DX, 1.0);
    batch b = make_batch(ENG_F64, 5);
    eng_gc_report *r;
    eng_gc_options opts = {.samples = 40, .seed = 3};
    OK(eng_gc_check_layers(m, b.x, &opts, &r));
    expect_failure(r, "conv2d_1.input", "border");
    if (!strstr(r->summary, "conv2d_1")) {
        print_report(r);
        fail_msg("the summary should name conv2d_1");
    }
    eng_gc_report_free(r);
    eng_model_release(m);
    free_batch(&b);
}

/* Correct layers with inputs exactly on ReLU zeros and max-pool ties: kinks, never FAIL. */
static void test_gradcheck_reports_kinks_at_relu_zeros_and_pool_ties(void **state)
{
    (void)state;
    eng_rng_seed(eng_rng_global(), 2);
    eng_layer *relu, *pool;
    OK(eng_relu_new(&relu));
    OK(eng_maxpool2d_new(2, 2, 0, 0, 0, 0, &pool));
    int64_t shape[4] = {2, 2, 4, 4};
    eng_tensor *x;
    OK(eng_tensor_new(ENG_F64, 4, shape, &x));
    OK(eng_tensor_normal(x, NULL, 0.0, 1.0));
    for (int64_t i = 0; i < eng_tensor_numel(x); i += 3)
        eng_tensor_set_flat(x, i, 0.0); /* ReLU kinks; ties of zeros in the pool windows */
    eng_layer *layers[2] = {relu, pool};
    for (int k = 0; k < 2; k++) {
        eng_gc_objective *obj;
        eng_gc_report *r;
        OK(eng_gc_layer_objective(layers[k], x, NULL, &obj));
        eng_gc_options opts = {.seed = 1};
        /* With branches frozen at the base point there is no kink: every element decides. */
        OK(eng_gc_check(obj, &opts, &r));
        const eng_gc_tensor_report *t = find_tensor(r, "input");
        if (r->verdict != ENG_GC_PASS || !r->kink_free || t->kinks != 0 ||
            t->passed != t->checked) {
            print_report(r);
            fail_msg("%s: frozen branches must decide every element (PASS)", layers[k]->ops->kind);
        }
        eng_gc_report_free(r);
        /* Plain differences (as for a layer that cannot freeze): kinks, never FAIL. */
        obj->freeze = NULL;
        OK(eng_gc_check(obj, &opts, &r));
        t = find_tensor(r, "input");
        if (r->verdict == ENG_GC_FAIL || r->kink_free || t->kinks == 0 || t->passed == 0) {
            print_report(r);
            fail_msg("%s: kinks must be reported, not failed", layers[k]->ops->kind);
        }
        eng_gc_report_free(r);
        eng_gc_objective_release(obj);
    }
    eng_tensor_release(x);
    eng_layer_release(relu);
    eng_layer_release(pool);
}

/* Every built-in layer kind passes alone in f64. */
static void test_gradcheck_passes_every_builtin_layer(void **state)
{
    (void)state;
    eng_rng_seed(eng_rng_global(), 4);
    eng_conv2d_options strided = {.stride_h = 2,
                                  .stride_w = 1,
                                  .padding_h = 1,
                                  .padding_w = 2,
                                  .dilation_h = 2,
                                  .dilation_w = 1};
    eng_layer *layers[10];
    OK(eng_conv2d_new(3, 4, 3, 2, &strided, ENG_F64, NULL, &layers[0]));
    OK(eng_maxpool2d_new(3, 2, 2, 1, 1, 1, &layers[1]));
    OK(eng_avgpool2d_new(3, 3, 2, 2, 1, 1, &layers[2]));
    OK(eng_relu_new(&layers[3]));
    OK(eng_leaky_relu_new(0.1, &layers[4]));
    OK(eng_tanh_new(&layers[5]));
    OK(eng_sigmoid_new(&layers[6]));
    OK(eng_flatten_new(&layers[7]));
    OK(eng_dropout_new(0.3, NULL, &layers[8]));
    OK(eng_linear_new(3 * 7 * 7, 5, true, ENG_F64, NULL, &layers[9]));
    int64_t shape[4] = {3, 3, 7, 7};
    eng_tensor *x, *flat;
    OK(eng_tensor_new(ENG_F64, 4, shape, &x));
    OK(eng_tensor_normal(x, NULL, 0.0, 1.0));
    int64_t fshape[2] = {3, 3 * 7 * 7};
    OK(eng_tensor_reshape(x, 2, fshape, &flat));
    for (int k = 0; k < 10; k++) {
        eng_gc_objective *obj;
        eng_gc_report *r;
        OK(eng_gc_layer_objective(layers[k], k == 9 ? flat : x, NULL, &obj));
        eng_gc_options opts = {.samples = 30, .seed = (uint64_t)k};
        OK(eng_gc_check(obj, &opts, &r));
        if (r->verdict != ENG_GC_PASS) {
            print_report(r);
            fail_msg("%s should pass", layers[k]->ops->kind);
        }
        eng_gc_report_free(r);
        eng_gc_objective_release(obj);
        eng_layer_release(layers[k]);
    }
    eng_tensor_release(flat);
    eng_tensor_release(x);
}

/* The false-positive rate: correct nets on 200 seeds never FAIL. Also at gradients ~1e-11. */
static void test_gradcheck_never_fails_correct_nets_or_layers_over_200_seeds(void **state)
{
    (void)state;
    int fails = 0, passes = 0;
    for (uint64_t seed = 1; seed <= 200; seed++) {
        eng_rng_seed(eng_rng_global(), seed);
        double tail = seed % 4 == 0 ? 1e-5 : 1.0; /* one net in four has ~1e-11 gradients */
        eng_model *m = small_cnn(ENG_F64, 0, BUG_NONE, tail);
        batch b = make_batch(ENG_F64, seed * 7919);
        eng_loss *ce;
        OK(eng_cross_entropy_new(&ce));
        eng_gc_report *r = check_model(m, ce, &b, 4);
        if (r->verdict == ENG_GC_FAIL) {
            print_message("seed %llu:\n", (unsigned long long)seed);
            print_report(r);
            fails++;
        }
        passes += r->verdict == ENG_GC_PASS;
        eng_gc_report_free(r);
        eng_loss_release(ce);
        eng_model_release(m);
        free_batch(&b);
    }
    print_message("200 correct nets: %d PASS, %d FAIL\n", passes, fails);
    assert_int_equal(fails, 0);
    assert_true(passes >= 100);
    /* and 200 correct layers alone, cycling through the kinds with random inputs */
    int layer_fails = 0;
    for (uint64_t seed = 1; seed <= 200; seed++) {
        eng_rng_seed(eng_rng_global(), seed);
        eng_layer *layer = NULL;
        eng_conv2d_options pad = {.padding_h = 1, .padding_w = 1};
        switch (seed % 8) {
        case 0: OK(eng_conv2d_new(2, 3, 3, 3, &pad, ENG_F64, NULL, &layer)); break;
        case 1: OK(eng_maxpool2d_new(2, 2, 0, 0, 0, 0, &layer)); break;
        case 2: OK(eng_avgpool2d_new(3, 3, 2, 2, 1, 1, &layer)); break;
        case 3: OK(eng_relu_new(&layer)); break;
        case 4: OK(eng_leaky_relu_new(0.2, &layer)); break;
        case 5: OK(eng_tanh_new(&layer)); break;
        case 6: OK(eng_sigmoid_new(&layer)); break;
        default: OK(eng_flatten_new(&layer)); break;
        }
        int64_t shape[4] = {2, 2, 6, 6};
        eng_tensor *x;
        OK(eng_tensor_new(ENG_F64, 4, shape, &x));
        OK(eng_tensor_normal(x, NULL, 0.0, 1.0));
        eng_gc_objective *obj;
        eng_gc_report *r;
        OK(eng_gc_layer_objective(layer, x, NULL, &obj));
        eng_gc_options opts = {.samples = 6, .seed = seed};
        OK(eng_gc_check(obj, &opts, &r));
        if (r->verdict == ENG_GC_FAIL) {
            print_message("layer %s, seed %llu:\n", layer->ops->kind, (unsigned long long)seed);
            print_report(r);
            layer_fails++;
        }
        eng_gc_report_free(r);
        eng_gc_objective_release(obj);
        eng_tensor_release(x);
        eng_layer_release(layer);
    }
    print_message("200 correct layers: %d FAIL\n", layer_fails);
    assert_int_equal(layer_fails, 0);
}

static void test_gradcheck_calls_dropout_in_training_nondeterministic(void **state)
{
    (void)state;
    eng_model *m;
    eng_layer *l;
    OK(eng_model_new(&m));
    OK(eng_linear_new(6, 4, true, ENG_F64, NULL, &l));
    OK(eng_model_add(m, l));
    eng_layer_release(l);
    OK(eng_dropout_new(0.5, NULL, &l));
    OK(eng_model_add(m, l));
    eng_layer_release(l);
    int64_t xs[2] = {3, 6}, ys[2] = {3, 4};
    eng_tensor *x, *y;
    OK(eng_tensor_new(ENG_F64, 2, xs, &x));
    OK(eng_tensor_new(ENG_F64, 2, ys, &y));
    OK(eng_tensor_normal(x, NULL, 0, 1));
    eng_loss *mse;
    OK(eng_mse_new(&mse));
    eng_gc_objective *obj;
    eng_gc_report *r;
    OK(eng_gc_model_objective(m, mse, x, y, false, &obj));
    OK(eng_gc_check(obj, NULL, &r));
    assert_true(r->nondeterministic);
    assert_int_equal(r->verdict, ENG_GC_INCONCLUSIVE);
    assert_non_null(strstr(r->warning, "eval"));
    eng_gc_report_free(r);
    eng_gc_objective_release(obj);
    eng_model_set_training(m, false);
    OK(eng_gc_model_objective(m, mse, x, y, false, &obj));
    OK(eng_gc_check(obj, NULL, &r));
    assert_int_equal(r->verdict, ENG_GC_PASS);
    eng_gc_report_free(r);
    eng_gc_objective_release(obj);
    eng_loss_release(mse);
    eng_model_release(m);
    eng_tensor_release(x);
    eng_tensor_release(y);
}

static void test_gradcheck_warns_about_float32_and_does_not_fail_it(void **state)
{
    (void)state;
    eng_rng_seed(eng_rng_global(), 11);
    eng_model *m = small_cnn(ENG_F32, 0, BUG_NONE, 1.0);
    batch b = make_batch(ENG_F32, 5);
    eng_loss *ce;
    OK(eng_cross_entropy_new(&ce));
    eng_gc_report *r = check_model(m, ce, &b, 12);
    if (r->verdict == ENG_GC_FAIL || !strstr(r->warning, "float32") || !strstr(r->warning, "f64")) {
        print_report(r);
        fail_msg("a correct f32 model: a warning, no FAIL");
    }
    eng_gc_report_free(r);
    eng_loss_release(ce);
    eng_model_release(m);
    free_batch(&b);
}

static void test_gradcheck_rejects_bad_options_and_names(void **state)
{
    (void)state;
    eng_rng_seed(eng_rng_global(), 11);
    eng_model *m = small_cnn(ENG_F64, 0, BUG_NONE, 1.0);
    batch b = make_batch(ENG_F64, 5);
    eng_loss *ce;
    OK(eng_cross_entropy_new(&ce));
    eng_gc_objective *obj;
    eng_gc_report *r;
    OK(eng_gc_model_objective(m, ce, b.x, b.y, false, &obj));
    eng_gc_options opts = {.samples = -1};
    assert_int_equal(eng_gc_check(obj, &opts, &r), ENG_EARG);
    opts = (eng_gc_options){.only = "conv9.weight"};
    assert_int_equal(eng_gc_check(obj, &opts, &r), ENG_EARG);
    assert_non_null(strstr(eng_errmsg(), "conv9.weight"));
    eng_gc_objective_release(obj);
    /* a batch of the wrong shape is named with its shape */
    int64_t bad[4] = {4, 2, 8, 8};
    eng_tensor *x;
    OK(eng_tensor_new(ENG_F64, 4, bad, &x));
    assert_int_equal(eng_gc_model_objective(m, ce, x, b.y, false, &obj), ENG_ESHAPE);
    assert_non_null(strstr(eng_errmsg(), "[4,2,8,8]"));
    eng_tensor_release(x);
    eng_loss_release(ce);
    eng_model_release(m);
    free_batch(&b);
}

static void test_gradcheck_directional_mode_passes_and_bisects(void **state)
{
    (void)state;
    for (int buggy = 0; buggy <= 1; buggy++) {
        eng_rng_seed(eng_rng_global(), 11);
        eng_model *m = small_cnn(ENG_F64, buggy ? 5 : 0, BUG_DOUBLED, 1.0);
        batch b = make_batch(ENG_F64, 5);
        eng_loss *ce;
        OK(eng_cross_entropy_new(&ce));
        eng_gc_objective *obj;
        eng_gc_report *r;
        OK(eng_gc_model_objective(m, ce, b.x, b.y, false, &obj));
        eng_gc_options opts = {.seed = 2};
        OK(eng_gc_check_directions(obj, 6, &opts, &r));
        bool right = buggy ? r->verdict == ENG_GC_FAIL && r->ntensors == 1 &&
                                 strcmp(r->first_failing, "linear_1.weight") == 0 &&
                                 strstr(r->tensors[0].diagnosis, "scale 2") &&
                                 strstr(r->tensors[0].advice, "bisection")
                           : r->verdict == ENG_GC_PASS && r->directions_failed == 0;
        if (!right) {
            print_report(r);
            fail_msg("directional mode, buggy = %d", buggy);
        }
        eng_gc_report_free(r);
        eng_gc_objective_release(obj);
        eng_loss_release(ce);
        eng_model_release(m);
        free_batch(&b);
    }
}

/* The remainder shrinks as h^2 with the right gradient and as h with a wrong one. */
static void test_gradcheck_taylor_slope_is_two_when_right_and_one_when_wrong(void **state)
{
    (void)state;
    for (int buggy = 0; buggy <= 1; buggy++) {
        eng_rng_seed(eng_rng_global(), 11);
        eng_model *m = small_cnn(ENG_F64, buggy ? 7 : 0, BUG_SIGN, 1.0);
        batch b = make_batch(ENG_F64, 5);
        eng_loss *ce;
        OK(eng_cross_entropy_new(&ce));
        eng_gc_objective *obj;
        OK(eng_gc_model_objective(m, ce, b.x, b.y, false, &obj));
        double slope, r[8];
        OK(eng_gc_taylor(obj, 4 /* linear_2.weight */, 1e-2, 8, 3, &slope, r));
        print_message("buggy %d: slope %.3f\n", buggy, slope);
        assert_true(buggy ? fabs(slope - 1) < 0.1 : fabs(slope - 2) < 0.1);
        eng_gc_objective_release(obj);
        eng_loss_release(ce);
        eng_model_release(m);
        free_batch(&b);
    }
}

/* The plain central difference's error over steps is V-shaped: large at 1e-1 (truncation)
 * and at 1e-12 (round-off), small in between. */
static void test_gradcheck_sweep_traces_the_v_curve(void **state)
{
    (void)state;
    eng_rng_seed(eng_rng_global(), 11);
    eng_model *m = small_cnn(ENG_F64, 0, BUG_NONE, 1.0);
    batch b = make_batch(ENG_F64, 5);
    eng_loss *ce;
    OK(eng_cross_entropy_new(&ce));
    eng_gc_objective *obj;
    OK(eng_gc_model_objective(m, ce, b.x, b.y, false, &obj));
    double steps[12], errors[12];
    for (int i = 0; i < 12; i++)
        steps[i] = pow(10.0, -(i + 1));
    OK(eng_gc_sweep(obj, 5 /* linear_2.bias */, steps, 12, 5, 1, errors));
    double best = INFINITY;
    for (int i = 0; i < 12; i++) {
        print_message("h %.0e: %.3e\n", steps[i], errors[i]);
        best = fmin(best, errors[i]);
    }
    assert_true(best < 1e-8);
    assert_true(errors[0] > 100 * best);
    assert_true(errors[11] > 100 * best);
    eng_gc_objective_release(obj);
    eng_loss_release(ce);
    eng_model_release(m);
    free_batch(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradcheck_names_a_doubled_gradient),
        cmocka_unit_test(test_gradcheck_names_a_sign_flip),
        cmocka_unit_test(test_gradcheck_names_a_transposed_weight_gradient),
        cmocka_unit_test(test_gradcheck_names_a_bias_gradient_not_summed_over_the_batch),
        cmocka_unit_test(test_gradcheck_names_a_gradient_of_the_first_sample_only),
        cmocka_unit_test(test_gradcheck_names_a_086_factor_on_tiny_gradients),
        cmocka_unit_test(test_gradcheck_names_a_missing_one_over_n_in_the_loss),
        cmocka_unit_test(test_gradcheck_layerwise_names_a_conv_border_bug),
        cmocka_unit_test(test_gradcheck_reports_kinks_at_relu_zeros_and_pool_ties),
        cmocka_unit_test(test_gradcheck_passes_every_builtin_layer),
        cmocka_unit_test(test_gradcheck_never_fails_correct_nets_or_layers_over_200_seeds),
        cmocka_unit_test(test_gradcheck_calls_dropout_in_training_nondeterministic),
        cmocka_unit_test(test_gradcheck_warns_about_float32_and_does_not_fail_it),
        cmocka_unit_test(test_gradcheck_rejects_bad_options_and_names),
        cmocka_unit_test(test_gradcheck_directional_mode_passes_and_bisects),
        cmocka_unit_test(test_gradcheck_taylor_slope_is_two_when_right_and_one_when_wrong),
        cmocka_unit_test(test_gradcheck_sweep_traces_the_v_curve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
