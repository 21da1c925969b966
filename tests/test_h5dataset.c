/* HDF5 datasets: the writer's layout (chunked along N, shuffle + deflate, attributes), whole
 * loads, streaming in order and through the shuffle buffer (every sample exactly once, the
 * memory bound), normalisation, a user's own file with other names and types, and every
 * validation error. */
#include "support.h"

#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

enum { N = 1000, H = 4, W = 5 };

/* x [N,1,H,W] u8 with x[i] = (i + k) % 256 and y[i] = i: a sample tells its index. */
static void write_numbered(const char *path, int64_t chunk_rows)
{
    eng_tensor *x = TENSOR(ENG_U8, N, 1, H, W), *y = TENSOR(ENG_I64, N);
    uint8_t *xp = eng_tensor_data(x);
    int64_t *yp = eng_tensor_data(y);
    for (int i = 0; i < N; i++) {
        yp[i] = i;
        for (int k = 0; k < H * W; k++)
            xp[i * H * W + k] = (uint8_t)((i + k) % 256);
    }
    const char *classes[] = {"a", "b"};
    eng_h5data_split split = {"train", x, y};
    eng_h5data_write_options o = {
        .classes = classes, .nclasses = 2, .source = "test", .chunk_rows = chunk_rows};
    assert_ok(eng_h5data_write(path, &split, 1, &o));
    eng_tensor_release(x);
    eng_tensor_release(y);
}

