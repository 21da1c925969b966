/* Saved gradient-check reports (engine/gradcheck/report_io.h): reading a report the old Lua
 * writer saved (tests/fixtures/gradcheck_report_old.h5, written by the script beside it),
 * round trips through the C writer, replays, and files that are not reports.
 *
 * The fixture's check, by hand: Linear(2, 1) f64 with weight [0.5, -1] and bias 0.25 on
 * x = [[1, 2], [3, -1]] gives predictions [-1.25, 2.75]; against y = [[0.5], [2]] the MSE is
 * ((-1.75)^2 + 0.75^2) / 2 = 1.8125, dL/dpred = (pred - y) * 2 / 2 = [-1.75, 0.75], so
 * dL/dweight = -1.75 * [1, 2] + 0.75 * [3, -1] = [0.5, -4.25] and dL/dbias = -1. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine.h"
#include "gradcheck/report_io.h"

#define OK(call) assert_int_equal((call), ENG_OK)
#define FIXTURE FIXTURE_DIR "/gradcheck_report_old.h5"

static void assert_close(double got, double want, double tol, const char *what)
{
    double err = fabs(got - want);
    if (!(err <= tol))
        print_message("%s: got %.17g, expected %.17g (error %.3g > %.3g)\n", what, got, want, err,
                      tol);
    assert_true(err <= tol);
}

static const eng_gc_saved_tensor *saved_tensor(const eng_gc_saved_report *s, const char *name)
{
    for (int i = 0; i < s->ntensors; i++)
        if (strcmp(s->tensors[i].name, name) == 0)
            return &s->tensors[i];
    print_message("no saved tensor %s\n", name);
    fail();
    return NULL;
}

static eng_tensor *tensor_of(int ndim, const int64_t *shape, const double *values)
{
    eng_tensor *t;
    OK(eng_tensor_new(ENG_F64, ndim, shape, &t));
    for (int64_t i = 0; i < eng_tensor_numel(t); i++)
        eng_tensor_set_flat(t, i, values[i]);
    return t;
}

/* The fixture's model, or (weights = false) the same architecture with other weights. */
static eng_model *linear_model(bool weights)
{
    eng_model *model;
    eng_layer *layer;
    OK(eng_model_new(&model));
    OK(eng_linear_new(2, 1, true, ENG_F64, NULL, &layer));
    OK(eng_model_add(model, layer));
    eng_layer_release(layer);
    if (weights) {
        eng_param *w = eng_model_param(model, 0, NULL, 0), *b = eng_model_param(model, 1, NULL, 0);
        eng_tensor_set_flat(w->value, 0, 0.5);
        eng_tensor_set_flat(w->value, 1, -1);
        eng_tensor_set_flat(b->value, 0, 0.25);
    }
    return model;
}

