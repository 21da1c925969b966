/* The gradient checker's test nets, shared by tests/test_gradcheck.c and
 * tests/test_gradcheck_zoo.c: a small seed-like CNN with a bug planted in one layer's backward
 * (the layer's vtable backward replaced by one that changes the correct result), and its
 * batches. Include after <cmocka.h> and "engine.h". */
#ifndef ENGINE_TESTS_GRADCHECK_NETS_H
#define ENGINE_TESTS_GRADCHECK_NETS_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gradcheck/gradcheck.h"

#define NETS_UNUSED __attribute__((unused))
#ifndef OK
#define OK(call) assert_int_equal((call), ENG_OK)
#endif

typedef enum bug {
    BUG_NONE,
    /* parameter gradients (params[0], params[1]), acting on this call's contribution */
    BUG_DOUBLED,
    BUG_SIGN,
    BUG_SCALE,             /* times bug_factor */
    BUG_TRANSPOSED,        /* dweight written [in,out] into the [out,in] buffer */
    BUG_BIAS_FIRST_SAMPLE, /* dbias from sample 1 alone */
    BUG_FIRST_SAMPLE_ONLY, /* dweight from sample 1 alone */
    BUG_ONE_ELEMENT,       /* element (2,3) (1-based) x1.5 */
    BUG_ROW,               /* row / output channel 2 (1-based) never written */
    BUG_CHANNEL,           /* output channel 2 (1-based) with the wrong sign */
    /* input gradients */
    BUG_BORDER_DX,     /* zero on the spatial border (loops one short at each end) */
    BUG_RELU_NO_MASK,  /* dx = dy: the mask forgotten */
    BUG_POOL_TOP_LEFT, /* 2x2 windows: the gradient always goes to the top-left */
    BUG_DX_SIGN,
    BUG_DX_ONE_SAMPLE, /* sample 2 (1-based) of dx with the wrong sign */
} bug;

static double bug_factor = 1.0; /* BUG_SCALE */
static bug current_bug;
static const eng_layer_ops *original_ops;
static eng_layer_ops buggy_ops;

/* Replaces g with saved + f(g - saved) over [lo, hi): the bug acts on this call's
 * contribution only. */
static NETS_UNUSED void scale_contribution(eng_tensor *g, const eng_tensor *saved, double f,
                                           int64_t lo, int64_t hi)
{
    for (int64_t i = lo; i < hi; i++) {
        double before = eng_tensor_get_flat(saved, i);
        eng_tensor_set_flat(g, i, before + f * (eng_tensor_get_flat(g, i) - before));
    }
}

/* dweight from sample 1 alone; the rest as usual. */
static NETS_UNUSED eng_status first_sample_backward(eng_layer *layer, const eng_tensor *x,
                                                    const eng_tensor *y, const eng_tensor *dy,
                                                    eng_tensor *dx, const eng_tensor *saved_w)
{
    eng_tensor *w = layer->params[0].grad, *b = layer->params[1].grad;
    eng_tensor *x0, *y0, *dy0, *keep_b, *after_w;
    OK(eng_tensor_narrow(x, 0, 0, 1, &x0));
    OK(eng_tensor_narrow(y, 0, 0, 1, &y0));
    OK(eng_tensor_narrow(dy, 0, 0, 1, &dy0));
    OK(eng_tensor_clone(b, &keep_b));
    eng_status st = original_ops->backward(layer, x0, y0, dy0, NULL);
    OK(eng_tensor_copy(b, keep_b));
    OK(eng_tensor_clone(w, &after_w));
    OK(eng_tensor_copy(w, saved_w));
    if (!st)
        st = original_ops->backward(layer, x, y, dy, dx);
    OK(eng_tensor_copy(w, after_w));
    eng_tensor_release(after_w);
    eng_tensor_release(keep_b);
    eng_tensor_release(x0);
    eng_tensor_release(y0);
    eng_tensor_release(dy0);
    return st;
}

