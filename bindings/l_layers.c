/* engine.nn constructors and printing of the layer kinds of issue 15: BatchNorm1d/2d (more
 * kinds join here). Registered into the nn table by luaopen_engine_nn. */
#include <stdio.h>
#include <string.h>

#include "bindings.h"

/* The status of a constructor, then the name option (read before the box was pushed). */
static int finish(lua_State *L, eng_status st, eng_layer **slot, const char *name)
{
    if (st)
        return lua_engerror(L);
    if (name && eng_layer_set_name(*slot, name))
        return lua_engerror(L);
    return 1;
}

static eng_dtype opt_dtype(lua_State *L, int opts, const char *fname)
{
    eng_dtype dtype;
    if (eng_dtype_parse(lua_optstringfield(L, opts, fname, "dtype", "f32"), &dtype))
        luaL_error(L, "%s: %s", fname, eng_errmsg());
    return dtype;
}

/* nn.BatchNorm1d(C [, opts]), nn.BatchNorm2d(C [, opts]); upvalue 1: dims. */
static int nn_batchnorm(lua_State *L)
{
    static const char *const names[] = {"eps", "momentum", "affine", "dtype", "name", NULL};
    int dims = (int)lua_tointeger(L, lua_upvalueindex(1));
    const char *fname = dims == 1 ? "BatchNorm1d" : "BatchNorm2d";
    int c = lua_checkint(L, 1);
    lua_checkoptions(L, 2, fname, names);
    double eps = lua_optnumberfield(L, 2, fname, "eps", 1e-5);
    double momentum = lua_optnumberfield(L, 2, fname, "momentum", 0.1);
    bool affine = lua_optbooleanfield(L, 2, fname, "affine", true);
    eng_dtype dtype = opt_dtype(L, 2, fname);
    const char *name = lua_optstringfield(L, 2, fname, "name", NULL);
    eng_layer **slot = lua_newlayerbox(L);
    return finish(L, eng_batchnorm_new(dims, c, eps, momentum, affine, dtype, slot), slot, name);
}

static lua_Number field_number(lua_State *L, const char *name)
{
    lua_getfield(L, -1, name);
    lua_Number v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

static bool field_boolean(lua_State *L, const char *name)
{
    lua_getfield(L, -1, name);
    bool v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

bool lua_nn_layer_repr(lua_State *L, const char *kind, char *buf, size_t size)
{
    if (strcmp(kind, "batchnorm1d") == 0 || strcmp(kind, "batchnorm2d") == 0) {
        snprintf(buf, size, "BatchNorm%s(%d, eps=%g, momentum=%g, affine=%s)", kind + 9,
                 (int)field_number(L, "num_features"), field_number(L, "eps"),
                 field_number(L, "momentum"), field_boolean(L, "affine") ? "true" : "false");
        return true;
    }
    return false;
}

/* Pushes {name=, value=} for each buffer of layer into the list at the stack top, names
 * prefixed with "<layer>." when prefix. value is a view sharing the buffer's storage. */
static void push_buffers(lua_State *L, const eng_layer *layer, bool prefix)
{
    for (int b = 0; b < layer->nbuffers; b++) {
        lua_createtable(L, 0, 2);
        if (prefix)
            lua_pushfstring(L, "%s.%s", layer->name, layer->buffers[b].name);
        else
            lua_pushstring(L, layer->buffers[b].name);
        lua_setfield(L, -2, "name");
        lua_pushtensorview(L, layer->buffers[b].value);
        lua_setfield(L, -2, "value");
        lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
    }
}

/* layer:buffers() -> {{name=, value=}, ...}: state that is not a parameter (running statistics) */
static int layer_buffers(lua_State *L)
{
    eng_layer *layer = lua_checklayer(L, 1);
    lua_newtable(L);
    push_buffers(L, layer, false);
    return 1;
}

/* model:buffers() -> the same for every layer, named "<layer>.<buffer>" */
static int model_buffers(lua_State *L)
{
    eng_model *model = lua_checkmodel(L, 1);
    lua_newtable(L);
    for (int i = 0; i < model->nlayers; i++)
        push_buffers(L, model->layers[i], true);
    return 1;
}

/* Adds method f to the __index table of metatable tname. */
static void add_method(lua_State *L, const char *tname, const char *name, lua_CFunction f)
{
    luaL_getmetatable(L, tname);
    lua_getfield(L, -1, "__index");
    if (lua_istable(L, -1)) {
        lua_pushcfunction(L, f);
        lua_setfield(L, -2, name);
    } else {
        /* a function __index (Sequential's): keep methods in its upvalue table */
        lua_getupvalue(L, -1, 1);
        lua_pushcfunction(L, f);
        lua_setfield(L, -2, name);
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
}

static void set_closure(lua_State *L, const char *name, lua_CFunction f, int value)
{
    lua_pushinteger(L, value);
    lua_pushcclosure(L, f, 1);
    lua_setfield(L, -2, name);
}

void lua_nn_open_layers(lua_State *L)
{
    set_closure(L, "BatchNorm1d", nn_batchnorm, 1);
    set_closure(L, "BatchNorm2d", nn_batchnorm, 2);
    add_method(L, ENG_LUA_LAYER, "buffers", layer_buffers);
    add_method(L, ENG_LUA_SEQUENTIAL, "buffers", model_buffers);
}
