/* Learning-rate schedules in engine.optim (engine.Scheduler): torch.optim.lr_scheduler's
 * StepLR, ExponentialLR, CosineAnnealingLR and LinearLR over an engine.Optimizer.
 *
 *   local sched = optim.StepLR(opt, {step_size = 30, gamma = 0.1})
 *   for epoch = 1, n do train(); sched:step() end
 *
 * The box keeps its optimizer's box as user value 1, so the optimizer lives as long as the
 * schedule; a closed optimizer is refused at the next step. */
#include <stdio.h>
#include <string.h>

#include "bindings.h"

typedef struct schedbox {
    eng_schedule sched;
} schedbox;

/* a value in the box, never closed; nothing to free */
static const l_boxclass sched_class = {ENG_LUA_SCHEDULER, NULL, sizeof(schedbox), NULL};

static schedbox *check_schedbox(lua_State *L, int arg)
{
    return l_box_check(L, arg, &sched_class);
}

eng_schedule *l_check_schedule(lua_State *L, int arg)
{
    return &check_schedbox(L, arg)->sched;
}

/* Pushes a box for the optimizer at index 1 (kept as its user value). */
static schedbox *new_schedbox(lua_State *L)
{
    schedbox *box = l_box_push(L, &sched_class, 1);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    return box;
}

