/* HDF5 plumbing shared by checkpoints and datasets (internal to engine/io): atomic file
 * creation, opening with clear errors, groups with creation order tracked, attributes
 * (fixed-length UTF-8 strings, numbers, h5py-compatible booleans) and dtype mapping.
 *
 * Every function reports failures through eng_h5_error (one line naming the file and object). */
#ifndef ENGINE_IO_HDF5_UTIL_H
#define ENGINE_IO_HDF5_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include <hdf5.h>

#include "../tensor.h"
#include "hdf5_error.h"

/* A file being written under a temporary name. */
typedef struct eng_h5_writer {
    hid_t file; /* < 0 when none: an in-memory HDF5 file (core driver) */
    int fd;     /* the temporary file, written from the file's image at commit */
    char *path; /* the real name */
    char *tmp;  /* "<path>.tmp" */
} eng_h5_writer;

/* Creates "<path>.tmp" (replacing a leftover one) with library format bounds V18..LATEST and
 * creation order tracked on the root group. what names the file's role in messages
 * ("checkpoint"). On failure the writer is left empty. */
ENG_MUST_CHECK eng_status eng_h5_create(eng_h5_writer *w, const char *path, const char *what);
/* Closes the file, writes its image to "<path>.tmp", fsyncs it, renames it over path and fsyncs
 * the directory (HDF5 itself never fsyncs), so that path holds either its old content or the
 * complete new file. The image is held in memory twice meanwhile (HDF5's and the copy). The
 * writer is emptied in every case; on failure the temporary file is removed. */
ENG_MUST_CHECK eng_status eng_h5_commit(eng_h5_writer *w);
/* Closes and removes the temporary file; nothing on an empty writer. */
void eng_h5_abort(eng_h5_writer *w);

/* Opens an existing file read-only. A missing path, a directory, a truncated, corrupt or
 * locked file each give one clear line. [out] *file. */
ENG_MUST_CHECK eng_status eng_h5_open(const char *path, const char *what, hid_t *file);

/* A new group with link and attribute creation order tracked and indexed; < 0 on failure. */
hid_t eng_h5_group_create(hid_t loc, const char *name);
/* Whether loc has a link name (a direct child). */
bool eng_h5_exists(hid_t loc, const char *name);
/* The file name and the object's path, for messages: "<file>", "/model/conv2d_1". Static
 * rotating buffers. */
const char *eng_h5_file_of(hid_t obj);
const char *eng_h5_path_of(hid_t obj);

/* Attribute writers: scalar or 1-D attributes on obj. Strings are fixed-length UTF-8 (no
 * global heap: its objects carry no checksum), NUL-terminated and sized to the longest one;
 * booleans use h5py's enum (int8, FALSE = 0, TRUE = 1) so that h5py reads numpy.bool_. */
ENG_MUST_CHECK eng_status eng_h5_write_string(hid_t obj, const char *name, const char *value);
ENG_MUST_CHECK eng_status eng_h5_write_strings(hid_t obj, const char *name,
                                               const char *const *values, int n);
ENG_MUST_CHECK eng_status eng_h5_write_int64(hid_t obj, const char *name, int64_t value);
ENG_MUST_CHECK eng_status eng_h5_write_double(hid_t obj, const char *name, double value);
ENG_MUST_CHECK eng_status eng_h5_write_doubles(hid_t obj, const char *name, const double *values,
                                               int64_t n);
ENG_MUST_CHECK eng_status eng_h5_write_bool(hid_t obj, const char *name, bool value);
/* The enum type used for booleans (close with H5Tclose). */
hid_t eng_h5_bool_type(void);

/* Attribute readers. A missing attribute or one of the wrong kind is ENG_EFORMAT with a message
 * naming the file, object and attribute. Strings may be variable or fixed length.
 * [out] *value malloc'ed (free()); string lists: free with eng_h5_free_strings. */
ENG_MUST_CHECK eng_status eng_h5_read_string(hid_t obj, const char *name, char **value);
ENG_MUST_CHECK eng_status eng_h5_read_strings(hid_t obj, const char *name, char ***values, int *n);
void eng_h5_free_strings(char **values, int n);
ENG_MUST_CHECK eng_status eng_h5_read_int64(hid_t obj, const char *name, int64_t *value);
ENG_MUST_CHECK eng_status eng_h5_read_double(hid_t obj, const char *name, double *value);

/* Our own end-to-end check of a dataset's bytes: attribute crc32 (zlib's CRC-32 of the
 * little-endian data). HDF5's chunk index (a version 1 B-tree in V18 files) has no checksum,
 * and a flipped bit there can point a read elsewhere or turn the Fletcher-32 filter off; the
 * CRC catches that too. eng_h5_check_crc refuses a dataset without the attribute when required,
 * and passes it otherwise. */
ENG_MUST_CHECK eng_status eng_h5_write_crc(hid_t dset, const void *data, size_t nbytes);
ENG_MUST_CHECK eng_status eng_h5_check_crc(hid_t dset, const char *path, const char *where,
                                           const void *data, size_t nbytes, bool required);

