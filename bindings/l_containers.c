/* engine.nn's containers (engine/model_container.h): nn.Residual(block [, shortcut] [, {name}])
 * and nn.Concat(dim, branch, ... [, {name}]), each an engine.Layer that a Sequential holds like any
 * other; a block, shortcut or branch is a Sequential or a single layer. Also the nested tree that
 * printing a model shows for them. */
#include <stdio.h>
#include <string.h>

#include "bindings.h"

/* Raises unless args first..last are live Sequentials or layers (before anything is made). */
static void check_args(lua_State *L, int first, int last, const char *fname)
{
    for (int arg = first; arg <= last; arg++) {
        if (luaL_testudata(L, arg, ENG_LUA_SEQUENTIAL))
            l_check_model(L, arg);
        else if (luaL_testudata(L, arg, ENG_LUA_LAYER))
            l_check_layer_arg(L, arg);
        else
            luaL_error(L,
                       "%s: argument #%d must be an engine.Sequential or an engine.Layer, "
                       "got %s",
                       fname, arg, l_typename_of(L, arg));
    }
}

/* The model at arg (checked by check_args): a Sequential's own (retained), or a new one
 * holding the layer at arg. NULL, with a message, when out of memory. */
static eng_model *model_arg(lua_State *L, int arg)
{
    eng_model *m = NULL;
    if (luaL_testudata(L, arg, ENG_LUA_SEQUENTIAL)) {
        m = l_check_model(L, arg);
        eng_model_retain(m);
        return m;
    }
    eng_layer *layer = l_check_layer_arg(L, arg);
    if (eng_model_new(&m))
        return NULL;
    if (eng_model_add(m, layer)) {
        eng_model_release(m);
        return NULL;
    }
    return m;
}

static const char *const options[] = {"name", NULL};

/* When the last argument is an options table (a plain table), checks it and removes it from
 * the stack, returning its name (NULL when none); the caller sets it once the layer exists. */
static const char *take_options(lua_State *L, const char *fname, char *name, size_t size)
{
    int top = lua_gettop(L);
    if (top == 0 || lua_type(L, top) != LUA_TTABLE || lua_getmetatable(L, top))
        return NULL;
    l_check_options(L, top, fname, options);
    const char *given = l_opt_string_field(L, top, fname, "name", NULL);
    if (given)
        snprintf(name, size, "%s", given);
    lua_settop(L, top - 1);
    return given ? name : NULL;
}

/* nn.Residual(block [, shortcut] [, {name}]) */
static int nn_residual(lua_State *L)
{
    char buf[ENG_NAME_MAX];
    const char *name = take_options(L, "Residual", buf, sizeof buf);
    l_check_nargs(L, 2, "Residual");
    bool has_shortcut = !lua_isnoneornil(L, 2);
    check_args(L, 1, has_shortcut ? 2 : 1, "Residual");
    lua_settop(L, 2);
    eng_layer **slot = l_new_layer_box(L);
    eng_model *block = model_arg(L, 1), *shortcut = NULL;
    if (!block)
        return l_engine_error(L);
    if (has_shortcut && !(shortcut = model_arg(L, 2))) {
        eng_model_release(block);
        return l_engine_error(L);
    }
    eng_status st = eng_residual_new(block, shortcut, slot);
    eng_model_release(block);
    eng_model_release(shortcut);
    if (!st && name)
        st = eng_layer_set_name(*slot, name);
    if (st)
        return l_engine_error(L);
    return 1;
}

