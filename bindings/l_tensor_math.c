/* engine.Tensor math: operators and elementwise functions, as methods (x:exp()), in-place
 * methods (x:exp_()) and functions of the engine table (engine.exp(x)); the reductions and
 * matrix products are in l_tensor_reduce.c. The numerics are engine/tensor_math.h; this file
 * reads arguments.
 *
 * Options are a trailing table: {out = t} writes into t (which must have the result's exact
 * shape and dtype) instead of allocating; reductions take {keepdim = true}; var and std
 * {unbiased = false}; norm {p = 1}. Unknown options and extra arguments are errors. */
#include <math.h>

#include "bindings.h"
#include "tensor_math.h"

static const char *const OUT_ONLY[] = {"out", NULL};

/* ---- elementwise ---- */

/* x:op(y [, {out=}]) and x:op_(y), y a tensor or a number. */
int l_math_binary(lua_State *L, eng_binop op, const char *fname, bool inplace)
{
    l_math_nargs(L, inplace ? 2 : 3, fname);
    eng_tensor *x = l_check_tensor(L, 1);
    eng_scalar s;
    const eng_tensor *y = l_math_operand(L, 2, fname, &s);
    if (inplace) {
        if (eng_tensor_binop(x, op, x, y, s))
            return l_engine_error(L);
        lua_settop(L, 1);
        return 1;
    }
    int opts = l_math_opts(L, 3, fname, OUT_ONLY);
    eng_dtype dtype;
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    if (eng_binop_result(op, x, y, s, &dtype, &ndim, shape))
        return l_engine_error(L);
    eng_tensor *dst = l_math_push_dst(L, opts, fname, dtype, ndim, shape);
    if (eng_tensor_binop(dst, op, x, y, s))
        return l_engine_error(L);
    return 1;
}

/* Operators: either side may be a number. */
static int arith(lua_State *L, eng_binop op, const char *fname)
{
    eng_scalar sa, sb;
    const eng_tensor *a = l_math_operand(L, 1, fname, &sa), *b = l_math_operand(L, 2, fname, &sb);
    eng_dtype dtype;
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    eng_scalar s = a ? sb : sa;
    if (eng_binop_result(op, a, b, s, &dtype, &ndim, shape))
        return l_engine_error(L);
    eng_tensor *dst = l_math_push_dst(L, 0, fname, dtype, ndim, shape);
    if (eng_tensor_binop(dst, op, a, b, s))
        return l_engine_error(L);
    return 1;
}

static int unary(lua_State *L, eng_unop op, const char *fname, bool inplace)
{
    l_math_nargs(L, inplace ? 1 : 2, fname);
    eng_tensor *x = l_check_tensor(L, 1);
    if (inplace) {
        if (eng_tensor_unop(x, op, x))
            return l_engine_error(L);
        return 1;
    }
    int opts = l_math_opts(L, 2, fname, OUT_ONLY);
    eng_tensor *dst =
        l_math_push_dst(L, opts, fname, eng_unop_result(op, x->dtype), x->ndim, x->shape);
    if (eng_tensor_unop(dst, op, x))
        return l_engine_error(L);
    return 1;
}

#define BINARY(NAME, OP)                                                                           \
    static int t_##NAME(lua_State *L)                                                              \
    {                                                                                              \
        return l_math_binary(L, OP, #NAME, false);                                                 \
    }
#define BINARY_(NAME, OP)                                                                          \
    BINARY(NAME, OP)                                                                               \
    static int t_##NAME##_(lua_State *L)                                                           \
    {                                                                                              \
        return l_math_binary(L, OP, #NAME "_", true);                                              \
    }
#define OPERATOR(NAME, OP, FNAME)                                                                  \
    static int m_##NAME(lua_State *L)                                                              \
    {                                                                                              \
        return arith(L, OP, FNAME);                                                                \
    }
#define UNARY(NAME, OP)                                                                            \
    static int t_##NAME(lua_State *L)                                                              \
    {                                                                                              \
        return unary(L, OP, #NAME, false);                                                         \
    }                                                                                              \
    static int t_##NAME##_(lua_State *L)                                                           \
    {                                                                                              \
        return unary(L, OP, #NAME "_", true);                                                      \
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
    l_math_nargs(L, inplace ? 3 : 4, fname);
    eng_tensor *x = l_check_tensor(L, 1);
    eng_scalar lo, hi;
    bool has_lo = l_math_test_scalar(L, 2, &lo), has_hi = l_math_test_scalar(L, 3, &hi);
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
    int opts = l_math_opts(L, 4, fname, OUT_ONLY);
    eng_dtype dtype = x->dtype;
    if (has_lo)
        dtype = eng_promote_scalar(dtype, lo);
    if (has_hi)
        dtype = eng_promote_scalar(dtype, hi);
    eng_tensor *dst = l_math_push_dst(L, opts, fname, dtype, x->ndim, x->shape);
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
    const eng_tensor *a = l_math_operand(L, ia, fname, &sa), *b = l_math_operand(L, ib, fname, &sb);
    eng_dtype dtype;
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    if (eng_where_result(cond, a, sa, b, sb, &dtype, &ndim, shape))
        return l_engine_error(L);
    eng_tensor *dst = l_math_push_dst(L, opts, fname, dtype, ndim, shape);
    if (eng_tensor_where(dst, cond, a, sa, b, sb))
        return l_engine_error(L);
    return 1;
}

/* engine.where(cond, a, b [, {out=}]) */
static int l_where(lua_State *L)
{
    l_math_nargs(L, 4, "where");
    return where(L, "where", 1, 2, 3, l_math_opts(L, 4, "where", OUT_ONLY));
}

/* x:where(cond, y [, {out=}]) = engine.where(cond, x, y), as torch.Tensor.where */
static int t_where(lua_State *L)
{
    l_math_nargs(L, 4, "where");
    return where(L, "where", 2, 1, 3, l_math_opts(L, 4, "where", OUT_ONLY));
}

/* The fill value of masked_fill as x's kind: an integer tensor takes only integral values. */
static eng_scalar fill_value(lua_State *L, const eng_tensor *x, const char *fname)
{
    eng_scalar v;
    if (!l_math_test_scalar(L, 3, &v))
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
    l_math_nargs(L, 4, "masked_fill");
    eng_tensor *x = l_check_tensor(L, 1), *mask = l_check_tensor(L, 2);
    eng_scalar v = fill_value(L, x, "masked_fill");
    int opts = l_math_opts(L, 4, "masked_fill", OUT_ONLY);
    eng_dtype dtype;
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    if (eng_where_result(mask, NULL, v, x, v, &dtype, &ndim, shape))
        return l_engine_error(L);
    eng_tensor *dst = l_math_push_dst(L, opts, "masked_fill", dtype, ndim, shape);
    if (eng_tensor_where(dst, mask, NULL, v, x, v))
        return l_engine_error(L);
    return 1;
}

static int t_masked_fill_(lua_State *L)
{
    l_math_nargs(L, 3, "masked_fill_");
    eng_tensor *x = l_check_tensor(L, 1), *mask = l_check_tensor(L, 2);
    eng_scalar v = fill_value(L, x, "masked_fill_");
    if (eng_tensor_where(x, mask, NULL, v, x, v))
        return l_engine_error(L);
    lua_settop(L, 1);
    return 1;
}

/* ---- registration ---- */

/* clang-format off */
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
    {NULL, NULL},
};
/* clang-format on */

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
    l_open_tensor_reduce(L, methods, funcs);
}
