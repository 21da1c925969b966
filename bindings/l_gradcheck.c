/* engine.gradcheck: the gradient checker from Lua. Reports come back as plain Lua tables (a
 * person can read them with print, a script can test report.ok), with 1-based indices. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bindings.h"
#include "gradcheck/gradcheck.h"
#include "io/plot.h"

#define CHECK_FUNCTION_SAMPLES 32 /* elements per tensor that check_function checks by default */

static const char *const check_options[] = {
    "samples", "seed", "step", "rtol", "nsigma", "worst", "only", "input", "mode",
    "directions", "names", "batch", "sample_loss", "exclude", "full", "localise",
    "loss_scale", NULL};

static eng_gc_options read_options(lua_State *L, int arg, const char *fname)
{
    l_check_options(L, arg, fname, check_options);
    eng_gc_options o = {0};
    o.samples = l_opt_integer_field(L, arg, fname, "samples", 0);
    o.seed = (uint64_t)l_opt_integer_field(L, arg, fname, "seed", 0);
    o.step = l_opt_number_field(L, arg, fname, "step", 0);
    o.rtol = l_opt_number_field(L, arg, fname, "rtol", 0);
    o.nsigma = l_opt_number_field(L, arg, fname, "nsigma", 0);
    o.worst = (int)l_opt_integer_field(L, arg, fname, "worst", 0);
    o.only = l_opt_string_field(L, arg, fname, "only", NULL);
    o.exclude = l_opt_string_field(L, arg, fname, "exclude", NULL);
    o.full = l_opt_boolean_field(L, arg, fname, "full", false);
    o.no_localise = !l_opt_boolean_field(L, arg, fname, "localise", true);
    if (o.samples < 0)
        luaL_error(L, "%s: option 'samples' must be >= 0 (0 = every element), got %I", fname,
                   (lua_Integer)o.samples);
    if (o.step < 0 || o.rtol < 0 || o.nsigma < 0)
        luaL_error(L, "%s: options 'step', 'rtol' and 'nsigma' may not be negative", fname);
    return o;
}

static void set_number(lua_State *L, const char *key, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, key);
}

static void set_integer(lua_State *L, const char *key, int64_t v)
{
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, key);
}

static void set_string(lua_State *L, const char *key, const char *v)
{
    if (v && v[0]) {
        lua_pushstring(L, v);
        lua_setfield(L, -2, key);
    }
}

static int report_tostring(lua_State *L)
{
    lua_getfield(L, 1, "text");
    return 1;
}

/* Pushes the report as a table (the caller still owns r). */
static void push_report(lua_State *L, const eng_gc_report *r);

