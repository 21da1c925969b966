/* engine.progress: the library's progress display (engine/progress.h) for Lua scripts.
 *
 *   local p = engine.progress.new("import train", 60000, {unit = "images"})
 *   for i = 1, n do ...; p:step() end          -- p:step(k) adds k; p:set(done) sets the count
 *   p:note(("loss %.4f"):format(loss))         -- text shown after the figures
 *   p:clear(); print("a line of its own")      -- on a tty: erase the bar, print, step redraws
 *   p:done()                                   -- final line (also on leaving a `<close>` scope)
 *   engine.progress.verbose(false)             -- silences every display that does not ask
 *
 * Options: unit (string), interval (seconds between plain lines off a tty, default 30),
 * verbose (false: silent; true: print even when engine.progress.verbose(false) was called),
 * mode ("auto", "tty", "plain"). */
#include <string.h>

#include "bindings.h"

#define ENG_LUA_PROGRESS "engine.Progress"

/* __gc: a display dropped without p:done() is ended with no final line. */
static void progress_free(void *box)
{
    eng_progress_abandon(*(eng_progress **)box);
}

static const l_boxclass progress_class = {ENG_LUA_PROGRESS, "progress display already finished",
                                          sizeof(eng_progress *), progress_free};

static eng_progress **check_box(lua_State *L)
{
    return luaL_checkudata(L, 1, ENG_LUA_PROGRESS);
}

static eng_progress *check_progress(lua_State *L)
{
    return *(eng_progress **)l_box_check(L, 1, &progress_class);
}

/* __close (a `local p <close>`): the final line on a normal exit, none when an error unwinds */
static int l_close(lua_State *L)
{
    eng_progress **box = check_box(L);
    if (lua_isnoneornil(L, 2))
        eng_progress_end(*box);
    else
        eng_progress_abandon(*box);
    *box = NULL;
    return 0;
}

static const char *const new_options[] = {"unit", "interval", "verbose", "mode", NULL};

/* engine.progress.new(label, total [, opts]) */
static int l_new(lua_State *L)
{
    const char *label = luaL_checkstring(L, 1);
    lua_Integer total = luaL_optinteger(L, 2, 0);
    l_check_options(L, 3, "progress.new", new_options);
    eng_progress_opts o = {0};
    o.unit = l_opt_string_field(L, 3, "progress.new", "unit", NULL);
    o.interval = l_opt_number_field(L, 3, "progress.new", "interval", 0);
    if (l_has_field(L, 3, "verbose"))
        o.verbose = l_opt_boolean_field(L, 3, "progress.new", "verbose", true)
                        ? ENG_PROGRESS_VERBOSE
                        : ENG_PROGRESS_QUIET;
    const char *mode = l_opt_string_field(L, 3, "progress.new", "mode", "auto");
    if (strcmp(mode, "auto") == 0)
        o.mode = ENG_PROGRESS_AUTO;
    else if (strcmp(mode, "tty") == 0)
        o.mode = ENG_PROGRESS_TTY;
    else if (strcmp(mode, "plain") == 0)
        o.mode = ENG_PROGRESS_PLAIN;
    else
        return luaL_error(L, "progress.new: option 'mode' must be auto, tty or plain, got '%s'",
                          mode);
    eng_progress **box = l_box_push(L, &progress_class, 0);
    if (eng_progress_begin(box, label, total, &o))
        return l_engine_error(L);
    return 1;
}

static int l_step(lua_State *L)
{
    eng_progress *p = check_progress(L);
    lua_Integer n = luaL_optinteger(L, 2, 1);
    luaL_argcheck(L, n >= 0, 2, "must be >= 0");
    eng_progress_step(p, n);
    return 0;
}

static int l_set(lua_State *L)
{
    eng_progress *p = check_progress(L);
    eng_progress_set(p, luaL_checkinteger(L, 2));
    return 0;
}

static int l_note(lua_State *L)
{
    eng_progress *p = check_progress(L);
    eng_progress_note(p, "%s", luaL_optstring(L, 2, ""));
    return 0;
}

static int l_clear(lua_State *L)
{
    eng_progress_clear(check_progress(L));
    return 0;
}

static int l_done(lua_State *L)
{
    eng_progress **box = check_box(L);
    eng_progress_end(*box);
    *box = NULL;
    return 0;
}

/* engine.progress.verbose([flag]) -> the process default (after setting it when given) */
static int l_verbose(lua_State *L)
{
    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TBOOLEAN);
        eng_progress_set_verbose(lua_toboolean(L, 1));
    }
    lua_pushboolean(L, eng_progress_verbose());
    return 1;
}

/* engine.progress.format_time(seconds) -> "1:02:03" */
static int l_format_time(lua_State *L)
{
    char buf[16];
    lua_pushstring(L, eng_progress_format_time(buf, luaL_checknumber(L, 1)));
    return 1;
}

static const luaL_Reg progress_methods[] = {
    {"step", l_step},   {"set", l_set},   {"note", l_note},
    {"clear", l_clear}, {"done", l_done}, {NULL, NULL},
};

static const luaL_Reg progress_funcs[] = {
    {"new", l_new},
    {"verbose", l_verbose},
    {"format_time", l_format_time},
    {NULL, NULL},
};

int luaopen_engine_progress(lua_State *L)
{
    l_box_class(L, &progress_class);
    luaL_newlib(L, progress_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_close); /* in place of the class's: ends with a final line */
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
    luaL_newlib(L, progress_funcs);
    return 1;
}
