/* engine.dist: data-parallel training over MPI (engine/dist.h). Thin: rank and size, the
 * broadcast of a model's parameters, the averaged allreduce of its gradients, a barrier and
 * the traffic counters; the sampler is Lua (bindings/dist.lua, compiled in). Outside MPI (no
 * ENGINE_MPI, or no launcher) it is one process, rank 0 of 1. */
#include <stdlib.h>

#include "bindings.h"
#include "dist.h"
#include "dist_lua.h"

static bool exit_hook;

static void init_or_raise(lua_State *L, int *rank, int *size)
{
    if (eng_dist_init(rank, size))
        l_engine_error(L);
    if (!exit_hook) {
        atexit(eng_dist_finalize);
        exit_hook = true;
    }
}

/* dist.init() -> rank, size (0-based rank, as MPI numbers them) */
static int l_init(lua_State *L)
{
    int rank, size;
    init_or_raise(L, &rank, &size);
    lua_pushinteger(L, rank);
    lua_pushinteger(L, size);
    return 2;
}

static int l_rank(lua_State *L)
{
    int rank;
    init_or_raise(L, &rank, NULL);
    lua_pushinteger(L, rank);
    return 1;
}

static int l_size(lua_State *L)
{
    int size;
    init_or_raise(L, NULL, &size);
    lua_pushinteger(L, size);
    return 1;
}

static int l_compiled(lua_State *L)
{
    lua_pushboolean(L, eng_dist_compiled());
    return 1;
}

/* The tensors of arg: a model's parameter values (grads = false) or gradients (true), or a
 * table of tensors. Kept alive by arg. */
static eng_tensor **tensors_of(lua_State *L, int arg, bool grads, int *n)
{
    if (lua_istable(L, arg)) {
        *n = (int)luaL_len(L, arg);
        eng_tensor **t = lua_newuserdatauv(L, sizeof *t * (size_t)(*n + 1), 0);
        for (int i = 0; i < *n; i++) {
            lua_geti(L, arg, i + 1);
            t[i] = l_check_tensor(L, -1);
            lua_pop(L, 1);
        }
        return t;
    }
    eng_model *model = l_check_model(L, arg);
    *n = eng_model_param_count(model);
    eng_tensor **t = lua_newuserdatauv(L, sizeof *t * (size_t)(*n + 1), 0);
    for (int i = 0; i < *n; i++) {
        eng_param *p = eng_model_param(model, i, NULL, 0);
        t[i] = grads ? p->grad : p->value;
    }
    return t;
}

/* dist.broadcast(model | {tensors}[, root = 0]): root's parameters (values) everywhere */
static int l_broadcast(lua_State *L)
{
    int n, root = (int)luaL_optinteger(L, 2, 0);
    init_or_raise(L, NULL, NULL);
    eng_tensor **t = tensors_of(L, 1, false, &n);
    if (eng_dist_broadcast(t, n, root))
        return l_engine_error(L);
    return 0;
}

/* dist.allreduce(model | {tensors}[, {bucket_mb = 4}]): each gradient (or tensor) replaced by
 * its mean over the processes */
static int l_allreduce(lua_State *L)
{
    int n;
    double mb = 4;
    if (lua_istable(L, 2))
        mb = l_opt_number_field(L, 2, "allreduce", "bucket_mb", 4);
    luaL_argcheck(L, mb > 0 && mb <= 1024, 2, "bucket_mb must be in (0, 1024]");
    init_or_raise(L, NULL, NULL);
    eng_tensor **t = tensors_of(L, 1, true, &n);
    if (eng_dist_allreduce_mean(t, n, (size_t)(mb * 1024 * 1024)))
        return l_engine_error(L);
    return 0;
}

static int l_barrier(lua_State *L)
{
    init_or_raise(L, NULL, NULL);
    if (eng_dist_barrier())
        return l_engine_error(L);
    return 0;
}

/* dist.stats() -> {allreduce_calls, allreduce_bytes, allreduce_seconds, broadcast_bytes};
 * dist.stats(true) also resets them */
static int l_stats(lua_State *L)
{
    eng_dist_stats s;
    eng_dist_stats_get(&s);
    if (lua_toboolean(L, 1))
        eng_dist_stats_reset();
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, s.allreduce_calls);
    lua_setfield(L, -2, "allreduce_calls");
    lua_pushinteger(L, s.allreduce_bytes);
    lua_setfield(L, -2, "allreduce_bytes");
    lua_pushnumber(L, s.allreduce_seconds);
    lua_setfield(L, -2, "allreduce_seconds");
    lua_pushinteger(L, s.broadcast_bytes);
    lua_setfield(L, -2, "broadcast_bytes");
    return 1;
}

/* clang-format off */
static const luaL_Reg dist_funcs[] = {
    {"init", l_init},           {"rank", l_rank},       {"size", l_size},
    {"compiled", l_compiled},   {"broadcast", l_broadcast}, {"allreduce", l_allreduce},
    {"barrier", l_barrier},     {"stats", l_stats},     {NULL, NULL},
};
/* clang-format on */

int luaopen_engine_dist(lua_State *L)
{
    luaL_newlib(L, dist_funcs);
    if (luaL_loadbuffer(L, dist_lua, sizeof dist_lua - 1, "=engine.dist"))
        return lua_error(L);
    lua_pushvalue(L, -2);
    lua_call(L, 1, 0);
    return 1;
}
