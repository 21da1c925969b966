/* The guard between a file someone else wrote and the readers of engine/io. Before anything is
 * read from a checkpoint or a dataset file, one walk over every object of the file refuses what
 * HDF5 would follow or trust without a check of ours:
 *
 *   - soft, external and user-defined links, and any object reached twice (hard links making a
 *     DAG would make a recursive reader walk 2^depth paths);
 *   - external storage (a dataset read from another local file), virtual datasets, committed
 *     datatypes, filters other than those allowed;
 *   - variable-length types anywhere: their bytes live in HDF5's global heap, which has no
 *     checksum and whose object sizes H5HG_read trusts (the one exception, lim->vlen_strings
 *     for files written before fixed-length strings: string attributes whose every heap
 *     reference hdf5_vlen.c has checked first);
 *   - more depth, objects, attributes or bytes than the limits say; an uncompressed file cannot
 *     hold more data than its own size, so a small file cannot make a reader allocate much.
 *
 * With attributes on, every attribute's type and size is checked (digest_values); with digests
 * on too (checkpoints, results files of format 2), every object also carries attribute
 * "attrs_crc32": the CRC-32 of its attributes' names and values (the "digest" below), written by
 * eng_h5_seal at commit and compared here before any attribute is parsed. HDF5 checksums V18 object
 * headers itself; this is our own end-to-end check, as "crc32" is for a dataset's data. */
#include "hdf5_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zlib.h>

#define DIGEST_ATTR "attrs_crc32"
#define NAME_MAX_BYTES 256

typedef struct audit {
    const char *path;
    const eng_h5_limits *lim;
    bool seal;     /* writing digests instead of checking them */
    haddr_t *seen; /* open-addressing set of object addresses; HADDR_UNDEF marks free */
    size_t cap;
    int64_t objects, bytes, limit_bytes;
    eng_status st;
    hsize_t file_size; /* 0 when unknown */
} audit;

/* ---- the set of objects already reached ---- */

static bool seen_insert(audit *a, haddr_t addr)
{
    size_t mask = a->cap - 1, i = (size_t)(addr * 0x9E3779B97F4A7C15ull >> 17) & mask;
    while (a->seen[i] != HADDR_UNDEF) {
        if (a->seen[i] == addr)
            return false;
        i = (i + 1) & mask;
    }
    a->seen[i] = addr;
    return true;
}

/* ---- digests ---- */

typedef struct digest {
    audit *a;
    const char *where;
    uLong crc;
    eng_status st;
} digest;

static void add_bytes(digest *d, const void *p, size_t n)
{
    d->crc = crc32_z(d->crc, p, n);
}

/* A variable-length string attribute of an older file (lim->vlen_strings): its references
 * checked against the global heap before anything reads it; no digest to add to. */
static eng_status vlen_values(digest *d, const char *name, hid_t attr)
{
    char what[NAME_MAX_BYTES + 64];
    snprintf(what, sizeof what, "attribute '%.*s' of %s", NAME_MAX_BYTES, name, d->where);
    int64_t total = 0;
    eng_status st = eng_h5_vlen_check(attr, d->a->path, what, d->a->lim->max_attr_bytes, &total);
    if (st)
        return st;
    d->a->bytes += total;
    if (d->a->bytes > d->a->limit_bytes)
        return eng_error(ENG_EFORMAT, "%s: its objects hold more than %lld bytes", d->a->path,
                         (long long)d->a->limit_bytes);
    return ENG_OK;
}

/* Adds one attribute's values to the digest: strings up to their first NUL, integers as
 * int64, floats as float64, booleans as their byte. Refuses every other type. */
