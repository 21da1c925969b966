/* An example plugin with two layer kinds:
 *
 *   swish          y = x * sigmoid(beta * x), beta a learnable scalar (Ramachandran et al. 2017)
 *   scaled_linear  y = scale * (x @ weight^T + bias), scale a fixed setting
 *
 * Built with -DPLANT_BUG it registers buggy_swish and buggy_scaled_linear instead, whose
 * backward passes are wrong on purpose (dbeta doubled; dweight missing the scale), for the
 * gradient checker to catch: scripts/check_plugin.lua. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <engine/plugin.h>

#ifdef PLANT_BUG
#define KIND(name) "buggy_" name
#define BETA_GRAD_FACTOR 2.0
#define WEIGHT_GRAD_SCALED 0
ENG_PLUGIN_DECLARE_ABI("swish_buggy");
#else
#define KIND(name) name
#define BETA_GRAD_FACTOR 1.0
#define WEIGHT_GRAD_SCALED 1
ENG_PLUGIN_DECLARE_ABI("swish");
#endif

/* ---- swish ---- */

static double sigmoid(double v)
{
    return v >= 0 ? 1 / (1 + exp(-v)) : exp(v) / (1 + exp(v));
}

static eng_status same_shape(const eng_layer *layer, const eng_tensor *x, int *ndim, int64_t *shape)
{
    eng_status st = eng_layer_check_input(layer, x, 0, "");
    if (st)
        return st;
    *ndim = x->ndim;
    for (int d = 0; d < x->ndim; d++)
        shape[d] = x->shape[d];
    return ENG_OK;
}

/* The element loops run over raw pointers: the model hands a layer contiguous tensors (rows
 * of its batch), and a plugin that reads each element through eng_tensor_get_flat pays a call
 * and a dtype switch per element. A strided view (a layer called directly on one) takes the
 * generic path. f32 computes in float, f64 in double. */
#define SWISH_LOOPS(T, SFX, EXP)                                                                   \
    /* no branch on the sign (random signs mispredict): for v far below 0, EXP(-v) overflows       \
     * to infinity and 1 / (1 + inf) is the right limit, 0 */                                      \
    static T sigmoid_##SFX(T v)                                                                    \
    {                                                                                              \
        return 1 / (1 + EXP(-v));                                                                  \
    }                                                                                              \
    static void swish_forward_##SFX(T *y, const T *x, int64_t n, T beta)                           \
    {                                                                                              \
        for (int64_t i = 0; i < n; i++)                                                            \
            y[i] = x[i] * sigmoid_##SFX(beta * x[i]);                                              \
    }                                                                                              \
    /* dx [optional]; returns dbeta, summed in double */                                           \
    static double swish_backward_##SFX(T *dx, const T *dy, const T *x, int64_t n, T beta)          \
    {                                                                                              \
        double dbeta = 0;                                                                          \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T v = x[i], g = dy[i], s = sigmoid_##SFX(beta * v);                                    \
            if (dx)                                                                                \
                dx[i] = g * (s + beta * v * s * (1 - s));                                          \
            dbeta += (double)(g * v * v * s * (1 - s));                                            \
        }                                                                                          \
        return dbeta;                                                                              \
    }
SWISH_LOOPS(float, f32, expf)
SWISH_LOOPS(double, f64, exp)

static bool contiguous(const eng_tensor *a, const eng_tensor *b, const eng_tensor *c)
{
    return eng_tensor_is_contiguous(a) && eng_tensor_is_contiguous(b) &&
           (!c || eng_tensor_is_contiguous(c));
}

static eng_status swish_forward(eng_layer *layer, const eng_tensor *x, eng_tensor *y, bool training)
{
    (void)training;
    double beta = eng_tensor_get_flat(layer->params[0].value, 0);
    int64_t n = eng_tensor_numel(x);
    if (contiguous(x, y, NULL) && x->dtype == ENG_F32) {
        swish_forward_f32(ENG_F32_DATA(y), ENG_F32_DATA(x), n, (float)beta);
    } else if (contiguous(x, y, NULL) && x->dtype == ENG_F64) {
        swish_forward_f64(ENG_F64_DATA(y), ENG_F64_DATA(x), n, beta);
    } else {
        for (int64_t i = 0; i < n; i++) {
            double v = eng_tensor_get_flat(x, i);
            eng_tensor_set_flat(y, i, v * sigmoid(beta * v));
        }
    }
    return ENG_OK;
}

