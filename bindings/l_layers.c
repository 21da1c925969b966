/* layer:buffers() and model:buffers(): state that is not a parameter (BatchNorm's running
 * statistics). The constructors of every kind derive from its declared settings (l_kinds.c). */
#include <string.h>

#include "bindings.h"

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
        l_push_tensor_view(L, layer->buffers[b].value);
        lua_setfield(L, -2, "value");
        lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
    }
}

/* layer:buffers() -> {{name=, value=}, ...}: state that is not a parameter (running statistics) */
static int layer_buffers(lua_State *L)
{
    eng_layer *layer = l_check_layer_arg(L, 1);
    lua_newtable(L);
    push_buffers(L, layer, false);
    return 1;
}

/* model:buffers() -> the same for every layer, named "<layer>.<buffer>" */
static int model_buffers(lua_State *L)
{
    eng_model *model = l_check_model(L, 1);
    lua_newtable(L);
    for (int i = 0; i < model->nlayers; i++)
        push_buffers(L, model->layers[i], true);
    return 1;
}

void l_nn_open_layers(lua_State *L)
{
    l_add_method(L, ENG_LUA_LAYER, "buffers", layer_buffers);
    l_add_method(L, ENG_LUA_SEQUENTIAL, "buffers", model_buffers);
}