/* optim.StepLR(opt, {step_size=, gamma=0.1}) */
static int sched_step_lr(lua_State *L)
{
    static const char *const names[] = {"step_size", "gamma", NULL};
    eng_optimizer *opt = l_check_optimizer(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    l_check_options(L, 2, "StepLR", names);
    if (!l_has_field(L, 2, "step_size"))
        return luaL_error(L, "StepLR: option 'step_size' is required");
    lua_Integer step_size = l_opt_integer_field(L, 2, "StepLR", "step_size", 0);
    lua_Number gamma = l_opt_number_field(L, 2, "StepLR", "gamma", 0.1);
    schedbox *box = new_schedbox(L);
    if (eng_step_lr_init(&box->sched, opt, step_size, gamma))
        return l_engine_error(L);
    return 1;
}

/* optim.ExponentialLR(opt, {gamma=}) */
static int sched_exponential_lr(lua_State *L)
{
    static const char *const names[] = {"gamma", NULL};
    eng_optimizer *opt = l_check_optimizer(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    l_check_options(L, 2, "ExponentialLR", names);
    if (!l_has_field(L, 2, "gamma"))
        return luaL_error(L, "ExponentialLR: option 'gamma' is required");
    lua_Number gamma = l_opt_number_field(L, 2, "ExponentialLR", "gamma", 0);
    schedbox *box = new_schedbox(L);
    if (eng_exponential_lr_init(&box->sched, opt, gamma))
        return l_engine_error(L);
    return 1;
}

/* optim.CosineAnnealingLR(opt, {T_max=, eta_min=0}) */
static int sched_cosine_lr(lua_State *L)
{
    static const char *const names[] = {"T_max", "eta_min", NULL};
    eng_optimizer *opt = l_check_optimizer(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    l_check_options(L, 2, "CosineAnnealingLR", names);
    if (!l_has_field(L, 2, "T_max"))
        return luaL_error(L, "CosineAnnealingLR: option 'T_max' is required");
    lua_Integer t_max = l_opt_integer_field(L, 2, "CosineAnnealingLR", "T_max", 0);
    lua_Number eta_min = l_opt_number_field(L, 2, "CosineAnnealingLR", "eta_min", 0);
    schedbox *box = new_schedbox(L);
    if (eng_cosine_lr_init(&box->sched, opt, t_max, eta_min))
        return l_engine_error(L);
    return 1;
}

/* optim.LinearLR(opt, {start_factor=1/3, end_factor=1, total_iters=5}): the linear warm-up. */
static int sched_linear_lr(lua_State *L)
{
    static const char *const names[] = {"start_factor", "end_factor", "total_iters", NULL};
    eng_optimizer *opt = l_check_optimizer(L, 1);
    l_check_options(L, 2, "LinearLR", names);
    lua_Number start = l_opt_number_field(L, 2, "LinearLR", "start_factor", 1.0 / 3);
    lua_Number end = l_opt_number_field(L, 2, "LinearLR", "end_factor", 1.0);
    lua_Integer iters = l_opt_integer_field(L, 2, "LinearLR", "total_iters", 5);
    schedbox *box = new_schedbox(L);
    if (eng_linear_lr_init(&box->sched, opt, start, end, iters))
        return l_engine_error(L);
    return 1;
}

static const struct {
    const char *name, *display;
    lua_CFunction make;
} kinds[] = {
    {"step", "StepLR", sched_step_lr},
    {"exponential", "ExponentialLR", sched_exponential_lr},
    {"cosine", "CosineAnnealingLR", sched_cosine_lr},
    {"linear", "LinearLR", sched_linear_lr},
};
enum { NKINDS = sizeof kinds / sizeof kinds[0] };

/* optim.scheduler(name, opt, options): "step", "exponential", "cosine" or "linear". */
static int sched_new(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    for (int i = 0; i < NKINDS; i++) {
        if (strcmp(name, kinds[i].name) == 0) {
            lua_remove(L, 1);
            lua_pushcfunction(L, kinds[i].make);
            lua_insert(L, 1);
            lua_call(L, lua_gettop(L) - 1, 1);
            return 1;
        }
    }
    return luaL_error(L,
                      "optim.scheduler: unknown schedule '%s' (expected step, exponential, "
                      "cosine, linear)",
                      name);
}

/* sched:step() -> the new learning rate, also set on the optimizer. */
static int sched_step(lua_State *L)
{
    schedbox *box = check_schedbox(L, 1);
    lua_getiuservalue(L, 1, 1);
    eng_optimizer *opt = l_check_optimizer(L, lua_absindex(L, -1));
    eng_schedule_step(&box->sched, opt);
    lua_pushnumber(L, opt->lr);
    return 1;
}

/* The learning rate the schedule set last (PyTorch's get_last_lr()[0]). */
static int sched_lr(lua_State *L)
{
    lua_pushnumber(L, check_schedbox(L, 1)->sched.last_lr);
    return 1;
}

static int sched_last_epoch(lua_State *L)
{
    lua_pushinteger(L, check_schedbox(L, 1)->sched.last_epoch);
    return 1;
}

static int sched_tostring(lua_State *L)
{
    const eng_schedule *s = &check_schedbox(L, 1)->sched;
    char args[160];
    switch (s->kind) {
    case ENG_SCHEDULE_STEP:
        snprintf(args, sizeof args, "step_size=%lld, gamma=%g", (long long)s->step.step_size,
                 s->step.gamma);
        break;
    case ENG_SCHEDULE_EXPONENTIAL:
        snprintf(args, sizeof args, "gamma=%g", s->exponential.gamma);
        break;
    case ENG_SCHEDULE_COSINE:
        snprintf(args, sizeof args, "T_max=%lld, eta_min=%g", (long long)s->cosine.t_max,
                 s->cosine.eta_min);
        break;
    case ENG_SCHEDULE_LINEAR:
        snprintf(args, sizeof args, "start_factor=%g, end_factor=%g, total_iters=%lld",
                 s->linear.start_factor, s->linear.end_factor, (long long)s->linear.total_iters);
        break;
    }
    char buf[320];
    snprintf(buf, sizeof buf, "%s(%s; base_lr=%g, last_epoch=%lld, lr=%g)",
             eng_schedule_kind_name(s->kind), args, s->base_lr, (long long)s->last_epoch,
             s->last_lr);
    lua_pushstring(L, buf);
    return 1;
}

static const luaL_Reg sched_methods[] = {
    {"step", sched_step},
    {"lr", sched_lr},
    {"last_epoch", sched_last_epoch},
    {NULL, NULL},
};

static const luaL_Reg sched_meta[] = {
    {"__tostring", sched_tostring},
    {"__index", NULL},
    {NULL, NULL},
};

void l_open_schedules(lua_State *L)
{
    l_box_class(L, &sched_class);
    luaL_setfuncs(L, sched_meta, 0);
    luaL_newlib(L, sched_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    for (int i = 0; i < NKINDS; i++) {
        lua_pushcfunction(L, kinds[i].make);
        lua_setfield(L, -2, kinds[i].display);
    }
    lua_pushcfunction(L, sched_new);
    lua_setfield(L, -2, "scheduler");
}
