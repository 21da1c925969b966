/* engine.data: in-memory datasets (engine.Dataset) and their mini-batch iterators.
 *
 * Labels are 0-based class indices in i64 tensors, as PyTorch's datasets give them (so
 * Fashion-MNIST's classes are 0..9). */
#include <string.h>

#include "bindings.h"

#define DEFAULT_MNIST_DIR "/usr/share/datasets/fashion-mnist"

typedef struct databox {
    eng_dataset ds; /* x NULL once released */
} databox;

static eng_dataset *check_dataset(lua_State *L, int arg)
{
    databox *box = luaL_checkudata(L, arg, ENG_LUA_DATASET);
    luaL_argcheck(L, box->ds.x != NULL, arg, "dataset is closed");
    return &box->ds;
}

/* __gc and __close. */
static int data_release(lua_State *L)
{
    databox *box = luaL_checkudata(L, 1, ENG_LUA_DATASET);
    eng_dataset_free(&box->ds);
    return 0;
}

static databox *new_databox(lua_State *L)
{
    databox *box = lua_newuserdatauv(L, sizeof *box, 0);
    memset(box, 0, sizeof *box);
    luaL_setmetatable(L, ENG_LUA_DATASET);
    return box;
}

/* data.fashion_mnist(split [, dir]): split "train" or "test". */
static int data_fashion_mnist(lua_State *L)
{
    const char *split = luaL_checkstring(L, 1);
    const char *dir = luaL_optstring(L, 2, DEFAULT_MNIST_DIR);
    databox *box = new_databox(L);
    if (eng_dataset_load_mnist(&box->ds, dir, split))
        return lua_engerror(L);
    return 1;
}

/* data.dataset(x, y): samples x [N,...] (u8, f32, f64) and labels y [N] (i64). The dataset
 * shares their storage (views), so later writes to x or y show in it. */
static int data_dataset(lua_State *L)
{
    eng_tensor *x = lua_checktensor(L, 1), *y = lua_checktensor(L, 2), *xv = NULL, *yv = NULL;
    databox *box = new_databox(L);
    eng_status st = eng_tensor_view(x, &xv);
    if (!st)
        st = eng_tensor_view(y, &yv);
    if (st) {
        eng_tensor_release(xv);
        return lua_engerror(L);
    }
    /* Takes xv and yv, also on failure. */
    if (eng_dataset_init(&box->ds, xv, yv))
        return lua_engerror(L);
    return 1;
}

static int data_size(lua_State *L)
{
    lua_pushinteger(L, check_dataset(L, 1)->x->shape[0]);
    return 1;
}

/* The shape of one sample, {1,28,28} for Fashion-MNIST. */
static int data_shape(lua_State *L)
{
    eng_tensor *x = check_dataset(L, 1)->x;
    lua_pushshape(L, x->ndim - 1, x->shape + 1);
    return 1;
}

static int data_tostring(lua_State *L)
{
    databox *box = luaL_checkudata(L, 1, ENG_LUA_DATASET);
    if (!box->ds.x) {
        lua_pushliteral(L, "Dataset(closed)");
        return 1;
    }
    const eng_tensor *x = box->ds.x;
    lua_pushfstring(L, "Dataset(%I samples of %s %s)", (lua_Integer)x->shape[0],
                    eng_shape_str(x->ndim - 1, x->shape + 1), eng_dtype_name(x->dtype));
    return 1;
}

/* ---- batches ---- */

typedef struct batch_state {
    int64_t n, batch, pos;
    eng_dtype dtype;
    double scale, mean, std;
    bool drop_last, reuse;
    int64_t order[]; /* [n] sample order */
} batch_state;

/* The reused box in upvalue `index` when it still holds a tensor of this shape, else a new box
 * (with a new tensor) kept there for the next batch. Leaves the box on the stack. */
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
    eng_tensor **box = lua_newtensorbox(L);
    if (eng_tensor_new(dtype, ndim, shape, box))
        return NULL;
    if (reuse) {
        lua_pushvalue(L, -1);
        lua_replace(L, lua_upvalueindex(index));
    }
    return *box;
}

/* The iterator: upvalue 1 the dataset box, upvalue 2 the state, upvalues 3 and 4 the x and y
 * boxes handed out last (with reuse). Returns x, y or nothing. */
