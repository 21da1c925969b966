/* engine.gradcheck: criteria and objectives written in Lua. A Lua criterion (a table with
 * forward and backward) stands in for an engine.Loss in gradcheck.check; an objective
 * function is what gradcheck.check_function checks. Both call back into Lua under pcall and
 * turn a Lua error into an eng_status, so the checker frees its state before Lua unwinds. */
#include <stdlib.h>
#include <string.h>

#include "l_gradcheck.h"

#define CHECK_FUNCTION_SAMPLES 32 /* elements per tensor that check_function checks by default */

/* ---- criteria written in Lua: a table with forward(self, input, target) -> number and
 * backward(self, input, target) -> dinput ---- */

typedef struct l_loss {
    eng_loss base;
    lua_State *L;
    int ref; /* the table */
} l_loss;

/* Calls criterion[method](criterion, input, target), leaving one result on the stack. */
static eng_status call_lua_loss(l_loss *ll, const char *method, const eng_tensor *input,
                                const eng_tensor *target)
{
    const eng_tensor *args[2] = {input, target};
    return l_call_method(ll->L, ll->ref, method, args, 2, 1, "gradcheck: the criterion's ");
}

static eng_status l_loss_forward(eng_loss *loss, const eng_tensor *input, const eng_tensor *target,
                                 double *value)
{
    l_loss *ll = (l_loss *)loss;
    eng_status st = call_lua_loss(ll, "forward", input, target);
    if (st)
        return st;
    int isnum = 0;
    *value = lua_tonumberx(ll->L, -1, &isnum);
    if (!isnum)
        st = eng_error(ENG_EARG,
                       "gradcheck: the criterion's forward returned %s, expected a "
                       "number",
                       luaL_typename(ll->L, -1));
    lua_pop(ll->L, 1);
    return st;
}

static eng_status l_loss_backward(eng_loss *loss, const eng_tensor *input, const eng_tensor *target,
                                  eng_tensor *dinput)
{
    l_loss *ll = (l_loss *)loss;
    eng_status st = call_lua_loss(ll, "backward", input, target);
    if (st)
        return st;
    eng_tensor *g = l_test_tensor(ll->L, -1);
    if (!g)
        st = eng_error(ENG_EARG,
                       "gradcheck: the criterion's backward returned %s, expected an "
                       "engine.Tensor like its input",
                       luaL_typename(ll->L, -1));
    else if (!eng_tensor_same_shape(g, dinput))
        st = eng_error(ENG_ESHAPE,
                       "gradcheck: the criterion's backward returned %s, its input "
                       "is %s",
                       eng_tensor_shape_str(g), eng_tensor_shape_str(dinput));
    else
        st = eng_tensor_copy(dinput, g);
    lua_pop(ll->L, 1);
    return st;
}

static void l_loss_destroy(eng_loss *loss)
{
    l_loss *ll = (l_loss *)loss;
    luaL_unref(ll->L, LUA_REGISTRYINDEX, ll->ref);
}

static const eng_loss_ops l_loss_ops = {
    .kind = "lua",
    .forward = l_loss_forward,
    .backward = l_loss_backward,
    .destroy = l_loss_destroy,
};

/* The criterion at arg (l_gradcheck.h). */
eng_loss *l_gc_check_criterion(lua_State *L, int arg, eng_loss **owned)
{
    *owned = NULL;
    if (!lua_istable(L, arg))
        return l_check_loss(L, arg);
    for (int k = 0; k < 2; k++) {
        const char *method = k ? "backward" : "forward";
        if (lua_getfield(L, arg, method) != LUA_TFUNCTION)
            luaL_error(L,
                       "check: the criterion table has no function '%s' (a Lua criterion "
                       "needs forward(self, input, target) and backward(self, input, target))",
                       method);
        lua_pop(L, 1);
    }
    l_loss *ll = calloc(1, sizeof *ll);
    if (!ll)
        luaL_error(L, "check: out of memory");
    ll->base.ops = &l_loss_ops;
    ll->L = L;
    lua_pushvalue(L, arg);
    ll->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    *owned = &ll->base;
    return *owned;
}

/* ---- objectives written in Lua: f() returns loss, {grad1, grad2, ...} ---- */

typedef struct l_objective {
    lua_State *L;
    int fn_ref;
    int sample_ref; /* options.sample_loss, LUA_NOREF when absent */
    int ntensors;
    eng_tensor **grads; /* owned copies of the last gradients */
} l_objective;

/* Calls f and leaves its results on the stack (2 values); on an error, leaves the message in
 * eng_errmsg and pops it. */