static eng_status digest_values(digest *d, const char *name, hid_t attr, hid_t type, hssize_t n)
{
    H5T_class_t cls = H5Tget_class(type);
    size_t size = H5Tget_size(type);
    if (cls == H5T_STRING && H5Tis_variable_str(type) > 0 && d->a->lim->vlen_strings &&
        !d->a->lim->digests && !d->a->seal)
        return vlen_values(d, name, attr);
    bool ok = (cls == H5T_STRING && H5Tis_variable_str(type) == 0) ||
              (cls == H5T_INTEGER && size <= 8) || (cls == H5T_FLOAT && (size == 4 || size == 8)) ||
              (cls == H5T_ENUM && size == 1);
    if (!ok || size == 0)
        return eng_error(ENG_EFORMAT,
                         "%s: attribute '%s' of %s has a type this engine never writes (a "
                         "variable-length, compound or other type)",
                         d->a->path, name, d->where);
    size_t elem = cls == H5T_STRING || cls == H5T_ENUM ? size : 8, total;
    if (__builtin_mul_overflow((size_t)n, elem, &total) ||
        total > (size_t)d->a->lim->max_attr_bytes)
        return eng_error(ENG_EFORMAT, "%s: attribute '%s' of %s is larger than %lld bytes",
                         d->a->path, name, d->where, (long long)d->a->lim->max_attr_bytes);
    d->a->bytes += (int64_t)total;
    if (d->a->bytes > d->a->limit_bytes)
        return eng_error(ENG_EFORMAT, "%s: its objects hold more than %lld bytes", d->a->path,
                         (long long)d->a->limit_bytes);
    char *buf = malloc(total ? total : 1);
    if (!buf)
        return eng_error(ENG_ENOMEM, "%s: out of memory", d->a->path);
    hid_t mtype = cls == H5T_INTEGER ? H5Tcopy(H5T_NATIVE_INT64)
                  : cls == H5T_FLOAT ? H5Tcopy(H5T_NATIVE_DOUBLE)
                                     : H5Tcopy(type);
    eng_status st = ENG_OK;
    if (mtype < 0 || H5Aread(attr, mtype, buf) < 0) {
        st = eng_h5_error(ENG_EFORMAT, d->a->path, "cannot read attribute '%s' of %s", name,
                          d->where);
    } else {
        uint64_t count = (uint64_t)n;
        char tag = cls == H5T_STRING    ? 's'
                   : cls == H5T_INTEGER ? 'i'
                   : cls == H5T_FLOAT   ? 'f'
                                        : 'b';
        add_bytes(d, name, strlen(name) + 1);
        add_bytes(d, &tag, 1);
        add_bytes(d, &count, sizeof count);
        if (cls == H5T_STRING) {
            for (hssize_t i = 0; i < n; i++) {
                const char *s = buf + (size_t)i * size;
                add_bytes(d, s, strnlen(s, size));
                add_bytes(d, "", 1);
            }
        } else {
            add_bytes(d, buf, total);
        }
    }
    if (mtype >= 0)
        H5Tclose(mtype);
    free(buf);
    return st;
}

static herr_t digest_attr(hid_t obj, const char *name, const H5A_info_t *info, void *data)
{
    (void)info;
    digest *d = data;
    if (strcmp(name, DIGEST_ATTR) == 0 || strcmp(name, "crc32") == 0)
        return 0;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t type = attr >= 0 ? H5Aget_type(attr) : -1, space = attr >= 0 ? H5Aget_space(attr) : -1;
    hssize_t n = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    int ndims = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    if (type < 0 || n < 0 || ndims < 0)
        d->st = eng_h5_error(ENG_EFORMAT, d->a->path, "cannot read attribute '%s' of %s", name,
                             d->where);
    else if (ndims > 1)
        d->st = eng_error(ENG_EFORMAT, "%s: attribute '%s' of %s has %d dimensions (at most 1)",
                          d->a->path, name, d->where, ndims);
    else
        d->st = digest_values(d, name, attr, type, n);
    if (type >= 0)
        H5Tclose(type);
    if (space >= 0)
        H5Sclose(space);
    if (attr >= 0)
        H5Aclose(attr);
    return d->st ? -1 : 0;
}

/* Computes obj's digest, which checks every attribute's type and size; then writes it
 * (sealing) or compares it with the stored one (digests on). */
static eng_status check_digest(audit *a, hid_t obj, const char *where)
{
    digest d = {a, where, crc32_z(0, NULL, 0), ENG_OK};
    hsize_t idx = 0;
    if (!(a->lim->digests || a->lim->attributes || a->seal))
        return ENG_OK; /* dataset files: their readers read no attribute */
    if (H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, digest_attr, &d) < 0 && !d.st)
        d.st = eng_h5_error(ENG_EFORMAT, a->path, "cannot list the attributes of %s", where);
    if (d.st || !(a->lim->digests || a->seal))
        return d.st; /* older files: types and sizes checked, no digest to compare */
    if (a->seal) {
        if (H5Aexists(obj, DIGEST_ATTR) > 0 && H5Adelete(obj, DIGEST_ATTR) < 0)
            return eng_h5_error(ENG_EIO, a->path, "cannot rewrite the digest of %s", where);
        return eng_h5_write_int64(obj, DIGEST_ATTR, (int64_t)d.crc);
    }
    if (H5Aexists(obj, DIGEST_ATTR) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return eng_error(ENG_EFORMAT, "%s: %s has no checksum of its attributes ('%s')", a->path,
                         where, DIGEST_ATTR);
    }
    int64_t stored;
    eng_status st = eng_h5_read_int64(obj, DIGEST_ATTR, &stored);
    if (!st && stored != (int64_t)d.crc)
        st = eng_error(ENG_EFORMAT,
                       "%s: %s is corrupt: its attributes have CRC-32 %08lx, the file records "
                       "%08llx",
                       a->path, where, (unsigned long)d.crc, (unsigned long long)stored);
    return st;
}

