/* engine.gradcheck: step studies. gradcheck.taylor measures the Taylor remainder's slope
 * along a random direction; gradcheck.sweep tabulates (and plots) the central difference's
 * error against the step for each tensor of a model. */
#include <string.h>

#include "gradcheck/eps_sweep.h"
#include "l_gradcheck.h"

/* The Taylor test's full result as a table: verdict, conclusion, every step evaluated. */
static void push_taylor(lua_State *L, const eng_gc_taylor_result *r)
{
    lua_createtable(L, 0, 8);
    lua_pushstring(L, eng_gc_verdict_name(r->verdict));
    lua_setfield(L, -2, "verdict");
    lua_pushstring(L, r->conclusion);
    lua_setfield(L, -2, "conclusion");
    lua_pushboolean(L, r->frozen);
    lua_setfield(L, -2, "frozen");
    lua_pushnumber(L, r->noise);
    lua_setfield(L, -2, "noise");
    lua_pushinteger(L, r->first + 1);
    lua_setfield(L, -2, "first");
    lua_pushinteger(L, r->last + 1);
    lua_setfield(L, -2, "last");
    const double *lists[2] = {r->steps, r->remainders};
    const char *fields[2] = {"steps", "remainders"};
    for (int k = 0; k < 2; k++) {
        lua_createtable(L, r->nsteps, 0);
        for (int i = 0; i < r->nsteps; i++) {
            lua_pushnumber(L, lists[k][i]);
            lua_rawseti(L, -2, i + 1);
        }
        lua_setfield(L, -2, fields[k]);
    }
}

/* gradcheck.taylor(model, criterion, x, target, {tensor=name, h0=1e-2, n=8, seed=0})
 * -> slope, {remainders at h0 * 2^-i}, {verdict=, conclusion=, steps=, remainders=, ...} */
int l_gc_taylor(lua_State *L)
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
    eng_gc_taylor_result *r = lua_newuserdatauv(L, sizeof *r, 0); /* freed by Lua's GC */
    eng_status st = eng_gc_taylor_test(obj, t, h0, n, seed, r);
    eng_gc_objective_release(obj);
    if (st)
        return l_engine_error(L);
    lua_pushnumber(L, r->slope);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushnumber(L, r->remainders[r->asked + i]);
        lua_rawseti(L, -2, i + 1);
    }
    push_taylor(L, r);
    return 3;
}

/* options.steps (arg 5) into steps; returns their number, 0 when absent (the default steps). */
static int read_steps(lua_State *L, double steps[ENG_GC_SWEEP_MAX_STEPS])
{
    int nsteps = 0;
    if (lua_istable(L, 5) && lua_getfield(L, 5, "steps") != LUA_TNIL) {
        luaL_checktype(L, -1, LUA_TTABLE);
        nsteps = (int)luaL_len(L, -1);
        if (nsteps < 1 || nsteps > ENG_GC_SWEEP_MAX_STEPS)
            return luaL_error(L, "sweep: option 'steps' must list 1 to %d steps, got %d",
                              ENG_GC_SWEEP_MAX_STEPS, nsteps);
        for (int i = 0; i < nsteps; i++) {
            lua_geti(L, -1, i + 1);
            steps[i] = lua_tonumber(L, -1);
            if (!(steps[i] > 0))
                return luaL_error(L, "sweep: steps[%d] must be a positive number", i + 1);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    } else if (lua_istable(L, 5)) {
        lua_pop(L, 1);
    }
    return nsteps;
}

/* Pushes {steps={...}, tensors={{name=, errors={...}, chosen=h}, ...}}. */
static void push_sweep(lua_State *L, const eng_gc_sweep_result *s)
{
    lua_createtable(L, 0, 2);
    lua_createtable(L, s->nsteps, 0);
    for (int i = 0; i < s->nsteps; i++) {
        lua_pushnumber(L, s->steps[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "steps");
    lua_createtable(L, s->ntensors, 0);
    for (int t = 0; t < s->ntensors; t++) {
        lua_createtable(L, 0, 3);
        lua_pushstring(L, s->names[t]);
        lua_setfield(L, -2, "name");
        lua_pushnumber(L, s->chosen[t]);
        lua_setfield(L, -2, "chosen");
        lua_createtable(L, s->nsteps, 0);
        for (int i = 0; i < s->nsteps; i++) {
            lua_pushnumber(L, s->errors[(size_t)t * (size_t)s->nsteps + i]);
            lua_rawseti(L, -2, i + 1);
        }
        lua_setfield(L, -2, "errors");
        lua_rawseti(L, -2, t + 1);
    }
    lua_setfield(L, -2, "tensors");
}

/* gradcheck.sweep(model, criterion, x, target, {steps={...}, samples=8, seed=0, plot=path})
 * -> {steps={...}, tensors={{name=, errors={...}, chosen=h}, ...}} */
int l_gc_sweep(lua_State *L)
{
    static const char *const names[] = {"steps", "samples", "seed", "plot", "title", NULL};
    eng_model *model = l_check_model(L, 1);
    eng_loss *loss = l_check_loss(L, 2);
    eng_tensor *x = l_check_tensor(L, 3), *target = l_check_tensor(L, 4);
    l_check_options(L, 5, "sweep", names);
    int64_t samples = l_opt_integer_field(L, 5, "sweep", "samples", 8);
    uint64_t seed = (uint64_t)l_opt_integer_field(L, 5, "sweep", "seed", 0);
    const char *plot_path = l_opt_string_field(L, 5, "sweep", "plot", NULL);
    const char *title = l_opt_string_field(L, 5, "sweep", "title", NULL); /* NULL: C's default */
    double steps[ENG_GC_SWEEP_MAX_STEPS];
    eng_gc_sweep_options o = {.samples = samples, .seed = seed};
    o.nsteps = read_steps(L, steps);
    o.steps = o.nsteps ? steps : NULL;
    eng_gc_objective *obj;
    if (eng_gc_model_objective(model, loss, x, target, false, &obj))
        return l_engine_error(L);
    eng_gc_sweep_result *s = NULL;
    eng_status st = eng_gc_eps_sweep(obj, &o, &s);
    eng_gc_objective_release(obj);
    if (!st && plot_path)
        st = eng_gc_sweep_plot(s, title, plot_path);
    if (st) {
        eng_gc_sweep_result_free(s);
        return l_engine_error(L);
    }
    push_sweep(L, s);
    eng_gc_sweep_result_free(s);
    return 1;
}
