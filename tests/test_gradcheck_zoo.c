/* The gradient checker's zoo, second part: bugs in parameter-free layers (ReLU, max-pool, the
 * loss) and in input gradients, which the whole-model check must localise to the right layer
 * in its first call; and correct nets with exact ReLU zeros and max-pool ties, which no mode
 * may FAIL, at any forced step. Each wrong backward is a built-in layer (or loss) whose
 * vtable's backward is replaced by one that changes the correct result. */
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

static const eng_loss_ops *original_loss_ops;
static eng_loss_ops buggy_loss_ops;

static eng_status buggy_loss_backward(eng_loss *loss, const eng_tensor *input,
                                      const eng_tensor *target, eng_tensor *dinput)
{
    eng_status st = original_loss_ops->backward(loss, input, target, dinput);
    if (!st) /* the mean's 1/N is missing */
        st = eng_tensor_binary_scalar(dinput, dinput, (double)input->shape[0], ENG_MUL);
    return st;
}

static double tail_scale = 1.0; /* shrinks the linear weights: tiny first-layer gradients */
static eng_dtype net_dtype = ENG_F64;

/* gradcheck_nets.h's small CNN in net_dtype with tail_scale; buggy: the 1-based position of
 * the planted bug (0: none). */
static eng_model *zoo_cnn(int buggy, bug kind)
{
    return small_cnn(net_dtype, buggy, kind, tail_scale);
}

static void make_batch(uint64_t seed, bool zeros, eng_model *m, eng_tensor **x, eng_tensor **y)
{
    batch b = make_batch_of(net_dtype, seed, zeros, m);
    *x = b.x;
    *y = b.y;
}

typedef enum mode { MODE_DEFAULT, MODE_INPUT, MODE_DIRECTIONAL, MODE_LAYERS } mode;
static const char *const mode_names[] = {"default", "input", "directional", "layer-wise"};

static eng_gc_report *run(eng_model *m, eng_loss *loss, eng_tensor *x, eng_tensor *y, mode md,
                          const eng_gc_options *opts)
{
    eng_gc_report *r = NULL;
    if (md == MODE_LAYERS) {
        OK(eng_gc_check_layers(m, x, opts, &r));
        return r;
    }
    eng_gc_objective *obj;
    OK(eng_gc_model_objective(m, loss, x, y, md == MODE_INPUT, &obj));
    if (md == MODE_DIRECTIONAL)
        OK(eng_gc_check_directions(obj, 16, opts, &r));
    else
        OK(eng_gc_check(obj, opts, &r));
    eng_gc_objective_release(obj);
    return r;
}

/* A parameter bug in every mode: the tensor FAILs with the diagnosis, and the culprit is its
 * layer. */
static void expect_diagnosis(int position, bug kind, const char *tensor, const char *phrase)
{
    const mode modes[] = {MODE_DEFAULT, MODE_INPUT, MODE_DIRECTIONAL, MODE_LAYERS};
    for (size_t k = 0; k < sizeof modes / sizeof modes[0]; k++) {
        eng_rng_seed(eng_rng_global(), 11);
        eng_model *m = zoo_cnn(position, kind);
        eng_tensor *x, *y;
        make_batch(5, false, m, &x, &y);
        eng_loss *ce;
        OK(eng_cross_entropy_new(&ce));
        /* layer-wise mode samples by default: one wrong element needs full = true */
        eng_gc_options opts = {.seed = 3, .full = kind == BUG_ONE_ELEMENT};
        eng_gc_report *r = run(m, ce, x, y, modes[k], &opts);
        const eng_gc_tensor_report *t = find(r, tensor);
        char layer[64];
        snprintf(layer, sizeof layer, "%.*s", (int)(strchr(tensor, '.') - tensor), tensor);
        /* directional mode diagnoses from a sample of 16 elements: a scale or sign shows
         * there, a confined bug may only show as the failing tensor */
        bool sampled = modes[k] == MODE_DIRECTIONAL && kind != BUG_SCALE;
        /* but a "partial" it does name must be the right part (not a border for a channel) */
        bool named =
            t && (strstr(t->diagnosis, phrase) || (sampled && !strstr(t->diagnosis, "partial")));
        bool right = r->verdict == ENG_GC_FAIL && t && t->verdict == ENG_GC_FAIL && named &&
                     (modes[k] == MODE_LAYERS || strcmp(r->culprit, layer) == 0);
        if (!right) {
            print_report(r);
            fail_msg("%s mode: expected %s to FAIL with '%s'", mode_names[modes[k]], tensor,
                     phrase);
        }
        print_message("%s mode, %s: %s (grad rms %.2e)\n", mode_names[modes[k]], tensor,
                      t->diagnosis, t->grad_rms);
        eng_gc_report_free(r);
        eng_loss_release(ce);
        eng_model_release(m);
        eng_tensor_release(x);
        eng_tensor_release(y);
    }
}

