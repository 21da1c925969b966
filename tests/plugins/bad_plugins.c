/* Deliberately broken plugins, one per BAD_* definition, for tests/lua/test_plugin.lua. */
#include <stdio.h>
#include <stdlib.h>

#include <engine/plugin.h>

#if defined(BAD_ABI)
__attribute__((visibility("default"))) const eng_plugin_abi engine_plugin_abi = {
    ENG_PLUGIN_ABI_VERSION + 1, sizeof(eng_layer_ops), sizeof(eng_optimizer), "bad_abi"};
#else
ENG_PLUGIN_DECLARE_ABI(PLUGIN_NAME);
#endif

static eng_status shape(const eng_layer *layer, const eng_tensor *x, int *ndim, int64_t *out)
{
    eng_status st = eng_layer_check_input(layer, x, 2, "[N,3]");
    if (st)
        return st;
    if (x->shape[1] != 3)
        return eng_error(ENG_ESHAPE, "%s: x %s, expected [N,3]", layer->ops->kind,
                         eng_tensor_shape_str(x));
    *ndim = 2;
    out[0] = x->shape[0];
    out[1] = 3;
    return ENG_OK;
}

__attribute__((unused)) static eng_status forward(eng_layer *layer, const eng_tensor *x,
                                                  eng_tensor *y, bool training)
{
    (void)layer;
    (void)training;
    return eng_tensor_copy(y, x);
}

static eng_status backward(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                           const eng_tensor *dy, eng_tensor *dx)
{
    (void)layer;
    (void)x;
    (void)y;
    return dx ? eng_tensor_copy(dx, dy) : ENG_OK;
}

static eng_status create(const eng_settings *config, eng_dtype dtype, eng_rng *rng,
                         eng_layer **out);

static eng_status clone(const eng_layer *layer, eng_dtype dtype, eng_layer **out)
{
    (void)layer;
    return create(NULL, dtype, NULL, out);
}

static eng_status describe(const eng_layer *layer, eng_settings *s)
{
    (void)layer;
    (void)s;
    return ENG_OK;
}

static const eng_layer_ops ops = {
    .kind = "three",
    .output_shape = shape,
#if !defined(BAD_NULL_SLOT)
    .forward = forward,
#endif
    .backward = backward,
    .clone = clone,
};

static eng_status create(const eng_settings *config, eng_dtype dtype, eng_rng *rng, eng_layer **out)
{
    (void)config;
    (void)rng;
    eng_layer *layer = calloc(1, sizeof *layer);
    if (!layer)
        return eng_error(ENG_ENOMEM, "three: out of memory");
    eng_layer_init(layer, &ops, dtype);
    *out = layer;
    return ENG_OK;
}

__attribute__((unused)) static const eng_layer_kind kind = {
    .name = "three",
    .ops = &ops,
    .takes_dtype = true,
    .create = create,
    .describe = describe,
    .doc = "the identity on [N,3]",
};

/* An optimizer kind: p -= lr * g, no state. */
static eng_status plain_step(eng_optimizer *opt)
{
    for (int i = 0; i < opt->nparams; i++) {
        eng_tensor *p = opt->params[i].value, *g = opt->params[i].grad;
        for (int64_t k = 0, n = eng_tensor_numel(p); k < n; k++)
            eng_tensor_set_flat(p, k,
                                eng_tensor_get_flat(p, k) - opt->lr * eng_tensor_get_flat(g, k));
    }
    return ENG_OK;
}

static const eng_optim_ops plain_ops = {.kind = "plain_sgd", .step = plain_step};

static eng_status plain_create(const eng_param_list *params, const eng_plugin_config *config,
                               eng_optimizer **out)
{
    eng_optimizer *opt = calloc(1, sizeof *opt);
    if (!opt)
        return eng_error(ENG_ENOMEM, "plain_sgd: out of memory");
    opt->ops = &plain_ops;
    opt->lr = eng_plugin_config_get(config, "lr", 0.1);
    eng_status st = eng_optimizer_init_params(opt, params);
    if (st) {
        eng_optimizer_release(opt);
        return st;
    }
    *out = opt;
    return ENG_OK;
}

__attribute__((unused)) static const eng_optimizer_kind plain_kind = {"plain_sgd", plain_create,
                                                                      "p -= lr * g"};

#if !defined(BAD_NO_INIT)
__attribute__((visibility("default"))) eng_status engine_plugin_init(eng_plugin_registry *r)
{
#if defined(BAD_INIT_ERROR)
    (void)r;
    return eng_error(ENG_EARG, "init_error: the license file is missing");
#else
    eng_status st = eng_plugin_register_layer(r, &kind);
    return st ? st : eng_plugin_register_optimizer(r, &plain_kind);
#endif
}
#endif
