/* The sequential model: automatic names, parameter iteration, forward/backward against float64
 * finite differences, buffer reuse, model_to, training mode, and error paths. */
#include "support.h"

/* conv(2->3, 3x3, pad 1) -> relu -> maxpool 2 -> flatten -> linear(3*3*3 -> 4) -> tanh ->
 * linear(4 -> 2), on x [N,2,6,6]. */
static eng_model *small_cnn(eng_dtype dtype, uint64_t seed)
{
    eng_rng rng;
    eng_rng_seed(&rng, seed);
    eng_model *m;
    assert_ok(eng_model_new(&m));
    eng_layer *l[7];
    eng_conv2d_options o = {.padding_h = 1, .padding_w = 1};
    assert_ok(eng_conv2d_new(2, 3, 3, 3, &o, dtype, &rng, &l[0]));
    assert_ok(eng_relu_new(&l[1]));
    assert_ok(eng_maxpool2d_new(2, 2, 0, 0, 0, 0, &l[2]));
    assert_ok(eng_flatten_new(&l[3]));
    assert_ok(eng_linear_new(27, 4, true, dtype, &rng, &l[4]));
    assert_ok(eng_tanh_new(&l[5]));
    assert_ok(eng_linear_new(4, 2, true, dtype, &rng, &l[6]));
    for (int i = 0; i < 7; i++) {
        assert_ok(eng_model_add(m, l[i]));
        eng_layer_release(l[i]); /* the model holds its own reference */
    }
    return m;
}

static void test_model_names_layers_by_kind_and_count(void **state)
{
    (void)state;
    eng_model *m = small_cnn(ENG_F32, 1);
    const char *names[7] = {"conv2d_1", "relu_1", "maxpool2d_1", "flatten_1",
                            "linear_1", "tanh_1", "linear_2"};
    assert_int_equal(m->nlayers, 7);
    for (int i = 0; i < 7; i++)
        assert_string_equal(m->layers[i]->name, names[i]);
    eng_layer *r;
    assert_ok(eng_relu_new(&r));
    assert_ok(eng_model_add(m, r));
    assert_string_equal(r->name, "relu_2");
    eng_layer_release(r);
    eng_model_release(m);
}

static void test_model_iterates_parameters_with_full_names(void **state)
{
    (void)state;
    eng_model *m = small_cnn(ENG_F64, 1);
    const char *names[6] = {"conv2d_1.weight", "conv2d_1.bias",   "linear_1.weight",
                            "linear_1.bias",   "linear_2.weight", "linear_2.bias"};
    const char *shapes[6] = {"[3,2,3,3]", "[3]", "[4,27]", "[4]", "[2,4]", "[2]"};
    assert_int_equal(eng_model_param_count(m), 6);
    for (int i = 0; i < 6; i++) {
        char full[2 * ENG_NAME_MAX];
        eng_param *p = eng_model_param(m, i, full, sizeof full);
        assert_non_null(p);
        assert_string_equal(full, names[i]);
        assert_string_equal(eng_tensor_shape_str(p->value), shapes[i]);
    }
    assert_null(eng_model_param(m, 6, NULL, 0));
    assert_int_equal(eng_model_dtype(m), ENG_F64);
    eng_model_release(m);
}

static void test_model_keeps_explicit_names_and_refuses_duplicates(void **state)
{
    (void)state;
    eng_model *m;
    assert_ok(eng_model_new(&m));
    eng_layer *a, *b, *c;
    assert_ok(eng_relu_new(&a));
    assert_ok(eng_relu_new(&b));
    assert_ok(eng_relu_new(&c));
    assert_ok(eng_layer_set_name(a, "relu_2"));
    assert_ok(eng_model_add(m, a));
    assert_ok(eng_model_add(m, b)); /* would be relu_2: taken */
    assert_string_equal(a->name, "relu_2");
    assert_true(strncmp(b->name, "relu_", 5) == 0);
    assert_string_not_equal(b->name, "relu_2");
    assert_error(eng_model_add(m, a), ENG_EARG, "'relu_2'", "already");
    assert_ok(eng_layer_set_name(c, "relu_2"));
    assert_error(eng_model_add(m, c), ENG_EARG, "two layers named 'relu_2'");
    assert_int_equal(m->nlayers, 2);
    assert_int_equal(eng_model_param_count(m), 0);
    assert_int_equal(eng_model_dtype(m), ENG_F32);
    eng_model_release(m);
    /* The model dropped its references; ours remain valid. */
    assert_int_equal(a->refcount, 1);
    eng_layer_release(a);
    eng_layer_release(b);
    eng_layer_release(c);
}

