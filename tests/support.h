/* Helpers shared by the cmocka tests: tensor construction, comparisons, float64 central finite
 * differences, error-path assertions and the reader of the PyTorch fixtures written by
 * tests/fixtures/make_fixtures.py (format documented there).
 *
 * Header-only (static functions) so that every tests/test_*.c stays one executable. Include it
 * after the cmocka prerequisites. */
#ifndef ENGINE_TESTS_SUPPORT_H
#define ENGINE_TESTS_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "gradcheck/gradcheck.h"

#ifndef FIXTURE_DIR
#error "FIXTURE_DIR must be defined (tests/CMakeLists.txt does)"
#endif

#define SUPPORT_UNUSED __attribute__((unused))

/* ---- a scratch directory ------------------------------------------------------------------ */

/* One directory per test executable for the files its tests write: scratch_dir_create and
 * scratch_dir_remove are the group setup and teardown for cmocka_run_group_tests, and
 * scratch_path(name) is "<dir>/<name>" (four buffers in rotation, so a call may take two). */
static char scratch_dir[256];

static SUPPORT_UNUSED int scratch_dir_create(void **state)
{
    (void)state;
    snprintf(scratch_dir, sizeof scratch_dir, "/tmp/engine_test_XXXXXX");
    return mkdtemp(scratch_dir) ? 0 : -1;
}

static SUPPORT_UNUSED int scratch_dir_remove(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch_dir);
    return system(cmd);
}

static SUPPORT_UNUSED const char *scratch_path(const char *name)
{
    static char paths[4][512];
    static int next;
    char *p = paths[next++ & 3];
    snprintf(p, 512, "%s/%s", scratch_dir, name);
    return p;
}

/* ---- construction ----------------------------------------------------------------------- */

/* A new zero tensor; fails the test when the engine refuses. */
static SUPPORT_UNUSED eng_tensor *tensor_new(eng_dtype dtype, int ndim, const int64_t *shape)
{
    eng_tensor *t = NULL;
    eng_status st = eng_tensor_new(dtype, ndim, shape, &t);
    if (st)
        print_message("eng_tensor_new: %s: %s\n", eng_status_to_string(st), eng_errmsg());
    assert_int_equal(st, ENG_OK);
    return t;
}

/* TENSOR(ENG_F64, 2, 3, 8, 8) is a zero [2,3,8,8] f64 tensor. */
#define TENSOR(dtype, ...)                                                                         \
    tensor_new((dtype), (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)),                 \
               (int64_t[]){__VA_ARGS__})

/* Sets the elements in row-major order from values[numel]. */
static SUPPORT_UNUSED void tensor_set_values(eng_tensor *t, const double *values)
{
    int64_t n = eng_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        eng_tensor_set_flat(t, i, values[i]);
}

static SUPPORT_UNUSED eng_tensor *tensor_clone(const eng_tensor *t)
{
    eng_tensor *c = NULL;
    assert_int_equal(eng_tensor_clone(t, &c), ENG_OK);
    return c;
}

static SUPPORT_UNUSED eng_tensor *tensor_to(const eng_tensor *t, eng_dtype dtype)
{
    eng_tensor *c = NULL;
    assert_int_equal(eng_tensor_to(t, dtype, &c), ENG_OK);
    return c;
}

/* Fills with a seeded standard normal, scaled. */
static SUPPORT_UNUSED void tensor_randn(eng_tensor *t, uint64_t seed, double std)
{
    eng_rng rng;
    eng_rng_seed(&rng, seed);
    int64_t n = eng_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        eng_tensor_set_flat(t, i, std * eng_rng_normal(&rng));
}

/* Fills with seeded normal values moved at least margin away from 0 (ReLU kinks). */
static SUPPORT_UNUSED void tensor_randn_away_from_zero(eng_tensor *t, uint64_t seed, double std,
                                                       double margin)
{
    tensor_randn(t, seed, std);
    int64_t n = eng_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        double v = eng_tensor_get_flat(t, i);
        eng_tensor_set_flat(t, i, v >= 0 ? v + margin : v - margin);
    }
}

/* A random arrangement of the distinct values (k - n/2) * gap: no max-pool ties. */
static SUPPORT_UNUSED void tensor_distinct(eng_tensor *t, uint64_t seed, double gap)
{
    int64_t n = eng_tensor_numel(t);
    int64_t *perm = malloc(sizeof *perm * (size_t)(n ? n : 1));
    assert_non_null(perm);
    eng_rng rng;
    eng_rng_seed(&rng, seed);
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(eng_rng_uniform(&rng) * (double)(i + 1));
        int64_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    for (int64_t i = 0; i < n; i++)
        eng_tensor_set_flat(t, i, ((double)perm[i] - (double)n / 2) * gap);
    free(perm);
}

