/* Containers (engine/model_container.h): residual (identity and projection shortcuts, with
 * batchnorms in training and evaluation), concat and nesting against PyTorch fixtures
 * (make_container_fixtures.py) in f32 and f64: output, input gradient, every parameter
 * gradient and the running statistics; the gradient checker PASSes each in f64; clones share
 * nothing; the errors. */
#include "support.h"

#include "../engine/gradcheck/gradcheck.h"
#include "../engine/model_container.h"

/* A model of the given layers (their references pass to it), named as a Sequential names. */
static eng_model *model_of(int n, ...)
{
    eng_model *m;
    assert_ok(eng_model_new(&m));
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        eng_layer *l = va_arg(ap, eng_layer *);
        assert_ok(eng_model_add(m, l));
        eng_layer_release(l);
    }
    va_end(ap);
    return m;
}

static eng_layer *conv(int in, int out, int k, int stride, int padding, bool bias, eng_dtype dt)
{
    eng_conv2d_options o = {.stride_h = stride,
                            .stride_w = stride,
                            .padding_h = padding,
                            .padding_w = padding,
                            .no_bias = !bias};
    eng_layer *l;
    assert_ok(eng_conv2d_new(in, out, k, k, &o, dt, NULL, &l));
    return l;
}

static eng_layer *bn2d(int c, eng_dtype dt)
{
    eng_layer *l;
    assert_ok(eng_batchnorm_new(2, c, 1e-5, 0.1, true, dt, &l));
    return l;
}

static eng_layer *linear(int in, int out, eng_dtype dt)
{
    eng_layer *l;
    assert_ok(eng_linear_new(in, out, true, dt, NULL, &l));
    return l;
}

static eng_layer *act(eng_status (*make)(eng_layer **))
{
    eng_layer *l;
    assert_ok(make(&l));
    return l;
}

/* The container of a fixture, in dtype dt: the same networks as make_container_fixtures.py. */
static eng_layer *build(const char *name, eng_dtype dt)
{
    eng_layer *out = NULL;
    if (strcmp(name, "container_residual_identity.bin") == 0) {
        eng_model *b = model_of(3, conv(4, 4, 3, 1, 1, true, dt), act(eng_tanh_new),
                                conv(4, 4, 3, 1, 1, true, dt));
        assert_ok(eng_residual_new(b, NULL, &out));
        eng_model_release(b);
    } else if (strncmp(name, "container_residual_projection", 29) == 0) {
        eng_model *b = model_of(5, conv(3, 4, 3, 2, 1, false, dt), bn2d(4, dt), act(eng_relu_new),
                                conv(4, 4, 3, 1, 1, false, dt), bn2d(4, dt));
        eng_model *s = model_of(2, conv(3, 4, 1, 2, 0, false, dt), bn2d(4, dt));
        assert_ok(eng_residual_new(b, s, &out));
        eng_model_release(b);
        eng_model_release(s);
    } else if (strcmp(name, "container_concat_channels.bin") == 0) {
        eng_model *br[3] = {model_of(1, conv(3, 2, 1, 1, 0, true, dt)),
                            model_of(1, act(eng_tanh_new)),
                            model_of(2, conv(3, 4, 3, 1, 1, true, dt), act(eng_sigmoid_new))};
        assert_ok(eng_concat_new(2, (const eng_model *const *)br, 3, &out));
        for (int k = 0; k < 3; k++)
            eng_model_release(br[k]);
    } else {
        eng_layer *inner, *outer, *cat;
        eng_model *m = model_of(1, linear(6, 6, dt));
        assert_ok(eng_residual_new(m, NULL, &inner));
        eng_model_release(m);
        m = model_of(3, linear(6, 6, dt), act(eng_tanh_new), inner);
        assert_ok(eng_residual_new(m, NULL, &outer));
        eng_model_release(m);
        eng_model *br[2] = {model_of(1, linear(6, 3, dt)),
                            model_of(2, linear(6, 2, dt), act(eng_tanh_new))};
        assert_ok(eng_concat_new(-1, (const eng_model *const *)br, 2, &cat));
        eng_model_release(br[0]);
        eng_model_release(br[1]);
        m = model_of(2, outer, cat);
        assert_ok(eng_sequential_layer_new(m, &out));
        eng_model_release(m);
    }
    assert_true(eng_layer_is_container(out));
    return out;
}

static const char *const cases[] = {"container_residual_identity.bin",
                                    "container_residual_projection_train.bin",
                                    "container_residual_projection_eval.bin",
                                    "container_concat_channels.bin", "container_nested.bin"};

