/* Max pooling, torch.nn.MaxPool2d: the gradient goes to the first maximum of each window. */
#include <stdlib.h>

#include "../kernels/activation.h"
#include "layer_fusion.h"
#include "layers.h"
#include "pool_common.h"

/* The winners are kept for the whole storage of the y the forward wrote, at y's own element
 * offsets: a model that runs a few samples at a time writes the rows of one output buffer in
 * several forwards before their backwards, and each backward finds its rows' winners there. */
typedef struct maxpool2d {
    eng_layer base;
    pool_config cfg;
    eng_tensor *argmax;           /* i32, one per element of y's storage */
    const eng_storage *argmax_of; /* the storage of the y they were computed for */
} maxpool2d;

static const eng_layer_ops maxpool2d_ops;

/* The winners of the forward that wrote y, or NULL when there was none. */
static const int32_t *winners(const maxpool2d *m, const eng_tensor *y)
{
    if (!m->argmax || m->argmax_of != y->storage ||
        y->offset + eng_tensor_numel(y) > eng_tensor_numel(m->argmax))
        return NULL;
    return (const int32_t *)eng_tensor_data(m->argmax) + y->offset;
}

static eng_status maxpool2d_output_shape(const eng_layer *layer, const eng_tensor *x, int *ndim,
                                         int64_t *shape)
{
    return pool_output_shape(layer, &((const maxpool2d *)layer)->cfg, x, ndim, shape);
}

/* The pool's forward on x, or on relu(x) when relu is set (layer_fusion.h). */
static eng_status pool_forward(eng_layer *layer, const eng_tensor *x, eng_tensor *y, bool relu)
{
    maxpool2d *m = (maxpool2d *)layer;
    eng_pool_geometry g;
    eng_status st = pool_geometry(layer, &m->cfg, x, &g);
    int64_t capacity = (int64_t)(y->storage->nbytes / eng_dtype_size(y->dtype));
    if (!st && (!m->argmax || eng_tensor_numel(m->argmax) < capacity))
        st = eng_tensor_ensure(&m->argmax, ENG_I32, 1, &capacity);
    if (st)
        return st;
    m->argmax_of = y->storage;
    int32_t *argmax = (int32_t *)eng_tensor_data(m->argmax) + y->offset;
    if (x->dtype == ENG_F32)
        (relu ? eng_relu_maxpool_forward_f32 : eng_maxpool_forward_f32)(ENG_F32_DATA(y), argmax,
                                                                        ENG_F32_DATA(x), &g);
    else
        (relu ? eng_relu_maxpool_forward_f64 : eng_maxpool_forward_f64)(ENG_F64_DATA(y), argmax,
                                                                        ENG_F64_DATA(x), &g);
    return ENG_OK;
}

static eng_status maxpool2d_forward(eng_layer *layer, const eng_tensor *x, eng_tensor *y,
                                    bool training)
{
    (void)training;
    return pool_forward(layer, x, y, false);
}

static eng_status maxpool2d_backward(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                                     const eng_tensor *dy, eng_tensor *dx)
{
    maxpool2d *m = (maxpool2d *)layer;
    if (!dx)
        return ENG_OK;
    eng_pool_geometry g;
    eng_status st = pool_geometry(layer, &m->cfg, x, &g);
    if (st)
        return st;
    const int32_t *argmax = winners(m, y);
    if (argmax && x->dtype == ENG_F32)
        eng_maxpool_backward_f32(ENG_F32_DATA(dx), ENG_F32_DATA(dy), argmax, &g);
    else if (argmax)
        eng_maxpool_backward_f64(ENG_F64_DATA(dx), ENG_F64_DATA(dy), argmax, &g);
    else if (x->dtype == ENG_F32) /* no forward wrote this y: find the winners from x and y */
        eng_maxpool_backward_xy_f32(ENG_F32_DATA(dx), ENG_F32_DATA(dy), ENG_F32_DATA(x),
                                    ENG_F32_DATA(y), &g);
    else
        eng_maxpool_backward_xy_f64(ENG_F64_DATA(dx), ENG_F64_DATA(dy), ENG_F64_DATA(x),
                                    ENG_F64_DATA(y), &g);
    return ENG_OK;
}

bool eng_layer_is_maxpool2d(const eng_layer *layer)
{
    return layer->ops == &maxpool2d_ops;
}

eng_status eng_maxpool2d_forward_after_relu(eng_layer *pool, const eng_tensor *x, eng_tensor *y)
{
    return pool_forward(pool, x, y, true);
}

