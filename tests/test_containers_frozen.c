/* Containers' forward_frozen (engine/model_container_frozen.c): the layers inside run with
 * their branches (ReLU masks, max-pool winners) frozen at the reference point, against
 * expectations written out by hand here; the references follow the parameters inside when they
 * move (a new y_ref for the same x_ref); a container holding only smooth and freezable layers
 * has a forward_frozen, and the gradient checker then differences it kink-free. */
#include "support.h"

#include "../engine/gradcheck/gradcheck.h"
#include "../engine/model_container.h"

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

static eng_layer *act(eng_status (*make)(eng_layer **))
{
    eng_layer *l;
    assert_ok(make(&l));
    return l;
}

static eng_layer *pool2(void)
{
    eng_layer *l;
    assert_ok(eng_maxpool2d_new(2, 2, 2, 2, 0, 0, &l));
    return l;
}

/* The layer's output for x (forward, or forward_frozen at x_ref/y_ref when x_ref). */
static eng_tensor *run(eng_layer *l, const eng_tensor *x_ref, const eng_tensor *y_ref,
                       const eng_tensor *x)
{
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    assert_ok(eng_layer_output_shape(l, x, &ndim, shape));
    eng_tensor *y = tensor_new(x->dtype, ndim, shape);
    if (x_ref)
        assert_ok(l->ops->forward_frozen(l, x_ref, y_ref, x, y));
    else
        assert_ok(l->ops->forward(l, x, y, true));
    return y;
}

static void release3(eng_tensor *a, eng_tensor *b, eng_tensor *c)
{
    eng_tensor_release(a);
    eng_tensor_release(b);
    eng_tensor_release(c);
}

/* residual(ReLU): y = (x_ref > 0 ? x : 0) + x */
static void test_residual_relu_frozen(void **state)
{
    (void)state;
    eng_model *b = model_of(1, act(eng_relu_new));
    eng_layer *res;
    assert_ok(eng_residual_new(b, NULL, &res));
    eng_model_release(b);
    assert_non_null(res->ops->forward_frozen);
    eng_tensor *x_ref = TENSOR(ENG_F64, 2, 3, 4, 4), *x = TENSOR(ENG_F64, 2, 3, 4, 4);
    tensor_randn_away_from_zero(x_ref, 1, 1.0, 0.1);
    tensor_randn_away_from_zero(x, 2, 1.0, 0.1);
    eng_tensor *y_ref = run(res, NULL, NULL, x_ref), *y = run(res, x_ref, y_ref, x);
    eng_tensor *expected = TENSOR(ENG_F64, 2, 3, 4, 4);
    int64_t flips = 0;
    for (int64_t i = 0; i < eng_tensor_numel(x); i++) {
        double r = eng_tensor_get_flat(x_ref, i), v = eng_tensor_get_flat(x, i);
        eng_tensor_set_flat(expected, i, (r > 0 ? v : 0) + v);
        flips += (r > 0) != (v > 0);
    }
    assert_true(flips > 10); /* the plain forward would differ */
    assert_tensor_close(y, expected, 0, "residual(relu) frozen");
    eng_tensor *again = run(res, x_ref, y_ref, x_ref); /* at the reference: the forward's */
    assert_tensor_close(again, y_ref, 0, "frozen at the reference");
    release3(y_ref, y, expected);
    release3(again, x_ref, x);
    eng_layer_release(res);
}

/* sequential(max-pool 2x2, ReLU): the window's winner at x_ref, its value at x, the ReLU's
 * mask from the winner's value at x_ref */
static void test_sequential_pool_relu_frozen(void **state)
{
    (void)state;
    eng_model *b = model_of(2, pool2(), act(eng_relu_new));
    eng_layer *seq;
    assert_ok(eng_sequential_layer_new(b, &seq));
    eng_model_release(b);
    assert_non_null(seq->ops->forward_frozen);
    eng_tensor *x_ref = TENSOR(ENG_F64, 2, 2, 4, 4), *x = TENSOR(ENG_F64, 2, 2, 4, 4);
    tensor_distinct(x_ref, 3, 0.1);
    tensor_distinct(x, 4, 0.1);
    eng_tensor *y_ref = run(seq, NULL, NULL, x_ref), *y = run(seq, x_ref, y_ref, x);
    eng_tensor *expected = TENSOR(ENG_F64, 2, 2, 2, 2);
    for (int64_t p = 0; p < 4; p++)       /* (n, c) planes */
        for (int64_t o = 0; o < 4; o++) { /* the 2x2 outputs */
            int64_t best = -1;
            for (int64_t k = 0; k < 4; k++) {
                int64_t i = p * 16 + (o / 2 * 2 + k / 2) * 4 + o % 2 * 2 + k % 2;
                if (best < 0 || eng_tensor_get_flat(x_ref, i) > eng_tensor_get_flat(x_ref, best))
                    best = i;
            }
            double r = eng_tensor_get_flat(x_ref, best);
            eng_tensor_set_flat(expected, p * 4 + o, r > 0 ? eng_tensor_get_flat(x, best) : 0);
        }
    assert_tensor_close(y, expected, 0, "sequential(maxpool, relu) frozen");
    release3(y_ref, y, expected);
    release3(x_ref, x, NULL);
    eng_layer_release(seq);
}

