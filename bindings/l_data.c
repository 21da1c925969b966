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

static void databox_free(void *box)
{
    eng_dataset_free(&((databox *)box)->ds);
}

/* the box's first member is ds.x */
static const l_boxclass data_class = {ENG_LUA_DATASET, "dataset is closed", sizeof(databox),
                                      databox_free};

static eng_dataset *check_dataset(lua_State *L, int arg)
{
    return &((databox *)l_box_check(L, arg, &data_class))->ds;
}

static databox *new_databox(lua_State *L)
{
    return l_box_push(L, &data_class, 0);
}

/* data.fashion_mnist(split [, dir]): split "train" or "test". */
static int data_fashion_mnist(lua_State *L)
{
    const char *split = luaL_checkstring(L, 1);
    const char *dir = luaL_optstring(L, 2, DEFAULT_MNIST_DIR);
    databox *box = new_databox(L);
    if (eng_dataset_load_mnist(&box->ds, dir, split))
        return l_engine_error(L);
    return 1;
}

/* data.dataset(x, y): samples x [N,...] (u8, f32, f64) and labels y [N] (i64). The dataset
 * shares their storage (views), so later writes to x or y show in it. */
static int data_dataset(lua_State *L)
{
    eng_tensor *x = l_check_tensor(L, 1), *y = l_check_tensor(L, 2), *xv = NULL, *yv = NULL;
    databox *box = new_databox(L);
    eng_status st = eng_tensor_view(x, &xv);
    if (!st)
        st = eng_tensor_view(y, &yv);
    if (st) {
        eng_tensor_release(xv);
        return l_engine_error(L);
    }
    /* Takes xv and yv, also on failure. */
    if (eng_dataset_init(&box->ds, xv, yv))
        return l_engine_error(L);
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
    l_push_shape(L, x->ndim - 1, x->shape + 1);
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

/* ds:batches(size, {...}): see l_batches.c. */
static int data_batches(lua_State *L)
{
    eng_dataset *ds = check_dataset(L, 1);
    bool reuse;
    eng_batch_options o = l_check_batch_options(L, 2, ds->x->dtype, &reuse);
    eng_batches **it = l_new_batches_box(L);
    if (eng_batches_new_memory(ds, &o, NULL, it))
        return l_engine_error(L);
    return l_push_batch_iterator(L, 1, -1, reuse);
}

static const luaL_Reg data_methods[] = {
    {"size", data_size},
    {"shape", data_shape},
    {"batches", data_batches},
    {NULL, NULL},
};

static const luaL_Reg data_meta[] = {
    {"__tostring", data_tostring},
    {"__len", data_size},
    {"__index", NULL},
    {NULL, NULL},
};

static const luaL_Reg data_funcs[] = {
    {"fashion_mnist", data_fashion_mnist},
    {"dataset", data_dataset},
    {NULL, NULL},
};

int luaopen_engine_data(lua_State *L)
{
    l_box_class(L, &data_class);
    luaL_setfuncs(L, data_meta, 0);
    luaL_newlib(L, data_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, data_funcs);
    l_open_h5data(L);
    return 1;
}
