/* Tensor indexing: x[i] and Torch7-style x[{{1, 2}, 3}] for reading and writing, copy_, and
 * the label operations index_select, gather, scatter_add and one_hot.
 *
 * x[i] selects i along dimension 1 (a view; a number when x has one dimension). A table key
 * takes one entry per leading dimension: an integer selects (the dimension goes), {} keeps the
 * whole dimension, {first, last} keeps that inclusive range, {i} the range i..i. Negative
 * positions count from the end (-1 is the last), as in Torch7. When every dimension is
 * selected the result is the number itself. Assignment x[key] = v fills the part with the
 * number v or copies the tensor v into it (broadcast by expand's rules). */
#include "bindings.h"

/* A 1-based position, negative counting from the end, into [0, size + extra) of dimension dim
 * of t (extra 1 admits the position just past the end, for an empty range). */
static int64_t position(lua_State *L, lua_Integer i, const eng_tensor *t, int dim, int64_t size,
                        int extra)
{
    if (i < 0 && i >= -size)
        i += size + 1;
    if (i < 1 || i > size + extra)
        luaL_error(L, "index %I out of range for dimension %d of %s (1..%I)", i, dim + 1,
                   eng_tensor_shape_str(t), (lua_Integer)size);
    return i - 1;
}

static lua_Integer entry_integer(lua_State *L, int idx, int k, const char *what)
{
    int isint = 0;
    lua_Integer i = lua_tointegerx(L, idx, &isint);
    if (!isint)
        luaL_error(L, "tensor index: entry %d: %s is a %s, expected an integer", k, what,
                   luaL_typename(L, idx));
    return i;
}

/* v (a header borrowing t's storage) with dimension d selected at 0-based p. */
static void select_dim(eng_tensor *v, int d, int64_t p)
{
    v->offset += p * v->strides[d];
    for (int k = d; k < v->ndim - 1; k++) {
        v->shape[k] = v->shape[k + 1];
        v->strides[k] = v->strides[k + 1];
    }
    v->ndim--;
}

/* One table entry at the stack top applied to dimension *d of v (dimension od of t). */
static void apply_entry(lua_State *L, const eng_tensor *t, eng_tensor *v, int *d, int od, int k)
{
    if (lua_type(L, -1) == LUA_TNUMBER) {
        select_dim(v, *d, position(L, entry_integer(L, -1, k, "position"), t, od, v->shape[*d], 0));
        return;
    }
    if (lua_type(L, -1) != LUA_TTABLE)
        luaL_error(L,
                   "tensor index: entry %d is a %s (an integer, {} or {first, last} "
                   "expected)",
                   k, luaL_typename(L, -1));
    lua_Integer n = luaL_len(L, -1);
    if (n > 2)
        luaL_error(L, "tensor index: entry %d has %I elements ({first, last} expected)", k, n);
    if (n > 0) {
        lua_geti(L, -1, 1);
        lua_geti(L, -2, n);
        int64_t size = v->shape[*d];
        int64_t first = position(L, entry_integer(L, -2, k, "first"), t, od, size, 1);
        lua_Integer last_i = entry_integer(L, -1, k, "last");
        int64_t last = last_i == 0 && first == 0 ? -1 : position(L, last_i, t, od, size, 0);
        lua_pop(L, 2);
        if (last < first - 1)
            luaL_error(L,
                       "tensor index: entry %d: range %I..%I is reversed for dimension %d "
                       "of %s",
                       k, (lua_Integer)first + 1, (lua_Integer)last + 1, od + 1,
                       eng_tensor_shape_str(t));
        v->offset += first * v->strides[*d];
        v->shape[*d] = last - first + 1;
    }
    (*d)++;
}

