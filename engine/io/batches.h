/* Mini-batches from an in-memory dataset or a streamed HDF5 split, with one set of options:
 * the iterator behind ds:batches() for both kinds of dataset.
 *
 *   eng_batch_options o = eng_batch_options_default(64, ds.x->dtype);
 *   o.shuffle = true;
 *   eng_batches *it;  eng_batches_new_memory(&ds, &o, NULL, &it);
 *   for (int64_t n; (n = eng_batches_next_size(it)) > 0;) {
 *       ... x [n,...] of o.dtype and y [n] i64, made or reused by the caller ...
 *       eng_batches_next(it, x, y);
 *   }
 *   eng_batches_free(it); */
#ifndef ENGINE_IO_BATCHES_H
#define ENGINE_IO_BATCHES_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include "../data.h"
#include "h5dataset.h"

typedef struct eng_batch_options {
    int64_t batch;           /* samples per batch, >= 1 */
    eng_dtype dtype;         /* of x: f32 or f64 */
    double scale, mean, std; /* x = (sample * scale - mean) / std: finite, std > 0 */
    bool shuffle;            /* samples in a random order drawn when the pass starts */
    bool drop_last;          /* no final short batch */
} eng_batch_options;

/* f32, no shuffle, mean 0, std 1, scale 1/255 for u8 samples (pixels to [0,1]) and 1 for
 * float ones. */
eng_batch_options eng_batch_options_default(int64_t batch, eng_dtype sample_dtype);
/* Refuses a bad option with its name and value ("batches: std = 0, expected std > 0"). */
ENG_MUST_CHECK eng_status eng_batch_options_check(const eng_batch_options *o);

typedef struct eng_batches eng_batches;

/* One pass over ds (borrowed: it must outlive the iterator; a dataset whose x was freed is
 * reported by eng_batches_next). rng NULL: the global generator. [out] *out. */
ENG_MUST_CHECK eng_status eng_batches_new_memory(const eng_dataset *ds, const eng_batch_options *o,
                                                 eng_rng *rng, eng_batches **out);
/* One pass over an HDF5 split, read chunk by chunk through a shuffle buffer of at most
 * memory_limit bytes (eng_h5stream). d must outlive the iterator. */
ENG_MUST_CHECK eng_status eng_batches_new_stream(eng_h5data *d, size_t memory_limit,
                                                 const eng_batch_options *o, eng_rng *rng,
                                                 eng_batches **out);
/* The options the iterator was made with. */
eng_batch_options eng_batches_options(const eng_batches *b);
/* The number of samples of the next batch; 0 when the pass is over. */
int64_t eng_batches_next_size(const eng_batches *b);
/* x's shape for a batch of n samples; returns its number of dimensions. */
int eng_batches_x_shape(const eng_batches *b, int64_t n, int64_t *shape);
/* Fills the next batch into x [n,...] (the options' dtype, contiguous) and y [n] i64, where
 * n = eng_batches_next_size: the caller may hand the same tensors every time. */
ENG_MUST_CHECK eng_status eng_batches_next(eng_batches *b, eng_tensor *x, eng_tensor *y);
void eng_batches_free(eng_batches *b);

#pragma GCC visibility pop

#endif
