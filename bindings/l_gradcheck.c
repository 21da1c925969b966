/* engine.gradcheck: the gradient checker from Lua. This file holds the module table and the
 * checks of models and layers; the options, reports, Lua criteria and objectives, and step
 * studies have files of their own (l_gradcheck.h lists them). */
#include "l_gradcheck.h"

int l_gc_run_and_push(lua_State *L, eng_gc_objective *obj, const eng_gc_options *o, l_gc_mode m,
                      int directions)
{
    eng_gc_report *r = NULL;
    eng_status st = m == L_GC_DIRECTIONAL ? eng_gc_check_directions(obj, directions, o, &r)
                                          : eng_gc_check(obj, o, &r);
    eng_gc_objective_release(obj);
    if (st)
        return l_engine_error(L);
    l_gc_push_report(L, r);
    eng_gc_report_free(r);
    return 1;
}

/* gradcheck.check(model, criterion, x, target [, options]) */
static int l_check(lua_State *L)
{
    lua_settop(L, 5); /* absent options become nil, not whatever is pushed later */
    eng_model *model = l_check_model(L, 1);
    eng_tensor *x = l_check_tensor(L, 3), *target = l_check_tensor(L, 4);
    eng_gc_options o = l_gc_read_options(L, 5, "check");
    int directions;
    l_gc_mode m = l_gc_read_mode(L, 5, "check", &directions);
    bool with_input = l_opt_boolean_field(L, 5, "check", "input", false);
    double scale = l_opt_number_field(L, 5, "check", "loss_scale", 1.0);
    eng_gc_report **r = l_gc_new_report_box(L); /* before the C objects: it may raise */
    eng_loss *owned, *scaled = NULL;
    eng_loss *loss = l_gc_check_criterion(L, 2, &owned);
    eng_status st = scale != 1.0 ? eng_gc_scaled_loss(loss, scale, &scaled) : ENG_OK;
    eng_gc_objective *obj = NULL;
    if (!st)
        st = eng_gc_model_objective(model, scaled ? scaled : loss, x, target, with_input, &obj);
    if (!st)
        st = m == L_GC_DIRECTIONAL ? eng_gc_check_directions(obj, directions, &o, r)
                                   : eng_gc_check(obj, &o, r);
    eng_gc_objective_release(obj);
    eng_loss_release(scaled);
    eng_loss_release(owned);
    if (st)
        return l_engine_error(L);
    l_gc_push_boxed_report(L);
    l_gc_keep_inputs(L, 1, 2, 3, 4, 5);
    return 1;
}

/* gradcheck.check_layer(layer, x [, options]): the layer alone, <r, layer(x)> for a random r */
static int l_check_layer(lua_State *L)
{
    eng_layer *layer = l_check_layer_arg(L, 1);
    eng_tensor *x = l_check_tensor(L, 2);
    eng_gc_options o = l_gc_read_options(L, 3, "check_layer");
    int directions;
    l_gc_mode m = l_gc_read_mode(L, 3, "check_layer", &directions);
    eng_rng rng;
    eng_rng_seed(&rng, o.seed + 17);
    eng_gc_objective *obj;
    if (eng_gc_layer_objective(layer, x, &rng, &obj))
        return l_engine_error(L);
    return l_gc_run_and_push(L, obj, &o, m, directions);
}

/* gradcheck.check_layers(model, x [, options]): layer-wise mode */
static int l_check_layers(lua_State *L)
{
    lua_settop(L, 3);
    eng_model *model = l_check_model(L, 1);
    eng_tensor *x = l_check_tensor(L, 2);
    eng_gc_options o = l_gc_read_options(L, 3, "check_layers");
    eng_gc_report **r = l_gc_new_report_box(L);
    if (eng_gc_check_layers(model, x, &o, r))
        return l_engine_error(L);
    l_gc_push_boxed_report(L);
    l_gc_keep_inputs(L, 1, 0, 2, 0, 3);
    return 1;
}

static const luaL_Reg gradcheck_funcs[] = {
    {"check", l_check},
    {"check_layer", l_check_layer},
    {"check_layers", l_check_layers},
    {"check_function", l_gc_check_function},
    {"taylor", l_gc_taylor},
    {"sweep", l_gc_sweep},
    {NULL, NULL},
};

int luaopen_engine_gradcheck(lua_State *L)
{
    luaL_newlib(L, gradcheck_funcs);
    l_gc_open_reports(L);
    return 1;
}