typedef struct model_probe {
    eng_model *model;
    eng_tensor *x, *r;
} model_probe;

static double model_objective(void *ctx)
{
    model_probe *p = ctx;
    const eng_tensor *y;
    assert_ok(eng_model_forward(p->model, p->x, &y));
    return dot(p->r, y);
}

static void test_model_gradients_match_finite_differences(void **state)
{
    (void)state;
    eng_model *m = small_cnn(ENG_F64, 2);
    eng_tensor *x = TENSOR(ENG_F64, 3, 2, 6, 6), *r = TENSOR(ENG_F64, 3, 2);
    tensor_distinct(x, 3, 0.01); /* no max-pool near-ties */
    tensor_randn(r, 4, 1.0);
    /* Move the conv outputs away from the relu kink: check them before trusting the test. */
    const eng_tensor *y;
    assert_ok(eng_model_forward(m, x, &y));
    assert_true(max_abs(m->outputs[0]) > 0);
    for (int64_t i = 0; i < eng_tensor_numel(m->outputs[0]); i++)
        assert_true(fabs(eng_tensor_get_flat(m->outputs[0], i)) > 1e-4);
    /* ... and no 2x2 pooling window whose two largest positive values are within 1e-4. */
    const eng_tensor *a = m->outputs[1]; /* relu output [3,3,6,6] */
    for (int64_t plane = 0; plane < 9; plane++)
        for (int oy = 0; oy < 3; oy++)
            for (int ox = 0; ox < 3; ox++) {
                double v[4], top = -1, second = -1;
                for (int k = 0; k < 4; k++) {
                    v[k] = ENG_F64_DATA(a)[plane * 36 + (2 * oy + k / 2) * 6 + 2 * ox + k % 2];
                    if (v[k] > top) {
                        second = top;
                        top = v[k];
                    } else if (v[k] > second) {
                        second = v[k];
                    }
                }
                assert_true(top == 0 || top - second > 1e-4);
            }
    eng_model_zero_grad(m);
    assert_ok(eng_model_forward(m, x, &y));
    const eng_tensor *dx;
    assert_ok(eng_model_backward(m, r, &dx));
    eng_tensor *dx_copy = tensor_clone(dx);
    model_probe p = {m, x, r};
    assert_gradient(x, dx_copy, model_objective, &p, 1e-6, 1e-7, "model dx");
    for (int i = 0; i < eng_model_param_count(m); i++) {
        char full[2 * ENG_NAME_MAX];
        eng_param *prm = eng_model_param(m, i, full, sizeof full);
        eng_tensor *g = tensor_clone(prm->grad);
        assert_gradient(prm->value, g, model_objective, &p, 1e-6, 1e-7, full);
        eng_tensor_release(g);
    }
    eng_tensor_release(dx_copy);
    eng_tensor_release(x);
    eng_tensor_release(r);
    eng_model_release(m);
}

static void test_model_forward_equals_the_layers_applied_in_turn(void **state)
{
    (void)state;
    eng_model *m = small_cnn(ENG_F32, 5);
    eng_tensor *x = TENSOR(ENG_F32, 2, 2, 6, 6);
    tensor_randn(x, 6, 1.0);
    const eng_tensor *y;
    assert_ok(eng_model_forward(m, x, &y));
    eng_tensor *in = tensor_clone(x);
    for (int i = 0; i < m->nlayers; i++) {
        int ndim;
        int64_t shape[ENG_MAX_DIMS];
        assert_ok(eng_layer_output_shape(m->layers[i], in, &ndim, shape));
        eng_tensor *out = tensor_new(ENG_F32, ndim, shape);
        assert_ok(eng_layer_forward(m->layers[i], in, out, true));
        eng_tensor_release(in);
        in = out;
    }
    assert_true(max_abs_diff(y, in) == 0);
    assert_string_equal(eng_tensor_shape_str(y), "[2,2]");
    eng_tensor_release(in);
    eng_tensor_release(x);
    eng_model_release(m);
}

