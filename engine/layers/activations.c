/* Pointwise activations (relu, leaky_relu, tanh, sigmoid): one kind each, one shared body,
 * since they differ only in the kernel they call. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/activation.h"
#include "../registry.h"
#include "layer_fusion.h"
#include "layers.h"

typedef enum activation_fn { ACT_RELU, ACT_LEAKY_RELU, ACT_TANH, ACT_SIGMOID } activation_fn;

typedef struct activation {
    eng_layer base;
    activation_fn fn;
    double slope; /* leaky_relu only */
} activation;

static eng_status activation_output_shape(const eng_layer *layer, const eng_tensor *x, int *ndim,
                                          int64_t *shape)
{
    eng_status st = eng_layer_check_input(layer, x, 0, "");
    if (st)
        return st;
    *ndim = x->ndim;
    for (int d = 0; d < x->ndim; d++)
        shape[d] = x->shape[d];
    return ENG_OK;
}

static eng_status activation_forward(eng_layer *layer, const eng_tensor *x, eng_tensor *y,
                                     bool training)
{
    (void)training;
    const activation *a = (const activation *)layer;
    int64_t n = eng_tensor_numel(x);
    bool f32 = x->dtype == ENG_F32;
    void *yp = eng_tensor_data(y), *xp = eng_tensor_data(x);
    switch (a->fn) {
    case ACT_RELU: f32 ? eng_relu_forward_f32(yp, xp, n) : eng_relu_forward_f64(yp, xp, n); break;
    case ACT_LEAKY_RELU:
        f32 ? eng_leaky_relu_forward_f32(yp, xp, n, a->slope)
            : eng_leaky_relu_forward_f64(yp, xp, n, a->slope);
        break;
    case ACT_TANH: f32 ? eng_tanh_forward_f32(yp, xp, n) : eng_tanh_forward_f64(yp, xp, n); break;
    case ACT_SIGMOID:
        f32 ? eng_sigmoid_forward_f32(yp, xp, n) : eng_sigmoid_forward_f64(yp, xp, n);
        break;
    }
    return ENG_OK;
}

static eng_status activation_backward(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                                      const eng_tensor *dy, eng_tensor *dx)
{
    if (!dx)
        return ENG_OK;
    const activation *a = (const activation *)layer;
    int64_t n = eng_tensor_numel(x);
    bool f32 = x->dtype == ENG_F32;
    void *dxp = eng_tensor_data(dx), *dyp = eng_tensor_data(dy);
    void *xp = eng_tensor_data(x), *yp = eng_tensor_data(y);
    switch (a->fn) {
    case ACT_RELU:
        f32 ? eng_relu_backward_f32(dxp, dyp, xp, n) : eng_relu_backward_f64(dxp, dyp, xp, n);
        break;
    case ACT_LEAKY_RELU:
        f32 ? eng_leaky_relu_backward_f32(dxp, dyp, xp, n, a->slope)
            : eng_leaky_relu_backward_f64(dxp, dyp, xp, n, a->slope);
        break;
    case ACT_TANH:
        f32 ? eng_tanh_backward_f32(dxp, dyp, yp, n) : eng_tanh_backward_f64(dxp, dyp, yp, n);
        break;
    case ACT_SIGMOID:
        f32 ? eng_sigmoid_backward_f32(dxp, dyp, yp, n) : eng_sigmoid_backward_f64(dxp, dyp, yp, n);
        break;
    }
    return ENG_OK;
}

static eng_status activation_new(activation_fn fn, double slope, eng_layer **out);

static eng_status activation_clone(const eng_layer *layer, eng_dtype dtype, eng_layer **out)
{
    (void)dtype;
    const activation *a = (const activation *)layer;
    return activation_new(a->fn, a->slope, out);
}

static eng_status activation_describe(const eng_layer *layer, eng_settings *s)
{
    const activation *a = (const activation *)layer;
    if (a->fn == ACT_LEAKY_RELU)
        return eng_settings_set_number(s, "negative_slope", a->slope);
    return ENG_OK;
}

/* Which inputs lie on the positive branch, packed 64 to a word. */
static uint64_t relu_signature(const eng_layer *layer, const eng_tensor *x, const eng_tensor *y)
{
    (void)layer;
    (void)y;
    int64_t n = eng_tensor_numel(x);
    uint64_t h = ENG_HASH_INIT;
    const float *xf = x->dtype == ENG_F32 ? ENG_F32_DATA(x) : NULL;
    const double *xd = x->dtype == ENG_F64 ? ENG_F64_DATA(x) : NULL;
    for (int64_t i = 0; i < n; i += 64) {
        uint64_t word = 0;
        int64_t end = n - i < 64 ? n - i : 64;
        for (int64_t j = 0; j < end; j++)
            word |= (uint64_t)(xf ? xf[i + j] > 0 : xd[i + j] > 0) << j;
        h = eng_hash_word(h, word);
    }
    return h;
}

static eng_status relu_forward_frozen(eng_layer *layer, const eng_tensor *x_ref,
                                      const eng_tensor *y_ref, const eng_tensor *x, eng_tensor *y)
{
    (void)y_ref;
    const activation *a = (const activation *)layer;
    double slope = a->fn == ACT_LEAKY_RELU ? a->slope : 0.0;
    int64_t n = eng_tensor_numel(x);
    if (x->dtype == ENG_F32)
        eng_relu_frozen_f32(ENG_F32_DATA(y), ENG_F32_DATA(x_ref), ENG_F32_DATA(x), n, slope);
    else
        eng_relu_frozen_f64(ENG_F64_DATA(y), ENG_F64_DATA(x_ref), ENG_F64_DATA(x), n, slope);
    return ENG_OK;
}

