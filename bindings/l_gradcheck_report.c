/* engine.gradcheck: reports as plain Lua tables (a person can read them with print, a script
 * can test report.ok), with 1-based indices; report:save(path) and gradcheck.replay(path). */
#include <stdlib.h>
#include <string.h>

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
    set_number(L, "seconds", r->seconds);
    if (r->directions) {
        set_integer(L, "directions", r->directions);
        set_integer(L, "directions_failed", r->directions_failed);
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

void l_gc_open_reports(lua_State *L)
{
    if (luaL_newmetatable(L, ENG_LUA_GRADCHECK_REPORT)) {
        lua_pushcfunction(L, report_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, "__index"); /* methods: save */
        if (luaL_loadbuffer(L, replay_source, sizeof replay_source - 1, "=gradcheck_replay"))
            lua_error(L);
        lua_pushvalue(L, -4); /* the module */
        lua_pushvalue(L, -3); /* the methods */
        lua_call(L, 2, 0);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}
