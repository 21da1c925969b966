/* Variable-length string attributes, found only in files the engine wrote before it switched to
 * fixed-length strings (sweep results files of format 1, read by results_legacy.c). Their bytes
 * live in HDF5's global heap, which carries no checksum, and HDF5 1.10 trusts it: H5HG_read
 * indexes the collection's object table with the stored index unchecked and copies the heap
 * object's size into a buffer of the attribute's stored length. A flipped bit there is an
 * out-of-bounds read or a heap overflow.
 *
 * So before HDF5 reads any of them, eng_h5_vlen_check takes the attribute's raw references
 * (length, collection address, index) through a conversion of our own to an opaque type, which
 * HDF5 hands the stored bytes unchanged, and parses every collection they name from the file
 * itself, as HDF5 will: the collection must be one ("GCOL", version 1), lie inside the file,
 * have objects that tile it exactly, and hold the referenced object with exactly the stored
 * length. Only then may eng_h5_read_vlen_string let HDF5 read the string. */
#include "hdf5_util.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RAW_TAG "engine: raw variable-length reference"
#define REF_BYTES 16   /* uint32 length, 8-byte collection address, uint32 index */
#define GCOL_HEADER 16 /* "GCOL", version, 3 reserved, 8-byte collection size */
#define GCOL_OBJHDR 16 /* uint16 index, uint16 references, 4 reserved, 8-byte size */
#define GCOL_MIN 4096  /* HDF5 never writes a smaller collection */

static uint64_t le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* The conversion from a stored variable-length string to RAW_TAG: the same size, so the bytes
 * HDF5 copied into the buffer are left as they are. Refuses any other pair of types. */
static herr_t raw_copy(hid_t src, hid_t dst, H5T_cdata_t *cdata, size_t nelmts, size_t buf_stride,
                       size_t bkg_stride, void *buf, void *bkg, hid_t dxpl)
{
    (void)nelmts, (void)buf_stride, (void)bkg_stride, (void)buf, (void)bkg, (void)dxpl;
    if (cdata->command != H5T_CONV_INIT)
        return 0;
    cdata->need_bkg = H5T_BKG_NO;
    if (H5Tis_variable_str(src) <= 0 || H5Tget_class(dst) != H5T_OPAQUE ||
        H5Tget_size(dst) != H5Tget_size(src))
        return -1;
    char *tag = H5Tget_tag(dst);
    bool ours = tag && strcmp(tag, RAW_TAG) == 0;
    H5free_memory(tag);
    return ours ? 0 : -1;
}

static int registered = -1;

static void register_raw(void)
{
    hid_t s = H5Tcopy(H5T_C_S1), o = H5Tcreate(H5T_OPAQUE, REF_BYTES);
    registered = s >= 0 && o >= 0 && H5Tset_size(s, H5T_VARIABLE) >= 0 &&
                         H5Tset_tag(o, RAW_TAG) >= 0 &&
                         H5Tregister(H5T_PERS_SOFT, "engine raw vlen", s, o, raw_copy) >= 0
                     ? 1
                     : 0;
    if (s >= 0)
        H5Tclose(s);
    if (o >= 0)
        H5Tclose(o);
}

/* Finds object idx of the collection at addr (relative to base) and checks the whole
 * collection's layout; *size receives the object's size. */
static eng_status find_object(int fd, uint64_t file_len, uint64_t base, uint64_t addr, uint32_t idx,
                              uint64_t *size, const char *path, const char *what)
{
    unsigned char hdr[GCOL_HEADER];
    uint64_t at = base + addr, len;
    if (addr > file_len || at > file_len - GCOL_HEADER ||
        pread(fd, hdr, GCOL_HEADER, (off_t)at) != GCOL_HEADER || memcmp(hdr, "GCOL", 4) != 0 ||
        hdr[4] != 1)
        return eng_error(ENG_EFORMAT,
                         "%s: %s refers to global heap offset %llu, which holds no "
                         "heap collection",
                         path, what, (unsigned long long)addr);
    len = le(hdr + 8, 8);
    if (len < GCOL_MIN || len > file_len - at)
        return eng_error(ENG_EFORMAT,
                         "%s: %s: the heap collection at %llu claims %llu bytes "
                         "(the file has %llu)",
                         path, what, (unsigned long long)addr, (unsigned long long)len,
                         (unsigned long long)file_len);
    unsigned char *c = malloc(len);
    if (!c)
        return eng_error(ENG_ENOMEM, "%s: out of memory", path);
    eng_status st = ENG_OK;
    bool found = false, seen0 = false;
    if (pread(fd, c, len, (off_t)at) != (ssize_t)len) {
        st = eng_error(ENG_EIO, "%s: cannot read the heap collection at %llu", path,
                       (unsigned long long)addr);
        goto done;
    }
    /* as H5HG__cache_heap_deserialize walks it, refusing what it would trust */
    for (uint64_t p = GCOL_HEADER; p < len;) {
        uint64_t left = len - p;
        if (left < GCOL_OBJHDR)
            break; /* a tail too small for an object: free space */
        uint32_t i = (uint32_t)le(c + p, 2);
        uint64_t osize = le(c + p + 8, 8), need;
        if (osize > left)
            need = UINT64_MAX;
        else
            need = i ? GCOL_OBJHDR + ((osize + 7) & ~(uint64_t)7) : osize;
        if (need < GCOL_OBJHDR || need > left || (i == 0 && seen0)) {
            st = eng_error(ENG_EFORMAT,
                           "%s: %s: the heap collection at %llu is corrupt (object "
                           "%u at %llu claims %llu bytes)",
                           path, what, (unsigned long long)addr, i, (unsigned long long)p,
                           (unsigned long long)osize);
            goto done;
        }
        seen0 = seen0 || i == 0;
        if (i == idx && i != 0) {
            if (found) {
                st = eng_error(ENG_EFORMAT,
                               "%s: %s: the heap collection at %llu holds object "
                               "%u twice",
                               path, what, (unsigned long long)addr, i);
                goto done;
            }
            found = true;
            *size = osize;
        }
        p += need;
    }
    if (!found)
        st = eng_error(ENG_EFORMAT,
                       "%s: %s refers to heap object %u, which the collection at "
                       "%llu does not hold",
                       path, what, idx, (unsigned long long)addr);
done:
    free(c);
    return st;
}

