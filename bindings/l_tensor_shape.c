/* Tensor shape operations: transpose, t, permute, contiguous, squeeze, unsqueeze, expand,
 * expand_as, flatten, split, chunk (methods), cat and stack (functions), after PyTorch with
 * dimensions counted from 1 (negative ones from the end). Views share the storage. */
#include "bindings.h"

/* Pushes a box, then the result of op into it; raises the engine's message on failure. */
#define PUSH_RESULT(L, call)                                                                       \
    do {                                                                                           \
        eng_tensor **slot_ = l_new_tensor_box(L);                                                  \
        eng_tensor **out = slot_;                                                                  \
        if (call)                                                                                  \
            return l_engine_error(L);                                                              \
        (void)out;                                                                                 \
    } while (0)

static int t_transpose(lua_State *L)
{
    eng_tensor *t = l_check_tensor(L, 1);
    int d0 = l_check_dim(L, 2, t, 0), d1 = l_check_dim(L, 3, t, 0);
    l_check_nargs(L, 3, "transpose");
    PUSH_RESULT(L, eng_tensor_transpose(t, d0, d1, out));
    return 1;
}

/* t:t(): the transpose of a tensor of at most 2 dimensions. */
static int t_t(lua_State *L)
{
    eng_tensor *t = l_check_tensor(L, 1);
    l_check_nargs(L, 1, "t");
    if (t->ndim > 2)
        return luaL_error(L, "t: %s has %d dimensions (at most 2; use transpose)",
                          eng_tensor_shape_str(t), t->ndim);
    PUSH_RESULT(L, eng_tensor_transpose(t, 0, t->ndim - 1 > 0 ? 1 : 0, out));
    return 1;
}

/* Dimensions as a table at arg, or as integers from arg on; returns their count. */
static int dims_args(lua_State *L, int arg, const eng_tensor *t, int *dims, const char *what)
{
    if (lua_type(L, arg) == LUA_TTABLE) {
        l_check_nargs(L, arg, what);
        int n = (int)luaL_len(L, arg);
        luaL_argcheck(L, n <= ENG_MAX_DIMS, arg, "too many dimensions");
        for (int k = 0; k < n; k++) {
            lua_geti(L, arg, k + 1);
            dims[k] = l_check_dim(L, -1, t, 0);
            lua_pop(L, 1);
        }
        return n;
    }
    int n = lua_gettop(L) - arg + 1;
    luaL_argcheck(L, n <= ENG_MAX_DIMS, arg + ENG_MAX_DIMS, "too many dimensions");
    for (int k = 0; k < n; k++)
        dims[k] = l_check_dim(L, arg + k, t, 0);
    return n;
}

static int t_permute(lua_State *L)
{
    eng_tensor *t = l_check_tensor(L, 1);
    int dims[ENG_MAX_DIMS];
    int n = dims_args(L, 2, t, dims, "permute");
    if (n != t->ndim)
        return luaL_error(L, "permute: %d dimensions given for %s (%d expected)", n,
                          eng_tensor_shape_str(t), t->ndim);
    PUSH_RESULT(L, eng_tensor_permute(t, dims, out));
    return 1;
}

static int t_contiguous(lua_State *L)
{
    eng_tensor *t = l_check_tensor(L, 1);
    l_check_nargs(L, 1, "contiguous");
    if (eng_tensor_is_contiguous(t))
        return 1; /* t itself, as in PyTorch */
    PUSH_RESULT(L, eng_tensor_clone(t, out));
    return 1;
}

static int t_squeeze(lua_State *L)
{
    eng_tensor *t = l_check_tensor(L, 1);
    l_check_nargs(L, 2, "squeeze");
    int dim = lua_isnoneornil(L, 2) ? -1 : l_check_dim(L, 2, t, 0);
    PUSH_RESULT(L, eng_tensor_squeeze(t, dim, out));
    return 1;
}

static int t_unsqueeze(lua_State *L)
{
    eng_tensor *t = l_check_tensor(L, 1);
    int dim = l_check_dim(L, 2, t, 1);
    l_check_nargs(L, 2, "unsqueeze");
    PUSH_RESULT(L, eng_tensor_unsqueeze(t, dim, out));
    return 1;
}

