/* engine.optim: optimizers (engine.Optimizer) over a Sequential's parameters, gradient
 * clipping, and (l_schedule.c) learning-rate schedules.
 *
 * An optimizer holds views of the parameters and gradients it was made for, so it stays valid
 * whatever is collected first; layers added to the model afterwards are not in it. Options
 * carry PyTorch's names and defaults; only SGD requires lr, as in PyTorch. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bindings.h"
#include "plugin.h"

typedef struct optimbox {
    eng_optimizer *opt; /* NULL once released */
} optimbox;

static void optimbox_free(void *box)
{
    eng_optimizer_release(((optimbox *)box)->opt);
}

static const l_boxclass optim_class = {ENG_LUA_OPTIMIZER, "optimizer is closed", sizeof(optimbox),
                                       optimbox_free};

static optimbox *check_optimbox(lua_State *L, int arg)
{
    return l_box_check(L, arg, &optim_class);
}

eng_optimizer *l_check_optimizer(lua_State *L, int arg)
{
    return check_optimbox(L, arg)->opt;
}

/* Pushes an empty box; the constructor stores the optimizer in it. */
static optimbox *new_optimbox(lua_State *L)
{
    return l_box_push(L, &optim_class, 0);
}

/* ---- constructors: optim.<Kind>(model, options) ---- */

