/* nn.Lua: a layer whose forward and backward are Lua functions, usable inside Sequential, by
 * the gradient checker and in checkpoints like any built-in kind.
 *
 *   nn.Lua{ name = "swish",                     -- the layer's kind name ("lua" by default)
 *           params = {weight = t, ...},         -- optional; shared with the given tensors
 *           forward = function(self, x) return y end,
 *           backward = function(self, x, y, dy) return dx, {weight = dweight, ...} end }
 *
 * self is the spec table itself; self.params holds the parameters (views). backward returns
 * this call's parameter gradients, which the layer adds into its own (accumulation is the C
 * layer's contract). The C vtable below calls into Lua under lua_pcall and turns Lua errors
 * into engine errors; the library itself never sees Lua. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings.h"

typedef struct lua_layer {
    eng_layer base;
    lua_State *L;
    int spec_ref;             /* the spec table (functions, params, user fields) */
    char kind[ENG_NAME_MAX];  /* shown by describe */
    char names[ENG_MAX_PARAMS][ENG_NAME_MAX];
    eng_tensor *cached_x;     /* output_shape runs forward once; forward then reuses it */
    eng_tensor *cached_y;
} lua_layer;

static eng_layer_ops lua_layer_ops;

/* The layer's name in a model, else the name given to nn.Lua. */
static const char *label(const lua_layer *l)
{
    return l->base.name[0] ? l->base.name : l->kind;
}

/* Calls spec[method](spec, args...) with nargs tensors (views) and leaves nresults on the
 * stack; on a Lua error sets the engine message. */
static eng_status call(lua_layer *l, const char *method, const eng_tensor *const *args,
                       int nargs, int nresults)
{
    lua_State *L = l->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, l->spec_ref);
    lua_getfield(L, -1, method);
    lua_insert(L, -2); /* function, spec */
    for (int i = 0; i < nargs; i++) {
        if (args[i])
            lua_pushtensorview(L, args[i]);
        else
            lua_pushnil(L);
    }
    if (lua_pcall(L, nargs + 1, nresults, 0) != LUA_OK) {
        eng_status st = eng_error(ENG_ESTATE, "lua layer '%s': %s failed: %s",
                                  label(l), method,
                                  lua_tostring(L, -1) ? lua_tostring(L, -1) : "(no message)");
        lua_pop(L, 1);
        return st;
    }
    return ENG_OK;
}

static eng_status run_lua_forward(lua_layer *l, const eng_tensor *x, eng_tensor **y)
{
    *y = NULL;
    const eng_tensor *args[1] = {x};
    eng_status st = call(l, "forward", args, 1, 1);
    if (st)
        return st;
    eng_tensor *out = lua_testtensor(l->L, -1);
    if (!out)
        st = eng_error(ENG_EARG, "lua layer '%s': forward returned %s, expected an engine.Tensor",
                       label(l), luaL_typename(l->L, -1));
    else if (out->dtype != x->dtype)
        st = eng_error(ENG_EDTYPE, "lua layer '%s': forward returned a %s tensor for a %s input",
                       label(l), eng_dtype_name(out->dtype),
                       eng_dtype_name(x->dtype));
    else
        st = eng_tensor_clone(out, y);
    lua_pop(l->L, 1);
    return st;
}

static void drop_cache(lua_layer *l)
{
    eng_tensor_release(l->cached_x);
    eng_tensor_release(l->cached_y);
    l->cached_x = l->cached_y = NULL;
}

static eng_status lua_layer_output_shape(const eng_layer *layer, const eng_tensor *x, int *ndim,
                                         int64_t *shape)
{
    lua_layer *l = (lua_layer *)layer;
    eng_status st = eng_layer_check_input(layer, x, 0, "");
    if (st)
        return st;
    drop_cache(l);
    eng_tensor *y;
    st = run_lua_forward(l, x, &y);
    if (st)
        return st;
    st = eng_tensor_view(x, &l->cached_x);
    if (st) {
        eng_tensor_release(y);
        return st;
    }
    l->cached_y = y;
    *ndim = y->ndim;
    memcpy(shape, y->shape, sizeof(int64_t) * (size_t)y->ndim);
    return ENG_OK;
}

static eng_status lua_layer_forward(eng_layer *layer, const eng_tensor *x, eng_tensor *y,
                                    bool training)
{
    (void)training;
    lua_layer *l = (lua_layer *)layer;
    eng_tensor *out = NULL;
    eng_status st = ENG_OK;
    /* every caller asks for the shape right before the forward, on the same x */
    if (l->cached_y && l->cached_x->storage == x->storage && l->cached_x->offset == x->offset) {
        out = l->cached_y;
        l->cached_y = NULL;
    } else {
        st = run_lua_forward(l, x, &out);
    }
    drop_cache(l);
    if (!st)
        st = eng_tensor_copy(y, out);
    eng_tensor_release(out);
    return st;
}

