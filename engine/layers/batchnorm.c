/* Batch normalisation, torch.nn.BatchNorm1d ([N,C] or [N,C,L]) and BatchNorm2d ([N,C,H,W]).
 *
 * Training normalises with the batch's own statistics and updates the running ones:
 *   running_mean = (1 - momentum) * running_mean + momentum * mean
 *   running_var  = (1 - momentum) * running_var  + momentum * var * M / (M - 1)
 * (M = values per channel: PyTorch keeps the unbiased variance while normalising with the
 * biased one; see the BatchNorm2d documentation page.) Evaluation uses the running statistics.
 * The running statistics are buffers: checkpoints save them, optimizers never see them.
 *
 * The layer mixes samples in training, so it is not batch_independent: a model never splits
 * its batch between threads. Backward uses the statistics the last training forward computed
 * when it is given the same x (same data and shape: a tensor changed in place between the two
 * is not noticed), and recomputes them from x otherwise (the gradient checker's cached
 * prefixes run backward after forwards on other inputs). In f32 a fused ReLU's forward also
 * keeps the mask y > 0 (a bit a value), which its backward on the same x reads instead of y. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/batchnorm.h"
#include "../registry.h"
#include "layer_fusion.h"
#include "layers.h"

typedef struct batchnorm {
    eng_layer base;
    int dims; /* 1 or 2 */
    int features;
    double eps, momentum;
    bool affine;
    bool batch_stats;            /* the last forward normalised with the batch's statistics */
    double *mean, *var, *invstd; /* [features] scratch */
    const void *stats_x;         /* the x whose batch statistics mean, invstd hold, or NULL */
    int64_t stats_n, stats_s;    /* and its shape */
    uint16_t *relu_mask;         /* f32 with a fused ReLU: y > 0 of the forward on stats_x */
    int64_t mask_words;          /* relu_mask's capacity */
    bool mask_ok;                /* relu_mask is that of the last forward */
} batchnorm;

static eng_status batchnorm_output_shape(const eng_layer *layer, const eng_tensor *x, int *ndim,
                                         int64_t *shape)
{
    const batchnorm *b = (const batchnorm *)layer;
    bool one = b->dims == 1;
    eng_status st = eng_layer_check_input(layer, x, one ? 0 : 4, "[N,C,H,W]");
    if (st)
        return st;
    if (x->dtype != layer->dtype)
        return eng_error(ENG_EDTYPE, "%s '%s': x has dtype %s but the layer is %s",
                         layer->ops->kind, eng_layer_label(layer), eng_dtype_name(x->dtype),
                         eng_dtype_name(layer->dtype));
    if ((one && x->ndim != 2 && x->ndim != 3) || x->shape[1] != b->features)
        return eng_error(ENG_ESHAPE, "%s '%s': x %s, expected %s with C = %d", layer->ops->kind,
                         eng_layer_label(layer), eng_tensor_shape_str(x),
                         one ? "[N,C] or [N,C,L]" : "[N,C,H,W]", b->features);
    *ndim = x->ndim;
    for (int d = 0; d < x->ndim; d++)
        shape[d] = x->shape[d];
    return ENG_OK;
}

/* Values per channel in x (s: per sample). */
static int64_t spatial(const eng_tensor *x)
{
    int64_t s = 1;
    for (int d = 2; d < x->ndim; d++)
        s *= x->shape[d];
    return s;
}

static const void *param_data(eng_layer *layer, int i)
{
    return layer->nparams > i ? eng_tensor_data(layer->params[i].value) : NULL;
}

/* Fills b->mean and b->invstd from the running statistics (evaluation). */
static void set_running_statistics(batchnorm *b)
{
    eng_tensor *rmean = b->base.buffers[0].value, *rvar = b->base.buffers[1].value;
    b->stats_x = NULL;
    for (int64_t ch = 0; ch < b->features; ch++) {
        b->mean[ch] = eng_tensor_get_flat(rmean, ch);
        b->invstd[ch] = 1.0 / sqrt(eng_tensor_get_flat(rvar, ch) + b->eps);
    }
}

