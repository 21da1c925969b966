/* nn.Lua: a layer whose forward and backward are Lua functions, usable inside Sequential, by
 * the gradient checker and in checkpoints like any built-in kind.
 *
 *   nn.Lua{ name = "swish",                     -- the layer's name (automatic lua_N if none)
 *           params = {weight = t, ...},         -- optional; shared with the given tensors
 *           forward = function(self, x) return y end,
 *           backward = function(self, x, y, dy) return dx, {weight = dweight, ...} end,
 *           output_shape = function(self, shape) return shape end }   -- optional
 *
 * Without output_shape the shape is learnt by running forward on the real input, once: the
 * kind sets shape_needs_data so that containers never ask before that input is computed.
 * self is the spec table itself; self.params holds the parameters (views). backward returns
 * this call's parameter gradients, which the layer adds into its own (accumulation is the C
 * layer's contract). The C vtable below calls into Lua under lua_pcall and turns Lua errors
 * into engine errors; the library itself never sees Lua. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings.h"

typedef struct script_layer {
    eng_layer base;
    lua_State *L;
    int spec_ref;            /* the spec table (functions, params, user fields) */
    char kind[ENG_NAME_MAX]; /* shown by describe */
    char names[ENG_MAX_PARAMS][ENG_NAME_MAX];
    /* Without an output_shape function the shape is known only by running forward; the
     * output of that run is kept with a copy of the input it was computed from, and forward
     * reuses it only for the same buffer holding the same values. */
    eng_tensor *cached_x;
    eng_tensor *cached_y;
    bool cache_valid;
} script_layer;

static const eng_layer_ops script_layer_ops, script_layer_ops_shape_fn;

/* The layer's name in a model, else the name given to nn.Lua. */
static const char *label(const script_layer *l)
{
    return l->base.name[0] ? l->base.name : l->kind;
}

/* Calls spec[method](spec, args...) with nargs tensors (views) and leaves nresults on the
 * stack; on a Lua error sets the engine message. */
static eng_status call(script_layer *l, const char *method, const eng_tensor *const *args,
                       int nargs, int nresults)
{
    char who[ENG_NAME_MAX + 16];
    snprintf(who, sizeof who, "lua layer '%s': ", label(l));
    return l_call_method(l->L, l->spec_ref, method, args, nargs, nresults, who);
}

/* Runs the Lua forward on x and copies its result into *y: into the given tensor when *y is
 * set (its shape must match), else into a buffer made for it (eng_tensor_ensure). */
static eng_status run_lua_forward(script_layer *l, const eng_tensor *x, eng_tensor **y,
                                  bool fixed_shape)
{
    const eng_tensor *args[1] = {x};
    eng_status st = call(l, "forward", args, 1, 1);
    if (st)
        return st;
    eng_tensor *out = l_test_tensor(l->L, -1);
    if (!out)
        st = eng_error(ENG_EARG, "lua layer '%s': forward returned %s, expected an engine.Tensor",
                       label(l), luaL_typename(l->L, -1));
    else if (out->dtype != x->dtype)
        st = eng_error(ENG_EDTYPE, "lua layer '%s': forward returned a %s tensor for a %s input",
                       label(l), eng_dtype_name(out->dtype), eng_dtype_name(x->dtype));
    else if (fixed_shape && !eng_tensor_same_shape(out, *y))
        st = eng_error(ENG_ESHAPE,
                       "lua layer '%s': forward returned %s for x %s, but its "
                       "output_shape said %s",
                       label(l), eng_tensor_shape_str(out), eng_tensor_shape_str(x),
                       eng_tensor_shape_str(*y));
    else if (!fixed_shape)
        st = eng_tensor_ensure(y, out->dtype, out->ndim, out->shape);
    if (!st)
        st = eng_tensor_copy(*y, out);
    lua_pop(l->L, 1);
    return st;
}

