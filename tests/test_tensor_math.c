/* Tensor math (engine/tensor_math.h) against PyTorch: every case of the fixtures written by
 * tests/fixtures/make_tensor_math_fixtures.py (f32, f64 and i64; 1 to 4 dimensions,
 * broadcasting, scalars), each run three times: on contiguous inputs, on views with every
 * stride doubled, and on column-major views. Then the error paths.
 *
 * Tolerances: results PyTorch computes exactly (+ - * /, sqrt, comparisons, max, indices,
 * clamp, where, outer, everything on integers) must match bit for bit. Others are compared
 * relative to max(|expected|, scale), scale being the fixture's reduction of |x| for sums
 * and matrix products (the magnitude their rounding scales with): 1e-15 in f64; in f32 two
 * units in the last place (2^-22) for functions like exp (glibc's and PyTorch's SLEEF
 * functions each err by up to one), and 2^-21 for reductions and products, which PyTorch
 * accumulates in float and the engine in double. The worst error per op is printed. */
#include "support.h"

#include "tensor_math.h"

typedef enum family { BINARY, UNARY, CLAMP, WHERE, MASKED_FILL, REDUCE, ARGEXT, LINALG } family;

typedef struct opinfo {
    const char *name;
    family fam;
    int code; /* eng_binop, eng_unop or eng_reduce_op */
    bool exact;
} opinfo;

/* clang-format off */
static const opinfo OPS[] = {
    {"add", BINARY, ENG_OP_ADD, true},        {"sub", BINARY, ENG_OP_SUB, true},
    {"mul", BINARY, ENG_OP_MUL, true},        {"div", BINARY, ENG_OP_DIV, true},
    {"pow", BINARY, ENG_OP_POW, false},       {"maximum", BINARY, ENG_OP_MAXIMUM, true},
    {"minimum", BINARY, ENG_OP_MINIMUM, true}, {"eq", BINARY, ENG_OP_EQ, true},
    {"ne", BINARY, ENG_OP_NE, true},          {"lt", BINARY, ENG_OP_LT, true},
    {"le", BINARY, ENG_OP_LE, true},          {"gt", BINARY, ENG_OP_GT, true},
    {"ge", BINARY, ENG_OP_GE, true},          {"neg", UNARY, ENG_OP_NEG, true},
    {"abs", UNARY, ENG_OP_ABS, true},         {"sign", UNARY, ENG_OP_SIGN, true},
    {"relu", UNARY, ENG_OP_RELU, true},       {"exp", UNARY, ENG_OP_EXP, false},
    {"log", UNARY, ENG_OP_LOG, false},        {"log1p", UNARY, ENG_OP_LOG1P, false},
    {"expm1", UNARY, ENG_OP_EXPM1, false},    {"sqrt", UNARY, ENG_OP_SQRT, true},
    {"rsqrt", UNARY, ENG_OP_RSQRT, true},     {"tanh", UNARY, ENG_OP_TANH, false},
    {"sigmoid", UNARY, ENG_OP_SIGMOID, false}, {"clamp", CLAMP, 0, true},
    {"where", WHERE, 0, true},                {"masked_fill", MASKED_FILL, 0, true},
    {"sum", REDUCE, ENG_REDUCE_SUM, false},   {"mean", REDUCE, ENG_REDUCE_MEAN, false},
    {"prod", REDUCE, ENG_REDUCE_PROD, false}, {"var", REDUCE, ENG_REDUCE_VAR, false},
    {"std", REDUCE, ENG_REDUCE_STD, false},   {"norm", REDUCE, ENG_REDUCE_NORM, false},
    {"logsumexp", REDUCE, ENG_REDUCE_LOGSUMEXP, false},
    {"max", REDUCE, ENG_REDUCE_MAX, true},    {"min", REDUCE, ENG_REDUCE_MIN, true},
    {"argmax", ARGEXT, 1, true},              {"argmin", ARGEXT, 0, true},
    {"mm", LINALG, 0, false},                 {"bmm", LINALG, 1, false},
    {"matmul", LINALG, 2, false},             {"dot", LINALG, 3, false},
    {"outer", LINALG, 4, true},
};
/* clang-format on */
#define NOPS ((int)(sizeof OPS / sizeof OPS[0]))

