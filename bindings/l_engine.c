/* The `engine` module: version, global settings (seed, BLAS threads), a clock, and the
 * submodules; plus the option-table helpers every binding module shares. */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bindings.h"
#include "config_lua.h"

int l_engine_error(lua_State *L)
{
    return luaL_error(L, "%s", eng_errmsg());
}

void l_check_options(lua_State *L, int arg, const char *fname, const char *const *names)
{
    if (lua_isnoneornil(L, arg))
        return;
    luaL_checktype(L, arg, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, arg)) {
        lua_pop(L, 1);
        bool known = false;
        if (lua_type(L, -1) == LUA_TSTRING) {
            const char *key = lua_tostring(L, -1);
            for (int i = 0; names[i] && !known; i++)
                known = strcmp(key, names[i]) == 0;
        }
        if (!known) {
            luaL_Buffer b;
            luaL_buffinit(L, &b);
            for (int i = 0; names[i]; i++) {
                luaL_addstring(&b, i ? ", " : "");
                luaL_addstring(&b, names[i]);
            }
            luaL_pushresult(&b);
            const char *key =
                lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : luaL_typename(L, -2);
            luaL_error(L, "%s: unknown option '%s' (expected %s)", fname, key, lua_tostring(L, -1));
        }
    }
}

/* Pushes field name of the options table at arg (nil when there is no table). */
static int push_field(lua_State *L, int arg, const char *name)
{
    if (lua_isnoneornil(L, arg)) {
        lua_pushnil(L);
        return LUA_TNIL;
    }
    luaL_checktype(L, arg, LUA_TTABLE);
    return lua_getfield(L, arg, name);
}

static int field_error(lua_State *L, const char *fname, const char *name, const char *expected)
{
    return luaL_error(L, "%s: option '%s' must be %s, got %s", fname, name, expected,
                      luaL_typename(L, -1));
}

eng_status l_call_method(lua_State *L, int ref, const char *method, const eng_tensor *const *args,
                         int nargs, int nresults, const char *who)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    lua_getfield(L, -1, method);
    lua_insert(L, -2); /* function, table */
    for (int i = 0; i < nargs; i++) {
        if (args[i])
            l_push_tensor_view(L, args[i]);
        else
            lua_pushnil(L);
    }
    if (lua_pcall(L, nargs + 1, nresults, 0) != LUA_OK) {
        eng_status st = eng_error(ENG_ESTATE, "%s%s failed: %s", who, method,
                                  lua_tostring(L, -1) ? lua_tostring(L, -1) : "(no message)");
        lua_pop(L, 1);
        return st;
    }
    return ENG_OK;
}

bool l_has_field(lua_State *L, int arg, const char *name)
{
    bool present = push_field(L, arg, name) != LUA_TNIL;
    lua_pop(L, 1);
    return present;
}

