/* engine.gradcheck: reports as plain Lua tables (a person can read them with print, a script
 * can test report.ok), with 1-based indices; report:save(path) and gradcheck.replay(path). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck/report_io.h"
#include "l_gradcheck.h"

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

/* Pushes the t->nworst worst elements of tensor report t as a list of tables. */
static void push_worst(lua_State *L, const eng_gc_tensor_report *t)
{
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
}

/* Pushes the report of one tensor as a table. */
static void push_tensor_report(lua_State *L, const eng_gc_tensor_report *t)
{
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
    int64_t numel = 1;
    for (int d = 0; d < t->ndim; d++)
        numel *= t->shape[d];
    set_integer(L, "elements", numel);
    set_number(L, "coverage", numel ? (double)t->checked / (double)numel : 1.0);
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
    push_worst(L, t);
    lua_setfield(L, -2, "worst");
}

void l_gc_push_report(lua_State *L, const eng_gc_report *r)
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
        l_gc_push_report(L, r->localised);
        lua_setfield(L, -2, "localised");
    }
    set_string(L, "warning", r->warning);
    set_string(L, "summary", r->summary);
    set_string(L, "first_failing", r->first_failing);
    set_integer(L, "evaluations", r->evaluations);
    set_integer(L, "elements_checked", r->elements_checked);
    set_integer(L, "elements_total", r->elements_total);
    /* the fraction of the elements checked one by one (directional mode: 0 when no tensor
     * failed; its directions are counted apart) */
    set_number(L, "coverage",
               r->elements_total ? (double)r->elements_checked / (double)r->elements_total
               : r->directions   ? 0.0
                                 : 1.0);
    if (r->estimated_seconds > 0) {
        set_number(L, "estimated_seconds", r->estimated_seconds);
        set_number(L, "budget", r->budget);
        lua_pushboolean(L, r->budget_sampled);
        lua_setfield(L, -2, "sampled");
        if (r->budget_slowdown > 0)
            set_number(L, "slowdown", r->budget_slowdown);
    }
    set_number(L, "seconds", r->seconds);
    if (r->directions) {
        set_integer(L, "directions", r->directions);
        set_integer(L, "directions_failed", r->directions_failed);
        set_integer(L, "directions_tensors", r->directions_tensors);
    }
    lua_createtable(L, r->ntensors, r->ntensors);
    for (int i = 0; i < r->ntensors; i++) {
        push_tensor_report(L, &r->tensors[i]);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, r->tensors[i].name); /* tensors["conv2d_1.weight"] as well as [i] */
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
    luaL_getmetatable(L, ENG_LUA_GRADCHECK_REPORT);
    lua_setmetatable(L, -2);
}

/* Records what a report was computed from (l_gradcheck.h). */
void l_gc_keep_inputs(lua_State *L, int model, int criterion, int x, int target, int options)
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

/* ---- the C objects behind a report table: the report (_report), kept for report:save, and
 * for a replayed report the saved report it came from (_saved, whose spec a save reuses) ---- */

#define ENG_LUA_GRADCHECK_DATA "engine.GradcheckReportData"
#define ENG_LUA_GRADCHECK_SAVED "engine.GradcheckSaved"

typedef struct report_box {
    eng_gc_report *report;
} report_box;

typedef struct saved_box {
    eng_gc_saved_report *saved;
} saved_box;

static void report_box_free(void *box)
{
    eng_gc_report_free(((report_box *)box)->report);
}

static void saved_box_free(void *box)
{
    eng_gc_saved_report_free(((saved_box *)box)->saved);
}

static const l_boxclass report_class = {ENG_LUA_GRADCHECK_DATA, NULL, sizeof(report_box),
                                        report_box_free};
static const l_boxclass saved_class = {ENG_LUA_GRADCHECK_SAVED, NULL, sizeof(saved_box),
                                       saved_box_free};

eng_gc_report **l_gc_new_report_box(lua_State *L)
{
    report_box *box = l_box_push(L, &report_class, 0);
    return &box->report;
}

void l_gc_push_boxed_report(lua_State *L)
{
    report_box *box = l_box_check(L, lua_gettop(L), &report_class);
    l_gc_push_report(L, box->report);
    lua_rotate(L, -2, 1);
    lua_setfield(L, -2, "_report");
}

/* The spec of a report made by gradcheck.check or check_layers, from its hidden fields (the
 * values stay on the stack while the spec is used). */