/* ---- datasets ---- */

static bool filter_allowed(const audit *a, H5Z_filter_t f)
{
    return f == H5Z_FILTER_FLETCHER32 ||
           (a->lim->compression && (f == H5Z_FILTER_SHUFFLE || f == H5Z_FILTER_DEFLATE));
}

/* Every chunk of a chunked dataset must lie inside the file and be no larger than a chunk can
 * be (its uncompressed bytes, plus what deflate may add to incompressible data): HDF5 trusts a
 * chunk's stored size and allocates it before reading, so a claimed 4 GB chunk in a small file
 * is refused here, before any read (found by fuzz_h5dataset). */
static eng_status check_chunks(audit *a, hid_t d, hid_t dcpl, hid_t space, size_t elem,
                               const char *where)
{
    hsize_t cdims[ENG_MAX_DIMS];
    int n = H5Pget_chunk(dcpl, ENG_MAX_DIMS, cdims);
    if (n < 0 || n > ENG_MAX_DIMS)
        return eng_h5_error(ENG_EFORMAT, a->path, "cannot read the chunk shape of %s", where);
    uint64_t chunk_bytes = elem;
    for (int i = 0; i < n; i++)
        if (__builtin_mul_overflow(chunk_bytes, (uint64_t)cdims[i], &chunk_bytes))
            return eng_error(ENG_EFORMAT, "%s: %s has chunks of more than 2^64 bytes", a->path,
                             where);
    uint64_t most = chunk_bytes + chunk_bytes / 1000 + 4096;
    hsize_t nchunks = 0;
    if (H5Dget_num_chunks(d, space, &nchunks) < 0)
        return eng_h5_error(ENG_EFORMAT, a->path, "cannot read the chunk index of %s", where);
    if (a->file_size > 0 && nchunks > a->file_size)
        return eng_error(ENG_EFORMAT, "%s: %s claims %llu chunks in a file of %llu bytes", a->path,
                         where, (unsigned long long)nchunks, (unsigned long long)a->file_size);
    for (hsize_t i = 0; i < nchunks; i++) {
        hsize_t offset[ENG_MAX_DIMS];
        unsigned mask = 0;
        haddr_t addr = HADDR_UNDEF;
        hsize_t size = 0;
        if (H5Dget_chunk_info(d, space, i, offset, &mask, &addr, &size) < 0)
            return eng_h5_error(ENG_EFORMAT, a->path, "cannot read chunk %llu of %s",
                                (unsigned long long)i, where);
        bool outside = addr == HADDR_UNDEF ||
                       (a->file_size > 0 && (addr > a->file_size || size > a->file_size - addr));
        if (outside || size > most)
            return eng_error(ENG_EFORMAT,
                             "%s: chunk %llu of %s claims %llu bytes at offset %llu (the file "
                             "has %llu bytes, a chunk at most %llu)",
                             a->path, (unsigned long long)i, where, (unsigned long long)size,
                             (unsigned long long)addr, (unsigned long long)a->file_size,
                             (unsigned long long)most);
    }
    return ENG_OK;
}

