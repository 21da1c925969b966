/* HDF5 datasets (DESIGN.md, "HDF5 formats"): samples /<split>/x [N,...] (uint8, float32 or
 * float64) and labels /<split>/y [N] (int64), chunked along N with the shuffle and deflate
 * filters; root attributes format="engine-dataset", version=1, classes and source.
 *
 * Reading: a split that fits in memory is read whole (eng_h5data_load) and shuffled there;
 * a larger one streams chunk by chunk through a shuffle buffer of bounded size (eng_h5stream),
 * since reading random rows one by one is about 50x slower. Any HDF5 file works when the
 * caller names its two datasets (labels of any integer type). */
#ifndef ENGINE_IO_H5DATASET_H
#define ENGINE_IO_H5DATASET_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../data.h"

#define ENG_DATASET_FORMAT "engine-dataset"

/* ---- writing ---- */

typedef struct eng_h5data_split {
    const char *name;    /* "train": the group */
    const eng_tensor *x; /* [N,...] u8, f32 or f64 */
    const eng_tensor *y; /* [N] integer labels, stored as int64 */
} eng_h5data_split;

typedef struct eng_h5data_write_options {
    const char *const *classes; /* [optional] class names, attribute classes */
    int nclasses;
    const char *source; /* [optional] where the data came from, attribute source */
    int level;          /* deflate level 1..9; 0: 4 */
    int64_t chunk_rows; /* samples per chunk; 0: about 512 KiB of samples */
} eng_h5data_write_options;

/* Writes the splits into a new file at path, atomically (as checkpoints: "<path>.tmp", fsync,
 * rename, fsync of the directory). opts [optional]. */
ENG_MUST_CHECK eng_status eng_h5data_write(const char *path, const eng_h5data_split *splits,
                                           int nsplits, const eng_h5data_write_options *opts);

/* ---- reading ---- */

typedef struct eng_h5data eng_h5data;

typedef struct eng_h5data_info {
    int64_t n;                   /* samples */
    int ndim;                    /* x's dimensions, N included */
    int64_t shape[ENG_MAX_DIMS]; /* x's shape */
    eng_dtype dtype;             /* x's dtype: u8, f32 or f64 */
    int64_t chunk_rows;          /* x's chunk length along N, at most n (contiguous data:
                                  * about 1 MiB, the unit in which it is read) */
    bool chunked;                /* x is stored in chunks (else contiguous) */
    size_t sample_bytes;         /* one sample of x */
    size_t bytes;                /* x and y (as int64) in memory */
} eng_h5data_info;

/* Opens samples x_name and labels y_name ("/train/x", "/train/y") of path and checks them:
 * both exist, x is [N,...] of u8/f32/f64, y is [N] of an integer type. Errors name the file,
 * the dataset, its shape and dtype. [out] *out: free with eng_h5data_close. */
ENG_MUST_CHECK eng_status eng_h5data_open(const char *path, const char *x_name, const char *y_name,
                                          eng_h5data **out);
const eng_h5data_info *eng_h5data_info_of(const eng_h5data *d);
/* Reads the whole split into ds (new tensors: x of the file's dtype, y i64). */
ENG_MUST_CHECK eng_status eng_h5data_load(eng_h5data *d, eng_dataset *ds);
/* Reads samples [start, start + count) into x (count * sample_bytes) and y (count int64). */
ENG_MUST_CHECK eng_status eng_h5data_read(eng_h5data *d, int64_t start, int64_t count, void *x,
                                          int64_t *y);
void eng_h5data_close(eng_h5data *d);

/* One pass over a split in batches, reading it chunk by chunk. With shuffle, the chunks come
 * in a random order and each batch draws its samples at random from a buffer of whole chunks
 * holding at most memory_limit bytes (its sample rows and labels; at least one chunk must
 * fit, though contiguous data is read in blocks of whatever size fits); without shuffle the
 * samples come in order. Randomness from rng (NULL: the global
 * generator). d must outlive the stream. [out] *out: free with eng_h5stream_free. */
typedef struct eng_h5stream eng_h5stream;
ENG_MUST_CHECK eng_status eng_h5stream_new(eng_h5data *d, bool shuffle, size_t memory_limit,
                                           eng_rng *rng, eng_h5stream **out);
/* The next batch of up to batch samples, as new tensors: x [B,...] in dtype (f32 or f64),
 * (sample * scale - mean) / std, and y [B] i64. *x and *y are NULL after the last batch (and
 * instead of a final short one when drop_last). */
ENG_MUST_CHECK eng_status eng_h5stream_next(eng_h5stream *s, int64_t batch, bool drop_last,
                                            eng_dtype dtype, double scale, double mean, double std,
                                            eng_tensor **x, eng_tensor **y);
/* The size of the next batch of at most batch samples: 0 when the pass is over (or, with
 * drop_last, when only a short batch is left). */
int64_t eng_h5stream_next_size(const eng_h5stream *s, int64_t batch, bool drop_last);
/* Fills x [B,...] (f32 or f64, contiguous) and y [B] i64 with the next B samples, B = x's first
 * size (at most what is left: see eng_h5stream_next_size); allocates nothing once warm. */
ENG_MUST_CHECK eng_status eng_h5stream_next_into(eng_h5stream *s, double scale, double mean,
                                                 double std, eng_tensor *x, eng_tensor *y);
/* The buffer's capacity in samples (0 without shuffle). */
int64_t eng_h5stream_buffer_rows(const eng_h5stream *s);
void eng_h5stream_free(eng_h5stream *s);

#pragma GCC visibility pop

#endif
