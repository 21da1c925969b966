/* Adjacent layers run as one pass (engine/model_fusion.c): a model that fuses gives bit for bit
 * the outputs, input gradients and parameter gradients of the same model with fusion_off, whose
 * layers run one by one (the path test_model.c checks against finite differences); in f32 and
 * f64, with one thread and several, at the top level and inside containers, on inputs full of
 * ties, zeros of both signs, all-negative windows and NaNs; the fused kernels equal the two
 * kernels they replace on every SIMD level; and the non-finite guard says the same either way. */
#include "support.h"

#include "../engine/gradcheck/gradcheck.h"
#include "../engine/kernels/activation.h"
#include "../engine/kernels/cpu.h"
#include "../engine/kernels/pool.h"
#include "../engine/kernels/residual.h"
#include "../engine/model_container.h"
#include "../engine/model_fusion.h"

static bool same_bits(const eng_tensor *a, const eng_tensor *b)
{
    return a->dtype == b->dtype && eng_tensor_same_shape(a, b) &&
           memcmp(eng_tensor_data(a), eng_tensor_data(b),
                  (size_t)eng_tensor_numel(a) * eng_dtype_size(a->dtype)) == 0;
}

#define assert_same_bits(a, b, what)                                                               \
    do {                                                                                           \
        bool same_ = same_bits((a), (b));                                                          \
        if (!same_)                                                                                \
            print_message("%s differs (max |diff| %g)\n", (what), max_abs_diff((a), (b)));         \
        assert_true(same_);                                                                        \
    } while (0)

/* Values that make ties and all-negative windows common: -1, -0, +0, 0.5, 2, and (when nan)
 * a NaN now and then. */
static void fill_tied(eng_tensor *t, uint64_t seed, bool nan)
{
    static const double values[] = {-1.0, -0.0, 0.0, 0.5, 2.0, -3.0};
    eng_rng rng;
    eng_rng_seed(&rng, seed);
    for (int64_t i = 0; i < eng_tensor_numel(t); i++) {
        double u = eng_rng_uniform(&rng);
        double v = values[(int)(u * 6) % 6];
        eng_tensor_set_flat(t, i, nan && u > 0.97 ? NAN : v);
    }
}

typedef struct net_spec {
    int h, w, k, s, p; /* input size; the pool's kernel, stride and padding */
    bool conv;         /* a convolution before the ReLU (else the ReLU reads the input) */
    bool nested;       /* the convolution, ReLU and pool inside a Sequential container */
} net_spec;

static int pooled(int n, int k, int s, int p)
{
    return (n + 2 * p - k) / s + 1;
}

static void add(eng_model *m, eng_layer *l)
{
    assert_ok(eng_model_add(m, l));
    eng_layer_release(l);
}

/* [conv(2->3, 3x3, pad 1)] -> relu -> maxpool -> [conv 1x1 (nested only)] -> flatten ->
 * linear(-> 4) -> tanh, on x [N,2,h,w]. */
static eng_model *make_net(eng_dtype dtype, const net_spec *n)
{
    eng_rng rng;
    eng_rng_seed(&rng, 5);
    eng_model *m, *inner = NULL;
    assert_ok(eng_model_new(&m));
    if (n->nested)
        assert_ok(eng_model_new(&inner));
    eng_model *front = n->nested ? inner : m;
    int c = 2;
    eng_layer *l;
    if (n->conv) {
        eng_conv2d_options o = {.padding_h = 1, .padding_w = 1};
        assert_ok(eng_conv2d_new(2, 3, 3, 3, &o, dtype, &rng, &l));
        add(front, l);
        c = 3;
    }
    assert_ok(eng_relu_new(&l));
    add(front, l);
    assert_ok(eng_maxpool2d_new(n->k, n->k, n->s, n->s, n->p, n->p, &l));
    add(front, l);
    if (n->nested) {
        eng_conv2d_options o = {0};
        assert_ok(eng_conv2d_new(c, c, 1, 1, &o, dtype, &rng, &l));
        add(inner, l);
        assert_ok(eng_sequential_layer_new(inner, &l));
        add(m, l);
        eng_model_release(inner);
    }
    assert_ok(eng_flatten_new(&l));
    add(m, l);
    int features = c * pooled(n->h, n->k, n->s, n->p) * pooled(n->w, n->k, n->s, n->p);
    assert_ok(eng_linear_new(features, 4, true, dtype, &rng, &l));
    add(m, l);
    assert_ok(eng_tanh_new(&l));
    add(m, l);
    return m;
}

/* The model whose fused[] tells whether the pair ran fused: the container's child or m. */
static const eng_model *pair_owner(const eng_model *m, const net_spec *n)
{
    return n->nested ? eng_container_child(m->layers[0], 0) : m;
}

/* Two steps (forward, backward with dx, gradients accumulating) on the fused model and on its
 * twin with fusion_off; everything compared bit for bit, and the pair proven fused. */