static void test_h5data_writes_chunked_compressed_datasets(void **state)
{
    (void)state;
    write_numbered(scratch_path("numbered.h5"), 64);
    hid_t f = H5Fopen(scratch_path("numbered.h5"), H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t d = H5Dopen2(f, "/train/x", H5P_DEFAULT), dcpl = H5Dget_create_plist(d);
    hsize_t chunk[4];
    assert_int_equal(H5Pget_layout(dcpl), H5D_CHUNKED);
    assert_int_equal(H5Pget_chunk(dcpl, 4, chunk), 4);
    assert_true(chunk[0] == 64 && chunk[1] == 1 && chunk[2] == H && chunk[3] == W);
    assert_int_equal(H5Pget_nfilters(dcpl), 2);
    unsigned flags, config, values[8];
    size_t nelmts = 8;
    char name[64];
    assert_int_equal(H5Pget_filter2(dcpl, 0, &flags, &nelmts, values, sizeof name, name, &config),
                     H5Z_FILTER_SHUFFLE);
    nelmts = 8;
    assert_int_equal(H5Pget_filter2(dcpl, 1, &flags, &nelmts, values, sizeof name, name, &config),
                     H5Z_FILTER_DEFLATE);
    assert_int_equal(values[0], 4); /* the default level */
    H5Pclose(dcpl);
    H5Dclose(d);
    d = H5Dopen2(f, "/train/y", H5P_DEFAULT);
    hid_t t = H5Dget_type(d);
    assert_true(H5Tequal(t, H5T_STD_I64LE) > 0);
    H5Tclose(t);
    H5Dclose(d);
    assert_true(H5Aexists(f, "classes") > 0 && H5Aexists(f, "source") > 0);
    H5Fclose(f);
    /* compressible samples: smaller than the raw bytes */
    struct stat sb;
    assert_int_equal(stat(scratch_path("numbered.h5"), &sb), 0);
    assert_true(sb.st_size < N * (H * W + 8));
}

static void test_h5data_loads_a_split_whole(void **state)
{
    (void)state;
    write_numbered(scratch_path("whole.h5"), 0);
    eng_h5data *d;
    assert_ok(eng_h5data_open(scratch_path("whole.h5"), "/train/x", "/train/y", &d));
    const eng_h5data_info *in = eng_h5data_info_of(d);
    assert_int_equal(in->n, N);
    assert_int_equal(in->ndim, 4);
    assert_int_equal(in->dtype, ENG_U8);
    assert_int_equal(in->sample_bytes, H * W);
    assert_int_equal(in->bytes, N * (H * W + 8));
    eng_dataset ds = {0};
    assert_ok(eng_h5data_load(d, &ds));
    for (int i = 0; i < N; i += 37) {
        assert_int_equal(((int64_t *)eng_tensor_data(ds.y))[i], i);
        assert_int_equal(((uint8_t *)eng_tensor_data(ds.x))[i * H * W + 3], (i + 3) % 256);
    }
    eng_dataset_free(&ds);
    eng_h5data_close(d);
}

/* Streams one epoch; counts[i] how often sample i came, checking each x against its label.
 * Returns the number of batches; order[] gets the labels in order. */
static int stream_epoch(eng_h5data *d, bool shuffle, size_t limit, int64_t batch, bool drop_last,
                        int *counts, int64_t *order)
{
    eng_h5stream *s;
    assert_ok(eng_h5stream_new(d, shuffle, limit, NULL, &s));
    if (shuffle)
        assert_true(eng_h5stream_buffer_rows(s) * (int64_t)(H * W + 8) <= (int64_t)limit);
    int batches = 0, seen = 0;
    for (;;) {
        eng_tensor *x, *y;
        assert_ok(eng_h5stream_next(s, batch, drop_last, ENG_F32, 1.0, 0.0, 1.0, &x, &y));
        if (!x)
            break;
        assert_int_equal(x->shape[0], y->shape[0]);
        for (int64_t b = 0; b < y->shape[0]; b++) {
            int64_t i = ((int64_t *)eng_tensor_data(y))[b];
            assert_true(i >= 0 && i < N);
            counts[i]++;
            order[seen++] = i;
            assert_true(ENG_F32_DATA(x)[b * H * W + 7] == (float)((i + 7) % 256));
        }
        batches++;
        eng_tensor_release(x);
        eng_tensor_release(y);
    }
    eng_h5stream_free(s);
    return batches;
}

static void test_h5data_streams_in_order_without_shuffle(void **state)
{
    (void)state;
    write_numbered(scratch_path("order.h5"), 64);
    eng_h5data *d;
    assert_ok(eng_h5data_open(scratch_path("order.h5"), "/train/x", "/train/y", &d));
    int counts[N] = {0};
    int64_t order[N];
    assert_int_equal(stream_epoch(d, false, 1 << 20, 300, false, counts, order), 4);
    for (int i = 0; i < N; i++)
        assert_true(counts[i] == 1 && order[i] == i);
    memset(counts, 0, sizeof counts);
    assert_int_equal(stream_epoch(d, false, 1 << 20, 300, true, counts, order), 3);
    eng_h5data_close(d);
}

static void test_h5data_shuffle_buffer_gives_every_sample_once(void **state)
{
    (void)state;
    write_numbered(scratch_path("shuffle.h5"), 64);
    eng_h5data *d;
    assert_ok(eng_h5data_open(scratch_path("shuffle.h5"), "/train/x", "/train/y", &d));
    /* room for 3 chunks of 64 rows of 28 bytes; batches larger than the buffer too */
    size_t limit = 3 * 64 * (H * W + 8) + 100;
    for (int64_t batch = 50; batch <= 500; batch += 450) {
        int counts[N] = {0};
        int64_t order[N];
        eng_rng_seed(eng_rng_global(), 11);
        stream_epoch(d, true, limit, batch, false, counts, order);
        int in_place = 0;
        for (int i = 0; i < N; i++) {
            assert_int_equal(counts[i], 1);
            in_place += order[i] == i;
        }
        assert_true(in_place < 50);
    }
    /* the same seed gives the same order */
    int c1[N] = {0}, c2[N] = {0};
    int64_t o1[N], o2[N];
    eng_rng_seed(eng_rng_global(), 5);
    stream_epoch(d, true, limit, 64, false, c1, o1);
    eng_rng_seed(eng_rng_global(), 5);
    stream_epoch(d, true, limit, 64, false, c2, o2);
    assert_memory_equal(o1, o2, sizeof o1);
    eng_h5stream *s;
    assert_error(eng_h5stream_new(d, true, 1000, NULL, &s), ENG_EARG,
                 "memory_limit 1000 bytes is less than one chunk of /train/x (64 samples, "
                 "1792 bytes)");
    eng_h5data_close(d);
}

static void test_h5data_stream_normalises_like_the_in_memory_gather(void **state)
{
    (void)state;
    write_numbered(scratch_path("norm.h5"), 64);
    eng_h5data *d;
    assert_ok(eng_h5data_open(scratch_path("norm.h5"), "/train/x", "/train/y", &d));
    eng_h5stream *s;
    assert_ok(eng_h5stream_new(d, false, 1 << 20, NULL, &s));
    eng_tensor *x, *y;
    assert_ok(eng_h5stream_next(s, 10, false, ENG_F64, 1.0 / 255, 0.5, 0.25, &x, &y));
    assert_int_equal(x->dtype, ENG_F64);
    for (int b = 0; b < 10; b++)
        for (int k = 0; k < H * W; k++) {
            double expected = (((b + k) % 256) / 255.0 - 0.5) / 0.25;
            assert_true(fabs(ENG_F64_DATA(x)[b * H * W + k] - expected) < 1e-12);
        }
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_h5stream_free(s);
    eng_h5data_close(d);
}

/* A file written with plain HDF5 calls: contiguous f32 samples [n,3] at /images, int32
 * labels at /labels. */
static void write_user_file(const char *path, hid_t label_type, int64_t nlabels)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t xd[2] = {6, 3}, yd[1] = {(hsize_t)nlabels};
    float x[18];
    int32_t y[6];
    for (int i = 0; i < 18; i++)
        x[i] = (float)i;
    for (int i = 0; i < 6; i++)
        y[i] = 5 - i;
    hid_t xs = H5Screate_simple(2, xd, NULL), ys = H5Screate_simple(1, yd, NULL);
    hid_t dx = H5Dcreate2(f, "images", H5T_IEEE_F32BE, xs, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t dy = H5Dcreate2(f, "labels", label_type, ys, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(dx, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
    if (H5Tget_class(label_type) == H5T_INTEGER && nlabels == 6)
        H5Dwrite(dy, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, y);
    H5Dclose(dx);
    H5Dclose(dy);
    H5Sclose(xs);
    H5Sclose(ys);
    H5Fclose(f);
}

static void test_h5data_reads_a_users_own_file(void **state)
{
    (void)state;
    write_user_file(scratch_path("user.h5"), H5T_STD_I32LE, 6);
    eng_h5data *d;
    assert_ok(eng_h5data_open(scratch_path("user.h5"), "/images", "/labels", &d));
    assert_int_equal(eng_h5data_info_of(d)->dtype, ENG_F32);
    eng_dataset ds = {0};
    assert_ok(eng_h5data_load(d, &ds));
    assert_true(ENG_F32_DATA(ds.x)[17] == 17.0f);
    assert_int_equal(((int64_t *)eng_tensor_data(ds.y))[0], 5);
    eng_dataset_free(&ds);
    int counts[6] = {0};
    eng_h5stream *s;
    assert_ok(eng_h5stream_new(d, true, 1 << 20, NULL, &s));
    eng_tensor *x, *y;
    assert_ok(eng_h5stream_next(s, 4, false, ENG_F32, 1.0, 0.0, 1.0, &x, &y));
    for (int pass = 0; x; pass++) {
        for (int64_t b = 0; b < y->shape[0]; b++)
            counts[((int64_t *)eng_tensor_data(y))[b]]++;
        eng_tensor_release(x);
        eng_tensor_release(y);
        assert_ok(eng_h5stream_next(s, 4, false, ENG_F32, 1.0, 0.0, 1.0, &x, &y));
    }
    for (int i = 0; i < 6; i++)
        assert_int_equal(counts[i], 1);
    eng_h5stream_free(s);
    eng_h5data_close(d);
}

static void test_h5data_open_names_what_is_wrong(void **state)
{
    (void)state;
    eng_h5data *d;
    write_numbered(scratch_path("split.h5"), 0);
    assert_error(eng_h5data_open(scratch_path("split.h5"), "/test/x", "/test/y", &d), ENG_EFORMAT,
                 "split.h5: missing dataset /test/x (the samples)");
    assert_error(eng_h5data_open(scratch_path("split.h5"), "/train/x", "/train/z", &d), ENG_EFORMAT,
                 "missing dataset /train/z (the labels)");
    assert_error(eng_h5data_open(scratch_path("split.h5"), "/train/y", "/train/y", &d), ENG_EDTYPE,
                 "samples /train/y are i64, expected uint8, float32 or float64");
    write_user_file(scratch_path("floaty.h5"), H5T_IEEE_F64LE, 6);
    assert_error(eng_h5data_open(scratch_path("floaty.h5"), "/images", "/labels", &d), ENG_EDTYPE,
                 "labels /labels are f64, expected integers");
    write_user_file(scratch_path("short.h5"), H5T_STD_I32LE, 5);
    assert_error(eng_h5data_open(scratch_path("short.h5"), "/images", "/labels", &d), ENG_ESHAPE,
                 "labels /labels [5] do not fit samples /images [6,3] (expected [6])");
    assert_error(eng_h5data_open(scratch_path("none.h5"), "/x", "/y", &d), ENG_EIO,
                 "none.h5: cannot open the dataset file: No such file or directory");
    eng_tensor *x = TENSOR(ENG_U8, 3, 2), *y = TENSOR(ENG_I64, 4);
    eng_h5data_split bad = {"train", x, y};
    assert_error(eng_h5data_write(scratch_path("bad.h5"), &bad, 1, NULL), ENG_ESHAPE,
                 "split 'train': samples [3,2] and labels [4], expected [N,...] and [N]");
    assert_int_equal(access(scratch_path("bad.h5"), F_OK), -1);
    eng_tensor_release(x);
    eng_tensor_release(y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h5data_writes_chunked_compressed_datasets),
        cmocka_unit_test(test_h5data_loads_a_split_whole),
        cmocka_unit_test(test_h5data_streams_in_order_without_shuffle),
        cmocka_unit_test(test_h5data_shuffle_buffer_gives_every_sample_once),
        cmocka_unit_test(test_h5data_stream_normalises_like_the_in_memory_gather),
        cmocka_unit_test(test_h5data_reads_a_users_own_file),
        cmocka_unit_test(test_h5data_open_names_what_is_wrong),
    };
    return cmocka_run_group_tests(tests, scratch_dir_create, scratch_dir_remove);
}
