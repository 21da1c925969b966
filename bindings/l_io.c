/* engine.save, engine.load, model:load and opt:load: HDF5 checkpoints (engine/io/checkpoint.h).
 *
 *   engine.save(path, {model = m, optimizer = opt, meta = {step = 10, epoch = 1, note = "x"}})
 *   local ckpt = engine.load(path [, {model = true, rng = true}])
 *     -- ckpt.model (rebuilt from the file alone), ckpt.meta, ckpt.optimizer (kind, steps and
 *     -- hyper-parameters), ckpt.engine_version, ckpt.created; restores the global generator
 *   model:load(path)   opt:load(path)      -- into existing objects; both return self
 *
 * The C checkpoint lives in a box marked to-be-closed, so a Lua error at any point closes the
 * file at once (and discards a half-written one). */
#include <stdlib.h>
#include <string.h>

#include "bindings.h"

#define ENG_LUA_CHECKPOINT "engine.Checkpoint"
#define ENG_LUA_META "engine.Meta"

typedef struct ckbox {
    eng_checkpoint *ck; /* NULL once closed or committed */
} ckbox;

typedef struct metabox {
    eng_meta *meta;
} metabox;

static void ckbox_free(void *box)
{
    eng_checkpoint_close(((ckbox *)box)->ck);
}

static void metabox_free(void *box)
{
    eng_meta_free(((metabox *)box)->meta);
}

static const l_boxclass ck_class = {ENG_LUA_CHECKPOINT, "checkpoint is closed", sizeof(ckbox),
                                    ckbox_free};
static const l_boxclass meta_class = {ENG_LUA_META, "meta is closed", sizeof(metabox),
                                      metabox_free};

/* Pushes an empty checkpoint box, to be closed when the calling function returns or fails. */
static ckbox *push_ckbox(lua_State *L)
{
    ckbox *box = l_box_push(L, &ck_class, 0);
    lua_toclose(L, -1);
    return box;
}

eng_meta **l_push_meta_box(lua_State *L)
{
    return &((metabox *)l_box_push(L, &meta_class, 0))->meta;
}

/* The same, to be freed when the calling function returns or fails. */
static metabox *push_metabox(lua_State *L)
{
    metabox *box = l_box_push(L, &meta_class, 0);
    lua_toclose(L, -1);
    return box;
}

/* ---- meta: Lua tables <-> eng_meta ---- */

/* Whether the table at idx is a non-empty list of numbers (keys 1..n). */
static bool is_number_list(lua_State *L, int idx)
{
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx), count = 0;
    if (n == 0)
        return false;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        bool ok = lua_type(L, -1) == LUA_TNUMBER && lua_isinteger(L, -2);
        lua_pop(L, 1);
        if (!ok) {
            lua_pop(L, 1);
            return false;
        }
        count++;
    }
    return count == n;
}

/* Adds the entries of the Lua table at idx to t; where names it in messages ("meta.a"). */
static void meta_from_table(lua_State *L, int idx, eng_meta *t, const char *where, int depth);

void l_to_meta(lua_State *L, int idx, eng_meta *t, const char *where)
{
    idx = lua_absindex(L, idx);
    lua_newtable(L); /* the tables on the current path, to refuse one that contains itself */
    meta_from_table(L, idx, t, where, 0);
    lua_pop(L, 1);
}

/* Recursion over a user's table: a depth limit (the file's), room on the Lua stack at every
 * level, and the tables on the current path kept in the table on top of the stack when the
 * call starts, so that a table inside itself is refused instead of recursing. */