/* Elementwise: the changed positions are the input's; each through the kernel the full
 * forward (frozen, for the ReLUs) uses, on one element. */
static eng_status activation_forward_sparse(eng_layer *layer, const eng_tensor *x_ref,
                                            const eng_tensor *y_ref, const eng_tensor *x,
                                            const int64_t *in, int64_t n, eng_tensor *y,
                                            int64_t *out, int64_t cap, int64_t *nout)
{
    (void)y_ref;
    const activation *a = (const activation *)layer;
    if (n > cap || x->dtype != ENG_F64) {
        *nout = -1;
        return ENG_OK;
    }
    double *yp = ENG_F64_DATA(y);
    const double *xp = ENG_F64_DATA(x), *rp = ENG_F64_DATA(x_ref);
    for (int64_t k = 0; k < n; k++) {
        int64_t i = in[k];
        switch (a->fn) {
        case ACT_RELU: eng_relu_frozen_f64(yp + i, rp + i, xp + i, 1, 0.0); break;
        case ACT_LEAKY_RELU: eng_relu_frozen_f64(yp + i, rp + i, xp + i, 1, a->slope); break;
        case ACT_TANH: eng_tanh_forward_f64(yp + i, xp + i, 1); break;
        case ACT_SIGMOID: eng_sigmoid_forward_f64(yp + i, xp + i, 1); break;
        }
        out[k] = i;
    }
    *nout = n;
    return ENG_OK;
}

#define ACTIVATION_OPS(NAME, KIND, SIGNATURE, FROZEN)                                              \
    static const eng_layer_ops NAME = {                                                            \
        .kind = KIND,                                                                              \
        .output_shape = activation_output_shape,                                                   \
        .forward = activation_forward,                                                             \
        .backward = activation_backward,                                                           \
        .clone = activation_clone,                                                                 \
        .signature = SIGNATURE,                                                                    \
        .forward_frozen = FROZEN,                                                                  \
        .forward_sparse = activation_forward_sparse,                                               \
        .batch_independent = true,                                                                 \
        .sample_by_sample = true,                                                                  \
    };

ACTIVATION_OPS(relu_ops, "relu", relu_signature, relu_forward_frozen)
ACTIVATION_OPS(leaky_relu_ops, "leaky_relu", relu_signature, relu_forward_frozen)
ACTIVATION_OPS(tanh_ops, "tanh", NULL, NULL)
ACTIVATION_OPS(sigmoid_ops, "sigmoid", NULL, NULL)

static eng_status activation_new(activation_fn fn, double slope, eng_layer **out)
{
    static const eng_layer_ops *const ops[] = {&relu_ops, &leaky_relu_ops, &tanh_ops, &sigmoid_ops};
    *out = NULL;
    activation *a = calloc(1, sizeof *a);
    if (!a)
        return eng_error(ENG_ENOMEM, "%s: out of memory", ops[fn]->kind);
    eng_layer_init(&a->base, ops[fn], ENG_F32);
    a->fn = fn;
    a->slope = slope;
    *out = &a->base;
    return ENG_OK;
}

bool eng_layer_is_relu(const eng_layer *layer)
{
    return layer->ops == &relu_ops;
}

eng_status eng_relu_new(eng_layer **out)
{
    return activation_new(ACT_RELU, 0.0, out);
}

eng_status eng_leaky_relu_new(double negative_slope, eng_layer **out)
{
    *out = NULL;
    if (!isfinite(negative_slope)) /* as the registry's settings refuse it from Lua */
        return eng_error(ENG_EARG, "leaky_relu: negative_slope = %g, expected a finite number",
                         negative_slope);
    return activation_new(ACT_LEAKY_RELU, negative_slope, out);
}

eng_status eng_tanh_new(eng_layer **out)
{
    return activation_new(ACT_TANH, 0.0, out);
}

eng_status eng_sigmoid_new(eng_layer **out)
{
    return activation_new(ACT_SIGMOID, 0.0, out);
}

/* ---- kinds ---- */

static eng_status activation_create(const eng_settings *s, eng_dtype dtype, eng_rng *rng,
                                    eng_layer **out)
{
    (void)dtype;
    (void)rng;
    const char *kind = s->kind->name;
    if (strcmp(kind, "leaky_relu") == 0)
        return activation_new(ACT_LEAKY_RELU, eng_settings_number(s, "negative_slope"), out);
    return activation_new(strcmp(kind, "relu") == 0   ? ACT_RELU
                          : strcmp(kind, "tanh") == 0 ? ACT_TANH
                                                      : ACT_SIGMOID,
                          0.0, out);
}

static const eng_setting leaky_relu_settings[] = {
    {"negative_slope", ENG_SETTING_NUMBER, ENG_SETTING_POSITIONAL | ENG_SETTING_SHOWN, .def = 0.01,
     .min = -INFINITY, .max = INFINITY, .doc = "y = negative_slope * x for x < 0"},
    {0},
};

#define ACTIVATION_KIND(KIND, CTOR, SETTINGS)                                                      \
    {                                                                                              \
        .name = #KIND, .ctor = CTOR, .ops = &KIND##_ops, .settings = SETTINGS,                     \
        .create = activation_create, .describe = activation_describe                               \
    }

ENG_BUILTIN_KIND(relu) = ACTIVATION_KIND(relu, "ReLU", NULL);
ENG_BUILTIN_KIND(leaky_relu) = ACTIVATION_KIND(leaky_relu, "LeakyReLU", leaky_relu_settings);
ENG_BUILTIN_KIND(tanh) = ACTIVATION_KIND(tanh, "Tanh", NULL);
ENG_BUILTIN_KIND(sigmoid) = ACTIVATION_KIND(sigmoid, "Sigmoid", NULL);
