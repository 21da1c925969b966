/* engine.data.open, engine.data.write, engine.data.read_idx: HDF5 datasets
 * (engine/io/h5dataset.h) and the IDX reader, added to the engine.data table.
 *
 *   local train = data.open("fashion-mnist.h5", "train" [, {memory_limit=, mode=}])
 *   local mine = data.open("mine.h5", {x = "/images", y = "/labels"})
 *   for x, y in train:batches(64, {shuffle = true, mean = 0.286, std = 0.353}) do ... end
 *
 * A split that fits memory_limit (default 1 GiB) is read whole and returned as an in-memory
 * engine.Dataset; a larger one (or mode = "stream") is an engine.StreamDataset whose batches
 * stream chunk by chunk through a shuffle buffer of at most memory_limit bytes. Both have the
 * same methods and batch options. */
#include <stdlib.h>
#include <string.h>

#include "bindings.h"

#define ENG_LUA_STREAM_DATASET "engine.StreamDataset"
#define DEFAULT_MEMORY_LIMIT ((lua_Integer)1 << 30)

typedef struct streambox {
    eng_h5data *d; /* NULL once released */
    size_t memory_limit;
} streambox;

static void streambox_free(void *box)
{
    eng_h5data_close(((streambox *)box)->d);
}

static const l_boxclass stream_class = {ENG_LUA_STREAM_DATASET, "dataset is closed",
                                        sizeof(streambox), streambox_free};

static streambox *check_stream(lua_State *L, int arg)
{
    return l_box_check(L, arg, &stream_class);
}

/* ---- data.open ---- */

/* Pushes an in-memory engine.Dataset of the whole split, through data.dataset (upvalue 1). */
static int push_loaded(lua_State *L, eng_h5data *d)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    eng_tensor **x = l_new_tensor_box(L), **y = l_new_tensor_box(L);
    eng_dataset ds = {0};
    if (eng_h5data_load(d, &ds))
        return l_engine_error(L);
    *x = ds.x;
    *y = ds.y;
    lua_call(L, 2, 1);
    return 1;
}

/* data.open(path [, split] [, {x=, y=, memory_limit=, mode=}]); upvalue 1: data.dataset. */
static int l_open(lua_State *L)
{
    static const char *const names[] = {"x", "y", "memory_limit", "mode", NULL};
    const char *path = luaL_checkstring(L, 1);
    int opts = lua_istable(L, 2) ? 2 : 3;
    const char *split = opts == 3 ? luaL_optstring(L, 2, NULL) : NULL;
    l_check_options(L, opts, "open", names);
    const char *x_name = l_opt_string_field(L, opts, "open", "x", NULL);
    const char *y_name = l_opt_string_field(L, opts, "open", "y", NULL);
    lua_Integer limit = l_opt_integer_field(L, opts, "open", "memory_limit", DEFAULT_MEMORY_LIMIT);
    const char *mode = l_opt_string_field(L, opts, "open", "mode", "auto");
    if (limit < 1)
        return luaL_error(L, "open: memory_limit %I bytes, expected > 0", limit);
    if (strcmp(mode, "auto") && strcmp(mode, "memory") && strcmp(mode, "stream"))
        return luaL_error(L, "open: mode '%s' (expected 'auto', 'memory' or 'stream')", mode);
    if (!split && (!x_name || !y_name))
        return luaL_error(L, "open: give a split (\"train\") or both dataset paths {x=, y=}");
    if (!x_name)
        x_name = lua_pushfstring(L, "/%s/x", split);
    if (!y_name)
        y_name = lua_pushfstring(L, "/%s/y", split);

    streambox *box = l_box_push(L, &stream_class, 0);
    box->memory_limit = (size_t)limit;
    if (eng_h5data_open(path, x_name, y_name, &box->d))
        return l_engine_error(L);
    const eng_h5data_info *in = eng_h5data_info_of(box->d);
    bool in_memory =
        strcmp(mode, "memory") == 0 || (strcmp(mode, "auto") == 0 && in->bytes <= (size_t)limit);
    if (!in_memory)
        return 1;
    push_loaded(L, box->d);
    eng_h5data_close(box->d); /* the file is not needed any more */
    box->d = NULL;
    return 1;
}

/* ---- engine.StreamDataset ---- */

static int stream_size(lua_State *L)
{
    lua_pushinteger(L, eng_h5data_info_of(check_stream(L, 1)->d)->n);
    return 1;
}

static int stream_shape(lua_State *L)
{
    const eng_h5data_info *in = eng_h5data_info_of(check_stream(L, 1)->d);
    l_push_shape(L, in->ndim - 1, in->shape + 1);
    return 1;
}

static int stream_tostring(lua_State *L)
{
    streambox *box = luaL_checkudata(L, 1, ENG_LUA_STREAM_DATASET);
    if (!box->d) {
        lua_pushliteral(L, "StreamDataset(closed)");
        return 1;
    }
    const eng_h5data_info *in = eng_h5data_info_of(box->d);
    lua_pushfstring(L, "StreamDataset(%I samples of %s %s, chunks of %I, streamed)",
                    (lua_Integer)in->n, eng_shape_str(in->ndim - 1, in->shape + 1),
                    eng_dtype_name(in->dtype), (lua_Integer)in->chunk_rows);
    return 1;
}

