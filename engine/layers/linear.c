/* Fully connected layer, torch.nn.Linear: y = x @ weight^T + bias, weight [out,in]. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../kernels/broadcast.h"
#include "../kernels/gemm.h"
#include "../kernels/reduce.h"
#include "../kernels/small_gemm.h"
#include "../registry.h"
#include "layers.h"

typedef struct linear {
    eng_layer base;
    int in_features, out_features;
} linear;

static eng_status linear_output_shape(const eng_layer *layer, const eng_tensor *x, int *ndim,
                                      int64_t *shape)
{
    const linear *l = (const linear *)layer;
    char expected[48];
    snprintf(expected, sizeof expected, "[N,%d]%s", l->in_features,
             x->ndim > 2 ? " (flatten the input first)" : "");
    eng_status st = eng_layer_check_input(layer, x, 2, expected);
    if (st)
        return st;
    if (x->shape[1] != l->in_features)
        return eng_error(ENG_ESHAPE,
                         "linear '%s': x %s, expected [N,%d] (in_features %d, x has %lld)",
                         eng_layer_label(layer), eng_tensor_shape_str(x), l->in_features,
                         l->in_features, (long long)x->shape[1]);
    *ndim = 2;
    shape[0] = x->shape[0];
    shape[1] = l->out_features;
    return ENG_OK;
}

static eng_status linear_forward(eng_layer *layer, const eng_tensor *x, eng_tensor *y,
                                 bool training)
{
    (void)training;
    const linear *l = (const linear *)layer;
    int n = (int)x->shape[0], in = l->in_features, out = l->out_features;
    eng_param *bias = eng_layer_param(layer, "bias");
    switch (x->dtype) {
    case ENG_F32:
        /* y starts as the bias rows (or zero) and x @ weight^T is added to it */
        if (bias)
            eng_fill_rows_f32(ENG_F32_DATA(y), ENG_F32_DATA(bias->value), n, out);
        else
            eng_tensor_zero(y);
        eng_small_gemm_nt_f32(ENG_F32_DATA(y), out, ENG_F32_DATA(x), in,
                              ENG_F32_DATA(layer->params[0].value), in, n, out, in);
        return ENG_OK;
    case ENG_F64:
        if (bias)
            eng_fill_rows_f64(ENG_F64_DATA(y), ENG_F64_DATA(bias->value), n, out);
        else
            eng_tensor_zero(y);
        eng_small_gemm_nt_f64(ENG_F64_DATA(y), out, ENG_F64_DATA(x), in,
                              ENG_F64_DATA(layer->params[0].value), in, n, out, in);
        return ENG_OK;
    default: return eng_error(ENG_EDTYPE, "linear: unsupported dtype");
    }
}

static eng_status linear_backward(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                                  const eng_tensor *dy, eng_tensor *dx)
{
    (void)y;
    const linear *l = (const linear *)layer;
    int n = (int)x->shape[0], in = l->in_features, out = l->out_features;
    eng_param *weight = &layer->params[0], *bias = eng_layer_param(layer, "bias");
    switch (x->dtype) {
    case ENG_F32:
        /* dweight [out,in] += dy^T [out,n] @ x [n,in]; dx [n,in] = dy [n,out] @ weight */
        eng_small_gemm_tn_acc_f32(ENG_F32_DATA(weight->grad), in, ENG_F32_DATA(dy), out,
                                  ENG_F32_DATA(x), in, out, in, n);
        if (bias)
            eng_sum_rows_f32(ENG_F32_DATA(bias->grad), ENG_F32_DATA(dy), n, out);
        if (dx)
            eng_small_gemm_nn_f32(ENG_F32_DATA(dx), in, ENG_F32_DATA(dy),
                                  ENG_F32_DATA(weight->value), in, n, in, out);
        return ENG_OK;
    case ENG_F64:
        eng_small_gemm_tn_acc_f64(ENG_F64_DATA(weight->grad), in, ENG_F64_DATA(dy), out,
                                  ENG_F64_DATA(x), in, out, in, n);
        if (bias)
            eng_sum_rows_f64(ENG_F64_DATA(bias->grad), ENG_F64_DATA(dy), n, out);
        if (dx)
            eng_small_gemm_nn_f64(ENG_F64_DATA(dx), in, ENG_F64_DATA(dy),
                                  ENG_F64_DATA(weight->value), in, n, in, out);
        return ENG_OK;
    default: return eng_error(ENG_EDTYPE, "linear: unsupported dtype");
    }
}