/* spec.output_shape(self, {sizes}) -> {sizes} */
static eng_status shape_from_function(script_layer *l, const eng_tensor *x, int *ndim,
                                      int64_t *shape)
{
    lua_State *L = l->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, l->spec_ref);
    lua_getfield(L, -1, "output_shape");
    lua_insert(L, -2);
    lua_createtable(L, x->ndim, 0);
    for (int d = 0; d < x->ndim; d++) {
        lua_pushinteger(L, x->shape[d]);
        lua_rawseti(L, -2, d + 1);
    }
    if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
        eng_status st = eng_error(ENG_ESTATE, "lua layer '%s': output_shape failed: %s", label(l),
                                  lua_tostring(L, -1) ? lua_tostring(L, -1) : "(no message)");
        lua_pop(L, 1);
        return st;
    }
    eng_status st = ENG_OK;
    lua_Integer n = lua_istable(L, -1) ? (lua_Integer)lua_rawlen(L, -1) : -1;
    if (n < 0 || n > ENG_MAX_DIMS)
        st = eng_error(ENG_EARG,
                       "lua layer '%s': output_shape must return a list of at most "
                       "%d sizes, got %s",
                       label(l), ENG_MAX_DIMS, luaL_typename(L, -1));
    for (lua_Integer d = 0; d < n && !st; d++) {
        int isint;
        lua_rawgeti(L, -1, d + 1);
        lua_Integer v = lua_tointegerx(L, -1, &isint);
        if (!isint || v < 0)
            st = eng_error(ENG_EARG,
                           "lua layer '%s': output_shape returned size %d = %s for x "
                           "%s, expected an integer >= 0",
                           label(l), (int)d + 1, luaL_tolstring(L, -1, NULL),
                           eng_tensor_shape_str(x));
        else
            shape[d] = v;
        lua_pop(L, isint ? 1 : 2);
    }
    *ndim = (int)n;
    lua_pop(L, 1);
    return st;
}

static eng_status script_layer_output_shape(const eng_layer *layer, const eng_tensor *x, int *ndim,
                                            int64_t *shape)
{
    script_layer *l = (script_layer *)layer;
    eng_status st = eng_layer_check_input(layer, x, 0, "");
    if (st)
        return st;
    if (layer->ops == &script_layer_ops_shape_fn)
        return shape_from_function(l, x, ndim, shape);
    /* Only containers that ask right before the forward, on the real input, reach here (the
     * kind sets shape_needs_data). */
    l->cache_valid = false;
    st = run_lua_forward(l, x, &l->cached_y, false);
    if (!st)
        st = eng_tensor_ensure(&l->cached_x, x->dtype, x->ndim, x->shape);
    if (!st)
        st = eng_tensor_copy(l->cached_x, x);
    if (st)
        return st;
    l->cache_valid = true;
    *ndim = l->cached_y->ndim;
    memcpy(shape, l->cached_y->shape, sizeof(int64_t) * (size_t)l->cached_y->ndim);
    return ENG_OK;
}

/* Whether the output kept by output_shape was computed from these very values. */
static bool cache_matches(const script_layer *l, const eng_tensor *x, const eng_tensor *y)
{
    return l->cache_valid && eng_tensor_same_shape(l->cached_x, x) &&
           eng_tensor_same_shape(l->cached_y, y) && eng_tensor_is_contiguous(x) &&
           memcmp(eng_tensor_data(l->cached_x), eng_tensor_data(x),
                  (size_t)eng_tensor_numel(x) * eng_dtype_size(x->dtype)) == 0;
}

static eng_status script_layer_forward(eng_layer *layer, const eng_tensor *x, eng_tensor *y,
                                       bool training)
{
    (void)training;
    script_layer *l = (script_layer *)layer;
    bool reuse = layer->ops == &script_layer_ops && cache_matches(l, x, y);
    l->cache_valid = false;
    if (reuse)
        return eng_tensor_copy(y, l->cached_y);
    return run_lua_forward(l, x, &y, true);
}

