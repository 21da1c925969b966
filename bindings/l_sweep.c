/* engine.sweep: runs of an experiment over a grid or a random draw of settings, each in its
 * own process, recorded in an HDF5 results file after every run (engine/io/results.h) so
 * that a restarted sweep skips what is done. The orchestration is Lua (bindings/sweep.lua and
 * bindings/sweep_exec.lua, compiled in); this file gives it the results file, the SVG plot
 * and the child processes (engine/proc.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bindings.h"
#include "io/plot.h"
#include "io/results.h"
#include "proc.h"
#include "sweep_exec_lua.h"
#include "sweep_lua.h"
#include "sweep_slurm_lua.h"

/* sweep.append(path, key, run_table) */
static int l_append(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1), *key = luaL_checkstring(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    /* the tree is freed by the box's __gc if the conversion raises */
    eng_meta **box = l_push_meta_box(L);
    eng_meta *run;
    if (eng_meta_new(&run))
        return l_engine_error(L);
    *box = run;
    l_to_meta(L, 3, run, "run");
    eng_status st = eng_results_append(path, key, run);
    eng_meta_free(run);
    *box = NULL;
    if (st)
        return l_engine_error(L);
    return 0;
}

/* sweep._read(path) -> {key = run table, ...}, {keys in order},
 *                      {version =, checksummed =, file_crc =} (version 0: no file) */
static int l_read(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    eng_meta *runs;
    eng_results_info info;
    if (eng_results_read_info(path, &runs, &info))
        return l_engine_error(L);
    l_push_meta(L, runs);
    lua_createtable(L, runs->nitems, 0);
    for (int i = 0; i < runs->nitems; i++) {
        lua_pushstring(L, runs->items[i]->key);
        lua_rawseti(L, -2, i + 1);
    }
    eng_meta_free(runs);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, info.version);
    lua_setfield(L, -2, "version");
    lua_pushboolean(L, info.checksummed);
    lua_setfield(L, -2, "checksummed");
    lua_pushboolean(L, info.file_crc);
    lua_setfield(L, -2, "file_crc");
    return 3;
}

static double *number_list(lua_State *L, int idx, const char *what, int *n)
{
    if (!lua_istable(L, idx))
        luaL_error(L, "plot: '%s' must be a list of numbers, got %s", what, l_typename_of(L, idx));
    *n = (int)luaL_len(L, idx);
    double *v = lua_newuserdatauv(L, sizeof *v * (size_t)(*n + 1), 0);
    for (int i = 0; i < *n; i++) {
        lua_geti(L, idx, i + 1);
        v[i] = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : NAN;
        lua_pop(L, 1);
    }
    return v; /* kept alive by the stack */
}

/* An axis setting: true, false or "auto" (log when the values span two decades). */
static void axis_option(lua_State *L, int arg, const char *name, bool *log, bool *autolog)
{
    lua_getfield(L, arg, name);
    if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "auto") == 0)
        *autolog = true;
    else if (lua_isboolean(L, -1) || lua_isnil(L, -1))
        *log = lua_toboolean(L, -1);
    else
        luaL_error(L, "plot: option '%s' must be true, false or \"auto\", got %s", name,
                   l_typename_of(L, -1));
    lua_pop(L, 1);
}