static void check_net(eng_dtype dtype, const net_spec *n, int threads, bool nan)
{
    eng_model *fused = make_net(dtype, n), *plain = make_net(dtype, n);
    plain->fusion_off = true;
    assert_ok(eng_set_threads(threads));
    int64_t batch = 5;
    for (int step = 0; step < 2; step++) {
        eng_tensor *x = TENSOR(dtype, batch, 2, n->h, n->w), *r = TENSOR(dtype, batch, 4);
        if (n->conv)
            tensor_randn(x, 40 + step, 1.0);
        else
            fill_tied(x, 40 + step, nan);
        tensor_randn(r, 50 + step, 1.0);
        const eng_tensor *ya, *yb, *dxa, *dxb;
        assert_ok(eng_model_forward(fused, x, &ya));
        assert_ok(eng_model_forward(plain, x, &yb));
        assert_same_bits(ya, yb, "output");
        int at = n->conv ? 1 : 0;
        /* proof that the fused path ran (one thread: nested models fuse in the caller's
         * step), and that the reference did not */
        if (!n->nested || threads == 1)
            assert_int_equal(pair_owner(fused, n)->fused[at], ENG_FUSE_RELU_MAXPOOL);
        assert_int_equal(pair_owner(plain, n)->fused[at], ENG_FUSE_NONE);
        assert_ok(eng_model_backward(fused, r, &dxa));
        assert_ok(eng_model_backward(plain, r, &dxb));
        assert_same_bits(dxa, dxb, "input gradient");
        for (int i = 0; i < eng_model_param_count(fused); i++) {
            char name[2 * ENG_NAME_MAX];
            eng_param *pa = eng_model_param(fused, i, name, sizeof name);
            assert_same_bits(pa->grad, eng_model_param(plain, i, NULL, 0)->grad, name);
        }
        /* the pool keeps the winners its plain forward keeps: the same signature */
        const eng_model *ma = pair_owner(fused, n), *mb = pair_owner(plain, n);
        const eng_layer *pa = ma->layers[at + 1], *pb = mb->layers[at + 1];
        assert_true(pa->ops->signature(pa, ma->outputs[at], ma->outputs[at + 1]) ==
                    pb->ops->signature(pb, mb->outputs[at], mb->outputs[at + 1]));
        eng_tensor_release(x);
        eng_tensor_release(r);
    }
    assert_ok(eng_set_threads(1));
    eng_model_release(fused);
    eng_model_release(plain);
}

static const net_spec geometries[] = {
    {.h = 6, .w = 8, .k = 2, .s = 2},         /* even: the 2x2 bodies */
    {.h = 7, .w = 9, .k = 2, .s = 2},         /* odd: a last row and column in no window */
    {.h = 7, .w = 9, .k = 3, .s = 2, .p = 1}, /* overlapping, padded windows */
    {.h = 28, .w = 34, .k = 2, .s = 2},       /* rows wider than one 16-lane vector */
};

static void check_all(bool conv, bool nested)
{
    eng_dtype dtypes[] = {ENG_F32, ENG_F64};
    int threads[] = {1, 3};
    for (size_t g = 0; g < sizeof geometries / sizeof geometries[0]; g++)
        for (int d = 0; d < 2; d++)
            for (int t = 0; t < 2; t++) {
                net_spec n = geometries[g];
                n.conv = conv;
                n.nested = nested;
                check_net(dtypes[d], &n, threads[t], false);
                if (!conv)
                    check_net(dtypes[d], &n, threads[t], true);
            }
}

static void test_relu_maxpool_on_tied_inputs_equals_separate_layers_bit_for_bit(void **state)
{
    (void)state;
    check_all(false, false);
}

static void test_conv_relu_maxpool_equals_separate_layers_bit_for_bit(void **state)
{
    (void)state;
    check_all(true, false);
}

static void test_relu_maxpool_inside_a_container_equals_separate_layers_bit_for_bit(void **state)
{
    (void)state;
    check_all(true, true);
}

/* The pool runs on other data between the fused forward and backward (its winners then
 * belong to another output): the fused backward finds them again from x and y, still bit for
 * bit the separate layers' backward. */
static void test_fused_backward_after_the_pool_ran_elsewhere_equals_separate_layers(void **state)
{
    (void)state;
    eng_dtype dtypes[] = {ENG_F32, ENG_F64};
    for (size_t k = 0; k < sizeof geometries / sizeof geometries[0]; k++)
        for (int d = 0; d < 2; d++) {
            net_spec n = geometries[k];
            n.conv = true;
            eng_model *fused = make_net(dtypes[d], &n), *plain = make_net(dtypes[d], &n);
            plain->fusion_off = true;
            eng_tensor *x = TENSOR(dtypes[d], 3, 2, n.h, n.w), *r = TENSOR(dtypes[d], 3, 4);
            tensor_randn(x, 100 + k, 1.0);
            tensor_randn(r, 110 + k, 1.0);
            const eng_tensor *ya, *yb, *dxa, *dxb;
            assert_ok(eng_model_forward(fused, x, &ya));
            assert_ok(eng_model_forward(plain, x, &yb));
            assert_int_equal(fused->fused[1], ENG_FUSE_RELU_MAXPOOL);
            eng_tensor *other = tensor_clone(fused->outputs[1]);
            eng_tensor *pooled = tensor_clone(fused->outputs[2]);
            tensor_randn(other, 120 + k, 1.0);
            assert_ok(eng_layer_forward(fused->layers[2], other, pooled, true));
            assert_ok(eng_model_backward(fused, r, &dxa));
            assert_ok(eng_model_backward(plain, r, &dxb));
            assert_same_bits(dxa, dxb, "input gradient");
            for (int i = 0; i < eng_model_param_count(fused); i++) {
                char name[2 * ENG_NAME_MAX];
                eng_param *pa = eng_model_param(fused, i, name, sizeof name);
                assert_same_bits(pa->grad, eng_model_param(plain, i, NULL, 0)->grad, name);
            }
            eng_tensor_release(other);
            eng_tensor_release(pooled);
            eng_tensor_release(x);
            eng_tensor_release(r);
            eng_model_release(fused);
            eng_model_release(plain);
        }
}

/* ---- BatchNorm -> ReLU ---- */

typedef enum bn_net { BN_TOP, BN_RESIDUAL, BN_1D, BN_NESTED_END } bn_net;

/* BN_TOP: conv(2->4) -> bn2d -> relu -> conv(4->2) -> flatten -> linear(-> 3), x [N,2,5,7];
 * BN_NESTED_END: sequential(conv(2->2) -> bn2d -> relu) -> flatten -> linear (the pair ends the
 * nested model);
 * BN_RESIDUAL: the bench ResNet's block, residual(conv -> bn -> relu -> conv -> bn, conv 1x1 ->
 * bn) -> relu -> flatten -> linear; BN_1D: linear(6 -> 5) -> bn1d -> relu -> linear(-> 3). */