/* Training needs two values per channel or more (the unbiased variance divides by M - 1). */
static eng_status check_batch(const batchnorm *b, const eng_tensor *x)
{
    if (x->shape[0] * spatial(x) >= 2)
        return ENG_OK;
    return eng_error(ENG_ESHAPE,
                     "%s '%s': x %s has 1 value per channel: training needs more than 1 "
                     "(a larger batch, or evaluation mode)",
                     b->base.ops->kind, eng_layer_label(&b->base), eng_tensor_shape_str(x));
}

/* The running statistics' update from the batch's b->mean and b->var over m values each. */
static void update_running_statistics(batchnorm *b, int64_t m)
{
    /* [C] each: get/set_flat round to the buffers' dtype as PyTorch stores them */
    eng_tensor *rmean = b->base.buffers[0].value, *rvar = b->base.buffers[1].value;
    double mo = b->momentum, unbias = (double)m / (double)(m - 1);
    for (int64_t ch = 0; ch < b->features; ch++) {
        eng_tensor_set_flat(rmean, ch,
                            (1 - mo) * eng_tensor_get_flat(rmean, ch) + mo * b->mean[ch]);
        eng_tensor_set_flat(rvar, ch,
                            (1 - mo) * eng_tensor_get_flat(rvar, ch) + mo * b->var[ch] * unbias);
    }
}

/* Room in b->relu_mask for x's mask (false: none, out of memory; the backward reads y then). */
static bool reserve_mask(batchnorm *b, int64_t n, int64_t s)
{
    int64_t words = eng_batchnorm_relu_mask_words(n, b->features, s);
    if (words <= b->mask_words)
        return true;
    uint16_t *p = realloc(b->relu_mask, sizeof *p * (size_t)words);
    if (!p)
        return false;
    b->relu_mask = p;
    b->mask_words = words;
    return true;
}

/* Training: the statistics and y in one cache-blocked kernel (each block of x is read from
 * memory once), and in f32 with relu the mask y > 0 for the backward; evaluation: the running
 * statistics. relu: y = relu(batchnorm(x)). */
static eng_status forward_impl(eng_layer *layer, const eng_tensor *x, eng_tensor *y, bool training,
                               bool relu)
{
    batchnorm *b = (batchnorm *)layer;
    int64_t n = x->shape[0], c = b->features, s = spatial(x);
    const void *gamma = param_data(layer, 0), *beta = param_data(layer, 1),
               *xp = eng_tensor_data(x);
    void *yp = eng_tensor_data(y);
    eng_status st = training ? check_batch(b, x) : ENG_OK;
    if (st)
        return st;
    b->batch_stats = training;
    b->mask_ok = training && relu && x->dtype == ENG_F32 && reserve_mask(b, n, s);
    if (!training)
        set_running_statistics(b);
    if (b->mask_ok)
        eng_batchnorm_train_forward_masked_f32(yp, b->relu_mask, b->mean, b->var, b->invstd, xp,
                                               gamma, beta, b->eps, n, c, s);
    else if (training && x->dtype == ENG_F32)
        eng_batchnorm_train_forward_f32(yp, b->mean, b->var, b->invstd, xp, gamma, beta, b->eps, n,
                                        c, s, relu);
    else if (training)
        eng_batchnorm_train_forward_f64(yp, b->mean, b->var, b->invstd, xp, gamma, beta, b->eps, n,
                                        c, s, relu);
    else if (x->dtype == ENG_F32)
        eng_batchnorm_normalise_range_f32(yp, xp, b->mean, b->invstd, gamma, beta, n, c, s, 0, c,
                                          relu);
    else
        eng_batchnorm_normalise_range_f64(yp, xp, b->mean, b->invstd, gamma, beta, n, c, s, 0, c,
                                          relu);
    if (training)
        update_running_statistics(b, n * s);
    b->stats_x = training ? xp : NULL;
    b->stats_n = n;
    b->stats_s = s;
    return ENG_OK;
}

/* With the batch's statistics: those of the last training forward when x is its input, else
 * recomputed from x (and kept, for x). relu_y [optional]: dy is the gradient of relu(this layer's
 * output), relu_y that output. */