static void test_model_reuses_its_buffers_across_steps(void **state)
{
    (void)state;
    eng_model *m = small_cnn(ENG_F64, 7);
    eng_tensor *x = TENSOR(ENG_F64, 4, 2, 6, 6), *dy = TENSOR(ENG_F64, 4, 2);
    tensor_randn(x, 8, 1.0);
    tensor_randn(dy, 9, 1.0);
    const eng_tensor *y1, *y2, *dx1, *dx2;
    assert_ok(eng_model_forward(m, x, &y1));
    assert_ok(eng_model_backward(m, dy, &dx1));
    eng_tensor *outputs[7], *dinputs[7];
    void *data[7];
    for (int i = 0; i < 7; i++) {
        outputs[i] = m->outputs[i];
        dinputs[i] = m->dinputs[i];
        data[i] = m->outputs[i]->storage->data;
    }
    eng_tensor *y_first = tensor_clone(y1);
    tensor_randn(x, 10, 1.0);
    assert_ok(eng_model_forward(m, x, &y2));
    assert_ok(eng_model_backward(m, dy, &dx2));
    assert_ptr_equal(y1, y2);
    assert_ptr_equal(dx1, dx2);
    for (int i = 0; i < 7; i++) {
        assert_ptr_equal(m->outputs[i], outputs[i]);
        assert_ptr_equal(m->outputs[i]->storage->data, data[i]);
        assert_ptr_equal(m->dinputs[i], dinputs[i]);
    }
    assert_true(max_abs_diff(y2, y_first) > 0); /* new values in the same buffer */
    /* Another batch size: new buffers of the new shape, and right values. */
    eng_tensor *x1, *dy1;
    assert_ok(eng_tensor_narrow(x, 0, 1, 1, &x1));
    assert_ok(eng_tensor_narrow(dy, 0, 1, 1, &dy1));
    eng_tensor *x1c = tensor_clone(x1), *dy1c = tensor_clone(dy1);
    const eng_tensor *y3;
    eng_tensor *y_full = tensor_clone(y2);
    assert_ok(eng_model_forward(m, x1c, &y3));
    assert_string_equal(eng_tensor_shape_str(y3), "[1,2]");
    eng_tensor *row;
    assert_ok(eng_tensor_narrow(y_full, 0, 1, 1, &row));
    assert_tensor_close(y3, row, 1e-14, "batch of one");
    assert_ok(eng_model_backward(m, dy1c, NULL));
    eng_tensor_release(row);
    eng_tensor_release(y_full);
    eng_tensor_release(x1);
    eng_tensor_release(dy1);
    eng_tensor_release(x1c);
    eng_tensor_release(dy1c);
    eng_tensor_release(y_first);
    eng_tensor_release(x);
    eng_tensor_release(dy);
    eng_model_release(m);
}

static void test_model_backward_accumulates_and_skips_dx_when_not_asked(void **state)
{
    (void)state;
    eng_model *m = small_cnn(ENG_F64, 11);
    eng_tensor *x = TENSOR(ENG_F64, 2, 2, 6, 6), *dy = TENSOR(ENG_F64, 2, 2);
    tensor_randn(x, 12, 1.0);
    tensor_randn(dy, 13, 1.0);
    const eng_tensor *y, *dx;
    eng_model_zero_grad(m);
    assert_ok(eng_model_forward(m, x, &y));
    assert_ok(eng_model_backward(m, dy, &dx));
    assert_non_null(dx);
    int n = eng_model_param_count(m);
    eng_tensor *once[6];
    for (int i = 0; i < n; i++)
        once[i] = tensor_clone(eng_model_param(m, i, NULL, 0)->grad);
    assert_ok(eng_model_backward(m, dy, NULL)); /* no dx: the first layer's input grad skipped */
    for (int i = 0; i < n; i++) {
        eng_tensor *g = eng_model_param(m, i, NULL, 0)->grad;
        assert_ok(eng_tensor_binary_scalar(once[i], once[i], 2, ENG_MUL));
        assert_tensor_close(g, once[i], 1e-15, "twice accumulated");
        eng_tensor_release(once[i]);
    }
    eng_model_zero_grad(m);
    for (int i = 0; i < n; i++)
        assert_true(max_abs(eng_model_param(m, i, NULL, 0)->grad) == 0);
    eng_tensor_release(x);
    eng_tensor_release(dy);
    eng_model_release(m);
}