static void meta_from_table(lua_State *L, int idx, eng_meta *t, const char *where, int depth)
{
    idx = lua_absindex(L, idx);
    int path = lua_gettop(L);
    if (depth > ENG_META_MAX_DEPTH)
        luaL_error(L, "save: %s is nested deeper than %d tables", where, ENG_META_MAX_DEPTH);
    luaL_checkstack(L, 8, "save: meta");
    lua_pushvalue(L, idx);
    if (lua_rawget(L, path) != LUA_TNIL)
        luaL_error(L, "save: %s contains itself (a table inside itself cannot be saved)", where);
    lua_pop(L, 1);
    lua_pushvalue(L, idx);
    lua_pushboolean(L, 1);
    lua_rawset(L, path);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "save: %s has a %s key; keys must be strings", where,
                       luaL_typename(L, -2));
        const char *key = lua_tostring(L, -2);
        eng_status st = ENG_OK;
        switch (lua_type(L, -1)) {
        case LUA_TNUMBER:
            st = lua_isinteger(L, -1) ? eng_meta_add_integer(t, key, lua_tointeger(L, -1))
                                      : eng_meta_add_number(t, key, lua_tonumber(L, -1));
            break;
        case LUA_TBOOLEAN: st = eng_meta_add_boolean(t, key, lua_toboolean(L, -1)); break;
        case LUA_TSTRING: st = eng_meta_add_string(t, key, lua_tostring(L, -1)); break;
        case LUA_TTABLE:
            if (is_number_list(L, lua_gettop(L))) {
                lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
                double *v = lua_newuserdatauv(L, sizeof *v * (size_t)n, 0);
                for (lua_Integer i = 0; i < n; i++) {
                    lua_rawgeti(L, -2, i + 1);
                    v[i] = lua_tonumber(L, -1);
                    lua_pop(L, 1);
                }
                st = eng_meta_add_numbers(t, key, v, n);
                lua_pop(L, 1);
            } else {
                eng_meta *sub;
                st = eng_meta_add(t, key, ENG_META_TABLE, &sub);
                if (!st) {
                    int value = lua_gettop(L);
                    const char *sub_where = lua_pushfstring(L, "%s.%s", where, key);
                    lua_pushvalue(L, path);
                    meta_from_table(L, value, sub, sub_where, depth + 1);
                    lua_pop(L, 2);
                }
            }
            break;
        default:
            luaL_error(L, "save: %s.%s is a %s (numbers, strings, booleans and tables only)", where,
                       key, luaL_typename(L, -1));
        }
        if (st)
            luaL_error(L, "save: %s", eng_errmsg());
        lua_pop(L, 1);
    }
    lua_pushvalue(L, idx); /* off the path: a table may appear twice side by side */
    lua_pushnil(L);
    lua_rawset(L, path);
}

static void push_meta(lua_State *L, const eng_meta *t);

void l_push_meta(lua_State *L, const eng_meta *t)
{
    push_meta(L, t);
}

static void push_meta(lua_State *L, const eng_meta *t)
{
    /* the depth is bounded by the reader (ENG_META_MAX_DEPTH); the stack is checked anyway */
    luaL_checkstack(L, 4, "load: meta");
    lua_createtable(L, 0, t->nitems);
    for (int i = 0; i < t->nitems; i++) {
        const eng_meta *m = t->items[i];
        switch (m->type) {
        case ENG_META_INTEGER: lua_pushinteger(L, (lua_Integer)m->integer); break;
        case ENG_META_NUMBER: lua_pushnumber(L, m->number); break;
        case ENG_META_BOOLEAN: lua_pushboolean(L, m->boolean); break;
        case ENG_META_STRING: lua_pushstring(L, m->string); break;
        case ENG_META_NUMBERS:
            lua_createtable(L, (int)m->count, 0);
            for (int64_t k = 0; k < m->count; k++) {
                lua_pushnumber(L, m->numbers[k]);
                lua_rawseti(L, -2, k + 1);
            }
            break;
        case ENG_META_TABLE: push_meta(L, m); break;
        }
        lua_setfield(L, -2, m->key);
    }
}

/* ---- engine.save ---- */

/* The object in field name of the parts table (arg 2), checked against metatable tname; NULL
 * when absent. */
static int get_part(lua_State *L, const char *name, const char *tname)
{
    if (lua_getfield(L, 2, name) == LUA_TNIL) {
        lua_pop(L, 1);
        return 0;
    }
    if (!luaL_testudata(L, -1, tname))
        luaL_error(L, "save: '%s' must be an %s, got %s", name, tname, l_typename_of(L, -1));
    return lua_gettop(L);
}