/* ---- inputs in three layouts ---- */

/* A copy of t: 0 contiguous, 1 every stride doubled, 2 column-major. Owned by the caller. */
static eng_tensor *layout(const eng_tensor *t, int mode)
{
    if (!t)
        return NULL;
    int64_t n = eng_tensor_numel(t), len = mode == 1 ? 2 * n : n;
    eng_tensor *base = tensor_new(t->dtype, 1, &len), *v = NULL;
    assert_ok(eng_tensor_view(base, &v));
    v->ndim = t->ndim;
    int64_t stride = mode == 1 ? 2 : 1;
    for (int k = 0; k < t->ndim; k++) {
        int d = mode == 2 ? k : t->ndim - 1 - k;
        v->shape[d] = t->shape[d];
        v->strides[d] = stride;
        stride *= t->shape[d];
    }
    assert_ok(eng_tensor_copy(v, t));
    eng_tensor_release(base);
    return v;
}

/* ---- comparison ---- */

typedef struct tally {
    double worst[NOPS]; /* largest relative error seen per op */
    int cases[NOPS];
} tally;

static double tolerance(const opinfo *op, eng_dtype dtype)
{
    if (op->exact || !eng_dtype_is_float(dtype))
        return 0;
    if (dtype == ENG_F64)
        return 1e-15;
    return op->fam == REDUCE || op->fam == LINALG ? 0x1p-21 : 0x1p-22;
}

/* |got - want| / max(|want|, scale), or 0 when both are the same NaN or infinity. */
static double relerr(double got, double want, double scale)
{
    if (got == want || (got != got && want != want))
        return 0;
    double den = fmax(fabs(want), scale);
    return den > 0 ? fabs(got - want) / den : fabs(got - want);
}

static bool check_values(const char *label, const opinfo *op, tally *tl, int opi,
                         const eng_tensor *got, const eng_tensor *want, const eng_tensor *scale)
{
    if (got->dtype != want->dtype || !eng_tensor_same_shape(got, want)) {
        print_message("%s: got %s %s, expected %s %s\n", label, eng_dtype_name(got->dtype),
                      eng_tensor_shape_str(got), eng_dtype_name(want->dtype),
                      eng_tensor_shape_str(want));
        return false;
    }
    double tol = tolerance(op, want->dtype);
    for (int64_t i = 0; i < eng_tensor_numel(want); i++) {
        double g = eng_tensor_get_flat(got, i), w = eng_tensor_get_flat(want, i);
        if (want->dtype == ENG_I64 && ((const int64_t *)eng_tensor_data(got))[i] !=
                                          ((const int64_t *)eng_tensor_data(want))[i])
            g = w + 1; /* a difference double would hide above 2^53 */
        double e = relerr(g, w, scale ? fabs(eng_tensor_get_flat(scale, i)) : 0);
        tl->worst[opi] = fmax(tl->worst[opi], e);
        if (!(e <= tol)) {
            print_message("%s: element %lld: got %.17g, PyTorch %.17g (relative %.3g > %.3g)\n",
                          label, (long long)i, g, w, e, tol);
            return false;
        }
    }
    return true;
}

/* ---- one case ---- */

typedef struct casein {
    const fixture *fx;
    const char *prefix;
    eng_tensor *t[4]; /* a or x, b, cond or mask, unused */
} casein;

static eng_tensor *role(const casein *c, const char *r)
{
    char name[96];
    snprintf(name, sizeof name, "%s/%s", c->prefix, r);
    return fixture_has(c->fx, name) ? fixture_get(c->fx, name) : NULL;
}

static int64_t arg(const casein *c, int i)
{
    return ((const int64_t *)eng_tensor_data(role(c, "args")))[i];
}

