/* Tensor creation: engine.zeros, ones, full, rand, randn, arange, linspace, eye and the
 * *_like forms, after PyTorch's torch.* functions (the numbers come from engine/tensor*.c).
 *
 * Shapes are given as a table {2, 3} or as integers 2, 3; a dtype name may follow. The
 * default dtype is f32, except for arange over integers (i64, as in PyTorch). */
#include "bindings.h"

/* A shape at arg: a table, or integers from arg on. Sets *next to the argument after it. */
static int shape_args(lua_State *L, int arg, int64_t *shape, int *next)
{
    if (lua_type(L, arg) != LUA_TNUMBER) {
        *next = arg + 1;
        return l_check_shape(L, arg, shape);
    }
    int ndim = 0;
    while (lua_type(L, arg + ndim) == LUA_TNUMBER) {
        if (ndim == ENG_MAX_DIMS)
            luaL_argerror(L, arg + ndim, "too many dimensions");
        int isint = 0;
        lua_Integer size = lua_tointegerx(L, arg + ndim, &isint);
        if (!isint || size < 0)
            luaL_argerror(L, arg + ndim, "size is not a non-negative integer");
        shape[ndim++] = size;
    }
    *next = arg + ndim;
    return ndim;
}

/* Pushes a new zero tensor of the shape and optional dtype from arg 1, refusing anything
 * after them. */
static eng_tensor *new_from_args(lua_State *L, const char *what)
{
    int64_t shape[ENG_MAX_DIMS];
    int next;
    int ndim = shape_args(L, 1, shape, &next);
    eng_dtype dtype = l_opt_dtype(L, next, ENG_F32);
    l_check_nargs(L, next, what);
    eng_tensor **slot = l_new_tensor_box(L);
    if (eng_tensor_new(dtype, ndim, shape, slot))
        l_engine_error(L);
    return *slot;
}

/* Pushes a new zero tensor shaped like the tensor at arg 1, with the dtype at dtype_arg or
 * that tensor's, refusing anything after. */
static eng_tensor *new_like(lua_State *L, int dtype_arg, const char *what)
{
    eng_tensor *like = l_check_tensor(L, 1);
    eng_dtype dtype = l_opt_dtype(L, dtype_arg, like->dtype);
    l_check_nargs(L, dtype_arg, what);
    eng_tensor **slot = l_new_tensor_box(L);
    if (eng_tensor_new(dtype, like->ndim, like->shape, slot))
        l_engine_error(L);
    return *slot;
}

static int l_zeros(lua_State *L)
{
    new_from_args(L, "zeros");
    return 1;
}

static int l_ones(lua_State *L)
{
    eng_tensor_fill(new_from_args(L, "ones"), 1.0);
    return 1;
}

static int l_rand(lua_State *L)
{
    if (eng_tensor_uniform(new_from_args(L, "rand"), NULL, 0.0, 1.0))
        return l_engine_error(L);
    return 1;
}

static int l_randn(lua_State *L)
{
    if (eng_tensor_normal(new_from_args(L, "randn"), NULL, 0.0, 1.0))
        return l_engine_error(L);
    return 1;
}

/* engine.full(shape, value [, dtype]) */
static int l_full(lua_State *L)
{
    int64_t shape[ENG_MAX_DIMS];
    int ndim = l_check_shape(L, 1, shape);
    eng_dtype dtype = l_opt_dtype(L, 3, ENG_F32);
    double v = l_check_element(L, 2, dtype, "full");
    l_check_nargs(L, 3, "full");
    eng_tensor **slot = l_new_tensor_box(L);
    if (eng_tensor_new(dtype, ndim, shape, slot))
        return l_engine_error(L);
    eng_tensor_fill(*slot, v);
    return 1;
}

static int l_zeros_like(lua_State *L)
{
    new_like(L, 2, "zeros_like");
    return 1;
}

static int l_ones_like(lua_State *L)
{
    eng_tensor_fill(new_like(L, 2, "ones_like"), 1.0);
    return 1;
}

static int l_full_like(lua_State *L)
{
    eng_tensor *like = l_check_tensor(L, 1);
    double v = l_check_element(L, 2, l_opt_dtype(L, 3, like->dtype), "full_like");
    eng_tensor_fill(new_like(L, 3, "full_like"), v);
    return 1;
}

static int l_rand_like(lua_State *L)
{
    if (eng_tensor_uniform(new_like(L, 2, "rand_like"), NULL, 0.0, 1.0))
        return l_engine_error(L);
    return 1;
}

static int l_randn_like(lua_State *L)
{
    if (eng_tensor_normal(new_like(L, 2, "randn_like"), NULL, 0.0, 1.0))
        return l_engine_error(L);
    return 1;
}

/* engine.arange(end), arange(start, end [, step]) [, dtype]: end excluded. */
static int l_arange(lua_State *L)
{
    int n = 0;
    bool integers = true;
    for (; n < 3 && lua_type(L, n + 1) == LUA_TNUMBER; n++)
        integers = integers && lua_isinteger(L, n + 1);
    if (n == 0)
        luaL_typeerror(L, 1, "number");
    double start = n > 1 ? lua_tonumber(L, 1) : 0, end = lua_tonumber(L, n > 1 ? 2 : 1);
    double step = n > 2 ? lua_tonumber(L, 3) : 1;
    eng_dtype dtype = l_opt_dtype(L, n + 1, integers ? ENG_I64 : ENG_F32);
    l_check_nargs(L, n + 1, "arange");
    eng_tensor **slot = l_new_tensor_box(L);
    if (eng_tensor_arange(dtype, start, end, step, slot))
        return l_engine_error(L);
    return 1;
}

/* engine.linspace(start, end, steps [, dtype]): end included. */
static int l_linspace(lua_State *L)
{
    double start = luaL_checknumber(L, 1), end = luaL_checknumber(L, 2);
    lua_Integer steps = luaL_checkinteger(L, 3);
    eng_dtype dtype = l_opt_dtype(L, 4, ENG_F32);
    l_check_nargs(L, 4, "linspace");
    eng_tensor **slot = l_new_tensor_box(L);
    if (eng_tensor_linspace(dtype, start, end, steps, slot))
        return l_engine_error(L);
    return 1;
}

/* engine.eye(n [, m] [, dtype]) */
static int l_eye(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    int dtype_arg = lua_type(L, 2) == LUA_TNUMBER ? 3 : 2;
    lua_Integer m = dtype_arg == 3 ? luaL_checkinteger(L, 2) : n;
    eng_dtype dtype = l_opt_dtype(L, dtype_arg, ENG_F32);
    l_check_nargs(L, dtype_arg, "eye");
    eng_tensor **slot = l_new_tensor_box(L);
    if (eng_tensor_eye(dtype, n, m, slot))
        return l_engine_error(L);
    return 1;
}

static const luaL_Reg create_funcs[] = {
    {"zeros", l_zeros},
    {"ones", l_ones},
    {"full", l_full},
    {"rand", l_rand},
    {"randn", l_randn},
    {"zeros_like", l_zeros_like},
    {"ones_like", l_ones_like},
    {"full_like", l_full_like},
    {"rand_like", l_rand_like},
    {"randn_like", l_randn_like},
    {"arange", l_arange},
    {"linspace", l_linspace},
    {"eye", l_eye},
    {NULL, NULL},
};

void l_tensor_create_open(lua_State *L)
{
    luaL_setfuncs(L, create_funcs, 0);
}