/* Reads the plot description at arg into plot; the series' values stay on the Lua stack. */
static void read_plot(lua_State *L, int arg, eng_plot *plot)
{
    luaL_checktype(L, arg, LUA_TTABLE);
    plot->title = l_opt_string_field(L, arg, "plot", "title", "");
    plot->xlabel = l_opt_string_field(L, arg, "plot", "xlabel", "");
    plot->ylabel = l_opt_string_field(L, arg, "plot", "ylabel", "");
    axis_option(L, arg, "logx", &plot->logx, &plot->auto_logx);
    axis_option(L, arg, "logy", &plot->logy, &plot->auto_logy);
    plot->diagonal = l_opt_boolean_field(L, arg, "plot", "diagonal", false);
    lua_getfield(L, arg, "series");
    int series_idx = lua_gettop(L);
    luaL_checktype(L, series_idx, LUA_TTABLE);
    int ns = (int)luaL_len(L, series_idx);
    eng_plot_series *series = lua_newuserdatauv(L, sizeof *series * (size_t)(ns + 1), 0);
    memset(series, 0, sizeof *series * (size_t)(ns + 1));
    for (int i = 0; i < ns; i++) {
        luaL_checkstack(L, 8, "plot: too many series");
        lua_geti(L, series_idx, i + 1);
        int s = lua_gettop(L);
        if (!lua_istable(L, s))
            luaL_error(L, "plot: series %d must be a table {label=, x=, y=}", i + 1);
        lua_getfield(L, s, "label");
        series[i].label = lua_tostring(L, -1) ? lua_tostring(L, -1) : "";
        lua_getfield(L, s, "x");
        int nx, ny, ne;
        series[i].x = number_list(L, lua_gettop(L), "x", &nx);
        lua_getfield(L, s, "y");
        series[i].y = number_list(L, lua_gettop(L), "y", &ny);
        series[i].n = nx < ny ? nx : ny;
        if (lua_getfield(L, s, "yerr") != LUA_TNIL) {
            series[i].yerr = number_list(L, lua_gettop(L), "yerr", &ne);
            if (ne < series[i].n)
                luaL_error(L, "plot: series %d has %d error bars for %d points", i + 1, ne,
                           series[i].n);
        }
        lua_getfield(L, s, "points");
        series[i].points_only = lua_toboolean(L, -1);
        /* the values stay referenced from the series table until the plot is written */
    }
    plot->nseries = ns;
    plot->series = series;
    /* marks = {{x=, label=}, ...}: vertical lines, mark m in series m's colour */
    if (lua_getfield(L, arg, "marks") == LUA_TNIL)
        return;
    int marks_idx = lua_gettop(L);
    luaL_checktype(L, marks_idx, LUA_TTABLE);
    int nm = (int)luaL_len(L, marks_idx);
    double *xs = lua_newuserdatauv(L, sizeof *xs * (size_t)(nm + 1), 0);
    const char **labels = lua_newuserdatauv(L, sizeof *labels * (size_t)(nm + 1), 0);
    for (int m = 0; m < nm; m++) {
        luaL_checkstack(L, 4, "plot: too many marks");
        if (lua_geti(L, marks_idx, m + 1) != LUA_TTABLE)
            luaL_error(L, "plot: marks[%d] must be a table {x=, label=}", m + 1);
        lua_getfield(L, -1, "x");
        xs[m] = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : NAN;
        lua_getfield(L, -2, "label");
        labels[m] = lua_tostring(L, -1); /* referenced by the marks table */
        lua_pop(L, 3);
    }
    plot->nmarks = nm;
    plot->mark_x = xs;
    plot->mark_label = labels;
}

/* sweep.plot(path, {title=, xlabel=, ylabel=, logx=, logy= (true, false or "auto"),
 *                   diagonal=, series = {{label=, x=, y=, yerr=, points=}, ...},
 *                   marks = {{x=, label=}, ...}}) */
static int l_plot(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    eng_plot plot = {0};
    read_plot(L, 2, &plot);
    if (eng_plot_write_svg(&plot, path))
        return l_engine_error(L);
    return 0;
}

/* sweep.svg(plot) -> the SVG text of the same description (for HTML reports) */
static int l_svg(lua_State *L)
{
    eng_plot plot = {0};
    read_plot(L, 1, &plot);
    char *svg;
    if (eng_plot_svg(&plot, &svg))
        return l_engine_error(L);
    lua_pushstring(L, svg);
    free(svg);
    return 1;
}

