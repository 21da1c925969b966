/* The epsilon sweep of a whole objective (engine/gradcheck/eps_sweep.h) on L = sum of x^3
 * over two f64 tensors, whose central difference is known in closed form:
 *   D(h) = ((x+h)^3 - (x-h)^3) / 2h = 3x^2 + h^2, so |D(h) - g| / |g| = h^2 / (3x^2)
 * (by hand; round-off is far below it for h >= 1e-2). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h"
#include "gradcheck/eps_sweep.h"

#define OK(call) assert_int_equal((call), ENG_OK)

static double cube_loss_of(eng_gc_objective *obj)
{
    double sum = 0;
    for (int t = 0; t < obj->ntensors; t++)
        for (int64_t i = 0, n = eng_tensor_numel(obj->tensors[t].value); i < n; i++)
            sum += pow(eng_tensor_get_flat(obj->tensors[t].value, i), 3);
    return sum;
}

static eng_status cube_loss(eng_gc_objective *obj, double *value)
{
    *value = cube_loss_of(obj);
    return ENG_OK;
}

static eng_status cube_loss_at(eng_gc_objective *obj, int t, int64_t index, double delta,
                               double *value, uint64_t *signature)
{
    eng_tensor *v = obj->tensors[t].value;
    double old = eng_tensor_get_flat(v, index);
    eng_tensor_set_flat(v, index, old + delta);
    *value = cube_loss_of(obj);
    eng_tensor_set_flat(v, index, old);
    if (signature)
        *signature = 0;
    return ENG_OK;
}

static eng_status cube_gradient(eng_gc_objective *obj)
{
    for (int t = 0; t < obj->ntensors; t++)
        for (int64_t i = 0, n = eng_tensor_numel(obj->tensors[t].value); i < n; i++) {
            double x = eng_tensor_get_flat(obj->tensors[t].value, i);
            eng_tensor_set_flat(obj->tensors[t].grad, i, 3 * x * x);
        }
    return ENG_OK;
}

/* Tensor "a" = {1, 2, 3} and tensor "b" = {0.5}, both f64. */
typedef struct cube {
    eng_gc_objective obj;
    eng_gc_tensor tensors[2];
} cube;

static void cube_init(cube *c)
{
    static const double a[] = {1, 2, 3}, b[] = {0.5};
    const double *values[2] = {a, b};
    const int64_t sizes[2] = {3, 1};
    memset(c, 0, sizeof *c);
    for (int t = 0; t < 2; t++) {
        OK(eng_tensor_new(ENG_F64, 1, &sizes[t], &c->tensors[t].value));
        OK(eng_tensor_new(ENG_F64, 1, &sizes[t], &c->tensors[t].grad));
        for (int64_t i = 0; i < sizes[t]; i++)
            eng_tensor_set_flat(c->tensors[t].value, i, values[t][i]);
        snprintf(c->tensors[t].name, sizeof c->tensors[t].name, "%s", t ? "b" : "a");
        c->tensors[t].layer_index = -1;
    }
    c->obj.ntensors = 2;
    c->obj.tensors = c->tensors;
    c->obj.dtype = ENG_F64;
    c->obj.loss = cube_loss;
    c->obj.loss_at = cube_loss_at;
    c->obj.gradient = cube_gradient;
}

static void cube_free(cube *c)
{
    for (int t = 0; t < 2; t++) {
        eng_tensor_release(c->tensors[t].value);
        eng_tensor_release(c->tensors[t].grad);
    }
}

static void assert_near_rel(double got, double want, double rtol, const char *what)
{
    double err = fabs(got - want) / fabs(want);
    if (!(err <= rtol))
        print_message("%s: got %.17g, expected %.17g (relative error %.3g > %.3g)\n", what, got,
                      want, err, rtol);
    assert_true(err <= rtol);
}

static void test_eps_sweep_matches_the_closed_form_error(void **state)
{
    (void)state;
    cube c;
    cube_init(&c);
    const double steps[] = {1e-1, 3e-2, 1e-2};
    eng_gc_sweep_options o = {.steps = steps, .nsteps = 3, .samples = 0, .seed = 7};
    eng_gc_sweep_result *s;
    OK(eng_gc_eps_sweep(&c.obj, &o, &s));
    assert_int_equal(s->ntensors, 2);
    assert_int_equal(s->nsteps, 3);
    assert_string_equal(s->names[0], "a");
    assert_string_equal(s->names[1], "b");
    for (int i = 0; i < 3; i++) {
        double h = steps[i];
        assert_true(s->steps[i] == h);
        /* a: the median over x = 1, 2, 3 of h^2 / (3x^2) is the one at x = 2 */
        assert_near_rel(s->errors[0 * 3 + i], h * h / 12, 1e-6, "tensor a");
        assert_near_rel(s->errors[1 * 3 + i], h * h / (3 * 0.25), 1e-6, "tensor b");
    }
    /* the values are restored */
    assert_true(eng_tensor_get_flat(c.tensors[0].value, 1) == 2);
    assert_true(eng_tensor_get_flat(c.tensors[1].value, 0) == 0.5);
    eng_gc_sweep_result_free(s);
    cube_free(&c);
}