/* The part of t that the key at arg names, as a header borrowing t's storage. */
static eng_tensor resolve(lua_State *L, const eng_tensor *t, int arg)
{
    eng_tensor v = *t;
    if (lua_type(L, arg) == LUA_TNUMBER) {
        if (t->ndim == 0)
            luaL_error(L, "tensor index: a 0-dimensional tensor has no dimension 1");
        select_dim(&v, 0, position(L, entry_integer(L, arg, 1, "position"), t, 0, t->shape[0], 0));
        return v;
    }
    lua_Integer n = luaL_len(L, arg);
    if (n > t->ndim)
        luaL_error(L, "tensor index: %I entries for a tensor of %d dimensions %s", n, t->ndim,
                   eng_tensor_shape_str(t));
    luaL_checkstack(L, 4, "tensor index");
    int d = 0;
    for (lua_Integer k = 1; k <= n; k++) {
        lua_geti(L, arg, k);
        apply_entry(L, t, &v, &d, (int)k - 1, (int)k);
        lua_pop(L, 1);
    }
    return v;
}

static void push_element(lua_State *L, const eng_tensor *v)
{
    double x = eng_tensor_get(v, NULL);
    if (v->dtype == ENG_I64)
        lua_pushinteger(L, *(const int64_t *)eng_tensor_data(v));
    else if (eng_dtype_is_float(v->dtype))
        lua_pushnumber(L, x);
    else
        lua_pushinteger(L, (lua_Integer)x);
}

static int key_kind(lua_State *L, int arg)
{
    int type = lua_type(L, arg);
    if (type != LUA_TNUMBER && type != LUA_TTABLE)
        luaL_error(L, "tensor index must be a method name, an integer or a table (got %s)",
                   luaL_typename(L, arg));
    return type;
}

/* __index: methods by name (upvalue 1), parts by number or table. */
static int t_index(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TSTRING) {
        lua_pushvalue(L, 2);
        lua_rawget(L, lua_upvalueindex(1));
        return 1;
    }
    eng_tensor *t = l_check_tensor(L, 1);
    key_kind(L, 2);
    eng_tensor v = resolve(L, t, 2);
    if (v.ndim == 0 && t->ndim > 0) {
        push_element(L, &v);
        return 1;
    }
    l_push_tensor_view(L, &v);
    return 1;
}

/* dst = src, src broadcast to dst's shape; dtypes convert (out-of-range values refused). */
static void copy_into(lua_State *L, eng_tensor *dst, const eng_tensor *src)
{
    eng_tensor *wide;
    if (eng_tensor_expand(src, dst->ndim, dst->shape, &wide))
        luaL_error(L, "copy into %s from %s: %s", eng_tensor_shape_str(dst),
                   eng_tensor_shape_str(src), eng_errmsg());
    eng_status st = eng_tensor_copy(dst, wide);
    eng_tensor_release(wide);
    if (st)
        l_engine_error(L);
}

/* __newindex: x[key] = number or tensor. */
static int t_newindex(lua_State *L)
{
    eng_tensor *t = l_check_tensor(L, 1);
    if (lua_type(L, 2) == LUA_TSTRING)
        return luaL_error(L, "cannot set field '%s' of an engine.Tensor", lua_tostring(L, 2));
    key_kind(L, 2);
    eng_tensor v = resolve(L, t, 2);
    eng_tensor *src = l_test_tensor(L, 3);
    if (src) {
        copy_into(L, &v, src);
        return 0;
    }
    if (lua_type(L, 3) != LUA_TNUMBER)
        return luaL_error(L,
                          "tensor assignment: value is a %s (a number or an engine.Tensor "
                          "expected)",
                          luaL_typename(L, 3));
    eng_tensor_fill(&v, l_check_element(L, 3, t->dtype, "tensor assignment"));
    return 0;
}

/* t:copy_(src): src broadcast into t, converting the dtype; returns t. */
static int t_copy_(lua_State *L)
{
    eng_tensor *t = l_check_tensor(L, 1), *src = l_check_tensor(L, 2);
    l_check_nargs(L, 2, "copy_");
    copy_into(L, t, src);
    lua_settop(L, 1);
    return 1;
}

/* ---- label operations; index tensors hold 1-based positions ---- */