/* concat(2, ReLU, Tanh): the ReLU's half frozen, the Tanh's half the plain tanh of x */
static void test_concat_frozen(void **state)
{
    (void)state;
    eng_model *br[2] = {model_of(1, act(eng_relu_new)), model_of(1, act(eng_tanh_new))};
    eng_layer *cat;
    assert_ok(eng_concat_new(2, (const eng_model *const *)br, 2, &cat));
    eng_model_release(br[0]);
    eng_model_release(br[1]);
    assert_non_null(cat->ops->forward_frozen);
    eng_tensor *x_ref = TENSOR(ENG_F64, 2, 3, 2, 2), *x = TENSOR(ENG_F64, 2, 3, 2, 2);
    tensor_randn_away_from_zero(x_ref, 5, 1.0, 0.1);
    tensor_randn_away_from_zero(x, 6, 1.0, 0.1);
    eng_tensor *y_ref = run(cat, NULL, NULL, x_ref), *y = run(cat, x_ref, y_ref, x);
    eng_tensor *expected = TENSOR(ENG_F64, 2, 6, 2, 2);
    for (int64_t n = 0; n < 2; n++)
        for (int64_t j = 0; j < 12; j++) {
            double r = eng_tensor_get_flat(x_ref, n * 12 + j),
                   v = eng_tensor_get_flat(x, n * 12 + j);
            eng_tensor_set_flat(expected, n * 24 + j, r > 0 ? v : 0);
            eng_tensor_set_flat(expected, n * 24 + 12 + j, tanh(v));
        }
    assert_tensor_close(y, expected, 1e-15, "concat(relu, tanh) frozen");
    release3(y_ref, y, expected);
    release3(x_ref, x, NULL);
    eng_layer_release(cat);
}

/* residual(linear, ReLU): y = (W x_ref + b > 0 ? W x + b : 0) + x, and after W changes (a new
 * reference output for the same x_ref) the masks follow the new W */
static void test_references_follow_the_parameters(void **state)
{
    (void)state;
    eng_layer *lin;
    assert_ok(eng_linear_new(4, 4, true, ENG_F64, NULL, &lin));
    tensor_randn(lin->params[0].value, 7, 1.0);
    tensor_randn(lin->params[1].value, 8, 0.5);
    eng_model *b = model_of(2, lin, act(eng_relu_new));
    eng_layer *res;
    assert_ok(eng_residual_new(b, NULL, &res));
    eng_model_release(b);
    eng_tensor *x_ref = TENSOR(ENG_F64, 8, 4), *x = TENSOR(ENG_F64, 8, 4);
    tensor_randn(x_ref, 9, 1.0);
    tensor_randn(x, 10, 1.0);
    for (int pass = 0; pass < 2; pass++) {
        for (int p = 0; pass == 1 && p < 2; p++) /* the parameters move: every mask flips */
            for (int64_t i = 0; i < eng_tensor_numel(lin->params[p].value); i++)
                eng_tensor_set_flat(lin->params[p].value, i,
                                    -eng_tensor_get_flat(lin->params[p].value, i));
        eng_tensor *y_ref = run(res, NULL, NULL, x_ref), *y = run(res, x_ref, y_ref, x);
        eng_tensor *expected = TENSOR(ENG_F64, 8, 4);
        const eng_tensor *w = lin->params[0].value, *bias = lin->params[1].value;
        for (int64_t n = 0; n < 8; n++)
            for (int64_t o = 0; o < 4; o++) {
                double zr = eng_tensor_get_flat(bias, o), z = zr;
                for (int64_t i = 0; i < 4; i++) {
                    zr += eng_tensor_get_flat(w, o * 4 + i) * eng_tensor_get_flat(x_ref, n * 4 + i);
                    z += eng_tensor_get_flat(w, o * 4 + i) * eng_tensor_get_flat(x, n * 4 + i);
                }
                eng_tensor_set_flat(expected, n * 4 + o,
                                    (zr > 0 ? z : 0) + eng_tensor_get_flat(x, n * 4 + o));
            }
        assert_tensor_close(y, expected, 1e-14, pass ? "after W moved" : "at W");
        release3(y_ref, y, expected);
    }
    release3(x_ref, x, NULL);
    eng_layer_release(res);
}

/* The checker differences a model whose only kinks are inside containers kink-free. */
static void test_checker_freezes_inside_containers(void **state)
{
    (void)state;
    eng_layer *conv;
    eng_conv2d_options o = {.padding_h = 1, .padding_w = 1};
    assert_ok(eng_conv2d_new(1, 2, 3, 3, &o, ENG_F64, NULL, &conv));
    eng_model *b = model_of(2, act(eng_relu_new), act(eng_tanh_new));
    eng_layer *res, *seq;
    assert_ok(eng_residual_new(b, NULL, &res));
    eng_model_release(b);
    b = model_of(2, pool2(), act(eng_relu_new));
    assert_ok(eng_sequential_layer_new(b, &seq));
    eng_model_release(b);
    eng_model *m = model_of(3, conv, res, seq);
    eng_tensor *x = TENSOR(ENG_F64, 2, 1, 4, 4), *target = TENSOR(ENG_F64, 2, 2, 2, 2);
    tensor_randn(x, 11, 1.0);
    tensor_randn(target, 12, 1.0);
    eng_loss *mse;
    assert_ok(eng_mse_new(&mse));
    eng_gc_objective *obj;
    assert_ok(eng_gc_model_objective(m, mse, x, target, false, &obj));
    assert_non_null(obj->freeze);
    assert_true(obj->all_branches_freeze);
    eng_gc_report *r;
    eng_gc_options opts = {0};
    assert_ok(eng_gc_check(obj, &opts, &r));
    assert_true(r->kink_free);
    assert_int_equal(r->verdict, ENG_GC_PASS);
    eng_gc_report_free(r);
    eng_gc_objective_release(obj);
    eng_loss_release(mse);
    eng_model_release(m);
    release3(x, target, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_residual_relu_frozen),
        cmocka_unit_test(test_sequential_pool_relu_frozen),
        cmocka_unit_test(test_concat_frozen),
        cmocka_unit_test(test_references_follow_the_parameters),
        cmocka_unit_test(test_checker_freezes_inside_containers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
