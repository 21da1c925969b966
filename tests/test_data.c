/* In-memory datasets: construction checks, Fashion-MNIST-layout loading from IDX .gz files in
 * a temporary directory, batch gathering with normalisation, and permutations. */
#include "support.h"

#include <unistd.h>
#include <zlib.h>

static void write_idx_gz(const char *name, int ndim, const uint32_t *shape,
                         const unsigned char *payload, size_t n)
{
    gzFile f = gzopen(scratch_path(name), "wb");
    assert_non_null(f);
    unsigned char header[4 + 4 * 3] = {0, 0, 0x08, (unsigned char)ndim};
    for (int d = 0; d < ndim; d++)
        for (int k = 0; k < 4; k++)
            header[4 + 4 * d + k] = (unsigned char)(shape[d] >> (24 - 8 * k));
    assert_int_equal(gzwrite(f, header, 4 + 4 * (unsigned)ndim), 4 + 4 * ndim);
    assert_int_equal(gzwrite(f, payload, (unsigned)n), (int)n);
    assert_int_equal(gzclose(f), Z_OK);
}

static eng_dataset u8_dataset(int64_t n)
{
    /* n samples [1,2,2], sample k holds 4k .. 4k+3; label k % 10 */
    eng_tensor *x = TENSOR(ENG_U8, n, 1, 2, 2), *y = TENSOR(ENG_I64, n);
    for (int64_t i = 0; i < 4 * n; i++)
        ((uint8_t *)eng_tensor_data(x))[i] = (uint8_t)i;
    for (int64_t i = 0; i < n; i++)
        ((int64_t *)eng_tensor_data(y))[i] = i % 10;
    eng_dataset ds;
    assert_ok(eng_dataset_init(&ds, x, y));
    return ds;
}

static void test_dataset_loads_mnist_layout_from_idx_gz(void **state)
{
    (void)state;
    unsigned char images[3 * 4 * 5], labels[3] = {7, 0, 9};
    for (int i = 0; i < 60; i++)
        images[i] = (unsigned char)(200 + i % 50);
    write_idx_gz("train-images-idx3-ubyte.gz", 3, (uint32_t[]){3, 4, 5}, images, 60);
    write_idx_gz("train-labels-idx1-ubyte.gz", 1, (uint32_t[]){3}, labels, 3);
    eng_dataset ds;
    assert_ok(eng_dataset_load_mnist(&ds, scratch_dir, "train"));
    assert_int_equal(ds.x->dtype, ENG_U8);
    assert_string_equal(eng_tensor_shape_str(ds.x), "[3,1,4,5]");
    assert_int_equal(ds.y->dtype, ENG_I64);
    assert_string_equal(eng_tensor_shape_str(ds.y), "[3]");
    assert_memory_equal(eng_tensor_data(ds.x), images, 60);
    for (int i = 0; i < 3; i++)
        assert_int_equal(((int64_t *)eng_tensor_data(ds.y))[i], labels[i]);
    eng_dataset_free(&ds);
    assert_null(ds.x);
    assert_null(ds.y);
}

static void test_dataset_load_refuses_images_and_labels_that_disagree(void **state)
{
    (void)state;
    unsigned char images[2 * 2 * 2] = {0}, labels[3] = {1, 2, 3};
    write_idx_gz("t10k-images-idx3-ubyte.gz", 3, (uint32_t[]){2, 2, 2}, images, 8);
    write_idx_gz("t10k-labels-idx1-ubyte.gz", 1, (uint32_t[]){3}, labels, 3);
    eng_dataset ds = {0};
    assert_error(eng_dataset_load_mnist(&ds, scratch_dir, "test"), ENG_EFORMAT,
                 "t10k-images-idx3-ubyte.gz", "[2,2,2]", "t10k-labels-idx1-ubyte.gz", "[3]");
    assert_null(ds.x);
}

static void test_dataset_load_reports_bad_split_and_missing_files(void **state)
{
    (void)state;
    eng_dataset ds = {0};
    assert_error(eng_dataset_load_mnist(&ds, scratch_dir, "valid"), ENG_EARG, "'valid'");
    assert_error(eng_dataset_load_mnist(&ds, "/nonexistent/engine", "train"), ENG_EIO,
                 "/nonexistent/engine/train-images-idx3-ubyte.gz");
    assert_null(ds.x);
}

