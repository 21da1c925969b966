/* engine.Tensor: constructors, shape queries, 1-based element access, views, arithmetic,
 * reductions and a PyTorch-style tostring.
 *
 * A box holds one eng_tensor header; views (narrow, select, reshape, parameters) are headers
 * of their own that share the refcounted storage, so any box may be collected first. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bindings.h"

typedef struct tensorbox {
    eng_tensor *t; /* NULL once released */
} tensorbox;

static void tensorbox_free(void *box)
{
    eng_tensor_release(((tensorbox *)box)->t);
}

static const l_boxclass tensor_class = {ENG_LUA_TENSOR, "tensor is closed", sizeof(tensorbox),
                                        tensorbox_free};

/* ---- boxes ---- */

/* Lua sees a tensor box as a few bytes, not the storage behind it, and would let thousands of
 * dead batches pile up between collections (each new one faulting in fresh pages). Every new
 * box first reports the storage allocated since the last one as a garbage-collector step of
 * that size. */
static void pace_collector(lua_State *L)
{
    static uint64_t accounted;
    uint64_t now = eng_tensor_bytes_allocated();
    if (now - accounted >= 1 << 20) {
        lua_gc(L, LUA_GCSTEP, (int)((now - accounted) >> 10));
        accounted = now;
    }
}

eng_tensor **l_new_tensor_box(lua_State *L)
{
    pace_collector(L);
    tensorbox *box = l_box_push(L, &tensor_class, 0);
    return &box->t;
}

eng_tensor *l_reuse_tensor(lua_State *L, int arg, eng_dtype dtype, int ndim, const int64_t *shape,
                           const eng_tensor *avoid)
{
    eng_tensor *t = l_test_tensor(L, arg);
    if (t && t->dtype == dtype && t->ndim == ndim && eng_tensor_is_contiguous(t) &&
        memcmp(t->shape, shape, sizeof(int64_t) * (size_t)ndim) == 0 &&
        (!avoid || avoid->storage != t->storage)) {
        lua_pushvalue(L, arg);
        return t;
    }
    eng_tensor **slot = l_new_tensor_box(L);
    if (eng_tensor_new(dtype, ndim, shape, slot))
        l_engine_error(L);
    return *slot;
}

void l_push_tensor(lua_State *L, eng_tensor *t)
{
    /* Only if Lua itself runs out of memory creating the box is t lost: prefer
     * l_new_tensor_box before creating the tensor. */
    *l_new_tensor_box(L) = t;
}

void l_push_tensor_view(lua_State *L, const eng_tensor *t)
{
    eng_tensor **slot = l_new_tensor_box(L);
    if (eng_tensor_view(t, slot))
        l_engine_error(L);
}

void l_push_tensor_copy(lua_State *L, const eng_tensor *t)
{
    eng_tensor **slot = l_new_tensor_box(L);
    if (eng_tensor_clone(t, slot))
        l_engine_error(L);
}

eng_tensor *l_test_tensor(lua_State *L, int arg)
{
    tensorbox *box = l_box_test(L, arg, &tensor_class);
    return box ? box->t : NULL;
}

eng_tensor *l_check_tensor(lua_State *L, int arg)
{
    return ((tensorbox *)l_box_check(L, arg, &tensor_class))->t;
}

/* ---- argument helpers ---- */

eng_dtype l_opt_dtype(lua_State *L, int arg, eng_dtype def)
{
    if (lua_isnoneornil(L, arg))
        return def;
    eng_dtype dtype;
    if (eng_dtype_parse(luaL_checkstring(L, arg), &dtype))
        luaL_argerror(L, arg, eng_errmsg());
    return dtype;
}

int l_check_shape(lua_State *L, int arg, int64_t *shape)
{
    if (lua_isinteger(L, arg)) {
        shape[0] = lua_tointeger(L, arg);
        return 1;
    }
    luaL_argexpected(L, lua_type(L, arg) == LUA_TTABLE, arg, "shape table");
    lua_Integer n = luaL_len(L, arg);
    luaL_argcheck(L, n <= ENG_MAX_DIMS, arg, "too many dimensions");
    for (lua_Integer d = 1; d <= n; d++) {
        lua_geti(L, arg, d);
        int isint = 0;
        lua_Integer size = lua_tointegerx(L, -1, &isint);
        if (!isint || size < 0)
            luaL_argerror(L, arg,
                          lua_pushfstring(L, "size %d is not a non-negative integer", (int)d));
        shape[d - 1] = size;
        lua_pop(L, 1);
    }
    return (int)n;
}

