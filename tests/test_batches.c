/* The one batch iterator (engine/io/batches.h): an in-memory dataset and the same data streamed
 * from HDF5 give the same batches in order; shuffled passes give every sample once; batches
 * handed the same tensors allocate nothing after the first; every option is checked. Expected
 * values: each sample's pixels encode its index, so a batch tells which samples it holds. */
#include "support.h"

#include <math.h>

enum { N = 203, H = 3, W = 2 };

/* x [N,1,H,W] u8 with x[i] = (i + k) % 256, y[i] = i. */
static eng_dataset numbered(void)
{
    eng_tensor *x = TENSOR(ENG_U8, N, 1, H, W), *y = TENSOR(ENG_I64, N);
    uint8_t *xp = eng_tensor_data(x);
    int64_t *yp = eng_tensor_data(y);
    for (int i = 0; i < N; i++) {
        yp[i] = i;
        for (int k = 0; k < H * W; k++)
            xp[i * H * W + k] = (uint8_t)((i + k) % 256);
    }
    eng_dataset ds;
    assert_ok(eng_dataset_init(&ds, x, y));
    return ds;
}

/* Runs the pass, checking each sample against its label; marks seen[label]; returns batches. */
static int run_pass(eng_batches *it, const eng_batch_options *o, bool *seen, bool reuse_tensors)
{
    eng_tensor *x = NULL, *y = NULL;
    int batches = 0;
    uint64_t bytes_after_first = 0, bytes_after_full = 0;
    for (int64_t n; (n = eng_batches_next_size(it)) > 0; batches++) {
        int64_t shape[ENG_MAX_DIMS];
        int ndim = eng_batches_x_shape(it, n, shape);
        assert_int_equal(ndim, 4);
        if (!reuse_tensors || !x || x->shape[0] != n) {
            eng_tensor_release(x);
            eng_tensor_release(y);
            assert_ok(eng_tensor_new(o->dtype, ndim, shape, &x));
            assert_ok(eng_tensor_new(ENG_I64, 1, &n, &y));
        }
        if (batches == 1)
            bytes_after_first = eng_tensor_bytes_allocated();
        assert_ok(eng_batches_next(it, x, y));
        if (n == o->batch)
            bytes_after_full = eng_tensor_bytes_allocated();
        for (int64_t r = 0; r < n; r++) {
            int64_t label = ((int64_t *)eng_tensor_data(y))[r];
            assert_true(label >= 0 && label < N && !seen[label]);
            seen[label] = true;
            for (int k = 0; k < H * W; k++) {
                double want = (double)((label + k) % 256) * o->scale;
                double got = eng_tensor_get_flat(x, r * H * W + k);
                assert_true(fabs(got - (want - o->mean) / o->std) <= 1e-6);
            }
        }
    }
    /* the full batches after the first allocated no tensor storage (the short last one gets
     * tensors of its own size, from this loop) */
    if (reuse_tensors && batches > 2)
        assert_true(bytes_after_full == bytes_after_first);
    eng_tensor_release(x);
    eng_tensor_release(y);
    return batches;
}

static void test_batches_memory_and_stream_give_every_sample_once(void **state)
{
    (void)state;
    eng_dataset ds = numbered();
    eng_h5data_split split = {"train", ds.x, ds.y};
    eng_h5data_write_options wo = {.chunk_rows = 16};
    assert_ok(eng_h5data_write(scratch_path("numbered.h5"), &split, 1, &wo));
    eng_h5data *d;
    assert_ok(eng_h5data_open(scratch_path("numbered.h5"), "/train/x", "/train/y", &d));
    for (int shuffle = 0; shuffle <= 1; shuffle++) {
        for (int drop_last = 0; drop_last <= 1; drop_last++) {
            eng_batch_options o = eng_batch_options_default(16, ENG_U8);
            o.shuffle = shuffle, o.drop_last = drop_last, o.mean = 0.5, o.std = 0.25;
            o.dtype = shuffle ? ENG_F64 : ENG_F32;
            for (int source = 0; source < 2; source++) {
                eng_batches *it;
                if (source == 0)
                    assert_ok(eng_batches_new_memory(&ds, &o, NULL, &it));
                else
                    assert_ok(eng_batches_new_stream(d, 1 << 20, &o, NULL, &it));
                bool seen[N] = {false};
                int batches = run_pass(it, &o, seen, source == 1);
                int count = 0;
                for (int i = 0; i < N; i++)
                    count += seen[i];
                assert_int_equal(count, drop_last ? N / 16 * 16 : N);
                assert_int_equal(batches, drop_last ? N / 16 : (N + 15) / 16);
                assert_int_equal(eng_batches_next_size(it), 0);
                assert_error(eng_batches_next(it, ds.x, ds.y), ENG_ESTATE, "the pass is over");
                eng_batches_free(it);
            }
        }
    }
    eng_h5data_close(d);
    eng_dataset_free(&ds);
}