static eng_model *make_bn_net(eng_dtype dtype, bn_net kind)
{
    eng_rng rng;
    eng_rng_seed(&rng, 9);
    eng_model *m;
    assert_ok(eng_model_new(&m));
    eng_layer *l;
    eng_conv2d_options pad = {.padding_h = 1, .padding_w = 1, .no_bias = true}, one = {0};
    if (kind == BN_1D) {
        assert_ok(eng_linear_new(6, 5, true, dtype, &rng, &l));
        add(m, l);
        assert_ok(eng_batchnorm_new(1, 5, 1e-5, 0.1, true, dtype, &l));
        add(m, l);
        assert_ok(eng_relu_new(&l));
        add(m, l);
        assert_ok(eng_linear_new(5, 3, true, dtype, &rng, &l));
        add(m, l);
        return m;
    }
    eng_model *block = m, *shortcut = NULL;
    if (kind == BN_NESTED_END) { /* sequential(conv -> bn -> relu) -> flatten -> linear */
        assert_ok(eng_model_new(&block));
        assert_ok(eng_conv2d_new(2, 2, 3, 3, &pad, dtype, &rng, &l));
        add(block, l);
        assert_ok(eng_batchnorm_new(2, 2, 1e-5, 0.1, true, dtype, &l));
        add(block, l);
        assert_ok(eng_relu_new(&l));
        add(block, l);
        assert_ok(eng_sequential_layer_new(block, &l));
        add(m, l);
        eng_model_release(block);
        assert_ok(eng_flatten_new(&l));
        add(m, l);
        assert_ok(eng_linear_new(2 * 5 * 7, 3, true, dtype, &rng, &l));
        add(m, l);
        return m;
    }
    if (kind == BN_RESIDUAL) {
        assert_ok(eng_model_new(&block));
        assert_ok(eng_model_new(&shortcut));
    }
    assert_ok(eng_conv2d_new(2, 4, 3, 3, &pad, dtype, &rng, &l));
    add(block, l);
    assert_ok(eng_batchnorm_new(2, 4, 1e-5, 0.1, true, dtype, &l));
    add(block, l);
    assert_ok(eng_relu_new(&l));
    add(block, l);
    assert_ok(eng_conv2d_new(4, 2, 3, 3, &pad, dtype, &rng, &l));
    add(block, l);
    if (kind == BN_RESIDUAL) {
        assert_ok(eng_batchnorm_new(2, 2, 1e-5, 0.1, true, dtype, &l));
        add(block, l);
        assert_ok(eng_conv2d_new(2, 2, 1, 1, &one, dtype, &rng, &l));
        add(shortcut, l);
        assert_ok(eng_batchnorm_new(2, 2, 1e-5, 0.1, true, dtype, &l));
        add(shortcut, l);
        assert_ok(eng_residual_new(block, shortcut, &l));
        add(m, l);
        eng_model_release(block);
        eng_model_release(shortcut);
        assert_ok(eng_relu_new(&l));
        add(m, l);
    }
    assert_ok(eng_flatten_new(&l));
    add(m, l);
    assert_ok(eng_linear_new(2 * 5 * 7, 3, true, dtype, &rng, &l));
    add(m, l);
    return m;
}

/* Every parameter, gradient and buffer (running statistics) of a and b, bit for bit. */
static void assert_same_state(eng_model *a, eng_model *b)
{
    for (int i = 0; i < eng_model_param_count(a); i++) {
        char name[2 * ENG_NAME_MAX];
        eng_param *pa = eng_model_param(a, i, name, sizeof name);
        assert_same_bits(pa->grad, eng_model_param(b, i, NULL, 0)->grad, name);
    }
    for (int i = 0; i < a->nlayers; i++)
        for (int k = 0; k < a->layers[i]->nbuffers; k++)
            assert_same_bits(a->layers[i]->buffers[k].value, b->layers[i]->buffers[k].value,
                             a->layers[i]->buffers[k].name);
}

/* Three steps (training, training, evaluation) on the fused model and its fusion_off twin. */
static void check_bn_net(eng_dtype dtype, bn_net kind, int threads)
{
    eng_model *fused = make_bn_net(dtype, kind), *plain = make_bn_net(dtype, kind);
    plain->fusion_off = true;
    assert_ok(eng_set_threads(threads));
    const eng_model *owner = fused;
    int at = 1;
    if (kind == BN_RESIDUAL || kind == BN_NESTED_END) /* the pair ends the nested model */
        owner = eng_container_child(fused->layers[0], 0);
    for (int step = 0; step < 3; step++) {
        bool training = step < 2;
        eng_model_set_training(fused, training);
        eng_model_set_training(plain, training);
        eng_tensor *x = kind == BN_1D ? TENSOR(dtype, 7, 6) : TENSOR(dtype, 3, 2, 5, 7);
        eng_tensor *r = TENSOR(dtype, kind == BN_1D ? 7 : 3, 3);
        tensor_randn(x, 60 + step, 1.0);
        tensor_randn(r, 70 + step, 1.0);
        const eng_tensor *ya, *yb, *dxa, *dxb;
        assert_ok(eng_model_forward(fused, x, &ya));
        assert_ok(eng_model_forward(plain, x, &yb));
        assert_same_bits(ya, yb, "output");
        assert_int_equal(owner->fused[at], ENG_FUSE_BN_RELU);
        assert_ok(eng_model_backward(fused, r, &dxa));
        assert_ok(eng_model_backward(plain, r, &dxb));
        assert_same_bits(dxa, dxb, "input gradient");
        if (kind == BN_RESIDUAL) /* the residual and the relu after it run as one pair */
            assert_int_equal(fused->fused[0], ENG_FUSE_RESIDUAL_RELU);
        assert_same_state(fused, plain);
        eng_tensor_release(x);
        eng_tensor_release(r);
    }
    assert_ok(eng_set_threads(1));
    eng_model_release(fused);
    eng_model_release(plain);
}