/* ---- comparison ------------------------------------------------------------------------- */

/* max |a - b| over all elements (any dtypes, same shape). */
static SUPPORT_UNUSED double max_abs_diff(const eng_tensor *a, const eng_tensor *b)
{
    int64_t n = eng_tensor_numel(b);
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs(eng_tensor_get_flat(a, i) - eng_tensor_get_flat(b, i));
        if (d > m || d != d)
            m = d;
    }
    return m;
}

static SUPPORT_UNUSED double max_abs(const eng_tensor *t)
{
    int64_t n = eng_tensor_numel(t);
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabs(eng_tensor_get_flat(t, i)) > m)
            m = fabs(eng_tensor_get_flat(t, i));
    return m;
}

/* The relative error used throughout: max|actual - expected| / max|expected| for the tensor
 * (max|expected| taken as 1 when the expected tensor is all zeros). NaN counts as infinite. */
static SUPPORT_UNUSED double rel_error(const eng_tensor *actual, const eng_tensor *expected)
{
    double scale = max_abs(expected);
    double e = max_abs_diff(actual, expected) / (scale > 0 ? scale : 1.0);
    return e == e ? e : INFINITY;
}

/* Fails the test unless actual and expected have the same shape and rel_error <= tol;
 * prints the numbers and the worst element on failure. */
#define assert_tensor_close(actual, expected, tol, what)                                           \
    assert_true(tensor_close_(actual, expected, tol, what, __FILE__, __LINE__))

static SUPPORT_UNUSED bool tensor_close_(const eng_tensor *actual, const eng_tensor *expected,
                                         double tol, const char *what, const char *file, int line)
{
    if (!eng_tensor_same_shape(actual, expected)) {
        print_message("%s:%d: %s: shape %s, expected %s\n", file, line, what,
                      eng_tensor_shape_str(actual), eng_tensor_shape_str(expected));
        return false;
    }
    double err = rel_error(actual, expected);
    if (err <= tol)
        return true;
    int64_t n = eng_tensor_numel(expected), worst = 0;
    double wd = -1;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs(eng_tensor_get_flat(actual, i) - eng_tensor_get_flat(expected, i));
        if (d > wd || d != d) {
            wd = d;
            worst = i;
        }
    }
    print_message("%s:%d: %s %s: relative error %.3e > tol %.1e; worst element %lld: "
                  "actual %.17g expected %.17g\n",
                  file, line, what, eng_tensor_shape_str(expected), err, tol, (long long)worst,
                  eng_tensor_get_flat(actual, worst), eng_tensor_get_flat(expected, worst));
    return false;
}

