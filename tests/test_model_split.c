/* A model's batch split between threads and run stretch by stretch (engine/model_split.c,
 * engine/parallel.c): the same outputs, input gradients and parameter gradients as the plain
 * path (model->serial_only, the reference: test_model.c checks it against finite
 * differences), exactly with one thread, uneven splits,
 * accumulation, parameters changed between steps, the cases that must not split, a thread's
 * error reaching the caller, and the optimizers' split updates. */
#include "support.h"

/* conv(2->3, 3x3, pad 1) -> relu -> maxpool 2 -> flatten -> linear(27 -> 4) -> tanh ->
 * linear(4 -> 2), on x [N,2,6,6]; the same seed gives the same parameters. */
static eng_model *split_cnn(eng_dtype dtype, uint64_t seed, eng_layer *extra)
{
    eng_rng rng;
    eng_rng_seed(&rng, seed);
    eng_model *m;
    assert_ok(eng_model_new(&m));
    eng_layer *l[8];
    int n = 0;
    eng_conv2d_options o = {.padding_h = 1, .padding_w = 1};
    assert_ok(eng_conv2d_new(2, 3, 3, 3, &o, dtype, &rng, &l[n++]));
    assert_ok(eng_relu_new(&l[n++]));
    assert_ok(eng_maxpool2d_new(2, 2, 0, 0, 0, 0, &l[n++]));
    assert_ok(eng_flatten_new(&l[n++]));
    if (extra) {
        eng_layer_retain(extra);
        l[n++] = extra;
    }
    assert_ok(eng_linear_new(27, 4, true, dtype, &rng, &l[n++]));
    assert_ok(eng_tanh_new(&l[n++]));
    assert_ok(eng_linear_new(4, 2, true, dtype, &rng, &l[n++]));
    for (int i = 0; i < n; i++) {
        assert_ok(eng_model_add(m, l[i]));
        eng_layer_release(l[i]);
    }
    return m;
}

typedef struct step_result {
    eng_tensor *y, *dx;
} step_result;

/* zero_grad, forward, backward with dy = r; keeps copies of y and dx. */
static step_result run_step(eng_model *m, const eng_tensor *x, const eng_tensor *r, bool zero)
{
    if (zero)
        eng_model_zero_grad(m);
    const eng_tensor *y, *dx;
    assert_ok(eng_model_forward(m, x, &y));
    step_result s = {tensor_clone(y), NULL};
    assert_ok(eng_model_backward(m, r, &dx));
    s.dx = tensor_clone(dx);
    return s;
}

static void free_step(step_result s)
{
    eng_tensor_release(s.y);
    eng_tensor_release(s.dx);
}

static void assert_same_gradients(eng_model *a, eng_model *b, double tol)
{
    for (int i = 0; i < eng_model_param_count(a); i++) {
        char name[2 * ENG_NAME_MAX];
        eng_param *pa = eng_model_param(a, i, name, sizeof name);
        eng_param *pb = eng_model_param(b, i, NULL, 0);
        assert_tensor_close(pb->grad, pa->grad, tol, name);
    }
}

static void check_split_matches_serial(eng_dtype dtype, int threads, int64_t batch, double tol)
{
    eng_model *serial = split_cnn(dtype, 11, NULL), *split = split_cnn(dtype, 11, NULL);
    serial->serial_only = true;
    eng_tensor *x = TENSOR(dtype, batch, 2, 6, 6), *r = TENSOR(dtype, batch, 2);
    tensor_randn(x, 12, 1.0);
    tensor_randn(r, 13, 1.0);
    assert_ok(eng_set_threads(1));
    step_result a = run_step(serial, x, r, true);
    assert_int_equal(serial->split, 0);
    assert_ok(eng_set_threads(threads));
    step_result b = run_step(split, x, r, true);
    /* Proof that the split path ran: otherwise this test compares the serial path to itself. */
    assert_int_equal(split->split, batch < threads ? batch : threads);
    assert_tensor_close(b.y, a.y, tol, "output");
    assert_tensor_close(b.dx, a.dx, tol, "input gradient");
    assert_same_gradients(serial, split, tol);
    free_step(a);
    free_step(b);
    assert_ok(eng_set_threads(1));
    eng_tensor_release(x);
    eng_tensor_release(r);
    eng_model_release(serial);
    eng_model_release(split);
}

