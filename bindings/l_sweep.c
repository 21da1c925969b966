/* engine.sweep: runs of an experiment over a grid or a random draw of settings, each in a
 * protected call, recorded in an HDF5 results file after every run (engine/io/results.h) so
 * that a restarted sweep skips what is done. The orchestration is Lua (bindings/sweep.lua,
 * compiled in); this file gives it the results file and the SVG plot. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bindings.h"
#include "io/plot.h"
#include "io/results.h"
#include "sweep_lua.h"

static int guard_gc(lua_State *L)
{
    eng_meta **box = lua_touserdata(L, 1);
    eng_meta_free(*box);
    *box = NULL;
    return 0;
}

/* sweep.append(path, key, run_table) */
static int l_append(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1), *key = luaL_checkstring(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    /* the tree is freed by the box's __gc if the conversion raises */
    eng_meta **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    if (luaL_newmetatable(L, "engine.MetaGuard")) {
        lua_pushcfunction(L, guard_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    eng_meta *run;
    if (eng_meta_new(&run))
        return lua_engerror(L);
    *box = run;
    lua_tometa(L, 3, run, "run");
    eng_status st = eng_results_append(path, key, run);
    eng_meta_free(run);
    *box = NULL;
    if (st)
        return lua_engerror(L);
    return 0;
}

/* sweep.read(path) -> {key = run table, ...}, {keys in order} */
static int l_read(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    eng_meta *runs;
    if (eng_results_read(path, &runs))
        return lua_engerror(L);
    lua_pushmeta(L, runs);
    lua_createtable(L, runs->nitems, 0);
    for (int i = 0; i < runs->nitems; i++) {
        lua_pushstring(L, runs->items[i]->key);
        lua_rawseti(L, -2, i + 1);
    }
    eng_meta_free(runs);
    return 2;
}

static double *number_list(lua_State *L, int idx, const char *what, int *n)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    *n = (int)luaL_len(L, idx);
    double *v = lua_newuserdatauv(L, sizeof *v * (size_t)(*n + 1), 0);
    for (int i = 0; i < *n; i++) {
        lua_geti(L, idx, i + 1);
        v[i] = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : NAN;
        lua_pop(L, 1);
    }
    (void)what;
    return v; /* kept alive by the stack */
}

/* sweep.plot(path, {title=, xlabel=, ylabel=, logx=, logy=, series = {{label=, x=, y=}, ...},
 *                   marks = {{x=, label=}, ...}}) */
static int l_plot(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    eng_plot plot = {0};
    plot.title = lua_optstringfield(L, 2, "plot", "title", "");
    plot.xlabel = lua_optstringfield(L, 2, "plot", "xlabel", "");
    plot.ylabel = lua_optstringfield(L, 2, "plot", "ylabel", "");
    plot.logx = lua_optbooleanfield(L, 2, "plot", "logx", false);
    plot.logy = lua_optbooleanfield(L, 2, "plot", "logy", false);
    lua_getfield(L, 2, "series");
    int series_idx = lua_gettop(L);
    luaL_checktype(L, series_idx, LUA_TTABLE);
    int ns = (int)luaL_len(L, series_idx);
    eng_plot_series *series = lua_newuserdatauv(L, sizeof *series * (size_t)(ns + 1), 0);
    for (int i = 0; i < ns; i++) {
        luaL_checkstack(L, 8, "plot: too many series");
        lua_geti(L, series_idx, i + 1);
        int s = lua_gettop(L);
        lua_getfield(L, s, "label");
        series[i].label = lua_tostring(L, -1) ? lua_tostring(L, -1) : "";
        lua_getfield(L, s, "x");
        int nx, ny;
        series[i].x = number_list(L, lua_gettop(L), "x", &nx);
        lua_getfield(L, s, "y");
        series[i].y = number_list(L, lua_gettop(L), "y", &ny);
        series[i].n = nx < ny ? nx : ny;
        /* the values stay referenced from the series table until the plot is written */
    }
    plot.nseries = ns;
    plot.series = series;
    if (eng_plot_write_svg(&plot, path))
        return lua_engerror(L);
    return 0;
}

static int l_clock(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + 1e-9 * (lua_Number)ts.tv_nsec);
    return 1;
}

static const luaL_Reg sweep_funcs[] = {
    {"clock", l_clock},
    {"append", l_append},
    {"read", l_read},
    {"plot", l_plot},
    {NULL, NULL},
};

int luaopen_engine_sweep(lua_State *L)
{
    luaL_newlib(L, sweep_funcs);
    if (luaL_loadbuffer(L, sweep_lua, sizeof sweep_lua - 1, "=engine.sweep"))
        return lua_error(L);
    lua_pushvalue(L, -2);
    lua_call(L, 1, 0);
    return 1;
}