/* Whether the report puts the bug on `culprit` with `phrase` in its localisation. */
static bool names(const eng_gc_report *r, mode md, const char *culprit, const char *phrase)
{
    if (r->verdict != ENG_GC_FAIL)
        return false;
    /* layer-wise, each layer alone: the first failing tensor is also the culprit's */
    if (md == MODE_LAYERS && strncmp(r->first_failing, culprit, strlen(culprit)) != 0)
        return false;
    return strcmp(r->culprit, culprit) == 0 && strstr(r->localisation, phrase) != NULL;
}

static void expect_localised(int position, bug kind, bool on_loss, const char *culprit,
                             const char *phrase)
{
    const mode modes[] = {MODE_DEFAULT, MODE_INPUT, MODE_DIRECTIONAL, MODE_LAYERS};
    for (size_t k = 0; k < sizeof modes / sizeof modes[0]; k++) {
        if (on_loss && modes[k] == MODE_LAYERS)
            continue; /* layer-wise mode checks layers, not the loss */
        eng_rng_seed(eng_rng_global(), 11);
        eng_model *m = zoo_cnn(position, kind);
        eng_tensor *x, *y;
        make_batch(5, false, m, &x, &y);
        eng_loss *ce;
        OK(eng_cross_entropy_new(&ce));
        if (on_loss) {
            original_loss_ops = ce->ops;
            buggy_loss_ops = *ce->ops;
            buggy_loss_ops.backward = buggy_loss_backward;
            ce->ops = &buggy_loss_ops;
        }
        eng_gc_options opts = {.seed = 3};
        eng_gc_report *r = run(m, ce, x, y, modes[k], &opts);
        if (!names(r, modes[k], culprit, phrase)) {
            print_report(r);
            fail_msg("%s mode: expected a FAIL localised to %s (%s); got %s, culprit '%s'",
                     mode_names[modes[k]], culprit, phrase, eng_gc_verdict_name(r->verdict),
                     r->culprit);
        }
        eng_gc_report_free(r);
        eng_loss_release(ce);
        eng_model_release(m);
        eng_tensor_release(x);
        eng_tensor_release(y);
    }
}

static void test_zoo_localises_a_relu_backward_without_its_mask(void **state)
{
    (void)state;
    expect_localised(2, BUG_RELU_NO_MASK, false, "relu_1", "ignores the mask");
}

static void test_zoo_localises_a_maxpool_routing_bug(void **state)
{
    (void)state;
    expect_localised(3, BUG_POOL_TOP_LEFT, false, "maxpool2d_1", "not the window's maximum");
}

static void test_zoo_localises_a_loss_backward_without_its_one_over_n(void **state)
{
    (void)state;
    expect_localised(0, BUG_NONE, true, "loss", "scale 4");
}