static void test_split_f64_equals_the_plain_path_for_even_and_uneven_batches(void **state)
{
    (void)state;
    check_split_matches_serial(ENG_F64, 1, 9, 0); /* one thread: stretches only, exact */
    check_split_matches_serial(ENG_F32, 1, 64, 0);
    check_split_matches_serial(ENG_F64, 2, 8, 1e-13);
    check_split_matches_serial(ENG_F64, 3, 7, 1e-13); /* rows 2, 2, 3 */
    check_split_matches_serial(ENG_F64, 4, 3, 1e-13); /* fewer samples than threads */
}

static void test_split_f32_equals_the_plain_path(void **state)
{
    (void)state;
    check_split_matches_serial(ENG_F32, 2, 64, 1e-5);
}

/* Images large enough that the stretch conv -> relu -> maxpool -> flatten runs one or two
 * samples at a time (about 140 KB of f64 activations per sample against the 256 KB budget):
 * several forwards before their backwards, which the layers must not mind (max-pool once
 * kept its winners from the last forward only). */
static void test_stretches_of_few_samples_equal_the_plain_path(void **state)
{
    (void)state;
    eng_model *m[2];
    for (int k = 0; k < 2; k++) {
        eng_rng rng;
        eng_rng_seed(&rng, 31);
        assert_ok(eng_model_new(&m[k]));
        eng_layer *l[6];
        eng_conv2d_options o = {.padding_h = 1, .padding_w = 1};
        assert_ok(eng_conv2d_new(1, 4, 3, 3, &o, ENG_F64, &rng, &l[0]));
        assert_ok(eng_relu_new(&l[1]));
        assert_ok(eng_maxpool2d_new(2, 2, 0, 0, 0, 0, &l[2]));
        assert_ok(eng_flatten_new(&l[3]));
        assert_ok(eng_linear_new(4 * 20 * 20, 3, true, ENG_F64, &rng, &l[4]));
        assert_ok(eng_tanh_new(&l[5]));
        for (int i = 0; i < 6; i++) {
            assert_ok(eng_model_add(m[k], l[i]));
            eng_layer_release(l[i]);
        }
    }
    m[0]->serial_only = true;
    eng_tensor *x = TENSOR(ENG_F64, 5, 1, 40, 40), *r = TENSOR(ENG_F64, 5, 3);
    tensor_randn(x, 32, 1.0);
    tensor_randn(r, 33, 1.0);
    assert_ok(eng_set_threads(1));
    step_result a = run_step(m[0], x, r, true), b = run_step(m[1], x, r, true);
    assert_int_equal(m[1]->split, 1);
    assert_tensor_close(b.y, a.y, 0, "output");
    assert_tensor_close(b.dx, a.dx, 0, "input gradient");
    assert_same_gradients(m[0], m[1], 0);
    free_step(a);
    free_step(b);
    eng_tensor_release(x);
    eng_tensor_release(r);
    eng_model_release(m[0]);
    eng_model_release(m[1]);
}

static void test_split_accumulates_gradients_across_backwards(void **state)
{
    (void)state;
    eng_model *serial = split_cnn(ENG_F64, 5, NULL), *split = split_cnn(ENG_F64, 5, NULL);
    serial->serial_only = true;
    eng_tensor *x = TENSOR(ENG_F64, 6, 2, 6, 6), *r = TENSOR(ENG_F64, 6, 2);
    tensor_randn(x, 6, 1.0);
    tensor_randn(r, 7, 1.0);
    assert_ok(eng_set_threads(1));
    free_step(run_step(serial, x, r, true));
    free_step(run_step(serial, x, r, false));
    assert_ok(eng_set_threads(2));
    free_step(run_step(split, x, r, true));
    free_step(run_step(split, x, r, false));
    assert_int_equal(split->split, 2);
    assert_same_gradients(serial, split, 1e-13);
    /* The sum of two equal backwards is twice one. */
    eng_param *w = eng_model_param(split, 0, NULL, 0);
    eng_tensor *twice = tensor_clone(w->grad);
    eng_model_zero_grad(split);
    free_step(run_step(split, x, r, true));
    assert_ok(eng_tensor_binary_scalar(w->grad, w->grad, 2.0, ENG_MUL));
    assert_tensor_close(w->grad, twice, 1e-14, "twice the gradient");
    assert_ok(eng_set_threads(1));
    eng_tensor_release(twice);
    eng_tensor_release(x);
    eng_tensor_release(r);
    eng_model_release(serial);
    eng_model_release(split);
}