static eng_status swish_backward(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                                 const eng_tensor *dy, eng_tensor *dx)
{
    (void)y;
    double beta = eng_tensor_get_flat(layer->params[0].value, 0), dbeta = 0;
    int64_t n = eng_tensor_numel(x);
    if (contiguous(x, dy, dx) && x->dtype == ENG_F32) {
        dbeta = swish_backward_f32(dx ? ENG_F32_DATA(dx) : NULL, ENG_F32_DATA(dy), ENG_F32_DATA(x),
                                   n, (float)beta);
    } else if (contiguous(x, dy, dx) && x->dtype == ENG_F64) {
        dbeta = swish_backward_f64(dx ? ENG_F64_DATA(dx) : NULL, ENG_F64_DATA(dy), ENG_F64_DATA(x),
                                   n, beta);
    } else {
        for (int64_t i = 0; i < n; i++) {
            double v = eng_tensor_get_flat(x, i), g = eng_tensor_get_flat(dy, i);
            double s = sigmoid(beta * v);
            if (dx)
                eng_tensor_set_flat(dx, i, g * (s + beta * v * s * (1 - s)));
            dbeta += g * v * v * s * (1 - s);
        }
    }
    eng_tensor *grad = layer->params[0].grad;
    eng_tensor_set_flat(grad, 0, eng_tensor_get_flat(grad, 0) + BETA_GRAD_FACTOR * dbeta);
    return ENG_OK;
}

static eng_status swish_create(const eng_settings *s, eng_dtype dtype, eng_rng *rng,
                               eng_layer **out);
static const eng_layer_kind kinds[2];

static eng_status swish_clone(const eng_layer *layer, eng_dtype dtype, eng_layer **out)
{
    eng_settings s;
    eng_settings_init(&s, &kinds[0]);
    eng_status st = eng_layer_create(&s, dtype, NULL, out);
    return st ? st : eng_layer_copy_params(*out, layer);
}

/* beta is learned: its setting is only the initial value, which the stored parameter then
 * replaces, so the config keeps the default. */
static eng_status swish_describe(const eng_layer *layer, eng_settings *s)
{
    (void)layer;
    (void)s;
    return ENG_OK;
}

static eng_status swish_param_shapes(const eng_settings *s, eng_param_shape *out, int *n)
{
    (void)s;
    out[0] = (eng_param_shape){"beta", 1, {1}};
    *n = 1;
    return ENG_OK;
}

static const eng_layer_ops swish_ops = {
    .kind = KIND("swish"),
    .output_shape = same_shape,
    .forward = swish_forward,
    .backward = swish_backward,
    .clone = swish_clone,
};

static eng_status swish_create(const eng_settings *s, eng_dtype dtype, eng_rng *rng,
                               eng_layer **out)
{
    (void)rng;
    eng_layer *layer = calloc(1, sizeof *layer);
    if (!layer)
        return eng_error(ENG_ENOMEM, "swish: out of memory");
    eng_layer_init(layer, &swish_ops, dtype);
    int64_t one = 1;
    eng_status st = eng_layer_add_param(layer, "beta", 1, &one);
    if (st) {
        eng_layer_release(layer);
        return st;
    }
    eng_tensor_fill(layer->params[0].value, eng_settings_number(s, "beta"));
    *out = layer;
    return ENG_OK;
}

/* ---- scaled_linear ---- */

typedef struct scaled_linear {
    eng_layer base;
    int in, out;
    double scale;
} scaled_linear;

static eng_status scaled_linear_shape(const eng_layer *layer, const eng_tensor *x, int *ndim,
                                      int64_t *shape)
{
    const scaled_linear *l = (const scaled_linear *)layer;
    eng_status st = eng_layer_check_input(layer, x, 2, "[N,in]");
    if (st)
        return st;
    if (x->shape[1] != l->in)
        return eng_error(ENG_ESHAPE, "%s '%s': x %s, expected [N,%d]", layer->ops->kind,
                         eng_layer_label(layer), eng_tensor_shape_str(x), l->in);
    *ndim = 2;
    shape[0] = x->shape[0];
    shape[1] = l->out;
    return ENG_OK;
}

static eng_status scaled_linear_forward(eng_layer *layer, const eng_tensor *x, eng_tensor *y,
                                        bool training)
{
    (void)training;
    const scaled_linear *l = (const scaled_linear *)layer;
    const eng_tensor *w = layer->params[0].value, *b = layer->params[1].value;
    for (int64_t n = 0; n < x->shape[0]; n++)
        for (int o = 0; o < l->out; o++) {
            double acc = eng_tensor_get_flat(b, o);
            for (int i = 0; i < l->in; i++)
                acc += eng_tensor_get_flat(x, n * l->in + i) *
                       eng_tensor_get_flat(w, (int64_t)o * l->in + i);
            eng_tensor_set_flat(y, n * l->out + o, l->scale * acc);
        }
    return ENG_OK;
}

static eng_status scaled_linear_backward(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                                         const eng_tensor *dy, eng_tensor *dx)
{
    (void)y;
    const scaled_linear *l = (const scaled_linear *)layer;
    eng_param *w = &layer->params[0], *b = &layer->params[1];
    double wscale = WEIGHT_GRAD_SCALED ? l->scale : 1.0;
    if (dx)
        eng_tensor_zero(dx);
    for (int64_t n = 0; n < x->shape[0]; n++)
        for (int o = 0; o < l->out; o++) {
            double g = l->scale * eng_tensor_get_flat(dy, n * l->out + o);
            eng_tensor_set_flat(b->grad, o, eng_tensor_get_flat(b->grad, o) + g);
            for (int i = 0; i < l->in; i++) {
                int64_t wi = (int64_t)o * l->in + i, xi = n * l->in + i;
                double gw = wscale / l->scale * g * eng_tensor_get_flat(x, xi);
                eng_tensor_set_flat(w->grad, wi, eng_tensor_get_flat(w->grad, wi) + gw);
                if (dx)
                    eng_tensor_set_flat(dx, xi,
                                        eng_tensor_get_flat(dx, xi) +
                                            g * eng_tensor_get_flat(w->value, wi));
            }
        }
    return ENG_OK;
}

