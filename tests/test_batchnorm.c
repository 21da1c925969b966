/* batchnorm1d/2d: PyTorch fixtures (training and evaluation, with and without affine) in f32
 * and f64 with the running statistics, the gradient checker in f64 in both modes, two planted
 * backward bugs the checker must FAIL naming the layer, buffers versus parameters, and every
 * error path. */
#include "support.h"

#include "../engine/gradcheck/gradcheck.h"
#include "../engine/kernels/activation.h"
#include "../engine/kernels/batchnorm.h"
#include "../engine/layers/layer_fusion.h"

static const char *const fixtures[] = {"bn_2d_train.bin",          "bn_2d_eval.bin",
                                       "bn_2d_noaffine_train.bin", "bn_1d_train.bin",
                                       "bn_1d_3d_train.bin",       "bn_1d_eval.bin"};

static double fixture_option(const fixture *fx, int i)
{
    return eng_tensor_get_flat(fixture_get(fx, "options"), i);
}

/* config: dims, num_features, affine, training; options: eps, momentum */
static eng_layer *bn_from_fixture(const fixture *fx, eng_dtype dtype)
{
    eng_layer *l;
    assert_ok(eng_batchnorm_new(fixture_config(fx, 0), fixture_config(fx, 1), fixture_option(fx, 0),
                                fixture_option(fx, 1), fixture_config(fx, 2) != 0, dtype, &l));
    for (int i = 0; i < l->nparams; i++)
        set_param(l, l->params[i].name, fixture_get(fx, l->params[i].name));
    assert_ok(eng_tensor_copy(l->buffers[0].value, fixture_get(fx, "running_mean0")));
    assert_ok(eng_tensor_copy(l->buffers[1].value, fixture_get(fx, "running_var0")));
    return l;
}

static void test_batchnorm_matches_pytorch_in_f32_and_f64(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        fixture *fx = fixture_load(fixtures[i]);
        for (int k = 0; k < 2; k++) {
            eng_dtype dt = k ? ENG_F64 : ENG_F32;
            double tol = k ? 1e-12 : 1e-4;
            eng_layer *l = bn_from_fixture(fx, dt);
            assert_int_equal(l->nparams, fixture_config(fx, 2) ? 2 : 0);
            eng_tensor *x = tensor_to(fixture_get(fx, "x"), dt);
            eng_tensor *r = tensor_to(fixture_get(fx, "r"), dt);
            eng_tensor *y = tensor_new(dt, x->ndim, x->shape);
            eng_tensor *dx = tensor_new(dt, x->ndim, x->shape);
            assert_ok(eng_layer_forward(l, x, y, fixture_config(fx, 3) != 0));
            assert_ok(eng_layer_backward(l, x, y, r, dx));
            char what[96];
            snprintf(what, sizeof what, "%s %s y", fixtures[i], eng_dtype_name(dt));
            assert_tensor_close(y, fixture_get(fx, "y"), tol, what);
            snprintf(what, sizeof what, "%s %s dx", fixtures[i], eng_dtype_name(dt));
            assert_tensor_close(dx, fixture_get(fx, "dx"), tol, what);
            for (int p = 0; p < l->nparams; p++) {
                char name[32];
                snprintf(name, sizeof name, "d%s", l->params[p].name);
                snprintf(what, sizeof what, "%s %s %s", fixtures[i], eng_dtype_name(dt), name);
                assert_tensor_close(l->params[p].grad, fixture_get(fx, name), tol, what);
            }
            for (int b = 0; b < 2; b++) {
                snprintf(what, sizeof what, "%s %s %s", fixtures[i], eng_dtype_name(dt),
                         l->buffers[b].name);
                assert_tensor_close(l->buffers[b].value, fixture_get(fx, l->buffers[b].name), tol,
                                    what);
            }
            eng_tensor_release(x);
            eng_tensor_release(r);
            eng_tensor_release(y);
            eng_tensor_release(dx);
            eng_layer_release(l);
        }
        fixture_free(fx);
    }
}