static void test_report_io_reads_a_report_the_old_lua_writer_saved(void **state)
{
    (void)state;
    eng_gc_saved_report *s;
    OK(eng_gc_report_load(FIXTURE, NULL, &s));
    assert_string_equal(s->mode, "element-wise");
    assert_int_equal(s->verdict, ENG_GC_PASS);
    assert_int_equal(s->dtype, ENG_F64);
    assert_true(s->loss == 1.8125);
    assert_string_equal(s->spec.criterion, "MSELoss");
    assert_true(s->spec.options.samples == 6 && s->spec.options.seed == 4);
    assert_true(s->spec.options.rtol == 1e-5 && !s->spec.directional && !s->spec.input);
    const double x[] = {1, 2, 3, -1}, y[] = {0.5, 2};
    assert_int_equal(s->spec.x->ndim, 2);
    assert_true(s->spec.x->shape[0] == 2 && s->spec.x->shape[1] == 2);
    for (int i = 0; i < 4; i++)
        assert_true(eng_tensor_get_flat(s->spec.x, i) == x[i]);
    assert_true(s->spec.y->ndim == 2 && s->spec.y->shape[0] == 2 && s->spec.y->shape[1] == 1);
    for (int i = 0; i < 2; i++)
        assert_true(eng_tensor_get_flat(s->spec.y, i) == y[i]);
    /* the model rebuilt from the file carries the file's weights */
    eng_param *w = eng_model_param(s->spec.model, 0, NULL, 0);
    assert_true(eng_tensor_get_flat(w->value, 1) == -1);
    assert_int_equal(s->ntensors, 2);
    const double dweight[] = {0.5, -4.25};
    const eng_gc_saved_tensor *tw = saved_tensor(s, "linear_1.weight");
    assert_int_equal(tw->verdict, ENG_GC_PASS);
    assert_int_equal(tw->nworst, 2);
    assert_int_equal(tw->ndim, 2);
    for (int k = 0; k < tw->nworst; k++) {
        int64_t row = tw->index[k * 2], col = tw->index[k * 2 + 1];
        assert_true(row == 0 && (col == 0 || col == 1));
        double want = dweight[col];
        assert_close(tw->analytic[k], want, 1e-12, "stored analytic dL/dweight");
        assert_close(tw->numerical[k], want, 1e-7, "stored numerical dL/dweight");
        assert_true(tw->error[k] >= 0 && tw->error[k] < 1e-6);
    }
    const eng_gc_saved_tensor *tb = saved_tensor(s, "linear_1.bias");
    assert_true(tb->nworst == 1 && tb->ndim == 1 && tb->index[0] == 0 && tb->step > 0);
    assert_close(tb->analytic[0], -1, 1e-12, "stored analytic dL/dbias");
    /* the raw table stays available */
    assert_non_null(eng_meta_get(s->stored, "x_shape"));
    eng_gc_saved_report_free(s);
}

static void test_report_io_replays_the_old_report_to_the_same_verdict(void **state)
{
    (void)state;
    eng_gc_saved_report *s;
    eng_gc_report *r;
    OK(eng_gc_report_load(FIXTURE, NULL, &s));
    OK(eng_gc_replay(s, &r));
    assert_int_equal(r->verdict, s->verdict);
    assert_string_equal(r->mode, "element-wise");
    assert_close(r->loss, 1.8125, 1e-15, "replayed loss");
    assert_int_equal(r->ntensors, 2);
    eng_gc_report_free(r);
    eng_gc_saved_report_free(s);
}

/* The regression both round trips check: linear_model(true) on x = {{1, 2}, {3, -1}} with the
 * targets {0.5, 2}, under criterion. */
static eng_gc_check_spec regression_spec(const char *criterion)
{
    const int64_t xs[2] = {2, 2}, ys[2] = {2, 1};
    const double xv[] = {1, 2, 3, -1}, yv[] = {0.5, 2};
    eng_gc_check_spec spec = {
        .model = linear_model(true), .x = tensor_of(2, xs, xv), .y = tensor_of(2, ys, yv)};
    snprintf(spec.criterion, sizeof spec.criterion, "%s", criterion);
    return spec;
}

