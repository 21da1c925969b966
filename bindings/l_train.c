/* engine.train (bindings/train.lua, compiled in) and the run log it writes (engine/io/runlog.h):
 * this file gives the Lua part the HDF5 run log and a clock. */
#include <time.h>

#include "bindings.h"
#include "io/runlog.h"
#include "train_lua.h"

/* runlog_write(path, table) */
static int l_runlog_write(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    eng_meta **box = l_push_meta_box(L);
    if (eng_meta_new(box))
        return l_engine_error(L);
    l_to_meta(L, 2, *box, "log");
    eng_status st = eng_runlog_write(path, *box);
    eng_meta_free(*box);
    *box = NULL;
    if (st)
        return l_engine_error(L);
    return 0;
}

/* runlog_read(path) -> table */
static int l_runlog_read(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    eng_meta **box = l_push_meta_box(L);
    if (eng_runlog_read(path, box))
        return l_engine_error(L);
    l_push_meta(L, *box);
    eng_meta_free(*box);
    *box = NULL;
    return 1;
}

static const luaL_Reg train_funcs[] = {
    {"runlog_write", l_runlog_write},
    {"runlog_read", l_runlog_read},
    {"clock", l_clock},
    {NULL, NULL},
};

int l_push_runlog_read(lua_State *L)
{
    lua_pushcfunction(L, l_runlog_read);
    return 1;
}

int luaopen_engine_train(lua_State *L)
{
    if (luaL_loadbuffer(L, train_lua, sizeof train_lua - 1, "=engine.train"))
        return lua_error(L);
    luaL_newlib(L, train_funcs);
    lua_call(L, 1, 1); /* the chunk returns the function engine.train */
    return 1;
}