static void test_model_accepts_non_contiguous_dy(void **state)
{
    (void)state;
    eng_model *m = small_cnn(ENG_F64, 14);
    eng_tensor *x = TENSOR(ENG_F64, 3, 2, 6, 6), *wide = TENSOR(ENG_F64, 3, 4), *dy;
    tensor_randn(x, 15, 1.0);
    tensor_randn(wide, 16, 1.0);
    assert_ok(eng_tensor_narrow(wide, 1, 1, 2, &dy));
    eng_tensor *dyc = tensor_clone(dy);
    const eng_tensor *y, *dx;
    assert_ok(eng_model_forward(m, x, &y));
    assert_ok(eng_model_backward(m, dyc, &dx));
    eng_tensor *expected = tensor_clone(dx);
    assert_ok(eng_model_backward(m, dy, &dx));
    assert_true(max_abs_diff(dx, expected) == 0);
    eng_tensor_release(expected);
    eng_tensor_release(dyc);
    eng_tensor_release(dy);
    eng_tensor_release(wide);
    eng_tensor_release(x);
    eng_model_release(m);
}

static void test_model_accepts_non_contiguous_input(void **state)
{
    (void)state;
    eng_model *m = small_cnn(ENG_F64, 17);
    eng_tensor *wide = TENSOR(ENG_F64, 3, 2, 6, 9), *x;
    tensor_randn(wide, 18, 1.0);
    assert_ok(eng_tensor_narrow(wide, 3, 2, 6, &x)); /* [3,2,6,6], rows 9 apart */
    eng_tensor *xc = tensor_clone(x);
    const eng_tensor *y;
    assert_ok(eng_model_forward(m, xc, &y));
    eng_tensor *expected = tensor_clone(y);
    eng_status st = eng_model_forward(m, x, &y);
    if (st == ENG_OK)
        assert_true(max_abs_diff(y, expected) == 0);
    else
        assert_error(st, ENG_ESTATE, "contiguous");
    eng_tensor_release(expected);
    eng_tensor_release(xc);
    eng_tensor_release(x);
    eng_tensor_release(wide);
    eng_model_release(m);
}

static void test_model_to_converts_a_copy_with_the_same_names(void **state)
{
    (void)state;
    eng_model *m = small_cnn(ENG_F32, 19), *m64, *back;
    eng_model_set_training(m, false);
    assert_ok(eng_model_to(m, ENG_F64, &m64));
    assert_int_equal(eng_model_dtype(m64), ENG_F64);
    assert_false(m64->training);
    assert_int_equal(m64->nlayers, m->nlayers);
    for (int i = 0; i < m->nlayers; i++) {
        assert_string_equal(m64->layers[i]->name, m->layers[i]->name);
        assert_ptr_not_equal(m64->layers[i], m->layers[i]);
    }
    for (int i = 0; i < eng_model_param_count(m); i++) {
        eng_param *a = eng_model_param(m, i, NULL, 0), *b = eng_model_param(m64, i, NULL, 0);
        assert_int_equal(b->value->dtype, ENG_F64);
        assert_true(max_abs_diff(a->value, b->value) == 0); /* f32 -> f64 is exact */
    }
    eng_tensor *x = TENSOR(ENG_F32, 2, 2, 6, 6);
    tensor_randn(x, 20, 1.0);
    eng_tensor *x64 = tensor_to(x, ENG_F64);
    const eng_tensor *y, *y64;
    assert_ok(eng_model_forward(m, x, &y));
    assert_ok(eng_model_forward(m64, x64, &y64));
    assert_tensor_close(y, y64, 1e-5, "f32 model against its f64 copy");
    /* The copy is independent. */
    eng_tensor_fill(eng_model_param(m64, 0, NULL, 0)->value, 0);
    assert_true(max_abs(eng_model_param(m, 0, NULL, 0)->value) > 0);
    /* And back to f32: the same values. */
    assert_ok(eng_model_to(m64, ENG_F32, &back));
    assert_int_equal(eng_model_dtype(back), ENG_F32);
    assert_true(max_abs(eng_model_param(back, 0, NULL, 0)->value) == 0);
    assert_true(max_abs_diff(eng_model_param(back, 2, NULL, 0)->value,
                             eng_model_param(m, 2, NULL, 0)->value) == 0);
    eng_tensor_release(x);
    eng_tensor_release(x64);
    eng_model_release(back);
    eng_model_release(m64);
    eng_model_release(m);
}

