/* engine.nn.Sequential (engine.Sequential): a list of layers run in order.
 *
 * The model box keeps the boxes of its layers (uservalue 1), so model[i] is the very box that
 * was added, and stamps them at each model:forward: a lone layer:forward of one of its layers
 * in between makes model:backward refuse instead of using the wrong saved state (l_nn.c). */
#include <stdio.h>
#include <string.h>

#include "bindings.h"

typedef struct modelbox {
    eng_model *model; /* one reference; NULL once released */
    uint64_t stamp;   /* of the last model:forward */
} modelbox;

static void modelbox_free(void *box)
{
    eng_model_release(((modelbox *)box)->model);
}

static const l_boxclass model_class = {ENG_LUA_SEQUENTIAL, "model is closed", sizeof(modelbox),
                                       modelbox_free};

/* The box's uservalue 1 is the list of its layer boxes, so that model[i] returns the same
 * box that was added and the layers' boxes live as long as the model's. */

static modelbox *check_modelbox(lua_State *L, int arg)
{
    return l_box_check(L, arg, &model_class);
}

eng_model *l_check_model(lua_State *L, int arg)
{
    return check_modelbox(L, arg)->model;
}

/* Pushes a new model box with an empty layer list. */
static modelbox *new_modelbox(lua_State *L)
{
    modelbox *box = l_box_push(L, &model_class, 1);
    lua_newtable(L);
    lua_setiuservalue(L, -2, 1);
    return box;
}

/* Appends the layer box at idx to the model box at model_idx. */
static void add_layer(lua_State *L, int model_idx, int idx, const char *where)
{
    if (luaL_testudata(L, idx, ENG_LUA_SEQUENTIAL)) {
        l_push_sequential_layer(L, idx); /* a Sequential inside a Sequential */
        idx = lua_gettop(L);
    }
    l_layerbox *lbox = luaL_testudata(L, idx, ENG_LUA_LAYER);
    if (!lbox)
        luaL_error(L, "Sequential: %s: engine.Layer expected, got %s", where,
                   l_typename_of(L, idx));
    if (!lbox->layer)
        luaL_error(L, "Sequential: %s is a closed layer", where);
    modelbox *box = check_modelbox(L, model_idx);
    if (eng_model_add(box->model, lbox->layer))
        l_engine_error(L);
    lua_getiuservalue(L, model_idx, 1);
    lua_pushvalue(L, idx);
    lua_rawseti(L, -2, box->model->nlayers);
    lua_pop(L, 1);
}

/* nn.Sequential{l1, l2, ...} or nn.Sequential(l1, l2, ...) */
static int nn_sequential(lua_State *L)
{
    int n = lua_gettop(L);
    bool list = n == 1 && lua_type(L, 1) == LUA_TTABLE && !lua_getmetatable(L, 1);
    modelbox *box = new_modelbox(L);
    int model_idx = lua_gettop(L);
    if (eng_model_new(&box->model))
        return l_engine_error(L);
    if (list) {
        lua_Integer count = luaL_len(L, 1);
        for (lua_Integer i = 1; i <= count; i++) {
            lua_geti(L, 1, i);
            int idx = lua_gettop(L);
            add_layer(L, model_idx, idx, lua_pushfstring(L, "element %I", i));
            lua_settop(L, model_idx);
        }
    } else {
        for (int i = 1; i <= n; i++) {
            add_layer(L, model_idx, i, lua_pushfstring(L, "argument #%d", i));
            lua_settop(L, model_idx);
        }
    }
    lua_settop(L, model_idx);
    return 1;
}

static int model_add(lua_State *L)
{
    check_modelbox(L, 1);
    add_layer(L, 1, 2, "argument #1");
    lua_settop(L, 1);
    return 1;
}

/* Stamps every layer box of the model (their C state now belongs to this forward) and drops
 * their layer:forward caches. */
