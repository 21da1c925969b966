/* Benchmark: the same training steps as bench/train_seed_cnn.lua (seed CNN, f32, SGD lr 0.05
 * momentum 0.9, batches gathered through a permutation, 20 warm-up steps) driven from C, to
 * measure what Lua adds to a step, and the tensor storage a steady-state step allocates.
 *   bench_train_c [steps=300] [batch=64] [threads=1]
 * Prints "c seed train f32 threads=<t> batch=<b> steps=<s> images_per_s=<x>
 * bytes_per_step=<y>". */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "engine.h"

#define CHECK(call)                                                                                \
    do {                                                                                           \
        if (call) {                                                                                \
            fprintf(stderr, "bench_train_c: %s\n", eng_errmsg());                                  \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Adds the layer just created (st is its constructor's status). */
static int add(eng_model *m, eng_status st, eng_layer **l)
{
    if (st || eng_model_add(m, *l))
        return 1;
    eng_layer_release(*l);
    return 0;
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 300, batch = argc > 2 ? atoi(argv[2]) : 64;
    int threads = argc > 3 ? atoi(argv[3]) : 1, warmup = 20;
    CHECK(eng_set_threads(threads));
    eng_rng_seed(eng_rng_global(), 1);
    eng_dataset train;
    CHECK(eng_dataset_load_mnist(&train, "/usr/share/datasets/fashion-mnist", "train"));
    eng_model *m;
    eng_layer *l;
    CHECK(eng_model_new(&m));
    eng_conv2d_options pad = {.padding_h = 2, .padding_w = 2};
    CHECK(add(m, eng_conv2d_new(1, 16, 5, 5, &pad, ENG_F32, NULL, &l), &l));
    CHECK(add(m, eng_relu_new(&l), &l));
    CHECK(add(m, eng_maxpool2d_new(2, 2, 0, 0, 0, 0, &l), &l));
    CHECK(add(m, eng_flatten_new(&l), &l));
    CHECK(add(m, eng_linear_new(3136, 128, true, ENG_F32, NULL, &l), &l));
    CHECK(add(m, eng_relu_new(&l), &l));
    CHECK(add(m, eng_linear_new(128, 10, true, ENG_F32, NULL, &l), &l));
    eng_loss *ce;
    CHECK(eng_cross_entropy_new(&ce));
    eng_optimizer *opt;
    eng_sgd_options so = {.lr = 0.05, .momentum = 0.9};
    CHECK(eng_sgd_new(eng_model_params(m), &so, &opt));
    int64_t n = train.x->shape[0];
    int64_t *perm = malloc(sizeof *perm * (size_t)n);
    eng_tensor *x = NULL, *y = NULL, *dy = NULL;
    int64_t xs[4] = {batch, 1, 28, 28}, ys[1] = {batch};
    CHECK(eng_tensor_ensure(&x, ENG_F32, 4, xs));
    CHECK(eng_tensor_ensure(&y, ENG_I64, 1, ys));
    double start = 0;
    uint64_t allocated = 0;
    int done = 0;
    while (done < steps + warmup) {
        eng_permutation(perm, n, NULL);
        for (int64_t i = 0; i + batch <= n && done < steps + warmup; i += batch, done++) {
            if (done == warmup) {
                start = now();
                allocated = eng_tensor_bytes_allocated();
            }
            CHECK(eng_dataset_gather(&train, perm + i, batch, 1 / 255.0, 0.2860, 0.3530, x, y));
            eng_model_zero_grad(m);
            const eng_tensor *out;
            double loss;
            CHECK(eng_model_forward(m, x, &out));
            CHECK(eng_loss_forward(ce, out, y, &loss));
            CHECK(eng_tensor_ensure(&dy, ENG_F32, 2, out->shape));
            CHECK(eng_loss_backward(ce, out, y, dy));
            CHECK(eng_model_backward(m, dy, NULL));
            CHECK(eng_optimizer_step(opt));
        }
    }
    double seconds = now() - start;
    printf("c seed train f32 threads=%d batch=%d steps=%d images_per_s=%.1f bytes_per_step=%.0f\n",
           threads, batch, steps, steps * batch / seconds,
           (double)(eng_tensor_bytes_allocated() - allocated) / steps);
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_tensor_release(dy);
    free(perm);
    eng_optimizer_release(opt);
    eng_loss_release(ce);
    eng_model_release(m);
    eng_dataset_free(&train);
    return 0;
}
