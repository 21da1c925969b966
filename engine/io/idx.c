#include "idx.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <zlib.h>

/* gzread reads plain files too, so one path serves .gz and uncompressed IDX. */
static eng_status read_exact(gzFile f, const char *path, void *buf, size_t n, const char *what)
{
    size_t got = 0;
    while (got < n) {
        unsigned chunk = n - got > (1u << 30) ? (1u << 30) : (unsigned)(n - got);
        int r = gzread(f, (char *)buf + got, chunk);
        if (r < 0) {
            int code;
            const char *msg = gzerror(f, &code);
            return eng_error(ENG_EFORMAT, "%s: corrupt gzip data while reading the %s (%s)", path,
                             what, msg);
        }
        if (r == 0)
            return eng_error(ENG_EFORMAT, "%s: truncated: the %s needs %zu bytes, the file has %zu",
                             path, what, n, got);
        got += (size_t)r;
    }
    return ENG_OK;
}

/* The header's shape against what the file can hold, before anything is allocated for it:
 * the bytes after the header, or for gzip (zlib's deflate expands at most 1032:1) that many
 * times its size. */
static eng_status check_claim(gzFile f, const char *path, int ndim, const int64_t *shape)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return eng_error(ENG_EIO, "%s: cannot stat (%s)", path, strerror(errno));
    uint64_t need = 1, most = (uint64_t)sb.st_size;
    for (int d = 0; d < ndim; d++)
        if (__builtin_mul_overflow(need, (uint64_t)shape[d], &need))
            need = UINT64_MAX;
    if (!gzdirect(f) && __builtin_mul_overflow(most, 1032u, &most))
        most = UINT64_MAX;
    if (need > most)
        return eng_error(ENG_EFORMAT,
                         "%s: the header claims %s (%llu bytes), more than the file can hold "
                         "(%lld bytes%s)",
                         path, eng_shape_str(ndim, shape), (unsigned long long)need,
                         (long long)sb.st_size, gzdirect(f) ? "" : " of gzip");
    return ENG_OK;
}

eng_status eng_idx_read(const char *path, eng_tensor **out)
{
    *out = NULL;
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return eng_error(ENG_EIO, "%s: cannot open (%s)", path,
                         errno ? strerror(errno) : "out of memory");
    eng_tensor *t = NULL;
    unsigned char magic[4];
    eng_status st = read_exact(f, path, magic, 4, "header");
    if (st)
        goto fail;
    if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] < 1 ||
        magic[3] > ENG_MAX_DIMS) {
        st = eng_error(ENG_EFORMAT,
                       "%s: bad IDX magic number %02x %02x %02x %02x (expected 00 00 08 then 1 to "
                       "%d dimensions)",
                       path, magic[0], magic[1], magic[2], magic[3], ENG_MAX_DIMS);
        goto fail;
    }
    int ndim = magic[3];
    int64_t shape[ENG_MAX_DIMS];
    for (int d = 0; d < ndim; d++) {
        unsigned char b[4];
        st = read_exact(f, path, b, 4, "header");
        if (st)
            goto fail;
        shape[d] = (int64_t)b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3];
    }
    st = check_claim(f, path, ndim, shape);
    if (!st)
        st = eng_tensor_new(ENG_U8, ndim, shape, &t);
    if (st)
        goto fail;
    st = read_exact(f, path, eng_tensor_data(t), (size_t)eng_tensor_numel(t),
                    eng_shape_str(ndim, shape));
    if (st)
        goto fail;
    unsigned char extra;
    int r = gzread(f, &extra, 1), code = Z_OK;
    /* A gzip stream cut inside its trailer still yields the whole payload; zlib then reports
     * Z_BUF_ERROR ("unexpected end of file") while gzread returns 0. */
    if (r == 0)
        gzerror(f, &code);
    if (r != 0 || code != Z_OK) {
        st = r > 0   ? eng_error(ENG_EFORMAT, "%s: trailing bytes after the %s IDX payload", path,
                                 eng_shape_str(ndim, shape))
             : r < 0 ? eng_error(ENG_EFORMAT, "%s: corrupt gzip data after the IDX payload", path)
                     : eng_error(ENG_EFORMAT, "%s: truncated gzip stream (its trailer is missing)",
                                 path);
        goto fail;
    }
    gzclose(f);
    *out = t;
    return ENG_OK;
fail:
    eng_tensor_release(t);
    gzclose(f);
    return st;
}
