/* engine.Tensor math: operators, elementwise functions, reductions and matrix products, as
 * methods (x:exp()), in-place methods (x:exp_()) and functions of the engine table
 * (engine.exp(x)). The numerics are engine/tensor_math.h; this file reads arguments.
 *
 * Options are a trailing table: {out = t} writes into t (which must have the result's exact
 * shape and dtype) instead of allocating; reductions take {keepdim = true}; var and std
 * {unbiased = false}; norm {p = 1}. Unknown options and extra arguments are errors. */
#include <math.h>

#include "bindings.h"
#include "tensor_math.h"

/* ---- arguments ---- */

static void check_nargs(lua_State *L, int max, const char *fname)
{
    if (lua_gettop(L) > max)
        luaL_error(L, "%s: too many arguments (%d given, at most %d expected)", fname,
                   lua_gettop(L), max);
}

static bool test_scalar(lua_State *L, int idx, eng_scalar *s)
{
    if (lua_type(L, idx) != LUA_TNUMBER)
        return false;
    *s = lua_isinteger(L, idx) ? eng_scalar_int(lua_tointeger(L, idx))
                               : eng_scalar_float(lua_tonumber(L, idx));
    return true;
}

/* A tensor (returned) or a number (NULL, in *s) at idx. */
static const eng_tensor *check_operand(lua_State *L, int idx, const char *fname, eng_scalar *s)
{
    *s = eng_scalar_int(0);
    if (luaL_testudata(L, idx, ENG_LUA_TENSOR))
        return l_check_tensor(L, idx);
    if (!test_scalar(L, idx, s))
        luaL_error(L, "%s: argument #%d must be an engine.Tensor or a number, got %s", fname,
                   idx, l_typename_of(L, idx));
    return NULL;
}

static const char *const OUT_ONLY[] = {"out", NULL};

/* The options table at idx (0 when none or nil), checked against names. */
static int opts_arg(lua_State *L, int idx, const char *fname, const char *const *names)
{
    if (lua_isnoneornil(L, idx))
        return 0;
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: argument #%d must be an options table, got %s", fname, idx,
                   l_typename_of(L, idx));
    l_check_options(L, idx, fname, names);
    return idx;
}

/* Fields of the options table opts (0: none, giving def). */
static bool opt_bool(lua_State *L, int opts, const char *fname, const char *name, bool def)
{
    return opts ? l_opt_boolean_field(L, opts, fname, name, def) : def;
}

static double opt_number(lua_State *L, int opts, const char *fname, const char *name, double def)
{
    return opts ? l_opt_number_field(L, opts, fname, name, def) : def;
}

/* Pushes the destination and returns it: option out (pushed again) or a new tensor. */
static eng_tensor *push_dst(lua_State *L, int opts, const char *fname, eng_dtype dtype, int ndim,
                            const int64_t *shape)
{
    if (opts && lua_getfield(L, opts, "out") != LUA_TNIL) {
        if (!luaL_testudata(L, -1, ENG_LUA_TENSOR))
            luaL_error(L, "%s: option 'out' must be an engine.Tensor, got %s", fname,
                       l_typename_of(L, -1));
        return l_check_tensor(L, lua_gettop(L));
    }
    if (opts)
        lua_pop(L, 1);
    eng_tensor **slot = l_new_tensor_box(L);
    if (eng_tensor_new(dtype, ndim, shape, slot))
        l_engine_error(L);
    return *slot;
}

/* A 1-based dimension at idx (negative counts from the end: -1 is the last) to 0-based. */
static int check_dim(lua_State *L, int idx, const eng_tensor *t, const char *fname)
{
    if (!lua_isinteger(L, idx))
        luaL_error(L, "%s: dimension must be an integer, got %s", fname, l_typename_of(L, idx));
    lua_Integer d = lua_tointeger(L, idx);
    if (d < 0)
        d += t->ndim + 1;
    if (d < 1 || d > t->ndim)
        luaL_error(L, "%s: dimension %d out of range for %s (1..%d or -%d..-1)", fname,
                   (int)lua_tointeger(L, idx), eng_tensor_shape_str(t), t->ndim, t->ndim);
    return (int)d - 1;
}

/* A whole-tensor result as a Lua number; f32 results keep their double accumulation (not
 * rounded to f32), so x:sum() can be more precise than x:sum(1) of a 1-d x. */