/* The gradient w.r.t. the ReLU's input of a fused pair, into dx (like x; raw data). */
static eng_status through_relu(eng_layer *pool, const eng_tensor *x, const eng_tensor *y,
                               const eng_tensor *dy, void *dx)
{
    maxpool2d *m = (maxpool2d *)pool;
    eng_pool_geometry g;
    eng_status st = pool_geometry(pool, &m->cfg, x, &g);
    if (st)
        return st;
    const int32_t *argmax = winners(m, y);
    int64_t n = eng_tensor_numel(x);
    if (!argmax && x->dtype == ENG_F32) {
        /* the winners were overwritten (this layer ran on other data since): found again from
         * x and y (the first element equal to y > 0; a cell x <= 0 that wins gets nothing),
         * then the ReLU's mask */
        eng_maxpool_backward_xy_f32(dx, ENG_F32_DATA(dy), ENG_F32_DATA(x), ENG_F32_DATA(y), &g);
        eng_relu_mask_f32(dx, ENG_F32_DATA(x), n);
    } else if (!argmax) {
        eng_maxpool_backward_xy_f64(dx, ENG_F64_DATA(dy), ENG_F64_DATA(x), ENG_F64_DATA(y), &g);
        eng_relu_mask_f64(dx, ENG_F64_DATA(x), n);
    } else if (x->dtype == ENG_F32)
        eng_relu_maxpool_backward_f32(dx, ENG_F32_DATA(dy), ENG_F32_DATA(y), argmax, &g);
    else
        eng_relu_maxpool_backward_f64(dx, ENG_F64_DATA(dy), ENG_F64_DATA(y), argmax, &g);
    return ENG_OK;
}

eng_status eng_maxpool2d_backward_through_relu(eng_layer *pool, const eng_tensor *x,
                                               const eng_tensor *y, const eng_tensor *dy,
                                               eng_tensor *dx)
{
    return through_relu(pool, x, y, dy, eng_tensor_data(dx));
}

bool eng_maxpool2d_folds(const eng_layer *pool, const eng_tensor *x)
{
    const pool_config *c = &((const maxpool2d *)pool)->cfg;
    return x->dtype == ENG_F32 && x->ndim == 4 && c->kh == 2 && c->kw == 2 && c->sh == 2 &&
           c->sw == 2 && c->ph == 0 && c->pw == 0 && x->shape[2] % 2 == 0 && x->shape[3] % 2 == 0 &&
           eng_tensor_is_contiguous(x);
}

eng_status eng_pooled_grad_rows(const eng_pooled_grad *pg, int64_t first, int64_t count, float *dx)
{
    eng_tensor x = eng_tensor_rows(pg->x, first, count), y = eng_tensor_rows(pg->y, first, count);
    eng_tensor dy = eng_tensor_rows(pg->dy, first, count);
    return through_relu(pg->pool, &x, &y, &dy, dx);
}

/* The channels [c0, c0 + count) of one image: contiguous in x, y and dy. */
static eng_tensor planes(const eng_tensor *t, int64_t image, int64_t c0, int64_t count)
{
    eng_tensor v = eng_tensor_rows(t, image, 1);
    v.offset += c0 * t->strides[1];
    v.shape[1] = count;
    return v;
}

eng_status eng_pooled_grad_planes(const eng_pooled_grad *pg, int64_t image, int64_t c0,
                                  int64_t count, float *dx)
{
    eng_tensor x = planes(pg->x, image, c0, count), y = planes(pg->y, image, c0, count);
    eng_tensor dy = planes(pg->dy, image, c0, count);
    return through_relu(pg->pool, &x, &y, &dy, dx);
}

static eng_status maxpool2d_clone(const eng_layer *layer, eng_dtype dtype, eng_layer **out)
{
    (void)dtype;
    const pool_config *c = &((const maxpool2d *)layer)->cfg;
    return eng_maxpool2d_new(c->kh, c->kw, c->sh, c->sw, c->ph, c->pw, out);
}

static eng_status maxpool2d_describe(const eng_layer *layer, eng_settings *s)
{
    return pool_describe(&((const maxpool2d *)layer)->cfg, s);
}

static void maxpool2d_destroy(eng_layer *layer)
{
    eng_tensor_release(((maxpool2d *)layer)->argmax);
}

/* The winners of the last forward. */
static uint64_t maxpool2d_signature(const eng_layer *layer, const eng_tensor *x,
                                    const eng_tensor *y)
{
    (void)x;
    const int32_t *argmax = winners((const maxpool2d *)layer, y);
    if (!argmax)
        return 0;
    return eng_hash_bytes(ENG_HASH_INIT, argmax, (size_t)eng_tensor_numel(y) * sizeof(int32_t));
}

static eng_status maxpool2d_forward_frozen(eng_layer *layer, const eng_tensor *x_ref,
                                           const eng_tensor *y_ref, const eng_tensor *x,
                                           eng_tensor *y)
{
    eng_pool_geometry g;
    eng_status st = pool_geometry(layer, &((maxpool2d *)layer)->cfg, x, &g);
    if (st)
        return st;
    if (x->dtype == ENG_F32)
        eng_maxpool_frozen_f32(ENG_F32_DATA(y), ENG_F32_DATA(x_ref), ENG_F32_DATA(y_ref),
                               ENG_F32_DATA(x), &g);
    else
        eng_maxpool_frozen_f64(ENG_F64_DATA(y), ENG_F64_DATA(x_ref), ENG_F64_DATA(y_ref),
                               ENG_F64_DATA(x), &g);
    return ENG_OK;
}