static void test_batchnorm_by_hand(void **state)
{
    (void)state;
    /* One channel, x = (1, 3): mean 2, biased var 1, eps 0 excluded so take eps 1e-5.
     * xhat = (-1, 1) / sqrt(1 + 1e-5); running_mean = 0.9 * 0 + 0.1 * 2 = 0.2;
     * running_var = 0.9 * 1 + 0.1 * 2 (unbiased: 2 / 1) = 1.1. */
    eng_layer *l;
    assert_ok(eng_batchnorm_new(1, 1, 1e-5, 0.1, true, ENG_F64, &l));
    eng_tensor *x = tensor_new(ENG_F64, 2, (int64_t[]){2, 1});
    eng_tensor *y = tensor_new(ENG_F64, 2, (int64_t[]){2, 1});
    tensor_set_values(x, (double[]){1, 3});
    assert_ok(eng_layer_forward(l, x, y, true));
    double s = 1 / sqrt(1 + 1e-5);
    assert_double_close(eng_tensor_get_flat(y, 0), -s, 1e-15);
    assert_double_close(eng_tensor_get_flat(y, 1), s, 1e-15);
    assert_double_close(eng_tensor_get_flat(l->buffers[0].value, 0), 0.2, 1e-15);
    assert_double_close(eng_tensor_get_flat(l->buffers[1].value, 0), 1.1, 1e-15);
    /* evaluation: (x - 0.2) / sqrt(1.1 + 1e-5), the buffers unchanged */
    assert_ok(eng_layer_forward(l, x, y, false));
    assert_double_close(eng_tensor_get_flat(y, 1), 2.8 / sqrt(1.1 + 1e-5), 1e-15);
    assert_double_close(eng_tensor_get_flat(l->buffers[1].value, 0), 1.1, 1e-15);
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_layer_release(l);
}

/* A model of the given layers (released here: the model holds them). */
static eng_model *model_of(eng_layer **layers, int n, bool training)
{
    eng_model *m;
    assert_ok(eng_model_new(&m));
    for (int i = 0; i < n; i++) {
        assert_ok(eng_model_add(m, layers[i]));
        eng_layer_release(layers[i]);
    }
    eng_model_set_training(m, training);
    return m;
}

static void print_report(const eng_gc_report *r)
{
    static char text[1 << 16];
    eng_gc_report_format(r, true, text, sizeof text);
    fputs(text, stderr);
}

/* Whole-model check (every element) with MSE against a random target, input included. */
static eng_gc_report *check_model(eng_model *m, const eng_tensor *x)
{
    const eng_tensor *y;
    assert_ok(eng_model_forward(m, x, &y));
    eng_tensor *target = tensor_new(ENG_F64, y->ndim, y->shape);
    tensor_randn(target, 99, 1.0);
    eng_loss *mse;
    assert_ok(eng_mse_new(&mse));
    eng_gc_objective *obj;
    eng_gc_report *r;
    assert_ok(eng_gc_model_objective(m, mse, x, target, true, &obj));
    eng_gc_options opts = {.seed = 3};
    assert_ok(eng_gc_check(obj, &opts, &r));
    eng_gc_objective_release(obj);
    eng_loss_release(mse);
    eng_tensor_release(target);
    return r;
}

static eng_model *bn2d_model(bool training)
{
    eng_layer *l[3];
    assert_ok(eng_batchnorm_new(2, 3, 1e-5, 0.1, true, ENG_F64, &l[0]));
    tensor_randn(l[0]->params[0].value, 5, 0.5);
    tensor_randn(l[0]->params[1].value, 6, 0.5);
    eng_tensor_fill(l[0]->buffers[1].value, 1.7);
    assert_ok(eng_tanh_new(&l[1]));
    assert_ok(eng_conv2d_new(3, 2, 3, 3, NULL, ENG_F64, NULL, &l[2]));
    return model_of(l, 3, training);
}