void l_push_shape(lua_State *L, int ndim, const int64_t *shape)
{
    lua_createtable(L, ndim, 0);
    for (int d = 0; d < ndim; d++) {
        lua_pushinteger(L, shape[d]);
        lua_rawseti(L, -2, d + 1);
    }
}

/* v as stored into a tensor of this dtype: integer dtypes need a value in range (a C
 * conversion out of range is undefined behaviour). what names the caller in the message. */
static double check_range(lua_State *L, double v, eng_dtype dtype, const char *what)
{
    double lo = 0, hi = 0;
    switch (dtype) {
    case ENG_F32:
    case ENG_F64: return v;
    case ENG_U8: lo = 0, hi = 255; break;
    case ENG_I32: lo = -2147483648.0, hi = 2147483647.0; break;
    case ENG_I64: lo = -9223372036854775808.0, hi = 9223372036854774784.0; break;
    }
    if (!(v >= lo && v <= hi)) {
        char buf[128];
        snprintf(buf, sizeof buf, "%s: value %.17g out of range for %s [%.17g, %.17g]", what, v,
                 eng_dtype_name(dtype), lo, hi);
        luaL_error(L, "%s", buf);
    }
    return v;
}

static double check_value(lua_State *L, int arg, eng_dtype dtype, const char *what)
{
    return check_range(L, luaL_checknumber(L, arg), dtype, what);
}

double l_check_element(lua_State *L, int arg, eng_dtype dtype, const char *what)
{
    return check_value(L, arg, dtype, what);
}

/* A 1-based position at arg into a 0-based index of dimension dim. */
static int64_t check_index(lua_State *L, int arg, const eng_tensor *t, int dim)
{
    lua_Integer i = luaL_checkinteger(L, arg);
    if (i < 1 || i > t->shape[dim])
        luaL_error(L, "index %I out of range for dimension %d of %s (1..%I)", i, dim + 1,
                   eng_tensor_shape_str(t), (lua_Integer)t->shape[dim]);
    return i - 1;
}

int l_check_dim(lua_State *L, int arg, const eng_tensor *t, int extra)
{
    lua_Integer d = luaL_checkinteger(L, arg), n = t->ndim + extra;
    if (d < 0 && d >= -n)
        d += n + 1;
    if (d < 1 || d > n)
        luaL_error(L, "dimension %I out of range for %s (1..%d)", luaL_checkinteger(L, arg),
                   eng_tensor_shape_str(t), (int)n);
    return (int)d - 1;
}

static int check_dim(lua_State *L, int arg, const eng_tensor *t)
{
    return l_check_dim(L, arg, t, 0);
}

void l_check_nargs(lua_State *L, int n, const char *what)
{
    if (lua_gettop(L) > n)
        luaL_error(L, "%s: %d arguments given, at most %d expected (argument #%d is a %s)", what,
                   lua_gettop(L), n, n + 1, luaL_typename(L, n + 1));
}

static void push_element(lua_State *L, const eng_tensor *t, double v)
{
    if (eng_dtype_is_float(t->dtype))
        lua_pushnumber(L, v);
    else
        lua_pushinteger(L, (lua_Integer)v);
}

/* ---- constructors ---- */

/* Walks the first elements of a nested table to find the shape. */
static int nested_shape(lua_State *L, int arg, int64_t *shape)
{
    int ndim = 0;
    lua_pushvalue(L, arg);
    while (lua_type(L, -1) == LUA_TTABLE) {
        if (ndim == ENG_MAX_DIMS)
            luaL_error(L, "tensor: nested table deeper than %d levels", ENG_MAX_DIMS);
        shape[ndim] = (int64_t)luaL_len(L, -1);
        if (shape[ndim++] == 0)
            break;
        lua_geti(L, -1, 1);
        lua_remove(L, -2);
    }
    lua_pop(L, 1);
    return ndim;
}