/* A BatchNorm whose output overflows (finite input and parameters) is reported at the
 * BatchNorm, fused or not: the guard writes the output the fused pass skipped. */
static void test_nonfinite_guard_finds_an_overflowing_batchnorm_output_fused_or_not(void **state)
{
    (void)state;
    char messages[2][1024];
    for (int k = 0; k < 2; k++) {
        eng_model *m = make_bn_net(ENG_F32, BN_TOP);
        m->fusion_off = k == 1;
        eng_tensor *x = TENSOR(ENG_F32, 3, 2, 5, 7), *r = TENSOR(ENG_F32, 3, 3);
        tensor_randn(x, 90, 1.0);
        tensor_randn(r, 91, 1.0);
        eng_tensor *gamma = m->layers[1]->params[0].value;
        for (int64_t i = 0; i < eng_tensor_numel(gamma); i++)
            eng_tensor_set_flat(gamma, i, 1e38);
        const eng_tensor *y;
        assert_ok(eng_model_forward(m, x, &y));
        assert_int_equal(m->fused[1], k == 0 ? ENG_FUSE_BN_RELU : ENG_FUSE_NONE);
        assert_int_equal(eng_model_check_finite(m, 5, 1.0), ENG_ENONFINITE);
        snprintf(messages[k], sizeof messages[k], "%s", eng_errmsg());
        eng_tensor_release(x);
        eng_tensor_release(r);
        eng_model_release(m);
    }
    assert_string_equal(messages[0], messages[1]);
    assert_non_null(strstr(messages[0], "layer 2 'batchnorm2d_1' (batchnorm2d): output has "));
}

static void test_batchnorm_relu_equals_separate_layers_bit_for_bit(void **state)
{
    (void)state;
    eng_dtype dtypes[] = {ENG_F32, ENG_F64};
    for (int d = 0; d < 2; d++)
        for (int threads = 1; threads <= 3; threads += 2) {
            check_bn_net(dtypes[d], BN_TOP, threads);
            check_bn_net(dtypes[d], BN_RESIDUAL, threads);
            check_bn_net(dtypes[d], BN_1D, threads);
            check_bn_net(dtypes[d], BN_NESTED_END, threads);
        }
}

/* The layer-wise gradient check of a model that fuses (after a fused forward) runs the layers
 * apart: its report equals that of the model with fusion_off, number for number. */
static eng_gc_report *check_layers(eng_model *m, const eng_tensor *x, bool fusion_off,
                                   const eng_model *owner, int at, int kind)
{
    m->fusion_off = fusion_off;
    const eng_tensor *y;
    assert_ok(eng_model_forward(m, x, &y));
    assert_int_equal(owner->fused[at], fusion_off ? ENG_FUSE_NONE : kind);
    eng_gc_report *report;
    assert_ok(eng_gc_check_layers(m, x, NULL, &report));
    assert_true(m->fusion_off == fusion_off); /* put back */
    return report;
}

static void check_gradcheck_unchanged(eng_model *m, const eng_tensor *x, const eng_model *owner,
                                      int at, int kind)
{
    eng_gc_report *a = check_layers(m, x, false, owner, at, kind);
    eng_gc_report *b = check_layers(m, x, true, owner, at, kind);
    assert_int_equal(a->verdict, b->verdict);
    assert_true(a->verdict != ENG_GC_FAIL);
    assert_int_equal(a->ntensors, b->ntensors);
    for (int k = 0; k < a->ntensors; k++) {
        const eng_gc_tensor_report *ta = &a->tensors[k], *tb = &b->tensors[k];
        assert_string_equal(ta->name, tb->name);
        assert_int_equal(ta->verdict, tb->verdict);
        assert_int_equal(ta->checked, tb->checked);
        assert_int_equal(ta->passed, tb->passed);
        assert_true(ta->max_rel == tb->max_rel && ta->chi2 == tb->chi2);
    }
    eng_gc_report_free(a);
    eng_gc_report_free(b);
}

static void test_gradient_check_of_a_fusing_model_runs_the_layers_apart(void **state)
{
    (void)state;
    eng_model *m = make_bn_net(ENG_F64, BN_RESIDUAL);
    eng_tensor *x = TENSOR(ENG_F64, 3, 2, 5, 7);
    tensor_randn(x, 80, 1.0);
    check_gradcheck_unchanged(m, x, eng_container_child(m->layers[0], 0), 1, ENG_FUSE_BN_RELU);
    eng_tensor_release(x);
    eng_model_release(m);
    net_spec n = {.h = 6, .w = 8, .k = 2, .s = 2, .conv = true};
    m = make_net(ENG_F64, &n);
    x = TENSOR(ENG_F64, 3, 2, 6, 8);
    tensor_randn(x, 81, 1.0);
    check_gradcheck_unchanged(m, x, m, 1, ENG_FUSE_RELU_MAXPOOL);
    eng_tensor_release(x);
    eng_model_release(m);
}

