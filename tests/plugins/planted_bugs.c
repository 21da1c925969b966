/* Built-in layers with a planted backward bug, for tests of the gradient checker: the real
 * kernels of the engine's own kind with one gradient made wrong, so that a test can place a
 * wrong built-in layer anywhere in a model (e.g. right after a Lua layer).
 *
 *   linear_dweight_x2   the built-in linear; its weight gradient is doubled
 */
#include <stdlib.h>

#include "engine/layers/layers.h"
#include "engine/plugin.h"

ENG_PLUGIN_DECLARE_ABI("planted_bugs");

static eng_layer_ops doubled_ops;
static eng_status (*linear_backward)(eng_layer *, const eng_tensor *, const eng_tensor *,
                                     const eng_tensor *, eng_tensor *);
static eng_status (*linear_clone)(const eng_layer *, eng_dtype, eng_layer **);

/* Runs the built-in backward into a zeroed gradient, then adds twice that into the real one,
 * keeping the accumulation contract. */
static eng_status doubled_backward(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                                   const eng_tensor *dy, eng_tensor *dx)
{
    eng_param *w = eng_layer_param(layer, "weight");
    eng_tensor *kept;
    eng_status st = eng_tensor_clone(w->grad, &kept);
    if (st)
        return st;
    eng_tensor_zero(w->grad);
    st = linear_backward(layer, x, y, dy, dx);
    if (!st)
        st = eng_tensor_binary_scalar(w->grad, w->grad, 2.0, ENG_MUL);
    if (!st)
        st = eng_tensor_binary(w->grad, w->grad, kept, ENG_ADD);
    eng_tensor_release(kept);
    return st;
}

static eng_status doubled_clone(const eng_layer *layer, eng_dtype dtype, eng_layer **out)
{
    eng_status st = linear_clone(layer, dtype, out);
    if (!st)
        (*out)->ops = &doubled_ops;
    return st;
}

static eng_status doubled_create(const eng_settings *s, eng_dtype dtype, eng_rng *rng,
                                 eng_layer **out)
{
    eng_status st =
        eng_linear_new(eng_settings_int(s, "in_features"), eng_settings_int(s, "out_features"),
                       eng_settings_bool(s, "bias"), dtype, rng, out);
    if (!st)
        (*out)->ops = &doubled_ops;
    return st;
}

/* The built-in linear's settings, description and parameter shapes (filled in at init). */
static eng_layer_kind doubled_kind = {.name = "linear_dweight_x2",
                                      .ops = &doubled_ops,
                                      .takes_dtype = true,
                                      .create = doubled_create,
                                      .doc = "the built-in linear, weight gradient doubled"};

__attribute__((visibility("default"))) eng_status engine_plugin_init(eng_plugin_registry *r)
{
    eng_layer *model_linear;
    eng_status st = eng_linear_new(1, 1, true, ENG_F64, NULL, &model_linear);
    if (st)
        return st;
    doubled_ops = *model_linear->ops;
    eng_layer_release(model_linear);
    linear_backward = doubled_ops.backward;
    linear_clone = doubled_ops.clone;
    doubled_ops.kind = "linear_dweight_x2";
    doubled_ops.backward = doubled_backward;
    doubled_ops.clone = doubled_clone;
    const eng_layer_kind *linear = eng_kind_find("linear");
    doubled_kind.settings = linear->settings;
    doubled_kind.describe = linear->describe;
    doubled_kind.param_shapes = linear->param_shapes;
    return eng_plugin_register_layer(r, &doubled_kind);
}
