/* dropout: identity in evaluation; in training the kept fraction is near 1-p, survivors are
 * scaled by 1/(1-p), backward applies the same mask; seeding, cloning, a float64 gradient
 * check with the mask held fixed, and error paths. */
#include "support.h"

enum { N = 200000 };

static eng_layer *dropout(double p, uint64_t seed)
{
    eng_rng rng;
    eng_rng_seed(&rng, seed);
    eng_layer *l;
    assert_ok(eng_dropout_new(p, &rng, &l));
    return l;
}

static void test_dropout_is_the_identity_in_evaluation(void **state)
{
    (void)state;
    eng_layer *l = dropout(0.5, 1);
    for (int k = 0; k < 2; k++) {
        eng_dtype dt = k ? ENG_F64 : ENG_F32;
        eng_tensor *x = TENSOR(dt, 4, 50), *y = TENSOR(dt, 4, 50), *dy = TENSOR(dt, 4, 50),
                   *dx = TENSOR(dt, 4, 50);
        tensor_randn(x, 2, 1.0);
        tensor_randn(dy, 3, 1.0);
        assert_ok(eng_layer_forward(l, x, y, false));
        assert_true(max_abs_diff(y, x) == 0);
        assert_ok(eng_layer_backward(l, x, y, dy, dx));
        assert_true(max_abs_diff(dx, dy) == 0);
        eng_tensor_release(x);
        eng_tensor_release(y);
        eng_tensor_release(dy);
        eng_tensor_release(dx);
    }
    eng_layer_release(l);
}

static void test_dropout_keeps_about_one_minus_p_and_scales_survivors(void **state)
{
    (void)state;
    const double ps[2] = {0.3, 0.75};
    for (int pi = 0; pi < 2; pi++) {
        double p = ps[pi];
        for (int k = 0; k < 2; k++) {
            eng_dtype dt = k ? ENG_F64 : ENG_F32;
            double tol = k ? 1e-15 : 1e-6;
            eng_layer *l = dropout(p, 10 + (uint64_t)k);
            eng_tensor *x = TENSOR(dt, N), *y = TENSOR(dt, N), *dy = TENSOR(dt, N),
                       *dx = TENSOR(dt, N);
            tensor_randn_away_from_zero(x, 4, 1.0, 0.1); /* a kept element is never 0 */
            tensor_randn(dy, 5, 1.0);
            assert_ok(eng_layer_forward(l, x, y, true));
            assert_ok(eng_layer_backward(l, x, y, dy, dx));
            int64_t kept = 0;
            double worst = 0;
            for (int64_t i = 0; i < N; i++) {
                double xi = eng_tensor_get_flat(x, i), yi = eng_tensor_get_flat(y, i);
                double dyi = eng_tensor_get_flat(dy, i), dxi = eng_tensor_get_flat(dx, i);
                if (yi != 0) {
                    kept++;
                    worst = fmax(worst, fabs(yi - xi / (1 - p)) / fabs(xi / (1 - p)));
                    /* backward: the same element kept, the same scale */
                    double dx_expected = dyi / (1 - p);
                    worst = fmax(worst, fabs(dxi - dx_expected) / fmax(fabs(dx_expected), 1e-30));
                } else {
                    assert_true(dxi == 0);
                }
            }
            double fraction = (double)kept / N, sigma = sqrt(p * (1 - p) / N);
            if (fabs(fraction - (1 - p)) > 5 * sigma || worst > tol)
                print_message("p %g %s: kept %.5f (expected %.5f +- %.5f), scale error %.3e\n", p,
                              eng_dtype_name(dt), fraction, 1 - p, 5 * sigma, worst);
            assert_true(fabs(fraction - (1 - p)) <= 5 * sigma);
            assert_true(worst <= tol);
            eng_tensor_release(x);
            eng_tensor_release(y);
            eng_tensor_release(dy);
            eng_tensor_release(dx);
            eng_layer_release(l);
        }
    }
}

static int64_t count_differences(const eng_tensor *a, const eng_tensor *b)
{
    int64_t n = 0;
    for (int64_t i = 0; i < eng_tensor_numel(a); i++)
        n += (eng_tensor_get_flat(a, i) == 0) != (eng_tensor_get_flat(b, i) == 0);
    return n;
}