static NETS_UNUSED void parameter_bug(eng_tensor *w, eng_tensor *b, const eng_tensor *saved_w,
                                      const eng_tensor *saved_b, const eng_tensor *dy)
{
    int64_t n = eng_tensor_numel(w), per_row = n / w->shape[0];
    switch (current_bug) {
    case BUG_DOUBLED: scale_contribution(w, saved_w, 2.0, 0, n); break;
    case BUG_SIGN: scale_contribution(w, saved_w, -1.0, 0, n); break;
    case BUG_SCALE: scale_contribution(w, saved_w, bug_factor, 0, n); break;
    case BUG_ONE_ELEMENT: scale_contribution(w, saved_w, 1.5, per_row + 2, per_row + 3); break;
    case BUG_ROW: scale_contribution(w, saved_w, 0.0, per_row, 2 * per_row); break;
    case BUG_CHANNEL: scale_contribution(w, saved_w, -1.0, per_row, 2 * per_row); break;
    case BUG_TRANSPOSED: {
        int64_t out = w->shape[0], in = w->shape[1];
        eng_tensor *g;
        OK(eng_tensor_clone(w, &g));
        for (int64_t o = 0; o < out; o++)
            for (int64_t i = 0; i < in; i++)
                eng_tensor_set_flat(w, i * out + o,
                                    eng_tensor_get_flat(saved_w, i * out + o) +
                                        eng_tensor_get_flat(g, o * in + i) -
                                        eng_tensor_get_flat(saved_w, o * in + i));
        eng_tensor_release(g);
        break;
    }
    case BUG_BIAS_FIRST_SAMPLE: {
        /* dbias = dy[0] summed over its positions, not over the batch */
        int64_t per_sample = eng_tensor_numel(dy) / dy->shape[0], channels = b->shape[0];
        int64_t plane = per_sample / channels;
        for (int64_t c = 0; c < channels; c++) {
            double acc = 0;
            for (int64_t p = 0; p < plane; p++)
                acc += eng_tensor_get_flat(dy, c * plane + p);
            eng_tensor_set_flat(b, c, eng_tensor_get_flat(saved_b, c) + acc);
        }
        break;
    }
    default: break;
    }
}

static NETS_UNUSED eng_status input_bug(eng_tensor *dx, const eng_tensor *dy)
{
    switch (current_bug) {
    case BUG_BORDER_DX: {
        int64_t h = dx->shape[2], wd = dx->shape[3];
        for (int64_t i = 0, n = eng_tensor_numel(dx); i < n; i++) {
            int64_t yy = i / wd % h, xx = i % wd;
            if (yy == 0 || xx == 0 || yy == h - 1 || xx == wd - 1)
                eng_tensor_set_flat(dx, i, 0.0);
        }
        return ENG_OK;
    }
    case BUG_RELU_NO_MASK: return eng_tensor_copy(dx, dy);
    case BUG_POOL_TOP_LEFT: {
        int64_t h = dx->shape[2], w = dx->shape[3], oh = h / 2, ow = w / 2;
        int64_t planes = dx->shape[0] * dx->shape[1];
        eng_tensor_zero(dx);
        for (int64_t p = 0; p < planes; p++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++)
                    eng_tensor_set_flat(dx, (p * h + 2 * i) * w + 2 * j,
                                        eng_tensor_get_flat(dy, (p * oh + i) * ow + j));
        return ENG_OK;
    }
    case BUG_DX_SIGN: return eng_tensor_binary_scalar(dx, dx, -1.0, ENG_MUL);
    case BUG_DX_ONE_SAMPLE: {
        int64_t per = eng_tensor_numel(dx) / dx->shape[0];
        for (int64_t i = per; i < 2 * per; i++)
            eng_tensor_set_flat(dx, i, -eng_tensor_get_flat(dx, i));
        return ENG_OK;
    }
    default: return ENG_OK;
    }
}

static NETS_UNUSED eng_status buggy_backward(eng_layer *layer, const eng_tensor *x,
                                             const eng_tensor *y, const eng_tensor *dy,
                                             eng_tensor *dx)
{
    eng_tensor *w = layer->nparams > 1 ? layer->params[0].grad : NULL;
    eng_tensor *b = w ? layer->params[1].grad : NULL, *saved_w = NULL, *saved_b = NULL;
    if (w) {
        OK(eng_tensor_clone(w, &saved_w));
        OK(eng_tensor_clone(b, &saved_b));
    }
    eng_status st = w && current_bug == BUG_FIRST_SAMPLE_ONLY
                        ? first_sample_backward(layer, x, y, dy, dx, saved_w)
                        : original_ops->backward(layer, x, y, dy, dx);
    if (!st && w)
        parameter_bug(w, b, saved_w, saved_b, dy);
    if (!st && dx)
        st = input_bug(dx, dy);
    eng_tensor_release(saved_w);
    eng_tensor_release(saved_b);
    return st;
}