static eng_status linear_clone(const eng_layer *layer, eng_dtype dtype, eng_layer **out)
{
    const linear *l = (const linear *)layer;
    eng_status st =
        eng_linear_new(l->in_features, l->out_features, layer->nparams == 2, dtype, NULL, out);
    if (st)
        return st;
    return eng_layer_copy_params(*out, layer);
}

static eng_status linear_describe(const eng_layer *layer, eng_settings *s)
{
    const linear *l = (const linear *)layer;
    eng_status st = eng_settings_set_int(s, "in_features", l->in_features);
    if (!st)
        st = eng_settings_set_int(s, "out_features", l->out_features);
    if (!st)
        st = eng_settings_set_bool(s, "bias", layer->nparams == 2);
    return st;
}

/* weight[o,i] += delta changes column o by delta * x[:,i]; bias[o] += delta adds delta. */
static eng_status linear_forward_delta(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                                       int param, int64_t index, double delta, eng_tensor *y_out)
{
    const linear *l = (const linear *)layer;
    eng_status st = eng_tensor_copy(y_out, y);
    if (st)
        return st;
    int64_t n = x->shape[0], in = l->in_features, out = l->out_features;
    int64_t o = param == 0 ? index / in : index, i = param == 0 ? index % in : -1;
    for (int64_t r = 0; r < n; r++) {
        int64_t at = r * out + o;
        if (x->dtype == ENG_F32) {
            float add = (float)delta * (i >= 0 ? ENG_F32_DATA(x)[r * in + i] : 1.0f);
            ENG_F32_DATA(y_out)[at] += add;
        } else {
            double add = delta * (i >= 0 ? ENG_F64_DATA(x)[r * in + i] : 1.0);
            ENG_F64_DATA(y_out)[at] += add;
        }
    }
    return ENG_OK;
}

/* Input element (r, i) changed by d adds d * weight[:, i] to row r: rows with changes get
 * y_ref's row plus those terms. Cheaper than a full forward while fewer than half of x's
 * elements change. */
static eng_status linear_forward_sparse(eng_layer *layer, const eng_tensor *x_ref,
                                        const eng_tensor *y_ref, const eng_tensor *x,
                                        const int64_t *in, int64_t n, eng_tensor *y, int64_t *out,
                                        int64_t cap, int64_t *nout)
{
    const linear *l = (const linear *)layer;
    int64_t inf = l->in_features, outf = l->out_features;
    *nout = -1;
    if (x->dtype != ENG_F64 || 2 * n > eng_tensor_numel(x))
        return ENG_OK;
    const double *xp = ENG_F64_DATA(x), *rp = ENG_F64_DATA(x_ref), *yr = ENG_F64_DATA(y_ref);
    const double *w = ENG_F64_DATA(layer->params[0].value);
    double *yp = ENG_F64_DATA(y);
    int64_t count = 0;
    for (int64_t k = 0; k < n;) {
        int64_t r = in[k] / inf;
        if (count + outf > cap)
            return ENG_OK;
        double *row = yp + r * outf;
        for (int64_t o = 0; o < outf; o++)
            row[o] = yr[r * outf + o];
        while (k < n && in[k] / inf == r) {
            /* a chunk of this row's changes: each weight row read along its own columns */
            double d[256];
            int64_t col[256];
            int m = 0;
            for (; m < 256 && k < n && in[k] / inf == r; k++, m++) {
                d[m] = xp[in[k]] - rp[in[k]];
                col[m] = in[k] % inf;
            }
            for (int64_t o = 0; o < outf; o++) {
                const double *wo = w + o * inf;
                double acc = 0;
                for (int j = 0; j < m; j++)
                    acc += d[j] * wo[col[j]];
                row[o] += acc;
            }
        }
        for (int64_t o = 0; o < outf; o++)
            out[count++] = r * outf + o;
    }
    *nout = count;
    return ENG_OK;
}