static void test_zoo_localises_an_input_gradient_sign_bug_in_layer_7(void **state)
{
    (void)state;
    expect_localised(7, BUG_DX_SIGN, false, "linear_2", "input gradient wrong: sign");
}

static void test_zoo_names_one_wrong_element(void **state)
{
    (void)state;
    expect_diagnosis(5, BUG_ONE_ELEMENT, "linear_1.weight", "only element (2,3)");
}

static void test_zoo_names_a_row_never_written(void **state)
{
    (void)state;
    expect_diagnosis(5, BUG_ROW, "linear_1.weight", "only rows 2 ");
}

static void test_zoo_names_a_channel_with_the_wrong_sign(void **state)
{
    (void)state;
    expect_diagnosis(1, BUG_CHANNEL, "conv2d_1.weight", "only output channels 2 ");
}

/* 1% and 14% scale bugs, at normal gradients and at gradients around 1e-10. */
static void test_zoo_names_small_scale_bugs_at_normal_and_tiny_magnitudes(void **state)
{
    (void)state;
    const double factors[] = {0.99, 0.86};
    const double tails[] = {1.0, 1e-4, 1e-5}; /* first-layer gradients ~4e-2, 4e-10, 4e-12 */
    for (int f = 0; f < 2; f++) {
        for (int t = 0; t < 3; t++) {
            bug_factor = factors[f];
            tail_scale = tails[t];
            char want[32];
            snprintf(want, sizeof want, "scale %.3g", factors[f]);
            expect_diagnosis(1, BUG_SCALE, "conv2d_1.weight", want);
        }
    }
    tail_scale = 1.0;
    bug_factor = 1.0;
}

/* Correct nets with ReLU zeros and pool ties: no mode FAILs, at the chosen step or at any
 * forced step from 1e-7 to 1e-2. */
static void test_zoo_never_fails_correct_nets_with_relu_zeros_and_pool_ties(void **state)
{
    (void)state;
    const double steps[] = {0, 1e-7, 1e-5, 1e-3, 1e-2};
    for (uint64_t seed = 1; seed <= 4; seed++) {
        eng_rng_seed(eng_rng_global(), seed);
        eng_model *m = zoo_cnn(0, BUG_NONE);
        eng_tensor *x, *y;
        make_batch(seed, true, m, &x, &y);
        eng_loss *ce;
        OK(eng_cross_entropy_new(&ce));
        for (int md = MODE_DEFAULT; md <= MODE_LAYERS; md++) {
            for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
                eng_gc_options opts = {.seed = seed, .step = steps[s]};
                eng_gc_report *r = run(m, ce, x, y, (mode)md, &opts);
                if (r->verdict == ENG_GC_FAIL) {
                    print_report(r);
                    fail_msg("seed %llu, %s mode, step %g: a correct net FAILed",
                             (unsigned long long)seed, mode_names[md], steps[s]);
                }
                eng_gc_report_free(r);
            }
        }
        eng_loss_release(ce);
        eng_model_release(m);
        eng_tensor_release(x);
        eng_tensor_release(y);
    }
}

/* The false-positive rate in every mode: 200 correct nets, half of them with ReLU zeros and
 * max-pool ties, one in four with tiny gradients, each at a step chosen by the checker or
 * forced (1e-7 .. 1e-2), in the default, input, directional and layer-wise modes. */