/* A list of strings at field name of the table at arg, kept on the stack as userdata. */
static const char **string_list(lua_State *L, int arg, const char *name, int n, bool optional)
{
    lua_getfield(L, arg, name);
    if (optional && lua_isnil(L, -1))
        return NULL;
    if (!lua_istable(L, -1) || luaL_len(L, -1) != n)
        luaL_error(L, "heatmap: '%s' must list %d strings", name, n);
    int list = lua_gettop(L);
    const char **out = lua_newuserdatauv(L, sizeof *out * (size_t)(n + 1), 0);
    for (int i = 0; i < n; i++) {
        lua_geti(L, list, i + 1);
        out[i] = lua_tostring(L, -1); /* NULL for nil: no status */
        lua_pop(L, 1);                /* the string stays referenced by the list */
    }
    return out;
}

/* sweep.heatmap{title=, xlabel=, ylabel=, value_label=, x = {labels}, y = {labels},
 *               values = {row-major, #y rows of #x}, status = {...}, low_is_good=} -> SVG */
static int l_heatmap(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    eng_heatmap m = {0};
    m.title = l_opt_string_field(L, 1, "heatmap", "title", "");
    m.xlabel = l_opt_string_field(L, 1, "heatmap", "xlabel", "");
    m.ylabel = l_opt_string_field(L, 1, "heatmap", "ylabel", "");
    m.value_label = l_opt_string_field(L, 1, "heatmap", "value_label", "");
    m.low_is_good = l_opt_boolean_field(L, 1, "heatmap", "low_is_good", false);
    lua_getfield(L, 1, "x");
    m.nx = lua_istable(L, -1) ? (int)luaL_len(L, -1) : 0;
    lua_getfield(L, 1, "y");
    m.ny = lua_istable(L, -1) ? (int)luaL_len(L, -1) : 0;
    if (m.nx < 1 || m.ny < 1 || m.nx > 1000 || m.ny > 1000)
        return luaL_error(L, "heatmap: 'x' and 'y' must list 1 to 1000 labels each");
    m.xticks = string_list(L, 1, "x", m.nx, false);
    m.yticks = string_list(L, 1, "y", m.ny, false);
    m.status = string_list(L, 1, "status", m.nx * m.ny, true);
    lua_getfield(L, 1, "values");
    int nv;
    m.values = number_list(L, lua_gettop(L), "values", &nv);
    if (nv != m.nx * m.ny)
        return luaL_error(L, "heatmap: 'values' has %d entries, expected %d x %d", nv, m.ny, m.nx);
    char *svg;
    if (eng_heatmap_svg(&m, &svg))
        return l_engine_error(L);
    lua_pushstring(L, svg);
    free(svg);
    return 1;
}

/* sweep.spawn({program, arg1, ...}, {env = {"NAME=value", ...}, log = path, memory = bytes})
 * -> pid */
static int l_spawn(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int nargs = (int)luaL_len(L, 1);
    luaL_argcheck(L, nargs >= 1, 1, "the program and its arguments");
    const char **argv = lua_newuserdatauv(L, sizeof *argv * (size_t)(nargs + 1), 0);
    for (int i = 0; i < nargs; i++) {
        lua_geti(L, 1, i + 1);
        argv[i] = luaL_checkstring(L, -1); /* kept alive by the table */
        lua_pop(L, 1);
    }
    argv[nargs] = NULL;
    eng_proc_options opt = {0};
    const char **env = NULL;
    if (lua_istable(L, 2)) {
        opt.log_path = l_opt_string_field(L, 2, "spawn", "log", NULL);
        opt.memory_bytes = l_opt_integer_field(L, 2, "spawn", "memory", 0);
        lua_getfield(L, 2, "env");
        if (lua_istable(L, -1)) {
            int t = lua_gettop(L), n = (int)luaL_len(L, t);
            env = lua_newuserdatauv(L, sizeof *env * (size_t)(n + 1), 0);
            for (int i = 0; i < n; i++) {
                lua_geti(L, t, i + 1);
                env[i] = luaL_checkstring(L, -1);
                lua_pop(L, 1);
            }
            env[n] = NULL;
        }
    }
    opt.env = env;
    pid_t pid;
    if (eng_proc_spawn(argv, &opt, &pid))
        return l_engine_error(L);
    lua_pushinteger(L, pid);
    return 1;
}