static void push_report(lua_State *L, const eng_gc_report *r)
{
    lua_createtable(L, 0, 16);
    lua_pushboolean(L, r->ok);
    lua_setfield(L, -2, "ok");
    set_string(L, "verdict", eng_gc_verdict_name(r->verdict));
    set_string(L, "mode", r->mode);
    set_string(L, "dtype", eng_dtype_name(r->dtype));
    set_number(L, "loss", r->loss);
    set_number(L, "loss_noise", r->loss_noise);
    lua_pushboolean(L, r->nondeterministic);
    lua_setfield(L, -2, "nondeterministic");
    lua_pushboolean(L, r->kink_free);
    lua_setfield(L, -2, "kink_free");
    set_string(L, "culprit", r->culprit);
    set_string(L, "culprit_tensor", r->culprit_tensor);
    set_string(L, "localisation", r->localisation);
    if (r->localised) {
        push_report(L, r->localised);
        lua_setfield(L, -2, "localised");
    }
    set_string(L, "warning", r->warning);
    set_string(L, "summary", r->summary);
    set_string(L, "first_failing", r->first_failing);
    set_integer(L, "evaluations", r->evaluations);
    set_integer(L, "elements_checked", r->elements_checked);
    set_integer(L, "elements_total", r->elements_total);
    set_number(L, "seconds", r->seconds);
    if (r->directions) {
        set_integer(L, "directions", r->directions);
        set_integer(L, "directions_failed", r->directions_failed);
    }
    lua_createtable(L, r->ntensors, r->ntensors);
    for (int i = 0; i < r->ntensors; i++) {
        const eng_gc_tensor_report *t = &r->tensors[i];
        lua_createtable(L, 0, 20);
        set_string(L, "name", t->name);
        set_string(L, "layer", t->layer);
        set_integer(L, "layer_index", t->layer_index + 1);
        l_push_shape(L, t->ndim, t->shape);
        lua_setfield(L, -2, "shape");
        set_string(L, "verdict", eng_gc_verdict_name(t->verdict));
        set_number(L, "step", t->step);
        set_number(L, "noise_floor", t->noise_floor);
        set_integer(L, "checked", t->checked);
        set_integer(L, "passed", t->passed);
        set_integer(L, "failed", t->failed);
        set_integer(L, "inconclusive", t->inconclusive);
        set_integer(L, "kinks", t->kinks);
        set_number(L, "max_rel", t->max_rel);
        set_number(L, "median_rel", t->median_rel);
        set_number(L, "ratio", t->ratio);
        set_number(L, "ratio_error", t->ratio_error);
        set_number(L, "chi2", t->chi2);
        set_number(L, "chi2_limit", t->chi2_limit);
        set_integer(L, "dof", t->dof);
        lua_pushboolean(L, t->tensor_level);
        lua_setfield(L, -2, "tensor_level");
        set_number(L, "grad_rms", t->grad_rms);
        set_string(L, "diagnosis", t->diagnosis);
        set_string(L, "advice", t->advice);
        lua_createtable(L, t->nworst, 0);
        for (int k = 0; k < t->nworst; k++) {
            const eng_gc_element *e = &t->worst[k];
            lua_createtable(L, 0, 6);
            int64_t idx[ENG_MAX_DIMS], flat = e->index;
            for (int d = t->ndim - 1; d >= 0; d--) {
                idx[d] = t->shape[d] ? flat % t->shape[d] + 1 : 1;
                flat = t->shape[d] ? flat / t->shape[d] : 0;
            }
            l_push_shape(L, t->ndim, idx);
            lua_setfield(L, -2, "index");
            set_number(L, "numerical", e->numerical);
            set_number(L, "error", e->error);
            set_number(L, "analytic", e->analytic);
            set_number(L, "rel_error", e->rel_error);
            set_string(L, "verdict", eng_gc_verdict_name(e->verdict));
            lua_rawseti(L, -2, k + 1);
        }
        lua_setfield(L, -2, "worst");
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, t->name); /* tensors["conv2d_1.weight"] as well as tensors[i] */
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "tensors");
    size_t n = eng_gc_report_format(r, true, NULL, 0);
    char *text = malloc(n + 1);
    if (text) {
        eng_gc_report_format(r, true, text, n + 1);
        lua_pushlstring(L, text, n);
        free(text);
        lua_setfield(L, -2, "text");
    }
    luaL_getmetatable(L, "engine.GradcheckReport"); /* made by luaopen_engine_gradcheck */
    lua_setmetatable(L, -2);
}

/* Runs one check on an objective built by the caller, then pushes the report. Objectives and
 * reports are freed before any Lua error is raised. */
typedef enum mode { MODE_ELEMENT, MODE_DIRECTIONAL } mode;

static int run_and_push(lua_State *L, eng_gc_objective *obj, const eng_gc_options *o, mode m,
                        int directions)
{
    eng_gc_report *r = NULL;
    eng_status st = m == MODE_DIRECTIONAL ? eng_gc_check_directions(obj, directions, o, &r)
                                          : eng_gc_check(obj, o, &r);
    eng_gc_objective_release(obj);
    if (st)
        return l_engine_error(L);
    push_report(L, r);
    eng_gc_report_free(r);
    return 1;
}

/* Records what a report was computed from (argument positions, 0 for none) in hidden fields
 * of the report on the stack top, for report:save. */
static void keep_inputs(lua_State *L, int model, int criterion, int x, int target, int options)
{
    const int args[5] = {model, criterion, x, target, options};
    const char *const names[5] = {"_model", "_criterion", "_x", "_y", "_options"};
    for (int i = 0; i < 5; i++) {
        if (args[i] && !lua_isnoneornil(L, args[i])) {
            lua_pushvalue(L, args[i]);
            lua_setfield(L, -2, names[i]);
        }
    }
}

