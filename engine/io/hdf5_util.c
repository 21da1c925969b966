#include "hdf5_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

/* ---- groups and names ----------------------------------------------------------------- */

hid_t eng_h5_group_create(hid_t loc, const char *name)
{
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    unsigned order = H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED;
    hid_t g = -1;
    if (gcpl >= 0 && H5Pset_link_creation_order(gcpl, order) >= 0 &&
        H5Pset_attr_creation_order(gcpl, order) >= 0)
        g = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    if (gcpl >= 0)
        H5Pclose(gcpl);
    return g;
}

bool eng_h5_exists(hid_t loc, const char *name)
{
    return H5Lexists(loc, name, H5P_DEFAULT) > 0;
}

static char *rotating_buffer(void)
{
    static _Thread_local char bufs[4][1024];
    static _Thread_local int next;
    return bufs[next++ & 3];
}

/* These two are called for messages, often as arguments of eng_h5_error: every HDF5 call
 * clears the error stack on entry, so they set it aside and put it back. */
const char *eng_h5_file_of(hid_t obj)
{
    char *buf = rotating_buffer();
    hid_t stack = H5Eget_current_stack();
    if (H5Fget_name(obj, buf, 1024) < 0)
        snprintf(buf, 1024, "(unknown file)");
    if (stack >= 0)
        H5Eset_current_stack(stack);
    return buf;
}

const char *eng_h5_path_of(hid_t obj)
{
    char *buf = rotating_buffer();
    hid_t stack = H5Eget_current_stack();
    if (H5Iget_name(obj, buf, 1024) <= 0)
        snprintf(buf, 1024, "(unnamed object)");
    if (stack >= 0)
        H5Eset_current_stack(stack);
    return buf;
}

/* ---- attribute writers ---------------------------------------------------------------- */

/* A fixed-length UTF-8 string type of size bytes, NUL-terminated. */
static hid_t string_type(size_t size)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t >= 0 && (H5Tset_size(t, size ? size : 1) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0 ||
                   H5Tset_strpad(t, H5T_STR_NULLTERM) < 0)) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

hid_t eng_h5_bool_type(void)
{
    hid_t t = H5Tenum_create(H5T_NATIVE_INT8);
    int8_t no = 0, yes = 1;
    if (t >= 0 && (H5Tenum_insert(t, "FALSE", &no) < 0 || H5Tenum_insert(t, "TRUE", &yes) < 0)) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/* Writes an attribute of n values (n < 0: scalar) of file type ftype from buf in mtype. */
static eng_status write_attr(hid_t obj, const char *name, hid_t ftype, hid_t mtype, int64_t n,
                             const void *buf)
{
    hsize_t dim = n < 0 ? 0 : (hsize_t)n;
    hid_t space = n < 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL);
    hid_t attr = -1;
    herr_t r = -1;
    if (space >= 0 && ftype >= 0 && mtype >= 0)
        attr = H5Acreate2(obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attr >= 0)
        r = H5Awrite(attr, mtype, buf);
    eng_status st = ENG_OK;
    if (r < 0)
        st = eng_h5_error(ENG_EIO, eng_h5_file_of(obj), "cannot write attribute '%s' of %s", name,
                          eng_h5_path_of(obj));
    if (attr >= 0)
        H5Aclose(attr);
    if (space >= 0)
        H5Sclose(space);
    return st;
}

eng_status eng_h5_write_string(hid_t obj, const char *name, const char *value)
{
    return eng_h5_write_strings(obj, name, &value, -1);
}

/* n < 0: one scalar string. The n strings are packed into one buffer of the longest one's size
 * (plus its NUL), the layout of a fixed-length string attribute. */
eng_status eng_h5_write_strings(hid_t obj, const char *name, const char *const *values, int n)
{
    int count = n < 0 ? 1 : n;
    size_t size = 1;
    for (int i = 0; i < count; i++)
        if (strlen(values[i]) + 1 > size)
            size = strlen(values[i]) + 1;
    char *buf = calloc((size_t)count ? (size_t)count : 1, size);
    if (!buf)
        return eng_error(ENG_ENOMEM, "%s: out of memory", eng_h5_file_of(obj));
    for (int i = 0; i < count; i++)
        memcpy(buf + (size_t)i * size, values[i], strlen(values[i]));
    hid_t t = string_type(size);
    eng_status st = write_attr(obj, name, t, t, n, buf);
    if (t >= 0)
        H5Tclose(t);
    free(buf);
    return st;
}

eng_status eng_h5_write_int64(hid_t obj, const char *name, int64_t value)
{
    return write_attr(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, -1, &value);
}

eng_status eng_h5_write_double(hid_t obj, const char *name, double value)
{
    return write_attr(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, -1, &value);
}

eng_status eng_h5_write_doubles(hid_t obj, const char *name, const double *values, int64_t n)
{
    return write_attr(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, n, values);
}

eng_status eng_h5_write_bool(hid_t obj, const char *name, bool value)
{
    hid_t t = eng_h5_bool_type();
    int8_t v = value;
    eng_status st = write_attr(obj, name, t, t, -1, &v);
    if (t >= 0)
        H5Tclose(t);
    return st;
}