static void test_batchnorm_passes_the_checker_in_f64_training_and_eval(void **state)
{
    (void)state;
    eng_tensor *x = tensor_new(ENG_F64, 4, (int64_t[]){3, 3, 4, 4});
    tensor_randn(x, 11, 2.0);
    for (int training = 1; training >= 0; training--) {
        eng_model *m = bn2d_model(training);
        eng_gc_report *r = check_model(m, x);
        if (r->verdict != ENG_GC_PASS)
            print_report(r);
        assert_int_equal(r->verdict, ENG_GC_PASS);
        eng_gc_report_free(r);
        /* the checker's layer-wise mode too */
        eng_gc_options opts = {.seed = 5};
        assert_ok(eng_gc_check_layers(m, x, &opts, &r));
        if (r->verdict != ENG_GC_PASS)
            print_report(r);
        assert_int_equal(r->verdict, ENG_GC_PASS);
        eng_gc_report_free(r);
        eng_model_release(m);
    }
    /* batchnorm1d between two linear layers, training */
    eng_layer *l[4];
    assert_ok(eng_linear_new(5, 4, true, ENG_F64, NULL, &l[0]));
    assert_ok(eng_batchnorm_new(1, 4, 1e-5, 0.1, true, ENG_F64, &l[1]));
    assert_ok(eng_tanh_new(&l[2]));
    assert_ok(eng_linear_new(4, 3, true, ENG_F64, NULL, &l[3]));
    eng_model *m = model_of(l, 4, true);
    eng_tensor *x1 = tensor_new(ENG_F64, 2, (int64_t[]){6, 5});
    tensor_randn(x1, 12, 1.0);
    eng_gc_report *r = check_model(m, x1);
    if (r->verdict != ENG_GC_PASS)
        print_report(r);
    assert_int_equal(r->verdict, ENG_GC_PASS);
    eng_gc_report_free(r);
    eng_model_release(m);
    eng_tensor_release(x1);
    eng_tensor_release(x);
}

static eng_gc_verdict tensor_verdict(const eng_gc_report *r, const char *name)
{
    for (int t = 0; t < r->ntensors; t++)
        if (strcmp(r->tensors[t].name, name) == 0)
            return r->tensors[t].verdict;
    fail_msg("no tensor %s in the report", name);
    return ENG_GC_FAIL;
}

/* ---- planted bugs: test-only variants of the kind's backward ---- */

typedef enum { BUG_NO_MEAN_OF_GRADIENT, BUG_RUNNING_VARIANCE } bn_bug;
static bn_bug planted;

/* batchnorm2d f64 backward in training with one of the classic mistakes. */
static eng_status buggy_backward(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                                 const eng_tensor *dy, eng_tensor *dx)
{
    (void)y;
    int64_t n = x->shape[0], c = x->shape[1], s = x->shape[2] * x->shape[3];
    double mean[8], var[8], invstd[8];
    assert_true(c <= 8);
    eng_batchnorm_stats_f64(mean, var, ENG_F64_DATA(x), n, c, s);
    for (int64_t ch = 0; ch < c; ch++) {
        double v = planted == BUG_RUNNING_VARIANCE
                       ? eng_tensor_get_flat(layer->buffers[1].value, ch)
                       : var[ch];
        invstd[ch] = 1 / sqrt(v + 1e-5);
    }
    const double *g = ENG_F64_DATA(dy), *xv = ENG_F64_DATA(x);
    const double *gamma = ENG_F64_DATA(layer->params[0].value);
    for (int64_t ch = 0; ch < c; ch++) {
        double sg = 0, sgx = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < s; k++) {
                int64_t at = (i * c + ch) * s + k;
                sg += g[at];
                sgx += g[at] * (xv[at] - mean[ch]) * invstd[ch];
            }
        ENG_F64_DATA(layer->params[0].grad)[ch] += sgx;
        ENG_F64_DATA(layer->params[1].grad)[ch] += sg;
        double mg = planted == BUG_NO_MEAN_OF_GRADIENT ? 0 : sg / (double)(n * s);
        for (int64_t i = 0; i < n && dx; i++)
            for (int64_t k = 0; k < s; k++) {
                int64_t at = (i * c + ch) * s + k;
                double xhat = (xv[at] - mean[ch]) * invstd[ch];
                ENG_F64_DATA(dx)
                [at] = gamma[ch] * invstd[ch] * (g[at] - mg - xhat * sgx / (double)(n * s));
            }
    }
    return ENG_OK;
}