static eng_status call_objective(l_objective *lo, bool want_grads, double *loss)
{
    lua_State *L = lo->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, lo->fn_ref);
    if (lua_pcall(L, 0, 2, 0) != LUA_OK) {
        eng_status st = eng_error(ENG_ESTATE, "gradcheck: the objective function failed: %s",
                                  lua_tostring(L, -1) ? lua_tostring(L, -1) : "(no message)");
        lua_pop(L, 1);
        return st;
    }
    int isnum = 0;
    *loss = lua_tonumberx(L, -2, &isnum);
    eng_status st = ENG_OK;
    if (!isnum)
        st = eng_error(ENG_EARG,
                       "gradcheck: the objective function returned %s instead of a "
                       "number (the loss)",
                       luaL_typename(L, -2));
    else if (want_grads && !lua_istable(L, -1))
        st = eng_error(ENG_EARG,
                       "gradcheck: the objective function's second result is %s, "
                       "expected a list of gradient tensors",
                       luaL_typename(L, -1));
    if (!st && want_grads) {
        for (int i = 0; i < lo->ntensors && !st; i++) {
            lua_geti(L, -1, i + 1);
            eng_tensor *g = l_test_tensor(L, -1);
            if (!g)
                st = eng_error(ENG_EARG, "gradcheck: gradient %d is %s, expected an engine.Tensor",
                               i + 1, luaL_typename(L, -1));
            else if (!eng_tensor_same_shape(g, lo->grads[i]))
                st = eng_error(ENG_ESHAPE, "gradcheck: gradient %d is %s, its tensor is %s", i + 1,
                               eng_tensor_shape_str(g), eng_tensor_shape_str(lo->grads[i]));
            else
                st = eng_tensor_copy(lo->grads[i], g);
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 2);
    return st;
}

static eng_status l_obj_loss(eng_gc_objective *obj, double *value)
{
    return call_objective(obj->ctx, false, value);
}

static eng_status l_obj_loss_at(eng_gc_objective *obj, int t, int64_t index, double delta,
                                double *value, uint64_t *signature)
{
    eng_tensor *v = obj->tensors[t].value;
    double old = eng_tensor_get_flat(v, index);
    eng_tensor_set_flat(v, index, old + delta);
    eng_status st = call_objective(obj->ctx, false, value);
    eng_tensor_set_flat(v, index, old);
    if (signature)
        *signature = 0;
    return st;
}

static eng_status l_obj_gradient(eng_gc_objective *obj)
{
    double loss;
    return call_objective(obj->ctx, true, &loss);
}

/* options.sample_loss(s): the loss of sample s (1-based) alone, at the current values. */
static eng_status l_obj_sample_loss_at(eng_gc_objective *obj, int64_t s, int t, int64_t index,
                                       double delta, double *value)
{
    l_objective *lo = obj->ctx;
    lua_State *L = lo->L;
    eng_tensor *v = obj->tensors[t].value;
    double old = eng_tensor_get_flat(v, index);
    eng_tensor_set_flat(v, index, old + delta);
    lua_rawgeti(L, LUA_REGISTRYINDEX, lo->sample_ref);
    lua_pushinteger(L, (lua_Integer)s + 1);
    int rc = lua_pcall(L, 1, 1, 0);
    eng_tensor_set_flat(v, index, old);
    eng_status st = ENG_OK;
    int isnum = 0;
    if (rc != LUA_OK)
        st = eng_error(ENG_ESTATE, "gradcheck: options.sample_loss failed: %s",
                       lua_tostring(L, -1) ? lua_tostring(L, -1) : "(no message)");
    else if (*value = lua_tonumberx(L, -1, &isnum), !isnum)
        st = eng_error(ENG_EARG, "gradcheck: options.sample_loss returned %s, expected a number",
                       luaL_typename(L, -1));
    lua_pop(L, 1);
    return st;
}

static void l_obj_destroy(eng_gc_objective *obj)
{
    l_objective *lo = obj->ctx;
    if (!lo)
        return;
    luaL_unref(lo->L, LUA_REGISTRYINDEX, lo->fn_ref);
    luaL_unref(lo->L, LUA_REGISTRYINDEX, lo->sample_ref);
    for (int i = 0; i < lo->ntensors; i++)
        eng_tensor_release(lo->grads[i]);
    free(lo->grads);
    free(lo);
}

/* A new objective calling the function at arg 1, with options.sample_loss (arg 3) when given,
 * room for n tensors and no tensors yet; raises a Lua error (after freeing) on failure. */