static eng_status script_layer_backward(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                                        const eng_tensor *dy, eng_tensor *dx)
{
    script_layer *l = (script_layer *)layer;
    lua_State *L = l->L;
    const eng_tensor *args[3] = {x, y, dy};
    eng_status st = call(l, "backward", args, 3, 2);
    if (st)
        return st;
    const char *name = label(l);
    if (dx) {
        eng_tensor *g = l_test_tensor(L, -2);
        if (!g)
            st = eng_error(ENG_EARG,
                           "lua layer '%s': backward returned %s as dx, expected an "
                           "engine.Tensor like x %s",
                           name, luaL_typename(L, -2), eng_tensor_shape_str(x));
        else if (!eng_tensor_same_shape(g, x))
            st = eng_error(ENG_ESHAPE, "lua layer '%s': backward returned dx %s for x %s", name,
                           eng_tensor_shape_str(g), eng_tensor_shape_str(x));
        else
            st = eng_tensor_copy(dx, g);
    }
    for (int i = 0; i < layer->nparams && !st; i++) {
        if (!lua_istable(L, -1)) {
            st = eng_error(ENG_EARG,
                           "lua layer '%s': backward must return the parameter "
                           "gradients as a second result {%s = ..., ...}",
                           name, layer->params[i].name);
            break;
        }
        lua_getfield(L, -1, layer->params[i].name);
        eng_tensor *g = l_test_tensor(L, -1);
        eng_tensor *grad = layer->params[i].grad;
        if (!g)
            st = eng_error(ENG_EARG, "lua layer '%s': no gradient for parameter '%s' (got %s)",
                           name, layer->params[i].name, luaL_typename(L, -1));
        else if (!eng_tensor_same_shape(g, grad))
            st = eng_error(ENG_ESHAPE,
                           "lua layer '%s': gradient of '%s' is %s, the parameter "
                           "is %s",
                           name, layer->params[i].name, eng_tensor_shape_str(g),
                           eng_tensor_shape_str(grad));
        else if (g->dtype != grad->dtype)
            st = eng_error(ENG_EDTYPE,
                           "lua layer '%s': gradient of '%s' is %s, the parameter "
                           "is %s",
                           name, layer->params[i].name, eng_dtype_name(g->dtype),
                           eng_dtype_name(grad->dtype));
        else
            st = eng_tensor_binary(grad, grad, g, ENG_ADD);
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
    return st;
}

static eng_status new_lua_layer(lua_State *L, int spec_ref, const char *kind,
                                const eng_layer_ops *ops, const eng_layer *like, eng_dtype dtype,
                                eng_layer **out);

static eng_status script_layer_clone(const eng_layer *layer, eng_dtype dtype, eng_layer **out)
{
    const script_layer *l = (const script_layer *)layer;
    lua_rawgeti(l->L, LUA_REGISTRYINDEX, l->spec_ref);
    int ref = luaL_ref(l->L, LUA_REGISTRYINDEX); /* the copy holds its own reference */
    return new_lua_layer(l->L, ref, l->kind, layer->ops, layer, dtype, out);
}

static eng_status script_layer_describe(const eng_layer *layer, eng_settings *s)
{
    return eng_settings_set_string(s, "lua_name", ((const script_layer *)layer)->kind);
}

static void script_layer_destroy(eng_layer *layer)
{
    script_layer *l = (script_layer *)layer;
    eng_tensor_release(l->cached_x);
    eng_tensor_release(l->cached_y);
    luaL_unref(l->L, LUA_REGISTRYINDEX, l->spec_ref);
}

#define LUA_LAYER_OPS                                                                              \
    .kind = "lua", .output_shape = script_layer_output_shape, .forward = script_layer_forward,     \
    .backward = script_layer_backward, .clone = script_layer_clone,                                \
    .destroy = script_layer_destroy, .unknown_branches = true

/* Without an output_shape function the shape comes from running forward on the real input. */
static const eng_layer_ops script_layer_ops = {LUA_LAYER_OPS, .shape_needs_data = true};
static const eng_layer_ops script_layer_ops_shape_fn = {LUA_LAYER_OPS};

/* The kind, registered by the first nn.Lua: printing and configs derive from it, and a
 * checkpoint that holds such a layer is refused on load (it has no create). */
static const eng_setting script_layer_settings[] = {
    {"lua_name", ENG_SETTING_STRING, ENG_SETTING_BARE, .def_string = "lua",
     .doc = "the name given to nn.Lua"},
    {0},
};

static const eng_layer_kind script_layer_kind = {
    .name = "lua",
    .ctor = "Lua",
    .ops = &script_layer_ops,
    .settings = script_layer_settings,
    .describe = script_layer_describe,
    .doc = "a layer whose forward and backward are Lua functions",
};

/* A layer over the spec at spec_ref (the reference passes to the layer). Parameters: views of
 * like's parameters converted to dtype when like is given (a clone), else taken later. */
static eng_status new_lua_layer(lua_State *L, int spec_ref, const char *kind,
                                const eng_layer_ops *ops, const eng_layer *like, eng_dtype dtype,
                                eng_layer **out)
{
    *out = NULL;
    script_layer *l = calloc(1, sizeof *l);
    if (!l) {
        luaL_unref(L, LUA_REGISTRYINDEX, spec_ref);
        return eng_error(ENG_ENOMEM, "lua layer: out of memory");
    }
    eng_layer_init(&l->base, ops, dtype);
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

/* spec.params of nn.Lua's spec (at 1): name -> tensor, into names and values in sorted name
 * order, so that the order is reproducible; returns their number. The field stays on the stack
 * (the names are its keys). */
static int check_params(lua_State *L, const char **names, eng_tensor **values)
{
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
            eng_tensor *t = l_test_tensor(L, -1);
            if (!t || !eng_dtype_is_float(t->dtype) || !eng_tensor_is_contiguous(t))
                return luaL_error(L,
                                  "nn.Lua: params.%s must be a contiguous f32 or f64 "
                                  "engine.Tensor, got %s",
                                  name, l_typename_of(L, -1));
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
    return n;
}

/* nn.Lua(spec) */
int l_nn_lua(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    if (eng_kind_find("lua") != &script_layer_kind && eng_kind_register(&script_layer_kind))
        return l_engine_error(L);
    if (lua_getfield(L, 1, "forward") != LUA_TFUNCTION)
        return luaL_error(L, "nn.Lua: field 'forward' must be a function, got %s",
                          luaL_typename(L, -1));
    if (lua_getfield(L, 1, "backward") != LUA_TFUNCTION)
        return luaL_error(L, "nn.Lua: field 'backward' must be a function, got %s",
                          luaL_typename(L, -1));
    lua_pop(L, 2);
    int shape_fn = lua_getfield(L, 1, "output_shape");
    if (shape_fn != LUA_TFUNCTION && shape_fn != LUA_TNIL)
        return luaL_error(L, "nn.Lua: field 'output_shape' must be a function, got %s",
                          luaL_typename(L, -1));
    lua_pop(L, 1);
    const char *kind = "lua";
    if (lua_getfield(L, 1, "name") == LUA_TSTRING)
        kind = lua_tostring(L, -1);
    else if (!lua_isnil(L, -1))
        return luaL_error(L, "nn.Lua: field 'name' must be a string, got %s", luaL_typename(L, -1));
    if (strlen(kind) >= ENG_NAME_MAX || strpbrk(kind, "./'\\\n"))
        return luaL_error(L, "nn.Lua: name '%s' must be under %d characters without . / ' or \\",
                          kind, ENG_NAME_MAX);
    const char *names[ENG_MAX_PARAMS];
    eng_tensor *values[ENG_MAX_PARAMS];
    int n = check_params(L, names, values);
    eng_dtype dtype = n ? values[0]->dtype : ENG_F32;
    for (int i = 1; i < n; i++)
        if (values[i]->dtype != dtype)
            return luaL_error(L, "nn.Lua: params.%s is %s but params.%s is %s", names[i],
                              eng_dtype_name(values[i]->dtype), names[0], eng_dtype_name(dtype));
    eng_layer **slot = l_new_layer_box(L);
    lua_pushvalue(L, 1);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    const eng_layer_ops *ops =
        shape_fn == LUA_TFUNCTION ? &script_layer_ops_shape_fn : &script_layer_ops;
    if (new_lua_layer(L, ref, kind, ops, NULL, dtype, slot))
        return l_engine_error(L);
    script_layer *l = (script_layer *)*slot;
    /* a given name is the layer's name in models, reports and checkpoints, as for built-ins */
    if (strcmp(kind, "lua") != 0 && eng_layer_set_name(&l->base, kind))
        return l_engine_error(L);
    for (int i = 0; i < n; i++) {
        eng_param *p = &l->base.params[i];
        snprintf(l->names[i], sizeof l->names[i], "%s", names[i]);
        p->name = l->names[i];
        /* shared: perturbing or updating the layer's parameter changes the given tensor */
        if (eng_tensor_view(values[i], &p->value) || eng_tensor_new_like(values[i], &p->grad))
            return l_engine_error(L);
        l->base.nparams = i + 1;
    }
    /* self.params: the same views, for the Lua functions */
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        l_push_tensor_view(L, l->base.params[i].value);
        lua_setfield(L, -2, names[i]);
    }
    lua_setfield(L, 1, "params");
    return 1;
}