/* ---- attribute readers ---------------------------------------------------------------- */

/* Opens attribute name of obj with its type and element count; ENG_EFORMAT when missing. */
static eng_status open_attr(hid_t obj, const char *name, hid_t *attr, hid_t *type, hssize_t *count)
{
    *attr = *type = -1;
    if (H5Aexists(obj, name) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return eng_error(ENG_EFORMAT, "%s: %s has no attribute '%s'", eng_h5_file_of(obj),
                         eng_h5_path_of(obj), name);
    }
    *attr = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t space = *attr >= 0 ? H5Aget_space(*attr) : -1;
    *type = space >= 0 ? H5Aget_type(*attr) : -1;
    *count = *type >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    eng_status st = ENG_OK;
    if (*count < 0)
        st = eng_h5_error(ENG_EFORMAT, eng_h5_file_of(obj), "cannot read attribute '%s' of %s",
                          name, eng_h5_path_of(obj));
    if (space >= 0)
        H5Sclose(space);
    if (st) {
        if (*type >= 0)
            H5Tclose(*type);
        if (*attr >= 0)
            H5Aclose(*attr);
        *attr = *type = -1;
    }
    return st;
}

static void close_attr(hid_t attr, hid_t type)
{
    if (type >= 0)
        H5Tclose(type);
    if (attr >= 0)
        H5Aclose(attr);
}

static eng_status attr_kind_error(hid_t obj, const char *name, hid_t type, hssize_t count,
                                  const char *expected)
{
    char got[64];
    eng_dtype d;
    eng_h5_dtype_of(type, &d, got, sizeof got);
    return eng_error(ENG_EFORMAT, "%s: attribute '%s' of %s is %lld x %s, expected %s",
                     eng_h5_file_of(obj), name, eng_h5_path_of(obj), (long long)count, got,
                     expected);
}

/* Reads count strings of the attribute into new malloc'ed strings. */
static eng_status read_string_values(hid_t obj, const char *name, hid_t attr, hid_t type,
                                     hssize_t count, char **out)
{
    eng_status st = ENG_OK;
    hid_t mtype = H5Tcopy(H5T_C_S1);
    if (mtype < 0 || H5Tset_cset(mtype, H5Tget_cset(type)) < 0)
        goto h5fail;
    if (H5Tis_variable_str(type) > 0) {
        /* their bytes live in HDF5's global heap, which carries no checksum */
        st = eng_error(ENG_EFORMAT,
                       "%s: attribute '%s' of %s is a variable-length string (this engine reads "
                       "fixed-length strings only)",
                       eng_h5_file_of(obj), name, eng_h5_path_of(obj));
        goto done;
    }
    /* one byte more than stored: a NUL-padded string of the full size (h5py writes
     * those) keeps its last character when converted to our NUL-terminated type */
    size_t size = H5Tget_size(type) + 1;
    char *tmp = calloc((size_t)(count ? count : 1), size);
    if (!tmp) {
        st = eng_error(ENG_ENOMEM, "out of memory");
        goto done;
    }
    if (H5Tset_size(mtype, size) < 0 || H5Aread(attr, mtype, tmp) < 0) {
        free(tmp);
        goto h5fail;
    }
    for (hssize_t i = 0; i < count; i++) {
        out[i] = strndup(tmp + (size_t)i * size, size);
        if (!out[i])
            st = eng_error(ENG_ENOMEM, "out of memory");
    }
    free(tmp);
    goto done;
h5fail:
    st = eng_h5_error(ENG_EFORMAT, eng_h5_file_of(obj), "cannot read attribute '%s' of %s", name,
                      eng_h5_path_of(obj));
done:
    if (mtype >= 0)
        H5Tclose(mtype);
    return st;
}

eng_status eng_h5_read_string(hid_t obj, const char *name, char **value)
{
    hid_t attr, type;
    hssize_t count;
    *value = NULL;
    eng_status st = open_attr(obj, name, &attr, &type, &count);
    if (st)
        return st;
    if (H5Tget_class(type) != H5T_STRING || count != 1)
        st = attr_kind_error(obj, name, type, count, "one string");
    else
        st = read_string_values(obj, name, attr, type, 1, value);
    close_attr(attr, type);
    return st;
}

eng_status eng_h5_read_strings(hid_t obj, const char *name, char ***values, int *n)
{
    hid_t attr, type;
    hssize_t count;
    *values = NULL;
    *n = 0;
    eng_status st = open_attr(obj, name, &attr, &type, &count);
    if (st)
        return st;
    if (H5Tget_class(type) != H5T_STRING) {
        st = attr_kind_error(obj, name, type, count, "strings");
    } else {
        char **v = calloc((size_t)(count ? count : 1), sizeof *v);
        if (!v)
            st = eng_error(ENG_ENOMEM, "out of memory");
        else
            st = read_string_values(obj, name, attr, type, count, v);
        if (st) {
            eng_h5_free_strings(v, (int)count);
        } else {
            *values = v;
            *n = (int)count;
        }
    }
    close_attr(attr, type);
    return st;
}

