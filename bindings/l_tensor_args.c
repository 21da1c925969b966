/* Arguments of the tensor math bindings (l_tensor_math.c, l_tensor_reduce.c): operands,
 * options tables, destinations and dimensions, with messages that name the function. */
#include "bindings.h"

void l_math_nargs(lua_State *L, int max, const char *fname)
{
    if (lua_gettop(L) > max)
        luaL_error(L, "%s: too many arguments (%d given, at most %d expected)", fname,
                   lua_gettop(L), max);
}

bool l_math_test_scalar(lua_State *L, int idx, eng_scalar *s)
{
    if (lua_type(L, idx) != LUA_TNUMBER)
        return false;
    *s = lua_isinteger(L, idx) ? eng_scalar_int(lua_tointeger(L, idx))
                               : eng_scalar_float(lua_tonumber(L, idx));
    return true;
}

/* A tensor (returned) or a number (NULL, in *s) at idx. */
const eng_tensor *l_math_operand(lua_State *L, int idx, const char *fname, eng_scalar *s)
{
    *s = eng_scalar_int(0);
    if (luaL_testudata(L, idx, ENG_LUA_TENSOR))
        return l_check_tensor(L, idx);
    if (!l_math_test_scalar(L, idx, s))
        luaL_error(L, "%s: argument #%d must be an engine.Tensor or a number, got %s", fname, idx,
                   l_typename_of(L, idx));
    return NULL;
}

/* The options table at idx (0 when none or nil), checked against names. */
int l_math_opts(lua_State *L, int idx, const char *fname, const char *const *names)
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
bool l_math_opt_bool(lua_State *L, int opts, const char *fname, const char *name, bool def)
{
    return opts ? l_opt_boolean_field(L, opts, fname, name, def) : def;
}

double l_math_opt_number(lua_State *L, int opts, const char *fname, const char *name, double def)
{
    return opts ? l_opt_number_field(L, opts, fname, name, def) : def;
}

/* Pushes the destination and returns it: option out (pushed again) or a new tensor. */
eng_tensor *l_math_push_dst(lua_State *L, int opts, const char *fname, eng_dtype dtype, int ndim,
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
int l_math_dim(lua_State *L, int idx, const eng_tensor *t, const char *fname)
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
void l_math_push_scalar(lua_State *L, eng_scalar v)
{
    if (v.is_int)
        lua_pushinteger(L, v.i);
    else
        lua_pushnumber(L, v.f);
}
