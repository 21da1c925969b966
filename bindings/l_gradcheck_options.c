/* engine.gradcheck: the checker's options table, read into eng_gc_options. Every check
 * function takes the same table; an unknown key is an error (a misspelt option must not pass
 * silently). */
#include <string.h>

#include "progress.h"
#include "l_gradcheck.h"

static const char *const check_options[] = {
    "samples", "seed",     "step",       "rtol",   "nsigma",  "worst",       "only",
    "input",   "mode",     "directions", "names",  "batch",   "sample_loss", "exclude",
    "full",    "localise", "loss_scale", "budget", "verbose", NULL};

eng_gc_options l_gc_read_options(lua_State *L, int arg, const char *fname)
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
    o.budget = l_opt_number_field(L, arg, fname, "budget", 0);
    if (lua_istable(L, arg)) {
        lua_getfield(L, arg, "verbose");
        if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
            luaL_error(L, "%s: option 'verbose' must be a boolean, got %s", fname,
                       luaL_typename(L, -1));
        if (!lua_isnil(L, -1))
            o.verbose = lua_toboolean(L, -1) ? ENG_PROGRESS_VERBOSE : ENG_PROGRESS_QUIET;
        lua_pop(L, 1);
    }
    if (o.budget < 0 || o.budget != o.budget)
        luaL_error(L,
                   "%s: option 'budget' must be a number of seconds >= 0 (math.huge: no "
                   "budget), got %f",
                   fname, o.budget);
    if (o.samples < 0)
        luaL_error(L, "%s: option 'samples' must be >= 0 (0 = every element), got %I", fname,
                   (lua_Integer)o.samples);
    if (o.step < 0 || o.rtol < 0 || o.nsigma < 0)
        luaL_error(L, "%s: options 'step', 'rtol' and 'nsigma' may not be negative", fname);
    return o;
}

l_gc_mode l_gc_read_mode(lua_State *L, int arg, const char *fname, int *directions)
{
    const char *m = l_opt_string_field(L, arg, fname, "mode", "element");
    *directions = (int)l_opt_integer_field(L, arg, fname, "directions", 16);
    if (strcmp(m, "element") == 0)
        return L_GC_ELEMENT;
    if (strcmp(m, "directional") == 0)
        return L_GC_DIRECTIONAL;
    luaL_error(L, "%s: option 'mode' is '%s' (expected 'element' or 'directional')", fname, m);
    return L_GC_ELEMENT;
}