static eng_status backward_impl(eng_layer *layer, const eng_tensor *x, const eng_tensor *relu_y,
                                const eng_tensor *dy, eng_tensor *dx)
{
    batchnorm *b = (batchnorm *)layer;
    eng_status st = b->batch_stats ? check_batch(b, x) : ENG_OK;
    if (st)
        return st;
    int64_t n = x->shape[0], c = b->features, s = spatial(x);
    void *dg = b->affine ? eng_tensor_data(layer->params[0].grad) : NULL;
    void *db = b->affine ? eng_tensor_data(layer->params[1].grad) : NULL;
    void *dxp = dx ? eng_tensor_data(dx) : NULL;
    const void *gamma = param_data(layer, 0), *dyp = eng_tensor_data(dy), *xp = eng_tensor_data(x);
    const void *ry = relu_y ? eng_tensor_data(relu_y) : NULL;
    bool given = b->stats_x == xp && b->stats_n == n && b->stats_s == s;
    if (!b->batch_stats)
        set_running_statistics(b);
    if (b->batch_stats && given && relu_y && b->mask_ok) /* relu_y: y of that forward */
        eng_batchnorm_train_backward_masked_f32(dxp, dg, db, b->mean, b->invstd, dyp, xp,
                                                b->relu_mask, gamma, n, c, s);
    else if (b->batch_stats && given && x->dtype == ENG_F32)
        eng_batchnorm_train_backward_given_f32(dxp, dg, db, b->mean, b->invstd, dyp, xp, ry, gamma,
                                               n, c, s);
    else if (b->batch_stats && given)
        eng_batchnorm_train_backward_given_f64(dxp, dg, db, b->mean, b->invstd, dyp, xp, ry, gamma,
                                               n, c, s);
    else if (b->batch_stats && x->dtype == ENG_F32)
        eng_batchnorm_train_backward_f32(dxp, dg, db, b->mean, b->invstd, dyp, xp, ry, gamma,
                                         b->eps, n, c, s);
    else if (b->batch_stats)
        eng_batchnorm_train_backward_f64(dxp, dg, db, b->mean, b->invstd, dyp, xp, ry, gamma,
                                         b->eps, n, c, s);
    else if (x->dtype == ENG_F32)
        eng_batchnorm_backward_range_f32(dxp, dg, db, dyp, xp, ry, b->mean, b->invstd, gamma, n, c,
                                         s, 0, c, false);
    else
        eng_batchnorm_backward_range_f64(dxp, dg, db, dyp, xp, ry, b->mean, b->invstd, gamma, n, c,
                                         s, 0, c, false);
    if (b->batch_stats && !given) { /* recomputed for x: the mask is another x's */
        b->stats_x = xp, b->stats_n = n, b->stats_s = s;
        b->mask_ok = false;
    }
    return ENG_OK;
}

static eng_status batchnorm_forward(eng_layer *layer, const eng_tensor *x, eng_tensor *y,
                                    bool training)
{
    return forward_impl(layer, x, y, training, false);
}

static eng_status batchnorm_backward(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                                     const eng_tensor *dy, eng_tensor *dx)
{
    (void)y;
    return backward_impl(layer, x, NULL, dy, dx);
}

/* ---- BatchNorm -> ReLU as one pass (layer_fusion.h) ---- */

eng_status eng_batchnorm_forward_relu(eng_layer *bn, const eng_tensor *x, eng_tensor *y,
                                      bool training)
{
    return forward_impl(bn, x, y, training, true);
}

eng_status eng_batchnorm_backward_relu(eng_layer *bn, const eng_tensor *x, const eng_tensor *y,
                                       const eng_tensor *dy, eng_tensor *dx)
{
    return backward_impl(bn, x, y, dy, dx);
}

/* ---- two BatchNorms' outputs summed and rectified (layer_fusion.h) ---- */