/* A check with every saved option, saved by C, read back: the spec and every stored number. */
static void test_report_io_round_trips_a_directional_check(void **state)
{
    (void)state;
    char path[] = "/tmp/test_report_io_XXXXXX";
    close(mkstemp(path));
    eng_gc_check_spec spec = regression_spec("MSELoss");
    spec.input = true;
    spec.directional = true;
    spec.directions = 6;
    spec.options = (eng_gc_options){.samples = 3,
                                    .seed = 11,
                                    .step = 1e-4,
                                    .rtol = 2e-6,
                                    .nsigma = 3.5,
                                    .worst = 2,
                                    .only = "linear_1,input"};
    eng_loss *mse;
    eng_gc_objective *obj;
    eng_gc_report *r, *again;
    OK(eng_mse_new(&mse));
    OK(eng_gc_model_objective(spec.model, mse, spec.x, spec.y, true, &obj));
    OK(eng_gc_check_directions(obj, spec.directions, &spec.options, &r));
    OK(eng_gc_report_save(path, &spec, r));
    eng_gc_saved_report *s;
    OK(eng_gc_report_load(path, NULL, &s));
    const eng_gc_check_spec *p = &s->spec;
    assert_string_equal(s->mode, r->mode);
    assert_int_equal(s->verdict, r->verdict);
    assert_true(s->loss == r->loss);
    assert_true(p->input && p->directional && p->directions == 6);
    assert_true(p->options.samples == 3 && p->options.seed == 11 && p->options.step == 1e-4);
    assert_true(p->options.rtol == 2e-6 && p->options.nsigma == 3.5 && p->options.worst == 2);
    assert_string_equal(p->options.only, "linear_1,input");
    assert_int_equal(s->ntensors, r->ntensors);
    for (int i = 0; i < r->ntensors; i++) {
        const eng_gc_tensor_report *t = &r->tensors[i];
        const eng_gc_saved_tensor *st = saved_tensor(s, t->name);
        assert_true(st->verdict == t->verdict && st->step == t->step && st->nworst == t->nworst);
        assert_string_equal(st->diagnosis, t->diagnosis);
        for (int k = 0; k < t->nworst; k++) {
            int64_t flat = 0;
            for (int d = 0; d < st->ndim; d++)
                flat = flat * t->shape[d] + st->index[k * st->ndim + d];
            assert_true(flat == t->worst[k].index);
            assert_true(st->numerical[k] == t->worst[k].numerical);
            assert_true(st->analytic[k] == t->worst[k].analytic);
            assert_true(st->error[k] == t->worst[k].error);
        }
    }
    OK(eng_gc_replay(s, &again));
    assert_int_equal(again->verdict, r->verdict);
    assert_string_equal(again->mode, "directional");
    eng_gc_report_free(again);
    eng_gc_saved_report_free(s);
    eng_gc_report_free(r);
    eng_gc_objective_release(obj);
    eng_loss_release(mse);
    eng_model_release(spec.model);
    eng_tensor_release(spec.x);
    eng_tensor_release(spec.y);
    remove(path);
}

/* A criterion with settings (HuberLoss, delta 0.25) is saved with them and replayed with them:
 * the replayed loss is the check's, computed by hand below, not the default delta's. Settings
 * of another kind than the named criterion are refused at save. */
static void test_report_io_saves_the_criterion_settings(void **state)
{
    (void)state;
    char path[] = "/tmp/test_report_io_XXXXXX";
    close(mkstemp(path));
    eng_gc_check_spec spec = regression_spec("HuberLoss");
    spec.options.seed = 3;
    const eng_loss_kind *huber = eng_loss_kind_find("huber");
    assert_non_null(huber);
    eng_loss_settings_init(&spec.criterion_settings, huber);
    OK(eng_settings_set_number(&spec.criterion_settings, "delta", 0.25));
    eng_settings settings = spec.criterion_settings; /* eng_loss_create finishes its copy */
    eng_loss *loss;
    eng_gc_objective *obj;
    eng_gc_report *r, *again;
    OK(eng_loss_create(&settings, &loss));
    OK(eng_settings_finish(&spec.criterion_settings));
    /* outputs -1.25 and 2.75 against 0.5 and 2: |d| = 1.75 and 0.75, both past delta, so
     * the mean of delta (|d| - delta / 2); delta 1 would give 0.765625 */
    const double want = (0.25 * (1.75 - 0.125) + 0.25 * (0.75 - 0.125)) / 2;
    OK(eng_gc_model_objective(spec.model, loss, spec.x, spec.y, false, &obj));
    OK(eng_gc_check(obj, &spec.options, &r));
    assert_close(r->loss, want, 1e-12, "HuberLoss(delta=0.25)");
    OK(eng_gc_report_save(path, &spec, r));
    eng_gc_saved_report *s;
    OK(eng_gc_report_load(path, NULL, &s));
    assert_string_equal(s->spec.criterion, "HuberLoss");
    assert_true(eng_settings_number(&s->spec.criterion_settings, "delta") == 0.25);
    OK(eng_gc_replay(s, &again));
    assert_true(again->loss == r->loss && again->verdict == r->verdict);
    eng_gc_report_free(again);
    eng_gc_saved_report_free(s);
    eng_loss_settings_init(&spec.criterion_settings, eng_loss_kind_find("nll"));
    assert_int_equal(eng_gc_report_save(path, &spec, r), ENG_EARG);
    assert_non_null(strstr(eng_errmsg(), "not those of criterion 'HuberLoss'"));
    eng_gc_report_free(r);
    eng_gc_objective_release(obj);
    eng_loss_release(loss);
    eng_model_release(spec.model);
    eng_tensor_release(spec.x);
    eng_tensor_release(spec.y);
    remove(path);
}