static int cmp_index(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Windows that do not overlap (kernel no larger than stride): each changed input lies in at
 * most one window, which takes x at x_ref's winner (the first element equal to y_ref, or the
 * first when none is, as in forward_frozen). */
static eng_status maxpool2d_forward_sparse(eng_layer *layer, const eng_tensor *x_ref,
                                           const eng_tensor *y_ref, const eng_tensor *x,
                                           const int64_t *in, int64_t n, eng_tensor *y,
                                           int64_t *out, int64_t cap, int64_t *nout)
{
    eng_pool_geometry g;
    *nout = -1;
    eng_status st = pool_geometry(layer, &((maxpool2d *)layer)->cfg, x, &g);
    if (st || x->dtype != ENG_F64 || g.kh > g.sh || g.kw > g.sw || n > cap)
        return st;
    int64_t plane = (int64_t)g.h * g.w, count = 0;
    for (int64_t k = 0; k < n; k++) {
        int64_t p = in[k] / plane, iy = in[k] % plane / g.w, ix = in[k] % g.w;
        int64_t oy = (iy + g.ph) / g.sh, ox = (ix + g.pw) / g.sw;
        if (oy < g.oh && ox < g.ow && iy < oy * g.sh - g.ph + g.kh && ix < ox * g.sw - g.pw + g.kw)
            out[count++] = (p * g.oh + oy) * g.ow + ox;
    }
    qsort(out, (size_t)count, sizeof *out, cmp_index);
    int64_t distinct = 0;
    const double *xp = ENG_F64_DATA(x), *rp = ENG_F64_DATA(x_ref), *yr = ENG_F64_DATA(y_ref);
    for (int64_t k = 0; k < count; k++) {
        if (distinct && out[distinct - 1] == out[k])
            continue;
        int64_t at = out[k], p = at / ((int64_t)g.oh * g.ow);
        int64_t oy = at / g.ow % g.oh, ox = at % g.ow;
        int64_t y0 = oy * g.sh - g.ph, x0 = ox * g.sw - g.pw;
        int64_t ya = y0 > 0 ? y0 : 0, yb = y0 + g.kh < g.h ? y0 + g.kh : g.h;
        int64_t xa = x0 > 0 ? x0 : 0, xb = x0 + g.kw < g.w ? x0 + g.kw : g.w;
        int64_t best = ya * g.w + xa;
        for (int64_t iy = ya, found = 0; iy < yb && !found; iy++)
            for (int64_t ix = xa; ix < xb && !found; ix++)
                if (rp[p * plane + iy * g.w + ix] == yr[at]) {
                    best = iy * g.w + ix;
                    found = 1;
                }
        ENG_F64_DATA(y)[at] = xp[p * plane + best];
        out[distinct++] = at;
    }
    *nout = distinct;
    return ENG_OK;
}

static const eng_layer_ops maxpool2d_ops = {
    .forward_sparse = maxpool2d_forward_sparse,
    .forward_frozen = maxpool2d_forward_frozen,
    .batch_independent = true,
    .sample_by_sample = true,
    .signature = maxpool2d_signature,
    .kind = "maxpool2d",
    .output_shape = maxpool2d_output_shape,
    .forward = maxpool2d_forward,
    .backward = maxpool2d_backward,
    .clone = maxpool2d_clone,
    .destroy = maxpool2d_destroy,
};

eng_status eng_maxpool2d_new(int kh, int kw, int stride_h, int stride_w, int padding_h,
                             int padding_w, eng_layer **out)
{
    *out = NULL;
    pool_config cfg;
    eng_status st =
        pool_config_init(&cfg, "maxpool2d", kh, kw, stride_h, stride_w, padding_h, padding_w);
    if (st)
        return st;
    maxpool2d *m = calloc(1, sizeof *m);
    if (!m)
        return eng_error(ENG_ENOMEM, "maxpool2d: out of memory");
    eng_layer_init(&m->base, &maxpool2d_ops, ENG_F32);
    m->cfg = cfg;
    *out = &m->base;
    return ENG_OK;
}

static eng_status maxpool2d_create(const eng_settings *s, eng_dtype dtype, eng_rng *rng,
                                   eng_layer **out)
{
    (void)dtype;
    (void)rng;
    int v[6];
    pool_settings_get(s, v);
    return eng_maxpool2d_new(v[0], v[1], v[2], v[3], v[4], v[5], out);
}

ENG_BUILTIN_KIND(maxpool2d) = {
    .name = "maxpool2d",
    .ctor = "MaxPool2d",
    .ops = &maxpool2d_ops,
    .settings = pool_settings,
    .create = maxpool2d_create,
    .describe = maxpool2d_describe,
};