/* The other threads' clones share the parameters: an in-place update and a replaced tensor
 * must both reach them. */
static void test_split_follows_parameters_changed_between_steps(void **state)
{
    (void)state;
    eng_model *serial = split_cnn(ENG_F64, 8, NULL), *split = split_cnn(ENG_F64, 8, NULL);
    serial->serial_only = true;
    eng_tensor *x = TENSOR(ENG_F64, 4, 2, 6, 6), *r = TENSOR(ENG_F64, 4, 2);
    tensor_randn(x, 9, 1.0);
    tensor_randn(r, 10, 1.0);
    assert_ok(eng_set_threads(2));
    free_step(run_step(split, x, r, true)); /* creates the clones */
    for (int i = 0; i < eng_model_param_count(split); i++) {
        eng_param *ps = eng_model_param(split, i, NULL, 0),
                  *pr = eng_model_param(serial, i, NULL, 0);
        if (i == 0) {
            /* replaced: a new tensor with new values */
            eng_tensor *fresh = tensor_clone(ps->value);
            tensor_randn(fresh, 77, 0.5);
            eng_tensor_release(ps->value);
            ps->value = fresh;
            assert_ok(eng_tensor_copy(pr->value, fresh));
        } else {
            /* changed in place */
            assert_ok(eng_tensor_binary_scalar(ps->value, ps->value, 0.5, ENG_MUL));
            assert_ok(eng_tensor_binary_scalar(pr->value, pr->value, 0.5, ENG_MUL));
        }
    }
    step_result b = run_step(split, x, r, true);
    assert_int_equal(split->split, 2);
    assert_ok(eng_set_threads(1));
    step_result a = run_step(serial, x, r, true);
    assert_tensor_close(b.y, a.y, 1e-13, "output after the change");
    assert_same_gradients(serial, split, 1e-13);
    free_step(a);
    free_step(b);
    eng_tensor_release(x);
    eng_tensor_release(r);
    eng_model_release(serial);
    eng_model_release(split);
}

static void test_split_is_not_used_for_dropout(void **state)
{
    (void)state;
    eng_rng rng;
    eng_rng_seed(&rng, 3);
    eng_layer *drop;
    assert_ok(eng_dropout_new(0.5, &rng, &drop));
    eng_model *m = split_cnn(ENG_F64, 4, drop);
    eng_layer_release(drop);
    eng_tensor *x = TENSOR(ENG_F64, 4, 2, 6, 6);
    tensor_randn(x, 5, 1.0);
    assert_ok(eng_set_threads(2));
    const eng_tensor *y;
    assert_ok(eng_model_forward(m, x, &y));
    assert_int_equal(m->split, 0); /* its random masks would depend on the split */
    assert_ok(eng_set_threads(1));
    eng_tensor_release(x);
    eng_model_release(m);
}

/* A batch-independent layer that fails on rows whose first element is negative, to make one
 * thread fail while the others succeed. */
static eng_status picky_shape(const eng_layer *layer, const eng_tensor *x, int *ndim,
                              int64_t *shape)
{
    (void)layer;
    *ndim = x->ndim;
    memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    return ENG_OK;
}

static eng_status picky_forward(eng_layer *layer, const eng_tensor *x, eng_tensor *y, bool t)
{
    (void)layer;
    (void)t;
    int64_t row = eng_tensor_numel(x) / x->shape[0];
    for (int64_t i = 0; i < x->shape[0]; i++)
        if (ENG_F64_DATA(x)[i * row] < 0)
            return eng_error(ENG_EARG, "picky: row %lld of %lld is negative", (long long)i + 1,
                             (long long)x->shape[0]);
    return eng_tensor_copy(y, x);
}

static eng_status picky_backward(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                                 const eng_tensor *dy, eng_tensor *dx)
{
    (void)layer;
    (void)x;
    (void)y;
    return dx ? eng_tensor_copy(dx, dy) : ENG_OK;
}

static const eng_layer_ops picky_ops;

static eng_status picky_clone(const eng_layer *layer, eng_dtype dtype, eng_layer **out)
{
    (void)layer;
    *out = calloc(1, sizeof **out);
    assert_non_null(*out);
    eng_layer_init(*out, &picky_ops, dtype);
    return ENG_OK;
}

static const eng_layer_ops picky_ops = {
    .clone = picky_clone,
    .kind = "picky",
    .output_shape = picky_shape,
    .forward = picky_forward,
    .backward = picky_backward,
    .batch_independent = true,
};