static void test_report_io_round_trips_a_layer_wise_check_into_a_given_model(void **state)
{
    (void)state;
    char path[] = "/tmp/test_report_io_XXXXXX";
    close(mkstemp(path));
    const int64_t xs[2] = {2, 2};
    const double xv[] = {1, 2, 3, -1};
    eng_gc_check_spec spec = {.model = linear_model(true), .x = tensor_of(2, xs, xv)};
    spec.options.samples = 2;
    eng_gc_report *r, *again;
    OK(eng_gc_check_layers(spec.model, spec.x, &spec.options, &r));
    OK(eng_gc_report_save(path, &spec, r));
    eng_model *other = linear_model(false);
    eng_gc_saved_report *s;
    OK(eng_gc_report_load(path, other, &s));
    assert_true(s->spec.model == other && !s->owns_model);
    assert_true(eng_tensor_get_flat(eng_model_param(other, 1, NULL, 0)->value, 0) == 0.25);
    assert_string_equal(s->mode, "layer-wise");
    assert_null(s->spec.y);
    assert_string_equal(s->spec.criterion, "");
    OK(eng_gc_replay(s, &again));
    assert_int_equal(again->verdict, r->verdict);
    assert_int_equal(again->ntensors, r->ntensors);
    eng_gc_saved_report_free(s); /* leaves the borrowed model alone */
    assert_int_equal(eng_model_param_count(other), 2);
    eng_gc_report_free(again);
    eng_gc_report_free(r);
    eng_model_release(other);
    eng_model_release(spec.model);
    eng_tensor_release(spec.x);
    remove(path);
}

/* Writes a checkpoint of the fixture's model with a /meta/gradcheck built by hand. */
static eng_meta *write_crafted(const char *path, const char *field, eng_meta_type type,
                               const char *string, double number)
{
    eng_meta *root, *g, *o, *t;
    const double x[] = {1, 2, 3, -1}, shape[] = {2, 2};
    OK(eng_meta_new(&root));
    OK(eng_meta_add(root, "gradcheck", ENG_META_TABLE, &g));
    OK(eng_meta_add_string(g, "mode", "layer-wise"));
    OK(eng_meta_add_string(g, "verdict", strcmp(field, "verdict") ? "PASS" : string));
    OK(eng_meta_add_string(g, "dtype", "f64"));
    OK(eng_meta_add_number(g, "loss", 1));
    OK(eng_meta_add_numbers(g, "x", x, strcmp(field, "x") ? 4 : 3));
    OK(eng_meta_add_numbers(g, "x_shape", shape, 2));
    OK(eng_meta_add_string(g, "x_dtype", "f64"));
    OK(eng_meta_add(g, "options", ENG_META_TABLE, &o));
    OK(eng_meta_add(g, "tensors", ENG_META_TABLE, &t));
    if (type == ENG_META_STRING && strcmp(field, "verdict"))
        OK(eng_meta_add_string(o, field, string));
    else if (type == ENG_META_NUMBER)
        OK(eng_meta_add_number(o, field, number));
    eng_model *model = linear_model(true);
    eng_checkpoint *ck;
    OK(eng_checkpoint_create(path, &ck));
    OK(eng_checkpoint_write_model(ck, model));
    OK(eng_checkpoint_write_meta(ck, root));
    OK(eng_checkpoint_commit(ck));
    eng_model_release(model);
    return root;
}

