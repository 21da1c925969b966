/* A residual's projection shortcut adds its input gradient into the block's (layer.h's
 * backward_add, engine/model_container.c), instead of writing a scratch tensor summed in a
 * pass of its own: the phase kernel that adds (against the one that writes, plus the sum, at
 * every SIMD level), the 1x1 convolutions that add (pointwise and strided) against their
 * plain backward plus the sum, and whole residuals against their two branches run apart, in
 * f32 (where the shortcut adds) and f64 (where it does not: bit for bit as before). */
#include "support.h"

#include "kernels/conv_phase.h"
#include "kernels/cpu.h"
#include "model_container.h"

static const eng_simd levels[] = {ENG_SIMD_NONE, ENG_SIMD_AVX2, ENG_SIMD_AVX512};

static float *frand(int64_t n, uint64_t seed)
{
    float *p = malloc((size_t)n * sizeof(float));
    eng_rng rng;
    eng_rng_seed(&rng, seed);
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)(2 * eng_rng_uniform(&rng) - 1);
    return p;
}

/* 1x1 kernels, strides 2 and 3, with and without padding, rows wider than a vector. */
static void check_upsample_add(int c, int h, int w, int s, int p, uint64_t seed)
{
    eng_conv_geometry g = {.channels = c,
                           .height = h,
                           .width = w,
                           .kh = 1,
                           .kw = 1,
                           .sh = s,
                           .sw = s,
                           .ph = p,
                           .pw = p,
                           .dh = 1,
                           .dw = 1};
    g.oh = (h + 2 * p - 1) / s + 1;
    g.ow = (w + 2 * p - 1) / s + 1;
    int64_t ld = eng_phase_grid(&g) + 5, nx = (int64_t)c * h * w;
    float *dcol = frand(c * ld, seed), *dx = frand(nx, seed + 1),
          *want = malloc(sizeof(float) * (size_t)nx);
    float *adj = malloc(sizeof(float) * (size_t)nx);
    dx[0] = -0.0f; /* left alone in a row no output reads (p = 1), else -0 + +0 or + a value */
    eng_phase_upsample_f32(adj, dcol, ld, &g, false);
    for (int64_t i = 0; i < nx; i++) {
        int y = (int)(i / w % h), py = y + p;
        bool read = py % s == 0 && py / s < g.oh;
        want[i] = read ? dx[i] + adj[i] : dx[i];
    }
    eng_phase_upsample_f32(dx, dcol, ld, &g, true);
    for (int64_t i = 0; i < nx; i++) {
        if (memcmp(&dx[i], &want[i], sizeof(float)) != 0)
            print_message("[%d,%d,%d s%d p%d] dx[%lld] = %g, expected %g\n", c, h, w, s, p,
                          (long long)i, (double)dx[i], (double)want[i]);
        assert_memory_equal(&dx[i], &want[i], sizeof(float));
    }
    free(dcol), free(dx), free(want), free(adj);
}

static void test_upsample_adding_equals_upsample_then_sum_on_every_simd_level(void **state)
{
    (void)state;
    for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
        eng_simd old = eng_simd_cap(levels[l]);
        check_upsample_add(3, 28, 28, 2, 0, 1);
        check_upsample_add(2, 13, 15, 2, 0, 2);
        check_upsample_add(2, 14, 14, 2, 1, 3);
        check_upsample_add(1, 9, 40, 3, 1, 4);
        check_upsample_add(2, 7, 67, 2, 0, 5);
        eng_simd_cap(old);
    }
}

/* A 1x1 convolution's backward_add: dx_before + its plain backward's dx, and the same weight
 * gradient. */
