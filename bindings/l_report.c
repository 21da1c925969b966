/* engine.report and the html methods: HTML reports of training runs, sweeps and gradient
 * checks. The pages are assembled in Lua (bindings/report.lua, compiled in) from the tables the
 * engine returns; the plots come from engine/io/plot.c through engine.sweep.svg/heatmap. */
#include "bindings.h"
#include "report_lua.h"

/* Called by luaopen_engine with the engine table on top (after engine.sweep, engine.gradcheck
 * and engine.train exist); pushes engine.report = {html = run report, read_log = ...}, sets
 * engine.sweep.html and the gradient-check report's method html. */
int luaopen_engine_report(lua_State *L)
{
    int engine = lua_gettop(L);
    if (luaL_loadbuffer(L, report_lua, sizeof report_lua - 1, "=engine.report"))
        return lua_error(L);
    lua_pushvalue(L, engine);
    l_push_runlog_read(L);
    lua_call(L, 2, 1);
    int m = lua_gettop(L);
    lua_getfield(L, engine, "sweep");
    lua_getfield(L, m, "sweep_html");
    lua_setfield(L, -2, "html");
    lua_pop(L, 1);
    if (luaL_getmetatable(L, "engine.GradcheckReport") == LUA_TTABLE &&
        lua_getfield(L, -1, "__index") == LUA_TTABLE) {
        lua_getfield(L, m, "gradcheck_html");
        lua_setfield(L, -2, "html");
    }
    lua_settop(L, m);
    lua_createtable(L, 0, 2);
    lua_getfield(L, m, "run_html");
    lua_setfield(L, -2, "html");
    l_push_runlog_read(L);
    lua_setfield(L, -2, "read_log");
    lua_remove(L, m);
    return 1;
}