/* ds:batches(size, {...}), as engine.Dataset's (l_batches.c); the shuffle buffer holds at
 * most the dataset's memory_limit. */
static int stream_batches(lua_State *L)
{
    streambox *box = check_stream(L, 1);
    bool reuse;
    eng_batch_options o = l_check_batch_options(L, 2, eng_h5data_info_of(box->d)->dtype, &reuse);
    eng_batches **it = l_new_batches_box(L);
    if (eng_batches_new_stream(box->d, box->memory_limit, &o, NULL, it))
        return l_engine_error(L);
    return l_push_batch_iterator(L, 1, -1, reuse);
}

/* ---- data.write, data.read_idx ---- */

/* The tensor in field name of the table at idx; raises naming split and field. */
static eng_tensor *split_tensor(lua_State *L, int idx, const char *split, const char *name)
{
    lua_getfield(L, idx, name);
    eng_tensor *t = l_test_tensor(L, -1);
    if (!t)
        luaL_error(L, "write: splits.%s.%s must be an engine.Tensor, got %s", split, name,
                   l_typename_of(L, -1));
    lua_pop(L, 1); /* the splits table keeps it alive */
    return t;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(((const eng_h5data_split *)a)->name, ((const eng_h5data_split *)b)->name);
}

/* data.write(path, {train = {x=, y=}, ...}, {classes=, source=, level=, chunk_rows=}) */
static int l_write(lua_State *L)
{
    static const char *const names[] = {"classes", "source", "level", "chunk_rows", NULL};
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    l_check_options(L, 3, "write", names);
    eng_h5data_write_options o = {
        .source = l_opt_string_field(L, 3, "write", "source", NULL),
        .level = (int)l_opt_integer_field(L, 3, "write", "level", 4),
        .chunk_rows = l_opt_integer_field(L, 3, "write", "chunk_rows", 0),
    };
    if (o.level < 1 || o.level > 9)
        return luaL_error(L, "write: level %d, expected 1..9", o.level);
    int nclasses = 0;
    const char **classes = NULL;
    if (l_has_field(L, 3, "classes")) {
        lua_getfield(L, 3, "classes");
        luaL_argcheck(L, lua_istable(L, -1), 3, "classes must be a list of strings");
        nclasses = (int)luaL_len(L, -1);
        classes = lua_newuserdatauv(L, sizeof *classes * (size_t)(nclasses + 1), 0);
        for (int i = 0; i < nclasses; i++) {
            lua_geti(L, -2, i + 1);
            classes[i] = lua_tostring(L, -1);
            if (!classes[i])
                return luaL_error(L, "write: classes[%d] is a %s, expected a string", i + 1,
                                  luaL_typename(L, -1));
            lua_pop(L, 1); /* the classes table keeps the string alive */
        }
        o.classes = classes;
        o.nclasses = nclasses;
    }
    int nsplits = 0;
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        nsplits++;
        lua_pop(L, 1);
    }
    eng_h5data_split *splits = lua_newuserdatauv(L, sizeof *splits * (size_t)(nsplits + 1), 0);
    int k = 0;
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        if (lua_type(L, -2) != LUA_TSTRING || !lua_istable(L, -1))
            return luaL_error(L, "write: splits must map names to {x=, y=} tables");
        splits[k].name = lua_tostring(L, -2);
        splits[k].x = split_tensor(L, lua_gettop(L), splits[k].name, "x");
        splits[k].y = split_tensor(L, lua_gettop(L), splits[k].name, "y");
        k++;
        lua_pop(L, 1);
    }
    qsort(splits, (size_t)nsplits, sizeof *splits, compare_names);
    if (eng_h5data_write(path, splits, nsplits, &o))
        return l_engine_error(L);
    return 0;
}

/* data.read_idx(path) -> u8 tensor of the IDX file's shape (plain or gzipped). */
static int l_read_idx(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    eng_tensor **slot = l_new_tensor_box(L);
    if (eng_idx_read(path, slot))
        return l_engine_error(L);
    return 1;
}

static const luaL_Reg stream_methods[] = {
    {"size", stream_size},
    {"shape", stream_shape},
    {"batches", stream_batches},
    {NULL, NULL},
};

static const luaL_Reg stream_meta[] = {
    {"__tostring", stream_tostring},
    {"__len", stream_size},
    {"__index", NULL},
    {NULL, NULL},
};

void l_open_h5data(lua_State *L)
{
    l_box_class(L, &stream_class);
    luaL_setfuncs(L, stream_meta, 0);
    luaL_newlib(L, stream_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);

    lua_getfield(L, -1, "dataset");
    lua_pushcclosure(L, l_open, 1);
    lua_setfield(L, -2, "open");
    lua_pushcfunction(L, l_write);
    lua_setfield(L, -2, "write");
    lua_pushcfunction(L, l_read_idx);
    lua_setfield(L, -2, "read_idx");
}
