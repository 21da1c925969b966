/* Adjacent layers run as one pass (engine/model_fusion.c): a model that fuses gives bit for bit
 * the outputs, input gradients and parameter gradients of the same model with fusion_off, whose
 * layers run one by one (the path test_model.c checks against finite differences); in f32 and
 * f64, with one thread and several, at the top level and inside containers, on inputs full of
 * ties, zeros of both signs, all-negative windows and NaNs; the fused kernels equal the two
 * kernels they replace on every SIMD level; and the non-finite guard says the same either way. */
#include "support.h"

#include "../engine/kernels/activation.h"
#include "../engine/kernels/cpu.h"
#include "../engine/kernels/pool.h"
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relu_maxpool_on_tied_inputs_equals_separate_layers_bit_for_bit),
        cmocka_unit_test(test_conv_relu_maxpool_equals_separate_layers_bit_for_bit),
        cmocka_unit_test(test_relu_maxpool_inside_a_container_equals_separate_layers_bit_for_bit),
        cmocka_unit_test(test_fused_kernels_equal_relu_then_maxpool_on_every_simd_level),
        cmocka_unit_test(test_nonfinite_guard_reports_the_same_with_and_without_fusion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