static void test_zoo_never_fails_200_correct_nets_in_any_mode(void **state)
{
    (void)state;
    const double steps[] = {0, 0, 1e-7, 1e-5, 1e-3, 1e-2};
    int fails = 0, passes = 0, runs = 0;
    for (uint64_t seed = 1; seed <= 200; seed++) {
        eng_rng_seed(eng_rng_global(), seed);
        tail_scale = seed % 4 == 1 ? 1e-4 : 1.0;
        eng_model *m = zoo_cnn(0, BUG_NONE);
        tail_scale = 1.0;
        eng_tensor *x, *y;
        make_batch(seed * 7919, seed % 2 == 0, m, &x, &y);
        eng_loss *ce;
        OK(eng_cross_entropy_new(&ce));
        mode md = (mode)(seed % 4);
        eng_gc_options opts = {
            .seed = seed, .samples = 4, .step = steps[seed / 4 % (sizeof steps / sizeof steps[0])]};
        eng_gc_report *r = run(m, ce, x, y, md, &opts);
        runs++;
        if (r->verdict == ENG_GC_FAIL) {
            print_message("seed %llu, %s mode, step %g:\n", (unsigned long long)seed,
                          mode_names[md], opts.step);
            print_report(r);
            fails++;
        }
        passes += r->verdict == ENG_GC_PASS;
        eng_gc_report_free(r);
        eng_loss_release(ce);
        eng_model_release(m);
        eng_tensor_release(x);
        eng_tensor_release(y);
    }
    print_message("%d correct nets over 4 modes: %d PASS, %d FAIL\n", runs, passes, fails);
    assert_int_equal(fails, 0);
    assert_true(passes >= runs / 2);
}

static void test_zoo_localises_an_input_gradient_bug_in_one_sample(void **state)
{
    (void)state;
    expect_localised(7, BUG_DX_ONE_SAMPLE, false, "linear_2", "only samples 2 ");
}

/* A correct net of one of the classes the zoo adds: 0 float32, 1 and 2 a loss scaled by 1e4
 * and by 1e-8, 3 huge logits (the last layer times 1e3: a saturated softmax), 4 BatchNorm in
 * training mode. */
static eng_model *bn_cnn(bool buggy);

static eng_model *correct_variant(int variant, eng_loss *ce, eng_loss **loss)
{
    net_dtype = variant == 0 ? ENG_F32 : ENG_F64;
    eng_model *m = variant == 4 ? bn_cnn(false) : zoo_cnn(0, BUG_NONE);
    if (variant == 4)
        eng_model_set_training(m, true);
    if (variant == 3)
        for (int p = 0; p < 2; p++)
            OK(eng_tensor_binary_scalar(m->layers[6]->params[p].value,
                                        m->layers[6]->params[p].value, 1e3, ENG_MUL));
    if (variant == 1 || variant == 2)
        OK(eng_gc_scaled_loss(ce, variant == 1 ? 1e4 : 1e-8, loss));
    else
        *loss = NULL;
    return m;
}

static const char *const variant_names[] = {"f32", "loss x1e4", "loss x1e-8", "huge logits",
                                            "batchnorm (training)"};

/* Each class in every mode, at the chosen step and at forced steps 1e-7 .. 1e-2. */
static void test_zoo_never_fails_f32_scaled_saturated_or_batchnorm_nets(void **state)
{
    (void)state;
    const double steps[] = {0, 1e-7, 1e-5, 1e-3, 1e-2};
    for (int variant = 0; variant < 5; variant++) {
        eng_rng_seed(eng_rng_global(), 31 + (uint64_t)variant);
        eng_loss *ce, *loss;
        OK(eng_cross_entropy_new(&ce));
        eng_model *m = correct_variant(variant, ce, &loss);
        eng_tensor *x, *y;
        make_batch(41, variant != 4, m, &x, &y);
        int verdicts[3] = {0};
        for (int md = MODE_DEFAULT; md <= MODE_LAYERS; md++) {
            for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
                eng_gc_options opts = {.seed = 5, .step = steps[s]};
                eng_gc_report *r = run(m, loss ? loss : ce, x, y, (mode)md, &opts);
                if (r->verdict == ENG_GC_FAIL) {
                    print_report(r);
                    fail_msg("%s, %s mode, step %g: a correct net FAILed", variant_names[variant],
                             mode_names[md], steps[s]);
                }
                verdicts[r->verdict]++;
                eng_gc_report_free(r);
            }
        }
        print_message("%s: %d PASS, %d INCONCLUSIVE of 20\n", variant_names[variant],
                      verdicts[ENG_GC_PASS], verdicts[ENG_GC_INCONCLUSIVE]);
        eng_loss_release(loss);
        eng_loss_release(ce);
        eng_model_release(m);
        eng_tensor_release(x);
        eng_tensor_release(y);
    }
    net_dtype = ENG_F64;
}