bool eng_batchnorm_sums_with(const eng_layer *bn, const eng_layer *other, bool training)
{
    return training && eng_layer_is_batchnorm(bn) && eng_layer_is_batchnorm(other) &&
           bn->dtype == ENG_F32 && other->dtype == ENG_F32 &&
           ((const batchnorm *)bn)->features == ((const batchnorm *)other)->features;
}

/* p's inputs for x, after the layer's checks. */
static eng_status train_input(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                              eng_batchnorm_train_f32 *p)
{
    batchnorm *b = (batchnorm *)layer;
    eng_status st = check_batch(b, x);
    if (!st && (x->dtype != ENG_F32 || !eng_tensor_same_shape(x, y) ||
                !eng_tensor_is_contiguous(x) || x->shape[1] != b->features))
        st = eng_error(ENG_ESHAPE, "%s '%s': x %s does not match the sum's %s", layer->ops->kind,
                       eng_layer_label(layer), eng_tensor_shape_str(x), eng_tensor_shape_str(y));
    *p = (eng_batchnorm_train_f32){
        eng_tensor_data(x), param_data(layer, 0), param_data(layer, 1), b->eps, b->mean, b->var,
        b->invstd};
    return st;
}

/* The state a training forward on x leaves (its statistics are in b->mean, var, invstd). */
static void trained_on(eng_layer *layer, const eng_tensor *x)
{
    batchnorm *b = (batchnorm *)layer;
    b->batch_stats = true;
    b->mask_ok = false;
    update_running_statistics(b, x->shape[0] * spatial(x));
    b->stats_x = eng_tensor_data(x);
    b->stats_n = x->shape[0];
    b->stats_s = spatial(x);
}

eng_status eng_batchnorm_add_relu(eng_layer *bn_a, const eng_tensor *xa, eng_layer *bn_b,
                                  const eng_tensor *xb, eng_tensor *y, uint16_t *relu_mask)
{
    eng_batchnorm_train_f32 a, b;
    eng_status st = train_input(bn_a, xa, y, &a);
    if (!st)
        st = train_input(bn_b, xb, y, &b);
    if (st)
        return st;
    eng_batchnorm_train_add_relu_f32(eng_tensor_data(y), relu_mask, &a, &b, xa->shape[0],
                                     xa->shape[1], spatial(xa));
    trained_on(bn_a, xa);
    trained_on(bn_b, xb);
    return ENG_OK;
}

/* ---- a ReLU's mask from the layer after this one (layer_fusion.h) ---- */

bool eng_batchnorm_takes_relu_mask(const eng_layer *bn, const eng_tensor *x)
{
    const batchnorm *b = (const batchnorm *)bn;
    return eng_layer_is_batchnorm(bn) && b->batch_stats && x->dtype == ENG_F32 &&
           bn->dtype == ENG_F32 && eng_tensor_is_contiguous(x) &&
           b->stats_x == eng_tensor_data(x) && b->stats_n == x->shape[0] &&
           b->stats_s == spatial(x);
}

eng_status eng_batchnorm_backward_relu_mask(eng_layer *bn, const eng_tensor *x,
                                            const uint16_t *relu_mask, const eng_tensor *dy,
                                            eng_tensor *dx)
{
    batchnorm *b = (batchnorm *)bn;
    if (!eng_batchnorm_takes_relu_mask(bn, x))
        return eng_error(ENG_ESTATE, "%s '%s': no batch statistics of this x for a masked backward",
                         bn->ops->kind, eng_layer_label(bn));
    int64_t n = x->shape[0], c = b->features, s = spatial(x);
    void *dg = b->affine ? eng_tensor_data(bn->params[0].grad) : NULL;
    void *db = b->affine ? eng_tensor_data(bn->params[1].grad) : NULL;
    eng_batchnorm_train_backward_masked_f32(dx ? eng_tensor_data(dx) : NULL, dg, db, b->mean,
                                            b->invstd, eng_tensor_data(dy), eng_tensor_data(x),
                                            relu_mask, param_data(bn, 0), n, c, s);
    return ENG_OK;
}

/* The statistics of the last forward (kept in b->mean and b->invstd; a backward with the
 * batch's statistics recomputes the same ones there) applied to x again, without the ReLU: the
 * output a fused forward did not write (model_fusion.c, for the non-finite guard). */