static void push_scalar(lua_State *L, eng_scalar v)
{
    if (v.is_int)
        lua_pushinteger(L, v.i);
    else
        lua_pushnumber(L, v.f);
}

/* ---- elementwise ---- */

/* x:op(y [, {out=}]) and x:op_(y), y a tensor or a number. */
static int binary(lua_State *L, eng_binop op, const char *fname, bool inplace)
{
    check_nargs(L, inplace ? 2 : 3, fname);
    eng_tensor *x = l_check_tensor(L, 1);
    eng_scalar s;
    const eng_tensor *y = check_operand(L, 2, fname, &s);
    if (inplace) {
        if (eng_tensor_binop(x, op, x, y, s))
            return l_engine_error(L);
        lua_settop(L, 1);
        return 1;
    }
    int opts = opts_arg(L, 3, fname, OUT_ONLY);
    eng_dtype dtype;
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    if (eng_binop_result(op, x, y, s, &dtype, &ndim, shape))
        return l_engine_error(L);
    eng_tensor *dst = push_dst(L, opts, fname, dtype, ndim, shape);
    if (eng_tensor_binop(dst, op, x, y, s))
        return l_engine_error(L);
    return 1;
}

/* Operators: either side may be a number. */
static int arith(lua_State *L, eng_binop op, const char *fname)
{
    eng_scalar sa, sb;
    const eng_tensor *a = check_operand(L, 1, fname, &sa), *b = check_operand(L, 2, fname, &sb);
    eng_dtype dtype;
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    eng_scalar s = a ? sb : sa;
    if (eng_binop_result(op, a, b, s, &dtype, &ndim, shape))
        return l_engine_error(L);
    eng_tensor *dst = push_dst(L, 0, fname, dtype, ndim, shape);
    if (eng_tensor_binop(dst, op, a, b, s))
        return l_engine_error(L);
    return 1;
}

static int unary(lua_State *L, eng_unop op, const char *fname, bool inplace)
{
    check_nargs(L, inplace ? 1 : 2, fname);
    eng_tensor *x = l_check_tensor(L, 1);
    if (inplace) {
        if (eng_tensor_unop(x, op, x))
            return l_engine_error(L);
        return 1;
    }
    int opts = opts_arg(L, 2, fname, OUT_ONLY);
    eng_tensor *dst = push_dst(L, opts, fname, eng_unop_result(op, x->dtype), x->ndim, x->shape);
    if (eng_tensor_unop(dst, op, x))
        return l_engine_error(L);
    return 1;
}