/* nn.Concat(dim, branch_1, ..., branch_k [, {name}]) with dim 1-based (negative from the end) */
static int nn_concat(lua_State *L)
{
    char buf[ENG_NAME_MAX];
    const char *name = take_options(L, "Concat", buf, sizeof buf);
    int dim = l_check_int(L, 1), n = lua_gettop(L) - 1;
    if (n < 1 || n > ENG_CONTAINER_MAX_CHILDREN)
        return luaL_error(L, "Concat: %d branches given (1 to %d expected)", n,
                          ENG_CONTAINER_MAX_CHILDREN);
    check_args(L, 2, n + 1, "Concat");
    eng_layer **slot = l_new_layer_box(L);
    eng_model *branches[ENG_CONTAINER_MAX_CHILDREN] = {0};
    eng_status st = ENG_OK;
    for (int k = 0; k < n && !st; k++)
        if (!(branches[k] = model_arg(L, k + 2)))
            st = ENG_EARG;
    if (!st)
        st = eng_concat_new(dim, (const eng_model *const *)branches, n, slot);
    for (int k = 0; k < n; k++)
        eng_model_release(branches[k]);
    if (!st && name)
        st = eng_layer_set_name(*slot, name);
    if (st)
        return l_engine_error(L);
    return 1;
}

/* A Sequential given where a layer goes (nn.Sequential{..., nn.Sequential{...}}): pushes a
 * layer box holding it as one layer. */
void l_push_sequential_layer(lua_State *L, int idx)
{
    eng_model *m = l_check_model(L, idx);
    eng_layer **slot = l_new_layer_box(L);
    if (eng_sequential_layer_new(m, slot))
        l_engine_error(L);
}

/* One line per layer of m, "<prefix>+- name  Repr  params", containers opening a subtree. */
static void add_tree(lua_State *L, luaL_Buffer *b, const eng_model *m, const char *prefix)
{
    int width = 0;
    for (int i = 0; i < m->nlayers; i++) {
        int n = (int)strlen(m->layers[i]->name);
        width = n > width ? n : width;
    }
    for (int i = 0; i < m->nlayers; i++) {
        const eng_layer *layer = m->layers[i];
        bool last = i + 1 == m->nlayers;
        /* "\u251c\u2500", "\u2514\u2500" and "\u2502" in UTF-8: the tree's branches */
        luaL_addchar(b, '\n');
        luaL_addstring(b, prefix);
        luaL_addstring(b, last ? "\xe2\x94\x94\xe2\x94\x80 " : "\xe2\x94\x9c\xe2\x94\x80 ");
        luaL_addstring(b, layer->name);
        for (int j = (int)strlen(layer->name); j < width + 2; j++)
            luaL_addchar(b, ' ');
        char repr[512];
        eng_layer_repr(layer, repr, sizeof repr);
        luaL_addstring(b, repr);
        /* each level adds at most 5 bytes to the prefix */
        char sub[5 * (ENG_CONTAINER_MAX_DEPTH + 1) + 1];
        size_t len = strlen(prefix);
        if (eng_layer_is_container(layer) && len + 6 <= sizeof sub) {
            memcpy(sub, prefix, len);
            memcpy(sub + len, last ? "   " : "\xe2\x94\x82  ", last ? 4 : 6);
            for (int k = 0; k < eng_container_count(layer); k++) {
                const char *name = eng_container_child_name(layer, k);
                if (name[0]) {
                    luaL_addchar(b, '\n');
                    luaL_addstring(b, sub);
                    luaL_addstring(b, name);
                    luaL_addchar(b, ':');
                }
                add_tree(L, b, eng_container_child(layer, k), sub);
            }
            continue;
        }
        for (int p = 0; p < layer->nparams; p++) {
            luaL_addstring(b, p ? "  " : "   ");
            lua_pushfstring(L, "%s %s", layer->params[p].name,
                            eng_tensor_shape_str(layer->params[p].value));
            luaL_addvalue(b);
        }
    }
}

void l_add_model_tree(lua_State *L, luaL_Buffer *b, const eng_model *m)
{
    add_tree(L, b, m, "");
}

void l_nn_open_containers(lua_State *L)
{
    lua_pushcfunction(L, nn_residual);
    lua_setfield(L, -2, "Residual");
    lua_pushcfunction(L, nn_concat);
    lua_setfield(L, -2, "Concat");
}