static eng_status check_dataset(audit *a, hid_t d, const char *where)
{
    hid_t dcpl = H5Dget_create_plist(d), type = H5Dget_type(d), space = H5Dget_space(d);
    eng_status st = ENG_OK;
    int ndims = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    if (dcpl < 0 || type < 0 || ndims < 0) {
        st = eng_h5_error(ENG_EFORMAT, a->path, "cannot read the layout of %s", where);
        goto done;
    }
    H5D_layout_t layout = H5Pget_layout(dcpl);
    H5T_class_t cls = H5Tget_class(type);
    size_t size = H5Tget_size(type);
    if (layout == H5D_VIRTUAL || layout < 0) {
        st = eng_error(ENG_EFORMAT, "%s: %s is a virtual dataset (refused: it reads other files)",
                       a->path, where);
    } else if (H5Pget_external_count(dcpl) != 0) {
        st = eng_error(ENG_EFORMAT,
                       "%s: %s is stored in an external file (refused: only data inside the "
                       "file is read)",
                       a->path, where);
    } else if ((a->lim->digests || a->lim->attributes) &&
               !((cls == H5T_INTEGER || cls == H5T_FLOAT) && size >= 1 && size <= 8)) {
        st = eng_error(ENG_EFORMAT, "%s: %s has a type this engine never writes", a->path, where);
    } else if (ndims > ENG_MAX_DIMS) {
        st = eng_error(ENG_EFORMAT, "%s: %s has %d dimensions (at most %d)", a->path, where, ndims,
                       ENG_MAX_DIMS);
    }
    bool deflate = false;
    for (int i = 0, n = st ? 0 : H5Pget_nfilters(dcpl); !st && i < n; i++) {
        unsigned flags;
        size_t nelem = 0;
        H5Z_filter_t f = H5Pget_filter2(dcpl, (unsigned)i, &flags, &nelem, NULL, 0, NULL, NULL);
        deflate = deflate || f == H5Z_FILTER_DEFLATE;
        if (!filter_allowed(a, f))
            st = eng_error(ENG_EFORMAT, "%s: %s uses HDF5 filter %d, which this engine refuses",
                           a->path, where, (int)f);
    }
    if (st)
        goto done;
    hsize_t dims[ENG_MAX_DIMS];
    H5Sget_simple_extent_dims(space, dims, NULL);
    uint64_t bytes = size;
    for (int i = 0; i < ndims; i++)
        if (__builtin_mul_overflow(bytes, (uint64_t)dims[i], &bytes))
            bytes = UINT64_MAX;
    if (bytes > (uint64_t)(a->limit_bytes - a->bytes))
        st = eng_error(ENG_EFORMAT,
                       "%s: %s claims %llu bytes, more than the file can hold (limit %lld)",
                       a->path, where, (unsigned long long)bytes, (long long)a->limit_bytes);
    else
        a->bytes += (int64_t)bytes;
    /* What the file really stores for it: all of it, or (deflate) at least 1/1100 of it, as
     * zlib expands by at most 1032:1. A dataset never written reads as fill values that no
     * file holds, and a reader would allocate for them. */
    hsize_t stored = st ? 0 : H5Dget_storage_size(d);
    uint64_t most = deflate ? (uint64_t)stored * 1100 + 4096 : (uint64_t)stored + 64;
    if (!st && layout != H5D_COMPACT && bytes > most)
        st = eng_error(ENG_EFORMAT, "%s: %s claims %llu bytes but the file stores %llu for it",
                       a->path, where, (unsigned long long)bytes, (unsigned long long)stored);
    if (!st && layout == H5D_CHUNKED)
        st = check_chunks(a, d, dcpl, space, size, where);
    if (!st && a->lim->digests && !a->seal && H5Aexists(d, "crc32") <= 0) {
        H5Eclear2(H5E_DEFAULT);
        st = eng_error(ENG_EFORMAT, "%s: %s has no checksum of its data ('crc32')", a->path, where);
    }
done:
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (type >= 0)
        H5Tclose(type);
    if (space >= 0)
        H5Sclose(space);
    return st;
}

/* ---- the walk ---- */

static eng_status visit(audit *a, hid_t obj, const char *where, int depth);

static eng_status visit_links(audit *a, hid_t g, const char *where, int depth)
{
    H5G_info_t info;
    if (H5Gget_info(g, &info) < 0)
        return eng_h5_error(ENG_EFORMAT, a->path, "cannot list %s", where);
    if ((int64_t)info.nlinks > a->lim->max_objects)
        return eng_error(ENG_EFORMAT, "%s: %s has %llu links (at most %lld)", a->path, where,
                         (unsigned long long)info.nlinks, (long long)a->lim->max_objects);
    size_t wlen = strlen(where);
    char *child = malloc(wlen + NAME_MAX_BYTES + 2);
    if (!child)
        return eng_error(ENG_ENOMEM, "%s: out of memory", a->path);
    eng_status st = ENG_OK;
    for (hsize_t k = 0; !st && k < info.nlinks; k++) {
        char name[NAME_MAX_BYTES];
        ssize_t len = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, k, name, sizeof name,
                                         H5P_DEFAULT);
        H5L_info_t li;
        if (len < 0 || H5Lget_info(g, name, &li, H5P_DEFAULT) < 0) {
            st = eng_h5_error(ENG_EFORMAT, a->path, "cannot list %s", where);
            break;
        }
        snprintf(child, wlen + NAME_MAX_BYTES + 2, "%s/%s", depth ? where : "", name);
        if (len >= (ssize_t)sizeof name) {
            st = eng_error(ENG_EFORMAT, "%s: a link name in %s is longer than %d bytes", a->path,
                           where, NAME_MAX_BYTES - 1);
        } else if (li.type != H5L_TYPE_HARD) {
            st = eng_error(ENG_EFORMAT, "%s: %s is a %s link (refused: only hard links are read)",
                           a->path, child,
                           li.type == H5L_TYPE_SOFT       ? "soft"
                           : li.type == H5L_TYPE_EXTERNAL ? "external"
                                                          : "user-defined");
        } else {
            hid_t o = H5Oopen(g, name, H5P_DEFAULT);
            if (o < 0)
                st = eng_h5_error(ENG_EFORMAT, a->path, "cannot open %s", child);
            else
                st = visit(a, o, child, depth + 1);
            if (o >= 0)
                H5Oclose(o);
        }
    }
    free(child);
    return st;
}