static mode read_mode(lua_State *L, int arg, const char *fname, int *directions)
{
    const char *m = l_opt_string_field(L, arg, fname, "mode", "element");
    *directions = (int)l_opt_integer_field(L, arg, fname, "directions", 16);
    if (strcmp(m, "element") == 0)
        return MODE_ELEMENT;
    if (strcmp(m, "directional") == 0)
        return MODE_DIRECTIONAL;
    luaL_error(L, "%s: option 'mode' is '%s' (expected 'element' or 'directional')", fname, m);
    return MODE_ELEMENT;
}

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
    lua_State *L = ll->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, ll->ref);
    lua_getfield(L, -1, method);
    lua_insert(L, -2);
    l_push_tensor_view(L, input);
    if (target)
        l_push_tensor_view(L, target);
    else
        lua_pushnil(L);
    if (lua_pcall(L, 3, 1, 0) != LUA_OK) {
        eng_status st = eng_error(ENG_ESTATE, "gradcheck: the criterion's %s failed: %s", method,
                                  lua_tostring(L, -1) ? lua_tostring(L, -1) : "(no message)");
        lua_pop(L, 1);
        return st;
    }
    return ENG_OK;
}

static eng_status l_loss_forward(eng_loss *loss, const eng_tensor *input,
                                   const eng_tensor *target, double *value)
{
    l_loss *ll = (l_loss *)loss;
    eng_status st = call_lua_loss(ll, "forward", input, target);
    if (st)
        return st;
    int isnum = 0;
    *value = lua_tonumberx(ll->L, -1, &isnum);
    if (!isnum)
        st = eng_error(ENG_EARG, "gradcheck: the criterion's forward returned %s, expected a "
                       "number", luaL_typename(ll->L, -1));
    lua_pop(ll->L, 1);
    return st;
}