static void test_checker_fails_planted_batchnorm_bugs_naming_the_layer(void **state)
{
    (void)state;
    eng_tensor *x = tensor_new(ENG_F64, 4, (int64_t[]){3, 3, 4, 4});
    tensor_randn(x, 11, 2.0);
    for (int bug = 0; bug < 2; bug++) {
        planted = (bn_bug)bug;
        eng_model *m = bn2d_model(true);
        eng_layer *bn = m->layers[0];
        const eng_layer_ops *orig = bn->ops;
        eng_layer_ops ops = *orig;
        ops.backward = buggy_backward;
        bn->ops = &ops;
        eng_gc_report *r = check_model(m, x);
        int failing = 0;
        const char *first_layer = "";
        for (int t = 0; t < r->ntensors; t++) {
            if (r->tensors[t].verdict != ENG_GC_FAIL)
                continue;
            failing++;
            /* every failing tensor is the batchnorm's own (its input, its weight) */
            assert_string_equal(r->tensors[t].layer, "batchnorm2d_1");
            if (strcmp(r->tensors[t].name, r->first_failing) == 0)
                first_layer = r->tensors[t].layer;
        }
        if (r->verdict != ENG_GC_FAIL || failing == 0)
            print_report(r);
        assert_int_equal(r->verdict, ENG_GC_FAIL);
        assert_string_equal(first_layer, "batchnorm2d_1");
        /* the running-variance bug also corrupts dweight; the missing mean term only dx */
        assert_int_equal(tensor_verdict(r, "batchnorm2d_1.weight"),
                         bug == BUG_RUNNING_VARIANCE ? ENG_GC_FAIL : ENG_GC_PASS);
        assert_int_equal(tensor_verdict(r, "input"), ENG_GC_FAIL);
        eng_gc_report_free(r);
        bn->ops = orig;
        eng_model_release(m);
    }
    eng_tensor_release(x);
}

static void test_batchnorm_statistics_are_buffers_not_parameters(void **state)
{
    (void)state;
    eng_layer *l, *c;
    assert_ok(eng_batchnorm_new(2, 3, 1e-5, 0.1, true, ENG_F32, &l));
    assert_int_equal(l->nparams, 2);
    assert_int_equal(l->nbuffers, 2);
    assert_string_equal(l->buffers[0].name, "running_mean");
    assert_string_equal(l->buffers[1].name, "running_var");
    /* PyTorch's initial values: weight 1, bias 0, running mean 0, running var 1 */
    for (int ch = 0; ch < 3; ch++) {
        assert_true(eng_tensor_get_flat(l->params[0].value, ch) == 1.0);
        assert_true(eng_tensor_get_flat(l->params[1].value, ch) == 0.0);
        assert_true(eng_tensor_get_flat(l->buffers[0].value, ch) == 0.0);
        assert_true(eng_tensor_get_flat(l->buffers[1].value, ch) == 1.0);
    }
    /* mixes samples in training: never split between threads or run sample by sample */
    assert_false(l->ops->batch_independent);
    assert_false(l->ops->sample_by_sample);
    eng_tensor_set_flat(l->buffers[0].value, 1, 0.25);
    eng_tensor_set_flat(l->buffers[1].value, 2, 3.5);
    assert_ok(l->ops->clone(l, ENG_F64, &c));
    assert_int_equal(c->dtype, ENG_F64);
    assert_true(eng_tensor_get_flat(c->buffers[0].value, 1) == 0.25);
    assert_true(eng_tensor_get_flat(c->buffers[1].value, 2) == 3.5);
    eng_model *m = model_of((eng_layer *[]){c}, 1, true);
    assert_int_equal(eng_model_param_count(m), 2); /* weight and bias only */
    eng_model_release(m);
    eng_layer_release(l);
}