/* Pushes "[i,j,...]", the 1-based position of the first depth entries of idx. */
static const char *push_position(lua_State *L, const int64_t *idx, int depth)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addchar(&b, '[');
    for (int d = 0; d < depth; d++) {
        lua_pushfstring(L, d ? ",%I" : "%I", (lua_Integer)idx[d] + 1);
        luaL_addvalue(&b);
    }
    luaL_addchar(&b, ']');
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

/* Copies the nested table on the stack top (at depth d) into t, checking it is rectangular. */
static void fill_nested(lua_State *L, eng_tensor *t, int d, int64_t *idx, int64_t *flat)
{
    if (d == t->ndim) {
        if (lua_type(L, -1) != LUA_TNUMBER)
            luaL_error(L, "tensor: element %s is a %s, expected a number", push_position(L, idx, d),
                       luaL_typename(L, -1));
        eng_tensor_set_flat(t, (*flat)++, check_range(L, lua_tonumber(L, -1), t->dtype, "tensor"));
        return;
    }
    if (lua_type(L, -1) != LUA_TTABLE)
        luaL_error(L, "tensor: ragged nested table: element %s is a %s, expected a table of %I",
                   push_position(L, idx, d), luaL_typename(L, -1), (lua_Integer)t->shape[d]);
    lua_Integer n = luaL_len(L, -1);
    if (n != t->shape[d])
        luaL_error(L, "tensor: ragged nested table: %s has %I elements, expected %I",
                   d ? push_position(L, idx, d) : "the table", n, (lua_Integer)t->shape[d]);
    luaL_checkstack(L, 2, "nested table");
    for (int64_t i = 0; i < n; i++) {
        idx[d] = i;
        lua_geti(L, -1, i + 1);
        fill_nested(L, t, d + 1, idx, flat);
        lua_pop(L, 1);
    }
}

/* engine.tensor(nested [, dtype]) */
static int l_tensor(lua_State *L)
{
    l_check_nargs(L, 2, "tensor");
    eng_dtype dtype = l_opt_dtype(L, 2, ENG_F32);
    int64_t shape[ENG_MAX_DIMS], idx[ENG_MAX_DIMS], flat = 0;
    if (lua_type(L, 1) != LUA_TTABLE && lua_type(L, 1) != LUA_TNUMBER)
        luaL_typeerror(L, 1, "table or number");
    int ndim = nested_shape(L, 1, shape);
    eng_tensor **slot = l_new_tensor_box(L);
    if (eng_tensor_new(dtype, ndim, shape, slot))
        return l_engine_error(L);
    lua_pushvalue(L, 1);
    fill_nested(L, *slot, 0, idx, &flat);
    lua_pop(L, 1);
    return 1;
}

/* ---- queries ---- */

static int t_shape(lua_State *L)
{
    eng_tensor *t = l_check_tensor(L, 1);
    l_check_nargs(L, 1, "shape");
    l_push_shape(L, t->ndim, t->shape);
    return 1;
}

static int t_size(lua_State *L)
{
    eng_tensor *t = l_check_tensor(L, 1);
    l_check_nargs(L, 2, "size");
    if (lua_isnoneornil(L, 2)) {
        l_push_shape(L, t->ndim, t->shape);
        return 1;
    }
    lua_pushinteger(L, t->shape[check_dim(L, 2, t)]);
    return 1;
}

static int t_dim(lua_State *L)
{
    l_check_nargs(L, 1, "dim");
    lua_pushinteger(L, l_check_tensor(L, 1)->ndim);
    return 1;
}

static int t_numel(lua_State *L)
{
    l_check_nargs(L, 1, "numel");
    lua_pushinteger(L, eng_tensor_numel(l_check_tensor(L, 1)));
    return 1;
}

static int t_len(lua_State *L)
{
    eng_tensor *t = l_check_tensor(L, 1);
    if (t->ndim == 0)
        return luaL_error(L, "length of a 0-dimensional tensor");
    lua_pushinteger(L, t->shape[0]);
    return 1;
}

static int t_dtype(lua_State *L)
{
    l_check_nargs(L, 1, "dtype");
    lua_pushstring(L, eng_dtype_name(l_check_tensor(L, 1)->dtype));
    return 1;
}

static int t_is_contiguous(lua_State *L)
{
    l_check_nargs(L, 1, "is_contiguous");
    lua_pushboolean(L, eng_tensor_is_contiguous(l_check_tensor(L, 1)));
    return 1;
}