static void test_dataset_init_checks_and_takes_ownership(void **state)
{
    (void)state;
    eng_dataset ds;
    assert_error(eng_dataset_init(&ds, TENSOR(ENG_U8, 5, 3), TENSOR(ENG_I64, 4)), ENG_ESHAPE,
                 "[5,3]", "[4]");
    assert_null(ds.x); /* freed on error: ASan's leak check holds us to it */
    assert_error(eng_dataset_init(&ds, TENSOR(ENG_U8, 5, 3), TENSOR(ENG_I32, 5)), ENG_EDTYPE,
                 "i32");
    assert_error(eng_dataset_init(&ds, TENSOR(ENG_I32, 5, 3), TENSOR(ENG_I64, 5)), ENG_EDTYPE,
                 "i32");
    eng_tensor *base = TENSOR(ENG_F32, 5, 6), *x;
    assert_ok(eng_tensor_narrow(base, 1, 0, 3, &x));
    eng_tensor_release(base);
    assert_error(eng_dataset_init(&ds, x, TENSOR(ENG_I64, 5)), ENG_ESTATE, "contiguous");
}

static void test_dataset_gather_normalises_selected_samples(void **state)
{
    (void)state;
    eng_dataset ds = u8_dataset(6);
    const int64_t idx[3] = {4, 0, 4};
    for (int k = 0; k < 2; k++) {
        eng_dtype dt = k ? ENG_F64 : ENG_F32;
        eng_tensor *x = TENSOR(dt, 3, 1, 2, 2), *y = TENSOR(ENG_I64, 3);
        assert_ok(eng_dataset_gather(&ds, idx, 3, 1 / 255.0, 0.5, 0.25, x, y));
        for (int i = 0; i < 3; i++) {
            assert_int_equal(((int64_t *)eng_tensor_data(y))[i], idx[i] % 10);
            for (int j = 0; j < 4; j++) {
                double v = (double)(4 * idx[i] + j);
                double expected = (v / 255.0 - 0.5) / 0.25;
                assert_double_close(eng_tensor_get_flat(x, 4 * i + j), expected, k ? 1e-14 : 1e-7);
            }
        }
        eng_tensor_release(x);
        eng_tensor_release(y);
    }
    eng_dataset_free(&ds);
}

static void test_dataset_gather_reads_float_samples(void **state)
{
    (void)state;
    eng_tensor *xs = TENSOR(ENG_F64, 3, 2), *ys = TENSOR(ENG_I64, 3);
    tensor_set_values(xs, (double[]){0.5, -1, 2, 4, 1e10, -3});
    tensor_set_values(ys, (double[]){5, 6, 7});
    eng_dataset ds;
    assert_ok(eng_dataset_init(&ds, xs, ys));
    eng_tensor *x = TENSOR(ENG_F64, 2, 2), *y = TENSOR(ENG_I64, 2);
    assert_ok(eng_dataset_gather(&ds, (int64_t[]){2, 1}, 2, 1.0, 0.0, 1.0, x, y));
    const double expected[4] = {1e10, -3, 2, 4};
    for (int i = 0; i < 4; i++)
        assert_true(ENG_F64_DATA(x)[i] == expected[i]);
    assert_true(((int64_t *)eng_tensor_data(y))[0] == 7);
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_dataset_free(&ds);
}

