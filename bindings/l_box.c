/* Userdata boxes and their metatables ("classes"), shared by every binding module. */
#include "bindings.h"

void l_set_closure(lua_State *L, const char *name, lua_CFunction f, int boolean, int value)
{
    if (boolean)
        lua_pushboolean(L, value);
    else
        lua_pushinteger(L, value);
    lua_pushcclosure(L, f, 1);
    lua_setfield(L, -2, name);
}

void l_new_class(lua_State *L, const char *name, lua_CFunction release, lua_CFunction tostring,
                 const luaL_Reg *methods)
{
    luaL_newmetatable(L, name);
    lua_pushcfunction(L, release);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, release);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, tostring);
    lua_setfield(L, -2, "__tostring");
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
}