/* |actual - expected| <= tol * max(|expected|, 1e-300), printing both on failure. */
#define assert_double_close(actual, expected, tol)                                                 \
    do {                                                                                           \
        double a_ = (actual), e_ = (expected);                                                     \
        double err_ = fabs(a_ - e_) / (fabs(e_) > 1e-300 ? fabs(e_) : 1.0);                        \
        if (!(err_ <= (tol)))                                                                      \
            print_message("%s:%d: %s = %.17g, expected %.17g (relative error %.3e > %.1e)\n",      \
                          __FILE__, __LINE__, #actual, a_, e_, err_, (double)(tol));               \
        assert_true(err_ <= (tol));                                                                \
    } while (0)

/* ---- error paths ------------------------------------------------------------------------ */

/* Asserts that call returned the status code and that eng_errmsg() contains every fragment
 * given (NULL-terminated list), printing the message on failure. */
#define assert_error(call, code, ...)                                                              \
    assert_true(check_error_((call), (code), #call, __FILE__, __LINE__,                            \
                             (const char *[]){__VA_ARGS__, NULL}))

static SUPPORT_UNUSED bool check_error_(eng_status got, eng_status code, const char *call,
                                        const char *file, int line, const char **fragments)
{
    const char *msg = eng_errmsg();
    if (got != code) {
        print_message("%s:%d: %s returned %s, expected %s (message: \"%s\")\n", file, line, call,
                      eng_status_to_string(got), eng_status_to_string(code), msg);
        return false;
    }
    for (const char **f = fragments; *f; f++) {
        if (!strstr(msg, *f)) {
            print_message("%s:%d: %s: message \"%s\" does not contain \"%s\"\n", file, line, call,
                          msg, *f);
            return false;
        }
    }
    return true;
}

/* Asserts ENG_OK, printing the message otherwise. */
#define assert_ok(call)                                                                            \
    do {                                                                                           \
        eng_status st_ = (call);                                                                   \
        if (st_ != ENG_OK)                                                                         \
            print_message("%s:%d: %s: %s: %s\n", __FILE__, __LINE__, #call,                        \
                          eng_status_to_string(st_), eng_errmsg());                                \
        assert_int_equal(st_, ENG_OK);                                                             \
    } while (0)

/* ---- finite differences ----------------------------------------------------------------- */

/* A scalar function of some f64 tensors the caller perturbs in place. */
typedef double (*objective_fn)(void *ctx);

/* Central differences (f(v+h) - f(v-h)) / 2h for every element of the f64 tensor t, which
 * objective reads; t is restored. [out] numeric like t (f64). */
static SUPPORT_UNUSED void finite_differences(eng_tensor *t, objective_fn objective, void *ctx,
                                              double h, eng_tensor *numeric)
{
    assert_int_equal(t->dtype, ENG_F64);
    int64_t n = eng_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        double v = eng_tensor_get_flat(t, i);
        eng_tensor_set_flat(t, i, v + h);
        double fp = objective(ctx);
        eng_tensor_set_flat(t, i, v - h);
        double fm = objective(ctx);
        eng_tensor_set_flat(t, i, v);
        eng_tensor_set_flat(numeric, i, (fp - fm) / (2 * h));
    }
}

/* Checks the analytic gradient of objective with respect to t against central differences:
 * relative error max|a - n| / max|n| <= tol. */
#define assert_gradient(t, analytic, objective, ctx, h, tol, what)                                 \
    do {                                                                                           \
        eng_tensor *numeric_ = tensor_new(ENG_F64, (t)->ndim, (t)->shape);                         \
        finite_differences((t), (objective), (ctx), (h), numeric_);                                \
        bool ok_ = tensor_close_((analytic), numeric_, (tol), (what), __FILE__, __LINE__);         \
        eng_tensor_release(numeric_);                                                              \
        assert_true(ok_);                                                                          \
    } while (0)

/* sum(r * y) accumulated in long double. */
static SUPPORT_UNUSED double dot(const eng_tensor *r, const eng_tensor *y)
{
    long double acc = 0;
    int64_t n = eng_tensor_numel(y);
    for (int64_t i = 0; i < n; i++)
        acc += (long double)eng_tensor_get_flat(r, i) * eng_tensor_get_flat(y, i);
    return (double)acc;
}

/* A layer in isolation: objective = sum(r * layer(x)) in evaluation mode. */
typedef struct layer_probe {
    eng_layer *layer;
    eng_tensor *x, *y, *r;
} layer_probe;

static SUPPORT_UNUSED double layer_objective(void *ctx)
{
    layer_probe *p = ctx;
    eng_status st = eng_layer_forward(p->layer, p->x, p->y, false);
    if (st)
        print_message("forward: %s\n", eng_errmsg());
    assert_int_equal(st, ENG_OK);
    return dot(p->r, p->y);
}

/* Runs forward then backward(r) with zeroed parameter gradients; dx [optional]. */
static SUPPORT_UNUSED void layer_forward_backward(eng_layer *layer, const eng_tensor *x,
                                                  eng_tensor *y, const eng_tensor *r,
                                                  eng_tensor *dx)
{
    eng_layer_zero_grad(layer);
    assert_ok(eng_layer_forward(layer, x, y, false));
    assert_ok(eng_layer_backward(layer, x, y, r, dx));
}

/* Float64 gradient check of one layer at x: dx and every parameter gradient against central
 * differences of sum(r * layer(x)) for a fixed random r. */
