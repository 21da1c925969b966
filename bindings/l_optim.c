/* engine.optim: optimizers (engine.Optimizer) over a Sequential's parameters.
 *
 * An optimizer holds views of the parameters and gradients it was made for, so it stays valid
 * whatever is collected first; layers added to the model afterwards are not in it. */
#include <stdio.h>
#include <string.h>

#include "bindings.h"

typedef struct optimbox {
    eng_optimizer *opt;  /* NULL once released */
    eng_sgd_options sgd; /* the configuration, for tostring */
} optimbox;

static optimbox *check_optimbox(lua_State *L, int arg)
{
    optimbox *box = luaL_checkudata(L, arg, ENG_LUA_OPTIMIZER);
    luaL_argcheck(L, box->opt != NULL, arg, "optimizer is closed");
    return box;
}

eng_optimizer *lua_checkoptimizer(lua_State *L, int arg)
{
    return check_optimbox(L, arg)->opt;
}

/* __gc and __close. */
static int optim_release(lua_State *L)
{
    optimbox *box = luaL_checkudata(L, 1, ENG_LUA_OPTIMIZER);
    eng_optimizer_release(box->opt);
    box->opt = NULL;
    return 0;
}

/* optim.SGD(model, {lr=, momentum=0, dampening=0, weight_decay=0, nesterov=false}) */
static int optim_sgd(lua_State *L)
{
    static const char *const names[] = {"lr",           "momentum", "dampening",
                                        "weight_decay", "nesterov", NULL};
    eng_model *model = lua_checkmodel(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_checkoptions(L, 2, "SGD", names);
    if (!lua_hasfield(L, 2, "lr"))
        return luaL_error(L, "SGD: option 'lr' is required");
    eng_sgd_options o = {
        .lr = lua_optnumberfield(L, 2, "SGD", "lr", 0),
        .momentum = lua_optnumberfield(L, 2, "SGD", "momentum", 0),
        .dampening = lua_optnumberfield(L, 2, "SGD", "dampening", 0),
        .weight_decay = lua_optnumberfield(L, 2, "SGD", "weight_decay", 0),
        .nesterov = lua_optbooleanfield(L, 2, "SGD", "nesterov", false),
    };
    optimbox *box = lua_newuserdatauv(L, sizeof *box, 0);
    box->opt = NULL;
    box->sgd = o;
    luaL_setmetatable(L, ENG_LUA_OPTIMIZER);
    if (eng_sgd_new(model, &o, &box->opt))
        return lua_engerror(L);
    return 1;
}

static int optim_step(lua_State *L)
{
    if (eng_optimizer_step(check_optimbox(L, 1)->opt))
        return lua_engerror(L);
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
    luaL_argcheck(L, lr > 0, 2, "learning rate must be > 0");
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

static int optim_tostring(lua_State *L)
{
    optimbox *box = luaL_checkudata(L, 1, ENG_LUA_OPTIMIZER);
    if (!box->opt) {
        lua_pushliteral(L, "Optimizer(closed)");
        return 1;
    }
    char buf[256];
    const eng_sgd_options *o = &box->sgd;
    snprintf(buf, sizeof buf,
             "SGD(lr=%g, momentum=%g, dampening=%g, weight_decay=%g, nesterov=%s; %d tensors)",
             box->opt->lr, o->momentum, o->dampening, o->weight_decay,
             o->nesterov ? "true" : "false", box->opt->nparams);
    lua_pushstring(L, buf);
    return 1;
}

static const luaL_Reg optim_methods[] = {
    {"step", optim_step},     {"zero_grad", optim_zero_grad}, {"lr", optim_lr},
    {"set_lr", optim_set_lr}, {"steps", optim_steps},         {NULL, NULL},
};

static const luaL_Reg optim_meta[] = {
    {"__gc", optim_release},
    {"__close", optim_release},
    {"__tostring", optim_tostring},
    {"__index", NULL},
    {NULL, NULL},
};

static const luaL_Reg optim_funcs[] = {
    {"SGD", optim_sgd},
    {NULL, NULL},
};

int luaopen_engine_optim(lua_State *L)
{
    luaL_newmetatable(L, ENG_LUA_OPTIMIZER);
    luaL_setfuncs(L, optim_meta, 0);
    luaL_newlib(L, optim_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, optim_funcs);
    return 1;
}