/* The fused kernels against the two they replace, on every SIMD level the processor has. */
#define DEFINE_KERNEL_CHECK(T, SFX)                                                                \
    static void check_kernels_##SFX(const eng_pool_geometry *g, uint64_t seed)                     \
    {                                                                                              \
        int64_t nx = g->planes * g->h * g->w, ny = g->planes * g->oh * g->ow;                      \
        T *x = malloc(sizeof(T) * (size_t)nx), *r = malloc(sizeof(T) * (size_t)nx);                \
        T *y1 = malloc(sizeof(T) * (size_t)ny), *y2 = malloc(sizeof(T) * (size_t)ny);              \
        T *dy = malloc(sizeof(T) * (size_t)ny), *dr = malloc(sizeof(T) * (size_t)nx);              \
        T *dx1 = malloc(sizeof(T) * (size_t)nx), *dx2 = malloc(sizeof(T) * (size_t)nx);            \
        int32_t *a1 = malloc(sizeof(int32_t) * (size_t)ny);                                        \
        int32_t *a2 = malloc(sizeof(int32_t) * (size_t)ny);                                        \
        eng_tensor *t = TENSOR(ENG_F64, nx);                                                       \
        fill_tied(t, seed, true);                                                                  \
        for (int64_t i = 0; i < nx; i++)                                                           \
            x[i] = (T)eng_tensor_get_flat(t, i);                                                   \
        for (int64_t i = 0; i < ny; i++)                                                           \
            dy[i] = (T)(i % 7) - (T)2.5;                                                           \
        eng_relu_forward_##SFX(r, x, nx);                                                          \
        eng_maxpool_forward_##SFX(y1, a1, r, g);                                                   \
        eng_maxpool_backward_##SFX(dr, dy, a1, g);                                                 \
        eng_relu_backward_##SFX(dx1, dr, x, nx);                                                   \
        eng_relu_maxpool_forward_##SFX(y2, a2, x, g);                                              \
        eng_relu_maxpool_backward_##SFX(dx2, dy, y2, a2, g);                                       \
        assert_memory_equal(y1, y2, sizeof(T) * (size_t)ny);                                       \
        assert_memory_equal(a1, a2, sizeof(int32_t) * (size_t)ny);                                 \
        assert_memory_equal(dx1, dx2, sizeof(T) * (size_t)nx);                                     \
        eng_tensor_release(t);                                                                     \
        free(x), free(r), free(y1), free(y2), free(dy), free(dr), free(dx1), free(dx2);            \
        free(a1), free(a2);                                                                        \
    }
DEFINE_KERNEL_CHECK(float, f32)
DEFINE_KERNEL_CHECK(double, f64)

static void test_fused_kernels_equal_relu_then_maxpool_on_every_simd_level(void **state)
{
    (void)state;
    const int shapes[][5] = {/* h, w, k, s, p */
                             {2, 2, 2, 2, 0}, {28, 28, 2, 2, 0}, {14, 14, 2, 2, 0},
                             {7, 9, 2, 2, 0}, {5, 35, 2, 2, 0},  {6, 66, 2, 2, 0},
                             {7, 9, 3, 2, 1}, {8, 8, 3, 1, 1},   {9, 7, 2, 1, 0}};
    eng_simd levels[] = {ENG_SIMD_NONE, ENG_SIMD_AVX2, ENG_SIMD_AVX512};
    for (int l = 0; l < 3; l++) {
        eng_simd old = eng_simd_cap(levels[l]);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            const int *v = shapes[s];
            eng_pool_geometry g = {.planes = 3,
                                   .h = v[0],
                                   .w = v[1],
                                   .kh = v[2],
                                   .kw = v[2],
                                   .sh = v[3],
                                   .sw = v[3],
                                   .ph = v[4],
                                   .pw = v[4],
                                   .oh = pooled(v[0], v[2], v[3], v[4]),
                                   .ow = pooled(v[1], v[2], v[3], v[4])};
            check_kernels_f32(&g, 70 + s);
            check_kernels_f64(&g, 70 + s);
        }
        eng_simd_cap(old);
    }
}

/* An infinity in a convolution's output is reported at the convolution whether or not the ReLU and
 * pool after it run fused (their unwritten buffers are skipped: model_fusion.c says why). */
static void test_nonfinite_guard_reports_the_same_with_and_without_fusion(void **state)
{
    (void)state;
    net_spec n = {.h = 6, .w = 8, .k = 2, .s = 2, .conv = true};
    char messages[2][1024];
    for (int k = 0; k < 2; k++) {
        eng_model *m = make_net(ENG_F32, &n);
        m->fusion_off = k == 1;
        eng_tensor *x = TENSOR(ENG_F32, 2, 2, 6, 8), *r = TENSOR(ENG_F32, 2, 4);
        /* finite input and parameters whose convolution overflows */
        for (int64_t i = 0; i < eng_tensor_numel(x); i++)
            eng_tensor_set_flat(x, i, 1e38);
        eng_tensor *w = m->layers[0]->params[0].value;
        for (int64_t i = 0; i < eng_tensor_numel(w); i++)
            eng_tensor_set_flat(w, i, 1.0);
        tensor_randn(r, 4, 1.0);
        const eng_tensor *y;
        assert_ok(eng_model_forward(m, x, &y));
        assert_int_equal(m->fused[1], k == 0 ? ENG_FUSE_RELU_MAXPOOL : ENG_FUSE_NONE);
        assert_ok(eng_model_backward(m, r, NULL));
        assert_int_equal(eng_model_check_finite(m, 3, 1.0), ENG_ENONFINITE);
        snprintf(messages[k], sizeof messages[k], "%s", eng_errmsg());
        eng_tensor_release(x);
        eng_tensor_release(r);
        eng_model_release(m);
    }
    assert_string_equal(messages[0], messages[1]);
    assert_non_null(strstr(messages[0], "layer 1 'conv2d_1' (conv2d): output has inf"));
}

/* ---- Residual -> ReLU (resfuse) ---- */

typedef struct res_spec {
    int c, h, w;  /* the residual's input [N,c,h,w] */
    bool project; /* a 1x1 convolution as the shortcut (else the identity) */
    bool bn;      /* a BatchNorm ends each branch (the bench ResNet's block) */
    bool nested;  /* sequential(residual -> relu) as the model's first layer */
    bool tied;    /* the input from fill_tied (with NaNs) instead of normal values */
} res_spec;