lua_Number l_opt_number_field(lua_State *L, int arg, const char *fname, const char *name,
                              lua_Number def)
{
    int type = push_field(L, arg, name);
    if (type == LUA_TNIL) {
        lua_pop(L, 1);
        return def;
    }
    if (type != LUA_TNUMBER)
        field_error(L, fname, name, "a number");
    lua_Number v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

lua_Integer l_opt_integer_field(lua_State *L, int arg, const char *fname, const char *name,
                                lua_Integer def)
{
    int type = push_field(L, arg, name);
    if (type == LUA_TNIL) {
        lua_pop(L, 1);
        return def;
    }
    int isint = 0;
    lua_Integer v = lua_tointegerx(L, -1, &isint);
    if (type != LUA_TNUMBER || !isint)
        field_error(L, fname, name, "an integer");
    lua_pop(L, 1);
    return v;
}

bool l_opt_boolean_field(lua_State *L, int arg, const char *fname, const char *name, bool def)
{
    int type = push_field(L, arg, name);
    if (type == LUA_TNIL) {
        lua_pop(L, 1);
        return def;
    }
    if (type != LUA_TBOOLEAN)
        field_error(L, fname, name, "a boolean");
    bool v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

const char *l_opt_string_field(lua_State *L, int arg, const char *fname, const char *name,
                               const char *def)
{
    int type = push_field(L, arg, name);
    if (type == LUA_TNIL) {
        lua_pop(L, 1);
        return def;
    }
    if (type != LUA_TSTRING)
        field_error(L, fname, name, "a string");
    /* The string stays alive: it is referenced by the options table the caller holds. */
    const char *v = lua_tostring(L, -1);
    lua_pop(L, 1);
    return v;
}

int l_check_int(lua_State *L, int arg)
{
    lua_Integer v = luaL_checkinteger(L, arg);
    luaL_argcheck(L, v >= -2147483647 && v <= 2147483647, arg, "value out of range");
    return (int)v;
}

const char *l_typename_of(lua_State *L, int idx)
{
    const char *name = luaL_typename(L, idx);
    int type = luaL_getmetafield(L, idx, "__name");
    if (type == LUA_TSTRING)
        name = lua_tostring(L, -1); /* stays alive in the metatable */
    if (type != LUA_TNIL)
        lua_pop(L, 1);
    return name;
}

void l_check_pair(lua_State *L, int idx, const char *fname, const char *what, int min, int *h,
                  int *w)
{
    enum { MAX = 1 << 20 };
    idx = lua_absindex(L, idx);
    lua_Integer v[2];
    int isint = 1;
    if (lua_isinteger(L, idx)) {
        v[0] = v[1] = lua_tointeger(L, idx);
    } else if (lua_type(L, idx) == LUA_TTABLE && luaL_len(L, idx) == 2) {
        for (int i = 0; i < 2; i++) {
            lua_geti(L, idx, i + 1);
            int ok = 0;
            v[i] = lua_tointegerx(L, -1, &ok);
            isint &= ok;
            lua_pop(L, 1);
        }
    } else {
        isint = 0;
    }
    if (!isint)
        luaL_error(L, "%s: %s must be an integer or {h,w} of integers, got %s", fname, what,
                   l_typename_of(L, idx));
    for (int i = 0; i < 2; i++)
        if (v[i] < min || v[i] > MAX)
            luaL_error(L, "%s: %s %I must be between %d and %d", fname, what, v[i], min, MAX);
    *h = (int)v[0];
    *w = (int)v[1];
}

void l_opt_pair_field(lua_State *L, int arg, const char *fname, const char *name, int def, int min,
                      int *h, int *w)
{
    *h = *w = def;
    if (!l_has_field(L, arg, name))
        return;
    lua_getfield(L, arg, name);
    l_check_pair(L, -1, fname, name, min, h, w);
    lua_pop(L, 1);
}

/* engine.seed(n): reseeds the global generator (layer initialisation, rand, shuffling). */
static int l_seed(lua_State *L)
{
    lua_Integer seed = luaL_checkinteger(L, 1);
    eng_rng_seed(eng_rng_global(), (uint64_t)seed);
    return 0;
}

/* engine.threads([n]): sets the thread count when n is given (models split their batches
 * between the threads; OpenBLAS gets them for work that is not split); returns the count. */
static int l_threads(lua_State *L)
{
    if (!lua_isnoneornil(L, 1)) {
        lua_Integer n = luaL_checkinteger(L, 1);
        luaL_argcheck(L, n >= 1 && n <= ENG_MAX_THREADS, 1, "thread count must be in 1..64");
        if (eng_set_threads((int)n))
            return luaL_error(L, "%s", eng_errmsg());
    }
    lua_pushinteger(L, eng_threads());
    return 1;
}

/* engine.allocated_bytes(): tensor storage allocated since the start (it never decreases), to
 * see what a training step allocates. */
static int l_allocated_bytes(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)eng_tensor_bytes_allocated());
    return 1;
}

/* engine.clock(): monotonic seconds, for timing. */
int l_clock(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
    return 1;
}

/* engine.isatty(): whether stdout is a terminal (progress bars only then). */
static int l_isatty(lua_State *L)
{
    lua_pushboolean(L, isatty(STDOUT_FILENO));
    return 1;
}

static const luaL_Reg engine_funcs[] = {
    {"seed", l_seed},
    {"threads", l_threads},
    {"clock", l_clock},
    {"isatty", l_isatty},
    {"allocated_bytes", l_allocated_bytes},
    {NULL, NULL},
};

int luaopen_engine(lua_State *L)
{
    luaL_newlib(L, engine_funcs);
    lua_pushliteral(L, ENGINE_VERSION);
    lua_setfield(L, -2, "version");

    if (luaL_loadbuffer(L, config_lua, sizeof config_lua - 1, "=engine.config"))
        return lua_error(L);
    lua_call(L, 0, 1); /* the chunk returns the function engine.config */
    lua_setfield(L, -2, "config");

    /* The tensor constructors live in `engine` itself: engine.zeros, engine.tensor, ... */
    luaopen_engine_tensor(L);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_settable(L, -5);
    }
    lua_pop(L, 1);

    luaopen_engine_nn(L);
    lua_setfield(L, -2, "nn");
    luaopen_engine_optim(L);
    lua_setfield(L, -2, "optim");
    luaopen_engine_data(L);
    lua_setfield(L, -2, "data");
    luaopen_engine_gradcheck(L);
    lua_setfield(L, -2, "gradcheck");
    luaopen_engine_plugin(L);
    lua_setfield(L, -2, "plugin");
    luaopen_engine_progress(L); /* before sweep: its Lua part uses engine.progress */
    lua_setfield(L, -2, "progress");
    luaopen_engine_sweep(L);
    lua_setfield(L, -2, "sweep");
    luaopen_engine_dist(L);
    lua_setfield(L, -2, "dist");
    luaopen_engine_train(L);
    lua_setfield(L, -2, "train");
    luaopen_engine_report(L);
    lua_setfield(L, -2, "report");
    luaopen_engine_io(L); /* engine.io; its save and load are engine.save, engine.load */
    lua_getfield(L, -1, "save");
    lua_setfield(L, -3, "save");
    lua_getfield(L, -1, "load");
    lua_setfield(L, -3, "load");
    lua_setfield(L, -2, "io");
    return 1;
}
