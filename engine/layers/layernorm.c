/* torch.nn.LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True): normalises each
 * sample over its trailing dimensions, which must equal normalized_shape; weight and bias
 * have that shape. Statistics per sample, so it is batch-independent. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/layernorm.h"
#include "../registry.h"
#include "layers.h"

typedef struct layernorm {
    eng_layer base;
    int ndim; /* of normalized_shape */
    int64_t shape[ENG_MAX_DIMS];
    int64_t d; /* its product */
    double eps;
    bool affine;
} layernorm;

static eng_status layernorm_output_shape(const eng_layer *layer, const eng_tensor *x, int *ndim,
                                         int64_t *shape)
{
    const layernorm *l = (const layernorm *)layer;
    eng_status st = eng_layer_check_input(layer, x, 0, "");
    if (st)
        return st;
    if (x->dtype != layer->dtype)
        return eng_error(ENG_EDTYPE, "layernorm '%s': x has dtype %s but the layer is %s",
                         eng_layer_label(layer), eng_dtype_name(x->dtype),
                         eng_dtype_name(layer->dtype));
    bool ok = x->ndim > l->ndim;
    for (int i = 0; ok && i < l->ndim; i++)
        ok = x->shape[x->ndim - l->ndim + i] == l->shape[i];
    if (!ok)
        return eng_error(ENG_ESHAPE, "layernorm '%s': x %s, expected [N,...,%s] (normalized_shape)",
                         eng_layer_label(layer), eng_tensor_shape_str(x),
                         eng_shape_str(l->ndim, l->shape) + 1);
    *ndim = x->ndim;
    for (int i = 0; i < x->ndim; i++)
        shape[i] = x->shape[i];
    return ENG_OK;
}

static const void *param_data(const eng_layer *layer, int i)
{
    return layer->nparams > i ? eng_tensor_data(layer->params[i].value) : NULL;
}

static eng_status layernorm_forward(eng_layer *layer, const eng_tensor *x, eng_tensor *y,
                                    bool training)
{
    (void)training;
    const layernorm *l = (const layernorm *)layer;
    int64_t rows = eng_tensor_numel(x) / l->d;
    if (x->dtype == ENG_F32)
        eng_layernorm_forward_f32(ENG_F32_DATA(y), ENG_F32_DATA(x), param_data(layer, 0),
                                  param_data(layer, 1), rows, l->d, l->eps);
    else
        eng_layernorm_forward_f64(ENG_F64_DATA(y), ENG_F64_DATA(x), param_data(layer, 0),
                                  param_data(layer, 1), rows, l->d, l->eps);
    return ENG_OK;
}

static eng_status layernorm_backward(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                                     const eng_tensor *dy, eng_tensor *dx)
{
    (void)y;
    const layernorm *l = (const layernorm *)layer;
    int64_t rows = eng_tensor_numel(x) / l->d;
    void *dg = l->affine ? eng_tensor_data(layer->params[0].grad) : NULL;
    void *db = l->affine ? eng_tensor_data(layer->params[1].grad) : NULL;
    void *dxp = dx ? eng_tensor_data(dx) : NULL;
    if (x->dtype == ENG_F32)
        eng_layernorm_backward_f32(dxp, dg, db, ENG_F32_DATA(dy), ENG_F32_DATA(x),
                                   param_data(layer, 0), rows, l->d, l->eps);
    else
        eng_layernorm_backward_f64(dxp, dg, db, ENG_F64_DATA(dy), ENG_F64_DATA(x),
                                   param_data(layer, 0), rows, l->d, l->eps);
    return ENG_OK;
}

static eng_status layernorm_clone(const eng_layer *layer, eng_dtype dtype, eng_layer **out)
{
    const layernorm *l = (const layernorm *)layer;
    eng_status st = eng_layernorm_new(l->ndim, l->shape, l->eps, l->affine, dtype, out);
    if (!st && (st = eng_layer_copy_params(*out, layer))) {
        eng_layer_release(*out);
        *out = NULL;
    }
    return st;
}

static eng_status layernorm_describe(const eng_layer *layer, eng_settings *s)
{
    const layernorm *l = (const layernorm *)layer;
    int dims[ENG_MAX_DIMS];
    for (int i = 0; i < l->ndim; i++)
        dims[i] = (int)l->shape[i];
    eng_status st = eng_settings_set_int_list(s, "normalized_shape", dims, l->ndim);
    if (!st)
        st = eng_settings_set_number(s, "eps", l->eps);
    return st ? st : eng_settings_set_bool(s, "elementwise_affine", l->affine);
}

static const eng_layer_ops layernorm_ops = {
    .kind = "layernorm",
    .output_shape = layernorm_output_shape,
    .forward = layernorm_forward,
    .backward = layernorm_backward,
    .clone = layernorm_clone,
    .batch_independent = true,
};