/* The HDF5 memory type of a dtype (predefined, do not close). */
hid_t eng_h5_native(eng_dtype dtype);
/* The little-endian type a dtype is stored as in files (predefined, do not close). */
hid_t eng_h5_file_type(eng_dtype dtype);
/* The dtype a stored type maps to exactly; false when none (then *name says what it is:
 * "int16", "string", ...). name [optional] receives a short description either way. */
bool eng_h5_dtype_of(hid_t type, eng_dtype *dtype, char *name, size_t size);

/* ---- the engine's header (hdf5_header.c): the 512-byte HDF5 user block of every file the
 * engine writes, holding the file's length and the CRC-32 of the rest ---- */
#define ENG_H5_HEADER_SIZE 512
/* Fills header (ENG_H5_HEADER_SIZE bytes) for a file made of it and the HDF5 image that follows
 * (size bytes: what H5Fget_file_image gives, from the superblock on). */
void eng_h5_header_fill(unsigned char *header, const unsigned char *image, size_t size);
/* Whether path starts with the header's magic bytes. */
bool eng_h5_header_present(const char *path);
/* Checks path's header, length and CRC-32 before HDF5 reads it; one line naming path and what
 * ("checkpoint") on failure. */
ENG_MUST_CHECK eng_status eng_h5_header_check(const char *path, const char *what);
/* Recomputes the header of a file changed in place (tools and tests that edit a file with HDF5
 * and want it to stay loadable: together with eng_h5_seal). */
ENG_MUST_CHECK eng_status eng_h5_header_rewrite(const char *path);

/* ---- untrusted files (hdf5_audit.c) ---- */

/* What a reader accepts from a file it did not write. */
typedef struct eng_h5_limits {
    int max_depth;          /* groups below the root */
    int64_t max_objects;    /* groups and datasets; also links per group, attributes per object */
    int64_t max_attr_bytes; /* one attribute's values */
    int64_t max_bytes;      /* all datasets and attributes together (uncompressed files: at
                             * most the file's size too) */
    bool digests;           /* every object carries "attrs_crc32", every dataset "crc32" */
    bool compression;       /* shuffle and deflate allowed (else only Fletcher-32) */
    bool attributes;        /* every attribute's type and size checked as with digests, but
                             * no digest required (files written before the digests) */
    bool vlen_strings;      /* with attributes: variable-length string attributes allowed,
                             * each reference checked against the global heap (hdf5_vlen.c) */
} eng_h5_limits;
extern const eng_h5_limits eng_h5_checkpoint_limits, eng_h5_dataset_limits;

/* Walks every object of file once before anything is read from it, and refuses (ENG_EFORMAT,
 * one line naming path and the object) soft, external and user-defined links, an object reached
 * twice, external storage, virtual datasets, committed datatypes, other filters, variable-length
 * and other unused types, anything beyond lim, and (lim->digests) a missing or wrong checksum. */
ENG_MUST_CHECK eng_status eng_h5_audit(hid_t file, const char *path, const eng_h5_limits *lim);
/* Writes attribute "attrs_crc32" on every object of file being written (replacing any): the
 * CRC-32 of its attributes other than "crc32" and itself, in name order, each as its name, NUL,
 * a type letter (s, i, f, b), the uint64 count and the values (strings up to their NUL then a
 * NUL, integers as int64, floats as float64, booleans as one byte), all little-endian. */
ENG_MUST_CHECK eng_status eng_h5_seal(hid_t file, const char *path);

/* ---- variable-length strings of older files (hdf5_vlen.c) ---- */

/* Checks every reference of variable-length string attribute attr against the global heap of
 * the file at path (the collection it names parses as HDF5 will parse it and holds an object of
 * exactly the stored length); *bytes receives the strings' total size, at most max_bytes. what
 * names the attribute in messages. */
ENG_MUST_CHECK eng_status eng_h5_vlen_check(hid_t attr, const char *path, const char *what,
                                            int64_t max_bytes, int64_t *bytes);
/* Reads scalar variable-length string attribute name of obj: only after eng_h5_vlen_check (the
 * audit with vlen_strings) passed it. [out] *value malloc'ed. */
ENG_MUST_CHECK eng_status eng_h5_read_vlen_string(hid_t obj, const char *name, char **value);

/* Metadata trees (meta.c): writes table t into group g (values as attributes, tables as
 * subgroups), or adds g's attributes (and with recurse its subgroups) to t; attribute types a
 * tree cannot hold are skipped. */
typedef struct eng_meta eng_meta;
ENG_MUST_CHECK eng_status eng_h5_write_meta(hid_t g, const eng_meta *t);
ENG_MUST_CHECK eng_status eng_h5_read_meta(hid_t g, eng_meta *t, bool recurse);
/* The same for a file that passed the audit with vlen_strings: variable-length string
 * attributes are read too. */
ENG_MUST_CHECK eng_status eng_h5_read_meta_vlen(hid_t g, eng_meta *t, bool recurse);

#endif