/* t:expand(sizes) or t:expand(s1, s2, ...); -1 keeps a size. */
static int t_expand(lua_State *L)
{
    eng_tensor *t = l_check_tensor(L, 1);
    int64_t shape[ENG_MAX_DIMS];
    int n;
    if (lua_type(L, 2) == LUA_TTABLE) {
        l_check_nargs(L, 2, "expand");
        n = (int)luaL_len(L, 2);
        luaL_argcheck(L, n <= ENG_MAX_DIMS, 2, "too many dimensions");
        for (int k = 0; k < n; k++) {
            lua_geti(L, 2, k + 1);
            int isint = 0;
            shape[k] = lua_tointegerx(L, -1, &isint);
            luaL_argcheck(L, isint, 2, "sizes must be integers");
            lua_pop(L, 1);
        }
    } else {
        n = lua_gettop(L) - 1;
        luaL_argcheck(L, n <= ENG_MAX_DIMS, ENG_MAX_DIMS + 2, "too many dimensions");
        for (int k = 0; k < n; k++)
            shape[k] = luaL_checkinteger(L, k + 2);
    }
    PUSH_RESULT(L, eng_tensor_expand(t, n, shape, out));
    return 1;
}

static int t_expand_as(lua_State *L)
{
    eng_tensor *t = l_check_tensor(L, 1), *other = l_check_tensor(L, 2);
    l_check_nargs(L, 2, "expand_as");
    PUSH_RESULT(L, eng_tensor_expand(t, other->ndim, other->shape, out));
    return 1;
}

/* t:flatten([first [, last]]), dimensions first..last (default all) merged. */
static int t_flatten(lua_State *L)
{
    eng_tensor *t = l_check_tensor(L, 1);
    l_check_nargs(L, 3, "flatten");
    int first = 0, last = t->ndim - 1;
    if (t->ndim > 0) {
        first = lua_isnoneornil(L, 2) ? 0 : l_check_dim(L, 2, t, 0);
        last = lua_isnoneornil(L, 3) ? t->ndim - 1 : l_check_dim(L, 3, t, 0);
    }
    PUSH_RESULT(L, eng_tensor_flatten(t, first, last, out));
    return 1;
}

/* Pushes a list of views of t along dim, of the given lengths (count of them). */
static void push_parts(lua_State *L, const eng_tensor *t, int dim, const int64_t *lengths,
                       int64_t count)
{
    lua_createtable(L, (int)count, 0);
    int64_t at = 0;
    for (int64_t k = 0; k < count; k++) {
        eng_tensor **slot = l_new_tensor_box(L);
        if (eng_tensor_narrow(t, dim, at, lengths[k], slot))
            l_engine_error(L);
        lua_rawseti(L, -2, k + 1);
        at += lengths[k];
    }
}

/* t:split(size [, dim]) in pieces of size (the last may be shorter), or t:split({s1, s2, ...}
 * [, dim]) in pieces of those sizes, which must add up to the dimension's size. */
static int t_split(lua_State *L)
{
    eng_tensor *t = l_check_tensor(L, 1);
    l_check_nargs(L, 3, "split");
    int dim = lua_isnoneornil(L, 3) ? 0 : l_check_dim(L, 3, t, 0);
    if (t->ndim == 0)
        return luaL_error(L, "split: a 0-dimensional tensor cannot be split");
    int64_t size = t->shape[dim];
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_Integer n = luaL_len(L, 2), sum = 0;
        int64_t *lengths = lua_newuserdatauv(L, sizeof(int64_t) * (size_t)(n > 0 ? n : 1), 0);
        for (lua_Integer k = 0; k < n; k++) {
            lua_geti(L, 2, k + 1);
            int isint = 0;
            lengths[k] = lua_tointegerx(L, -1, &isint);
            lua_pop(L, 1);
            if (!isint || lengths[k] < 0 || lengths[k] > size - sum)
                return luaL_error(L,
                                  "split: size %I in the list is not a non-negative integer "
                                  "that fits in %I, the size of dimension %d of %s",
                                  (lua_Integer)k + 1, (lua_Integer)size, dim + 1,
                                  eng_tensor_shape_str(t));
            sum += lengths[k];
        }
        if (sum != size)
            return luaL_error(L,
                              "split: sizes add up to %I, not %I, the size of dimension %d of "
                              "%s",
                              sum, (lua_Integer)size, dim + 1, eng_tensor_shape_str(t));
        push_parts(L, t, dim, lengths, n);
        return 1;
    }
    lua_Integer piece = luaL_checkinteger(L, 2);
    if (piece < 1)
        return luaL_error(L, "split: piece size %I must be positive", piece);
    int64_t count = size == 0 ? 1 : size / piece + (size % piece != 0); /* no overflow */
    int64_t *lengths = lua_newuserdatauv(L, sizeof(int64_t) * (size_t)count, 0);
    for (int64_t k = 0; k < count; k++)
        lengths[k] = size - k * piece < piece ? size - k * piece : piece;
    push_parts(L, t, dim, lengths, count);
    return 1;
}