/* residual(conv3x3 -> relu -> conv3x3 [-> bn], [conv1x1 [-> bn]]) -> relu -> flatten ->
 * linear(-> 3), or the pair inside a Sequential container. */
static eng_model *make_res_net(eng_dtype dtype, const res_spec *r)
{
    eng_rng rng;
    eng_rng_seed(&rng, 17);
    eng_model *m, *block, *shortcut = NULL, *front = NULL;
    eng_layer *l;
    eng_conv2d_options pad = {.padding_h = 1, .padding_w = 1, .no_bias = r->bn},
                       one = {.no_bias = r->bn}; /* no bias before a BatchNorm */
    assert_ok(eng_model_new(&m));
    assert_ok(eng_model_new(&block));
    assert_ok(eng_conv2d_new(r->c, r->c, 3, 3, &pad, dtype, &rng, &l));
    add(block, l);
    assert_ok(eng_relu_new(&l));
    add(block, l);
    assert_ok(eng_conv2d_new(r->c, r->c, 3, 3, &pad, dtype, &rng, &l));
    add(block, l);
    if (r->bn) {
        assert_ok(eng_batchnorm_new(2, r->c, 1e-5, 0.1, true, dtype, &l));
        add(block, l);
    }
    if (r->project) {
        assert_ok(eng_model_new(&shortcut));
        assert_ok(eng_conv2d_new(r->c, r->c, 1, 1, &one, dtype, &rng, &l));
        add(shortcut, l);
        if (r->bn) {
            assert_ok(eng_batchnorm_new(2, r->c, 1e-5, 0.1, true, dtype, &l));
            add(shortcut, l);
        }
    }
    if (r->nested)
        assert_ok(eng_model_new(&front));
    assert_ok(eng_residual_new(block, shortcut, &l));
    add(front ? front : m, l);
    assert_ok(eng_relu_new(&l));
    add(front ? front : m, l);
    if (front) {
        assert_ok(eng_sequential_layer_new(front, &l));
        add(m, l);
        eng_model_release(front);
    }
    eng_model_release(block);
    eng_model_release(shortcut);
    assert_ok(eng_flatten_new(&l));
    add(m, l);
    assert_ok(eng_linear_new(r->c * r->h * r->w, 3, true, dtype, &rng, &l));
    add(m, l);
    return m;
}

static const eng_model *res_owner(const eng_model *m, const res_spec *r)
{
    return r->nested ? eng_container_child(m->layers[0], 0) : m;
}

/* Three steps (training, training, evaluation) on the fused model and its fusion_off twin:
 * outputs, input gradients, parameter gradients and running statistics bit for bit, and the
 * pair proven fused where it may be. */
static void check_res_net(eng_dtype dtype, const res_spec *r, int threads)
{
    eng_model *fused = make_res_net(dtype, r), *plain = make_res_net(dtype, r);
    plain->fusion_off = true;
    assert_ok(eng_set_threads(threads));
    /* a pair of batch-independent layers fuses only when both run stretches alike, which a
     * residual (whole stretches) and a ReLU (sample by sample) do not: the pair fuses when a
     * BatchNorm inside makes the model run unsplit */
    bool fuses = r->bn;
    for (int step = 0; step < 3; step++) {
        eng_model_set_training(fused, step < 2);
        eng_model_set_training(plain, step < 2);
        eng_tensor *x = TENSOR(dtype, 5, r->c, r->h, r->w), *t = TENSOR(dtype, 5, 3);
        if (r->tied)
            fill_tied(x, 80 + step, true);
        else
            tensor_randn(x, 80 + step, 1.0);
        tensor_randn(t, 85 + step, 1.0);
        const eng_tensor *ya, *yb, *dxa, *dxb;
        /* in f32 training the branches' last BatchNorms, the sum and the ReLU run as one pass
         * that leaves the BatchNorms' outputs unwritten (model_residual.c): NaN stays */
        bool pair = fuses && dtype == ENG_F32 && step == 1;
        const eng_model *branch =
            fuses && step > 0 ? eng_container_child(res_owner(fused, r)->layers[0], 0) : NULL;
        eng_tensor *last = branch ? branch->outputs[branch->nlayers - 1] : NULL;
        if (last)
            eng_tensor_fill(last, NAN);
        assert_ok(eng_model_forward(fused, x, &ya));
        assert_ok(eng_model_forward(plain, x, &yb));
        assert_same_bits(ya, yb, "output");
        if (last)
            assert_int_equal(isnan(eng_tensor_get_flat(last, 0)), pair);
        assert_int_equal(res_owner(fused, r)->fused[0],
                         fuses ? ENG_FUSE_RESIDUAL_RELU : ENG_FUSE_NONE);
        assert_int_equal(res_owner(plain, r)->fused[0], ENG_FUSE_NONE);
        if (fuses && step < 2) { /* both branches take the ReLU's mask in f32 (model_residual.c) */
            const eng_layer *res = res_owner(fused, r)->layers[0];
            for (int k = 0; k < 2; k++)
                assert_int_equal(eng_model_takes_relu_mask(eng_container_child(res, k), x),
                                 dtype == ENG_F32);
        }
        assert_ok(eng_model_backward(fused, t, &dxa));
        assert_ok(eng_model_backward(plain, t, &dxb));
        assert_same_bits(dxa, dxb, "input gradient");
        assert_same_state(fused, plain);
        eng_tensor_release(x);
        eng_tensor_release(t);
    }
    assert_ok(eng_set_threads(1));
    eng_model_release(fused);
    eng_model_release(plain);
}