void eng_h5_free_strings(char **values, int n)
{
    for (int i = 0; values && i < n; i++)
        free(values[i]);
    free(values);
}

/* One number of class INTEGER (or FLOAT when floats is true), read as mtype into value. */
static eng_status read_number(hid_t obj, const char *name, hid_t mtype, bool floats, void *value,
                              const char *expected)
{
    hid_t attr, type;
    hssize_t count;
    eng_status st = open_attr(obj, name, &attr, &type, &count);
    if (st)
        return st;
    H5T_class_t cls = H5Tget_class(type);
    if (count != 1 || !(cls == H5T_INTEGER || (floats && cls == H5T_FLOAT)))
        st = attr_kind_error(obj, name, type, count, expected);
    else if (H5Aread(attr, mtype, value) < 0)
        st = eng_h5_error(ENG_EFORMAT, eng_h5_file_of(obj), "cannot read attribute '%s' of %s",
                          name, eng_h5_path_of(obj));
    close_attr(attr, type);
    return st;
}

eng_status eng_h5_read_int64(hid_t obj, const char *name, int64_t *value)
{
    return read_number(obj, name, H5T_NATIVE_INT64, false, value, "one integer");
}

eng_status eng_h5_read_double(hid_t obj, const char *name, double *value)
{
    return read_number(obj, name, H5T_NATIVE_DOUBLE, true, value, "one number");
}

/* ---- end-to-end checksums ------------------------------------------------------------ */

eng_status eng_h5_write_crc(hid_t dset, const void *data, size_t nbytes)
{
    return eng_h5_write_int64(dset, "crc32", (int64_t)crc32_z(0, data, nbytes));
}

eng_status eng_h5_check_crc(hid_t dset, const char *path, const char *where, const void *data,
                            size_t nbytes, bool required)
{
    if (H5Aexists(dset, "crc32") <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return required ? eng_error(ENG_EFORMAT, "%s: %s has no checksum of its data ('crc32')",
                                    path, where)
                        : ENG_OK;
    }
    int64_t stored;
    eng_status st = eng_h5_read_int64(dset, "crc32", &stored);
    if (st)
        return st;
    uint32_t crc = (uint32_t)crc32_z(0, data, nbytes);
    if ((int64_t)crc != stored)
        return eng_error(ENG_EFORMAT,
                         "%s: %s is corrupt: its data have CRC-32 %08x, the file records %08llx",
                         path, where, crc, (unsigned long long)stored);
    return ENG_OK;
}

/* ---- dtypes --------------------------------------------------------------------------- */

hid_t eng_h5_native(eng_dtype dtype)
{
    switch (dtype) {
    case ENG_F32: return H5T_NATIVE_FLOAT;
    case ENG_F64: return H5T_NATIVE_DOUBLE;
    case ENG_U8: return H5T_NATIVE_UINT8;
    case ENG_I32: return H5T_NATIVE_INT32;
    default: return H5T_NATIVE_INT64;
    }
}

hid_t eng_h5_file_type(eng_dtype dtype)
{
    switch (dtype) {
    case ENG_F32: return H5T_IEEE_F32LE;
    case ENG_F64: return H5T_IEEE_F64LE;
    case ENG_U8: return H5T_STD_U8LE;
    case ENG_I32: return H5T_STD_I32LE;
    default: return H5T_STD_I64LE;
    }
}

bool eng_h5_dtype_of(hid_t type, eng_dtype *dtype, char *name, size_t size)
{
    char buf[64];
    size_t bytes = H5Tget_size(type);
    bool ok = false;
    switch (H5Tget_class(type)) {
    case H5T_FLOAT:
        ok = bytes == 4 || bytes == 8;
        *dtype = bytes == 4 ? ENG_F32 : ENG_F64;
        if (ok)
            snprintf(buf, sizeof buf, "%s", eng_dtype_name(*dtype));
        else
            snprintf(buf, sizeof buf, "float%zu", 8 * bytes);
        break;
    case H5T_INTEGER: {
        bool is_signed = H5Tget_sign(type) == H5T_SGN_2;
        if (!is_signed && bytes == 1)
            *dtype = ENG_U8, ok = true;
        else if (is_signed && bytes == 4)
            *dtype = ENG_I32, ok = true;
        else if (is_signed && bytes == 8)
            *dtype = ENG_I64, ok = true;
        if (ok)
            snprintf(buf, sizeof buf, "%s", eng_dtype_name(*dtype));
        else
            snprintf(buf, sizeof buf, "%sint%zu", is_signed ? "" : "u", 8 * bytes);
        break;
    }
    case H5T_STRING: snprintf(buf, sizeof buf, "string"); break;
    case H5T_ENUM: snprintf(buf, sizeof buf, "enum"); break;
    case H5T_COMPOUND: snprintf(buf, sizeof buf, "compound"); break;
    default: snprintf(buf, sizeof buf, "an unsupported HDF5 type"); break;
    }
    if (name)
        snprintf(name, size, "%s", buf);
    return ok;
}