/* optim.SGD(model, {lr=, momentum=0, dampening=0, weight_decay=0, nesterov=false}) */
static int optim_sgd(lua_State *L)
{
    static const char *const names[] = {"lr",           "momentum", "dampening",
                                        "weight_decay", "nesterov", NULL};
    eng_model *model = l_check_model(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    l_check_options(L, 2, "SGD", names);
    if (!l_has_field(L, 2, "lr"))
        return luaL_error(L, "SGD: option 'lr' is required");
    eng_sgd_options o = {
        .lr = l_opt_number_field(L, 2, "SGD", "lr", 0),
        .momentum = l_opt_number_field(L, 2, "SGD", "momentum", 0),
        .dampening = l_opt_number_field(L, 2, "SGD", "dampening", 0),
        .weight_decay = l_opt_number_field(L, 2, "SGD", "weight_decay", 0),
        .nesterov = l_opt_boolean_field(L, 2, "SGD", "nesterov", false),
    };
    optimbox *box = new_optimbox(L);
    if (eng_sgd_new(eng_model_params(model), &o, &box->opt))
        return l_engine_error(L);
    return 1;
}

/* optim.RMSprop(model, {lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
 * centered=false}) */
static int optim_rmsprop(lua_State *L)
{
    static const char *const names[] = {"lr",       "alpha",    "eps", "weight_decay",
                                        "momentum", "centered", NULL};
    eng_model *model = l_check_model(L, 1);
    l_check_options(L, 2, "RMSprop", names);
    eng_rmsprop_options d = ENG_RMSPROP_DEFAULTS;
    eng_rmsprop_options o = {
        .lr = l_opt_number_field(L, 2, "RMSprop", "lr", d.lr),
        .alpha = l_opt_number_field(L, 2, "RMSprop", "alpha", d.alpha),
        .eps = l_opt_number_field(L, 2, "RMSprop", "eps", d.eps),
        .weight_decay = l_opt_number_field(L, 2, "RMSprop", "weight_decay", d.weight_decay),
        .momentum = l_opt_number_field(L, 2, "RMSprop", "momentum", d.momentum),
        .centered = l_opt_boolean_field(L, 2, "RMSprop", "centered", d.centered),
    };
    optimbox *box = new_optimbox(L);
    if (eng_rmsprop_new(eng_model_params(model), &o, &box->opt))
        return l_engine_error(L);
    return 1;
}

/* betas = {beta1, beta2}, as PyTorch's tuple. */
static void opt_betas(lua_State *L, int arg, const char *fname, eng_adam_options *o)
{
    if (!l_has_field(L, arg, "betas"))
        return;
    lua_getfield(L, arg, "betas");
    bool ok = lua_istable(L, -1) && luaL_len(L, -1) == 2;
    double b[2] = {0, 0};
    for (int i = 0; ok && i < 2; i++) {
        ok = lua_geti(L, -1, i + 1) == LUA_TNUMBER;
        b[i] = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    if (!ok)
        luaL_error(L, "%s: option 'betas' must be a table of two numbers {beta1, beta2}, got %s",
                   fname, l_typename_of(L, -1));
    lua_pop(L, 1);
    o->beta1 = b[0];
    o->beta2 = b[1];
}

/* optim.Adam and optim.AdamW (model, {lr=1e-3, betas={0.9, 0.999}, eps=1e-8,
 * weight_decay=0 (AdamW: 1e-2), amsgrad=false}); upvalue 1: true for AdamW. */
static int optim_adam(lua_State *L)
{
    static const char *const names[] = {"lr", "betas", "eps", "weight_decay", "amsgrad", NULL};
    bool decoupled = lua_toboolean(L, lua_upvalueindex(1));
    const char *fname = decoupled ? "AdamW" : "Adam";
    eng_model *model = l_check_model(L, 1);
    l_check_options(L, 2, fname, names);
    eng_adam_options d = decoupled ? ENG_ADAMW_DEFAULTS : ENG_ADAM_DEFAULTS;
    eng_adam_options o = d;
    o.lr = l_opt_number_field(L, 2, fname, "lr", d.lr);
    opt_betas(L, 2, fname, &o);
    o.eps = l_opt_number_field(L, 2, fname, "eps", d.eps);
    o.weight_decay = l_opt_number_field(L, 2, fname, "weight_decay", d.weight_decay);
    o.amsgrad = l_opt_boolean_field(L, 2, fname, "amsgrad", d.amsgrad);
    optimbox *box = new_optimbox(L);
    if ((decoupled ? eng_adamw_new : eng_adam_new)(eng_model_params(model), &o, &box->opt))
        return l_engine_error(L);
    return 1;
}

/* optim.Adagrad(model, {lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
 * eps=1e-10}) */
static int optim_adagrad(lua_State *L)
{
    static const char *const names[] = {
        "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps", NULL};
    eng_model *model = l_check_model(L, 1);
    l_check_options(L, 2, "Adagrad", names);
    eng_adagrad_options d = ENG_ADAGRAD_DEFAULTS;
    eng_adagrad_options o = {
        .lr = l_opt_number_field(L, 2, "Adagrad", "lr", d.lr),
        .lr_decay = l_opt_number_field(L, 2, "Adagrad", "lr_decay", d.lr_decay),
        .weight_decay = l_opt_number_field(L, 2, "Adagrad", "weight_decay", d.weight_decay),
        .initial_accumulator_value = l_opt_number_field(
            L, 2, "Adagrad", "initial_accumulator_value", d.initial_accumulator_value),
        .eps = l_opt_number_field(L, 2, "Adagrad", "eps", d.eps),
    };
    optimbox *box = new_optimbox(L);
    if (eng_adagrad_new(eng_model_params(model), &o, &box->opt))
        return l_engine_error(L);
    return 1;
}

/* An optimizer kind of a loaded plugin: numeric and boolean options go to its create. */
static int new_plugin_optimizer(lua_State *L, const eng_optimizer_kind *kind)
{
    eng_model *model = l_check_model(L, 1);
    eng_plugin_config config = {0};
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 2)) {
            if (lua_type(L, -2) != LUA_TSTRING)
                return luaL_error(L, "optim.new: option keys must be strings");
            int type = lua_type(L, -1);
            if (type != LUA_TNUMBER && type != LUA_TBOOLEAN)
                return luaL_error(L,
                                  "optim.new: option '%s' must be a number or a boolean, "
                                  "got %s",
                                  lua_tostring(L, -2), luaL_typename(L, -1));
            if (config.count == 16)
                return luaL_error(L, "optim.new: at most 16 settings");
            config.keys[config.count] = lua_tostring(L, -2); /* kept alive by the table */
            config.values[config.count++] =
                type == LUA_TBOOLEAN ? lua_toboolean(L, -1) : lua_tonumber(L, -1);
            lua_pop(L, 1);
        }
    }
    optimbox *box = new_optimbox(L);
    if (kind->create(eng_model_params(model), &config, &box->opt))
        return l_engine_error(L);
    if (!box->opt)
        return luaL_error(L, "optim.new: plugin kind '%s' created no optimizer", kind->name);
    return 1;
}

/* The built-in kinds by name (optim.new) and their display names (tostring). */
/* clang-format off */
static const struct {
    const char *kind, *display;
    lua_CFunction make;
    bool upvalue;
} kinds[] = {
    {"sgd", "SGD", optim_sgd, false},          {"rmsprop", "RMSprop", optim_rmsprop, false},
    {"adam", "Adam", optim_adam, false},       {"adamw", "AdamW", optim_adam, true},
    {"adagrad", "Adagrad", optim_adagrad, false},
};
/* clang-format on */
enum { NKINDS = sizeof kinds / sizeof kinds[0] };