static void test_split_reports_the_failing_threads_error(void **state)
{
    (void)state;
    eng_layer *picky = calloc(1, sizeof *picky);
    eng_layer_init(picky, &picky_ops, ENG_F64);
    eng_model *m;
    assert_ok(eng_model_new(&m));
    assert_ok(eng_model_add(m, picky));
    eng_layer_release(picky);
    eng_tensor *x = TENSOR(ENG_F64, 6, 3);
    eng_tensor_fill(x, 1.0);
    eng_tensor_set_flat(x, 5 * 3, -1.0); /* the last row: the third thread's second row */
    assert_ok(eng_set_threads(3));
    const eng_tensor *y;
    assert_error(eng_model_forward(m, x, &y), ENG_EARG, "layer 1 of 1", "row 2 of 2");
    assert_null(y);
    eng_tensor_set_flat(x, 5 * 3, 1.0);
    assert_ok(eng_model_forward(m, x, &y));
    assert_int_equal(m->split, 3);
    assert_tensor_close(y, x, 0, "copied through");
    assert_ok(eng_set_threads(1));
    eng_tensor_release(x);
    eng_model_release(m);
}

/* Element-wise updates split by elements give exactly the one-thread result: SGD (Nesterov,
 * weight decay), Adam with AMSGrad, AdamW. */
static eng_status make_optimizer(int kind, eng_model *m, eng_optimizer **out)
{
    eng_sgd_options sgd = {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true};
    eng_adam_options adam = {.lr = 0.01,
                             .beta1 = 0.9,
                             .beta2 = 0.999,
                             .eps = 1e-8,
                             .weight_decay = 0.01,
                             .amsgrad = true};
    switch (kind) {
    case 0: return eng_sgd_new(eng_model_params(m), &sgd, out);
    case 1: return eng_adam_new(eng_model_params(m), &adam, out);
    default: return eng_adamw_new(eng_model_params(m), &adam, out);
    }
}

static void test_optimizer_steps_split_between_threads_are_exact(void **state)
{
    (void)state;
    for (int kind = 0; kind < 3; kind++) {
        eng_model *models[2];
        eng_optimizer *opts[2];
        for (int k = 0; k < 2; k++) {
            models[k] = split_cnn(ENG_F32, 21, NULL);
            assert_ok(make_optimizer(kind, models[k], &opts[k]));
            assert_ok(eng_set_threads(k == 0 ? 1 : 3));
            for (int step = 0; step < 3; step++) {
                for (int i = 0; i < eng_model_param_count(models[k]); i++)
                    tensor_randn(eng_model_param(models[k], i, NULL, 0)->grad, 100 + step * 10 + i,
                                 1.0);
                assert_ok(eng_optimizer_step(opts[k]));
            }
        }
        assert_ok(eng_set_threads(1));
        for (int i = 0; i < eng_model_param_count(models[0]); i++) {
            char name[2 * ENG_NAME_MAX];
            eng_param *a = eng_model_param(models[0], i, name, sizeof name);
            eng_param *b = eng_model_param(models[1], i, NULL, 0);
            assert_tensor_close(b->value, a->value, 0, name);
        }
        for (int k = 0; k < 2; k++) {
            eng_optimizer_release(opts[k]);
            eng_model_release(models[k]);
        }
    }
}

static void test_thread_count_outside_its_range_is_refused(void **state)
{
    (void)state;
    assert_error(eng_set_threads(0), ENG_EARG, "thread count 0");
    assert_error(eng_set_threads(ENG_MAX_THREADS + 1), ENG_EARG, "1..64");
    assert_int_equal(eng_threads(), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_f64_equals_the_plain_path_for_even_and_uneven_batches),
        cmocka_unit_test(test_split_f32_equals_the_plain_path),
        cmocka_unit_test(test_stretches_of_few_samples_equal_the_plain_path),
        cmocka_unit_test(test_split_accumulates_gradients_across_backwards),
        cmocka_unit_test(test_split_follows_parameters_changed_between_steps),
        cmocka_unit_test(test_split_is_not_used_for_dropout),
        cmocka_unit_test(test_split_reports_the_failing_threads_error),
        cmocka_unit_test(test_optimizer_steps_split_between_threads_are_exact),
        cmocka_unit_test(test_thread_count_outside_its_range_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