static void read_spec(lua_State *L, int report, eng_gc_check_spec *spec)
{
    memset(spec, 0, sizeof *spec);
    lua_getfield(L, report, "_model");
    spec->model = l_check_model(L, lua_gettop(L));
    lua_getfield(L, report, "_x");
    spec->x = l_check_tensor(L, lua_gettop(L));
    if (lua_getfield(L, report, "_criterion") != LUA_TNIL) {
        const char *ctor = ENG_GC_CRITERION_LUA; /* a table: written in Lua */
        const eng_settings *settings = l_test_loss_settings(L, lua_gettop(L), &ctor);
        snprintf(spec->criterion, sizeof spec->criterion, "%s", ctor);
        if (settings)
            spec->criterion_settings = *settings;
        lua_getfield(L, report, "_y");
        spec->y = l_check_tensor(L, lua_gettop(L));
    }
    lua_getfield(L, report, "_options");
    int options = lua_gettop(L), directions;
    spec->options = l_gc_read_options(L, options, "report:save");
    spec->directional = l_gc_read_mode(L, options, "report:save", &directions) == L_GC_DIRECTIONAL;
    spec->directions = directions;
    spec->input = l_opt_boolean_field(L, options, "report:save", "input", false);
    spec->loss_scale = l_opt_number_field(L, options, "report:save", "loss_scale", 1.0);
}

/* report:save(path) -> report */
static int report_save(lua_State *L)
{
    if (lua_type(L, 2) != LUA_TSTRING)
        return luaL_error(L, "report:save: path must be a string, got %s", luaL_typename(L, 2));
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);
    lua_getfield(L, 1, "_report");
    report_box *rbox = l_box_test(L, 3, &report_class);
    lua_getfield(L, 1, "_saved");
    saved_box *sbox = l_box_test(L, 4, &saved_class);
    bool has_inputs = l_has_field(L, 1, "_model") && l_has_field(L, 1, "_x");
    if (!rbox || !rbox->report || !(has_inputs || (sbox && sbox->saved)))
        return luaL_error(L, "report:save: only the reports of gradcheck.check and "
                             "gradcheck.check_layers can be saved (they hold the model and the "
                             "batch)");
    eng_gc_check_spec spec;
    if (sbox && sbox->saved)
        spec = sbox->saved->spec;
    else
        read_spec(L, 1, &spec);
    if (eng_gc_report_save(lua_tostring(L, 2), &spec, rbox->report))
        return l_engine_error(L);
    lua_settop(L, 1);
    return 1;
}

/* gradcheck.replay(path [, model [, criterion]]) -> the new report, with report.replay =
 * {path=, stored_verdict=, same_verdict=, stored=}; criterion: in place of the saved one (a
 * criterion written in Lua must be given) */
static int l_replay(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TSTRING)
        return luaL_error(L, "gradcheck.replay: path must be a string, got %s",
                          luaL_typename(L, 1));
    eng_model *model = lua_isnoneornil(L, 2) ? NULL : l_check_model(L, 2);
    lua_settop(L, 3);
    saved_box *sbox = l_box_push(L, &saved_class, 0); /* 4 */
    eng_gc_report **r = l_gc_new_report_box(L);       /* 5 */
    eng_loss *owned = NULL;                           /* last: nothing may raise while it is held */
    eng_loss *criterion = lua_isnil(L, 3) ? NULL : l_gc_check_criterion(L, 3, &owned);
    eng_status st = eng_gc_report_load(lua_tostring(L, 1), model, &sbox->saved);
    if (!st)
        st = eng_gc_replay_with(sbox->saved, criterion, r);
    eng_loss_release(owned);
    if (st)
        return l_engine_error(L);
    bool same = (*r)->verdict == sbox->saved->verdict;
    l_gc_push_boxed_report(L); /* 5 */
    lua_pushvalue(L, 4);
    lua_setfield(L, 5, "_saved");
    if (model) { /* keeps the model the saved spec borrows alive */
        lua_pushvalue(L, 2);
        lua_setfield(L, 5, "_model");
    }
    if (criterion) {
        lua_pushvalue(L, 3);
        lua_setfield(L, 5, "_criterion");
    }
    lua_createtable(L, 0, 4);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "path");
    lua_pushstring(L, eng_gc_verdict_name(sbox->saved->verdict));
    lua_setfield(L, -2, "stored_verdict");
    lua_pushboolean(L, same);
    lua_setfield(L, -2, "same_verdict");
    l_push_meta(L, sbox->saved->stored);
    lua_setfield(L, -2, "stored");
    lua_setfield(L, 5, "replay");
    return 1;
}

void l_gc_open_reports(lua_State *L)
{
    l_box_class(L, &report_class);
    l_box_class(L, &saved_class);
    lua_pop(L, 2);
    if (luaL_newmetatable(L, ENG_LUA_GRADCHECK_REPORT)) {
        lua_pushcfunction(L, report_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_newtable(L); /* methods: save (and html, from engine.report) */
        lua_pushcfunction(L, report_save);
        lua_setfield(L, -2, "save");
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, l_replay);
    lua_setfield(L, -2, "replay");
}