eng_status eng_batchnorm_output(const eng_layer *bn, const eng_tensor *x, eng_tensor *y)
{
    const batchnorm *b = (const batchnorm *)bn;
    int64_t n = x->shape[0], c = b->features, s = spatial(x);
    const void *gamma = bn->nparams > 0 ? eng_tensor_data(bn->params[0].value) : NULL;
    const void *beta = bn->nparams > 1 ? eng_tensor_data(bn->params[1].value) : NULL;
    if (x->dtype == ENG_F32)
        eng_batchnorm_normalise_range_f32(eng_tensor_data(y), eng_tensor_data(x), b->mean,
                                          b->invstd, gamma, beta, n, c, s, 0, c, false);
    else
        eng_batchnorm_normalise_range_f64(eng_tensor_data(y), eng_tensor_data(x), b->mean,
                                          b->invstd, gamma, beta, n, c, s, 0, c, false);
    return ENG_OK;
}

static eng_status batchnorm_clone(const eng_layer *layer, eng_dtype dtype, eng_layer **out)
{
    const batchnorm *b = (const batchnorm *)layer;
    eng_status st =
        eng_batchnorm_new(b->dims, b->features, b->eps, b->momentum, b->affine, dtype, out);
    if (st)
        return st;
    ((batchnorm *)*out)->batch_stats = b->batch_stats;
    st = eng_layer_copy_params(*out, layer);
    if (st) {
        eng_layer_release(*out);
        *out = NULL;
    }
    return st;
}

static eng_status batchnorm_describe(const eng_layer *layer, eng_settings *s)
{
    const batchnorm *b = (const batchnorm *)layer;
    eng_status st = eng_settings_set_int(s, "num_features", b->features);
    if (!st)
        st = eng_settings_set_number(s, "eps", b->eps);
    if (!st)
        st = eng_settings_set_number(s, "momentum", b->momentum);
    return st ? st : eng_settings_set_bool(s, "affine", b->affine);
}

static void batchnorm_destroy(eng_layer *layer)
{
    free(((batchnorm *)layer)->relu_mask);
    free(((batchnorm *)layer)->mean);
}

#define BATCHNORM_OPS(name)                                                                        \
    {                                                                                              \
        .kind = name, .output_shape = batchnorm_output_shape, .forward = batchnorm_forward,        \
        .backward = batchnorm_backward, .clone = batchnorm_clone, .destroy = batchnorm_destroy,    \
    }

static const eng_layer_ops batchnorm1d_ops = BATCHNORM_OPS("batchnorm1d");
static const eng_layer_ops batchnorm2d_ops = BATCHNORM_OPS("batchnorm2d");

bool eng_layer_is_batchnorm(const eng_layer *layer)
{
    return layer->ops == &batchnorm1d_ops || layer->ops == &batchnorm2d_ops;
}