static eng_scalar scalar(const casein *c, int i)
{
    double v = ENG_F64_DATA(role(c, "s"))[i];
    const eng_tensor *si = role(c, "si");
    if (si && ((const int64_t *)eng_tensor_data(si))[i])
        return eng_scalar_int((int64_t)v);
    return eng_scalar_float(v);
}

/* Runs the case into a new tensor (or *value for whole-tensor reductions and dot). */
static eng_tensor *run_case(const opinfo *op, const casein *c, double *value, bool *scalar_out,
                            eng_tensor **idx)
{
    eng_tensor *a = c->t[0], *b = c->t[1], *y = NULL;
    eng_dtype dt;
    int nd;
    int64_t sh[ENG_MAX_DIMS];
    *scalar_out = false;
    switch (op->fam) {
    case BINARY: {
        int64_t mode = arg(c, 0);
        eng_scalar s = mode ? scalar(c, 0) : eng_scalar_int(0);
        const eng_tensor *x = mode == 2 ? NULL : a, *z = mode == 1 ? NULL : b;
        assert_ok(eng_binop_result(op->code, x, z, s, &dt, &nd, sh));
        y = tensor_new(dt, nd, sh);
        assert_ok(eng_tensor_binop(y, op->code, x, z, s));
        return y;
    }
    case UNARY:
        y = tensor_new(eng_unop_result(op->code, a->dtype), a->ndim, a->shape);
        assert_ok(eng_tensor_unop(y, op->code, a));
        return y;
    case CLAMP: {
        eng_scalar lo = scalar(c, 0), hi = scalar(c, 1);
        y = tensor_new(a->dtype, a->ndim, a->shape);
        assert_ok(eng_tensor_clamp(y, a, arg(c, 0) ? &lo : NULL, arg(c, 1) ? &hi : NULL));
        return y;
    }
    case WHERE: {
        eng_scalar sa = arg(c, 0) ? scalar(c, 0) : eng_scalar_int(0);
        eng_scalar sb = arg(c, 1) ? scalar(c, 1) : eng_scalar_int(0);
        const eng_tensor *x = arg(c, 0) ? NULL : a, *z = arg(c, 1) ? NULL : b;
        assert_ok(eng_where_result(c->t[2], x, sa, z, sb, &dt, &nd, sh));
        y = tensor_new(dt, nd, sh);
        assert_ok(eng_tensor_where(y, c->t[2], x, sa, z, sb));
        return y;
    }
    case MASKED_FILL: {
        eng_scalar v = scalar(c, 0);
        y = tensor_new(a->dtype, a->ndim, a->shape);
        assert_ok(eng_tensor_where(y, c->t[2], NULL, v, a, v));
        return y;
    }
    case REDUCE:
    case ARGEXT: {
        int dim = (int)arg(c, 0);
        bool keep = arg(c, 1) != 0, max = op->code == 1;
        double p = ENG_F64_DATA(role(c, "p"))[0];
        if (dim < 0) {
            *scalar_out = true;
            if (op->fam == ARGEXT) {
                int64_t pos;
                assert_ok(eng_tensor_argext_all(&pos, a, max));
                *value = (double)pos;
            } else {
                eng_scalar v;
                assert_ok(eng_tensor_reduce_all(&v, op->code, a, p));
                *value = v.is_int ? (double)v.i : v.f;
            }
            return NULL;
        }
        eng_reduce_op rop =
            op->fam == ARGEXT ? (max ? ENG_REDUCE_MAX : ENG_REDUCE_MIN) : (eng_reduce_op)op->code;
        assert_ok(eng_reduce_result(rop, a, dim, keep, &dt, &nd, sh));
        if (op->fam == ARGEXT || role(c, "idx")) {
            eng_tensor *ix = tensor_new(ENG_I64, nd, sh);
            assert_ok(eng_tensor_argext(ix, a, dim, keep,
                                        op->fam == ARGEXT ? max : rop == ENG_REDUCE_MAX, 0));
            if (op->fam == ARGEXT)
                return ix;
            *idx = ix;
        }
        y = tensor_new(dt, nd, sh);
        assert_ok(eng_tensor_reduce(y, rop, a, dim, keep, p));
        return y;
    }
    case LINALG:
        if (op->code == 3) {
            *scalar_out = true;
            assert_ok(eng_tensor_dot(value, a, b));
            return NULL;
        }
        if (op->code == 4) {
            int64_t s2[2] = {a->shape[0], b->shape[0]};
            y = tensor_new(a->dtype, 2, s2);
            assert_ok(eng_tensor_outer(y, a, b));
            return y;
        }
        assert_ok(eng_matmul_result(op->name, a, b, &dt, &nd, sh));
        y = tensor_new(dt, nd, sh);
        assert_ok(op->code == 0   ? eng_tensor_mm(y, a, b)
                  : op->code == 1 ? eng_tensor_bmm(y, a, b)
                                  : eng_tensor_matmul(y, a, b));
        return y;
    }
    return NULL;
}