static void assert_load_fails(const char *path, eng_status code, const char *message)
{
    eng_gc_saved_report *s = (eng_gc_saved_report *)&s;
    assert_int_equal(eng_gc_report_load(path, NULL, &s), code);
    assert_null(s);
    if (!strstr(eng_errmsg(), message) || !strstr(eng_errmsg(), path))
        print_message("message '%s' lacks '%s' or the path\n", eng_errmsg(), message);
    assert_non_null(strstr(eng_errmsg(), message));
    assert_non_null(strstr(eng_errmsg(), path));
}

static void test_report_io_rejects_files_that_are_not_reports(void **state)
{
    (void)state;
    char path[] = "/tmp/test_report_io_XXXXXX";
    close(mkstemp(path));
    remove(path);
    assert_load_fails(path, ENG_EIO, "cannot open");
    static const struct {
        const char *field;
        eng_meta_type type;
        const char *string;
        double number;
        const char *message;
    } cases[] = {
        {"samples", ENG_META_STRING, "six", 0, "gradcheck.options.samples must be an integer"},
        {"samples", ENG_META_NUMBER, NULL, 2.5, "gradcheck.options.samples must be an integer"},
        {"step", ENG_META_NUMBER, NULL, -1e-3, "gradcheck.options.step must be a number >= 0"},
        {"mode", ENG_META_STRING, "sideways", 0, "meta.gradcheck.options.mode is 'sideways'"},
        {"colour", ENG_META_STRING, "red", 0, "options.colour is not an option of the checker"},
        {"verdict", ENG_META_STRING, "MAYBE", 0, "meta.gradcheck.verdict is 'MAYBE'"},
        {"x", ENG_META_INTEGER, NULL, 0,
         "meta.gradcheck.x holds 3 values, not the more its shape [2,2]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        eng_meta_free(
            write_crafted(path, cases[i].field, cases[i].type, cases[i].string, cases[i].number));
        assert_load_fails(path, ENG_EFORMAT, cases[i].message);
    }
    /* a well-formed crafted file loads (so the failures above come from the one bad field) */
    eng_meta_free(write_crafted(path, "none", ENG_META_INTEGER, NULL, 0));
    eng_gc_saved_report *s;
    OK(eng_gc_report_load(path, NULL, &s));
    eng_gc_saved_report_free(s);
    /* a checkpoint with no report in it */
    eng_model *model = linear_model(true);
    eng_meta *meta;
    eng_checkpoint *ck;
    OK(eng_meta_new(&meta));
    OK(eng_checkpoint_create(path, &ck));
    OK(eng_checkpoint_write_model(ck, model));
    OK(eng_checkpoint_write_meta(ck, meta));
    OK(eng_checkpoint_commit(ck));
    assert_load_fails(path, ENG_EFORMAT, "not a saved gradient-check report (no meta.gradcheck)");
    eng_meta_free(meta);
    eng_model_release(model);
    remove(path);
}

static void test_report_io_save_needs_the_model_and_the_batch(void **state)
{
    (void)state;
    eng_gc_check_spec spec = {0};
    eng_gc_report r = {0};
    assert_int_equal(eng_gc_report_save("/tmp/unused.h5", &spec, &r), ENG_EARG);
    assert_non_null(strstr(eng_errmsg(), "model and batch x are required"));
    assert_int_equal(access("/tmp/unused.h5", F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_io_reads_a_report_the_old_lua_writer_saved),
        cmocka_unit_test(test_report_io_replays_the_old_report_to_the_same_verdict),
        cmocka_unit_test(test_report_io_round_trips_a_directional_check),
        cmocka_unit_test(test_report_io_saves_the_criterion_settings),
        cmocka_unit_test(test_report_io_round_trips_a_layer_wise_check_into_a_given_model),
        cmocka_unit_test(test_report_io_rejects_files_that_are_not_reports),
        cmocka_unit_test(test_report_io_save_needs_the_model_and_the_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