static void check_conv_add(int cin, int cout, int h, int w, int stride)
{
    eng_rng rng;
    eng_rng_seed(&rng, 31);
    eng_conv2d_options o = {.stride_h = stride, .stride_w = stride, .no_bias = true};
    eng_layer *a, *b;
    assert_ok(eng_conv2d_new(cin, cout, 1, 1, &o, ENG_F32, &rng, &a));
    eng_rng_seed(&rng, 31);
    assert_ok(eng_conv2d_new(cin, cout, 1, 1, &o, ENG_F32, &rng, &b));
    int oh = (h - 1) / stride + 1, ow = (w - 1) / stride + 1;
    eng_tensor *x = TENSOR(ENG_F32, 3, cin, h, w), *y = TENSOR(ENG_F32, 3, cout, oh, ow);
    eng_tensor *dy = TENSOR(ENG_F32, 3, cout, oh, ow), *dx = TENSOR(ENG_F32, 3, cin, h, w);
    eng_tensor *plain = TENSOR(ENG_F32, 3, cin, h, w), *want = TENSOR(ENG_F32, 3, cin, h, w);
    tensor_randn(x, 32, 1.0);
    tensor_randn(dy, 33, 1.0);
    tensor_randn(dx, 34, 1.0);
    assert_true(a->ops->can_add_dx(a, x));
    assert_ok(eng_layer_forward(a, x, y, true));
    assert_ok(eng_layer_forward(b, x, y, true));
    assert_ok(eng_layer_backward(b, x, y, dy, plain));
    for (int64_t i = 0; i < eng_tensor_numel(dx); i++)
        ENG_F32_DATA(want)[i] = ENG_F32_DATA(dx)[i] + ENG_F32_DATA(plain)[i];
    assert_ok(a->ops->backward_add(a, x, y, dy, dx));
    /* a product that adds into its output rounds once more or less than product then sum */
    assert_tensor_close(dx, want, 1e-6, "dx + input gradient");
    assert_tensor_close(a->params[0].grad, b->params[0].grad, 0.0, "weight gradient");
    /* f64 and other kernels do not add */
    eng_layer *c64, *c3;
    eng_tensor *x64 = TENSOR(ENG_F64, 3, cin, h, w);
    assert_ok(eng_conv2d_new(cin, cout, 1, 1, &o, ENG_F64, &rng, &c64));
    assert_false(c64->ops->can_add_dx(c64, x64));
    eng_conv2d_options pad = {
        .stride_h = stride, .stride_w = stride, .padding_h = 1, .padding_w = 1};
    assert_ok(eng_conv2d_new(cin, cout, 3, 3, &pad, ENG_F32, &rng, &c3));
    assert_false(c3->ops->can_add_dx(c3, x));
    eng_layer_release(a), eng_layer_release(b), eng_layer_release(c64), eng_layer_release(c3);
    eng_tensor_release(x), eng_tensor_release(y), eng_tensor_release(dy);
    eng_tensor_release(dx), eng_tensor_release(plain), eng_tensor_release(want);
    eng_tensor_release(x64);
}

static void test_1x1_convolutions_add_their_input_gradient(void **state)
{
    (void)state;
    check_conv_add(16, 16, 28, 28, 1); /* pointwise: the product adds */
    check_conv_add(16, 32, 28, 28, 2); /* phases: the upsampling adds */
    check_conv_add(3, 5, 9, 11, 2);
    check_conv_add(2, 4, 10, 13, 3);
}

static void add(eng_model *m, eng_layer *l)
{
    assert_ok(eng_model_add(m, l));
    eng_layer_release(l);
}

/* residual(conv3x3 stride s -> relu -> conv3x3, conv1x1 stride s) on x [4,cin,h,w]: its input
 * gradient against the block's plus the shortcut's, each run on its own with the same dy. */