/* engine.save(path, {model=, optimizer=, schedule=, meta=}); a schedule's counters go into the
 * meta table "schedule" (eng_schedule_save_meta). */
static int l_save(lua_State *L)
{
    static const char *const names[] = {"model", "optimizer", "schedule", "meta", NULL};
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    l_check_options(L, 2, "save", names);
    int model_idx = get_part(L, "model", ENG_LUA_SEQUENTIAL);
    int opt_idx = get_part(L, "optimizer", ENG_LUA_OPTIMIZER);
    eng_model *model = model_idx ? l_check_model(L, model_idx) : NULL;
    eng_optimizer *opt = opt_idx ? l_check_optimizer(L, opt_idx) : NULL;
    int sched_idx = get_part(L, "schedule", ENG_LUA_SCHEDULER);
    eng_schedule *sched = sched_idx ? l_check_schedule(L, sched_idx) : NULL;

    metabox *mbox = push_metabox(L);
    if (eng_meta_new(&mbox->meta))
        return l_engine_error(L);
    int type = lua_getfield(L, 2, "meta");
    if (type == LUA_TTABLE)
        l_to_meta(L, -1, mbox->meta, "meta");
    else if (type != LUA_TNIL)
        return luaL_error(L, "save: 'meta' must be a table, got %s", luaL_typename(L, -1));
    lua_pop(L, 1);
    /* step and epoch are always there: the optimizer's step count and 0 by default. */
    eng_status st = ENG_OK;
    if (!eng_meta_get(mbox->meta, "step"))
        st = eng_meta_add_integer(mbox->meta, "step", opt ? opt->steps : 0);
    if (!st && !eng_meta_get(mbox->meta, "epoch"))
        st = eng_meta_add_integer(mbox->meta, "epoch", 0);
    if (!st && sched && eng_meta_get(mbox->meta, "schedule"))
        return luaL_error(L, "save: meta.schedule is taken by the schedule's counters");
    if (!st && sched)
        st = eng_schedule_save_meta(sched, mbox->meta);
    if (st)
        return l_engine_error(L);

    ckbox *box = push_ckbox(L);
    st = eng_checkpoint_create(path, &box->ck);
    if (!st && model)
        st = eng_checkpoint_write_model(box->ck, model);
    if (!st && opt)
        st = eng_checkpoint_write_optimizer(box->ck, opt);
    if (!st)
        st = eng_checkpoint_write_rng(box->ck, eng_rng_global(), model);
    if (!st)
        st = eng_checkpoint_write_meta(box->ck, mbox->meta);
    if (!st) {
        eng_checkpoint *ck = box->ck;
        box->ck = NULL; /* commit frees it whatever happens */
        st = eng_checkpoint_commit(ck);
    }
    if (st)
        return l_engine_error(L);
    return 0;
}

/* ---- engine.load: rebuilding the model from its config ---- */

/* Pushes a new Sequential of the checkpoint's layers (parameters freshly initialised), each
 * built by the library from the model config (eng_checkpoint_new_layer). */
static void push_model(lua_State *L, eng_checkpoint *ck, int nn)
{
    int n = eng_checkpoint_layer_count(ck);
    lua_getfield(L, nn, "Sequential");
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        eng_layer **slot = l_new_layer_box(L);
        if (eng_checkpoint_new_layer(ck, i, slot))
            l_engine_error(L);
        lua_rawseti(L, -2, i + 1);
    }
    lua_call(L, 1, 1);
}

/* engine.load(path [, {model = true, rng = true}]) -> {model=, meta=, optimizer=, ...};
 * upvalue 1: engine.nn. */
