/* Userdata boxes and their metatables ("classes"), shared by every binding module.
 *
 * A box is a full userdata whose first member points to the C object (as liolib.c's LStream
 * starts with its FILE *). One release function per class serves __gc and __close: it frees
 * what the box holds once and leaves the pointer NULL, so a second call and a later method
 * call find an empty ("closed") box. */
#include <string.h>

#include "bindings.h"

/* __gc and __close of every class; upvalue 1: its l_boxclass. */
static int box_release(lua_State *L)
{
    const l_boxclass *cls = lua_touserdata(L, lua_upvalueindex(1));
    void **box = luaL_checkudata(L, 1, cls->name);
    if (*box && cls->free)
        cls->free(box);
    *box = NULL;
    return 0;
}

void l_box_class(lua_State *L, const l_boxclass *cls)
{
    if (!luaL_newmetatable(L, cls->name))
        return;
    if (!cls->free)
        return;
    lua_pushlightuserdata(L, (void *)cls);
    lua_pushcclosure(L, box_release, 1);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "__gc");
    lua_setfield(L, -2, "__close");
}

void *l_box_push(lua_State *L, const l_boxclass *cls, int nuv)
{
    void *box = lua_newuserdatauv(L, cls->size, nuv);
    memset(box, 0, cls->size);
    l_box_class(L, cls);
    lua_setmetatable(L, -2);
    return box;
}

void *l_box_check(lua_State *L, int arg, const l_boxclass *cls)
{
    void **box = luaL_checkudata(L, arg, cls->name);
    if (cls->closed && !*box)
        luaL_argerror(L, arg, cls->closed);
    return box;
}

void *l_box_test(lua_State *L, int arg, const l_boxclass *cls)
{
    void **box = luaL_testudata(L, arg, cls->name);
    return box && (!cls->closed || *box) ? box : NULL;
}

void l_set_closure(lua_State *L, const char *name, lua_CFunction f, int boolean, int value)
{
    if (boolean)
        lua_pushboolean(L, value);
    else
        lua_pushinteger(L, value);
    lua_pushcclosure(L, f, 1);
    lua_setfield(L, -2, name);
}

void l_new_class(lua_State *L, const l_boxclass *cls, lua_CFunction tostring,
                 const luaL_Reg *methods)
{
    l_box_class(L, cls);
    if (tostring) {
        lua_pushcfunction(L, tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
}

void l_add_method(lua_State *L, const char *tname, const char *name, lua_CFunction f)
{
    luaL_getmetatable(L, tname);
    int type = lua_getfield(L, -1, "__index");
    if (type == LUA_TFUNCTION && lua_getupvalue(L, -1, 1))
        lua_remove(L, -2);
    if (lua_istable(L, -1)) {
        lua_pushcfunction(L, f);
        lua_setfield(L, -2, name);
    }
    lua_pop(L, 2);
}
