/* In-memory datasets and mini-batches: samples x [N,...] (u8 or float) and labels y [N] (i64),
 * batches drawn through a permutation. */
#ifndef ENGINE_DATA_H
#define ENGINE_DATA_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include "tensor.h"

typedef struct eng_dataset {
    eng_tensor *x; /* [N,...] u8, f32 or f64 */
    eng_tensor *y; /* [N] i64 */
} eng_dataset;

/* Takes ownership of x and y (released by eng_dataset_free, also on error). */
ENG_MUST_CHECK eng_status eng_dataset_init(eng_dataset *ds, eng_tensor *x, eng_tensor *y);
void eng_dataset_free(eng_dataset *ds);

/* Fashion-MNIST (or MNIST) from a directory holding the four IDX .gz files:
 * split "train" or "test" -> x u8 [N,1,28,28], y i64 [N]. The header sizes are checked
 * (images and labels must agree). */
ENG_MUST_CHECK eng_status eng_dataset_load_mnist(eng_dataset *ds, const char *dir,
                                                 const char *split);

/* Fisher-Yates permutation of [0,n) into perm. */
void eng_permutation(int64_t *perm, int64_t n, eng_rng *rng);

/* Gathers samples indices[0..count) into x_out [count,...] (f32 or f64) as
 * (x * scale - mean) / std, and y_out [count] i64. */
ENG_MUST_CHECK eng_status eng_dataset_gather(const eng_dataset *ds, const int64_t *indices,
                                             int64_t count, double scale, double mean, double std,
                                             eng_tensor *x_out, eng_tensor *y_out);

#pragma GCC visibility pop

#endif