static void test_model_training_flag_reaches_dropout(void **state)
{
    (void)state;
    eng_model *m;
    assert_ok(eng_model_new(&m));
    assert_true(m->training);
    eng_layer *d;
    assert_ok(eng_dropout_new(0.5, NULL, &d));
    assert_ok(eng_model_add(m, d));
    eng_layer_release(d);
    eng_tensor *x = TENSOR(ENG_F32, 1000);
    eng_tensor_fill(x, 1);
    const eng_tensor *y;
    assert_ok(eng_model_forward(m, x, &y));
    double s = eng_tensor_sum(y);
    assert_true(s > 800 && s < 1200 && max_abs(y) == 2); /* about half kept, scaled by 2 */
    eng_model_set_training(m, false);
    assert_ok(eng_model_forward(m, x, &y));
    assert_true(max_abs_diff(y, x) == 0);
    eng_tensor_release(x);
    eng_model_release(m);
}

static void test_model_forward_errors_name_the_layer_and_shapes(void **state)
{
    (void)state;
    eng_model *empty, *m = small_cnn(ENG_F64, 21);
    assert_ok(eng_model_new(&empty));
    eng_tensor *x = TENSOR(ENG_F64, 2, 3, 6, 6), *x32 = TENSOR(ENG_F32, 2, 2, 6, 6),
               *x_big = TENSOR(ENG_F64, 2, 2, 8, 8);
    const eng_tensor *y = (const eng_tensor *)1;
    assert_error(eng_model_forward(empty, x, &y), ENG_ESTATE, "no layers");
    assert_null(y);
    assert_error(eng_model_forward(m, x, &y), ENG_ESHAPE, "layer 1 of 7", "conv2d_1", "[2,3,6,6]",
                 "[N,2,H,W]");
    assert_error(eng_model_forward(m, x32, &y), ENG_EDTYPE, "layer 1 of 7", "f32", "f64");
    /* 8x8 images reach linear_1 with 48 features instead of 27 */
    assert_error(eng_model_forward(m, x_big, &y), ENG_ESHAPE, "layer 5 of 7", "linear_1", "[2,48]",
                 "[N,27]");
    assert_null(y);
    /* No backward after a failed forward. */
    eng_tensor *dy = TENSOR(ENG_F64, 2, 2);
    assert_error(eng_model_backward(m, dy, NULL), ENG_ESTATE, "forward");
    eng_tensor_release(dy);
    eng_tensor_release(x);
    eng_tensor_release(x32);
    eng_tensor_release(x_big);
    eng_model_release(empty);
    eng_model_release(m);
}

static void test_model_backward_rejects_dy_unlike_the_output(void **state)
{
    (void)state;
    eng_model *m = small_cnn(ENG_F64, 22);
    eng_tensor *x = TENSOR(ENG_F64, 2, 2, 6, 6), *dy = TENSOR(ENG_F64, 2, 3),
               *dy32 = TENSOR(ENG_F32, 2, 2);
    const eng_tensor *y, *dx = (const eng_tensor *)1;
    assert_error(eng_model_backward(m, dy, &dx), ENG_ESTATE, "without a successful forward");
    assert_null(dx);
    assert_ok(eng_model_forward(m, x, &y));
    assert_error(eng_model_backward(m, dy, &dx), ENG_ESHAPE, "[2,3]", "[2,2]");
    assert_error(eng_model_backward(m, dy32, &dx), ENG_EDTYPE, "f32", "f64");
    eng_tensor_release(x);
    eng_tensor_release(dy);
    eng_tensor_release(dy32);
    eng_model_release(m);
}