static void test_eps_sweep_reports_the_checkers_own_step(void **state)
{
    (void)state;
    cube c;
    cube_init(&c);
    eng_gc_sweep_options o = {.samples = 2, .seed = 3};
    eng_gc_sweep_result *s;
    OK(eng_gc_eps_sweep(&c.obj, &o, &s));
    eng_gc_report *r;
    eng_gc_options co = {.samples = 4, .seed = 3};
    OK(eng_gc_check(&c.obj, &co, &r));
    for (int t = 0; t < 2; t++) {
        assert_true(s->chosen[t] > 0 && isfinite(s->chosen[t]));
        assert_true(s->chosen[t] == r->tensors[t].step);
    }
    eng_gc_report_free(r);
    eng_gc_sweep_result_free(s);
    cube_free(&c);
}

static void test_eps_sweep_defaults_to_twelve_decades(void **state)
{
    (void)state;
    static const double want[12] = {1e-1, 1e-2, 1e-3, 1e-4,  1e-5,  1e-6,
                                    1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12};
    cube c;
    cube_init(&c);
    eng_gc_sweep_result *s;
    OK(eng_gc_eps_sweep(&c.obj, NULL, &s));
    assert_int_equal(s->nsteps, 12);
    for (int i = 0; i < 12; i++)
        assert_near_rel(s->steps[i], want[i], 1e-15, "default step");
    /* the V: truncation falls with h, round-off rises again at the smallest steps */
    assert_true(s->errors[11] > s->errors[4] && s->errors[0] > s->errors[4]);
    eng_gc_sweep_result_free(s);
    cube_free(&c);
}

static void test_eps_sweep_rejects_bad_options(void **state)
{
    (void)state;
    cube c;
    cube_init(&c);
    eng_gc_sweep_result *s = (eng_gc_sweep_result *)&c; /* must be reset to NULL */
    const double bad[] = {1e-3, -1e-2}, nan_step[] = {NAN};
    eng_gc_sweep_options o = {.steps = bad, .nsteps = 2};
    assert_int_equal(eng_gc_eps_sweep(&c.obj, &o, &s), ENG_EARG);
    assert_null(s);
    assert_non_null(strstr(eng_errmsg(), "step 2 is -0.01"));
    o.steps = nan_step;
    o.nsteps = 1;
    assert_int_equal(eng_gc_eps_sweep(&c.obj, &o, &s), ENG_EARG);
    o.nsteps = 0;
    assert_int_equal(eng_gc_eps_sweep(&c.obj, &o, &s), ENG_EARG);
    assert_non_null(strstr(eng_errmsg(), "0 steps given (1 to 64 expected)"));
    o = (eng_gc_sweep_options){.samples = -1};
    assert_int_equal(eng_gc_eps_sweep(&c.obj, &o, &s), ENG_EARG);
    assert_non_null(strstr(eng_errmsg(), "samples is -1"));
    cube_free(&c);
}

static void test_eps_sweep_plot_names_every_tensor(void **state)
{
    (void)state;
    cube c;
    cube_init(&c);
    eng_gc_sweep_result *s;
    OK(eng_gc_eps_sweep(&c.obj, NULL, &s));
    char path[] = "/tmp/test_eps_sweep_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    OK(eng_gc_sweep_plot(s, NULL, path));
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    remove(path);
    assert_non_null(strstr(buf, "<svg"));
    assert_non_null(strstr(buf, ">a<"));
    assert_non_null(strstr(buf, ">b<"));
    assert_non_null(strstr(buf, "chosen step"));
    assert_int_equal(eng_gc_sweep_plot(s, "t", "/nonexistent-dir/x.svg"), ENG_EIO);
    assert_non_null(strstr(eng_errmsg(), "/nonexistent-dir/x.svg"));
    eng_gc_sweep_result_free(s);
    cube_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eps_sweep_matches_the_closed_form_error),
        cmocka_unit_test(test_eps_sweep_reports_the_checkers_own_step),
        cmocka_unit_test(test_eps_sweep_defaults_to_twelve_decades),
        cmocka_unit_test(test_eps_sweep_rejects_bad_options),
        cmocka_unit_test(test_eps_sweep_plot_names_every_tensor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
