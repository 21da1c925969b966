/* engine.nn: the module table and layers (engine.Layer). The sequential container
 * (engine.Sequential) is in l_sequential.c, losses (engine.Loss) in l_loss.c.
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

typedef l_layerbox layerbox;

static uint64_t forward_stamp; /* bumped by every forward */

uint64_t l_next_forward_stamp(void)
{
    return ++forward_stamp;
}

void l_layerbox_clear(layerbox *box)
{
    eng_tensor_release(box->x);
    eng_tensor_release(box->y);
    box->x = box->y = NULL;
}

static void layerbox_free(void *box)
{
    l_layerbox_clear(box);
    eng_layer_release(((layerbox *)box)->layer);
}

static const l_boxclass layer_class = {ENG_LUA_LAYER, "layer is closed", sizeof(layerbox),
                                       layerbox_free};

layerbox *l_push_layerbox(lua_State *L)
{
    layerbox *box = l_box_push(L, &layer_class, 0);
    box->training = true;
    return box;
}

eng_layer **l_new_layer_box(lua_State *L)
{
    return &l_push_layerbox(L)->layer;
}

static layerbox *check_layerbox(lua_State *L, int arg)
{
    return l_box_check(L, arg, &layer_class);
}

eng_layer *l_check_layer_arg(lua_State *L, int arg)
{
    return check_layerbox(L, arg)->layer;
}

/* ---- layer methods ---- */

/* y = layer(x) into a new tensor; the box keeps x and y for backward. */
static eng_status run_forward(layerbox *box, const eng_tensor *x, eng_tensor **y)
{
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    eng_tensor *xv = NULL;
    *y = NULL;
    box->stamp =
        l_next_forward_stamp(); /* even a failed forward may have touched the layer's state */
    eng_status st = eng_layer_output_shape(box->layer, x, &ndim, shape);
    if (!st)
        st = eng_tensor_new(x->dtype, ndim, shape, y);
    if (!st)
        st = eng_layer_forward(box->layer, x, *y, box->training);
    if (!st)
        st = eng_tensor_view(x, &xv);
    l_layerbox_clear(box);
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

void l_push_param(lua_State *L, const char *name, const eng_param *p)
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
        l_push_param(L, layer->params[i].name, &layer->params[i]);
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
    layerbox *box = l_push_layerbox(L);
    box->training = src->training;
    if (src->layer->ops->clone(src->layer, dtype, &box->layer))
        return l_engine_error(L);
    if (src->layer->name[0] && eng_layer_set_name(box->layer, src->layer->name))
        return l_engine_error(L);
    return 1;
}

void l_push_repr(lua_State *L, const eng_layer *layer)
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
        l_push_repr(L, box->layer);
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

static const luaL_Reg nn_funcs[] = {
    {"Lua", l_nn_lua},
    {"new", l_nn_new},
    {NULL, NULL},
};

int luaopen_engine_nn(lua_State *L)
{
    l_new_class(L, &layer_class, layer_tostring, layer_methods);
    l_set_closure(L, "train", layer_set_training, 1, 1);
    l_set_closure(L, "eval", layer_set_training, 1, 0);
    l_set_closure(L, "training", layer_set_training, 1, 1); /* Torch7's names */
    l_set_closure(L, "evaluate", layer_set_training, 1, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);

    luaL_newlib(L, nn_funcs);
    l_open_sequential(L);
    l_set_kind_constructors(L); /* Conv2d, Linear, ...: from the kind registry */
    l_open_losses(L);
    l_nn_open_layers(L);
    l_nn_open_containers(L);
    return 1;
}