/* Parameters and buffers (the "<name>0" ones: before the forward) from the fixture. */
static void load_state(eng_layer *l, const fixture *fx)
{
    for (int i = 0; i < l->nparams; i++)
        set_param(l, l->params[i].name, fixture_get(fx, l->params[i].name));
    for (int b = 0; b < l->nbuffers; b++) {
        char name[80];
        snprintf(name, sizeof name, "%s0", l->buffers[b].name);
        assert_ok(eng_tensor_copy(l->buffers[b].value, fixture_get(fx, name)));
    }
}

static void test_containers_match_pytorch_in_f32_and_f64(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        fixture *fx = fixture_load(cases[c]);
        bool training = fixture_config(fx, 0) != 0;
        for (int k = 0; k < 2; k++) {
            eng_dtype dt = k ? ENG_F64 : ENG_F32;
            double tol = k ? 1e-12 : 1e-4, worst = 0;
            eng_layer *l = build(cases[c], dt);
            load_state(l, fx);
            eng_tensor *x = tensor_to(fixture_get(fx, "x"), dt);
            eng_tensor *r = tensor_to(fixture_get(fx, "r"), dt);
            const eng_tensor *ye = fixture_get(fx, "y");
            eng_tensor *y = tensor_new(dt, ye->ndim, ye->shape);
            eng_tensor *dx = tensor_new(dt, x->ndim, x->shape);
            eng_layer_zero_grad(l);
            assert_ok(eng_layer_forward(l, x, y, training));
            assert_ok(eng_layer_backward(l, x, y, r, dx));
            char what[160], name[80];
            snprintf(what, sizeof what, "%s %s y", cases[c], eng_dtype_name(dt));
            assert_tensor_close(y, ye, tol, what);
            worst = fmax(worst, rel_error(y, ye));
            snprintf(what, sizeof what, "%s %s dx", cases[c], eng_dtype_name(dt));
            assert_tensor_close(dx, fixture_get(fx, "dx"), tol, what);
            worst = fmax(worst, rel_error(dx, fixture_get(fx, "dx")));
            for (int p = 0; p < l->nparams; p++) {
                snprintf(name, sizeof name, "d%s", l->params[p].name);
                snprintf(what, sizeof what, "%s %s %s", cases[c], eng_dtype_name(dt), name);
                assert_tensor_close(l->params[p].grad, fixture_get(fx, name), tol, what);
                worst = fmax(worst, rel_error(l->params[p].grad, fixture_get(fx, name)));
            }
            for (int b = 0; b < l->nbuffers; b++) {
                snprintf(what, sizeof what, "%s %s %s", cases[c], eng_dtype_name(dt),
                         l->buffers[b].name);
                assert_tensor_close(l->buffers[b].value, fixture_get(fx, l->buffers[b].name), tol,
                                    what);
            }
            print_message("%s %s: %d parameters, worst relative error %.2e\n", cases[c],
                          eng_dtype_name(dt), l->nparams, worst);
            eng_tensor_release(x);
            eng_tensor_release(r);
            eng_tensor_release(y);
            eng_tensor_release(dx);
            eng_layer_release(l);
        }
        fixture_free(fx);
    }
}

static void test_containers_pass_the_checker_in_f64(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        fixture *fx = fixture_load(cases[c]);
        eng_layer *l = build(cases[c], ENG_F64);
        load_state(l, fx);
        /* batchnorm in training mode inside the residual block: the projection cases */
        print_message("checker: %s (%s)\n", cases[c],
                      fixture_config(fx, 0) ? "training" : "evaluation");
        assert_checker_passes_layer(l, fixture_get(fx, "x"), fixture_config(fx, 0) != 0);
        eng_layer_release(l);
        fixture_free(fx);
    }
}

/* A clone (model:to, a thread's replica) holds its own layers: changing one leaves the other. */
static void test_container_clones_are_independent(void **state)
{
    (void)state;
    eng_layer *l = build("container_residual_projection_train.bin", ENG_F32), *c;
    assert_ok(l->ops->clone(l, ENG_F64, &c));
    assert_int_equal(c->nparams, l->nparams);
    assert_int_equal(c->nbuffers, 6);
    assert_string_equal(c->params[6].name, "shortcut.conv2d_1.weight");
    assert_int_equal(c->params[0].value->dtype, ENG_F64);
    double before = eng_tensor_get_flat(l->params[0].value, 0);
    eng_tensor_set_flat(c->params[0].value, 0, before + 1);
    assert_true(eng_tensor_get_flat(l->params[0].value, 0) == before);
    /* the container's entry and the layer inside share their storage */
    eng_model *body = eng_container_child(c, 0);
    assert_true(eng_tensor_get_flat(body->layers[0]->params[0].value, 0) == before + 1);
    eng_layer_release(c);
    eng_layer_release(l);
}