static void test_residual_relu_equals_separate_layers_bit_for_bit(void **state)
{
    (void)state;
    eng_dtype dtypes[] = {ENG_F32, ENG_F64};
    const res_spec specs[] = {
        {.c = 2, .h = 5, .w = 7, .project = true, .bn = true},
        {.c = 3, .h = 6, .w = 9, .project = false},
        {.c = 3, .h = 6, .w = 9, .project = true, .tied = true},
        {.c = 2, .h = 5, .w = 7, .project = true, .bn = true, .nested = true},
        {.c = 16, .h = 12, .w = 12, .project = true, .bn = true}, /* Winograd F(4x4) */
        {.c = 2, .h = 5, .w = 7, .project = false, .nested = true, .tied = true},
    };
    for (int d = 0; d < 2; d++)
        for (int threads = 1; threads <= 3; threads += 2)
            for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++)
                check_res_net(dtypes[d], &specs[k], threads);
}

/* The fused kernel equals the sum followed by the ReLU on every SIMD level, on sums that are
 * -0, +0, negative, positive and NaN, for lengths around the vector widths. */
static void test_add_relu_kernel_equals_sum_then_relu_on_every_simd_level(void **state)
{
    (void)state;
    eng_simd levels[] = {ENG_SIMD_NONE, ENG_SIMD_AVX2, ENG_SIMD_AVX512};
    const int64_t lengths[] = {1, 7, 8, 15, 16, 17, 33, 100};
    eng_dtype dtypes[] = {ENG_F32, ENG_F64};
    for (int l = 0; l < 3; l++) {
        eng_simd old = eng_simd_cap(levels[l]);
        for (int d = 0; d < 2; d++)
            for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
                int64_t n = lengths[k];
                eng_tensor *a = TENSOR(dtypes[d], n), *b = TENSOR(dtypes[d], n);
                eng_tensor *want = TENSOR(dtypes[d], n), *got = TENSOR(dtypes[d], n);
                eng_tensor *sum = TENSOR(dtypes[d], n);
                fill_tied(a, 100 + (uint64_t)k, true);
                fill_tied(b, 200 + (uint64_t)k, true);
                eng_tensor_set_flat(a, 0, -0.0); /* -0 + -0 = -0, which the ReLU makes +0 */
                eng_tensor_set_flat(b, 0, -0.0);
                if (dtypes[d] == ENG_F32) {
                    for (int64_t i = 0; i < n; i++)
                        ENG_F32_DATA(sum)[i] = ENG_F32_DATA(a)[i] + ENG_F32_DATA(b)[i];
                    eng_relu_forward_f32(ENG_F32_DATA(want), ENG_F32_DATA(sum), n);
                    eng_add_relu_f32(ENG_F32_DATA(got), ENG_F32_DATA(a), ENG_F32_DATA(b), n);
                    assert_true(signbit(ENG_F32_DATA(got)[0]) == 0);
                } else {
                    for (int64_t i = 0; i < n; i++)
                        ENG_F64_DATA(sum)[i] = ENG_F64_DATA(a)[i] + ENG_F64_DATA(b)[i];
                    eng_relu_forward_f64(ENG_F64_DATA(want), ENG_F64_DATA(sum), n);
                    eng_add_relu_f64(ENG_F64_DATA(got), ENG_F64_DATA(a), ENG_F64_DATA(b), n);
                    assert_true(signbit(ENG_F64_DATA(got)[0]) == 0);
                }
                assert_same_bits(got, want, "relu(a + b)");
                eng_tensor_release(a);
                eng_tensor_release(b);
                eng_tensor_release(want);
                eng_tensor_release(got);
                eng_tensor_release(sum);
            }
        eng_simd_cap(old);
    }
}

/* The masked kernel writes add_relu's y and the mask y > 0 in BatchNorm's layout (no bit past
 * a row's end) on every SIMD level, on sums that are -0, +0, negative, positive and NaN. */
static void test_add_relu_mask_kernel_equals_add_relu_and_its_mask_on_every_simd_level(void **st)
{
    (void)st;
    eng_simd levels[] = {ENG_SIMD_NONE, ENG_SIMD_AVX2, ENG_SIMD_AVX512};
    const int64_t lengths[] = {1, 7, 15, 16, 17, 33, 49, 196};
    const int64_t rows = 3;
    for (int l = 0; l < 3; l++) {
        eng_simd old = eng_simd_cap(levels[l]);
        for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
            int64_t s = lengths[k], w = (s + 15) / 16;
            eng_tensor *a = TENSOR(ENG_F32, rows, s), *b = TENSOR(ENG_F32, rows, s);
            eng_tensor *want = TENSOR(ENG_F32, rows, s), *got = TENSOR(ENG_F32, rows, s);
            uint16_t mask[3 * 13 + 1];
            memset(mask, 0xff, sizeof mask);
            fill_tied(a, 300 + (uint64_t)k, true);
            fill_tied(b, 400 + (uint64_t)k, true);
            eng_add_relu_f32(ENG_F32_DATA(want), ENG_F32_DATA(a), ENG_F32_DATA(b), rows * s);
            eng_add_relu_mask_f32(ENG_F32_DATA(got), mask, ENG_F32_DATA(a), ENG_F32_DATA(b), rows,
                                  s);
            assert_same_bits(got, want, "relu(a + b)");
            const float *y = ENG_F32_DATA(want);
            for (int64_t r = 0; r < rows; r++)
                for (int64_t j = 0; j < 16 * w; j++)
                    assert_int_equal(mask[r * w + j / 16] >> (j % 16) & 1,
                                     j < s && y[r * s + j] > 0);
            assert_int_equal(mask[rows * w], 0xffff); /* nothing written past the mask */
            eng_tensor_release(a);
            eng_tensor_release(b);
            eng_tensor_release(want);
            eng_tensor_release(got);
        }
        eng_simd_cap(old);
    }
}

/* A residual whose sum overflows (finite branches) is reported at the residual, fused or not:
 * the guard writes the sum the fused pass skipped. */
