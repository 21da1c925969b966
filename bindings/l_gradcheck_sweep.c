/* engine.gradcheck: step studies. gradcheck.taylor measures the Taylor remainder's slope
 * along a random direction; gradcheck.sweep tabulates (and plots) the central difference's
 * error against the step for each tensor of a model. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "l_gradcheck.h"
#include "io/plot.h"

/* gradcheck.taylor(model, criterion, x, target, {tensor=name, h0=1e-2, n=8, seed=0})
 * -> slope, {remainders} */
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

/* options.steps (arg 5) into steps[64] (default 1e-1 ... 1e-12); returns their number. */
static int read_steps(lua_State *L, double steps[64])
{
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
    return nsteps;
}

/* Writes the sweep's SVG plot to path: one series per tensor, the chosen steps marked. */
static eng_status write_plot(const eng_gc_objective *obj, const double *steps, int nsteps,
                             const double *errors, double *chosen, const char *title,
                             const char *plot_path)
{
    int nt = obj->ntensors;
    eng_status st = ENG_OK;
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
    return st;
}

/* Pushes {steps={...}, tensors={{name=, errors={...}, chosen=h}, ...}}. */
static void push_sweep(lua_State *L, const eng_gc_objective *obj, const double *steps,
                       int nsteps, const double *errors, const double *chosen)
{
    int nt = obj->ntensors;
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
    const char *title = l_opt_string_field(L, 5, "sweep", "title",
                                           "central-difference error against the step (f64)");
    double steps[64];
    int nsteps = read_steps(L, steps);
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
    if (!st && plot_path)
        st = write_plot(obj, steps, nsteps, errors, chosen, title, plot_path);
    if (st) {
        eng_gc_report_free(r);
        eng_gc_objective_release(obj);
        free(errors);
        free(chosen);
        return l_engine_error(L);
    }
    push_sweep(L, obj, steps, nsteps, errors, chosen);
    eng_gc_report_free(r);
    eng_gc_objective_release(obj);
    free(errors);
    free(chosen);
    return 1;
}
