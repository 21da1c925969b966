/* Internal to tensor_*.c: a walk over the elements of up to four broadcast operands, row by
 * row, for the strided kernels. Not part of the public API. */
#ifndef ENGINE_TENSOR_ITER_H
#define ENGINE_TENSOR_ITER_H

#include "tensor.h"

#define ENG_ITER_MAX_OPS 4

typedef struct eng_iter {
    int ndim; /* the walked shape; >= 1 after eng_iter_coalesce */
    int64_t shape[ENG_MAX_DIMS];
    int nops;
    char *data[ENG_ITER_MAX_OPS]; /* first element of each operand */
    size_t esize[ENG_ITER_MAX_OPS];
    int64_t strides[ENG_ITER_MAX_OPS][ENG_MAX_DIMS]; /* in elements; 0 where broadcast */
} eng_iter;

/* fn(ctx, p, s, n): n elements of each operand k at p[k] + i * s[k] * esize[k]. */
typedef void (*eng_iter_fn)(void *ctx, char **p, const int64_t *s, int64_t n);

void eng_iter_init(eng_iter *it, int ndim, const int64_t *shape);
/* An operand of ndim <= it->ndim dimensions aligned to the trailing ones; a size-1 or missing
 * dimension repeats (stride 0). The shapes must broadcast (checked by the caller). */
void eng_iter_add(eng_iter *it, char *data, size_t esize, int ndim, const int64_t *shape,
                  const int64_t *strides);
void eng_iter_add_tensor(eng_iter *it, const eng_tensor *t);
/* One value repeated everywhere. */
void eng_iter_add_scalar(eng_iter *it, void *value, size_t esize);
/* Drops size-1 dimensions and merges dimensions that every operand steps through
 * contiguously, so that rows are as long as possible. */
void eng_iter_coalesce(eng_iter *it);
void eng_iter_run(const eng_iter *it, eng_iter_fn fn, void *ctx);

#endif