static eng_status l_loss_backward(eng_loss *loss, const eng_tensor *input,
                                    const eng_tensor *target, eng_tensor *dinput)
{
    l_loss *ll = (l_loss *)loss;
    eng_status st = call_lua_loss(ll, "backward", input, target);
    if (st)
        return st;
    eng_tensor *g = l_test_tensor(ll->L, -1);
    if (!g)
        st = eng_error(ENG_EARG, "gradcheck: the criterion's backward returned %s, expected an "
                       "engine.Tensor like its input", luaL_typename(ll->L, -1));
    else if (!eng_tensor_same_shape(g, dinput))
        st = eng_error(ENG_ESHAPE, "gradcheck: the criterion's backward returned %s, its input "
                       "is %s", eng_tensor_shape_str(g), eng_tensor_shape_str(dinput));
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

/* The criterion at arg: an engine.Loss (borrowed) or a Lua table with forward and backward
 * (wrapped; *owned set). */
static eng_loss *check_criterion(lua_State *L, int arg, eng_loss **owned)
{
    *owned = NULL;
    if (!lua_istable(L, arg))
        return l_check_loss(L, arg);
    for (int k = 0; k < 2; k++) {
        const char *method = k ? "backward" : "forward";
        if (lua_getfield(L, arg, method) != LUA_TFUNCTION)
            luaL_error(L, "check: the criterion table has no function '%s' (a Lua criterion "
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

/* gradcheck.check(model, criterion, x, target [, options]) */
static int l_check(lua_State *L)
{
    lua_settop(L, 5); /* absent options become nil, not whatever is pushed later */
    eng_model *model = l_check_model(L, 1);
    eng_tensor *x = l_check_tensor(L, 3), *target = l_check_tensor(L, 4);
    eng_gc_options o = read_options(L, 5, "check");
    int directions;
    mode m = read_mode(L, 5, "check", &directions);
    bool with_input = l_opt_boolean_field(L, 5, "check", "input", false);
    double scale = l_opt_number_field(L, 5, "check", "loss_scale", 1.0);
    eng_loss *owned, *scaled = NULL;
    eng_loss *loss = check_criterion(L, 2, &owned);
    eng_status st = scale != 1.0 ? eng_gc_scaled_loss(loss, scale, &scaled) : ENG_OK;
    eng_gc_objective *obj = NULL;
    eng_gc_report *r = NULL;
    if (!st)
        st = eng_gc_model_objective(model, scaled ? scaled : loss, x, target, with_input, &obj);
    if (!st)
        st = m == MODE_DIRECTIONAL ? eng_gc_check_directions(obj, directions, &o, &r)
                                   : eng_gc_check(obj, &o, &r);
    eng_gc_objective_release(obj);
    eng_loss_release(scaled);
    eng_loss_release(owned);
    if (st)
        return l_engine_error(L);
    push_report(L, r);
    eng_gc_report_free(r);
    keep_inputs(L, 1, owned ? 0 : 2, 3, 4, 5);
    return 1;
}

/* gradcheck.check_layer(layer, x [, options]): the layer alone, <r, layer(x)> for a random r */
static int l_check_layer(lua_State *L)
{
    eng_layer *layer = l_check_layer_arg(L, 1);
    eng_tensor *x = l_check_tensor(L, 2);
    eng_gc_options o = read_options(L, 3, "check_layer");
    int directions;
    mode m = read_mode(L, 3, "check_layer", &directions);
    eng_rng rng;
    eng_rng_seed(&rng, o.seed + 17);
    eng_gc_objective *obj;
    if (eng_gc_layer_objective(layer, x, &rng, &obj))
        return l_engine_error(L);
    return run_and_push(L, obj, &o, m, directions);
}

/* gradcheck.check_layers(model, x [, options]): layer-wise mode */
static int l_check_layers(lua_State *L)
{
    lua_settop(L, 3);
    eng_model *model = l_check_model(L, 1);
    eng_tensor *x = l_check_tensor(L, 2);
    eng_gc_options o = read_options(L, 3, "check_layers");
    eng_gc_report *r;
    if (eng_gc_check_layers(model, x, &o, &r))
        return l_engine_error(L);
    push_report(L, r);
    eng_gc_report_free(r);
    keep_inputs(L, 1, 0, 2, 0, 3);
    return 1;
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
        st = eng_error(ENG_EARG, "gradcheck: the objective function returned %s instead of a "
                       "number (the loss)", luaL_typename(L, -2));
    else if (want_grads && !lua_istable(L, -1))
        st = eng_error(ENG_EARG, "gradcheck: the objective function's second result is %s, "
                       "expected a list of gradient tensors", luaL_typename(L, -1));
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

/* gradcheck.check_function(f, tensors [, options]): tensors is a list of tensors (named by
 * options.names; options.batch names the batch size, and options.sample_loss(s), the loss of
 * sample s alone, lets the diagnosis recognise one sample's gradient); f() reads them (the checker perturbs them in place) and returns the loss
 * and a list of gradients in the same order. */
static int l_check_function(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    luaL_checktype(L, 2, LUA_TTABLE);
    eng_gc_options o = read_options(L, 3, "check_function");
    int directions;
    mode m = read_mode(L, 3, "check_function", &directions);
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
        return luaL_error(L, "check_function: out of memory");
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
                return luaL_error(L, "check_function: option 'sample_loss' must be a function, got %s",
                                  lua_typename(L, type));
            }
        }
    }
    obj->ntensors = n;
    obj->dtype = ENG_F32;
    for (int i = 0; i < n; i++) {
        lua_geti(L, 2, i + 1);
        eng_tensor *t = l_test_tensor(L, -1);
        lua_pop(L, 1); /* the list keeps the box alive during the check */
        if (!eng_dtype_is_float(t->dtype) || eng_tensor_new_like(t, &lo->grads[i])) {
            eng_gc_objective_release(obj);
            if (!eng_dtype_is_float(t->dtype))
                return luaL_error(L, "check_function: tensors[%d] has dtype %s (f32 or f64 expected)",
                                  i + 1, eng_dtype_name(t->dtype));
            return l_engine_error(L);
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
    return run_and_push(L, obj, &o, m, directions);
}

/* gradcheck.taylor(model, criterion, x, target, {tensor=name, h0=1e-2, n=8, seed=0})
 * -> slope, {remainders} */
static int l_taylor(lua_State *L)
{
    static const char *const names[] = {"tensor", "h0", "n", "seed", NULL};
    eng_model *model = l_check_model(L, 1);
    eng_loss *loss = l_check_loss(L, 2);
    eng_tensor *x = l_check_tensor(L, 3), *target = l_check_tensor(L, 4);
    l_check_options(L, 5, "taylor", names);
    const char *name = l_opt_string_field(L, 5, "taylor", "tensor", NULL);
    double h0 = l_opt_number_field(L, 5, "taylor", "h0", 1e-2);
    int n = (int)l_opt_integer_field(L, 5, "taylor", "n", 8);
    uint64_t seed = (uint64_t)l_opt_integer_field(L, 5, "taylor", "seed", 0);
    if (n < 2 || n > 60)
        return luaL_error(L, "taylor: option 'n' must be between 2 and 60, got %d", n);
    eng_gc_objective *obj;
    if (eng_gc_model_objective(model, loss, x, target, false, &obj))
        return l_engine_error(L);
    int t = 0;
    if (name) {
        for (t = 0; t < obj->ntensors && strcmp(obj->tensors[t].name, name); t++)
            ;
        if (t == obj->ntensors) {
            eng_gc_objective_release(obj);
            return luaL_error(L, "taylor: no tensor named '%s'", name);
        }
    }
    double slope, remainders[60];
    eng_status st = eng_gc_taylor(obj, t, h0, n, seed, &slope, remainders);
    eng_gc_objective_release(obj);
    if (st)
        return l_engine_error(L);
    lua_pushnumber(L, slope);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushnumber(L, remainders[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 2;
}

/* gradcheck.sweep(model, criterion, x, target, {steps={...}, samples=8, seed=0, plot=path})
 * -> {steps={...}, tensors={{name=, errors={...}, chosen=h}, ...}} */
static int l_sweep(lua_State *L)
{
    static const char *const names[] = {"steps", "samples", "seed", "plot", "title", NULL};
    eng_model *model = l_check_model(L, 1);
    eng_loss *loss = l_check_loss(L, 2);
    eng_tensor *x = l_check_tensor(L, 3), *target = l_check_tensor(L, 4);
    l_check_options(L, 5, "sweep", names);
    int64_t samples = l_opt_integer_field(L, 5, "sweep", "samples", 8);
    uint64_t seed = (uint64_t)l_opt_integer_field(L, 5, "sweep", "seed", 0);
    const char *plot_path = l_opt_string_field(L, 5, "sweep", "plot", NULL);
    const char *title = l_opt_string_field(L, 5, "sweep", "title",
                                           "central-difference error against the step (f64)");
    double steps[64];
    int nsteps = 0;
    if (lua_istable(L, 5) && lua_getfield(L, 5, "steps") != LUA_TNIL) {
        luaL_checktype(L, -1, LUA_TTABLE);
        nsteps = (int)luaL_len(L, -1);
        if (nsteps < 1 || nsteps > 64)
            return luaL_error(L, "sweep: option 'steps' must list 1 to 64 steps, got %d", nsteps);
        for (int i = 0; i < nsteps; i++) {
            lua_geti(L, -1, i + 1);
            steps[i] = lua_tonumber(L, -1);
            if (!(steps[i] > 0))
                return luaL_error(L, "sweep: steps[%d] must be a positive number", i + 1);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    } else {
        if (lua_istable(L, 5))
            lua_pop(L, 1);
        for (nsteps = 0; nsteps < 12; nsteps++)
            steps[nsteps] = pow(10.0, -(nsteps + 1));
    }
    eng_gc_objective *obj;
    if (eng_gc_model_objective(model, loss, x, target, false, &obj))
        return l_engine_error(L);
    int nt = obj->ntensors;
    double *errors = calloc((size_t)nt * (size_t)nsteps + 1, sizeof *errors);
    double *chosen = calloc((size_t)nt + 1, sizeof *chosen);
    eng_status st = errors && chosen ? ENG_OK : eng_error(ENG_ENOMEM, "sweep: out of memory");
    for (int t = 0; t < nt && !st; t++)
        st = eng_gc_sweep(obj, t, steps, nsteps, samples, seed, errors + (size_t)t * nsteps);
    /* the checker's own choice, from a small element-wise check */
    eng_gc_report *r = NULL;
    if (!st) {
        eng_gc_options o = {.samples = 4, .seed = seed};
        st = eng_gc_check(obj, &o, &r);
    }
    for (int t = 0; !st && t < nt; t++)
        chosen[t] = t < r->ntensors ? r->tensors[t].step : NAN;
    if (!st && plot_path) {
        eng_plot_series *series = calloc((size_t)nt + 1, sizeof *series);
        const char **labels = calloc((size_t)nt + 1, sizeof *labels);
        char (*marks)[160] = calloc((size_t)nt + 1, sizeof *marks);
        if (!series || !labels || !marks) {
            st = eng_error(ENG_ENOMEM, "sweep: out of memory");
        } else {
            for (int t = 0; t < nt; t++) {
                series[t] = (eng_plot_series){.label = obj->tensors[t].name, .n = nsteps,
                                              .x = steps, .y = errors + (size_t)t * nsteps};
                snprintf(marks[t], sizeof marks[t], "chosen step %.1e (dashed)", chosen[t]);
                labels[t] = marks[t];
            }
            eng_plot plot = {.title = title, .xlabel = "step h",
                             .ylabel = "median relative error |D(h) - g| / |g|", .logx = true,
                             .logy = true, .nseries = nt, .series = series, .nmarks = nt,
                             .mark_x = chosen, .mark_label = labels};
            st = eng_plot_write_svg(&plot, plot_path);
        }
        free(series);
        free(labels);
        free(marks);
    }
    if (st) {
        eng_gc_report_free(r);
        eng_gc_objective_release(obj);
        free(errors);
        free(chosen);
        return l_engine_error(L);
    }
    lua_createtable(L, 0, 2);
    lua_createtable(L, nsteps, 0);
    for (int i = 0; i < nsteps; i++) {
        lua_pushnumber(L, steps[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "steps");
    lua_createtable(L, nt, 0);
    for (int t = 0; t < nt; t++) {
        lua_createtable(L, 0, 3);
        lua_pushstring(L, obj->tensors[t].name);
        lua_setfield(L, -2, "name");
        lua_pushnumber(L, chosen[t]);
        lua_setfield(L, -2, "chosen");
        lua_createtable(L, nsteps, 0);
        for (int i = 0; i < nsteps; i++) {
            lua_pushnumber(L, errors[(size_t)t * nsteps + i]);
            lua_rawseti(L, -2, i + 1);
        }
        lua_setfield(L, -2, "errors");
        lua_rawseti(L, -2, t + 1);
    }
    lua_setfield(L, -2, "tensors");
    eng_gc_report_free(r);
    eng_gc_objective_release(obj);
    free(errors);
    free(chosen);
    return 1;
}

static const luaL_Reg gradcheck_funcs[] = {
    {"check", l_check},
    {"check_layer", l_check_layer},
    {"check_layers", l_check_layers},
    {"check_function", l_check_function},
    {"taylor", l_taylor},
    {"sweep", l_sweep},
    {NULL, NULL},
};

/* report:save(path) and gradcheck.replay(path). A saved report is a checkpoint (engine.save)
 * of the model, whose meta.gradcheck holds the batch, the options, the criterion and the
 * stored verdicts; replay rebuilds the model from the file alone, checks it again with the
 * same options and says whether the verdicts agree. Plumbing over engine.save and
 * engine.load, so it is written in Lua. */
static const char replay_source[] =
    "local gc, methods = ...\n"
    "local function flat(t)\n"
    "  local n, out = t:numel(), {}\n"
    "  local v = t:reshape({n})\n"
    "  for i = 1, n do out[i] = v:get(i) end\n"
    "  return out\n"
    "end\n"
    "local option_names = {'samples', 'seed', 'step', 'rtol', 'nsigma', 'worst', 'only', 'input',\n"
    "                      'mode', 'directions'}\n"
    "function methods.save(report, path)\n"
    "  local engine = require('engine')\n"
    "  if type(path) ~= 'string' then\n"
    "    error(('report:save: path must be a string, got %s'):format(type(path)), 2)\n"
    "  end\n"
    "  if not report._model or not report._x then\n"
    "    error('report:save: only the reports of gradcheck.check and gradcheck.check_layers '\n"
    "          .. 'can be saved (they hold the model and the batch)', 2)\n"
    "  end\n"
    "  local g = {mode = report.mode, verdict = report.verdict, loss = report.loss,\n"
    "             dtype = report.dtype, x = flat(report._x), x_shape = report._x:shape(),\n"
    "             x_dtype = report._x:dtype(), options = {}, tensors = {}}\n"
    "  if report._criterion then\n"
    "    g.criterion = tostring(report._criterion):match('^(%w+)')\n"
    "    g.y, g.y_shape, g.y_dtype = flat(report._y), report._y:shape(), report._y:dtype()\n"
    "  end\n"
    "  for _, k in ipairs(option_names) do\n"
    "    local v = report._options and report._options[k]\n"
    "    if v ~= nil then g.options[k] = v end\n"
    "  end\n"
    "  for _, t in ipairs(report.tensors) do\n"
    "    local e = {verdict = t.verdict, diagnosis = t.diagnosis or '', step = t.step,\n"
    "               numerical = {}, analytic = {}, error = {}, index = {}}\n"
    "    for k, w in ipairs(t.worst) do\n"
    "      e.numerical[k], e.analytic[k], e.error[k] = w.numerical, w.analytic, w.error\n"
    "      for d = 1, #w.index do e.index[#e.index + 1] = w.index[d] end\n"
    "    end\n"
    "    g.tensors[t.name] = e\n"
    "  end\n"
    "  engine.save(path, {model = report._model, meta = {gradcheck = g}})\n"
    "  return report\n"
    "end\n"
    "function gc.replay(path, model)\n"
    "  local engine = require('engine')\n"
    "  if type(path) ~= 'string' then\n"
    "    error(('gradcheck.replay: path must be a string, got %s'):format(type(path)), 2)\n"
    "  end\n"
    "  -- a model with layers written in Lua cannot be rebuilt from the file: pass one of the\n"
    "  -- same architecture, and the file's weights are loaded into it\n"
    "  local ok, ck = pcall(engine.load, path, model and {model = false} or nil)\n"
    "  if not ok then error((tostring(ck):gsub('^gradcheck_replay:%d+: ', '')), 2) end\n"
    "  if model then\n"
    "    local loaded, err = pcall(model.load, model, path)\n"
    "    if not loaded then error((tostring(err):gsub('^gradcheck_replay:%d+: ', '')), 2) end\n"
    "    ck.model = model\n"
    "  end\n"
    "  local g = ck.meta and ck.meta.gradcheck\n"
    "  if not g then error(path .. ': not a saved gradient-check report (no meta.gradcheck)', 2) end\n"
    "  local x = engine.tensor(g.x, g.x_dtype):reshape(g.x_shape)\n"
    "  local options = {}\n"
    "  for k, v in pairs(g.options or {}) do options[k] = v end\n"
    "  local report\n"
    "  if g.mode == 'layer-wise' then\n"
    "    report = gc.check_layers(ck.model, x, options)\n"
    "  else\n"
    "    local criteria = {CrossEntropyLoss = engine.nn.CrossEntropyLoss, MSELoss = engine.nn.MSELoss}\n"
    "    local make = criteria[g.criterion]\n"
    "    if not make then error(path .. ': unknown criterion ' .. tostring(g.criterion), 2) end\n"
    "    local y = engine.tensor(g.y, g.y_dtype):reshape(g.y_shape)\n"
    "    report = gc.check(ck.model, make(), x, y, options)\n"
    "  end\n"
    "  report.replay = {path = path, stored_verdict = g.verdict, same_verdict = report.verdict == g.verdict,\n"
    "                   stored = g}\n"
    "  return report\n"
    "end\n";

int luaopen_engine_gradcheck(lua_State *L)
{
    luaL_newlib(L, gradcheck_funcs);
    if (luaL_newmetatable(L, "engine.GradcheckReport")) {
        lua_pushcfunction(L, report_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, "__index"); /* methods: save */
        if (luaL_loadbuffer(L, replay_source, sizeof replay_source - 1, "=gradcheck_replay"))
            return lua_error(L);
        lua_pushvalue(L, -4); /* the module */
        lua_pushvalue(L, -3); /* the methods */
        lua_call(L, 2, 0);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return 1;
}