/* optim.new(name, model, options): a built-in kind by its lower-case name ("adam"), or a
 * loaded plugin's kind. */
static int optim_new(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    /* checked here: the kind's constructor, called below without a name, would say '?' */
    if (!luaL_testudata(L, 2, ENG_LUA_SEQUENTIAL))
        return luaL_error(L, "optim.new: argument 2 must be a model (%s), got %s",
                          ENG_LUA_SEQUENTIAL, l_typename_of(L, 2));
    if (!lua_isnoneornil(L, 3) && !lua_istable(L, 3))
        return luaL_error(L, "optim.new: argument 3 must be a table of options, got %s",
                          l_typename_of(L, 3));
    for (int i = 0; i < NKINDS; i++) {
        if (strcmp(name, kinds[i].kind) == 0) {
            lua_remove(L, 1);
            lua_pushboolean(L, kinds[i].upvalue);
            lua_pushcclosure(L, kinds[i].make, 1);
            lua_insert(L, 1);
            lua_call(L, lua_gettop(L) - 1, 1);
            return 1;
        }
    }
    const eng_optimizer_kind *kind = eng_plugin_find_optimizer(name);
    if (kind) {
        lua_remove(L, 1);
        return new_plugin_optimizer(L, kind);
    }
    return luaL_error(L,
                      "optim.new: unknown optimizer '%s' (expected sgd, rmsprop, adam, "
                      "adamw, adagrad, or a kind of a loaded plugin)",
                      name);
}

/* ---- methods ---- */

static int optim_step(lua_State *L)
{
    if (eng_optimizer_step(check_optimbox(L, 1)->opt))
        return l_engine_error(L);
    return 0;
}

/* Zeroes the gradients of every parameter the optimizer updates (the model's, shared). */
static int optim_zero_grad(lua_State *L)
{
    eng_optimizer *opt = check_optimbox(L, 1)->opt;
    for (int i = 0; i < opt->nparams; i++)
        eng_tensor_zero(opt->params[i].grad);
    return 0;
}

static int optim_lr(lua_State *L)
{
    lua_pushnumber(L, check_optimbox(L, 1)->opt->lr);
    return 1;
}

static int optim_set_lr(lua_State *L)
{
    eng_optimizer *opt = check_optimbox(L, 1)->opt;
    lua_Number lr = luaL_checknumber(L, 2);
    luaL_argcheck(L, lr > 0 && isfinite(lr), 2, "learning rate must be > 0 and finite");
    opt->lr = lr;
    lua_settop(L, 1);
    return 1;
}

/* Completed steps. */
static int optim_steps(lua_State *L)
{
    lua_pushinteger(L, check_optimbox(L, 1)->opt->steps);
    return 1;
}

/* "adam", "sgd", ... (a plugin's own kind name for plugin optimizers). */
static int optim_kind(lua_State *L)
{
    lua_pushstring(L, check_optimbox(L, 1)->opt->ops->kind);
    return 1;
}

enum { MAX_HYPER = 32 };

/* {lr = 0.001, beta1 = 0.9, ...}: the numeric settings (booleans as true/false). */
static bool is_flag(const char *name)
{
    return strcmp(name, "nesterov") == 0 || strcmp(name, "amsgrad") == 0 ||
           strcmp(name, "centered") == 0;
}

static int optim_settings(lua_State *L)
{
    eng_optimizer *opt = check_optimbox(L, 1)->opt;
    const char *names[MAX_HYPER];
    double values[MAX_HYPER];
    int n = opt->ops->hyper ? opt->ops->hyper(opt, names, values, MAX_HYPER) : 0;
    n = n < MAX_HYPER ? n : MAX_HYPER;
    lua_createtable(L, 0, n + 1);
    for (int i = 0; i < n; i++) {
        if (is_flag(names[i]))
            lua_pushboolean(L, values[i] != 0);
        else
            lua_pushnumber(L, values[i]);
        lua_setfield(L, -2, names[i]);
    }
    lua_pushnumber(L, opt->lr);
    lua_setfield(L, -2, "lr");
    return 1;
}

/* {step = n, ["linear_1.weight"] = {exp_avg = <copy>, ...}, ...}: the state a checkpoint
 * keeps, under PyTorch's names; slots not created yet are absent. */
