/* IDX reader: plain and gzipped files written into a temporary directory, and every way a
 * file can be wrong (bad magic, truncated header or payload, truncated or corrupt gzip,
 * trailing bytes, missing file). */
#include "support.h"

#include <unistd.h>
#include <zlib.h>

/* An IDX image: magic 00 00 08 ndim, big-endian sizes, then the payload. [out] *size. */
static unsigned char *idx_bytes(int ndim, const uint32_t *shape, const unsigned char *payload,
                                size_t payload_size, size_t *size)
{
    *size = 4 + 4 * (size_t)ndim + payload_size;
    unsigned char *b = malloc(*size);
    assert_non_null(b);
    b[0] = 0;
    b[1] = 0;
    b[2] = 0x08;
    b[3] = (unsigned char)ndim;
    for (int d = 0; d < ndim; d++) {
        b[4 + 4 * d] = (unsigned char)(shape[d] >> 24);
        b[5 + 4 * d] = (unsigned char)(shape[d] >> 16);
        b[6 + 4 * d] = (unsigned char)(shape[d] >> 8);
        b[7 + 4 * d] = (unsigned char)shape[d];
    }
    memcpy(b + 4 + 4 * ndim, payload, payload_size);
    return b;
}

static void write_plain(const char *name, const void *data, size_t size)
{
    FILE *f = fopen(scratch_path(name), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    assert_int_equal(fclose(f), 0);
}

static void write_gz(const char *name, const void *data, size_t size)
{
    gzFile f = gzopen(scratch_path(name), "wb");
    assert_non_null(f);
    assert_int_equal(gzwrite(f, data, (unsigned)size), (int)size);
    assert_int_equal(gzclose(f), Z_OK);
}

static long file_size(const char *name)
{
    FILE *f = fopen(scratch_path(name), "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void test_idx_reads_a_plain_file(void **state)
{
    (void)state;
    unsigned char payload[24];
    for (int i = 0; i < 24; i++)
        payload[i] = (unsigned char)(i * 10);
    size_t size;
    unsigned char *b = idx_bytes(3, (uint32_t[]){2, 3, 4}, payload, 24, &size);
    write_plain("a.idx", b, size);
    eng_tensor *t;
    assert_ok(eng_idx_read(scratch_path("a.idx"), &t));
    assert_int_equal(t->dtype, ENG_U8);
    assert_string_equal(eng_tensor_shape_str(t), "[2,3,4]");
    assert_memory_equal(eng_tensor_data(t), payload, 24);
    eng_tensor_release(t);
    free(b);
}

static void test_idx_reads_a_gzipped_file_with_large_sizes(void **state)
{
    (void)state;
    /* 70000 labels: the size needs three bytes of the big-endian header */
    enum { N = 70000 };
    unsigned char *payload = malloc(N);
    for (int i = 0; i < N; i++)
        payload[i] = (unsigned char)(i % 10);
    size_t size;
    unsigned char *b = idx_bytes(1, (uint32_t[]){N}, payload, N, &size);
    write_gz("b.idx.gz", b, size);
    assert_true(file_size("b.idx.gz") < (long)size / 4); /* really compressed */
    eng_tensor *t;
    assert_ok(eng_idx_read(scratch_path("b.idx.gz"), &t));
    assert_string_equal(eng_tensor_shape_str(t), "[70000]");
    assert_memory_equal(eng_tensor_data(t), payload, N);
    eng_tensor_release(t);
    free(b);
    free(payload);
}

static void test_idx_rejects_bad_magic(void **state)
{
    (void)state;
    unsigned char payload[4] = {1, 2, 3, 4};
    size_t size;
    unsigned char *b = idx_bytes(1, (uint32_t[]){4}, payload, 4, &size);
    b[2] = 0x0D; /* float data: not supported */
    write_plain("magic.idx", b, size);
    eng_tensor *t = (eng_tensor *)1;
    assert_error(eng_idx_read(scratch_path("magic.idx"), &t), ENG_EFORMAT,
                 scratch_path("magic.idx"), "bad IDX magic", "00 00 0d 01");
    assert_null(t);
    b[2] = 0x08;
    b[3] = 0; /* no dimensions */
    write_plain("dims.idx", b, size);
    assert_error(eng_idx_read(scratch_path("dims.idx"), &t), ENG_EFORMAT, "00 00 08 00");
    b[3] = 9; /* more than ENG_MAX_DIMS */
    write_plain("dims.idx", b, size);
    assert_error(eng_idx_read(scratch_path("dims.idx"), &t), ENG_EFORMAT, "00 00 08 09");
    free(b);
}

static void test_idx_rejects_truncated_header_and_payload(void **state)
{
    (void)state;
    unsigned char payload[10] = {0};
    size_t size;
    unsigned char *b = idx_bytes(2, (uint32_t[]){2, 5}, payload, 10, &size);
    write_plain("short_header.idx", b, 6); /* magic and half a size */
    eng_tensor *t = (eng_tensor *)1;
    assert_error(eng_idx_read(scratch_path("short_header.idx"), &t), ENG_EFORMAT,
                 scratch_path("short_header.idx"), "truncated", "header");
    assert_null(t);
    write_plain("short.idx", b, size - 3);
    assert_error(eng_idx_read(scratch_path("short.idx"), &t), ENG_EFORMAT,
                 scratch_path("short.idx"), "truncated", "[2,5]");
    free(b);
}

/* Writes name as the gzip of an IDX [N] file of incompressible bytes; returns the file size. */
static long write_random_gz(const char *name)
{
    enum { N = 4000 };
    unsigned char payload[N];
    eng_rng rng;
    eng_rng_seed(&rng, 3);
    for (int i = 0; i < N; i++)
        payload[i] = (unsigned char)eng_rng_next(&rng);
    size_t size;
    unsigned char *b = idx_bytes(1, (uint32_t[]){N}, payload, N, &size);
    write_gz(name, b, size);
    free(b);
    return file_size(name);
}

static void test_idx_rejects_a_truncated_gzip_file(void **state)
{
    (void)state;
    long n = write_random_gz("short.idx.gz");
    assert_int_equal(truncate(scratch_path("short.idx.gz"), n / 2),
                     0); /* inside the deflate data */
    eng_tensor *t = (eng_tensor *)1;
    assert_error(eng_idx_read(scratch_path("short.idx.gz"), &t), ENG_EFORMAT,
                 scratch_path("short.idx.gz"), "truncated", "[4000]");
    assert_null(t);
}

static void test_idx_rejects_a_gzip_file_missing_its_trailer(void **state)
{
    (void)state;
    /* The payload decompresses whole, but the CRC-32 and length that end a gzip member are
     * gone: the file is truncated all the same. */
    long n = write_random_gz("trailer.idx.gz");
    assert_int_equal(truncate(scratch_path("trailer.idx.gz"), n - 4), 0); /* the length is gone */
    eng_tensor *t = (eng_tensor *)1;
    assert_error(eng_idx_read(scratch_path("trailer.idx.gz"), &t), ENG_EFORMAT,
                 scratch_path("trailer.idx.gz"), "truncated");
    assert_null(t);
}

static void test_idx_rejects_a_gzip_file_with_a_bad_checksum(void **state)
{
    (void)state;
    long n = write_random_gz("crc.idx.gz");
    FILE *f = fopen(scratch_path("crc.idx.gz"), "r+b");
    assert_non_null(f);
    fseek(f, n - 8, SEEK_SET); /* first byte of the CRC-32 */
    int c = fgetc(f);
    fseek(f, n - 8, SEEK_SET);
    fputc(c ^ 0xff, f);
    fclose(f);
    eng_tensor *t = (eng_tensor *)1;
    assert_error(eng_idx_read(scratch_path("crc.idx.gz"), &t), ENG_EFORMAT,
                 scratch_path("crc.idx.gz"), "corrupt");
    assert_null(t);
}

static void test_idx_rejects_corrupt_gzip_data(void **state)
{
    (void)state;
    /* a gzip header followed by bytes that are not a deflate stream */
    const unsigned char garbage[32] = {0x1f, 0x8b, 8,    0,    0,    0,    0,
                                       0,    0,    3,    0xff, 0xff, 0xff, 0xff,
                                       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    write_plain("garbage.gz", garbage, sizeof garbage);
    eng_tensor *t = (eng_tensor *)1;
    assert_error(eng_idx_read(scratch_path("garbage.gz"), &t), ENG_EFORMAT,
                 scratch_path("garbage.gz"));
    assert_null(t);
}

static void test_idx_rejects_trailing_bytes(void **state)
{
    (void)state;
    unsigned char payload[7] = {1, 2, 3, 4, 5, 6, 7};
    size_t size;
    unsigned char *b = idx_bytes(1, (uint32_t[]){6}, payload, 7, &size); /* one byte too many */
    write_plain("trailing.idx", b, size);
    write_gz("trailing.idx.gz", b, size);
    eng_tensor *t = (eng_tensor *)1;
    assert_error(eng_idx_read(scratch_path("trailing.idx"), &t), ENG_EFORMAT,
                 scratch_path("trailing.idx"), "trailing bytes", "[6]");
    assert_null(t);
    assert_error(eng_idx_read(scratch_path("trailing.idx.gz"), &t), ENG_EFORMAT,
                 scratch_path("trailing.idx.gz"), "trailing bytes", "[6]");
    assert_null(t);
    free(b);
}

static void test_idx_reports_a_missing_file(void **state)
{
    (void)state;
    eng_tensor *t = (eng_tensor *)1;
    assert_error(eng_idx_read(scratch_path("absent.idx.gz"), &t), ENG_EIO,
                 scratch_path("absent.idx.gz"), "No such file");
    assert_null(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_reads_a_plain_file),
        cmocka_unit_test(test_idx_reads_a_gzipped_file_with_large_sizes),
        cmocka_unit_test(test_idx_rejects_bad_magic),
        cmocka_unit_test(test_idx_rejects_truncated_header_and_payload),
        cmocka_unit_test(test_idx_rejects_a_truncated_gzip_file),
        cmocka_unit_test(test_idx_rejects_a_gzip_file_missing_its_trailer),
        cmocka_unit_test(test_idx_rejects_a_gzip_file_with_a_bad_checksum),
        cmocka_unit_test(test_idx_rejects_corrupt_gzip_data),
        cmocka_unit_test(test_idx_rejects_trailing_bytes),
        cmocka_unit_test(test_idx_reports_a_missing_file),
    };
    return cmocka_run_group_tests(tests, scratch_dir_create, scratch_dir_remove);
}