static int l_load(lua_State *L)
{
    static const char *const names[] = {"model", "rng", NULL};
    const char *path = luaL_checkstring(L, 1);
    l_check_options(L, 2, "load", names);
    bool want_model = l_opt_boolean_field(L, 2, "load", "model", true);
    bool want_rng = l_opt_boolean_field(L, 2, "load", "rng", true);
    lua_settop(L, 2);
    ckbox *box = push_ckbox(L);
    if (eng_checkpoint_open(path, &box->ck))
        return l_engine_error(L);
    eng_checkpoint *ck = box->ck;
    lua_createtable(L, 0, 6);
    int result = lua_gettop(L);
    lua_pushstring(L, eng_checkpoint_engine_version(ck));
    lua_setfield(L, result, "engine_version");
    lua_pushstring(L, eng_checkpoint_created(ck));
    lua_setfield(L, result, "created");

    metabox *mbox = push_metabox(L);
    if (eng_checkpoint_read_meta(ck, &mbox->meta))
        return l_engine_error(L);
    push_meta(L, mbox->meta);
    lua_setfield(L, result, "meta");
    if (eng_checkpoint_has_optimizer(ck)) {
        metabox *obox = push_metabox(L);
        if (eng_checkpoint_read_optimizer_info(ck, &obox->meta))
            return l_engine_error(L);
        push_meta(L, obox->meta);
        lua_setfield(L, result, "optimizer");
    }
    if (want_model && eng_checkpoint_has_model(ck)) {
        push_model(L, ck, lua_upvalueindex(1));
        if (eng_checkpoint_read_model(ck, l_check_model(L, -1)))
            return l_engine_error(L);
        lua_setfield(L, result, "model");
    }
    /* After the rebuild, whose initialisation drew from the generator. */
    if (want_rng && eng_checkpoint_read_rng(ck, eng_rng_global()))
        return l_engine_error(L);
    lua_pushvalue(L, result);
    return 1;
}

/* model:load(path) -> model */
static int model_load(lua_State *L)
{
    eng_model *model = l_check_model(L, 1);
    const char *path = luaL_checkstring(L, 2);
    ckbox *box = push_ckbox(L);
    if (eng_checkpoint_open(path, &box->ck) || eng_checkpoint_read_model(box->ck, model))
        return l_engine_error(L);
    lua_pushvalue(L, 1);
    return 1;
}

/* opt:load(path) -> opt */
static int optimizer_load(lua_State *L)
{
    eng_optimizer *opt = l_check_optimizer(L, 1);
    const char *path = luaL_checkstring(L, 2);
    ckbox *box = push_ckbox(L);
    if (eng_checkpoint_open(path, &box->ck) || eng_checkpoint_read_optimizer(box->ck, opt))
        return l_engine_error(L);
    lua_pushvalue(L, 1);
    return 1;
}

/* sched:load(path) -> sched: the counters saved by engine.save{..., schedule = sched}. */
static int schedule_load(lua_State *L)
{
    eng_schedule *sched = l_check_schedule(L, 1);
    const char *path = luaL_checkstring(L, 2);
    ckbox *box = push_ckbox(L);
    metabox *mbox = push_metabox(L);
    if (eng_checkpoint_open(path, &box->ck) || eng_checkpoint_read_meta(box->ck, &mbox->meta))
        return l_engine_error(L);
    if (eng_schedule_load_meta(sched, mbox->meta))
        return luaL_error(L, "%s: %s", path, eng_errmsg());
    lua_pushvalue(L, 1);
    return 1;
}

static const luaL_Reg io_funcs[] = {
    {"save", l_save},
    {"load", NULL},
    {NULL, NULL},
};

int luaopen_engine_io(lua_State *L)
{
    l_add_method(L, ENG_LUA_SEQUENTIAL, "load", model_load);
    l_add_method(L, ENG_LUA_OPTIMIZER, "load", optimizer_load);
    l_add_method(L, ENG_LUA_SCHEDULER, "load", schedule_load);

    luaL_newlib(L, io_funcs);
    lua_getfield(L, -2, "nn"); /* the engine table, just below */
    lua_pushcclosure(L, l_load, 1);
    lua_setfield(L, -2, "load");
    return 1;
}