static int optim_state(lua_State *L)
{
    eng_optimizer *opt = check_optimbox(L, 1)->opt;
    lua_createtable(L, 0, opt->nparams + 1);
    lua_pushinteger(L, opt->steps);
    lua_setfield(L, -2, "step");
    for (int i = 0; i < opt->nparams; i++) {
        lua_createtable(L, 0, opt->ops->nslots);
        for (int k = 0; k < opt->ops->nslots; k++) {
            const eng_tensor *slot = opt->slots[i * opt->ops->nslots + k];
            if (slot) {
                l_push_tensor_copy(L, slot);
                lua_setfield(L, -2, opt->ops->slot_names[k]);
            }
        }
        lua_setfield(L, -2, opt->params[i].name);
    }
    return 1;
}

static int optim_tostring(lua_State *L)
{
    optimbox *box = luaL_checkudata(L, 1, ENG_LUA_OPTIMIZER);
    if (!box->opt) {
        lua_pushliteral(L, "Optimizer(closed)");
        return 1;
    }
    eng_optimizer *opt = box->opt;
    const char *display = opt->ops->kind;
    for (int i = 0; i < NKINDS; i++)
        if (strcmp(display, kinds[i].kind) == 0)
            display = kinds[i].display;
    const char *names[MAX_HYPER];
    double values[MAX_HYPER];
    int n = opt->ops->hyper ? opt->ops->hyper(opt, names, values, MAX_HYPER) : 0;
    n = n < MAX_HYPER ? n : MAX_HYPER;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, display);
    luaL_addchar(&b, '(');
    for (int i = 0; i < n; i++) {
        char item[128];
        if (is_flag(names[i]))
            snprintf(item, sizeof item, "%s%s=%s", i ? ", " : "", names[i],
                     values[i] != 0 ? "true" : "false");
        else
            snprintf(item, sizeof item, "%s%s=%g", i ? ", " : "", names[i], values[i]);
        luaL_addstring(&b, item);
    }
    char tail[96];
    snprintf(tail, sizeof tail, "; %d tensors, %lld steps)", opt->nparams, (long long)opt->steps);
    luaL_addstring(&b, tail);
    luaL_pushresult(&b);
    return 1;
}

/* ---- gradient clipping ---- */

/* optim.clip_grad_norm(model, max_norm, {norm_type=2, error_if_nonfinite=false}) -> the total
 * norm before clipping. norm_type may be math.huge (the largest |g|). */
static int optim_clip_grad_norm(lua_State *L)
{
    static const char *const names[] = {"norm_type", "error_if_nonfinite", NULL};
    eng_model *model = l_check_model(L, 1);
    lua_Number max_norm = luaL_checknumber(L, 2);
    l_check_options(L, 3, "clip_grad_norm", names);
    lua_Number norm_type = l_opt_number_field(L, 3, "clip_grad_norm", "norm_type", 2);
    bool strict = l_opt_boolean_field(L, 3, "clip_grad_norm", "error_if_nonfinite", false);
    double total;
    if (eng_clip_grad_norm(eng_model_params(model), max_norm, norm_type, strict, &total))
        return l_engine_error(L);
    lua_pushnumber(L, total);
    return 1;
}

/* optim.clip_grad_value(model, clip_value) */
static int optim_clip_grad_value(lua_State *L)
{
    eng_model *model = l_check_model(L, 1);
    if (eng_clip_grad_value(eng_model_params(model), luaL_checknumber(L, 2)))
        return l_engine_error(L);
    return 0;
}

/* clang-format off */
static const luaL_Reg optim_methods[] = {
    {"step", optim_step},     {"zero_grad", optim_zero_grad}, {"lr", optim_lr},
    {"set_lr", optim_set_lr}, {"steps", optim_steps},         {"kind", optim_kind},
    {"settings", optim_settings}, {"state", optim_state},     {NULL, NULL},
};
/* clang-format on */

static const luaL_Reg optim_meta[] = {
    {"__tostring", optim_tostring},
    {"__index", NULL},
    {NULL, NULL},
};

static const luaL_Reg optim_funcs[] = {
    {"new", optim_new},
    {"clip_grad_norm", optim_clip_grad_norm},
    {"clip_grad_value", optim_clip_grad_value},
    {NULL, NULL},
};

int luaopen_engine_optim(lua_State *L)
{
    l_box_class(L, &optim_class);
    luaL_setfuncs(L, optim_meta, 0);
    luaL_newlib(L, optim_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, optim_funcs);
    for (int i = 0; i < NKINDS; i++) {
        lua_pushboolean(L, kinds[i].upvalue);
        lua_pushcclosure(L, kinds[i].make, 1);
        lua_setfield(L, -2, kinds[i].display);
    }
    l_open_schedules(L);
    return 1;
}