/* The false-positive test extended to these classes: 200 more correct nets, each class on 40
 * seeds, over the four modes and forced steps. */
static void test_zoo_never_fails_200_more_correct_nets_of_the_new_classes(void **state)
{
    (void)state;
    const double steps[] = {0, 0, 1e-7, 1e-5, 1e-3, 1e-2};
    int fails = 0, passes = 0;
    for (uint64_t seed = 1; seed <= 200; seed++) {
        eng_rng_seed(eng_rng_global(), 1000 + seed);
        int variant = (int)(seed % 5);
        eng_loss *ce, *loss;
        OK(eng_cross_entropy_new(&ce));
        eng_model *m = correct_variant(variant, ce, &loss);
        eng_tensor *x, *y;
        make_batch(seed * 104729, variant != 4 && seed % 2 == 0, m, &x, &y);
        mode md = (mode)(seed / 5 % 4);
        eng_gc_options opts = {.seed = seed,
                               .samples = 4,
                               .step = steps[seed / 20 % (sizeof steps / sizeof steps[0])]};
        eng_gc_report *r = run(m, loss ? loss : ce, x, y, md, &opts);
        if (r->verdict == ENG_GC_FAIL) {
            print_message("seed %llu, %s, %s mode, step %g:\n", (unsigned long long)seed,
                          variant_names[variant], mode_names[md], opts.step);
            print_report(r);
            fails++;
        }
        passes += r->verdict == ENG_GC_PASS;
        eng_gc_report_free(r);
        eng_loss_release(loss);
        eng_loss_release(ce);
        eng_model_release(m);
        eng_tensor_release(x);
        eng_tensor_release(y);
    }
    net_dtype = ENG_F64;
    print_message("200 correct nets of the new classes: %d PASS, %d FAIL\n", passes, fails);
    assert_int_equal(fails, 0);
}

/* The Taylor test at normal gradients and at gradients around 1e-10 and 1e-12: slope 1 for a
 * 14% and a 1% scale bug, 2 for the correct backward, or a stated "undecided"; never the
 * wrong one of the two. */
static void test_zoo_taylor_decides_at_tiny_magnitudes_or_says_it_cannot(void **state)
{
    (void)state;
    const double factors[] = {0.86, 0.99, 1.0};
    const double tails[] = {1.0, 1e-4, 1e-5};
    for (int t = 0; t < 3; t++) {
        for (int f = 0; f < 3; f++) {
            bug_factor = factors[f];
            tail_scale = tails[t];
            eng_rng_seed(eng_rng_global(), 11);
            eng_model *m = zoo_cnn(factors[f] == 1.0 ? 0 : 1, BUG_SCALE);
            eng_tensor *x, *y;
            make_batch(5, false, m, &x, &y);
            eng_loss *ce;
            OK(eng_cross_entropy_new(&ce));
            eng_gc_objective *obj;
            OK(eng_gc_model_objective(m, ce, x, y, false, &obj));
            eng_gc_taylor_result r;
            OK(eng_gc_taylor_test(obj, 0 /* conv2d_1.weight */, 1e-2, 8, 3, &r));
            print_message("tail %g, x%g: %s: %s\n", tails[t], factors[f],
                          eng_gc_verdict_name(r.verdict), r.conclusion);
            eng_gc_verdict want = factors[f] == 1.0 ? ENG_GC_PASS : ENG_GC_FAIL;
            if (r.verdict != want) {
                for (int i = 0; i < r.nsteps; i++)
                    print_message("  h %.3g  r %.3g%s\n", r.steps[i], r.remainders[i],
                                  i >= r.first && i <= r.last ? "  *" : "");
                fail_msg("tail %g, x%g: expected %s", tails[t], factors[f],
                         eng_gc_verdict_name(want));
            }
            eng_gc_objective_release(obj);
            eng_loss_release(ce);
            eng_model_release(m);
            eng_tensor_release(x);
            eng_tensor_release(y);
        }
    }
    tail_scale = 1.0;
    bug_factor = 1.0;
}