static const eng_layer_ops linear_ops = {
    .forward_sparse = linear_forward_sparse,
    .batch_independent = true,
    .forward_delta = linear_forward_delta,
    .kind = "linear",
    .output_shape = linear_output_shape,
    .forward = linear_forward,
    .backward = linear_backward,
    .clone = linear_clone,
};

eng_status eng_linear_new(int in_features, int out_features, bool bias, eng_dtype dtype,
                          eng_rng *rng, eng_layer **out)
{
    *out = NULL;
    if (in_features <= 0 || out_features <= 0)
        return eng_error(ENG_EARG,
                         "linear: in_features (%d) and out_features (%d) must be positive",
                         in_features, out_features);
    if (!eng_dtype_is_float(dtype))
        return eng_error(ENG_EDTYPE, "linear: dtype %s (f32 or f64 expected)",
                         eng_dtype_name(dtype));
    linear *l = calloc(1, sizeof *l);
    if (!l)
        return eng_error(ENG_ENOMEM, "linear: out of memory");
    eng_layer_init(&l->base, &linear_ops, dtype);
    l->in_features = in_features;
    l->out_features = out_features;
    int64_t wshape[2] = {out_features, in_features}, bshape[1] = {out_features};
    eng_status st = eng_layer_add_param(&l->base, "weight", 2, wshape);
    if (!st && bias)
        st = eng_layer_add_param(&l->base, "bias", 1, bshape);
    if (!st)
        st = eng_tensor_kaiming_uniform(l->base.params[0].value, rng);
    if (!st && bias) {
        double bound = 1.0 / sqrt((double)in_features);
        st = eng_tensor_uniform(l->base.params[1].value, rng, -bound, bound);
    }
    if (st) {
        eng_layer_release(&l->base);
        return st;
    }
    *out = &l->base;
    return ENG_OK;
}

static eng_status linear_create(const eng_settings *s, eng_dtype dtype, eng_rng *rng,
                                eng_layer **out)
{
    return eng_linear_new(eng_settings_int(s, "in_features"), eng_settings_int(s, "out_features"),
                          eng_settings_bool(s, "bias"), dtype, rng, out);
}

static eng_status linear_param_shapes(const eng_settings *s, eng_param_shape *out, int *n)
{
    int64_t in = eng_settings_int(s, "in_features"), o = eng_settings_int(s, "out_features");
    out[0] = (eng_param_shape){"weight", 2, {o, in}};
    out[1] = (eng_param_shape){"bias", 1, {o}};
    *n = eng_settings_bool(s, "bias") ? 2 : 1;
    return ENG_OK;
}

#define FEATURES(NAME, DOC)                                                                        \
    {                                                                                              \
        NAME, ENG_SETTING_INT, ENG_SETTING_REQUIRED | ENG_SETTING_POSITIONAL | ENG_SETTING_BARE,   \
            .min = 1, .max = ENG_SETTING_INT_MAX, .doc = DOC                                       \
    }

static const eng_setting linear_settings[] = {
    FEATURES("in_features", "the size of each input sample"),
    FEATURES("out_features", "the size of each output sample"),
    {"bias", ENG_SETTING_BOOL, 0, .def = 1, .doc = "whether the layer adds a learned bias"},
    {0},
};

ENG_BUILTIN_KIND(linear) = {
    .name = "linear",
    .ctor = "Linear",
    .ops = &linear_ops,
    .settings = linear_settings,
    .takes_dtype = true,
    .create = linear_create,
    .describe = linear_describe,
    .param_shapes = linear_param_shapes,
};
