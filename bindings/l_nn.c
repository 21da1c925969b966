/* engine.nn: layers (engine.Layer), the sequential container (engine.Sequential) and losses
 * (engine.Loss).
 *
 * Outputs: layer:forward, model:forward and the backward calls return NEW tensors (copies of
 * the model's internal buffers), not views of them, so a result stays valid after the next
 * forward. The copy is one pass over the output, small beside the forward itself.
 *
 * Forward state: layers keep what backward needs (max-pool winners, dropout masks) inside the
 * C layer. A stamp, bumped by every forward, records which forward a layer's state belongs to,
 * so that model:backward after a lone layer:forward of one of its layers is refused instead of
 * silently using the wrong state. */
#include <stdio.h>
#include <string.h>

#include "bindings.h"

/* ---- layer boxes ---- */

typedef struct layerbox {
    eng_layer *layer; /* one reference; NULL once released */
    bool training;    /* mode of layer:forward (a model uses its own) */
    uint64_t stamp;   /* the forward that produced the C layer's current state */
    eng_tensor *x;    /* view of the last layer:forward's input, for backward */
    eng_tensor *y;    /* that forward's output */
} layerbox;

static uint64_t forward_stamp; /* bumped by every forward */

static void clear_cache(layerbox *box)
{
    eng_tensor_release(box->x);
    eng_tensor_release(box->y);
    box->x = box->y = NULL;
}

static layerbox *new_layerbox(lua_State *L)
{
    layerbox *box = lua_newuserdatauv(L, sizeof *box, 0);
    memset(box, 0, sizeof *box);
    box->training = true;
    luaL_setmetatable(L, ENG_LUA_LAYER);
    return box;
}

eng_layer **l_new_layer_box(lua_State *L)
{
    return &new_layerbox(L)->layer;
}

static layerbox *check_layerbox(lua_State *L, int arg)
{
    layerbox *box = luaL_checkudata(L, arg, ENG_LUA_LAYER);
    luaL_argcheck(L, box->layer != NULL, arg, "layer is closed");
    return box;
}

eng_layer *l_check_layer_arg(lua_State *L, int arg)
{
    return check_layerbox(L, arg)->layer;
}

/* __gc and __close. */
static int layer_release(lua_State *L)
{
    layerbox *box = luaL_checkudata(L, 1, ENG_LUA_LAYER);
    clear_cache(box);
    eng_layer_release(box->layer);
    box->layer = NULL;
    return 0;
}

/* ---- layer methods ---- */

/* y = layer(x) into a new tensor; the box keeps x and y for backward. */
static eng_status run_forward(layerbox *box, const eng_tensor *x, eng_tensor **y)
{
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    eng_tensor *xv = NULL;
    *y = NULL;
    box->stamp = ++forward_stamp; /* even a failed forward may have touched the layer's state */
    eng_status st = eng_layer_output_shape(box->layer, x, &ndim, shape);
    if (!st)
        st = eng_tensor_new(x->dtype, ndim, shape, y);
    if (!st)
        st = eng_layer_forward(box->layer, x, *y, box->training);
    if (!st)
        st = eng_tensor_view(x, &xv);
    clear_cache(box);
    if (st) {
        eng_tensor_release(*y);
        *y = NULL;
        return st;
    }
    box->x = xv;
    box->y = *y;
    return ENG_OK;
}

static int layer_forward(lua_State *L)
{
    layerbox *box = check_layerbox(L, 1);
    eng_tensor *x = l_check_tensor(L, 2), *y;
    eng_tensor **slot = l_new_tensor_box(L);
    if (run_forward(box, x, &y) || eng_tensor_clone(y, slot))
        return l_engine_error(L);
    return 1;
}

/* Whether a and b are the same view of the same storage. */
static bool same_view(const eng_tensor *a, const eng_tensor *b)
{
    if (a->storage != b->storage || a->offset != b->offset || a->dtype != b->dtype ||
        a->ndim != b->ndim)
        return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d] || a->strides[d] != b->strides[d])
            return false;
    return true;
}

