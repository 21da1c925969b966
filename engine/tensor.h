/* Tensors: a dtype, up to ENG_MAX_DIMS dimensions, strides in elements, and a refcounted
 * storage that views share.
 *
 * Layout is row-major; images are NCHW as in PyTorch. A tensor header is owned by one owner
 * and freed with eng_tensor_release(); the storage lives until its last view is released. */
#ifndef ENGINE_TENSOR_H
#define ENGINE_TENSOR_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "error.h"
#include "rng.h"

#define ENG_MAX_DIMS 8

typedef struct eng_storage {
    void *data;
    size_t nbytes;
    int refcount;
} eng_storage;

typedef struct eng_tensor {
    eng_dtype dtype;
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    int64_t strides[ENG_MAX_DIMS]; /* in elements */
    int64_t offset;                /* in elements, into storage */
    eng_storage *storage;
} eng_tensor;

/* "f32", "f64", "u8", "i32", "i64". */
const char *eng_dtype_name(eng_dtype dtype);
/* Parses a dtype name; accepts "float32"/"float"/"float64"/"double" too. */
ENG_MUST_CHECK eng_status eng_dtype_parse(const char *name, eng_dtype *out);
size_t eng_dtype_size(eng_dtype dtype);
bool eng_dtype_is_float(eng_dtype dtype);

/* [out] *numel = the product of the sizes (numel may be NULL). ENG_ESHAPE when ndim is out of
 * [0, ENG_MAX_DIMS] or a size is negative, ENG_ENOMEM when the product of the non-zero sizes
 * overflows int64. */
ENG_MUST_CHECK eng_status eng_shape_numel(int ndim, const int64_t *shape, int64_t *numel);
/* ENG_EARG unless v converts to dtype without overflow (NaN fits only f32/f64); the message
 * starts with what and names the value and the dtype. */
ENG_MUST_CHECK eng_status eng_value_check(double v, eng_dtype dtype, const char *what);

/* A new contiguous tensor filled with zeros. ndim in [0, ENG_MAX_DIMS], every size >= 0.
 * [out] *out is owned by the caller. */
ENG_MUST_CHECK eng_status eng_tensor_new(eng_dtype dtype, int ndim, const int64_t *shape,
                                         eng_tensor **out);
/* Same as eng_tensor_new with the dtype and shape of like. */
ENG_MUST_CHECK eng_status eng_tensor_new_like(const eng_tensor *like, eng_tensor **out);
/* Frees the header and drops one reference to the storage. NULL is accepted. */
void eng_tensor_release(eng_tensor *t);

/* Makes *slot a contiguous tensor of this dtype and shape, reusing it when it already is one
 * (then the content is kept, not cleared), or reshaping it in place when its storage is large
 * enough (then the content is unspecified). Used for buffers that live across steps and are
 * overwritten before they are read. */
ENG_MUST_CHECK eng_status eng_tensor_ensure(eng_tensor **slot, eng_dtype dtype, int ndim,
                                            const int64_t *shape);

/* Bytes of tensor storage allocated since the process started (never decreases): lets a
 * garbage-collected host pace its collector by the memory its small handles hold. */
uint64_t eng_tensor_bytes_allocated(void);

int64_t eng_tensor_numel(const eng_tensor *t);
bool eng_tensor_is_contiguous(const eng_tensor *t);
bool eng_tensor_same_shape(const eng_tensor *a, const eng_tensor *b);
/* Pointer to the first element (storage + offset). */
void *eng_tensor_data(const eng_tensor *t);
#define ENG_F32_DATA(t) ((float *)eng_tensor_data(t))
#define ENG_F64_DATA(t) ((double *)eng_tensor_data(t))

/* The shape as "[64,1,28,28]" in one of eight rotating per-thread buffers, so that one message
 * can name several shapes. */
const char *eng_tensor_shape_str(const eng_tensor *t);
const char *eng_shape_str(int ndim, const int64_t *shape);

/* Views. Each returns a new header sharing t's storage; [out] *out owned by the caller. */
ENG_MUST_CHECK eng_status eng_tensor_view(const eng_tensor *t, eng_tensor **out);
ENG_MUST_CHECK eng_status eng_tensor_narrow(const eng_tensor *t, int dim, int64_t start,
                                            int64_t length, eng_tensor **out);
