/* engine.nn losses (engine.Loss): a constructor nn.<Ctor> for every loss kind of the registry
 * (engine/loss/loss.h: nn.CrossEntropyLoss, nn.MSELoss, nn.NLLLoss, nn.HuberLoss, ...).
 *
 * The box keeps views of the last forward's input and target, so crit:backward() needs no
 * arguments (Torch7's criterion:backward takes them again; PyTorch's loss.backward() does
 * not). */
#include <string.h>

#include "bindings.h"

typedef struct lossbox {
    eng_loss *loss; /* NULL once released */
    const eng_loss_kind *kind;
    eng_settings settings; /* finished: what tostring prints and a saved check stores */
    eng_tensor *input;     /* views of the last forward's arguments, for backward */
    eng_tensor *target;
} lossbox;

static void lossbox_free(void *p)
{
    lossbox *box = p;
    eng_tensor_release(box->input);
    eng_tensor_release(box->target);
    eng_loss_release(box->loss);
    box->input = box->target = NULL;
}

static const l_boxclass loss_class = {ENG_LUA_LOSS, "loss is closed", sizeof(lossbox),
                                      lossbox_free};

static lossbox *check_lossbox(lua_State *L, int arg)
{
    return l_box_check(L, arg, &loss_class);
}

eng_loss *l_check_loss(lua_State *L, int arg)
{
    return check_lossbox(L, arg)->loss;
}

const eng_settings *l_test_loss_settings(lua_State *L, int arg, const char **ctor)
{
    lossbox *box = l_box_test(L, arg, &loss_class);
    if (!box)
        return NULL;
    *ctor = box->kind->ctor;
    return &box->settings;
}

/* engine.nn.<Ctor>(positional..., [options]) for every loss kind, from its declared settings:
 * nn.NLLLoss{reduction = "sum"}, nn.HuberLoss(0.5); upvalue 1: the kind (light userdata). */
static int nn_loss(lua_State *L)
{
    const eng_loss_kind *kind = lua_touserdata(L, lua_upvalueindex(1));
    eng_settings s;
    eng_loss_settings_init(&s, kind);
    l_settings_from_args(L, &s, kind->ctor, NULL);
    lossbox *box = l_box_push(L, &loss_class, 0);
    box->kind = kind;
    if (eng_loss_create(&s, &box->loss))
        return l_engine_error(L);
    box->settings = s;
    return 1;
}

/* The target at arg 3: a tensor, or for cross-entropy a list of 1-based class numbers, which
 * is converted (in a new box pushed on the stack) to the i64 0-based indices the C loss takes. */
static eng_tensor *check_target(lua_State *L, lossbox *box)
{
    eng_tensor *t = l_test_tensor(L, 3);
    if (t || lua_type(L, 3) != LUA_TTABLE || !box->kind->class_targets)
        return l_check_tensor(L, 3);
    int64_t n = (int64_t)luaL_len(L, 3);
    eng_tensor **slot = l_new_tensor_box(L);
    if (eng_tensor_new(ENG_I64, 1, &n, slot))
        l_engine_error(L);
    int64_t *labels = eng_tensor_data(*slot);
    for (int64_t i = 0; i < n; i++) {
        lua_geti(L, 3, i + 1);
        int isint = 0;
        lua_Integer k = lua_tointegerx(L, -1, &isint);
        if (!isint || k < 1)
            luaL_error(L, "%s: labels[%I] is %s, expected a 1-based class number", box->kind->ctor,
                       (lua_Integer)i + 1, luaL_tolstring(L, -1, NULL));
        labels[i] = k - 1;
        lua_pop(L, 1);
    }
    return *slot;
}

/* crit:forward(input, target) -> the loss as a number. */
static int loss_forward(lua_State *L)
{
    lossbox *box = check_lossbox(L, 1);
    eng_tensor *input = l_check_tensor(L, 2), *target = check_target(L, box);
    eng_tensor *iv = NULL, *tv = NULL;
    double value;
    eng_status st = eng_loss_forward(box->loss, input, target, &value);
    if (!st)
        st = eng_tensor_view(input, &iv);
    if (!st)
        st = eng_tensor_view(target, &tv);
    if (st) {
        eng_tensor_release(iv);
        return l_engine_error(L);
    }
    eng_tensor_release(box->input);
    eng_tensor_release(box->target);
    box->input = iv;
    box->target = tv;
    lua_pushnumber(L, value);
    return 1;
}

/* crit:backward([out]) -> d(loss)/d(input) for the last forward: written into out when out is
 * a tensor like the input (not sharing its storage), else a new tensor. */
static int loss_backward(lua_State *L)
{
    lossbox *box = check_lossbox(L, 1);
    if (!box->input)
        return luaL_error(L, "%s: backward before forward", box->kind->ctor);
    const eng_tensor *in = box->input;
    eng_tensor *out = l_reuse_tensor(L, 2, in->dtype, in->ndim, in->shape, in);
    if (eng_loss_backward(box->loss, box->input, box->target, out))
        return l_engine_error(L);
    return 1;
}

static int loss_tostring(lua_State *L)
{
    lossbox *box = luaL_checkudata(L, 1, ENG_LUA_LOSS);
    char buf[256];
    eng_settings_repr(&box->settings, box->kind->ctor, buf, sizeof buf);
    lua_pushstring(L, buf);
    return 1;
}

static const luaL_Reg loss_methods[] = {
    {"forward", loss_forward},
    {"backward", loss_backward},
    {NULL, NULL},
};

void l_open_losses(lua_State *L)
{
    l_new_class(L, &loss_class, loss_tostring, loss_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    for (int i = 0, n = eng_loss_kind_count(); i < n; i++) {
        const eng_loss_kind *kind = eng_loss_kind_at(i);
        lua_pushlightuserdata(L, (void *)kind);
        lua_pushcclosure(L, nn_loss, 1);
        lua_setfield(L, -2, kind->ctor);
    }
    lua_getfield(L, -1, "CrossEntropyLoss");
    lua_setfield(L, -2, "CrossEntropy"); /* Torch7's name */
}