/* layer:backward(x, dy) -> dx; accumulates the parameter gradients. */
static int layer_backward(lua_State *L)
{
    layerbox *box = check_layerbox(L, 1);
    eng_tensor *x = l_check_tensor(L, 2), *dy = l_check_tensor(L, 3), *y;
    eng_tensor **slot = l_new_tensor_box(L);
    if (!box->x || !same_view(box->x, x)) {
        if (run_forward(box, x, &y))
            return l_engine_error(L);
    }
    if (eng_tensor_new_like(x, slot) || eng_layer_backward(box->layer, x, box->y, dy, *slot))
        return l_engine_error(L);
    return 1;
}

/* Pushes {name=, value=, grad=} with views of the parameter. */
static void push_param(lua_State *L, const char *name, const eng_param *p)
{
    lua_createtable(L, 0, 3);
    lua_pushstring(L, name);
    lua_setfield(L, -2, "name");
    l_push_tensor_view(L, p->value);
    lua_setfield(L, -2, "value");
    l_push_tensor_view(L, p->grad);
    lua_setfield(L, -2, "grad");
}

static int layer_parameters(lua_State *L)
{
    eng_layer *layer = l_check_layer_arg(L, 1);
    lua_createtable(L, layer->nparams, 0);
    for (int i = 0; i < layer->nparams; i++) {
        push_param(L, layer->params[i].name, &layer->params[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int layer_zero_grad(lua_State *L)
{
    eng_layer_zero_grad(l_check_layer_arg(L, 1));
    return 0;
}

static int layer_kind(lua_State *L)
{
    lua_pushstring(L, l_check_layer_arg(L, 1)->ops->kind);
    return 1;
}

static int layer_name(lua_State *L)
{
    eng_layer *layer = l_check_layer_arg(L, 1);
    if (layer->name[0])
        lua_pushstring(L, layer->name);
    else
        lua_pushnil(L);
    return 1;
}

/* layer:train(), layer:eval(); upvalue 1: the mode. */
static int layer_set_training(lua_State *L)
{
    check_layerbox(L, 1)->training = lua_toboolean(L, lua_upvalueindex(1));
    lua_settop(L, 1);
    return 1;
}

/* layer:to(dtype) -> a new layer of the same configuration with converted parameters. */
static int layer_to(lua_State *L)
{
    layerbox *src = check_layerbox(L, 1);
    luaL_checkstring(L, 2);
    eng_dtype dtype = l_opt_dtype(L, 2, ENG_F32);
    layerbox *box = new_layerbox(L);
    box->training = src->training;
    if (src->layer->ops->clone(src->layer, dtype, &box->layer))
        return l_engine_error(L);
    if (src->layer->name[0] && eng_layer_set_name(box->layer, src->layer->name))
        return l_engine_error(L);
    return 1;
}

/* Pushes the PyTorch-style description, "Conv2d(1, 16, kernel_size=(5, 5), stride=(1, 1))",
 * derived from the kind's declared settings (eng_layer_repr). */
static void push_repr(lua_State *L, const eng_layer *layer)
{
    char buf[512];
    eng_layer_repr(layer, buf, sizeof buf);
    lua_pushstring(L, buf);
}

static int layer_config(lua_State *L)
{
    l_push_settings(L, l_check_layer_arg(L, 1));
    return 1;
}

static int layer_tostring(lua_State *L)
{
    layerbox *box = luaL_checkudata(L, 1, ENG_LUA_LAYER);
    if (!box->layer)
        lua_pushliteral(L, "Layer(closed)");
    else
        push_repr(L, box->layer);
    return 1;
}

/* ---- Sequential ---- */

typedef struct modelbox {
    eng_model *model; /* one reference; NULL once released */
    uint64_t stamp;   /* of the last model:forward */
} modelbox;

/* The box's uservalue 1 is the list of its layer boxes, so that model[i] returns the same
 * box that was added and the layers' boxes live as long as the model's. */

static modelbox *check_modelbox(lua_State *L, int arg)
{
    modelbox *box = luaL_checkudata(L, arg, ENG_LUA_SEQUENTIAL);
    luaL_argcheck(L, box->model != NULL, arg, "model is closed");
    return box;
}

eng_model *l_check_model(lua_State *L, int arg)
{
    return check_modelbox(L, arg)->model;
}

static int model_release(lua_State *L)
{
    modelbox *box = luaL_checkudata(L, 1, ENG_LUA_SEQUENTIAL);
    eng_model_release(box->model);
    box->model = NULL;
    return 0;
}

/* Pushes a new model box with an empty layer list. */
static modelbox *new_modelbox(lua_State *L)
{
    modelbox *box = lua_newuserdatauv(L, sizeof *box, 1);
    box->model = NULL;
    box->stamp = 0;
    luaL_setmetatable(L, ENG_LUA_SEQUENTIAL);
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
    layerbox *lbox = luaL_testudata(L, idx, ENG_LUA_LAYER);
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
        layerbox *lbox = lua_touserdata(L, -1);
        clear_cache(lbox);
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
    box->stamp = ++forward_stamp;
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
        layerbox *lbox = lua_touserdata(L, -1);
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
        char name[2 * ENG_NAME_MAX];
        push_param(L, name, eng_model_param(model, i, name, sizeof name));
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
        ((layerbox *)lua_touserdata(L, -1))->training = training;
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
        layerbox *lbox = new_layerbox(L);
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

/* ---- losses ---- */

typedef struct lossbox {
    eng_loss *loss;    /* NULL once released */
    const char *cls;   /* "CrossEntropyLoss", "MSELoss" */
    eng_tensor *input; /* views of the last forward's arguments, for backward */
    eng_tensor *target;
} lossbox;

static lossbox *check_lossbox(lua_State *L, int arg)
{
    lossbox *box = luaL_checkudata(L, arg, ENG_LUA_LOSS);
    luaL_argcheck(L, box->loss != NULL, arg, "loss is closed");
    return box;
}

eng_loss *l_check_loss(lua_State *L, int arg)
{
    return check_lossbox(L, arg)->loss;
}

static int loss_release(lua_State *L)
{
    lossbox *box = luaL_checkudata(L, 1, ENG_LUA_LOSS);
    eng_tensor_release(box->input);
    eng_tensor_release(box->target);
    eng_loss_release(box->loss);
    box->input = box->target = NULL;
    box->loss = NULL;
    return 0;
}

/* nn.CrossEntropyLoss(), nn.MSELoss(), nn.NLLLoss{reduction=, ignore_index=}; upvalue 1:
 * 1 cross-entropy, 0 MSE, 2 NLL. */
static int nn_loss(lua_State *L)
{
    static const char *const names[] = {"reduction", "ignore_index", NULL};
    int kind = (int)lua_tointeger(L, lua_upvalueindex(1));
    bool sum = false;
    lua_Integer ignore = -100;
    if (kind == 2) {
        l_check_options(L, 1, "NLLLoss", names);
        const char *red = l_opt_string_field(L, 1, "NLLLoss", "reduction", "mean");
        if (strcmp(red, "mean") != 0 && strcmp(red, "sum") != 0)
            return luaL_error(L, "NLLLoss: reduction '%s' (expected 'mean' or 'sum')", red);
        sum = red[0] == 's';
        ignore = l_opt_integer_field(L, 1, "NLLLoss", "ignore_index", -100);
    }
    lossbox *box = lua_newuserdatauv(L, sizeof *box, 0);
    memset(box, 0, sizeof *box);
    box->cls = kind == 1 ? "CrossEntropyLoss" : kind == 2 ? "NLLLoss" : "MSELoss";
    luaL_setmetatable(L, ENG_LUA_LOSS);
    eng_status st = kind == 1   ? eng_cross_entropy_new(&box->loss)
                    : kind == 2 ? eng_nll_new(sum, ignore, &box->loss)
                                : eng_mse_new(&box->loss);
    if (st)
        return l_engine_error(L);
    return 1;
}

/* The target at arg 3: a tensor, or for cross-entropy a list of 1-based class numbers, which
 * is converted (in a new box pushed on the stack) to the i64 0-based indices the C loss takes. */
static eng_tensor *check_target(lua_State *L, lossbox *box)
{
    eng_tensor *t = l_test_tensor(L, 3);
    if (t || lua_type(L, 3) != LUA_TTABLE ||
        (strcmp(box->loss->ops->kind, "cross_entropy") && strcmp(box->loss->ops->kind, "nll")))
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
            luaL_error(L, "%s: labels[%I] is %s, expected a 1-based class number", box->cls,
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
        return luaL_error(L, "%s: backward before forward", box->cls);
    const eng_tensor *in = box->input;
    eng_tensor *out = l_reuse_tensor(L, 2, in->dtype, in->ndim, in->shape, in);
    if (eng_loss_backward(box->loss, box->input, box->target, out))
        return l_engine_error(L);
    return 1;
}

static int loss_tostring(lua_State *L)
{
    lossbox *box = luaL_checkudata(L, 1, ENG_LUA_LOSS);
    lua_pushfstring(L, "%s()", box->cls);
    return 1;
}

/* ---- registration ---- */

static const luaL_Reg layer_methods[] = {
    {"forward", layer_forward},
    {"backward", layer_backward},
    {"parameters", layer_parameters},
    {"zero_grad", layer_zero_grad},
    {"kind", layer_kind},
    {"name", layer_name},
    {"to", layer_to},
    {"config", layer_config},
    {NULL, NULL},
};

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

static const luaL_Reg loss_methods[] = {
    {"forward", loss_forward},
    {"backward", loss_backward},
    {NULL, NULL},
};

static const luaL_Reg nn_funcs[] = {
    {"Sequential", nn_sequential},
    {"Lua", l_nn_lua},
    {"new", l_nn_new},
    {NULL, NULL},
};

/* Sets t[name] = f with one boolean or integer upvalue, for the table on the stack top. */
static void set_closure(lua_State *L, const char *name, lua_CFunction f, int boolean, int value)
{
    if (boolean)
        lua_pushboolean(L, value);
    else
        lua_pushinteger(L, value);
    lua_pushcclosure(L, f, 1);
    lua_setfield(L, -2, name);
}

/* A metatable with __gc and __close (release), __tostring, and __index (methods). */
static void new_class(lua_State *L, const char *name, lua_CFunction release, lua_CFunction tostring,
                      const luaL_Reg *methods)
{
    luaL_newmetatable(L, name);
    lua_pushcfunction(L, release);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, release);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, tostring);
    lua_setfield(L, -2, "__tostring");
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
}

int luaopen_engine_nn(lua_State *L)
{
    new_class(L, ENG_LUA_LAYER, layer_release, layer_tostring, layer_methods);
    set_closure(L, "train", layer_set_training, 1, 1);
    set_closure(L, "eval", layer_set_training, 1, 0);
    set_closure(L, "training", layer_set_training, 1, 1); /* Torch7's names */
    set_closure(L, "evaluate", layer_set_training, 1, 0);
    lua_setfield(L, -2, "__index");
    new_class(L, ENG_LUA_SEQUENTIAL, model_release, model_tostring, model_methods);
    set_closure(L, "train", model_set_training, 1, 1);
    set_closure(L, "eval", model_set_training, 1, 0);
    set_closure(L, "training", model_set_training, 1, 1);
    set_closure(L, "evaluate", model_set_training, 1, 0);
    lua_pushcclosure(L, model_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, model_len);
    lua_setfield(L, -2, "__len");
    new_class(L, ENG_LUA_LOSS, loss_release, loss_tostring, loss_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 3);

    luaL_newlib(L, nn_funcs);
    l_set_kind_constructors(L); /* Conv2d, Linear, ...: from the kind registry */
    set_closure(L, "CrossEntropyLoss", nn_loss, 0, 1);
    set_closure(L, "CrossEntropy", nn_loss, 0, 1);
    set_closure(L, "MSELoss", nn_loss, 0, 0);
    set_closure(L, "NLLLoss", nn_loss, 0, 2);
    l_nn_open_layers(L);
    l_nn_open_containers(L);
    return 1;
}