/* t:chunk(n [, dim]): at most n pieces of ceil(size / n), as torch.chunk. */
static int t_chunk(lua_State *L)
{
    eng_tensor *t = l_check_tensor(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    l_check_nargs(L, 3, "chunk");
    int dim = lua_isnoneornil(L, 3) ? 0 : l_check_dim(L, 3, t, 0);
    if (n < 1)
        return luaL_error(L, "chunk: number of chunks %I must be positive", n);
    if (t->ndim == 0)
        return luaL_error(L, "chunk: a 0-dimensional tensor cannot be split");
    int64_t size = t->shape[dim], piece = size / n + (size % n != 0);
    lua_settop(L, 1);
    lua_pushinteger(L, piece > 0 ? piece : 1);
    lua_pushinteger(L, dim + 1);
    return t_split(L);
}

/* The tensors of the list at arg 1, checked; count in *n. The array lives in a userdata
 * pushed on the stack. */
static const eng_tensor **list_args(lua_State *L, int *n, const char *what)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer count = luaL_len(L, 1);
    if (count < 1 || count > 1 << 20)
        luaL_error(L, "%s: a list of 1 to 2^20 tensors expected (got %I)", what, count);
    const eng_tensor **ts = lua_newuserdatauv(L, sizeof *ts * (size_t)count, 0);
    for (lua_Integer k = 0; k < count; k++) {
        lua_geti(L, 1, k + 1);
        ts[k] = l_test_tensor(L, -1);
        if (!ts[k])
            luaL_error(L, "%s: element %I of the list is a %s, expected an engine.Tensor", what,
                       k + 1, luaL_typename(L, -1));
        lua_pop(L, 1); /* the list keeps it alive */
    }
    *n = (int)count;
    return ts;
}

/* engine.cat(list [, dim]) and engine.stack(list [, dim]). */
static int join(lua_State *L, bool stack)
{
    const char *what = stack ? "stack" : "cat";
    l_check_nargs(L, 2, what);
    int n;
    lua_Integer d = luaL_optinteger(L, 2, 1);
    const eng_tensor **ts = list_args(L, &n, what);
    int ndim = ts[0]->ndim + (stack ? 1 : 0);
    if (d < 0 && d >= -ndim)
        d += ndim + 1;
    if (d < 1 || d > ndim)
        return luaL_error(L, "%s: dimension %I out of range for %s (1..%d)", what,
                          luaL_optinteger(L, 2, 1), eng_tensor_shape_str(ts[0]), ndim);
    PUSH_RESULT(L, (stack ? eng_tensor_stack : eng_tensor_cat)(n, ts, (int)d - 1, out));
    return 1;
}

static int l_cat(lua_State *L)
{
    return join(L, false);
}

static int l_stack(lua_State *L)
{
    return join(L, true);
}

static const luaL_Reg shape_methods[] = {
    {"transpose", t_transpose}, {"t", t_t},
    {"permute", t_permute},     {"contiguous", t_contiguous},
    {"squeeze", t_squeeze},     {"unsqueeze", t_unsqueeze},
    {"expand", t_expand},       {"expand_as", t_expand_as},
    {"flatten", t_flatten},     {"split", t_split},
    {"chunk", t_chunk},         {NULL, NULL},
};

static const luaL_Reg shape_funcs[] = {
    {"cat", l_cat},
    {"stack", l_stack},
    {NULL, NULL},
};

void l_tensor_shape_open(lua_State *L)
{
    luaL_setfuncs(L, shape_funcs, 0);
    lua_pushvalue(L, -2);
    luaL_setfuncs(L, shape_methods, 0);
    lua_pop(L, 1);
}