static NETS_UNUSED void plant(eng_layer *layer, bug kind)
{
    original_ops = layer->ops;
    buggy_ops = *layer->ops;
    buggy_ops.backward = buggy_backward;
    layer->ops = &buggy_ops;
    current_bug = kind;
}

static NETS_UNUSED void add_layer(eng_model *m, eng_layer *l, int position, int buggy, bug kind)
{
    if (position == buggy)
        plant(l, kind);
    OK(eng_model_add(m, l));
    eng_layer_release(l);
}

/* conv(1->4, 3x3, pad 1) -> relu -> maxpool 2 -> flatten -> linear(64->16) -> relu ->
 * linear(16->5); buggy: the 1-based position of the planted bug (0: none). tail_scale shrinks
 * the linear weights (not the biases, so the ReLUs keep their pattern): earlier gradients
 * become tiny, the seed question's situation. */
static NETS_UNUSED eng_model *small_cnn(eng_dtype dtype, int buggy, bug kind, double tail_scale)
{
    eng_model *m;
    eng_layer *l;
    OK(eng_model_new(&m));
    eng_conv2d_options o = {.padding_h = 1, .padding_w = 1};
    OK(eng_conv2d_new(1, 4, 3, 3, &o, dtype, NULL, &l));
    add_layer(m, l, 1, buggy, kind);
    OK(eng_relu_new(&l));
    add_layer(m, l, 2, buggy, kind);
    OK(eng_maxpool2d_new(2, 2, 0, 0, 0, 0, &l));
    add_layer(m, l, 3, buggy, kind);
    OK(eng_flatten_new(&l));
    add_layer(m, l, 4, buggy, kind);
    OK(eng_linear_new(64, 16, true, dtype, NULL, &l));
    add_layer(m, l, 5, buggy, kind);
    OK(eng_relu_new(&l));
    add_layer(m, l, 6, buggy, kind);
    OK(eng_linear_new(16, 5, true, dtype, NULL, &l));
    add_layer(m, l, 7, buggy, kind);
    for (int i = 4; i < m->nlayers; i++)
        if (m->layers[i]->nparams)
            OK(eng_tensor_binary_scalar(m->layers[i]->params[0].value,
                                        m->layers[i]->params[0].value, tail_scale, ENG_MUL));
    return m;
}

typedef struct batch {
    eng_tensor *x, *y;
} batch;

/* 4 images 8x8 and their classes (of 5). zeros: the images' left halves exactly zero and the
 * conv bias zero, so that the conv gives exact zeros there: ReLU inputs on their kink and
 * max-pool windows that tie. */
static NETS_UNUSED batch make_batch_of(eng_dtype dtype, uint64_t seed, bool zeros, eng_model *m)
{
    batch b;
    int64_t xs[4] = {4, 1, 8, 8}, ys[1] = {4};
    eng_rng rng;
    eng_rng_seed(&rng, seed);
    OK(eng_tensor_new(dtype, 4, xs, &b.x));
    OK(eng_tensor_new(ENG_I64, 1, ys, &b.y));
    OK(eng_tensor_normal(b.x, &rng, 0.0, 1.0));
    for (int i = 0; i < 4; i++)
        eng_tensor_set_flat(b.y, i, (double)eng_rng_below(&rng, 5));
    if (!zeros)
        return b;
    for (int64_t i = 0; i < eng_tensor_numel(b.x); i++)
        if (i % 8 < 4)
            eng_tensor_set_flat(b.x, i, 0.0);
    eng_tensor_zero(m->layers[0]->params[1].value);
    return b;
}

static NETS_UNUSED void free_batch(batch *b)
{
    eng_tensor_release(b->x);
    eng_tensor_release(b->y);
}

static NETS_UNUSED const eng_gc_tensor_report *find(const eng_gc_report *r, const char *name)
{
    for (int i = 0; i < r->ntensors; i++)
        if (strcmp(r->tensors[i].name, name) == 0)
            return &r->tensors[i];
    return NULL;
}

static NETS_UNUSED void print_report(const eng_gc_report *r)
{
    static char text[1 << 16];
    eng_gc_report_format(r, true, text, sizeof text);
    fputs(text, stderr);
}

#endif