static bool check_case(const opinfo *op, int opi, const fixture *fx, const char *prefix, int mode,
                       tally *tl)
{
    static const char *roles[3][2] = {{"a", "x"}, {"b", "b"}, {"cond", "mask"}};
    casein c = {fx, prefix, {NULL}};
    for (int k = 0; k < 3; k++) {
        eng_tensor *t = role(&c, roles[k][0]);
        c.t[k] = layout(t ? t : role(&c, roles[k][1]), mode);
    }
    char label[128];
    snprintf(label, sizeof label, "%s (%s inputs)", prefix,
             mode == 0   ? "contiguous"
             : mode == 1 ? "stride-2"
                         : "column-major");
    double value = 0;
    bool whole, ok;
    eng_tensor *idx = NULL, *y = run_case(op, &c, &value, &whole, &idx);
    const eng_tensor *want = role(&c, "out"), *scale = role(&c, "scale");
    if (whole) {
        double w = eng_tensor_get_flat(want, 0);
        double e = relerr(value, w, scale ? fabs(eng_tensor_get_flat(scale, 0)) : 0);
        tl->worst[opi] = fmax(tl->worst[opi], e);
        ok = e <= tolerance(op, want->dtype);
        if (!ok)
            print_message("%s: got %.17g, PyTorch %.17g (relative %.3g)\n", label, value, w, e);
    } else {
        ok = check_values(label, op, tl, opi, y, want, scale);
        if (ok && idx)
            ok = check_values(label, &OPS[opi], tl, opi, idx, role(&c, "idx"), NULL);
    }
    eng_tensor_release(y);
    eng_tensor_release(idx);
    for (int k = 0; k < 3; k++)
        eng_tensor_release(c.t[k]);
    return ok;
}

/* Every case of the file, in three layouts; each op of OPS must have min_cases cases. */
static void check_fixture(const char *file, int min_cases)
{
    fixture *fx = fixture_load(file);
    tally tl = {{0}, {0}};
    int failures = 0;
    for (int i = 0; i < fx->count; i++) {
        const char *name = fx->names[i];
        size_t len = strlen(name);
        if (len < 4 || strcmp(name + len - 4, "/out") != 0)
            continue;
        char prefix[96];
        snprintf(prefix, sizeof prefix, "%.*s", (int)(len - 4), name);
        int opi = -1;
        for (int k = 0; k < NOPS; k++) {
            size_t n = strlen(OPS[k].name);
            if (strncmp(prefix, OPS[k].name, n) == 0 && prefix[n] == '/')
                opi = k;
        }
        if (opi < 0)
            print_message("%s: no operation for case %s\n", file, prefix);
        assert_true(opi >= 0);
        tl.cases[opi]++;
        for (int mode = 0; mode < 3; mode++)
            failures += !check_case(&OPS[opi], opi, fx, prefix, mode, &tl);
    }
    for (int k = 0; k < NOPS; k++) {
        if (tl.cases[k] < min_cases) {
            print_message("%s: %d cases of %s, expected at least %d\n", file, tl.cases[k],
                          OPS[k].name, min_cases);
            failures++;
        }
    }
    print_message("%s: worst relative error per op:", file);
    for (int k = 0; k < NOPS; k++)
        if (tl.cases[k])
            print_message(" %s %.2g", OPS[k].name, tl.worst[k]);
    print_message("\n");
    fixture_free(fx);
    assert_int_equal(failures, 0);
}