static SUPPORT_UNUSED void check_layer_gradients(eng_layer *layer, eng_tensor *x, double h,
                                                 double tol)
{
    assert_int_equal(x->dtype, ENG_F64);
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    assert_ok(eng_layer_output_shape(layer, x, &ndim, shape));
    layer_probe p = {layer, x, tensor_new(ENG_F64, ndim, shape), tensor_new(ENG_F64, ndim, shape)};
    tensor_randn(p.r, 4242, 1.0);
    eng_tensor *dx = tensor_new(ENG_F64, x->ndim, x->shape);
    layer_forward_backward(layer, x, p.y, p.r, dx);
    char what[96];
    snprintf(what, sizeof what, "%s dx", layer->ops->kind);
    assert_gradient(x, dx, layer_objective, &p, h, tol, what);
    for (int i = 0; i < layer->nparams; i++) {
        snprintf(what, sizeof what, "%s d%s", layer->ops->kind, layer->params[i].name);
        assert_gradient(layer->params[i].value, layer->params[i].grad, layer_objective, &p, h, tol,
                        what);
    }
    eng_tensor_release(dx);
    eng_tensor_release(p.y);
    eng_tensor_release(p.r);
}

/* ---- fixtures --------------------------------------------------------------------------- */

#define FIXTURE_MAX_TENSORS 2048

typedef struct fixture {
    int count;
    char names[FIXTURE_MAX_TENSORS][64];
    eng_tensor *tensors[FIXTURE_MAX_TENSORS];
} fixture;

/* Reads FIXTURE_DIR/<name>; fails the test on any format error. Free with fixture_free. */
static SUPPORT_UNUSED fixture *fixture_load(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", FIXTURE_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        print_message("cannot open fixture %s (run tests/fixtures/make_fixtures.py)\n", path);
    assert_non_null(f);
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    char line[512];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "ENGFIX 1\n");
    while (fgets(line, sizeof line, f)) {
        assert_true(fx->count < FIXTURE_MAX_TENSORS);
        char *save = NULL;
        char *tok = strtok_r(line, " \n", &save);
        assert_non_null(tok);
        assert_true(strlen(tok) < sizeof fx->names[0]);
        strcpy(fx->names[fx->count], tok);
        eng_dtype dtype;
        tok = strtok_r(NULL, " \n", &save);
        assert_non_null(tok);
        assert_int_equal(eng_dtype_parse(tok, &dtype), ENG_OK);
        tok = strtok_r(NULL, " \n", &save);
        assert_non_null(tok);
        int ndim = atoi(tok);
        assert_true(ndim >= 0 && ndim <= ENG_MAX_DIMS);
        int64_t shape[ENG_MAX_DIMS];
        for (int d = 0; d < ndim; d++) {
            tok = strtok_r(NULL, " \n", &save);
            assert_non_null(tok);
            shape[d] = atoll(tok);
        }
        eng_tensor *t = tensor_new(dtype, ndim, shape);
        size_t nbytes = (size_t)eng_tensor_numel(t) * eng_dtype_size(dtype);
        /* The data are little-endian, as is every machine these tests run on. */
        assert_int_equal(fread(eng_tensor_data(t), 1, nbytes, f), nbytes);
        fx->tensors[fx->count++] = t;
    }
    assert_true(feof(f));
    fclose(f);
    return fx;
}

/* The tensor of that name (owned by the fixture); fails the test when absent. */
static SUPPORT_UNUSED eng_tensor *fixture_get(const fixture *fx, const char *name)
{
    for (int i = 0; i < fx->count; i++)
        if (strcmp(fx->names[i], name) == 0)
            return fx->tensors[i];
    print_message("fixture has no tensor '%s'\n", name);
    fail();
    return NULL;
}

static SUPPORT_UNUSED bool fixture_has(const fixture *fx, const char *name)
{
    for (int i = 0; i < fx->count; i++)
        if (strcmp(fx->names[i], name) == 0)
            return true;
    return false;
}

/* config[i] of an i64 "config" tensor, as an int. */
static SUPPORT_UNUSED int fixture_config(const fixture *fx, int i)
{
    const eng_tensor *c = fixture_get(fx, "config");
    assert_true(i < eng_tensor_numel(c));
    return (int)((const int64_t *)eng_tensor_data(c))[i];
}

static SUPPORT_UNUSED void fixture_free(fixture *fx)
{
    if (!fx)
        return;
    for (int i = 0; i < fx->count; i++)
        eng_tensor_release(fx->tensors[i]);
    free(fx);
}

/* Copies src (any float dtype) into the layer's parameter `name`, converting the dtype. */
static SUPPORT_UNUSED void set_param(eng_layer *layer, const char *name, const eng_tensor *src)
{
    eng_param *p = eng_layer_param(layer, name);
    if (!p)
        print_message("%s has no parameter '%s'\n", eng_layer_label(layer), name);
    assert_non_null(p);
    assert_ok(eng_tensor_copy(p->value, src));
}