static eng_status visit(audit *a, hid_t obj, const char *where, int depth)
{
    H5O_info_t info;
    if (depth > a->lim->max_depth)
        return eng_error(ENG_EFORMAT, "%s: %s is nested deeper than %d levels", a->path, where,
                         a->lim->max_depth);
    if (++a->objects > a->lim->max_objects)
        return eng_error(ENG_EFORMAT, "%s: more than %lld objects", a->path,
                         (long long)a->lim->max_objects);
    if (H5Oget_info2(obj, &info, H5O_INFO_BASIC | H5O_INFO_NUM_ATTRS) < 0)
        return eng_h5_error(ENG_EFORMAT, a->path, "cannot read the header of %s", where);
    if (!seen_insert(a, info.addr))
        return eng_error(ENG_EFORMAT,
                         "%s: %s is an object reached a second time (refused: each object has "
                         "one name)",
                         a->path, where);
    if ((int64_t)info.num_attrs > a->lim->max_objects)
        return eng_error(ENG_EFORMAT, "%s: %s has %llu attributes", a->path, where,
                         (unsigned long long)info.num_attrs);
    eng_status st = ENG_OK;
    if (info.type == H5O_TYPE_GROUP)
        st = visit_links(a, obj, where, depth);
    else if (info.type == H5O_TYPE_DATASET)
        st = check_dataset(a, obj, where);
    else
        st = eng_error(ENG_EFORMAT, "%s: %s is a committed datatype or an unknown object", a->path,
                       where);
    if (!st)
        st = check_digest(a, obj, where);
    return st;
}

static eng_status walk(hid_t file, const char *path, const eng_h5_limits *lim, bool seal)
{
    audit a = {path, lim, seal, NULL, 0, 0, 0, lim->max_bytes, ENG_OK, 0};
    if (H5Fget_filesize(file, &a.file_size) < 0)
        a.file_size = 0;
    if (!lim->compression && !seal) {
        /* uncompressed: the data cannot be larger than the file holding it */
        hsize_t size = 0;
        if (H5Fget_filesize(file, &size) >= 0 && (int64_t)size < a.limit_bytes)
            a.limit_bytes = (int64_t)size;
    }
    a.cap = 64;
    while ((int64_t)a.cap < 2 * lim->max_objects)
        a.cap *= 2;
    if (!(a.seen = malloc(a.cap * sizeof *a.seen)))
        return eng_error(ENG_ENOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < a.cap; i++)
        a.seen[i] = HADDR_UNDEF;
    hid_t root = H5Oopen(file, "/", H5P_DEFAULT);
    eng_status st = root < 0 ? eng_h5_error(ENG_EFORMAT, path, "cannot open the root group")
                             : visit(&a, root, "/", 0);
    if (root >= 0)
        H5Oclose(root);
    free(a.seen);
    return st;
}

const eng_h5_limits eng_h5_checkpoint_limits = {
    .max_depth = 24,
    .max_objects = 1 << 16,
    .max_attr_bytes = 64 << 20,
    .max_bytes = INT64_MAX / 2,
    .digests = true,
    .compression = false,
    .attributes = true,
    .vlen_strings = false,
};

const eng_h5_limits eng_h5_dataset_limits = {
    .max_depth = 8,
    .max_objects = 1 << 12,
    .max_attr_bytes = 16 << 20,
    .max_bytes = (int64_t)1 << 40,
    .digests = false,
    .compression = true,
};

eng_status eng_h5_audit(hid_t file, const char *path, const eng_h5_limits *lim)
{
    return walk(file, path, lim, false);
}

eng_status eng_h5_seal(hid_t file, const char *path)
{
    return walk(file, path, &eng_h5_checkpoint_limits, true);
}