/* ---- copies and in-place fills ---- */

static int t_to(lua_State *L)
{
    eng_tensor *t = l_check_tensor(L, 1);
    l_check_nargs(L, 2, "to");
    eng_dtype dtype = l_opt_dtype(L, 2, t->dtype);
    luaL_argcheck(L, !lua_isnoneornil(L, 2), 2, "dtype expected");
    eng_tensor **slot = l_new_tensor_box(L);
    if (eng_tensor_to(t, dtype, slot))
        return l_engine_error(L);
    return 1;
}

static int t_clone(lua_State *L)
{
    l_check_nargs(L, 1, "clone");
    l_push_tensor_copy(L, l_check_tensor(L, 1));
    return 1;
}

static int t_fill(lua_State *L)
{
    eng_tensor *t = l_check_tensor(L, 1);
    l_check_nargs(L, 2, "fill");
    eng_tensor_fill(t, check_value(L, 2, t->dtype, "fill"));
    lua_settop(L, 1);
    return 1;
}

static int t_zero(lua_State *L)
{
    l_check_nargs(L, 1, "zero");
    eng_tensor_zero(l_check_tensor(L, 1));
    return 1;
}

/* ---- element access: t:get(i, j, ...), t:set(i, j, ..., v) ---- */

static void check_indices(lua_State *L, const eng_tensor *t, int first, int count, int64_t *idx)
{
    if (count != t->ndim)
        luaL_error(L, "%d indices for a tensor of %d dimensions %s", count, t->ndim,
                   eng_tensor_shape_str(t));
    for (int d = 0; d < count; d++)
        idx[d] = check_index(L, first + d, t, d);
}

static int t_get(lua_State *L)
{
    eng_tensor *t = l_check_tensor(L, 1);
    int64_t idx[ENG_MAX_DIMS];
    check_indices(L, t, 2, lua_gettop(L) - 1, idx);
    push_element(L, t, eng_tensor_get(t, idx));
    return 1;
}

static int t_set(lua_State *L)
{
    eng_tensor *t = l_check_tensor(L, 1);
    int top = lua_gettop(L);
    int64_t idx[ENG_MAX_DIMS];
    check_indices(L, t, 2, top - 2, idx);
    eng_tensor_set(t, idx, check_value(L, top, t->dtype, "set"));
    lua_settop(L, 1);
    return 1;
}

/* ---- views ---- */

/* t:view({2,3}) or t:view(2, 3) (one size may be -1): a view, or an error when t's strides
 * admit none; t:reshape(...) copies then. */
static int reshape(lua_State *L, bool copy_if_needed)
{
    eng_tensor *t = l_check_tensor(L, 1);
    int64_t shape[ENG_MAX_DIMS];
    int ndim;
    if (lua_type(L, 2) == LUA_TTABLE) {
        l_check_nargs(L, 2, copy_if_needed ? "reshape" : "view");
        lua_Integer n = luaL_len(L, 2);
        luaL_argcheck(L, n <= ENG_MAX_DIMS, 2, "too many dimensions");
        for (int d = 0; d < (int)n; d++) {
            lua_geti(L, 2, d + 1);
            int isint = 0;
            shape[d] = lua_tointegerx(L, -1, &isint);
            luaL_argcheck(L, isint, 2, "sizes must be integers");
            lua_pop(L, 1);
        }
        ndim = (int)n;
    } else {
        ndim = lua_gettop(L) - 1;
        luaL_argcheck(L, ndim <= ENG_MAX_DIMS, ENG_MAX_DIMS + 2, "too many dimensions");
        for (int d = 0; d < ndim; d++)
            shape[d] = luaL_checkinteger(L, d + 2);
    }
    eng_tensor **slot = l_new_tensor_box(L);
    if ((copy_if_needed ? eng_tensor_reshaped : eng_tensor_reshape)(t, ndim, shape, slot))
        return l_engine_error(L);
    return 1;
}

static int t_reshape(lua_State *L)
{
    return reshape(L, true);
}

static int t_view(lua_State *L)
{
    return reshape(L, false);
}