static int next_batch(lua_State *L)
{
    eng_dataset *ds = &((databox *)lua_touserdata(L, lua_upvalueindex(1)))->ds;
    if (!ds->x)
        return luaL_error(L, "batches: the dataset was closed during the loop");
    batch_state *s = lua_touserdata(L, lua_upvalueindex(2));
    int64_t count = s->n - s->pos < s->batch ? s->n - s->pos : s->batch;
    if (count == 0 || (s->drop_last && count < s->batch))
        return 0;
    int64_t xshape[ENG_MAX_DIMS];
    memcpy(xshape, ds->x->shape, sizeof xshape);
    xshape[0] = count;
    eng_tensor *x = batch_tensor(L, 3, s->reuse, s->dtype, ds->x->ndim, xshape);
    eng_tensor *y = x ? batch_tensor(L, 4, s->reuse, ENG_I64, 1, &count) : NULL;
    if (!x || !y ||
        eng_dataset_gather(ds, s->order + s->pos, count, s->scale, s->mean, s->std, x, y))
        return lua_engerror(L);
    s->pos += count;
    return 2;
}

/* ds:batches(size, {shuffle=false, dtype="f32", scale=, mean=0, std=1, drop_last=false,
 * reuse=false}) -> iterator of x [B,...] = (sample * scale - mean) / std and y [B] i64. scale
 * defaults to 1/255 for u8 samples (pixels to [0,1]) and 1 otherwise. With shuffle the order
 * is a permutation drawn from the global generator (engine.seed) when the loop starts. With
 * reuse every batch of the same size comes in the same two tensors, overwritten by the next
 * iteration: a training loop then allocates nothing per step. */
static int data_batches(lua_State *L)
{
    static const char *const names[] = {"shuffle",   "dtype", "scale", "mean", "std",
                                        "drop_last", "reuse", NULL};
    eng_dataset *ds = check_dataset(L, 1);
    lua_Integer batch = luaL_checkinteger(L, 2);
    luaL_argcheck(L, batch >= 1, 2, "batch size must be >= 1");
    lua_checkoptions(L, 3, "batches", names);
    eng_dtype dtype;
    if (eng_dtype_parse(lua_optstringfield(L, 3, "batches", "dtype", "f32"), &dtype))
        return luaL_error(L, "batches: %s", eng_errmsg());
    if (!eng_dtype_is_float(dtype))
        return luaL_error(L, "batches: dtype %s (f32 or f64 expected)", eng_dtype_name(dtype));
    double scale =
        lua_optnumberfield(L, 3, "batches", "scale", ds->x->dtype == ENG_U8 ? 1.0 / 255.0 : 1.0);
    double mean = lua_optnumberfield(L, 3, "batches", "mean", 0.0);
    double std = lua_optnumberfield(L, 3, "batches", "std", 1.0);
    bool drop_last = lua_optbooleanfield(L, 3, "batches", "drop_last", false);
    bool shuffle = lua_optbooleanfield(L, 3, "batches", "shuffle", false);
    bool reuse = lua_optbooleanfield(L, 3, "batches", "reuse", false);
    if (!(std > 0))
        return luaL_error(L, "batches: std = %f, expected std > 0", (lua_Number)std);
    int64_t n = ds->x->shape[0];
    lua_settop(L, 1);
    batch_state *s = lua_newuserdatauv(L, sizeof *s + (size_t)n * sizeof s->order[0], 0);
    *s = (batch_state){.n = n,
                       .batch = batch,
                       .dtype = dtype,
                       .scale = scale,
                       .mean = mean,
                       .std = std,
                       .drop_last = drop_last,
                       .reuse = reuse};
    if (shuffle) {
        eng_permutation(s->order, n, NULL);
    } else {
        for (int64_t i = 0; i < n; i++)
            s->order[i] = i;
    }
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushcclosure(L, next_batch, 4);
    return 1;
}

static const luaL_Reg data_methods[] = {
    {"size", data_size},
    {"shape", data_shape},
    {"batches", data_batches},
    {NULL, NULL},
};

static const luaL_Reg data_meta[] = {
    {"__gc", data_release}, {"__close", data_release}, {"__tostring", data_tostring},
    {"__len", data_size},   {"__index", NULL},         {NULL, NULL},
};

static const luaL_Reg data_funcs[] = {
    {"fashion_mnist", data_fashion_mnist},
    {"dataset", data_dataset},
    {NULL, NULL},
};

int luaopen_engine_data(lua_State *L)
{
    luaL_newmetatable(L, ENG_LUA_DATASET);
    luaL_setfuncs(L, data_meta, 0);
    luaL_newlib(L, data_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, data_funcs);
    lua_open_h5data(L);
    return 1;
}