static eng_status lua_layer_backward(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                                     const eng_tensor *dy, eng_tensor *dx)
{
    lua_layer *l = (lua_layer *)layer;
    lua_State *L = l->L;
    const eng_tensor *args[3] = {x, y, dy};
    eng_status st = call(l, "backward", args, 3, 2);
    if (st)
        return st;
    const char *name = label(l);
    if (dx) {
        eng_tensor *g = lua_testtensor(L, -2);
        if (!g)
            st = eng_error(ENG_EARG, "lua layer '%s': backward returned %s as dx, expected an "
                           "engine.Tensor like x %s", name, luaL_typename(L, -2),
                           eng_tensor_shape_str(x));
        else if (!eng_tensor_same_shape(g, x))
            st = eng_error(ENG_ESHAPE, "lua layer '%s': backward returned dx %s for x %s", name,
                           eng_tensor_shape_str(g), eng_tensor_shape_str(x));
        else
            st = eng_tensor_copy(dx, g);
    }
    for (int i = 0; i < layer->nparams && !st; i++) {
        if (!lua_istable(L, -1)) {
            st = eng_error(ENG_EARG, "lua layer '%s': backward must return the parameter "
                           "gradients as a second result {%s = ..., ...}", name,
                           layer->params[i].name);
            break;
        }
        lua_getfield(L, -1, layer->params[i].name);
        eng_tensor *g = lua_testtensor(L, -1);
        eng_tensor *grad = layer->params[i].grad;
        if (!g)
            st = eng_error(ENG_EARG, "lua layer '%s': no gradient for parameter '%s' (got %s)",
                           name, layer->params[i].name, luaL_typename(L, -1));
        else if (!eng_tensor_same_shape(g, grad))
            st = eng_error(ENG_ESHAPE, "lua layer '%s': gradient of '%s' is %s, the parameter "
                           "is %s", name, layer->params[i].name, eng_tensor_shape_str(g),
                           eng_tensor_shape_str(grad));
        else if (g->dtype != grad->dtype)
            st = eng_error(ENG_EDTYPE, "lua layer '%s': gradient of '%s' is %s, the parameter "
                           "is %s", name, layer->params[i].name, eng_dtype_name(g->dtype),
                           eng_dtype_name(grad->dtype));
        else
            st = eng_tensor_binary(grad, grad, g, ENG_ADD);
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
    return st;
}

static eng_status new_lua_layer(lua_State *L, int spec_ref, const char *kind,
                                const eng_layer *like, eng_dtype dtype, eng_layer **out);

static eng_status lua_layer_clone(const eng_layer *layer, eng_dtype dtype, eng_layer **out)
{
    const lua_layer *l = (const lua_layer *)layer;
    lua_rawgeti(l->L, LUA_REGISTRYINDEX, l->spec_ref);
    int ref = luaL_ref(l->L, LUA_REGISTRYINDEX); /* the copy holds its own reference */
    return new_lua_layer(l->L, ref, l->kind, layer, dtype, out);
}

static eng_status lua_layer_describe(const eng_layer *layer, eng_settings *s)
{
    return eng_settings_set_string(s, "lua_name", ((const lua_layer *)layer)->kind);
}

static void lua_layer_destroy(eng_layer *layer)
{
    lua_layer *l = (lua_layer *)layer;
    drop_cache(l);
    luaL_unref(l->L, LUA_REGISTRYINDEX, l->spec_ref);
}

static eng_layer_ops lua_layer_ops = {
    .kind = "lua",
    .output_shape = lua_layer_output_shape,
    .forward = lua_layer_forward,
    .backward = lua_layer_backward,
    .clone = lua_layer_clone,
    .destroy = lua_layer_destroy,
    .unknown_branches = true,
};

/* The kind, registered by the first nn.Lua: printing and configs derive from it, and a
 * checkpoint that holds such a layer is refused on load (it has no create). */
static const eng_setting lua_layer_settings[] = {
    {"lua_name", ENG_SETTING_STRING, ENG_SETTING_BARE, .def_string = "lua",
     .doc = "the name given to nn.Lua"},
    {0},
};

static const eng_layer_kind lua_layer_kind = {
    .name = "lua",
    .ctor = "Lua",
    .ops = &lua_layer_ops,
    .settings = lua_layer_settings,
    .describe = lua_layer_describe,
    .doc = "a layer whose forward and backward are Lua functions",
};

/* A layer over the spec at spec_ref (the reference passes to the layer). Parameters: views of
 * like's parameters converted to dtype when like is given (a clone), else taken later. */
static eng_status new_lua_layer(lua_State *L, int spec_ref, const char *kind,
                                const eng_layer *like, eng_dtype dtype, eng_layer **out)
{
    *out = NULL;
    lua_layer *l = calloc(1, sizeof *l);
    if (!l) {
        luaL_unref(L, LUA_REGISTRYINDEX, spec_ref);
        return eng_error(ENG_ENOMEM, "lua layer: out of memory");
    }
    eng_layer_init(&l->base, &lua_layer_ops, dtype);
    l->L = L;
    l->spec_ref = spec_ref;
    snprintf(l->kind, sizeof l->kind, "%s", kind);
    eng_status st = ENG_OK;
    for (int i = 0; like && i < like->nparams && !st; i++) {
        eng_param *p = &l->base.params[i];
        snprintf(l->names[i], sizeof l->names[i], "%s", like->params[i].name);
        p->name = l->names[i];
        st = eng_tensor_to(like->params[i].value, dtype, &p->value);
        if (!st)
            st = eng_tensor_new_like(p->value, &p->grad);
        l->base.nparams = i + 1;
    }
    if (st) {
        eng_layer_release(&l->base);
        return st;
    }
    *out = &l->base;
    return ENG_OK;
}

/* nn.Lua(spec) */
int lua_nn_lua(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    if (eng_kind_find("lua") != &lua_layer_kind && eng_kind_register(&lua_layer_kind))
        return lua_engerror(L);
    if (lua_getfield(L, 1, "forward") != LUA_TFUNCTION)
        return luaL_error(L, "nn.Lua: field 'forward' must be a function, got %s",
                          luaL_typename(L, -1));
    if (lua_getfield(L, 1, "backward") != LUA_TFUNCTION)
        return luaL_error(L, "nn.Lua: field 'backward' must be a function, got %s",
                          luaL_typename(L, -1));
    lua_pop(L, 2);
    const char *kind = "lua";
    if (lua_getfield(L, 1, "name") == LUA_TSTRING)
        kind = lua_tostring(L, -1);
    else if (!lua_isnil(L, -1))
        return luaL_error(L, "nn.Lua: field 'name' must be a string, got %s", luaL_typename(L, -1));
    if (strlen(kind) >= ENG_NAME_MAX || strpbrk(kind, "./'\\\n"))
        return luaL_error(L, "nn.Lua: name '%s' must be under %d characters without . / ' or \\",
                          kind, ENG_NAME_MAX);
    /* parameters: name -> tensor, in sorted name order so that the order is reproducible */
    const char *names[ENG_MAX_PARAMS];
    eng_tensor *values[ENG_MAX_PARAMS];
    int n = 0;
    int type = lua_getfield(L, 1, "params");
    if (type == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            if (n == ENG_MAX_PARAMS)
                return luaL_error(L, "nn.Lua: at most %d parameters", ENG_MAX_PARAMS);
            if (lua_type(L, -2) != LUA_TSTRING)
                return luaL_error(L, "nn.Lua: params must map names to tensors");
            const char *name = lua_tostring(L, -2);
            eng_tensor *t = lua_testtensor(L, -1);
            if (!t || !eng_dtype_is_float(t->dtype) || !eng_tensor_is_contiguous(t))
                return luaL_error(L, "nn.Lua: params.%s must be a contiguous f32 or f64 "
                                  "engine.Tensor, got %s", name, lua_typenameof(L, -1));
            if (strlen(name) >= ENG_NAME_MAX || strchr(name, '.') || strchr(name, '/'))
                return luaL_error(L, "nn.Lua: parameter name '%s' is too long or has '.' or '/'",
                                  name);
            int at = n++;
            while (at > 0 && strcmp(names[at - 1], name) > 0) {
                names[at] = names[at - 1];
                values[at] = values[at - 1];
                at--;
            }
            names[at] = name; /* the key stays referenced by the params table */
            values[at] = t;
            lua_pop(L, 1);
        }
    } else if (type != LUA_TNIL) {
        return luaL_error(L, "nn.Lua: field 'params' must be a table, got %s",
                          lua_typename(L, type));
    }
    eng_dtype dtype = n ? values[0]->dtype : ENG_F32;
    for (int i = 1; i < n; i++)
        if (values[i]->dtype != dtype)
            return luaL_error(L, "nn.Lua: params.%s is %s but params.%s is %s", names[i],
                              eng_dtype_name(values[i]->dtype), names[0],
                              eng_dtype_name(dtype));
    eng_layer **slot = lua_newlayerbox(L);
    lua_pushvalue(L, 1);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (new_lua_layer(L, ref, kind, NULL, dtype, slot))
        return lua_engerror(L);
    lua_layer *l = (lua_layer *)*slot;
    for (int i = 0; i < n; i++) {
        eng_param *p = &l->base.params[i];
        snprintf(l->names[i], sizeof l->names[i], "%s", names[i]);
        p->name = l->names[i];
        /* shared: perturbing or updating the layer's parameter changes the given tensor */
        if (eng_tensor_view(values[i], &p->value) || eng_tensor_new_like(values[i], &p->grad))
            return lua_engerror(L);
        l->base.nparams = i + 1;
    }
    /* self.params: the same views, for the Lua functions */
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        lua_pushtensorview(L, l->base.params[i].value);
        lua_setfield(L, -2, names[i]);
    }
    lua_setfield(L, 1, "params");
    return 1;
}