static void test_f64_results_match_pytorch_to_1e15(void **state)
{
    (void)state;
    check_fixture("tensor_math_f64.bin", 1);
}

static void test_f32_results_match_pytorch(void **state)
{
    (void)state;
    check_fixture("tensor_math_f32.bin", 1);
}

static void test_i64_results_match_pytorch_exactly(void **state)
{
    (void)state;
    check_fixture("tensor_math_i64.bin", 0);
}

/* ---- errors ---- */

static void test_broadcast_mismatch_names_both_shapes_and_the_dim(void **state)
{
    (void)state;
    eng_tensor *a = TENSOR(ENG_F64, 2, 3, 4), *b = TENSOR(ENG_F64, 5, 1);
    eng_dtype dt;
    int nd;
    int64_t sh[ENG_MAX_DIMS];
    assert_error(eng_binop_result(ENG_OP_MUL, a, b, eng_scalar_int(0), &dt, &nd, sh), ENG_ESHAPE,
                 "mul: shapes [2,3,4] and [5,1] do not broadcast",
                 "dimension 2 (from the end) has sizes 3 and 5");
    eng_tensor_release(a);
    eng_tensor_release(b);
}

static void test_destination_must_be_the_exact_result(void **state)
{
    (void)state;
    eng_tensor *a = TENSOR(ENG_F32, 2, 3), *wide = TENSOR(ENG_F32, 3, 3),
               *f64 = TENSOR(ENG_F64, 2, 3);
    assert_error(eng_tensor_binop(wide, ENG_OP_ADD, a, a, eng_scalar_int(0)), ENG_ESHAPE,
                 "add: destination [3,3] does not match the result [2,3]");
    assert_error(eng_tensor_unop(f64, ENG_OP_EXP, a), ENG_EDTYPE,
                 "exp: destination dtype f64, result dtype f32");
    assert_error(eng_tensor_reduce(wide, ENG_REDUCE_SUM, a, 0, false, 0), ENG_ESHAPE,
                 "sum: destination [3,3] does not match the result [3]");
    eng_tensor_release(a);
    eng_tensor_release(wide);
    eng_tensor_release(f64);
}

static void test_reductions_refuse_bad_dims_and_integer_means(void **state)
{
    (void)state;
    eng_tensor *x = TENSOR(ENG_F64, 2, 3), *i = TENSOR(ENG_I64, 4), *e = TENSOR(ENG_F64, 2, 0);
    eng_dtype dt;
    int nd;
    int64_t sh[ENG_MAX_DIMS];
    eng_scalar v;
    assert_error(eng_reduce_result(ENG_REDUCE_SUM, x, 2, false, &dt, &nd, sh), ENG_EARG,
                 "sum: dimension 3 out of range for [2,3] (1..2)");
    assert_error(eng_reduce_result(ENG_REDUCE_MEAN, i, 0, false, &dt, &nd, sh), ENG_EDTYPE,
                 "mean needs a float tensor (f32 or f64), got i64");
    assert_error(eng_tensor_reduce_all(&v, ENG_REDUCE_STD, i, 1), ENG_EDTYPE, "std needs");
    assert_error(eng_reduce_result(ENG_REDUCE_MAX, e, 1, false, &dt, &nd, sh), ENG_ESHAPE,
                 "max: dimension 2 of [2,0] is empty");
    assert_ok(eng_reduce_result(ENG_REDUCE_SUM, e, 1, false, &dt, &nd, sh));
    assert_true(nd == 1 && sh[0] == 2 && dt == ENG_F64);
    eng_tensor_release(x);
    eng_tensor_release(i);
    eng_tensor_release(e);
}