/* Checks the n references in raw against the file behind fd. */
static eng_status check_refs(int fd, uint64_t file_len, uint64_t base, const unsigned char *raw,
                             hssize_t n, const char *path, const char *what, int64_t *bytes)
{
    for (hssize_t k = 0; k < n; k++) {
        const unsigned char *r = raw + (size_t)k * REF_BYTES;
        uint64_t len = le(r, 4), addr = le(r + 4, 8), size = 0;
        uint32_t idx = (uint32_t)le(r + 12, 4);
        if (addr == 0) { /* HDF5's null string */
            if (len != 0)
                return eng_error(ENG_EFORMAT, "%s: %s: a null string claims %llu bytes", path, what,
                                 (unsigned long long)len);
            continue;
        }
        eng_status st = find_object(fd, file_len, base, addr, idx, &size, path, what);
        if (st)
            return st;
        if (size != len)
            return eng_error(ENG_EFORMAT,
                             "%s: %s: a string of %llu bytes is stored as a heap "
                             "object of %llu",
                             path, what, (unsigned long long)len, (unsigned long long)size);
        *bytes += (int64_t)len + 1;
    }
    return ENG_OK;
}

eng_status eng_h5_vlen_check(hid_t attr, const char *path, const char *what, int64_t max_bytes,
                             int64_t *bytes)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_raw);
    *bytes = 0;
    hid_t file = H5Iget_file_id(attr), fcpl = file >= 0 ? H5Fget_create_plist(file) : -1;
    hid_t space = H5Aget_space(attr), raw_type = -1;
    hsize_t base = 0;
    size_t sizeof_addr = 0, sizeof_size = 0;
    hssize_t n = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    unsigned char *raw = NULL;
    int fd = -1;
    eng_status st = ENG_OK;
    if (registered != 1 || fcpl < 0 || n < 0 || H5Pget_userblock(fcpl, &base) < 0 ||
        H5Pget_sizes(fcpl, &sizeof_addr, &sizeof_size) < 0) {
        st = eng_h5_error(ENG_EFORMAT, path, "cannot read %s", what);
        goto done;
    }
    if (sizeof_addr != 8 || sizeof_size != 8) {
        st = eng_error(ENG_EFORMAT,
                       "%s: %s: the file uses %zu-byte addresses (this engine "
                       "reads files with 8-byte ones)",
                       path, what, sizeof_addr);
        goto done;
    }
    if ((uint64_t)n > (uint64_t)max_bytes / REF_BYTES) {
        st = eng_error(ENG_EFORMAT, "%s: %s holds %lld strings", path, what, (long long)n);
        goto done;
    }
    raw = malloc((size_t)(n ? n : 1) * REF_BYTES);
    raw_type = H5Tcreate(H5T_OPAQUE, REF_BYTES);
    if (!raw || raw_type < 0 || H5Tset_tag(raw_type, RAW_TAG) < 0) {
        st = eng_error(ENG_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    if (H5Aread(attr, raw_type, raw) < 0) {
        st = eng_h5_error(ENG_EFORMAT, path, "cannot read the string references of %s", what);
        goto done;
    }
    struct stat sb;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0) {
        st = eng_error(ENG_EIO, "%s: cannot open it to check its heap", path);
        goto done;
    }
    st = check_refs(fd, (uint64_t)sb.st_size, base, raw, n, path, what, bytes);
    if (!st && *bytes > max_bytes)
        st = eng_error(ENG_EFORMAT, "%s: %s is larger than %lld bytes", path, what,
                       (long long)max_bytes);
done:
    if (fd >= 0)
        close(fd);
    free(raw);
    if (raw_type >= 0)
        H5Tclose(raw_type);
    if (space >= 0)
        H5Sclose(space);
    if (fcpl >= 0)
        H5Pclose(fcpl);
    if (file >= 0)
        H5Fclose(file);
    return st;
}

eng_status eng_h5_read_vlen_string(hid_t obj, const char *name, char **value)
{
    *value = NULL;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT), type = attr >= 0 ? H5Aget_type(attr) : -1;
    hid_t space = attr >= 0 ? H5Aget_space(attr) : -1, mtype = H5Tcopy(H5T_C_S1);
    char *s = NULL;
    eng_status st = ENG_OK;
    if (type < 0 || space < 0 || mtype < 0 || H5Tis_variable_str(type) <= 0 ||
        H5Sget_simple_extent_npoints(space) != 1 || H5Tset_size(mtype, H5T_VARIABLE) < 0 ||
        H5Tset_cset(mtype, H5Tget_cset(type)) < 0 || H5Aread(attr, mtype, &s) < 0)
        st = eng_h5_error(ENG_EFORMAT, eng_h5_file_of(obj), "cannot read attribute '%s' of %s",
                          name, eng_h5_path_of(obj));
    else if (!(*value = strdup(s ? s : "")))
        st = eng_error(ENG_ENOMEM, "out of memory");
    if (s)
        H5free_memory(s);
    if (mtype >= 0)
        H5Tclose(mtype);
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    if (attr >= 0)
        H5Aclose(attr);
    return st;
}