/* BatchNorm in training mode, whose backward forgets that the batch's mean and variance
 * depend on x (dx = gamma * invstd * dy, right only in evaluation mode): a training-only bug
 * in the middle of a model. */
static const eng_layer_ops *bn_original_ops;
static eng_layer_ops bn_buggy_ops;
static bool bn_training;

static eng_status bn_buggy_backward(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                                    const eng_tensor *dy, eng_tensor *dx)
{
    eng_status st = bn_original_ops->backward(layer, x, y, dy, dx);
    if (st || !dx || !bn_training)
        return st;
    int64_t n = x->shape[0], c = x->shape[1], plane = eng_tensor_numel(x) / n / c;
    for (int64_t ch = 0; ch < c; ch++) {
        double mean = 0, var = 0;
        for (int64_t s = 0; s < n; s++)
            for (int64_t p = 0; p < plane; p++)
                mean += eng_tensor_get_flat(x, (s * c + ch) * plane + p);
        mean /= (double)(n * plane);
        for (int64_t s = 0; s < n; s++)
            for (int64_t p = 0; p < plane; p++) {
                double d = eng_tensor_get_flat(x, (s * c + ch) * plane + p) - mean;
                var += d * d;
            }
        var /= (double)(n * plane);
        double gamma = eng_tensor_get_flat(layer->params[0].value, ch);
        for (int64_t s = 0; s < n; s++)
            for (int64_t p = 0; p < plane; p++) {
                int64_t i = (s * c + ch) * plane + p;
                eng_tensor_set_flat(dx, i, gamma / sqrt(var + 1e-5) * eng_tensor_get_flat(dy, i));
            }
    }
    return ENG_OK;
}

/* conv(1->4) -> batchnorm2d -> relu -> maxpool -> flatten -> linear(64->5) */
static eng_model *bn_cnn(bool buggy)
{
    eng_model *m;
    eng_layer *l;
    OK(eng_model_new(&m));
    eng_conv2d_options o = {.padding_h = 1, .padding_w = 1};
    OK(eng_conv2d_new(1, 4, 3, 3, &o, ENG_F64, NULL, &l));
    add_layer(m, l, 1, 0, BUG_NONE);
    OK(eng_batchnorm_new(2, 4, 1e-5, 0.1, true, ENG_F64, &l));
    OK(eng_tensor_normal(l->params[0].value, eng_rng_global(), 1.0, 0.3));
    OK(eng_tensor_normal(l->params[1].value, eng_rng_global(), 0.0, 0.3));
    if (buggy) {
        bn_original_ops = l->ops;
        bn_buggy_ops = *l->ops;
        bn_buggy_ops.backward = bn_buggy_backward;
        l->ops = &bn_buggy_ops;
    }
    add_layer(m, l, 2, 0, BUG_NONE);
    OK(eng_relu_new(&l));
    add_layer(m, l, 3, 0, BUG_NONE);
    OK(eng_maxpool2d_new(2, 2, 0, 0, 0, 0, &l));
    add_layer(m, l, 4, 0, BUG_NONE);
    OK(eng_flatten_new(&l));
    add_layer(m, l, 5, 0, BUG_NONE);
    OK(eng_linear_new(64, 5, true, ENG_F64, NULL, &l));
    add_layer(m, l, 6, 0, BUG_NONE);
    return m;
}