static void test_products_name_shapes_and_dtypes(void **state)
{
    (void)state;
    eng_tensor *a = TENSOR(ENG_F64, 3, 4), *b = TENSOR(ENG_F64, 3, 4), *f = TENSOR(ENG_F32, 4, 2);
    eng_tensor *ia = TENSOR(ENG_I64, 3, 4);
    eng_dtype dt;
    int nd;
    int64_t sh[ENG_MAX_DIMS];
    double v;
    assert_error(eng_matmul_result("matmul", a, b, &dt, &nd, sh), ENG_ESHAPE,
                 "matmul: [3,4] @ [3,4]: dimension 2 of the first (4) must equal dimension 1 "
                 "of the second (3)");
    assert_error(eng_matmul_result("mm", a, f, &dt, &nd, sh), ENG_EDTYPE,
                 "mm: needs two f32 or two f64 tensors, got f64 and f32");
    assert_error(eng_tensor_dot(&v, ia, ia), ENG_EDTYPE, "dot: needs two f32 or two f64");
    assert_error(eng_tensor_mm(a, a, b), ENG_ESHAPE, "mm: [3,4] @ [3,4]");
    eng_tensor_release(a);
    eng_tensor_release(b);
    eng_tensor_release(f);
    eng_tensor_release(ia);
}

static void test_promotion_follows_pytorch(void **state)
{
    (void)state;
    assert_int_equal(eng_promote_types(ENG_F32, ENG_F64), ENG_F64);
    assert_int_equal(eng_promote_types(ENG_I64, ENG_F32), ENG_F32);
    assert_int_equal(eng_promote_types(ENG_U8, ENG_I32), ENG_I32);
    assert_int_equal(eng_promote_scalar(ENG_F32, eng_scalar_float(0.1)), ENG_F32);
    assert_int_equal(eng_promote_scalar(ENG_I32, eng_scalar_int(7)), ENG_I32);
    assert_int_equal(eng_promote_scalar(ENG_I64, eng_scalar_float(0.5)), ENG_F32);
    eng_tensor *i = TENSOR(ENG_I64, 2), *y = TENSOR(ENG_I64, 2);
    eng_dtype dt;
    int nd;
    int64_t sh[ENG_MAX_DIMS];
    assert_ok(eng_binop_result(ENG_OP_DIV, i, i, eng_scalar_int(0), &dt, &nd, sh));
    assert_int_equal(dt, ENG_F32);
    assert_error(eng_tensor_binop(y, ENG_OP_POW, i, NULL, eng_scalar_int(2)), ENG_EDTYPE,
                 "pow: integer operands (i64 ^ number) are not supported");
    /* i64 arithmetic is exact beyond 2^53, where a detour through double would round */
    ((int64_t *)eng_tensor_data(i))[0] = (INT64_C(1) << 60) + 1;
    assert_ok(eng_tensor_binop(y, ENG_OP_ADD, i, NULL, eng_scalar_int(2)));
    assert_true(((int64_t *)eng_tensor_data(y))[0] == (INT64_C(1) << 60) + 3);
    eng_tensor_release(i);
    eng_tensor_release(y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f64_results_match_pytorch_to_1e15),
        cmocka_unit_test(test_f32_results_match_pytorch),
        cmocka_unit_test(test_i64_results_match_pytorch_exactly),
        cmocka_unit_test(test_broadcast_mismatch_names_both_shapes_and_the_dim),
        cmocka_unit_test(test_destination_must_be_the_exact_result),
        cmocka_unit_test(test_reductions_refuse_bad_dims_and_integer_means),
        cmocka_unit_test(test_products_name_shapes_and_dtypes),
        cmocka_unit_test(test_promotion_follows_pytorch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
