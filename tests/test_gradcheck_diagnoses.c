/* The gradient checker's diagnoses on hand-made objectives whose answers are known by
 * construction: a tensor the loss does not depend on ("zero both ways" with its evidence), a
 * tensor whose every element sits on a kink (advice that names the kinks, no verdict), and a
 * gradient wrong in one column (a "partial" diagnosis from the failed set). */
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

/* L = sum_i max(a_i, 0) + sum_ij c_ij w_ij^2 / 2; tensor 0 is a [3,4] (all at 0: every element on
 * the kink of max(., 0)), tensor 1 is w [4,5], tensor 2 is z [6] (unused by L). The analytic
 * gradient of w is c * w, except in column `bad_column` (1-based, 0: none), where it is
 * doubled. */
typedef struct toy {
    eng_tensor *a, *w, *z, *ga, *gw, *gz, *c;
    int bad_column;
} toy;

static double toy_value(const toy *k)
{
    double acc = 0;
    for (int64_t i = 0; i < eng_tensor_numel(k->a); i++)
        acc += fmax(eng_tensor_get_flat(k->a, i), 0.0);
    for (int64_t i = 0; i < eng_tensor_numel(k->w); i++) {
        double w = eng_tensor_get_flat(k->w, i);
        acc += eng_tensor_get_flat(k->c, i) * w * w / 2;
    }
    return acc;
}

static eng_status toy_loss(eng_gc_objective *obj, double *value)
{
    *value = toy_value(obj->ctx);
    return ENG_OK;
}

static eng_status toy_loss_at(eng_gc_objective *obj, int t, int64_t index, double delta,
                              double *value, uint64_t *signature)
{
    toy *k = obj->ctx;
    eng_tensor *v = obj->tensors[t].value;
    double old = eng_tensor_get_flat(v, index);
    eng_tensor_set_flat(v, index, old + delta);
    *value = toy_value(k);
    if (signature) { /* the sign of every element of a: the branches of max(., 0) */
        uint64_t h = 1469598103934665603ull;
        for (int64_t i = 0; i < eng_tensor_numel(k->a); i++)
            h = (h ^ (uint64_t)(eng_tensor_get_flat(k->a, i) > 0)) * 1099511628211ull;
        *signature = h;
    }
    eng_tensor_set_flat(v, index, old);
    return ENG_OK;
}

static eng_status toy_gradient(eng_gc_objective *obj)
{
    toy *k = obj->ctx;
    eng_tensor_zero(k->ga); /* the subgradient at 0 */
    eng_tensor_zero(k->gz);
    int64_t cols = k->w->shape[1];
    for (int64_t i = 0; i < eng_tensor_numel(k->w); i++) {
        double g = eng_tensor_get_flat(k->c, i) * eng_tensor_get_flat(k->w, i);
        if (k->bad_column && i % cols == k->bad_column - 1)
            g *= 2;
        eng_tensor_set_flat(k->gw, i, g);
    }
    return ENG_OK;
}

static eng_gc_objective *toy_new(toy *k, int bad_column)
{
    int64_t as[2] = {3, 4}, ws[2] = {4, 5}, zs[1] = {6};
    OK(eng_tensor_new(ENG_F64, 2, as, &k->a));
    OK(eng_tensor_new(ENG_F64, 2, as, &k->ga));
    OK(eng_tensor_new(ENG_F64, 2, ws, &k->w));
    OK(eng_tensor_new(ENG_F64, 2, ws, &k->gw));
    OK(eng_tensor_new(ENG_F64, 2, ws, &k->c));
    OK(eng_tensor_new(ENG_F64, 1, zs, &k->z));
    OK(eng_tensor_new(ENG_F64, 1, zs, &k->gz));
    eng_rng rng;
    eng_rng_seed(&rng, 5);
    OK(eng_tensor_normal(k->w, &rng, 0.0, 1.0));
    OK(eng_tensor_uniform(k->c, &rng, 0.5, 2.0));
    OK(eng_tensor_normal(k->z, &rng, 0.0, 1.0));
    k->bad_column = bad_column;
    eng_gc_objective *obj = calloc(1, sizeof *obj);
    eng_gc_tensor *ts = calloc(3, sizeof *ts);
    assert_non_null(obj);
    assert_non_null(ts);
    const char *names[3] = {"a", "w", "z"};
    eng_tensor *values[3] = {k->a, k->w, k->z}, *grads[3] = {k->ga, k->gw, k->gz};
    for (int i = 0; i < 3; i++) {
        snprintf(ts[i].name, sizeof ts[i].name, "%s", names[i]);
        ts[i].layer_index = -1;
        ts[i].value = values[i];
        ts[i].grad = grads[i];
    }
    obj->ntensors = 3;
    obj->tensors = ts;
    obj->dtype = ENG_F64;
    obj->loss = toy_loss;
    obj->loss_at = toy_loss_at;
    obj->gradient = toy_gradient;
    obj->has_signatures = true;
    obj->ctx = k;
    return obj;
}

static void toy_free(toy *k, eng_gc_objective *obj)
{
    eng_tensor *all[7] = {k->a, k->w, k->z, k->ga, k->gw, k->gz, k->c};
    for (int i = 0; i < 7; i++)
        eng_tensor_release(all[i]);
    eng_gc_objective_release(obj);
}

static void print_report(const eng_gc_report *r)
{
    static char text[1 << 16];
    eng_gc_report_format(r, true, text, sizeof text);
    fputs(text, stderr);
}

static void test_diagnoses_zero_both_ways_and_kinks_named(void **state)
{
    (void)state;
    toy k;
    eng_gc_objective *obj = toy_new(&k, 0);
    eng_gc_report *r;
    eng_gc_options opts = {.seed = 1};
    OK(eng_gc_check(obj, &opts, &r));
    const eng_gc_tensor_report *a = &r->tensors[0], *w = &r->tensors[1], *z = &r->tensors[2];
    bool right = r->verdict != ENG_GC_FAIL &&
                 /* every element of a on a kink: no verdict, and advice that names them */
                 a->verdict == ENG_GC_INCONCLUSIVE && a->kinks == 12 &&
                 strstr(a->advice, "12 of 12 elements are kinks") && strstr(a->advice, "(1,1)") &&
                 !strstr(a->advice, "noise floor") && w->verdict == ENG_GC_PASS &&
                 /* z: not a bare PASS, but zero both ways with its evidence */
                 z->verdict == ENG_GC_PASS && strstr(z->diagnosis, "zero both ways") &&
                 strstr(z->diagnosis, "so is every numerical derivative");
    if (!right) {
        print_report(r);
        fail_msg("expected kinks named on a, w PASS, z zero both ways");
    }
    eng_gc_report_free(r);
    toy_free(&k, obj);
}

/* A gradient doubled in one column: "only columns 3", though the other columns pass. */
static void test_diagnoses_a_column_from_the_failed_set(void **state)
{
    (void)state;
    toy k;
    eng_gc_objective *obj = toy_new(&k, 3);
    eng_gc_report *r;
    eng_gc_options opts = {.seed = 1, .only = "w"};
    OK(eng_gc_check(obj, &opts, &r));
    const eng_gc_tensor_report *w = &r->tensors[0];
    if (w->verdict != ENG_GC_FAIL || !strstr(w->diagnosis, "only columns 3 ")) {
        print_report(r);
        fail_msg("expected w to FAIL with 'only columns 3'");
    }
    eng_gc_report_free(r);
    toy_free(&k, obj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diagnoses_zero_both_ways_and_kinks_named),
        cmocka_unit_test(test_diagnoses_a_column_from_the_failed_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
