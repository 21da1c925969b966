/* engine.Tensor reductions (sum, mean, var, norm, max, argmax, ...) and matrix products
 * (matmul, mm, bmm, outer, dot), as methods and functions of the engine table. Arguments and
 * options as in l_tensor_math.c; the numerics are engine/tensor_math.h. */
#include "bindings.h"
#include "tensor_math.h"

static const char *const OUT_ONLY[] = {"out", NULL};

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
    l_math_nargs(L, 3, fname);
    *dim = -1;
    int opts;
    if (lua_istable(L, 2)) {
        l_math_nargs(L, 2, fname);
        opts = l_math_opts(L, 2, fname, names);
    } else {
        if (!lua_isnoneornil(L, 2))
            *dim = l_math_dim(L, 2, x, fname);
        opts = l_math_opts(L, 3, fname, names);
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
        param = l_math_opt_bool(L, opts, fname, "unbiased", true) ? 1 : 0;
    if (norm)
        param = l_math_opt_number(L, opts, fname, "p", 2);
    if (norm && (param < 0 || param != param))
        return luaL_error(L, "norm: p must be >= 0 (math.huge for the max norm), got %f", param);
    if (dim < 0) {
        eng_scalar v;
        if (op == ENG_REDUCE_MEAN && eng_tensor_numel(x) == 0)
            return luaL_error(L, "mean of an empty tensor %s", eng_tensor_shape_str(x));
        if (eng_tensor_reduce_all(&v, op, x, param))
            return l_engine_error(L);
        l_math_push_scalar(L, v);
        return 1;
    }
    bool keepdim = l_math_opt_bool(L, opts, fname, "keepdim", false);
    eng_dtype dtype;
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    if (eng_reduce_result(op, x, dim, keepdim, &dtype, &ndim, shape))
        return l_engine_error(L);
    eng_tensor *y = l_math_push_dst(L, opts, fname, dtype, ndim, shape);
    if (eng_tensor_reduce(y, op, x, dim, keepdim, param))
        return l_engine_error(L);
    return 1;
}

#define REDUCE(NAME, OP)                                                                           \
    static int t_##NAME(lua_State *L)                                                              \
    {                                                                                              \
        return reduce(L, OP);                                                                      \
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
        return l_math_binary(L, max ? ENG_OP_MAXIMUM : ENG_OP_MINIMUM, fname, false);
    eng_tensor *x = l_check_tensor(L, 1);
    int dim, opts = reduce_args(L, x, fname, EXT_OPTS, &dim);
    eng_reduce_op op = max ? ENG_REDUCE_MAX : ENG_REDUCE_MIN;
    if (dim < 0) {
        eng_scalar v;
        if (eng_tensor_reduce_all(&v, op, x, 0))
            return l_engine_error(L);
        l_math_push_scalar(L, v);
        return 1;
    }
    bool keepdim = l_math_opt_bool(L, opts, fname, "keepdim", false);
    eng_dtype dtype;
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    if (eng_reduce_result(op, x, dim, keepdim, &dtype, &ndim, shape))
        return l_engine_error(L);
    eng_tensor *values = l_math_push_dst(L, 0, fname, dtype, ndim, shape);
    eng_tensor *idx = l_math_push_dst(L, 0, fname, ENG_I64, ndim, shape);
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
    bool keepdim = l_math_opt_bool(L, opts, fname, "keepdim", false);
    eng_dtype dtype;
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    if (eng_reduce_result(max ? ENG_REDUCE_MAX : ENG_REDUCE_MIN, x, dim, keepdim, &dtype, &ndim,
                          shape))
        return l_engine_error(L);
    eng_tensor *idx = l_math_push_dst(L, opts, fname, ENG_I64, ndim, shape);
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
    l_math_nargs(L, 3, fname);
    eng_tensor *a = l_check_tensor(L, 1), *b = l_check_tensor(L, 2);
    int opts = l_math_opts(L, 3, fname, OUT_ONLY);
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
    eng_tensor *y = l_math_push_dst(L, opts, fname, dtype, ndim, shape);
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
    l_math_nargs(L, 2, "dot");
    eng_tensor *a = l_check_tensor(L, 1), *b = l_check_tensor(L, 2);
    double v;
    if (eng_tensor_dot(&v, a, b))
        return l_engine_error(L);
    lua_pushnumber(L, v);
    return 1;
}

/* ---- registration ---- */

/* clang-format off */
static const luaL_Reg reduce_methods[] = {
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
/* clang-format on */

void l_open_tensor_reduce(lua_State *L, int methods, int funcs)
{
    methods = lua_absindex(L, methods);
    funcs = lua_absindex(L, funcs);
    lua_pushvalue(L, methods);
    luaL_setfuncs(L, reduce_methods, 0);
    lua_pushvalue(L, funcs);
    luaL_setfuncs(L, reduce_methods, 0);
    lua_pop(L, 2);
}
