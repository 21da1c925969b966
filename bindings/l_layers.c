/* engine.nn constructors and printing of the layer kinds of issue 15: BatchNorm1d/2d,
 * LayerNorm, GELU, Softmax, LogSoftmax, Embedding, AdaptiveAvgPool2d. Registered into the nn
 * table by luaopen_engine_nn. */
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

/* nn.LayerNorm(shape [, {eps=1e-5, elementwise_affine=true, dtype=, name=}]): shape an
 * integer or a list of integers. */
static int nn_layernorm(lua_State *L)
{
    static const char *const names[] = {"eps", "elementwise_affine", "dtype", "name", NULL};
    int64_t shape[ENG_MAX_DIMS];
    int ndim = 0;
    if (lua_type(L, 1) == LUA_TTABLE) {
        ndim = (int)luaL_len(L, 1);
        luaL_argcheck(L, ndim >= 1 && ndim < ENG_MAX_DIMS, 1, "LayerNorm: 1 to 7 sizes expected");
        for (int i = 0; i < ndim; i++) {
            lua_geti(L, 1, i + 1);
            int isint;
            shape[i] = (int64_t)lua_tointegerx(L, -1, &isint);
            luaL_argcheck(L, isint, 1, "LayerNorm: normalized_shape must hold integers");
            lua_pop(L, 1);
        }
    } else {
        shape[ndim++] = lua_checkint(L, 1);
    }
    lua_checkoptions(L, 2, "LayerNorm", names);
    double eps = lua_optnumberfield(L, 2, "LayerNorm", "eps", 1e-5);
    bool affine = lua_optbooleanfield(L, 2, "LayerNorm", "elementwise_affine", true);
    eng_dtype dtype = opt_dtype(L, 2, "LayerNorm");
    const char *name = lua_optstringfield(L, 2, "LayerNorm", "name", NULL);
    eng_layer **slot = lua_newlayerbox(L);
    return finish(L, eng_layernorm_new(ndim, shape, eps, affine, dtype, slot), slot, name);
}

/* nn.GELU([{approximate='none'|'tanh', name=}]) */
static int nn_gelu(lua_State *L)
{
    static const char *const names[] = {"approximate", "name", NULL};
    lua_checkoptions(L, 1, "GELU", names);
    const char *approx = lua_optstringfield(L, 1, "GELU", "approximate", "none");
    if (strcmp(approx, "none") != 0 && strcmp(approx, "tanh") != 0)
        return luaL_error(L, "GELU: approximate '%s' (expected 'none' or 'tanh')", approx);
    const char *name = lua_optstringfield(L, 1, "GELU", "name", NULL);
    eng_layer **slot = lua_newlayerbox(L);
    return finish(L, eng_gelu_new(approx[0] == 't', slot), slot, name);
}

/* nn.Softmax([{dim=, name=}]), nn.LogSoftmax(...); dim is 1-based (Lua's convention, as
 * Torch7), negative counts from the end; upvalue 1: whether log. */
static int nn_softmax(lua_State *L)
{
    static const char *const names[] = {"dim", "name", NULL};
    bool log = lua_tointeger(L, lua_upvalueindex(1)) != 0;
    const char *fname = log ? "LogSoftmax" : "Softmax";
    lua_checkoptions(L, 1, fname, names);
    bool has_dim = lua_hasfield(L, 1, "dim");
    lua_Integer d = lua_optintegerfield(L, 1, fname, "dim", 0);
    if (has_dim && (d == 0 || d > ENG_MAX_DIMS || d < -ENG_MAX_DIMS))
        return luaL_error(L, "%s: dim %d (1-based, or negative from the end)", fname, (int)d);
    int dim = d > 0 ? (int)d - 1 : (int)d;
    const char *name = lua_optstringfield(L, 1, fname, "name", NULL);
    eng_layer **slot = lua_newlayerbox(L);
    eng_status st = log ? eng_log_softmax_new(has_dim ? &dim : NULL, slot)
                        : eng_softmax_new(has_dim ? &dim : NULL, slot);
    return finish(L, st, slot, name);
}

/* nn.Embedding(n, d [, {padding_idx=, dtype=, name=}]): the indices fed to it and
 * padding_idx are tensor data, 0-based as class labels are (negative counts from the end). */