static void test_batches_in_order_are_the_same_from_memory_and_stream(void **state)
{
    (void)state;
    eng_dataset ds = numbered();
    eng_h5data_split split = {"train", ds.x, ds.y};
    assert_ok(eng_h5data_write(scratch_path("same.h5"), &split, 1, NULL));
    eng_h5data *d;
    assert_ok(eng_h5data_open(scratch_path("same.h5"), "/train/x", "/train/y", &d));
    eng_batch_options o = eng_batch_options_default(50, ENG_U8);
    eng_batches *a, *b;
    assert_ok(eng_batches_new_memory(&ds, &o, NULL, &a));
    assert_ok(eng_batches_new_stream(d, 1 << 20, &o, NULL, &b));
    eng_tensor *xa = TENSOR(ENG_F32, 50, 1, H, W), *ya = TENSOR(ENG_I64, 50);
    eng_tensor *xb = TENSOR(ENG_F32, 50, 1, H, W), *yb = TENSOR(ENG_I64, 50);
    for (int k = 0; k < 4; k++) {
        assert_ok(eng_batches_next(a, xa, ya));
        assert_ok(eng_batches_next(b, xb, yb));
        assert_memory_equal(eng_tensor_data(xa), eng_tensor_data(xb), 50 * H * W * sizeof(float));
        assert_memory_equal(eng_tensor_data(ya), eng_tensor_data(yb), 50 * sizeof(int64_t));
    }
    /* the last batch has 3 samples: tensors of 50 are refused, naming both shapes */
    assert_int_equal(eng_batches_next_size(a), 3);
    assert_error(eng_batches_next(a, xa, ya), ENG_ESHAPE, "x [50,1,3,2] and y [50]", "3 samples");
    eng_tensor_release(xa);
    eng_tensor_release(ya);
    eng_tensor_release(xb);
    eng_tensor_release(yb);
    eng_batches_free(a);
    eng_batches_free(b);
    eng_h5data_close(d);
    eng_dataset_free(&ds);
}

static void test_batches_refuse_bad_options_naming_them(void **state)
{
    (void)state;
    eng_dataset ds = numbered();
    eng_batches *it = NULL;
    eng_batch_options o = eng_batch_options_default(0, ENG_U8);
    assert_error(eng_batches_new_memory(&ds, &o, NULL, &it), ENG_EARG, "batch size 0");
    o = eng_batch_options_default(4, ENG_U8);
    o.std = 0;
    assert_error(eng_batches_new_memory(&ds, &o, NULL, &it), ENG_EARG, "std = 0");
    o.std = INFINITY;
    assert_error(eng_batches_new_memory(&ds, &o, NULL, &it), ENG_EARG, "std = inf");
    o.std = 1, o.mean = NAN;
    assert_error(eng_batches_new_memory(&ds, &o, NULL, &it), ENG_EARG, "mean = nan");
    o.mean = 0, o.scale = -INFINITY;
    assert_error(eng_batches_new_memory(&ds, &o, NULL, &it), ENG_EARG, "scale = -inf");
    o.scale = 1, o.dtype = ENG_I32;
    assert_error(eng_batches_new_memory(&ds, &o, NULL, &it), ENG_EDTYPE, "dtype i32");
    assert_null(it);
    eng_dataset_free(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batches_memory_and_stream_give_every_sample_once),
        cmocka_unit_test(test_batches_in_order_are_the_same_from_memory_and_stream),
        cmocka_unit_test(test_batches_refuse_bad_options_naming_them),
    };
    return cmocka_run_group_tests(tests, scratch_dir_create, scratch_dir_remove);
}
