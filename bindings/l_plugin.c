/* engine.plugin: load C plugins, and make layers of their kinds.
 *
 *   local info = engine.plugin.load("swish")      -- path, or a name searched in
 *                                                 -- ENGINE_PLUGIN_PATH
 *   local layer = engine.nn.new("swish", {beta = 1.0, dtype = "f64", name = "act"})
 *                                                 -- nn.new is in l_kinds.c
 *
 * info: {name=, path=, layers={kind names}, optimizers={kind names}, module=<luaopen_<name>'s
 * result, when the plugin exports one>}. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "bindings.h"
#include "plugin.h"

static void push_names(lua_State *L, int n, const char *(*name_of)(const eng_plugin *, int),
                       const eng_plugin *p)
{
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, name_of(p, i));
        lua_rawseti(L, -2, i + 1);
    }
}

static const char *layer_name_of(const eng_plugin *p, int i)
{
    return p->layers[i]->name;
}

static const char *optimizer_name_of(const eng_plugin *p, int i)
{
    return p->optimizers[i]->name;
}

static int l_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    const eng_plugin *p;
    if (eng_plugin_load(path, &p))
        return l_engine_error(L);
    lua_createtable(L, 0, 5);
    lua_pushstring(L, p->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, p->path);
    lua_setfield(L, -2, "path");
    push_names(L, p->nlayers, layer_name_of, p);
    lua_setfield(L, -2, "layers");
    push_names(L, p->noptimizers, optimizer_name_of, p);
    lua_setfield(L, -2, "optimizers");
    /* A plugin's own Lua helpers, Lua's convention: luaopen_<name>. */
    char symbol[128];
    snprintf(symbol, sizeof symbol, "luaopen_%s", p->name);
    lua_CFunction open = (lua_CFunction)dlsym(p->handle, symbol);
    if (open) {
        lua_pushcfunction(L, open);
        lua_pushstring(L, p->name);
        lua_call(L, 1, 1);
        lua_setfield(L, -2, "module");
    }
    return 1;
}

static const luaL_Reg plugin_funcs[] = {
    {"load", l_load},
    {NULL, NULL},
};

int luaopen_engine_plugin(lua_State *L)
{
    luaL_newlib(L, plugin_funcs);
    return 1;
}