/* A model holding batch-independent containers splits its batch between threads, the
 * containers' clones running on the other threads, and gives the serial path's results (the
 * parameter gradients up to the order of the sums). A batchnorm inside prevents the split. */
static void test_containers_split_between_threads(void **state)
{
    (void)state;
    eng_model *m[2];
    for (int k = 0; k < 2; k++) {
        eng_layer *res, *cat;
        eng_model *b = model_of(2, conv(2, 2, 3, 1, 1, true, ENG_F64), act(eng_tanh_new));
        assert_ok(eng_residual_new(b, NULL, &res));
        eng_model_release(b);
        eng_model *br[2] = {model_of(1, conv(2, 3, 1, 1, 0, true, ENG_F64)),
                            model_of(1, act(eng_sigmoid_new))};
        assert_ok(eng_concat_new(2, (const eng_model *const *)br, 2, &cat));
        eng_model_release(br[0]);
        eng_model_release(br[1]);
        m[k] = model_of(2, res, cat);
    }
    for (int p = 0; p < m[0]->layers[0]->nparams; p++) /* the same parameters in both */
        assert_ok(
            eng_tensor_copy(m[1]->layers[0]->params[p].value, m[0]->layers[0]->params[p].value));
    for (int p = 0; p < m[0]->layers[1]->nparams; p++)
        assert_ok(
            eng_tensor_copy(m[1]->layers[1]->params[p].value, m[0]->layers[1]->params[p].value));
    assert_true(m[0]->layers[0]->ops->batch_independent);
    m[0]->serial_only = true;
    eng_tensor *x = tensor_new(ENG_F64, 4, (int64_t[]){6, 2, 4, 4});
    tensor_randn(x, 11, 1.0);
    const eng_tensor *y[2], *dx[2];
    eng_tensor *dy = tensor_new(ENG_F64, 4, (int64_t[]){6, 5, 4, 4});
    tensor_randn(dy, 12, 1.0);
    for (int k = 0; k < 2; k++) {
        assert_ok(eng_set_threads(k ? 3 : 1));
        eng_model_zero_grad(m[k]);
        assert_ok(eng_model_forward(m[k], x, &y[k]));
        assert_ok(eng_model_backward(m[k], dy, &dx[k]));
    }
    assert_int_equal(m[1]->split, 3);
    assert_tensor_close(y[1], y[0], 0, "split y");
    assert_tensor_close(dx[1], dx[0], 0, "split dx");
    for (int i = 0; i < 2; i++)
        for (int p = 0; p < m[0]->layers[i]->nparams; p++)
            assert_tensor_close(m[1]->layers[i]->params[p].grad, m[0]->layers[i]->params[p].grad,
                                1e-14, m[0]->layers[i]->params[p].name);
    assert_ok(eng_set_threads(1));
    eng_tensor_release(x);
    eng_tensor_release(dy);
    eng_model_release(m[0]);
    eng_model_release(m[1]);
    /* with a batchnorm inside, no split */
    eng_layer *res;
    eng_model *b = model_of(1, bn2d(2, ENG_F64));
    assert_ok(eng_residual_new(b, NULL, &res));
    assert_false(res->ops->batch_independent);
    eng_layer_release(res);
    eng_model_release(b);
}

static void test_containers_reject_bad_models_and_shapes(void **state)
{
    (void)state;
    eng_model *empty;
    eng_layer *out;
    assert_ok(eng_model_new(&empty));
    assert_error(eng_residual_new(empty, NULL, &out), ENG_EARG, "residual: a model with no layers");
    assert_null(out);
    eng_model *m = model_of(1, conv(2, 3, 1, 1, 0, true, ENG_F64));
    assert_error(eng_concat_new(1, (const eng_model *const *)&m, 1, &out), ENG_EARG,
                 "concat: dim 1");
    assert_error(eng_concat_new(2, (const eng_model *const *)&m, 0, &out), ENG_EARG,
                 "concat: 0 branches");
    assert_ok(eng_residual_new(m, NULL, &out));
    eng_tensor *x = tensor_new(ENG_F64, 4, (int64_t[]){1, 2, 4, 4});
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    assert_error(eng_layer_output_shape(out, x, &ndim, shape), ENG_ESHAPE,
                 "residual 'residual': for x [1,2,4,4] the block gives [1,3,4,4] but the "
                 "identity shortcut gives [1,2,4,4]");
    eng_layer_release(out);
    eng_tensor_release(x);
    eng_model_release(m);
    eng_model_release(empty);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_containers_match_pytorch_in_f32_and_f64),
        cmocka_unit_test(test_containers_pass_the_checker_in_f64),
        cmocka_unit_test(test_container_clones_are_independent),
        cmocka_unit_test(test_containers_split_between_threads),
        cmocka_unit_test(test_containers_reject_bad_models_and_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