static void test_nonfinite_guard_finds_an_overflowing_residual_sum_fused_or_not(void **state)
{
    (void)state;
    res_spec r = {.c = 2, .h = 5, .w = 7, .project = true, .bn = true};
    char messages[2][1024];
    for (int k = 0; k < 2; k++) {
        eng_model *m = make_res_net(ENG_F32, &r);
        m->fusion_off = k == 1;
        eng_tensor *x = TENSOR(ENG_F32, 2, 2, 5, 7);
        tensor_randn(x, 95, 1.0);
        /* each branch ends in a BatchNorm whose shift is 3e38: 3e38 + 3e38 overflows */
        eng_layer *bns[2] = {eng_container_child(m->layers[0], 0)->layers[3],
                             eng_container_child(m->layers[0], 1)->layers[1]};
        for (int b = 0; b < 2; b++) {
            eng_tensor *beta = eng_layer_param(bns[b], "bias")->value;
            for (int64_t i = 0; i < eng_tensor_numel(beta); i++)
                eng_tensor_set_flat(beta, i, 3e38);
        }
        const eng_tensor *y;
        assert_ok(eng_model_forward(m, x, &y));
        assert_int_equal(m->fused[0], k == 0 ? ENG_FUSE_RESIDUAL_RELU : ENG_FUSE_NONE);
        assert_int_equal(eng_model_check_finite(m, 5, 1.0), ENG_ENONFINITE);
        snprintf(messages[k], sizeof messages[k], "%s", eng_errmsg());
        eng_tensor_release(x);
        eng_model_release(m);
    }
    assert_string_equal(messages[0], messages[1]);
    assert_non_null(strstr(messages[0], "layer 1 'residual_1' (residual): output has inf"));
}

/* An infinity that starts inside a branch (the block's first convolution overflows) is
 * reported the same whether the BatchNorm pair, the sum and the ReLU ran as one pass (their
 * outputs unwritten until the guard asks, model_residual.c) or layer by layer. */
static void test_nonfinite_guard_finds_an_overflow_inside_a_fused_branch(void **state)
{
    (void)state;
    res_spec r = {.c = 2, .h = 5, .w = 7, .project = true, .bn = true};
    char messages[2][1024];
    for (int k = 0; k < 2; k++) {
        eng_model *m = make_res_net(ENG_F32, &r);
        m->fusion_off = k == 1;
        eng_tensor *x = TENSOR(ENG_F32, 2, 2, 5, 7);
        for (int64_t i = 0; i < eng_tensor_numel(x); i++)
            eng_tensor_set_flat(x, i, 1.0);
        eng_tensor *w = eng_container_child(m->layers[0], 0)->layers[0]->params[0].value;
        for (int64_t i = 0; i < eng_tensor_numel(w); i++)
            eng_tensor_set_flat(w, i, 3e38); /* 18 taps of 3e38 overflow */
        const eng_tensor *y;
        assert_ok(eng_model_forward(m, x, &y));
        assert_int_equal(m->fused[0], k == 0 ? ENG_FUSE_RESIDUAL_RELU : ENG_FUSE_NONE);
        assert_int_equal(eng_model_check_finite(m, 5, 1.0), ENG_ENONFINITE);
        snprintf(messages[k], sizeof messages[k], "%s", eng_errmsg());
        eng_tensor_release(x);
        eng_model_release(m);
    }
    assert_string_equal(messages[0], messages[1]);
    assert_non_null(strstr(messages[0], "layer 1 'residual_1' (residual): output has nan"));
}

/* The layer-wise gradient check of a model whose residual and ReLU ran fused: the same report
 * as with fusion_off, number for number (the checker runs the layers apart), and no FAIL. */
static void test_gradient_check_of_a_fused_residual_runs_the_layers_apart(void **state)
{
    (void)state;
    res_spec r = {.c = 2, .h = 5, .w = 7, .project = true, .bn = true};
    eng_model *m = make_res_net(ENG_F64, &r);
    eng_tensor *x = TENSOR(ENG_F64, 3, 2, 5, 7);
    tensor_randn(x, 96, 1.0);
    check_gradcheck_unchanged(m, x, m, 0, ENG_FUSE_RESIDUAL_RELU);
    eng_tensor_release(x);
    eng_model_release(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relu_maxpool_on_tied_inputs_equals_separate_layers_bit_for_bit),
        cmocka_unit_test(test_conv_relu_maxpool_equals_separate_layers_bit_for_bit),
        cmocka_unit_test(test_relu_maxpool_inside_a_container_equals_separate_layers_bit_for_bit),
        cmocka_unit_test(test_fused_kernels_equal_relu_then_maxpool_on_every_simd_level),
        cmocka_unit_test(test_nonfinite_guard_reports_the_same_with_and_without_fusion),
        cmocka_unit_test(test_fused_backward_after_the_pool_ran_elsewhere_equals_separate_layers),
        cmocka_unit_test(test_batchnorm_relu_equals_separate_layers_bit_for_bit),
        cmocka_unit_test(test_nonfinite_guard_finds_an_overflowing_batchnorm_output_fused_or_not),
        cmocka_unit_test(test_gradient_check_of_a_fusing_model_runs_the_layers_apart),
        cmocka_unit_test(test_residual_relu_equals_separate_layers_bit_for_bit),
        cmocka_unit_test(test_add_relu_kernel_equals_sum_then_relu_on_every_simd_level),
        cmocka_unit_test(
            test_add_relu_mask_kernel_equals_add_relu_and_its_mask_on_every_simd_level),
        cmocka_unit_test(test_nonfinite_guard_finds_an_overflowing_residual_sum_fused_or_not),
        cmocka_unit_test(test_nonfinite_guard_finds_an_overflow_inside_a_fused_branch),
        cmocka_unit_test(test_gradient_check_of_a_fused_residual_runs_the_layers_apart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