/* sweep.poll(pid) -> nil while running; "exited", code, max_rss_kb; "signaled", signal,
 * name, max_rss_kb */
static int l_poll(lua_State *L)
{
    pid_t pid = (pid_t)luaL_checkinteger(L, 1);
    eng_proc_status st;
    if (eng_proc_poll(pid, &st))
        return l_engine_error(L);
    if (st.state == ENG_PROC_RUNNING) {
        lua_pushnil(L);
        return 1;
    }
    if (st.state == ENG_PROC_EXITED) {
        lua_pushliteral(L, "exited");
        lua_pushinteger(L, st.code);
        lua_pushnil(L);
    } else {
        char buf[32];
        lua_pushliteral(L, "signaled");
        lua_pushinteger(L, st.signal);
        lua_pushstring(L, eng_proc_signal_name(st.signal, buf));
    }
    lua_pushinteger(L, st.max_rss_kb);
    return 4;
}

/* sweep.kill(pid, "TERM" | "KILL") */
static int l_kill(lua_State *L)
{
    static const char *const names[] = {"TERM", "KILL", NULL};
    static const int sigs[] = {SIGTERM, SIGKILL};
    pid_t pid = (pid_t)luaL_checkinteger(L, 1);
    int which = luaL_checkoption(L, 2, "TERM", names);
    if (eng_proc_kill(pid, sigs[which]))
        return l_engine_error(L);
    return 0;
}

/* sweep.sleep(seconds) */
static int l_sleep(lua_State *L)
{
    double s = luaL_checknumber(L, 1);
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (s > 0 && nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
    return 0;
}

/* sweep.executable() -> the absolute path of this host program (/proc/self/exe) or nil */
static int l_executable(lua_State *L)
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0)
        return 0;
    lua_pushlstring(L, buf, (size_t)n);
    return 1;
}

/* sweep.pid() -> this process' id */
static int l_pid(lua_State *L)
{
    lua_pushinteger(L, getpid());
    return 1;
}

/* sweep.cores() -> the CPUs this process may run on */
static int l_cores(lua_State *L)
{
    cpu_set_t set;
    long n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set)
                                                         : sysconf(_SC_NPROCESSORS_ONLN);
    lua_pushinteger(L, n > 0 ? n : 1);
    return 1;
}

static const luaL_Reg sweep_funcs[] = {
    {"cores", l_cores},     {"spawn", l_spawn}, {"poll", l_poll},
    {"kill", l_kill},       {"sleep", l_sleep}, {"executable", l_executable},
    {"pid", l_pid},         {"clock", l_clock}, {"append", l_append},
    {"_read", l_read},      {"plot", l_plot},   {"svg", l_svg},
    {"heatmap", l_heatmap}, {NULL, NULL},
};

int luaopen_engine_sweep(lua_State *L)
{
    luaL_newlib(L, sweep_funcs);
    if (luaL_loadbuffer(L, sweep_lua, sizeof sweep_lua - 1, "=engine.sweep"))
        return lua_error(L);
    lua_pushvalue(L, -2);
    lua_call(L, 1, 0);
    if (luaL_loadbuffer(L, sweep_exec_lua, sizeof sweep_exec_lua - 1, "=engine.sweep_exec"))
        return lua_error(L);
    lua_pushvalue(L, -2);
    lua_call(L, 1, 0);
    if (luaL_loadbuffer(L, sweep_slurm_lua, sizeof sweep_slurm_lua - 1, "=engine.sweep_slurm"))
        return lua_error(L);
    lua_pushvalue(L, -2);
    lua_call(L, 1, 0);
    return 1;
}