static void test_zoo_checks_batchnorm_in_the_mode_the_model_is_in(void **state)
{
    (void)state;
    for (int buggy = 0; buggy <= 1; buggy++) {
        for (int training = 0; training <= 1; training++) {
            eng_rng_seed(eng_rng_global(), 21);
            eng_model *m = bn_cnn(buggy);
            eng_model_set_training(m, training);
            bn_training = training;
            eng_tensor *x, *y;
            make_batch(9, false, m, &x, &y);
            eng_loss *ce;
            OK(eng_cross_entropy_new(&ce));
            eng_tensor *mean0;
            OK(eng_tensor_clone(m->layers[1]->buffers[0].value, &mean0));
            bool bug_shows = buggy && training;
            for (int md = MODE_DEFAULT; md <= MODE_LAYERS; md++) {
                eng_gc_options opts = {.seed = 3};
                eng_gc_report *r = run(m, ce, x, y, (mode)md, &opts);
                bool right = bug_shows ? names(r, (mode)md, "batchnorm2d_1", "input gradient")
                                       : r->verdict != ENG_GC_FAIL;
                if (md == MODE_DIRECTIONAL && bug_shows) /* names the layer, any diagnosis */
                    right = r->verdict == ENG_GC_FAIL && strcmp(r->culprit, "batchnorm2d_1") == 0;
                if (!right) {
                    print_report(r);
                    fail_msg("buggy %d, training %d, %s mode: %s", buggy, training, mode_names[md],
                             eng_gc_verdict_name(r->verdict));
                }
                print_message("buggy %d, training %d, %s: %s %s\n", buggy, training, mode_names[md],
                              eng_gc_verdict_name(r->verdict), r->localisation);
                eng_gc_report_free(r);
                /* the running statistics the training-mode forwards moved are put back */
                assert_true(eng_tensor_get_flat(m->layers[1]->buffers[0].value, 1) ==
                            eng_tensor_get_flat(mean0, 1));
            }
            /* a batch-coupled layer: no "one sample" decomposition */
            eng_gc_objective *obj;
            OK(eng_gc_model_objective(m, ce, x, y, false, &obj));
            assert_null(obj->sample_loss_at);
            eng_gc_objective_release(obj);
            eng_tensor_release(mean0);
            eng_loss_release(ce);
            eng_model_release(m);
            eng_tensor_release(x);
            eng_tensor_release(y);
        }
    }
    bn_training = false;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zoo_localises_a_relu_backward_without_its_mask),
        cmocka_unit_test(test_zoo_localises_a_maxpool_routing_bug),
        cmocka_unit_test(test_zoo_localises_a_loss_backward_without_its_one_over_n),
        cmocka_unit_test(test_zoo_localises_an_input_gradient_sign_bug_in_layer_7),
        cmocka_unit_test(test_zoo_names_one_wrong_element),
        cmocka_unit_test(test_zoo_names_a_row_never_written),
        cmocka_unit_test(test_zoo_names_a_channel_with_the_wrong_sign),
        cmocka_unit_test(test_zoo_names_small_scale_bugs_at_normal_and_tiny_magnitudes),
        cmocka_unit_test(test_zoo_never_fails_correct_nets_with_relu_zeros_and_pool_ties),
        cmocka_unit_test(test_zoo_never_fails_200_correct_nets_in_any_mode),
        cmocka_unit_test(test_zoo_taylor_decides_at_tiny_magnitudes_or_says_it_cannot),
        cmocka_unit_test(test_zoo_checks_batchnorm_in_the_mode_the_model_is_in),
        cmocka_unit_test(test_zoo_localises_an_input_gradient_bug_in_one_sample),
        cmocka_unit_test(test_zoo_never_fails_f32_scaled_saturated_or_batchnorm_nets),
        cmocka_unit_test(test_zoo_never_fails_200_more_correct_nets_of_the_new_classes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