/* linear(3 -> 4) -> relu -> linear(4 -> 2) in f32, one forward and backward on x. */
static eng_model *guard_model(const eng_tensor *x, double dy_value)
{
    eng_model *m;
    assert_ok(eng_model_new(&m));
    eng_layer *l[3];
    eng_rng rng;
    eng_rng_seed(&rng, 5);
    assert_ok(eng_linear_new(3, 4, true, ENG_F32, &rng, &l[0]));
    assert_ok(eng_relu_new(&l[1]));
    assert_ok(eng_linear_new(4, 2, true, ENG_F32, &rng, &l[2]));
    for (int i = 0; i < 3; i++) {
        assert_ok(eng_model_add(m, l[i]));
        eng_layer_release(l[i]);
    }
    const eng_tensor *y;
    assert_ok(eng_model_forward(m, x, &y));
    eng_tensor *dy = TENSOR(ENG_F32, 2, 2);
    eng_tensor_fill(dy, dy_value);
    assert_ok(eng_model_backward(m, dy, NULL));
    eng_tensor_release(dy);
    return m;
}

static void test_model_check_finite_names_the_step_loss_and_first_culprit(void **state)
{
    (void)state;
    eng_tensor *x = TENSOR(ENG_F32, 2, 3);
    eng_tensor_fill(x, 0.5);
    eng_model *m = guard_model(x, 1);
    assert_ok(eng_model_check_finite(m, 7, 0.25));
    assert_error(eng_model_check_finite(m, 7, NAN), ENG_ENONFINITE, "step 7 (loss nan)",
                 "the loss is not finite");
    eng_model_release(m);

    /* a non-finite input */
    ENG_F32_DATA(x)[4] = INFINITY;
    m = guard_model(x, 1);
    assert_error(eng_model_check_finite(m, 3, INFINITY), ENG_ENONFINITE, "step 3 (loss inf)",
                 "the input x has inf at [1,1] of [2,3]");
    eng_model_release(m);
    ENG_F32_DATA(x)[4] = 0.5;

    /* an output that overflows float: named before anything downstream */
    m = guard_model(x, 1);
    eng_tensor_fill(m->layers[0]->params[0].value, 3e38f);
    const eng_tensor *y;
    assert_ok(eng_model_forward(m, x, &y));
    assert_error(eng_model_check_finite(m, 12, 2.5), ENG_ENONFINITE, "step 12 (loss 2.5)",
                 "layer 1 'linear_1' (linear): output has inf at [0,0] of [2,4]");
    eng_model_release(m);

    /* a parameter made non-finite by an earlier update */
    m = guard_model(x, 1);
    ENG_F32_DATA(m->layers[2]->params[1].value)[1] = NAN;
    assert_error(eng_model_check_finite(m, 1, 1), ENG_ENONFINITE,
                 "layer 3 'linear_2' (linear): parameter bias has nan at [1] of [2]");
    eng_model_release(m);

    /* a gradient: the last layer's comes first (backward order) */
    m = guard_model(x, NAN);
    assert_error(eng_model_check_finite(m, 9, 0.5), ENG_ENONFINITE, "step 9 (loss 0.5)",
                 "layer 3 'linear_2' (linear): gradient of weight has nan at [0,0] of [2,4]");
    eng_model_release(m);
    eng_tensor_release(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_names_layers_by_kind_and_count),
        cmocka_unit_test(test_model_iterates_parameters_with_full_names),
        cmocka_unit_test(test_model_keeps_explicit_names_and_refuses_duplicates),
        cmocka_unit_test(test_model_gradients_match_finite_differences),
        cmocka_unit_test(test_model_forward_equals_the_layers_applied_in_turn),
        cmocka_unit_test(test_model_reuses_its_buffers_across_steps),
        cmocka_unit_test(test_model_backward_accumulates_and_skips_dx_when_not_asked),
        cmocka_unit_test(test_model_accepts_non_contiguous_dy),
        cmocka_unit_test(test_model_accepts_non_contiguous_input),
        cmocka_unit_test(test_model_to_converts_a_copy_with_the_same_names),
        cmocka_unit_test(test_model_training_flag_reaches_dropout),
        cmocka_unit_test(test_model_forward_errors_name_the_layer_and_shapes),
        cmocka_unit_test(test_model_backward_rejects_dy_unlike_the_output),
        cmocka_unit_test(test_model_check_finite_names_the_step_loss_and_first_culprit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