static eng_status scaled_linear_create(const eng_settings *s, eng_dtype dtype, eng_rng *rng,
                                       eng_layer **out);

static eng_status scaled_linear_clone(const eng_layer *layer, eng_dtype dtype, eng_layer **out)
{
    eng_settings s;
    eng_settings_init(&s, &kinds[1]);
    eng_status st = kinds[1].describe(layer, &s);
    if (!st)
        st = eng_layer_create(&s, dtype, NULL, out);
    return st ? st : eng_layer_copy_params(*out, layer);
}

static eng_status scaled_linear_describe(const eng_layer *layer, eng_settings *s)
{
    const scaled_linear *l = (const scaled_linear *)layer;
    eng_status st = eng_settings_set_int(s, "in_features", l->in);
    if (!st)
        st = eng_settings_set_int(s, "out_features", l->out);
    if (!st)
        st = eng_settings_set_number(s, "scale", l->scale);
    return st;
}

static eng_status scaled_linear_param_shapes(const eng_settings *s, eng_param_shape *out, int *n)
{
    int64_t in = eng_settings_int(s, "in_features"), o = eng_settings_int(s, "out_features");
    out[0] = (eng_param_shape){"weight", 2, {o, in}};
    out[1] = (eng_param_shape){"bias", 1, {o}};
    *n = 2;
    return ENG_OK;
}

static const eng_layer_ops scaled_linear_ops = {
    .kind = KIND("scaled_linear"),
    .output_shape = scaled_linear_shape,
    .forward = scaled_linear_forward,
    .backward = scaled_linear_backward,
    .clone = scaled_linear_clone,
};

static eng_status scaled_linear_create(const eng_settings *s, eng_dtype dtype, eng_rng *rng,
                                       eng_layer **out)
{
    int in = eng_settings_int(s, "in_features"), outf = eng_settings_int(s, "out_features");
    double scale = eng_settings_number(s, "scale");
    scaled_linear *l = calloc(1, sizeof *l);
    if (!l)
        return eng_error(ENG_ENOMEM, "scaled_linear: out of memory");
    eng_layer_init(&l->base, &scaled_linear_ops, dtype);
    l->in = in;
    l->out = outf;
    l->scale = scale;
    int64_t wshape[2] = {outf, in}, bshape[1] = {outf};
    eng_status st = eng_layer_add_param(&l->base, "weight", 2, wshape);
    if (!st)
        st = eng_layer_add_param(&l->base, "bias", 1, bshape);
    if (!st)
        st = eng_tensor_kaiming_uniform(l->base.params[0].value, rng);
    if (!st)
        st = eng_tensor_uniform(l->base.params[1].value, rng, -1 / sqrt(in), 1 / sqrt(in));
    if (st) {
        eng_layer_release(&l->base);
        return st;
    }
    *out = &l->base;
    return ENG_OK;
}

/* The settings each kind declares: the engine checks every value given from Lua or read from
 * a checkpoint against them before create sees it (engine/registry.h). */
static const eng_setting swish_settings[] = {
    {"beta", ENG_SETTING_NUMBER, 0, .def = 1.0, .min = -1e6, .max = 1e6,
     .doc = "the initial value of the learned beta"},
    {0},
};

static const eng_setting scaled_linear_settings[] = {
    {"in_features", ENG_SETTING_INT, ENG_SETTING_REQUIRED | ENG_SETTING_BARE, .min = 1,
     .max = 1 << 20},
    {"out_features", ENG_SETTING_INT, ENG_SETTING_REQUIRED | ENG_SETTING_BARE, .min = 1,
     .max = 1 << 20},
    {"scale", ENG_SETTING_NUMBER, ENG_SETTING_SHOWN, .def = 1.0, .min = -1e6, .max = 1e6},
    {0},
};

static const eng_layer_kind kinds[2] = {
    {.name = KIND("swish"),
     .ops = &swish_ops,
     .settings = swish_settings,
     .takes_dtype = true,
     .create = swish_create,
     .describe = swish_describe,
     .param_shapes = swish_param_shapes,
     .doc = "x * sigmoid(beta * x), learnable beta"},
    {.name = KIND("scaled_linear"),
     .ops = &scaled_linear_ops,
     .settings = scaled_linear_settings,
     .takes_dtype = true,
     .create = scaled_linear_create,
     .describe = scaled_linear_describe,
     .param_shapes = scaled_linear_param_shapes,
     .doc = "scale * (x @ weight^T + bias)"},
};

__attribute__((visibility("default"))) eng_status engine_plugin_init(eng_plugin_registry *registry)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        eng_status st = eng_plugin_register_layer(registry, &kinds[i]);
        if (st)
            return st;
    }
    return ENG_OK;
}