#define BINARY(NAME, OP)                                                                      \
    static int t_##NAME(lua_State *L)                                                         \
    {                                                                                         \
        return binary(L, OP, #NAME, false);                                                   \
    }
#define BINARY_(NAME, OP)                                                                     \
    BINARY(NAME, OP)                                                                          \
    static int t_##NAME##_(lua_State *L)                                                      \
    {                                                                                         \
        return binary(L, OP, #NAME "_", true);                                                \
    }
#define OPERATOR(NAME, OP, FNAME)                                                             \
    static int m_##NAME(lua_State *L)                                                         \
    {                                                                                         \
        return arith(L, OP, FNAME);                                                           \
    }
#define UNARY(NAME, OP)                                                                       \
    static int t_##NAME(lua_State *L)                                                         \
    {                                                                                         \
        return unary(L, OP, #NAME, false);                                                    \
    }                                                                                         \
    static int t_##NAME##_(lua_State *L)                                                      \
    {                                                                                         \
        return unary(L, OP, #NAME "_", true);                                                 \
    }

BINARY_(add, ENG_OP_ADD)
BINARY_(sub, ENG_OP_SUB)
BINARY_(mul, ENG_OP_MUL)
BINARY_(div, ENG_OP_DIV)
BINARY_(pow, ENG_OP_POW)
BINARY(maximum, ENG_OP_MAXIMUM)
BINARY(minimum, ENG_OP_MINIMUM)
BINARY(eq, ENG_OP_EQ)
BINARY(ne, ENG_OP_NE)
BINARY(lt, ENG_OP_LT)
BINARY(le, ENG_OP_LE)
BINARY(gt, ENG_OP_GT)
BINARY(ge, ENG_OP_GE)
OPERATOR(add, ENG_OP_ADD, "+")
OPERATOR(sub, ENG_OP_SUB, "-")
OPERATOR(mul, ENG_OP_MUL, "*")
OPERATOR(div, ENG_OP_DIV, "/")
OPERATOR(pow, ENG_OP_POW, "^")
UNARY(neg, ENG_OP_NEG)
UNARY(abs, ENG_OP_ABS)
UNARY(sign, ENG_OP_SIGN)
UNARY(relu, ENG_OP_RELU)
UNARY(exp, ENG_OP_EXP)
UNARY(log, ENG_OP_LOG)
UNARY(log1p, ENG_OP_LOG1P)
UNARY(expm1, ENG_OP_EXPM1)
UNARY(sqrt, ENG_OP_SQRT)
UNARY(rsqrt, ENG_OP_RSQRT)
UNARY(tanh, ENG_OP_TANH)
UNARY(sigmoid, ENG_OP_SIGMOID)

static int m_unm(lua_State *L)
{
    lua_settop(L, 1);
    return unary(L, ENG_OP_NEG, "-", false);
}

/* x:clamp(min, max [, {out=}]), either bound nil; x:clamp_(min, max). */
static int clamp(lua_State *L, bool inplace)
{
    const char *fname = inplace ? "clamp_" : "clamp";
    check_nargs(L, inplace ? 3 : 4, fname);
    eng_tensor *x = l_check_tensor(L, 1);
    eng_scalar lo, hi;
    bool has_lo = test_scalar(L, 2, &lo), has_hi = test_scalar(L, 3, &hi);
    for (int i = 2; i <= 3; i++)
        if (!lua_isnoneornil(L, i) && lua_type(L, i) != LUA_TNUMBER)
            luaL_error(L, "%s: argument #%d must be a number or nil, got %s", fname, i,
                       l_typename_of(L, i));
    const eng_scalar *plo = has_lo ? &lo : NULL, *phi = has_hi ? &hi : NULL;
    if (inplace) {
        if (eng_tensor_clamp(x, x, plo, phi))
            return l_engine_error(L);
        lua_settop(L, 1);
        return 1;
    }
    int opts = opts_arg(L, 4, fname, OUT_ONLY);
    eng_dtype dtype = x->dtype;
    if (has_lo)
        dtype = eng_promote_scalar(dtype, lo);
    if (has_hi)
        dtype = eng_promote_scalar(dtype, hi);
    eng_tensor *dst = push_dst(L, opts, fname, dtype, x->ndim, x->shape);
    if (eng_tensor_clamp(dst, x, plo, phi))
        return l_engine_error(L);
    return 1;
}

static int t_clamp(lua_State *L)
{
    return clamp(L, false);
}

static int t_clamp_(lua_State *L)
{
    return clamp(L, true);
}

/* cond ? a : b with cond, a, b at the given stack positions; opts 0 or a table. */
static int where(lua_State *L, const char *fname, int ic, int ia, int ib, int opts)
{
    eng_tensor *cond = l_check_tensor(L, ic);
    eng_scalar sa, sb;
    const eng_tensor *a = check_operand(L, ia, fname, &sa), *b = check_operand(L, ib, fname, &sb);
    eng_dtype dtype;
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    if (eng_where_result(cond, a, sa, b, sb, &dtype, &ndim, shape))
        return l_engine_error(L);
    eng_tensor *dst = push_dst(L, opts, fname, dtype, ndim, shape);
    if (eng_tensor_where(dst, cond, a, sa, b, sb))
        return l_engine_error(L);
    return 1;
}

/* engine.where(cond, a, b [, {out=}]) */
static int l_where(lua_State *L)
{
    check_nargs(L, 4, "where");
    return where(L, "where", 1, 2, 3, opts_arg(L, 4, "where", OUT_ONLY));
}

/* x:where(cond, y [, {out=}]) = engine.where(cond, x, y), as torch.Tensor.where */
static int t_where(lua_State *L)
{
    check_nargs(L, 4, "where");
    return where(L, "where", 2, 1, 3, opts_arg(L, 4, "where", OUT_ONLY));
}

/* The fill value of masked_fill as x's kind: an integer tensor takes only integral values. */
static eng_scalar fill_value(lua_State *L, const eng_tensor *x, const char *fname)
{
    eng_scalar v;
    if (!test_scalar(L, 3, &v))
        luaL_error(L, "%s: the value must be a number, got %s", fname, l_typename_of(L, 3));
    if (!eng_dtype_is_float(x->dtype) && !v.is_int) {
        if (v.f != floor(v.f) || !(fabs(v.f) < 9.2e18))
            luaL_error(L, "%s: value %f does not fit %s", fname, v.f, eng_dtype_name(x->dtype));
        v = eng_scalar_int((int64_t)v.f);
    }
    if (eng_dtype_is_float(x->dtype) && v.is_int)
        v = eng_scalar_float((double)v.i);
    return v;
}

/* x:masked_fill(mask, value [, {out=}]): value where mask is 1, x elsewhere. */
static int t_masked_fill(lua_State *L)
{
    check_nargs(L, 4, "masked_fill");
    eng_tensor *x = l_check_tensor(L, 1), *mask = l_check_tensor(L, 2);
    eng_scalar v = fill_value(L, x, "masked_fill");
    int opts = opts_arg(L, 4, "masked_fill", OUT_ONLY);
    eng_dtype dtype;
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    if (eng_where_result(mask, NULL, v, x, v, &dtype, &ndim, shape))
        return l_engine_error(L);
    eng_tensor *dst = push_dst(L, opts, "masked_fill", dtype, ndim, shape);
    if (eng_tensor_where(dst, mask, NULL, v, x, v))
        return l_engine_error(L);
    return 1;
}

static int t_masked_fill_(lua_State *L)
{
    check_nargs(L, 3, "masked_fill_");
    eng_tensor *x = l_check_tensor(L, 1), *mask = l_check_tensor(L, 2);
    eng_scalar v = fill_value(L, x, "masked_fill_");
    if (eng_tensor_where(x, mask, NULL, v, x, v))
        return l_engine_error(L);
    lua_settop(L, 1);
    return 1;
}

/* ---- reductions ---- */

static const char *const RED_OPTS[] = {"keepdim", "out", NULL};
static const char *const VAR_OPTS[] = {"keepdim", "out", "unbiased", NULL};
static const char *const NORM_OPTS[] = {"keepdim", "out", "p", NULL};
static const char *const EXT_OPTS[] = {"keepdim", NULL};

/* x:op([dim] [, options]): *dim (0-based) or -1 for the whole tensor; returns the options'
 * index (0 when none). */
static int reduce_args(lua_State *L, const eng_tensor *x, const char *fname,
                       const char *const *names, int *dim)
{
    check_nargs(L, 3, fname);
    *dim = -1;
    int opts;
    if (lua_istable(L, 2)) {
        check_nargs(L, 2, fname);
        opts = opts_arg(L, 2, fname, names);
    } else {
        if (!lua_isnoneornil(L, 2))
            *dim = check_dim(L, 2, x, fname);
        opts = opts_arg(L, 3, fname, names);
    }
    if (*dim < 0 && opts && (l_has_field(L, opts, "keepdim") || l_has_field(L, opts, "out")))
        luaL_error(L, "%s: options keepdim and out need a dimension", fname);
    return opts;
}

static int reduce(lua_State *L, eng_reduce_op op)
{
    const char *fname = eng_reduce_name(op);
    eng_tensor *x = l_check_tensor(L, 1);
    bool var = op == ENG_REDUCE_VAR || op == ENG_REDUCE_STD, norm = op == ENG_REDUCE_NORM;
    int dim, opts = reduce_args(L, x, fname, var ? VAR_OPTS : norm ? NORM_OPTS : RED_OPTS, &dim);
    double param = 0;
    if (var)
        param = opt_bool(L, opts, fname, "unbiased", true) ? 1 : 0;
    if (norm)
        param = opt_number(L, opts, fname, "p", 2);
    if (norm && (param < 0 || param != param))
        return luaL_error(L, "norm: p must be >= 0 (math.huge for the max norm), got %f", param);
    if (dim < 0) {
        eng_scalar v;
        if (op == ENG_REDUCE_MEAN && eng_tensor_numel(x) == 0)
            return luaL_error(L, "mean of an empty tensor %s", eng_tensor_shape_str(x));
        if (eng_tensor_reduce_all(&v, op, x, param))
            return l_engine_error(L);
        push_scalar(L, v);
        return 1;
    }
    bool keepdim = opt_bool(L, opts, fname, "keepdim", false);
    eng_dtype dtype;
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    if (eng_reduce_result(op, x, dim, keepdim, &dtype, &ndim, shape))
        return l_engine_error(L);
    eng_tensor *y = push_dst(L, opts, fname, dtype, ndim, shape);
    if (eng_tensor_reduce(y, op, x, dim, keepdim, param))
        return l_engine_error(L);
    return 1;
}

#define REDUCE(NAME, OP)                                                                      \
    static int t_##NAME(lua_State *L)                                                         \
    {                                                                                         \
        return reduce(L, OP);                                                                 \
    }
REDUCE(sum, ENG_REDUCE_SUM)
REDUCE(mean, ENG_REDUCE_MEAN)
REDUCE(prod, ENG_REDUCE_PROD)
REDUCE(var, ENG_REDUCE_VAR)
REDUCE(std, ENG_REDUCE_STD)
REDUCE(norm, ENG_REDUCE_NORM)
REDUCE(logsumexp, ENG_REDUCE_LOGSUMEXP)

/* x:max() a number; x:max(dim [, {keepdim=}]) values and 1-based indices; x:max(y) is
 * x:maximum(y), as torch.max(x, y). */
static int extreme(lua_State *L, bool max)
{
    const char *fname = max ? "max" : "min";
    if (luaL_testudata(L, 2, ENG_LUA_TENSOR))
        return binary(L, max ? ENG_OP_MAXIMUM : ENG_OP_MINIMUM, fname, false);
    eng_tensor *x = l_check_tensor(L, 1);
    int dim, opts = reduce_args(L, x, fname, EXT_OPTS, &dim);
    eng_reduce_op op = max ? ENG_REDUCE_MAX : ENG_REDUCE_MIN;
    if (dim < 0) {
        eng_scalar v;
        if (eng_tensor_reduce_all(&v, op, x, 0))
            return l_engine_error(L);
        push_scalar(L, v);
        return 1;
    }
    bool keepdim = opt_bool(L, opts, fname, "keepdim", false);
    eng_dtype dtype;
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    if (eng_reduce_result(op, x, dim, keepdim, &dtype, &ndim, shape))
        return l_engine_error(L);
    eng_tensor *values = push_dst(L, 0, fname, dtype, ndim, shape);
    eng_tensor *idx = push_dst(L, 0, fname, ENG_I64, ndim, shape);
    if (eng_tensor_reduce(values, op, x, dim, keepdim, 0) ||
        eng_tensor_argext(idx, x, dim, keepdim, max, 1))
        return l_engine_error(L);
    return 2;
}

static int t_max(lua_State *L)
{
    return extreme(L, true);
}

static int t_min(lua_State *L)
{
    return extreme(L, false);
}

/* x:argmax() the 1-based flat position; x:argmax(dim [, {keepdim=, out=}]) an i64 tensor. */
static int argext(lua_State *L, bool max)
{
    const char *fname = max ? "argmax" : "argmin";
    eng_tensor *x = l_check_tensor(L, 1);
    int dim, opts = reduce_args(L, x, fname, RED_OPTS, &dim);
    if (dim < 0) {
        int64_t pos;
        if (eng_tensor_argext_all(&pos, x, max))
            return l_engine_error(L);
        lua_pushinteger(L, pos + 1);
        return 1;
    }
    bool keepdim = opt_bool(L, opts, fname, "keepdim", false);
    eng_dtype dtype;
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    if (eng_reduce_result(max ? ENG_REDUCE_MAX : ENG_REDUCE_MIN, x, dim, keepdim, &dtype, &ndim,
                          shape))
        return l_engine_error(L);
    eng_tensor *idx = push_dst(L, opts, fname, ENG_I64, ndim, shape);
    if (eng_tensor_argext(idx, x, dim, keepdim, max, 1))
        return l_engine_error(L);
    return 1;
}

static int t_argmax(lua_State *L)
{
    return argext(L, true);
}

static int t_argmin(lua_State *L)
{
    return argext(L, false);
}

/* ---- linear algebra ---- */

typedef eng_status (*product_fn)(eng_tensor *, const eng_tensor *, const eng_tensor *);

static int product(lua_State *L, const char *fname, product_fn fn)
{
    check_nargs(L, 3, fname);
    eng_tensor *a = l_check_tensor(L, 1), *b = l_check_tensor(L, 2);
    int opts = opts_arg(L, 3, fname, OUT_ONLY);
    eng_dtype dtype;
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    if (fn == eng_tensor_outer) {
        /* eng_tensor_outer checks the operands before it touches y */
        dtype = a->dtype, ndim = 2;
        shape[0] = a->ndim == 1 ? a->shape[0] : 0;
        shape[1] = b->ndim == 1 ? b->shape[0] : 0;
    } else if (eng_matmul_result(fname, a, b, &dtype, &ndim, shape)) {
        return l_engine_error(L);
    }
    eng_tensor *y = push_dst(L, opts, fname, dtype, ndim, shape);
    if (fn(y, a, b))
        return l_engine_error(L);
    return 1;
}

static int t_matmul(lua_State *L)
{
    return product(L, "matmul", eng_tensor_matmul);
}

static int t_mm(lua_State *L)
{
    return product(L, "mm", eng_tensor_mm);
}

static int t_bmm(lua_State *L)
{
    return product(L, "bmm", eng_tensor_bmm);
}

static int t_outer(lua_State *L)
{
    return product(L, "outer", eng_tensor_outer);
}

static int t_dot(lua_State *L)
{
    check_nargs(L, 2, "dot");
    eng_tensor *a = l_check_tensor(L, 1), *b = l_check_tensor(L, 2);
    double v;
    if (eng_tensor_dot(&v, a, b))
        return l_engine_error(L);
    lua_pushnumber(L, v);
    return 1;
}

/* ---- registration ---- */

static const luaL_Reg math_methods[] = {
    {"add", t_add},         {"add_", t_add_},
    {"sub", t_sub},         {"sub_", t_sub_},
    {"mul", t_mul},         {"mul_", t_mul_},
    {"div", t_div},         {"div_", t_div_},
    {"pow", t_pow},         {"pow_", t_pow_},
    {"maximum", t_maximum}, {"minimum", t_minimum},
    {"eq", t_eq},           {"ne", t_ne},
    {"lt", t_lt},           {"le", t_le},
    {"gt", t_gt},           {"ge", t_ge},
    {"neg", t_neg},         {"neg_", t_neg_},
    {"abs", t_abs},         {"abs_", t_abs_},
    {"sign", t_sign},       {"sign_", t_sign_},
    {"relu", t_relu},       {"relu_", t_relu_},
    {"exp", t_exp},         {"exp_", t_exp_},
    {"log", t_log},         {"log_", t_log_},
    {"log1p", t_log1p},     {"log1p_", t_log1p_},
    {"expm1", t_expm1},     {"expm1_", t_expm1_},
    {"sqrt", t_sqrt},       {"sqrt_", t_sqrt_},
    {"rsqrt", t_rsqrt},     {"rsqrt_", t_rsqrt_},
    {"tanh", t_tanh},       {"tanh_", t_tanh_},
    {"sigmoid", t_sigmoid}, {"sigmoid_", t_sigmoid_},
    {"clamp", t_clamp},     {"clamp_", t_clamp_},
    {"masked_fill", t_masked_fill}, {"masked_fill_", t_masked_fill_},
    {"sum", t_sum},         {"mean", t_mean},
    {"prod", t_prod},       {"var", t_var},
    {"std", t_std},         {"norm", t_norm},
    {"logsumexp", t_logsumexp},
    {"max", t_max},         {"min", t_min},
    {"argmax", t_argmax},   {"argmin", t_argmin},
    {"matmul", t_matmul},   {"mm", t_mm},
    {"bmm", t_bmm},         {"outer", t_outer},
    {"dot", t_dot},         {NULL, NULL},
};

static const luaL_Reg math_meta[] = {
    {"__add", m_add}, {"__sub", m_sub}, {"__mul", m_mul}, {"__div", m_div},
    {"__pow", m_pow}, {"__unm", m_unm}, {NULL, NULL},
};

void l_open_tensor_math(lua_State *L, int meta, int methods, int funcs)
{
    meta = lua_absindex(L, meta);
    methods = lua_absindex(L, methods);
    funcs = lua_absindex(L, funcs);
    lua_pushvalue(L, meta);
    luaL_setfuncs(L, math_meta, 0);
    lua_pushvalue(L, methods);
    luaL_setfuncs(L, math_methods, 0);
    lua_pushvalue(L, funcs);
    luaL_setfuncs(L, math_methods, 0);
    lua_pushcfunction(L, t_where);
    lua_setfield(L, methods, "where");
    lua_pushcfunction(L, l_where);
    lua_setfield(L, funcs, "where");
    lua_pop(L, 3);
}