static void test_dataset_gather_rejects_bad_buffers_indices_and_std(void **state)
{
    (void)state;
    eng_dataset ds = u8_dataset(6);
    eng_tensor *x = TENSOR(ENG_F32, 2, 1, 2, 2), *y = TENSOR(ENG_I64, 2);
    eng_tensor *x_bad = TENSOR(ENG_F32, 2, 1, 2, 3), *x_u8 = TENSOR(ENG_U8, 2, 1, 2, 2);
    eng_tensor *y_bad = TENSOR(ENG_I32, 2), *y_len = TENSOR(ENG_I64, 3);
    const int64_t idx[2] = {0, 1}, bad_idx[2] = {0, 6}, neg_idx[2] = {-1, 0};
    assert_error(eng_dataset_gather(&ds, idx, 2, 1, 0, 1, x_bad, y), ENG_ESHAPE, "[2,1,2,3]",
                 "2 samples", "[6,1,2,2]");
    assert_error(eng_dataset_gather(&ds, idx, 2, 1, 0, 1, x_u8, y), ENG_ESHAPE, "u8");
    assert_error(eng_dataset_gather(&ds, idx, 2, 1, 0, 1, x, y_bad), ENG_ESHAPE, "i32", "[2]");
    assert_error(eng_dataset_gather(&ds, idx, 2, 1, 0, 1, x, y_len), ENG_ESHAPE, "[3]");
    assert_error(eng_dataset_gather(&ds, idx, 2, 1, 0, 0, x, y), ENG_EARG, "std = 0");
    assert_error(eng_dataset_gather(&ds, bad_idx, 2, 1, 0, 1, x, y), ENG_EARG, "index 6", "[0,6)");
    assert_error(eng_dataset_gather(&ds, neg_idx, 2, 1, 0, 1, x, y), ENG_EARG, "index -1");
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_tensor_release(x_bad);
    eng_tensor_release(x_u8);
    eng_tensor_release(y_bad);
    eng_tensor_release(y_len);
    eng_dataset_free(&ds);
}

static void test_permutation_holds_every_index_once_and_follows_the_seed(void **state)
{
    (void)state;
    enum { N = 1000 };
    int64_t a[N], b[N], c[N];
    eng_rng r1, r2, r3;
    eng_rng_seed(&r1, 9);
    eng_rng_seed(&r2, 9);
    eng_rng_seed(&r3, 10);
    eng_permutation(a, N, &r1);
    eng_permutation(b, N, &r2);
    eng_permutation(c, N, &r3);
    bool seen[N] = {false};
    int fixed = 0, same = 0;
    for (int i = 0; i < N; i++) {
        assert_true(a[i] >= 0 && a[i] < N);
        assert_false(seen[a[i]]);
        seen[a[i]] = true;
        assert_int_equal(a[i], b[i]);
        fixed += a[i] == i;
        same += a[i] == c[i];
    }
    assert_true(fixed < 10 && same < 10); /* about 1 expected of each */
    int64_t one[1] = {42};
    eng_permutation(one, 1, &r1);
    assert_int_equal(one[0], 0);
    eng_permutation(one, 0, NULL);
}

static void test_permutation_is_uniform_over_orderings(void **state)
{
    (void)state;
    /* 6000 shuffles of 3 elements: each of the 6 orderings about 1000 times (chi-square with 5
     * degrees of freedom below 25, p < 1e-4). */
    int counts[6] = {0};
    eng_rng rng;
    eng_rng_seed(&rng, 77);
    for (int t = 0; t < 6000; t++) {
        int64_t p[3];
        eng_permutation(p, 3, &rng);
        counts[p[0] * 2 + (p[1] > p[2])]++;
    }
    double chi2 = 0;
    for (int k = 0; k < 6; k++)
        chi2 += (counts[k] - 1000.0) * (counts[k] - 1000.0) / 1000.0;
    if (chi2 >= 25)
        print_message("orderings %d %d %d %d %d %d: chi2 %.1f\n", counts[0], counts[1], counts[2],
                      counts[3], counts[4], counts[5], chi2);
    assert_true(chi2 < 25);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dataset_loads_mnist_layout_from_idx_gz),
        cmocka_unit_test(test_dataset_load_refuses_images_and_labels_that_disagree),
        cmocka_unit_test(test_dataset_load_reports_bad_split_and_missing_files),
        cmocka_unit_test(test_dataset_init_checks_and_takes_ownership),
        cmocka_unit_test(test_dataset_gather_normalises_selected_samples),
        cmocka_unit_test(test_dataset_gather_reads_float_samples),
        cmocka_unit_test(test_dataset_gather_rejects_bad_buffers_indices_and_std),
        cmocka_unit_test(test_permutation_holds_every_index_once_and_follows_the_seed),
        cmocka_unit_test(test_permutation_is_uniform_over_orderings),
    };
    return cmocka_run_group_tests(tests, scratch_dir_create, scratch_dir_remove);
}