/* t:narrow(dim, start, length), 1-based dim and start. */
static int t_narrow(lua_State *L)
{
    eng_tensor *t = l_check_tensor(L, 1);
    l_check_nargs(L, 4, "narrow");
    int dim = check_dim(L, 2, t);
    lua_Integer start = luaL_checkinteger(L, 3), length = luaL_checkinteger(L, 4);
    if (start < 0 && start >= -t->shape[dim])
        start += t->shape[dim] + 1; /* -1 is the last, as in PyTorch */
    /* start - 1 would overflow for math.mininteger; 0 is out of range anyway. */
    eng_tensor **slot = l_new_tensor_box(L);
    if (eng_tensor_narrow(t, dim, start < 1 ? -1 : start - 1, length, slot))
        return l_engine_error(L);
    return 1;
}

/* t:select(dim, i), 1-based: drops dimension dim. */
static int t_select(lua_State *L)
{
    eng_tensor *t = l_check_tensor(L, 1);
    l_check_nargs(L, 3, "select");
    int dim = check_dim(L, 2, t);
    lua_Integer i = luaL_checkinteger(L, 3);
    if (i < 0 && i >= -t->shape[dim])
        i += t->shape[dim] + 1; /* -1 is the last, as in Torch7 */
    eng_tensor **slot = l_new_tensor_box(L);
    if (eng_tensor_select(t, dim, i < 1 ? -1 : i - 1, slot))
        return l_engine_error(L);
    return 1;
}

/* ---- conversion to Lua ---- */

static void push_table(lua_State *L, const eng_tensor *t, int d, int64_t *idx)
{
    if (d == t->ndim) {
        push_element(L, t, eng_tensor_get(t, idx));
        return;
    }
    luaL_checkstack(L, 3, "totable");
    lua_createtable(L, (int)t->shape[d], 0);
    for (int64_t i = 0; i < t->shape[d]; i++) {
        idx[d] = i;
        push_table(L, t, d + 1, idx);
        lua_rawseti(L, -2, i + 1);
    }
}

static int t_totable(lua_State *L)
{
    eng_tensor *t = l_check_tensor(L, 1);
    l_check_nargs(L, 1, "totable");
    int64_t idx[ENG_MAX_DIMS], tables = 1;
    for (int d = 0; d < t->ndim - 1 && t->shape[d] > 0; d++)
        if (__builtin_mul_overflow(tables, t->shape[d], &tables) || tables > (1 << 28))
            return luaL_error(L, "totable: %s would need more than 2^28 tables",
                              eng_tensor_shape_str(t));
    push_table(L, t, 0, idx);
    return 1;
}

/* ---- registration ---- */

/* clang-format off */
static const luaL_Reg tensor_methods[] = {
    {"shape", t_shape},     {"size", t_size},    {"dim", t_dim},
    {"numel", t_numel},     {"dtype", t_dtype},  {"is_contiguous", t_is_contiguous},
    {"to", t_to},           {"clone", t_clone},  {"fill", t_fill},
    {"zero", t_zero},       {"get", t_get},      {"set", t_set},
    {"reshape", t_reshape}, {"view", t_view},       {"narrow", t_narrow},
    {"select", t_select},   {"totable", t_totable}, {"fill_", t_fill},
    {"zero_", t_zero},      {NULL, NULL},
};
/* clang-format on */

static const luaL_Reg tensor_meta[] = {
    {"__tostring", l_tensor_tostring},
    {"__len", t_len},
    {"__index", NULL},
    {NULL, NULL},
};

static const luaL_Reg tensor_funcs[] = {
    {"tensor", l_tensor},
    {NULL, NULL},
};

int luaopen_engine_tensor(lua_State *L)
{
    l_box_class(L, &tensor_class);
    luaL_setfuncs(L, tensor_meta, 0);
    luaL_newlib(L, tensor_methods);
    luaL_newlib(L, tensor_funcs);
    /* Stack: metatable, methods, functions. Each part adds its methods and functions; the
     * indexing part also sets __index (methods by name, x[i] and x[{...}] by number or table)
     * and __newindex, so it comes last. */
    l_open_tensor_math(L, -3, -2, -1);
    l_tensor_create_open(L);
    l_tensor_shape_open(L);
    l_tensor_index_open(L);
    lua_remove(L, -2);
    lua_remove(L, -2);
    return 1;
}
