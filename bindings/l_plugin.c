/* engine.plugin: load C plugins, and make layers of their kinds.
 *
 *   local info = engine.plugin.load("swish")      -- path, or a name searched in
 *                                                 -- ENGINE_PLUGIN_PATH
 *   local layer = engine.nn.new("swish", {beta = 1.0, dtype = "f64", name = "act"})
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
        return lua_engerror(L);
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

/* engine.nn.new(kind, options): a layer of a plugin's kind. Options: dtype, name, and numeric
 * (or boolean) settings passed to the kind's create. */
static int l_new_layer(lua_State *L)
{
    const char *kind_name = luaL_checkstring(L, 1);
    const eng_layer_kind *kind = eng_plugin_find_layer(kind_name);
    if (!kind)
        return luaL_error(L, "nn.new: no layer kind '%s' (load its plugin first with "
                          "engine.plugin.load; built-in kinds have their own constructors)",
                          kind_name);
    eng_plugin_config config = {0};
    eng_dtype dtype = ENG_F32;
    const char *name = NULL;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 2)) {
            if (lua_type(L, -2) != LUA_TSTRING)
                return luaL_error(L, "nn.new: option keys must be strings");
            const char *key = lua_tostring(L, -2);
            if (strcmp(key, "dtype") == 0) {
                if (eng_dtype_parse(luaL_checkstring(L, -1), &dtype) || !eng_dtype_is_float(dtype))
                    return luaL_error(L, "nn.new: option 'dtype' must be 'f32' or 'f64'");
            } else if (strcmp(key, "name") == 0) {
                name = luaL_checkstring(L, -1);
            } else if (lua_type(L, -1) == LUA_TNUMBER || lua_type(L, -1) == LUA_TBOOLEAN) {
                if (config.count == 16)
                    return luaL_error(L, "nn.new: at most 16 settings");
                config.keys[config.count] = key; /* the options table keeps the key alive */
                config.values[config.count++] = lua_type(L, -1) == LUA_TBOOLEAN
                                                    ? lua_toboolean(L, -1)
                                                    : lua_tonumber(L, -1);
            } else {
                return luaL_error(L, "nn.new: option '%s' must be a number or a boolean, got %s",
                                  key, luaL_typename(L, -1));
            }
            lua_pop(L, 1);
        }
    }
    eng_layer **slot = lua_newlayerbox(L);
    if (kind->create(&config, dtype, NULL, slot))
        return lua_engerror(L);
    if (!*slot)
        return luaL_error(L, "nn.new: plugin kind '%s' created no layer", kind_name);
    if (name && eng_layer_set_name(*slot, name))
        return lua_engerror(L);
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

int lua_nn_new(lua_State *L)
{
    return l_new_layer(L);
}