ENG_MUST_CHECK eng_status eng_tensor_select(const eng_tensor *t, int dim, int64_t index,
                                            eng_tensor **out);
/* Rows [start, start + length) of dimension 0, as a header on the stack that BORROWS t's
 * storage (no reference is taken): never release it, and use it only while t lives. For the
 * threads that split a batch, which must not touch shared reference counts. start and length
 * must lie inside t (not checked). */
eng_tensor eng_tensor_rows(const eng_tensor *t, int64_t start, int64_t length);
/* A view of t with another shape of as many elements; one size may be -1 (inferred). Fails
 * with ENG_ESTATE when t's strides admit no such view (PyTorch's view rule), e.g. a narrowed
 * column block read as one row. */
ENG_MUST_CHECK eng_status eng_tensor_reshape(const eng_tensor *t, int ndim, const int64_t *shape,
                                             eng_tensor **out);
/* PyTorch's reshape: the view of eng_tensor_reshape when there is one, else a new contiguous
 * copy. [out] *out owned by the caller. */
ENG_MUST_CHECK eng_status eng_tensor_reshaped(const eng_tensor *t, int ndim, const int64_t *shape,
                                              eng_tensor **out);

/* dst = src element by element, converting the dtype; shapes must be equal. A value out of the
 * range of an integer dst (1e40 or NaN into i32) is refused before anything is written. */
ENG_MUST_CHECK eng_status eng_tensor_copy(eng_tensor *dst, const eng_tensor *src);
/* A new contiguous copy in the given dtype. */
ENG_MUST_CHECK eng_status eng_tensor_to(const eng_tensor *t, eng_dtype dtype, eng_tensor **out);
ENG_MUST_CHECK eng_status eng_tensor_clone(const eng_tensor *t, eng_tensor **out);
void eng_tensor_fill(eng_tensor *t, double value);
void eng_tensor_zero(eng_tensor *t);

/* Element access by a 0-based multi-index of t->ndim entries (bounds are the caller's
 * concern: the bindings check them). */
double eng_tensor_get(const eng_tensor *t, const int64_t *index);
void eng_tensor_set(eng_tensor *t, const int64_t *index, double value);
/* Element access by linear position in row-major order, for any strides. */
double eng_tensor_get_flat(const eng_tensor *t, int64_t i);
void eng_tensor_set_flat(eng_tensor *t, int64_t i, double value);

/* Random initialisation in place (floating tensors). rng NULL means the global generator.
 * kaiming_uniform follows torch.nn.init.kaiming_uniform_ with a = sqrt(5), PyTorch's default
 * for Linear and Conv2d weights: bound = 1/sqrt(fan_in). xavier_uniform: bound =
 * sqrt(6/(fan_in+fan_out)). fan_in and fan_out are computed from the shape as PyTorch does. */
ENG_MUST_CHECK eng_status eng_tensor_uniform(eng_tensor *t, eng_rng *rng, double lo, double hi);
ENG_MUST_CHECK eng_status eng_tensor_normal(eng_tensor *t, eng_rng *rng, double mean, double std);
ENG_MUST_CHECK eng_status eng_tensor_kaiming_uniform(eng_tensor *t, eng_rng *rng);
ENG_MUST_CHECK eng_status eng_tensor_kaiming_normal(eng_tensor *t, eng_rng *rng);
ENG_MUST_CHECK eng_status eng_tensor_xavier_uniform(eng_tensor *t, eng_rng *rng);
/* fan_in = shape[1] * receptive field, fan_out = shape[0] * receptive field. */
void eng_tensor_fans(const eng_tensor *t, int64_t *fan_in, int64_t *fan_out);

/* Elementwise arithmetic on same-shape float tensors of one dtype, any strides:
 * dst = a op b. dst may alias a or b. */
typedef enum eng_binary_op { ENG_ADD, ENG_SUB, ENG_MUL, ENG_DIV } eng_binary_op;
ENG_MUST_CHECK eng_status eng_tensor_binary(eng_tensor *dst, const eng_tensor *a,
                                            const eng_tensor *b, eng_binary_op op);
/* dst = a op scalar. */
ENG_MUST_CHECK eng_status eng_tensor_binary_scalar(eng_tensor *dst, const eng_tensor *a, double s,
                                                   eng_binary_op op);
/* Sum of all elements, accumulated in double. */
double eng_tensor_sum(const eng_tensor *t);

#pragma GCC visibility pop

#endif
