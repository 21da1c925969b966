/* Indexing by tensors of positions, after PyTorch: index_select, gather, scatter_add and
 * one_hot.
 *
 * Dimensions are 0-based. Index tensors have dtype i64 or i32 and hold positions counted from
 * base: the Lua bindings pass 1 (Lua's positions), C callers 0. Every position is checked
 * before anything is written. [out] tensors are new, contiguous and owned by the caller. */
#ifndef ENGINE_TENSOR_INDEX_H
#define ENGINE_TENSOR_INDEX_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include "tensor.h"

/* out = t with dimension dim reduced to the positions in index [K]:
 * out [.., K, ..] with out[.., k, ..] = t[.., index[k], ..]. */
ENG_MUST_CHECK eng_status eng_tensor_index_select(const eng_tensor *t, int dim,
                                                  const eng_tensor *index, int64_t base,
                                                  eng_tensor **out);
/* out [shape of index] with out[i] = t[i with i[dim] replaced by index[i]]. index has t's
 * number of dimensions and no larger size than t outside dim (torch.gather). */
ENG_MUST_CHECK eng_status eng_tensor_gather(const eng_tensor *t, int dim, const eng_tensor *index,
                                            int64_t base, eng_tensor **out);
/* In place: t[i with i[dim] replaced by index[i]] += src[i] for every i of index, which has
 * t's number of dimensions, sizes no larger than src's, and than t's outside dim
 * (torch.Tensor.scatter_add_). src has t's dtype. */
ENG_MUST_CHECK eng_status eng_tensor_scatter_add(eng_tensor *t, int dim, const eng_tensor *index,
                                                 const eng_tensor *src, int64_t base);
/* out [shape of labels, classes] of dtype: 1 at each label's class, 0 elsewhere. Labels lie in
 * [base, base + classes). */
ENG_MUST_CHECK eng_status eng_tensor_one_hot(const eng_tensor *labels, int64_t classes,
                                             int64_t base, eng_dtype dtype, eng_tensor **out);

#pragma GCC visibility pop

#endif