static void test_batchnorm_rejects_bad_settings_and_inputs(void **state)
{
    (void)state;
    eng_layer *l;
    assert_error(eng_batchnorm_new(2, 0, 1e-5, 0.1, true, ENG_F32, &l), ENG_EARG, "batchnorm2d",
                 "num_features (0)");
    assert_error(eng_batchnorm_new(1, 3, 0.0, 0.1, true, ENG_F32, &l), ENG_EARG, "batchnorm1d",
                 "eps");
    assert_error(eng_batchnorm_new(2, 3, 1e-5, 1.5, true, ENG_F32, &l), ENG_EARG, "momentum (1.5)");
    assert_error(eng_batchnorm_new(3, 3, 1e-5, 0.1, true, ENG_F32, &l), ENG_EARG, "dims 3");
    assert_ok(eng_batchnorm_new(2, 3, 1e-5, 0.1, true, ENG_F32, &l));
    assert_ok(eng_layer_set_name(l, "bn1"));
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    eng_tensor *x = tensor_new(ENG_F32, 4, (int64_t[]){2, 4, 3, 3});
    assert_error(eng_layer_output_shape(l, x, &ndim, shape), ENG_ESHAPE, "batchnorm2d 'bn1'",
                 "[2,4,3,3]", "C = 3");
    eng_tensor_release(x);
    x = tensor_new(ENG_F64, 4, (int64_t[]){2, 3, 3, 3});
    assert_error(eng_layer_output_shape(l, x, &ndim, shape), ENG_EDTYPE, "f64");
    eng_tensor_release(x);
    /* one value per channel cannot be normalised by its batch (PyTorch refuses it too) */
    x = tensor_new(ENG_F32, 4, (int64_t[]){1, 3, 1, 1});
    eng_tensor *y = tensor_new(ENG_F32, 4, (int64_t[]){1, 3, 1, 1});
    assert_error(eng_layer_forward(l, x, y, true), ENG_ESHAPE, "1 value per channel");
    assert_ok(eng_layer_forward(l, x, y, false));
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_layer_release(l);
    assert_ok(eng_batchnorm_new(1, 3, 1e-5, 0.1, true, ENG_F32, &l));
    x = tensor_new(ENG_F32, 4, (int64_t[]){2, 3, 3, 3});
    assert_error(eng_layer_output_shape(l, x, &ndim, shape), ENG_ESHAPE, "[N,C] or [N,C,L]");
    eng_tensor_release(x);
    eng_layer_release(l);
}

/* ---- BatchNorm -> ReLU as one pass (the fusion's entry points) ---- */

static bool same_bits(const eng_tensor *a, const eng_tensor *b)
{
    size_t bytes = (size_t)eng_tensor_numel(a) * eng_dtype_size(a->dtype);
    return eng_tensor_numel(a) == eng_tensor_numel(b) &&
           memcmp(eng_tensor_data(a), eng_tensor_data(b), bytes) == 0;
}

/* y = relu(bn(x)) and its backward, against the two layers one after the other (the ReLU by
 * its kernels): same bits for y, dx, the parameter gradients and the running statistics. */