static int t_index_select(lua_State *L)
{
    eng_tensor *t = l_check_tensor(L, 1);
    int dim = l_check_dim(L, 2, t, 0);
    eng_tensor *index = l_check_tensor(L, 3);
    l_check_nargs(L, 3, "index_select");
    eng_tensor **slot = l_new_tensor_box(L);
    if (eng_tensor_index_select(t, dim, index, 1, slot))
        return l_engine_error(L);
    return 1;
}

static int t_gather(lua_State *L)
{
    eng_tensor *t = l_check_tensor(L, 1);
    int dim = l_check_dim(L, 2, t, 0);
    eng_tensor *index = l_check_tensor(L, 3);
    l_check_nargs(L, 3, "gather");
    eng_tensor **slot = l_new_tensor_box(L);
    if (eng_tensor_gather(t, dim, index, 1, slot))
        return l_engine_error(L);
    return 1;
}

static int scatter_add(lua_State *L, bool in_place)
{
    eng_tensor *t = l_check_tensor(L, 1);
    int dim = l_check_dim(L, 2, t, 0);
    eng_tensor *index = l_check_tensor(L, 3), *src = l_check_tensor(L, 4);
    l_check_nargs(L, 4, in_place ? "scatter_add_" : "scatter_add");
    eng_tensor *dst = t;
    if (!in_place) {
        eng_tensor **slot = l_new_tensor_box(L);
        if (eng_tensor_clone(t, slot))
            return l_engine_error(L);
        dst = *slot;
    } else {
        lua_settop(L, 1);
    }
    if (eng_tensor_scatter_add(dst, dim, index, src, 1))
        return l_engine_error(L);
    return 1;
}

static int t_scatter_add(lua_State *L)
{
    return scatter_add(L, false);
}

static int t_scatter_add_(lua_State *L)
{
    return scatter_add(L, true);
}

/* engine.one_hot(labels [, classes] [, dtype]): classes defaults to the largest label. */
static int l_one_hot(lua_State *L)
{
    eng_tensor *labels = l_check_tensor(L, 1);
    int dtype_arg = lua_type(L, 2) == LUA_TNUMBER ? 3 : 2;
    lua_Integer classes = 0;
    if (dtype_arg == 3) {
        classes = luaL_checkinteger(L, 2);
    } else {
        int64_t n = eng_tensor_numel(labels);
        if (n == 0)
            return luaL_error(L, "one_hot: no labels to infer the number of classes from "
                                 "(give it)");
        for (int64_t i = 0; i < n; i++) {
            double c = eng_tensor_get_flat(labels, i);
            classes = c > (double)classes && c < 9e15 ? (lua_Integer)c : classes;
        }
    }
    eng_dtype dtype = l_opt_dtype(L, dtype_arg, ENG_I64);
    l_check_nargs(L, dtype_arg, "one_hot");
    eng_tensor **slot = l_new_tensor_box(L);
    if (eng_tensor_one_hot(labels, classes, 1, dtype, slot))
        return l_engine_error(L);
    return 1;
}

static const luaL_Reg index_methods[] = {
    {"copy_", t_copy_},
    {"index_select", t_index_select},
    {"gather", t_gather},
    {"scatter_add", t_scatter_add},
    {"scatter_add_", t_scatter_add_},
    {"one_hot", l_one_hot},
    {NULL, NULL},
};

static const luaL_Reg index_funcs[] = {
    {"one_hot", l_one_hot},
    {NULL, NULL},
};

void l_tensor_index_open(lua_State *L)
{
    luaL_setfuncs(L, index_funcs, 0);
    lua_pushvalue(L, -2);
    luaL_setfuncs(L, index_methods, 0);
    /* metatable.__index: a closure over the methods table, so that methods added to it later
     * (by any part) resolve too. */
    lua_pushcclosure(L, t_index, 1);
    lua_setfield(L, -4, "__index");
    lua_pushcfunction(L, t_newindex);
    lua_setfield(L, -4, "__newindex");
}