eng_status eng_batchnorm_new(int dims, int num_features, double eps, double momentum, bool affine,
                             eng_dtype dtype, eng_layer **out)
{
    *out = NULL;
    const char *kind = dims == 1 ? "batchnorm1d" : "batchnorm2d";
    if (dims != 1 && dims != 2)
        return eng_error(ENG_EARG, "batchnorm: dims %d (1 or 2 expected)", dims);
    if (num_features <= 0)
        return eng_error(ENG_EARG, "%s: num_features (%d) must be positive", kind, num_features);
    if (!(eps > 0) || !isfinite(eps))
        return eng_error(ENG_EARG, "%s: eps (%g) must be positive and finite", kind, eps);
    if (!(momentum >= 0 && momentum <= 1))
        return eng_error(ENG_EARG, "%s: momentum (%g) must be in [0, 1]", kind, momentum);
    if (!eng_dtype_is_float(dtype))
        return eng_error(ENG_EDTYPE, "%s: dtype %s (f32 or f64 expected)", kind,
                         eng_dtype_name(dtype));
    batchnorm *b = calloc(1, sizeof *b);
    if (!b)
        return eng_error(ENG_ENOMEM, "%s: out of memory", kind);
    eng_layer_init(&b->base, dims == 1 ? &batchnorm1d_ops : &batchnorm2d_ops, dtype);
    b->dims = dims;
    b->features = num_features;
    b->eps = eps;
    b->momentum = momentum;
    b->affine = affine;
    b->batch_stats = true;
    b->mean = calloc(3 * (size_t)num_features, sizeof *b->mean);
    b->var = b->mean + num_features;
    b->invstd = b->var + num_features;
    int64_t shape[1] = {num_features};
    eng_status st = b->mean ? ENG_OK : eng_error(ENG_ENOMEM, "%s: out of memory", kind);
    if (!st && affine)
        st = eng_layer_add_param(&b->base, "weight", 1, shape);
    if (!st && affine)
        st = eng_layer_add_param(&b->base, "bias", 1, shape);
    if (!st && affine)
        eng_tensor_fill(b->base.params[0].value, 1.0);
    if (!st)
        st = eng_layer_add_buffer(&b->base, "running_mean", 1, shape, 0.0);
    if (!st)
        st = eng_layer_add_buffer(&b->base, "running_var", 1, shape, 1.0);
    if (st) {
        eng_layer_release(&b->base);
        return st;
    }
    *out = &b->base;
    return ENG_OK;
}

/* ---- kinds ---- */

static eng_status batchnorm_create(const eng_settings *s, eng_dtype dtype, eng_rng *rng,
                                   eng_layer **out)
{
    (void)rng;
    return eng_batchnorm_new(strcmp(s->kind->name, "batchnorm1d") == 0 ? 1 : 2,
                             eng_settings_int(s, "num_features"), eng_settings_number(s, "eps"),
                             eng_settings_number(s, "momentum"), eng_settings_bool(s, "affine"),
                             dtype, out);
}

/* weight and bias [C] when affine, then the buffers running_mean and running_var [C]. */
static eng_status batchnorm_param_shapes(const eng_settings *s, eng_param_shape *out, int *n)
{
    static const char *const names[4] = {"weight", "bias", "running_mean", "running_var"};
    int c = eng_settings_int(s, "num_features"), first = eng_settings_bool(s, "affine") ? 0 : 2;
    *n = 0;
    for (int i = first; i < 4; i++)
        out[(*n)++] = (eng_param_shape){names[i], 1, {c}};
    return ENG_OK;
}

static const eng_setting batchnorm_settings[] = {
    {"num_features", ENG_SETTING_INT,
     ENG_SETTING_REQUIRED | ENG_SETTING_POSITIONAL | ENG_SETTING_BARE, .min = 1,
     .max = ENG_SETTING_INT_MAX, .doc = "C, the number of channels (features)"},
    {"eps", ENG_SETTING_NUMBER, ENG_SETTING_SHOWN, .def = 1e-5, .min = 0x1p-1074, .max = INFINITY,
     .doc = "added to the variance (positive)"},
    {"momentum", ENG_SETTING_NUMBER, ENG_SETTING_SHOWN, .def = 0.1, .min = 0, .max = 1,
     .doc = "the running statistics' update factor"},
    {"affine", ENG_SETTING_BOOL, ENG_SETTING_SHOWN, .def = 1,
     .doc = "whether the layer learns weight and bias"},
    {0},
};

ENG_BUILTIN_KIND(batchnorm1d) = {
    .name = "batchnorm1d",
    .ctor = "BatchNorm1d",
    .ops = &batchnorm1d_ops,
    .settings = batchnorm_settings,
    .takes_dtype = true,
    .create = batchnorm_create,
    .describe = batchnorm_describe,
    .param_shapes = batchnorm_param_shapes,
};
ENG_BUILTIN_KIND(batchnorm2d) = {
    .name = "batchnorm2d",
    .ctor = "BatchNorm2d",
    .ops = &batchnorm2d_ops,
    .settings = batchnorm_settings,
    .takes_dtype = true,
    .create = batchnorm_create,
    .describe = batchnorm_describe,
    .param_shapes = batchnorm_param_shapes,
};
