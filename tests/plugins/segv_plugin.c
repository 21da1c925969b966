/* A plugin whose layer kind "segv" crashes the process in forward with a real segmentation
 * fault (a write through a null pointer), for the isolation tests of engine.sweep
 * (tests/lua/test_sweep_isolation.lua): the sweep must record the run as crashed, with
 * SIGSEGV, and go on. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <engine/plugin.h>

ENG_PLUGIN_DECLARE_ABI("segv");

static eng_status shape(const eng_layer *layer, const eng_tensor *x, int *ndim, int64_t *out)
{
    (void)layer;
    *ndim = x->ndim;
    for (int d = 0; d < x->ndim; d++)
        out[d] = x->shape[d];
    return ENG_OK;
}

static int *volatile nowhere = NULL;

/* not instrumented: under the sanitizers the store must still fault, not be reported */
__attribute__((no_sanitize("undefined", "address"))) static eng_status
forward(eng_layer *layer, const eng_tensor *x, eng_tensor *y, bool training)
{
    (void)layer;
    (void)x;
    (void)y;
    (void)training;
    /* the default action, even under a sanitizer that installs its own handler */
    signal(SIGSEGV, SIG_DFL);
    *nowhere = 1;
    return ENG_OK;
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
    .kind = "segv",
    .output_shape = shape,
    .forward = forward,
    .backward = backward,
    .clone = clone,
};

static eng_status create(const eng_settings *config, eng_dtype dtype, eng_rng *rng, eng_layer **out)
{
    (void)config;
    (void)rng;
    eng_layer *layer = calloc(1, sizeof *layer);
    if (!layer)
        return eng_error(ENG_ENOMEM, "segv: out of memory");
    eng_layer_init(layer, &ops, dtype);
    *out = layer;
    return ENG_OK;
}

static const eng_layer_kind kind = {
    .name = "segv",
    .ops = &ops,
    .takes_dtype = true,
    .create = create,
    .describe = describe,
    .doc = "crashes the process in forward",
};

__attribute__((visibility("default"))) eng_status engine_plugin_init(eng_plugin_registry *r)
{
    return eng_plugin_register_layer(r, &kind);
}