eng_status eng_layernorm_new(int ndim, const int64_t *shape, double eps, bool affine,
                             eng_dtype dtype, eng_layer **out)
{
    *out = NULL;
    if (ndim < 1 || ndim >= ENG_MAX_DIMS)
        return eng_error(ENG_EARG, "layernorm: normalized_shape has %d dimensions (1 to %d)", ndim,
                         ENG_MAX_DIMS - 1);
    int64_t d = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1 || shape[i] > (1 << 30))
            return eng_error(ENG_EARG, "layernorm: normalized_shape %s must be positive",
                             eng_shape_str(ndim, shape));
        d *= shape[i];
    }
    if (!(eps > 0) || !isfinite(eps))
        return eng_error(ENG_EARG, "layernorm: eps (%g) must be positive and finite", eps);
    if (!eng_dtype_is_float(dtype))
        return eng_error(ENG_EDTYPE, "layernorm: dtype %s (f32 or f64 expected)",
                         eng_dtype_name(dtype));
    layernorm *l = calloc(1, sizeof *l);
    if (!l)
        return eng_error(ENG_ENOMEM, "layernorm: out of memory");
    eng_layer_init(&l->base, &layernorm_ops, dtype);
    l->ndim = ndim;
    memcpy(l->shape, shape, sizeof(int64_t) * (size_t)ndim);
    l->d = d;
    l->eps = eps;
    l->affine = affine;
    eng_status st = ENG_OK;
    if (affine) {
        st = eng_layer_add_param(&l->base, "weight", ndim, shape);
        if (!st)
            st = eng_layer_add_param(&l->base, "bias", ndim, shape);
        if (!st)
            eng_tensor_fill(l->base.params[0].value, 1.0);
    }
    if (st) {
        eng_layer_release(&l->base);
        return st;
    }
    *out = &l->base;
    return ENG_OK;
}

/* ---- kind ---- */

static eng_status layernorm_create(const eng_settings *s, eng_dtype dtype, eng_rng *rng,
                                   eng_layer **out)
{
    (void)rng;
    int dims[ENG_SETTING_INTS_MAX];
    int n = eng_settings_ints(s, "normalized_shape", dims, ENG_SETTING_INTS_MAX);
    int64_t shape[ENG_SETTING_INTS_MAX];
    for (int i = 0; i < n; i++)
        shape[i] = dims[i];
    return eng_layernorm_new(n, shape, eng_settings_number(s, "eps"),
                             eng_settings_bool(s, "elementwise_affine"), dtype, out);
}

/* weight and bias of normalized_shape when affine */
static eng_status layernorm_param_shapes(const eng_settings *s, eng_param_shape *out, int *n)
{
    int dims[ENG_SETTING_INTS_MAX];
    int nd = eng_settings_ints(s, "normalized_shape", dims, ENG_SETTING_INTS_MAX);
    *n = 0;
    if (!eng_settings_bool(s, "elementwise_affine"))
        return ENG_OK;
    if (nd >= ENG_MAX_DIMS)
        return eng_error(ENG_EARG, "layernorm: normalized_shape has %d dimensions (1 to %d)", nd,
                         ENG_MAX_DIMS - 1);
    for (int p = 0; p < 2; p++) {
        out[p] = (eng_param_shape){p ? "bias" : "weight", nd, {0}};
        for (int i = 0; i < nd; i++)
            out[p].shape[i] = dims[i];
    }
    *n = 2;
    return ENG_OK;
}

static const eng_setting layernorm_settings[] = {
    {"normalized_shape", ENG_SETTING_INTS,
     ENG_SETTING_REQUIRED | ENG_SETTING_POSITIONAL | ENG_SETTING_BARE, .min = 1, .max = 1 << 30,
     .len = 0, .doc = "the trailing dimensions normalised, e.g. {C,H,W} or d"},
    {"eps", ENG_SETTING_NUMBER, ENG_SETTING_SHOWN, .def = 1e-5, .min = 0x1p-1074, .max = INFINITY,
     .doc = "added to the variance (positive)"},
    {"elementwise_affine", ENG_SETTING_BOOL, ENG_SETTING_SHOWN, .def = 1,
     .doc = "whether the layer learns weight and bias"},
    {0},
};

ENG_BUILTIN_KIND(layernorm) = {
    .name = "layernorm",
    .ctor = "LayerNorm",
    .ops = &layernorm_ops,
    .settings = layernorm_settings,
    .takes_dtype = true,
    .create = layernorm_create,
    .describe = layernorm_describe,
    .param_shapes = layernorm_param_shapes,
};
