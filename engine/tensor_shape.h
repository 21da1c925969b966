/* Tensor creation (arange, linspace, eye) and shape operations after PyTorch: transpose,
 * permute, squeeze/unsqueeze, expand, contiguous, flatten, cat and stack.
 *
 * Dimensions are 0-based here (the Lua bindings convert). Functions named as views return a
 * new header sharing t's storage; the others return new contiguous tensors. In every case
 * [out] *out is owned by the caller and is NULL on failure. Any dtype is accepted. */
#ifndef ENGINE_TENSOR_SHAPE_H
#define ENGINE_TENSOR_SHAPE_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include "tensor.h"

/* [ceil((end - start) / step)] with element i = start + i * step (computed in double, as
 * torch.arange does for floating dtypes). step must be non-zero and point from start to end. */
ENG_MUST_CHECK eng_status eng_tensor_arange(eng_dtype dtype, double start, double end, double step,
                                            eng_tensor **out);
/* [steps] from start to end inclusive, torch.linspace's formula: start + i * step for the first
 * half, end - (steps - 1 - i) * step for the rest, in the dtype's precision. */
ENG_MUST_CHECK eng_status eng_tensor_linspace(eng_dtype dtype, double start, double end,
                                              int64_t steps, eng_tensor **out);
/* [n,m] with ones on the diagonal. */
ENG_MUST_CHECK eng_status eng_tensor_eye(eng_dtype dtype, int64_t n, int64_t m, eng_tensor **out);

/* View with dimensions d0 and d1 swapped. */
ENG_MUST_CHECK eng_status eng_tensor_transpose(const eng_tensor *t, int d0, int d1,
                                               eng_tensor **out);
/* View whose dimension d is t's dimension dims[d]; dims is a permutation of 0..ndim-1. */
ENG_MUST_CHECK eng_status eng_tensor_permute(const eng_tensor *t, const int *dims,
                                             eng_tensor **out);
/* View without dimension dim if its size is 1 (else an unchanged view); dim -1: every size-1
 * dimension removed. */
ENG_MUST_CHECK eng_status eng_tensor_squeeze(const eng_tensor *t, int dim, eng_tensor **out);
/* View with a new size-1 dimension at dim, in [0, ndim]. */
ENG_MUST_CHECK eng_status eng_tensor_unsqueeze(const eng_tensor *t, int dim, eng_tensor **out);
/* View of t broadcast to shape (ndim >= t->ndim): sizes of 1 repeat with stride 0, -1 keeps
 * t's size; new leading dimensions are added. Writing through it writes shared elements. */
ENG_MUST_CHECK eng_status eng_tensor_expand(const eng_tensor *t, int ndim, const int64_t *shape,
                                            eng_tensor **out);
/* t itself as a view when contiguous, else a contiguous copy. */
ENG_MUST_CHECK eng_status eng_tensor_contiguous(const eng_tensor *t, eng_tensor **out);
/* Dimensions first..last (inclusive) merged into one: a view when possible, else a copy. */
ENG_MUST_CHECK eng_status eng_tensor_flatten(const eng_tensor *t, int first, int last,
                                             eng_tensor **out);

/* n tensors of one dtype and ndim, equal sizes except along dim, joined along dim. */
ENG_MUST_CHECK eng_status eng_tensor_cat(int n, const eng_tensor *const *ts, int dim,
                                         eng_tensor **out);
/* n tensors of one dtype and shape, joined along a new dimension dim in [0, ndim]. */
ENG_MUST_CHECK eng_status eng_tensor_stack(int n, const eng_tensor *const *ts, int dim,
                                           eng_tensor **out);

#pragma GCC visibility pop

#endif