static void test_dropout_masks_are_fresh_per_forward_and_reproducible_per_seed(void **state)
{
    (void)state;
    eng_layer *a = dropout(0.5, 21), *b = dropout(0.5, 21), *c = dropout(0.5, 22);
    eng_tensor *x = TENSOR(ENG_F64, 1000), *ya1 = TENSOR(ENG_F64, 1000),
               *ya2 = TENSOR(ENG_F64, 1000), *yb = TENSOR(ENG_F64, 1000),
               *yc = TENSOR(ENG_F64, 1000);
    eng_tensor_fill(x, 1);
    assert_ok(eng_layer_forward(a, x, ya1, true));
    assert_ok(eng_layer_forward(a, x, ya2, true));
    assert_ok(eng_layer_forward(b, x, yb, true));
    assert_ok(eng_layer_forward(c, x, yc, true));
    assert_int_equal(count_differences(ya1, yb), 0); /* same seed, same mask */
    assert_true(count_differences(ya1, ya2) > 400);  /* independent masks differ in ~500 */
    assert_true(count_differences(ya1, yc) > 400);
    /* A clone continues the original's stream. */
    eng_layer *clone;
    assert_ok(b->ops->clone(b, ENG_F64, &clone));
    assert_ok(eng_layer_forward(clone, x, yb, true));
    assert_int_equal(count_differences(ya2, yb), 0);
    eng_layer_release(clone);
    eng_tensor_release(x);
    eng_tensor_release(ya1);
    eng_tensor_release(ya2);
    eng_tensor_release(yb);
    eng_tensor_release(yc);
    eng_layer_release(a);
    eng_layer_release(b);
    eng_layer_release(c);
}

static void test_dropout_with_p_zero_is_the_identity_in_training(void **state)
{
    (void)state;
    eng_layer *l = dropout(0.0, 1);
    eng_tensor *x = TENSOR(ENG_F32, 100), *y = TENSOR(ENG_F32, 100), *dx = TENSOR(ENG_F32, 100);
    tensor_randn(x, 6, 1.0);
    assert_ok(eng_layer_forward(l, x, y, true));
    assert_true(max_abs_diff(x, y) == 0);
    assert_ok(eng_layer_backward(l, x, y, x, dx));
    assert_true(max_abs_diff(x, dx) == 0);
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_tensor_release(dx);
    eng_layer_release(l);
}

/* sum(r * dropout(x)) in training with the mask of a fixed generator state: every evaluation
 * runs a fresh clone of the template, so all of them draw the same mask. */
typedef struct masked_probe {
    const eng_layer *template;
    eng_tensor *x, *y, *r;
} masked_probe;

static double masked_objective(void *ctx)
{
    masked_probe *p = ctx;
    eng_layer *l;
    assert_ok(p->template->ops->clone(p->template, ENG_F64, &l));
    assert_ok(eng_layer_forward(l, p->x, p->y, true));
    eng_layer_release(l);
    return dot(p->r, p->y);
}

static void test_dropout_gradient_matches_finite_differences_in_training(void **state)
{
    (void)state;
    eng_layer *template = dropout(0.4, 31), *l;
    eng_tensor *x = TENSOR(ENG_F64, 3, 40), *y = TENSOR(ENG_F64, 3, 40);
    eng_tensor *r = TENSOR(ENG_F64, 3, 40), *dx = TENSOR(ENG_F64, 3, 40);
    tensor_randn(x, 7, 1.0);
    tensor_randn(r, 8, 1.0);
    assert_ok(template->ops->clone(template, ENG_F64, &l));
    assert_ok(eng_layer_forward(l, x, y, true));
    assert_ok(eng_layer_backward(l, x, y, r, dx));
    masked_probe p = {template, x, y, r};
    assert_gradient(x, dx, masked_objective, &p, 1e-3, 1e-10, "dropout dx (training)");
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_tensor_release(r);
    eng_tensor_release(dx);
    eng_layer_release(l);
    eng_layer_release(template);
}

static void test_dropout_rejects_bad_probability(void **state)
{
    (void)state;
    eng_layer *l = (eng_layer *)1;
    assert_error(eng_dropout_new(1.0, NULL, &l), ENG_EARG, "p = 1", "0 <= p < 1");
    assert_null(l);
    assert_error(eng_dropout_new(-0.1, NULL, &l), ENG_EARG, "p = -0.1");
    assert_error(eng_dropout_new(NAN, NULL, &l), ENG_EARG, "p = nan");
}

static void test_dropout_backward_refuses_a_mask_of_another_shape(void **state)
{
    (void)state;
    eng_layer *l = dropout(0.5, 1);
    eng_tensor *a = TENSOR(ENG_F32, 2, 3), *ya = TENSOR(ENG_F32, 2, 3), *b = TENSOR(ENG_F32, 3, 2),
               *yb = TENSOR(ENG_F32, 3, 2), *db = TENSOR(ENG_F32, 3, 2);
    assert_ok(eng_layer_forward(l, a, ya, true));
    assert_error(eng_layer_backward(l, b, yb, yb, db), ENG_ESTATE, "[3,2]", "[2,3]");
    eng_tensor_release(a);
    eng_tensor_release(ya);
    eng_tensor_release(b);
    eng_tensor_release(yb);
    eng_tensor_release(db);
    eng_layer_release(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dropout_is_the_identity_in_evaluation),
        cmocka_unit_test(test_dropout_keeps_about_one_minus_p_and_scales_survivors),
        cmocka_unit_test(test_dropout_masks_are_fresh_per_forward_and_reproducible_per_seed),
        cmocka_unit_test(test_dropout_with_p_zero_is_the_identity_in_training),
        cmocka_unit_test(test_dropout_gradient_matches_finite_differences_in_training),
        cmocka_unit_test(test_dropout_rejects_bad_probability),
        cmocka_unit_test(test_dropout_backward_refuses_a_mask_of_another_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