static int nn_embedding(lua_State *L)
{
    static const char *const names[] = {"padding_idx", "dtype", "name", NULL};
    int n = lua_checkint(L, 1), d = lua_checkint(L, 2);
    lua_checkoptions(L, 3, "Embedding", names);
    int pad = ENG_EMBEDDING_NO_PADDING;
    if (lua_hasfield(L, 3, "padding_idx")) {
        lua_Integer p = lua_optintegerfield(L, 3, "Embedding", "padding_idx", 0);
        luaL_argcheck(L, p >= -n && p < n, 3, "Embedding: padding_idx out of range");
        pad = (int)p;
    }
    eng_dtype dtype = opt_dtype(L, 3, "Embedding");
    const char *name = lua_optstringfield(L, 3, "Embedding", "name", NULL);
    eng_layer **slot = lua_newlayerbox(L);
    return finish(L, eng_embedding_new(n, d, pad, dtype, NULL, slot), slot, name);
}

/* nn.AdaptiveAvgPool2d(size [, {name=}]): size an integer or {oh, ow} */
static int nn_adaptive_avgpool2d(lua_State *L)
{
    static const char *const names[] = {"name", NULL};
    int oh, ow;
    lua_checkpair(L, 1, "AdaptiveAvgPool2d", "output_size", 1, &oh, &ow);
    lua_checkoptions(L, 2, "AdaptiveAvgPool2d", names);
    const char *name = lua_optstringfield(L, 2, "AdaptiveAvgPool2d", "name", NULL);
    eng_layer **slot = lua_newlayerbox(L);
    return finish(L, eng_adaptive_avgpool2d_new(oh, ow, slot), slot, name);
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
    if (strcmp(kind, "layernorm") == 0) {
        lua_getfield(L, -1, "normalized_shape");
        size_t n = (size_t)snprintf(buf, size, "LayerNorm((");
        for (lua_Integer i = 1; i <= luaL_len(L, -1) && n < size; i++) {
            lua_geti(L, -1, i);
            n += (size_t)snprintf(buf + n, size - n, "%s%d%s", i > 1 ? ", " : "",
                                  (int)lua_tointeger(L, -1), luaL_len(L, -2) == 1 ? "," : "");
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        if (n < size)
            snprintf(buf + n, size - n, "), eps=%g, elementwise_affine=%s)",
                     field_number(L, "eps"),
                     field_boolean(L, "elementwise_affine") ? "true" : "false");
        return true;
    }
    if (strcmp(kind, "gelu") == 0) {
        lua_getfield(L, -1, "approximate");
        snprintf(buf, size, "GELU(approximate='%s')", lua_tostring(L, -1));
        lua_pop(L, 1);
        return true;
    }
    if (strcmp(kind, "softmax") == 0 || strcmp(kind, "log_softmax") == 0) {
        const char *cls = kind[0] == 'l' ? "LogSoftmax" : "Softmax";
        lua_getfield(L, -1, "dim");
        if (lua_isinteger(L, -1)) { /* 1-based, as given */
            snprintf(buf, size, "%s(dim=%d)", cls, (int)lua_tointeger(L, -1));
        } else {
            snprintf(buf, size, "%s(dim=None)", cls);
        }
        lua_pop(L, 1);
        return true;
    }
    if (strcmp(kind, "embedding") == 0) {
        int n = (int)field_number(L, "num_embeddings");
        int pad = (int)field_number(L, "padding_idx");
        lua_getfield(L, -1, "padding_idx");
        bool has_pad = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (has_pad)
            snprintf(buf, size, "Embedding(%d, %d, padding_idx=%d)", n,
                     (int)field_number(L, "embedding_dim"), pad);
        else
            snprintf(buf, size, "Embedding(%d, %d)", n, (int)field_number(L, "embedding_dim"));
        return true;
    }
    if (strcmp(kind, "adaptive_avgpool2d") == 0) {
        lua_getfield(L, -1, "output_size");
        lua_geti(L, -1, 1);
        lua_geti(L, -2, 2);
        snprintf(buf, size, "AdaptiveAvgPool2d(output_size=(%d, %d))", (int)lua_tointeger(L, -2),
                 (int)lua_tointeger(L, -1));
        lua_pop(L, 3);
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
    set_closure(L, "Softmax", nn_softmax, 0);
    set_closure(L, "LogSoftmax", nn_softmax, 1);
    lua_pushcfunction(L, nn_layernorm);
    lua_setfield(L, -2, "LayerNorm");
    lua_pushcfunction(L, nn_gelu);
    lua_setfield(L, -2, "GELU");
    lua_pushcfunction(L, nn_embedding);
    lua_setfield(L, -2, "Embedding");
    lua_pushcfunction(L, nn_adaptive_avgpool2d);
    lua_setfield(L, -2, "AdaptiveAvgPool2d");
    add_method(L, ENG_LUA_LAYER, "buffers", layer_buffers);
    add_method(L, ENG_LUA_SEQUENTIAL, "buffers", model_buffers);
}