static void check_fused_pair(int dims, eng_dtype dt, bool training, const int64_t *shape, int nd)
{
    eng_layer *a, *b;
    assert_ok(eng_batchnorm_new(dims, (int)shape[1], 1e-5, 0.1, true, dt, &a));
    eng_tensor *x = tensor_new(dt, nd, shape), *dy = tensor_new(dt, nd, shape);
    tensor_randn(x, 21, 1.5);
    tensor_randn(dy, 22, 1.0);
    tensor_randn(a->params[0].value, 23, 1.0); /* some negative gammas */
    tensor_randn(a->params[1].value, 24, 0.5);
    assert_ok(a->ops->clone(a, dt, &b));
    eng_tensor *y1 = tensor_new(dt, nd, shape), *r1 = tensor_new(dt, nd, shape);
    eng_tensor *g1 = tensor_new(dt, nd, shape), *dx1 = tensor_new(dt, nd, shape);
    eng_tensor *r2 = tensor_new(dt, nd, shape), *dx2 = tensor_new(dt, nd, shape);
    int64_t n = eng_tensor_numel(x);
    assert_ok(eng_layer_forward(a, x, y1, training));
    if (dt == ENG_F32) {
        eng_relu_forward_f32(ENG_F32_DATA(r1), ENG_F32_DATA(y1), n);
        eng_relu_backward_f32(ENG_F32_DATA(g1), ENG_F32_DATA(dy), ENG_F32_DATA(y1), n);
    } else {
        eng_relu_forward_f64(ENG_F64_DATA(r1), ENG_F64_DATA(y1), n);
        eng_relu_backward_f64(ENG_F64_DATA(g1), ENG_F64_DATA(dy), ENG_F64_DATA(y1), n);
    }
    assert_ok(eng_layer_backward(a, x, y1, g1, dx1));
    assert_ok(eng_batchnorm_forward_relu(b, x, r2, training));
    assert_ok(eng_batchnorm_backward_relu(b, x, r2, dy, dx2));
    assert_true(same_bits(r1, r2));
    assert_true(same_bits(dx1, dx2));
    for (int p = 0; p < 2; p++)
        assert_true(same_bits(a->params[p].grad, b->params[p].grad));
    for (int q = 0; q < 2; q++)
        assert_true(same_bits(a->buffers[q].value, b->buffers[q].value));
    eng_tensor *all[] = {x, dy, y1, r1, g1, dx1, r2, dx2};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        eng_tensor_release(all[i]);
    eng_layer_release(a);
    eng_layer_release(b);
}

static void test_fused_batchnorm_relu_is_the_two_layers_bit_for_bit(void **state)
{
    (void)state;
    const int64_t s2[] = {4, 3, 5, 7}, s1[] = {6, 5};
    for (int k = 0; k < 8; k++) {
        eng_dtype dt = k & 1 ? ENG_F64 : ENG_F32;
        bool training = (k & 2) != 0;
        if (k & 4)
            check_fused_pair(2, dt, training, s2, 4);
        else
            check_fused_pair(1, dt, training, s1, 2);
    }
    eng_layer *l;
    assert_ok(eng_batchnorm_new(2, 3, 1e-5, 0.1, true, ENG_F32, &l));
    assert_true(eng_layer_is_batchnorm(l));
    eng_layer_release(l);
    assert_ok(eng_relu_new(&l));
    assert_false(eng_layer_is_batchnorm(l));
    eng_layer_release(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batchnorm_matches_pytorch_in_f32_and_f64),
        cmocka_unit_test(test_batchnorm_by_hand),
        cmocka_unit_test(test_batchnorm_passes_the_checker_in_f64_training_and_eval),
        cmocka_unit_test(test_checker_fails_planted_batchnorm_bugs_naming_the_layer),
        cmocka_unit_test(test_batchnorm_statistics_are_buffers_not_parameters),
        cmocka_unit_test(test_batchnorm_rejects_bad_settings_and_inputs),
        cmocka_unit_test(test_fused_batchnorm_relu_is_the_two_layers_bit_for_bit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
