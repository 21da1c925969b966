/* ds:batches(size, {...}) for both engine.Dataset and engine.StreamDataset: one option list,
 * checked by the library (eng_batch_options_check), and one Lua iterator over the C one
 * (engine/io/batches.h).
 *
 *   ds:batches(size, {shuffle=false, dtype="f32", scale=, mean=0, std=1, drop_last=false,
 *                     reuse=false}) -> iterator of x [B,...] = (sample * scale - mean) / std
 *                                      and y [B] i64
 * scale defaults to 1/255 for u8 samples (pixels to [0,1]) and 1 otherwise. With shuffle the
 * order is drawn from the global generator (engine.seed) when the loop starts. With reuse every
 * batch of the same size comes in the same two tensors, overwritten by the next iteration: a
 * training loop then allocates nothing per step. */
#include <string.h>

#include "bindings.h"

#define ENG_LUA_BATCHES "engine.Batches"

typedef struct batchesbox {
    eng_batches *it; /* NULL once released */
} batchesbox;

static void batchesbox_free(void *box)
{
    eng_batches_free(((batchesbox *)box)->it);
}

static const l_boxclass batches_class = {ENG_LUA_BATCHES, "iterator is closed", sizeof(batchesbox),
                                         batchesbox_free};

eng_batch_options l_check_batch_options(lua_State *L, int size_arg, eng_dtype sample_dtype,
                                        bool *reuse)
{
    static const char *const names[] = {"shuffle", "dtype",     "scale", "mean",
                                        "std",     "drop_last", "reuse", NULL};
    int opts = size_arg + 1;
    lua_Integer batch = luaL_checkinteger(L, size_arg);
    luaL_argcheck(L, batch >= 1, size_arg, "batch size must be >= 1");
    l_check_options(L, opts, "batches", names);
    eng_batch_options o = eng_batch_options_default(batch, sample_dtype);
    if (eng_dtype_parse(l_opt_string_field(L, opts, "batches", "dtype", "f32"), &o.dtype))
        luaL_error(L, "batches: %s", eng_errmsg());
    o.scale = l_opt_number_field(L, opts, "batches", "scale", o.scale);
    o.mean = l_opt_number_field(L, opts, "batches", "mean", o.mean);
    o.std = l_opt_number_field(L, opts, "batches", "std", o.std);
    o.drop_last = l_opt_boolean_field(L, opts, "batches", "drop_last", false);
    o.shuffle = l_opt_boolean_field(L, opts, "batches", "shuffle", false);
    *reuse = l_opt_boolean_field(L, opts, "batches", "reuse", false);
    if (eng_batch_options_check(&o))
        luaL_error(L, "%s", eng_errmsg());
    return o;
}

eng_batches **l_new_batches_box(lua_State *L)
{
    batchesbox *box = l_box_push(L, &batches_class, 0);
    return &box->it;
}

/* The reused box in upvalue `index` when it still holds a tensor of this shape, else a new box
 * (with a new tensor), kept there for the next batch when reusing. Leaves the box on the stack. */
static eng_tensor *batch_tensor(lua_State *L, int index, bool reuse, eng_dtype dtype, int ndim,
                                const int64_t *shape)
{
    if (reuse && lua_touserdata(L, lua_upvalueindex(index))) {
        eng_tensor **box = lua_touserdata(L, lua_upvalueindex(index));
        if (*box && (*box)->dtype == dtype && (*box)->ndim == ndim &&
            memcmp((*box)->shape, shape, sizeof(int64_t) * (size_t)ndim) == 0) {
            lua_pushvalue(L, lua_upvalueindex(index));
            return *box;
        }
    }
    eng_tensor **box = l_new_tensor_box(L);
    if (eng_tensor_new(dtype, ndim, shape, box))
        return NULL;
    if (reuse) {
        lua_pushvalue(L, -1);
        lua_replace(L, lua_upvalueindex(index));
    }
    return *box;
}

/* Upvalues: 1 the dataset (kept alive), 2 the iterator box, 3 reuse (boolean), 4 and 5 the x
 * and y boxes handed out last (with reuse). Returns x, y or nothing. */
static int next_batch(lua_State *L)
{
    batchesbox *box = lua_touserdata(L, lua_upvalueindex(2));
    bool reuse = lua_toboolean(L, lua_upvalueindex(3));
    if (!box->it)
        return 0;
    int64_t n = eng_batches_next_size(box->it);
    if (n == 0)
        return 0;
    int64_t shape[ENG_MAX_DIMS];
    int ndim = eng_batches_x_shape(box->it, n, shape);
    eng_batch_options o = eng_batches_options(box->it);
    eng_tensor *x = batch_tensor(L, 4, reuse, o.dtype, ndim, shape);
    eng_tensor *y = x ? batch_tensor(L, 5, reuse, ENG_I64, 1, &n) : NULL;
    if (!x || !y || eng_batches_next(box->it, x, y))
        return l_engine_error(L);
    return 2;
}

int l_push_batch_iterator(lua_State *L, int dataset, int iterbox, bool reuse)
{
    dataset = lua_absindex(L, dataset);
    iterbox = lua_absindex(L, iterbox);
    lua_pushvalue(L, dataset);
    lua_pushvalue(L, iterbox);
    lua_pushboolean(L, reuse);
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushcclosure(L, next_batch, 5);
    return 1;
}
