/* Opening a sweep results file of either format (results.h): format 2 after the engine header's
 * CRC-32, the version, and the audit with a digest on every object; format 1 (written before
 * 30 Nov 2026) after the same audit of structure, types and sizes without the digests, which
 * those files never had. Format 1 files come in two kinds: those written from 30 Nov 05:12 carry
 * the engine header (its whole-file CRC-32 is checked) and fixed-length strings; the older ones
 * have neither, and their variable-length strings are checked against the global heap before
 * HDF5 reads them (hdf5_vlen.c). */
#include <stdlib.h>
#include <string.h>

#include "hdf5_util.h"
#include "results_impl.h"

/* What the audit of a format-1 file accepts: the limits of format 2 minus the digests. */
static const eng_h5_limits legacy_limits = {
    .max_depth = 24,
    .max_objects = 1 << 16,
    .max_attr_bytes = 64 << 20,
    .max_bytes = INT64_MAX / 2,
    .digests = false,
    .compression = false,
    .attributes = true,
    .vlen_strings = true,
};

static eng_status read_version(hid_t file, const char *path, int64_t *version)
{
    htri_t has = H5Aexists(file, "version");
    if (has < 0)
        return eng_h5_error(ENG_EFORMAT, path, "cannot read the root group's attributes");
    if (!has)
        return eng_error(ENG_EFORMAT, "%s: not a sweep results file (no 'version' attribute)",
                         path);
    return eng_h5_read_int64(file, "version", version);
}

/* Checks the root's format attribute (vlen: it may be a variable-length string, already
 * checked by the audit). */
static eng_status check_format(hid_t file, const char *path, bool vlen)
{
    if (H5Aexists(file, "format") <= 0)
        return eng_error(ENG_EFORMAT, "%s: not a sweep results file (no 'format' attribute)", path);
    char *format = NULL;
    hid_t attr = H5Aopen(file, "format", H5P_DEFAULT), type = attr >= 0 ? H5Aget_type(attr) : -1;
    bool variable = type >= 0 && H5Tis_variable_str(type) > 0;
    if (type >= 0)
        H5Tclose(type);
    if (attr >= 0)
        H5Aclose(attr);
    eng_status st = vlen && variable ? eng_h5_read_vlen_string(file, "format", &format)
                                     : eng_h5_read_string(file, "format", &format);
    if (!st && strcmp(format, ENG_RESULTS_FORMAT) != 0)
        st = eng_error(ENG_EFORMAT,
                       "%s: not a sweep results file: 'format' is '%s', expected "
                       "'%s'",
                       path, format, ENG_RESULTS_FORMAT);
    free(format);
    return st;
}

/* A file with the engine header: the version before the audit, as checkpoints do (the header
 * check passed, and the integer reader reads nothing from the heap). */
static eng_status open_with_header(const char *path, hid_t file, int64_t *version)
{
    eng_status st = read_version(file, path, version);
    if (!st && *version == ENG_RESULTS_VERSION)
        st = eng_h5_audit(file, path, &eng_h5_checkpoint_limits);
    else if (!st && *version == 1)
        st = eng_h5_audit(file, path, &legacy_limits);
    else if (!st)
        st = eng_error(ENG_EFORMAT,
                       "%s: sweep results format version %lld, this engine reads "
                       "%d (and 1)",
                       path, (long long)*version, ENG_RESULTS_VERSION);
    return st;
}

/* A file without it: only format 1 files written before 30 Nov 05:12 lack it. The audit
 * comes first, before anything is read. */
static eng_status open_without_header(const char *path, hid_t file, int64_t *version)
{
    eng_status st = eng_h5_audit(file, path, &legacy_limits);
    if (!st)
        st = read_version(file, path, version);
    if (!st && *version != 1)
        st = eng_error(ENG_EFORMAT,
                       "%s: sweep results format version %lld without the engine's "
                       "header (only version 1 files were written without it)",
                       path, (long long)*version);
    return st;
}

eng_status eng_results_open(const char *path, hid_t *file, eng_results_info *info)
{
    *file = -1;
    memset(info, 0, sizeof *info);
    bool header = eng_h5_header_present(path);
    int64_t version = 0;
    eng_status st = header ? eng_h5_header_check(path, "sweep results file") : ENG_OK;
    if (!st)
        st = eng_h5_open(path, "sweep results", file);
    if (!st)
        st = header ? open_with_header(path, *file, &version)
                    : open_without_header(path, *file, &version);
    if (!st)
        st = check_format(*file, path, version == 1);
    if (st) {
        if (*file >= 0)
            H5Fclose(*file);
        *file = -1;
        return st;
    }
    info->version = (int)version;
    info->checksummed = version == ENG_RESULTS_VERSION;
    info->file_crc = header;
    return ENG_OK;
}