static void stamp_layers(lua_State *L, modelbox *box)
{
    lua_getiuservalue(L, 1, 1);
    for (int i = 1; i <= box->model->nlayers; i++) {
        lua_geti(L, -1, i);
        l_layerbox *lbox = lua_touserdata(L, -1);
        l_layerbox_clear(lbox);
        lbox->stamp = box->stamp;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* model:forward(x [, out]) -> y, a copy of the output: written into out when out is a
 * tensor of y's shape and dtype (not sharing x's storage), else a new tensor. */
static int model_forward(lua_State *L)
{
    modelbox *box = check_modelbox(L, 1);
    eng_tensor *x = l_check_tensor(L, 2);
    const eng_tensor *y;
    box->stamp = l_next_forward_stamp();
    stamp_layers(L, box);
    if (eng_model_forward(box->model, x, &y))
        return l_engine_error(L);
    eng_tensor *out = l_reuse_tensor(L, 3, y->dtype, y->ndim, y->shape, x);
    if (eng_tensor_copy(out, y))
        return l_engine_error(L);
    return 1;
}

/* model:backward(dy [, want_dx]) -> dx when want_dx, else nothing. */
static int model_backward(lua_State *L)
{
    modelbox *box = check_modelbox(L, 1);
    eng_tensor *dy = l_check_tensor(L, 2);
    bool want_dx = lua_toboolean(L, 3);
    lua_getiuservalue(L, 1, 1);
    /* Without a forward the C call below says so itself. */
    for (int i = 1; box->model->forwarded && i <= box->model->nlayers; i++) {
        lua_geti(L, -1, i);
        l_layerbox *lbox = lua_touserdata(L, -1);
        if (lbox->stamp != box->stamp)
            return luaL_error(L,
                              "sequential: layer %d ('%s') ran another forward since this "
                              "model's forward; call model:forward again",
                              i, box->model->layers[i - 1]->name);
        lua_pop(L, 1);
    }
    const eng_tensor *dx;
    if (!want_dx) {
        if (eng_model_backward(box->model, dy, NULL))
            return l_engine_error(L);
        return 0;
    }
    eng_tensor **slot = l_new_tensor_box(L);
    if (eng_model_backward(box->model, dy, &dx) || eng_tensor_clone(dx, slot))
        return l_engine_error(L);
    return 1;
}

static int model_parameters(lua_State *L)
{
    eng_model *model = l_check_model(L, 1);
    int n = eng_model_param_count(model);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        char name[ENG_PARAM_NAME_MAX];
        l_push_param(L, name, eng_model_param(model, i, name, sizeof name));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int model_zero_grad(lua_State *L)
{
    eng_model_zero_grad(l_check_model(L, 1));
    return 0;
}

/* model:train(), model:eval(), also setting the mode of the layers' own forward; upvalue 1:
 * the mode. */
static int model_set_training(lua_State *L)
{
    eng_model *model = l_check_model(L, 1);
    bool training = lua_toboolean(L, lua_upvalueindex(1));
    eng_model_set_training(model, training);
    lua_getiuservalue(L, 1, 1);
    for (int i = 1; i <= model->nlayers; i++) {
        lua_geti(L, -1, i);
        ((l_layerbox *)lua_touserdata(L, -1))->training = training;
        lua_pop(L, 1);
    }
    lua_settop(L, 1);
    return 1;
}

/* model:to(dtype) -> a new model of cloned layers with converted parameters. */
static int model_to(lua_State *L)
{
    eng_model *src = l_check_model(L, 1);
    luaL_checkstring(L, 2);
    eng_dtype dtype = l_opt_dtype(L, 2, ENG_F32);
    modelbox *box = new_modelbox(L);
    if (eng_model_to(src, dtype, &box->model))
        return l_engine_error(L);
    lua_getiuservalue(L, -1, 1);
    for (int i = 0; i < box->model->nlayers; i++) {
        l_layerbox *lbox = l_push_layerbox(L);
        lbox->layer = box->model->layers[i];
        eng_layer_retain(lbox->layer);
        lbox->training = src->training;
        lua_rawseti(L, -2, i + 1);
    }
    lua_pop(L, 1);
    return 1;
}

/* model:is_training() -> whether forward runs in training mode */
static int model_is_training(lua_State *L)
{
    lua_pushboolean(L, l_check_model(L, 1)->training);
    return 1;
}

static int model_dtype(lua_State *L)
{
    lua_pushstring(L, eng_dtype_name(eng_model_dtype(l_check_model(L, 1))));
    return 1;
}

static int64_t count_parameters(eng_model *model)
{
    int64_t total = 0;
    for (int i = 0; i < eng_model_param_count(model); i++)
        total += eng_tensor_numel(eng_model_param(model, i, NULL, 0)->value);
    return total;
}

static int model_num_parameters(lua_State *L)
{
    lua_pushinteger(L, count_parameters(l_check_model(L, 1)));
    return 1;
}

/* model:check_finite(step, loss): the NaN/Inf guard of a training step, after forward and
 * backward. Raises "step 12 (loss nan): layer 5 'linear_1' (linear): output has inf at ..."
 * naming the first parameter, output or gradient that is not finite (see
 * eng_model_check_finite); returns the model otherwise. */
static int model_check_finite(lua_State *L)
{
    eng_model *model = l_check_model(L, 1);
    lua_Integer step = luaL_checkinteger(L, 2);
    lua_Number loss = luaL_checknumber(L, 3);
    if (eng_model_check_finite(model, step, loss))
        return l_engine_error(L);
    lua_settop(L, 1);
    return 1;
}

static int model_len(lua_State *L)
{
    lua_pushinteger(L, l_check_model(L, 1)->nlayers);
    return 1;
}

/* model[i] -> the i-th layer box; other keys are methods (upvalue 1). */
static int model_index(lua_State *L)
{
    if (lua_isinteger(L, 2)) {
        lua_getiuservalue(L, 1, 1);
        lua_geti(L, -1, lua_tointeger(L, 2));
        return 1;
    }
    lua_pushvalue(L, 2);
    lua_gettable(L, lua_upvalueindex(1));
    return 1;
}

/* "421642" -> "421,642" */
static void format_count(char *buf, size_t size, int64_t n)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%lld", (long long)n), j = 0;
    for (int i = 0; i < len && (size_t)j + 2 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[j++] = ',';
        buf[j++] = digits[i];
    }
    buf[j] = '\0';
}

/* The tree print: a header, then one line per layer with its name, configuration and
 * parameter shapes. */
static int model_tostring(lua_State *L)
{
    modelbox *box = luaL_checkudata(L, 1, ENG_LUA_SEQUENTIAL);
    if (!box->model) {
        lua_pushliteral(L, "Sequential(closed)");
        return 1;
    }
    eng_model *m = box->model;
    char count[32];
    format_count(count, sizeof count, count_parameters(m));
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_pushfstring(L, "Sequential (%d layer%s, %s parameter%s, %s)", m->nlayers,
                    m->nlayers == 1 ? "" : "s", count, strcmp(count, "1") ? "s" : "",
                    eng_dtype_name(eng_model_dtype(m)));
    luaL_addvalue(&b);
    l_add_model_tree(L, &b, m);
    luaL_pushresult(&b);
    return 1;
}

static const luaL_Reg model_methods[] = {
    {"add", model_add},
    {"forward", model_forward},
    {"backward", model_backward},
    {"parameters", model_parameters},
    {"zero_grad", model_zero_grad},
    {"to", model_to},
    {"dtype", model_dtype},
    {"is_training", model_is_training},
    {"num_parameters", model_num_parameters},
    {"check_finite", model_check_finite},
    {NULL, NULL},
};

void l_open_sequential(lua_State *L)
{
    l_new_class(L, &model_class, model_tostring, model_methods);
    l_set_closure(L, "train", model_set_training, 1, 1);
    l_set_closure(L, "eval", model_set_training, 1, 0);
    l_set_closure(L, "training", model_set_training, 1, 1);
    l_set_closure(L, "evaluate", model_set_training, 1, 0);
    lua_pushcclosure(L, model_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, model_len);
    lua_setfield(L, -2, "__len");
    lua_pop(L, 1);
    lua_pushcfunction(L, nn_sequential);
    lua_setfield(L, -2, "Sequential");
}