/* Runs layer (in its own dtype for parametrised kinds, else in dtype) on a layer_<case>.bin
 * fixture: parameters and x from the fixture, forward in evaluation mode, backward with r;
 * y, dx and every d<param> must match PyTorch to tol (relative, per tensor). */
static SUPPORT_UNUSED void check_layer_against_fixture(eng_layer *layer, const fixture *fx,
                                                       eng_dtype dtype, double tol)
{
    for (int i = 0; i < layer->nparams; i++)
        set_param(layer, layer->params[i].name, fixture_get(fx, layer->params[i].name));
    eng_tensor *x = tensor_to(fixture_get(fx, "x"), dtype);
    eng_tensor *r = tensor_to(fixture_get(fx, "r"), dtype);
    const eng_tensor *y_expected = fixture_get(fx, "y");
    eng_tensor *y = tensor_new(dtype, y_expected->ndim, y_expected->shape);
    eng_tensor *dx = tensor_new(dtype, x->ndim, x->shape);
    char what[96];
    snprintf(what, sizeof what, "%s %s y", layer->ops->kind, eng_dtype_name(dtype));
    layer_forward_backward(layer, x, y, r, dx);
    assert_tensor_close(y, y_expected, tol, what);
    snprintf(what, sizeof what, "%s %s dx", layer->ops->kind, eng_dtype_name(dtype));
    assert_tensor_close(dx, fixture_get(fx, "dx"), tol, what);
    for (int i = 0; i < layer->nparams; i++) {
        char name[64];
        snprintf(name, sizeof name, "d%s", layer->params[i].name);
        snprintf(what, sizeof what, "%s %s %s", layer->ops->kind, eng_dtype_name(dtype), name);
        assert_tensor_close(layer->params[i].grad, fixture_get(fx, name), tol, what);
    }
    eng_tensor_release(x);
    eng_tensor_release(r);
    eng_tensor_release(y);
    eng_tensor_release(dx);
}

/* ---- the seed CNN's parameter generator (see make_fixtures.py) -------------------------- */

/* Fills t with (2u - 1) / sqrt(fan_in), u from the counter-based generator of stream: the
 * same bits as param_uniform in make_fixtures.py. */
static SUPPORT_UNUSED void support_param_uniform(eng_tensor *t, uint64_t stream, int64_t fan_in)
{
    double bound = 1.0 / sqrt((double)fan_in);
    int64_t n = eng_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        uint64_t z = stream * 0x9E3779B97F4A7C15ull + ((uint64_t)i + 1) * 0xD1B54A32D192ED03ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        double u = (double)(z >> 11) * 0x1.0p-53;
        eng_tensor_set_flat(t, i, (2.0 * u - 1.0) * bound);
    }
}

/* ---- the gradient checker on one layer ------------------------------------------------- */

/* Runs the engine's checker (engine/gradcheck, element-wise, every element) on the f64 layer
 * alone at x: its parameters and (with_input) its input, under an MSE loss against a random
 * target; asserts PASS, printing the report otherwise. training: the mode of the layer's
 * forward (a one-layer model). */
static SUPPORT_UNUSED void check_layer_with_checker(eng_layer *layer, const eng_tensor *x,
                                                    bool training, bool with_input)
{
    eng_model *m;
    assert_ok(eng_model_new(&m));
    assert_ok(eng_model_add(m, layer)); /* retains it */
    eng_model_set_training(m, training);
    const eng_tensor *y;
    assert_ok(eng_model_forward(m, x, &y));
    eng_tensor *target = tensor_new(ENG_F64, y->ndim, y->shape);
    tensor_randn(target, 77, 1.0);
    eng_loss *mse;
    assert_ok(eng_mse_new(&mse));
    eng_gc_objective *obj;
    eng_gc_report *r;
    assert_ok(eng_gc_model_objective(m, mse, x, target, with_input, &obj));
    eng_gc_options opts = {.seed = 3};
    assert_ok(eng_gc_check(obj, &opts, &r));
    if (r->verdict != ENG_GC_PASS) {
        static char text[1 << 16];
        eng_gc_report_format(r, true, text, sizeof text);
        fputs(text, stderr);
    }
    assert_int_equal(r->verdict, ENG_GC_PASS);
    eng_gc_report_free(r);
    eng_gc_objective_release(obj);
    eng_loss_release(mse);
    eng_tensor_release(target);
    eng_model_release(m);
}

#define assert_checker_passes_layer(layer, x, training)                                            \
    check_layer_with_checker(layer, x, training, true)

#endif