static eng_gc_objective *new_lua_objective(lua_State *L, int n)
{
    eng_gc_objective *obj = calloc(1, sizeof *obj);
    l_objective *lo = calloc(1, sizeof *lo);
    if (obj) {
        obj->tensors = calloc((size_t)n, sizeof *obj->tensors);
        obj->ctx = lo;
        obj->destroy = l_obj_destroy;
    }
    if (lo)
        lo->grads = calloc((size_t)n, sizeof *lo->grads);
    if (!obj || !lo || !obj->tensors || !lo->grads) {
        if (obj && !lo)
            obj->destroy = NULL;
        eng_gc_objective_release(obj);
        luaL_error(L, "check_function: out of memory");
        return NULL;
    }
    lo->L = L;
    lua_pushvalue(L, 1);
    lo->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lo->sample_ref = LUA_NOREF;
    if (lua_istable(L, 3)) {
        int type = lua_getfield(L, 3, "sample_loss");
        if (type == LUA_TFUNCTION) {
            lo->sample_ref = luaL_ref(L, LUA_REGISTRYINDEX);
            obj->sample_loss_at = l_obj_sample_loss_at;
        } else {
            lua_pop(L, 1);
            if (type != LUA_TNIL) {
                eng_gc_objective_release(obj);
                luaL_error(L, "check_function: option 'sample_loss' must be a function, got %s",
                           lua_typename(L, type));
                return NULL;
            }
        }
    }
    return obj;
}

/* Adds the n tensors of the list at arg 2 (named by options.names) to obj; raises a Lua error
 * (after releasing obj) on failure. */
static void add_lua_tensors(lua_State *L, eng_gc_objective *obj, int n)
{
    l_objective *lo = obj->ctx;
    obj->ntensors = n;
    obj->dtype = ENG_F32;
    for (int i = 0; i < n; i++) {
        lua_geti(L, 2, i + 1);
        eng_tensor *t = l_test_tensor(L, -1);
        lua_pop(L, 1); /* the list keeps the box alive during the check */
        if (!eng_dtype_is_float(t->dtype) || eng_tensor_new_like(t, &lo->grads[i])) {
            eng_gc_objective_release(obj);
            if (!eng_dtype_is_float(t->dtype))
                luaL_error(L, "check_function: tensors[%d] has dtype %s (f32 or f64 expected)",
                           i + 1, eng_dtype_name(t->dtype));
            l_engine_error(L);
            return;
        }
        lo->ntensors = i + 1;
        snprintf(obj->tensors[i].name, sizeof obj->tensors[i].name, "tensor_%d", i + 1);
        if (lua_istable(L, 3) && lua_getfield(L, 3, "names") == LUA_TTABLE) {
            lua_geti(L, -1, i + 1);
            if (lua_type(L, -1) == LUA_TSTRING)
                snprintf(obj->tensors[i].name, sizeof obj->tensors[i].name, "%s",
                         lua_tostring(L, -1));
            lua_pop(L, 1);
        }
        if (lua_istable(L, 3))
            lua_pop(L, 1);
        obj->tensors[i].layer_index = -1;
        obj->tensors[i].value = t;
        obj->tensors[i].grad = lo->grads[i];
        if (t->dtype == ENG_F64)
            obj->dtype = ENG_F64;
    }
}

/* gradcheck.check_function(f, tensors [, options]): tensors is a list of tensors (named by
 * options.names; options.batch names the batch size, and options.sample_loss(s), the loss of
 * sample s alone, lets the diagnosis recognise one sample's gradient); f() reads them (the
 * checker perturbs them in place) and returns the loss and a list of gradients in the same
 * order. */
int l_gc_check_function(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    luaL_checktype(L, 2, LUA_TTABLE);
    eng_gc_options o = l_gc_read_options(L, 3, "check_function");
    int directions;
    l_gc_mode m = l_gc_read_mode(L, 3, "check_function", &directions);
    int n = (int)luaL_len(L, 2);
    if (n == 0)
        return luaL_error(L, "check_function: no tensors to check (argument 2 is an empty list)");
    for (int i = 1; i <= n; i++) {
        lua_geti(L, 2, i);
        if (!l_test_tensor(L, -1))
            return luaL_error(L, "check_function: tensors[%d] is %s, expected an engine.Tensor", i,
                              l_typename_of(L, -1));
        lua_pop(L, 1);
    }
    eng_gc_objective *obj = new_lua_objective(L, n);
    add_lua_tensors(L, obj, n);
    obj->loss = l_obj_loss;
    obj->loss_at = l_obj_loss_at;
    obj->gradient = l_obj_gradient;
    obj->has_signatures = false;
    /* Every evaluation runs f whole (no prefix caching, no one-element update): by default a
     * stratified sample of each tensor, decided by the tensor-level statistics; the report
     * states the coverage. full = true (or samples) checks more. */
    if (o.samples == 0 && !o.full)
        o.samples = CHECK_FUNCTION_SAMPLES;
    /* the batch size, if the caller names it, lets a factor N be recognised */
    obj->batch = l_opt_integer_field(L, 3, "check_function", "batch", 0);
    return l_gc_run_and_push(L, obj, &o, m, directions);
}