static void check_residual(eng_dtype dtype, int cin, int cout, int h, int w, int s)
{
    eng_rng rng;
    eng_rng_seed(&rng, 41);
    eng_model *block, *shortcut;
    eng_layer *l, *res;
    eng_conv2d_options o3 = {.stride_h = s, .stride_w = s, .padding_h = 1, .padding_w = 1},
                       o3b = {.padding_h = 1, .padding_w = 1}, o1 = {.stride_h = s, .stride_w = s};
    assert_ok(eng_model_new(&block));
    assert_ok(eng_model_new(&shortcut));
    assert_ok(eng_conv2d_new(cin, cout, 3, 3, &o3, dtype, &rng, &l));
    add(block, l);
    assert_ok(eng_relu_new(&l));
    add(block, l);
    assert_ok(eng_conv2d_new(cout, cout, 3, 3, &o3b, dtype, &rng, &l));
    add(block, l);
    assert_ok(eng_conv2d_new(cin, cout, 1, 1, &o1, dtype, &rng, &l));
    add(shortcut, l);
    assert_ok(eng_residual_new(block, shortcut, &res));
    int oh = (h - 1) / s + 1, ow = (w - 1) / s + 1;
    eng_tensor *x = TENSOR(dtype, 4, cin, h, w), *y = TENSOR(dtype, 4, cout, oh, ow);
    eng_tensor *dy = TENSOR(dtype, 4, cout, oh, ow), *dx = TENSOR(dtype, 4, cin, h, w);
    eng_tensor *db = TENSOR(dtype, 4, cin, h, w), *ds = TENSOR(dtype, 4, cin, h, w);
    eng_tensor *want = TENSOR(dtype, 4, cin, h, w);
    tensor_randn(x, 42, 1.0);
    tensor_randn(dy, 43, 1.0);
    tensor_randn(dx, 44, 1.0); /* overwritten: what it held must not show */
    assert_ok(eng_layer_forward(res, x, y, true));
    eng_model *kids[2] = {eng_container_child(res, 0), eng_container_child(res, 1)};
    assert_true(eng_model_can_add_dx(kids[1], x) == (dtype == ENG_F32));
    assert_ok(eng_layer_backward(res, x, y, dy, dx));
    const eng_tensor *out;
    assert_ok(eng_model_forward_nested(kids[0], x, true, &out));
    assert_ok(eng_model_backward_nested(kids[0], x, dy, db));
    assert_ok(eng_model_forward_nested(kids[1], x, true, &out));
    assert_ok(eng_model_backward_nested(kids[1], x, dy, ds));
    for (int64_t i = 0; i < eng_tensor_numel(want); i++)
        eng_tensor_set_flat(want, i, eng_tensor_get_flat(db, i) + eng_tensor_get_flat(ds, i));
    if (dtype == ENG_F64) /* the scratch and the sum, as before */
        assert_memory_equal(eng_tensor_data(dx), eng_tensor_data(want),
                            (size_t)eng_tensor_numel(dx) * sizeof(double));
    else
        assert_tensor_close(dx, want, s > 1 ? 0.0 : 1e-6, "residual input gradient");
    eng_layer_release(res);
    eng_model_release(block), eng_model_release(shortcut);
    eng_tensor_release(x), eng_tensor_release(y), eng_tensor_release(dy);
    eng_tensor_release(dx), eng_tensor_release(db), eng_tensor_release(ds);
    eng_tensor_release(want);
}

static void test_residual_input_gradient_is_the_sum_of_its_branches(void **state)
{
    (void)state;
    eng_dtype dtypes[] = {ENG_F32, ENG_F64};
    for (int d = 0; d < 2; d++) {
        check_residual(dtypes[d], 16, 16, 12, 12, 1); /* Winograd block, pointwise shortcut */
        check_residual(dtypes[d], 16, 32, 14, 14, 2); /* phases, 1x1 strided shortcut */
        check_residual(dtypes[d], 3, 5, 9, 11, 2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upsample_adding_equals_upsample_then_sum_on_every_simd_level),
        cmocka_unit_test(test_1x1_convolutions_add_their_input_gradient),
        cmocka_unit_test(test_residual_input_gradient_is_the_sum_of_its_branches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
