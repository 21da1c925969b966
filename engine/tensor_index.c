#include "tensor_index.h"

#include <string.h>

/* ---- walking a tensor by multi-index ---- */

static int64_t offset_of(const eng_tensor *t, const int64_t *idx)
{
    int64_t off = t->offset;
    for (int d = 0; d < t->ndim; d++)
        off += idx[d] * t->strides[d];
    return off;
}

/* Advances idx over shape in row-major order; false after the last element. */
static bool next_index(int64_t *idx, const int64_t *shape, int ndim)
{
    for (int d = ndim - 1; d >= 0; d--) {
        if (++idx[d] < shape[d])
            return true;
        idx[d] = 0;
    }
    return false;
}

static char *element(const eng_tensor *t, int64_t off)
{
    return (char *)t->storage->data + off * (int64_t)eng_dtype_size(t->dtype);
}

static int64_t position(const eng_tensor *index, int64_t off)
{
    if (index->dtype == ENG_I64)
        return ((const int64_t *)index->storage->data)[off];
    return ((const int32_t *)index->storage->data)[off];
}

static eng_status check_index_dtype(const eng_tensor *index, const char *what)
{
    if (index->dtype != ENG_I64 && index->dtype != ENG_I32)
        return eng_error(ENG_EDTYPE, "%s: index %s has dtype %s (i64 or i32 expected)", what,
                         eng_tensor_shape_str(index), eng_dtype_name(index->dtype));
    return ENG_OK;
}

static eng_status check_dim(const eng_tensor *t, int dim, const char *what)
{
    if (dim < 0 || dim >= t->ndim)
        return eng_error(ENG_EARG, "%s: dimension %d out of range for %s (1..%d)", what, dim + 1,
                         eng_tensor_shape_str(t), t->ndim);
    return ENG_OK;
}

/* Every position of index, less base, in [0, size); names the first that is not, as a
 * position in dimension dim of t, or (t NULL) as a label of size classes. */
static eng_status check_positions(const eng_tensor *index, int64_t base, int64_t size,
                                  const eng_tensor *t, int dim, const char *what)
{
    int64_t idx[ENG_MAX_DIMS] = {0};
    if (eng_tensor_numel(index) == 0)
        return ENG_OK;
    int64_t k = 0;
    do {
        int64_t p = position(index, offset_of(index, idx));
        if ((p < base || p - base >= size) && !t)
            return eng_error(ENG_EARG,
                             "%s: label %lld (element %lld of labels %s) out of range "
                             "for %lld classes (%lld..%lld)",
                             what, (long long)p, (long long)k + 1, eng_tensor_shape_str(index),
                             (long long)size, (long long)base, (long long)(base + size - 1));
        if (p < base || p - base >= size)
            return eng_error(ENG_EARG,
                             "%s: index %lld (element %lld of index %s) out of range "
                             "for dimension %d of %s (%lld..%lld)",
                             what, (long long)p, (long long)k + 1, eng_tensor_shape_str(index),
                             dim + 1, eng_tensor_shape_str(t), (long long)base,
                             (long long)(base + size - 1));
        k++;
    } while (next_index(idx, index->shape, index->ndim));
    return ENG_OK;
}

/* ---- index_select ---- */

eng_status eng_tensor_index_select(const eng_tensor *t, int dim, const eng_tensor *index,
                                   int64_t base, eng_tensor **out)
{
    *out = NULL;
    eng_status st;
    if ((st = check_dim(t, dim, "index_select")) || (st = check_index_dtype(index, "index_select")))
        return st;
    if (index->ndim > 1)
        return eng_error(ENG_ESHAPE, "index_select: index %s must have at most 1 dimension",
                         eng_tensor_shape_str(index));
    if ((st = check_positions(index, base, t->shape[dim], t, dim, "index_select")))
        return st;
    int64_t shape[ENG_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[dim] = eng_tensor_numel(index);
    if ((st = eng_tensor_new(t->dtype, t->ndim, shape, out)))
        return st;
    /* Borrowed headers, one slice at a time: dimension dim fixed at a position. */
    eng_tensor src = *t, dst = **out;
    src.shape[dim] = 1, dst.shape[dim] = 1;
    for (int64_t k = 0; k < shape[dim] && !st; k++) {
        int64_t p = position(index, index->offset + k * (index->ndim ? index->strides[0] : 0));
        src.offset = t->offset + (p - base) * t->strides[dim];
        dst.offset = (*out)->offset + k * (*out)->strides[dim];
        st = eng_tensor_copy(&dst, &src);
    }
    return st;
}

/* ---- gather and scatter_add ---- */

/* index [..] against t (and src for scatter): same number of dimensions, sizes no larger
 * than t's outside dim (and than src's everywhere). */
static eng_status check_gather_shapes(const eng_tensor *t, int dim, const eng_tensor *index,
                                      const eng_tensor *src, const char *what)
{
    eng_status st;
    if ((st = check_dim(t, dim, what)) || (st = check_index_dtype(index, what)))
        return st;
    if (index->ndim != t->ndim || (src && src->ndim != t->ndim))
        return eng_error(ENG_ESHAPE,
                         "%s: index %s%s%s and tensor %s need one number of "
                         "dimensions",
                         what, eng_tensor_shape_str(index), src ? ", source " : "",
                         src ? eng_tensor_shape_str(src) : "", eng_tensor_shape_str(t));
    for (int d = 0; d < t->ndim; d++) {
        if ((d != dim && index->shape[d] > t->shape[d]) || (src && index->shape[d] > src->shape[d]))
            return eng_error(
                ENG_ESHAPE, "%s: index %s is larger than %s %s in dimension %d", what,
                eng_tensor_shape_str(index),
                d != dim && index->shape[d] > t->shape[d] ? "tensor" : "source",
                eng_tensor_shape_str(d != dim && index->shape[d] > t->shape[d] ? t : src), d + 1);
    }
    if (src && src->dtype != t->dtype)
        return eng_error(ENG_EDTYPE, "%s: source has dtype %s, tensor %s", what,
                         eng_dtype_name(src->dtype), eng_dtype_name(t->dtype));
    return ENG_OK;
}

eng_status eng_tensor_gather(const eng_tensor *t, int dim, const eng_tensor *index, int64_t base,
                             eng_tensor **out)
{
    *out = NULL;
    eng_status st;
    if ((st = check_gather_shapes(t, dim, index, NULL, "gather")) ||
        (st = check_positions(index, base, t->shape[dim], t, dim, "gather")) ||
        (st = eng_tensor_new(t->dtype, index->ndim, index->shape, out)))
        return st;
    if (eng_tensor_numel(index) == 0)
        return ENG_OK;
    size_t size = eng_dtype_size(t->dtype);
    int64_t idx[ENG_MAX_DIMS] = {0}, at[ENG_MAX_DIMS];
    do {
        memcpy(at, idx, sizeof at);
        at[dim] = position(index, offset_of(index, idx)) - base;
        memcpy(element(*out, offset_of(*out, idx)), element(t, offset_of(t, at)), size);
    } while (next_index(idx, index->shape, index->ndim));
    return ENG_OK;
}

/* *dst += *src for one element of dtype (integers wrap around, as in PyTorch). */
static void add_element(char *dst, const char *src, eng_dtype dtype)
{
    switch (dtype) {
    case ENG_F32: *(float *)dst += *(const float *)src; break;
    case ENG_F64: *(double *)dst += *(const double *)src; break;
    case ENG_U8: *(uint8_t *)dst = (uint8_t)(*(uint8_t *)dst + *(const uint8_t *)src); break;
    case ENG_I32:
        *(int32_t *)dst =
            (int32_t)((uint32_t) * (int32_t *)dst + (uint32_t) * (const int32_t *)src);
        break;
    case ENG_I64:
        *(int64_t *)dst =
            (int64_t)((uint64_t) * (int64_t *)dst + (uint64_t) * (const int64_t *)src);
        break;
    }
}

eng_status eng_tensor_scatter_add(eng_tensor *t, int dim, const eng_tensor *index,
                                  const eng_tensor *src, int64_t base)
{
    eng_status st;
    if ((st = check_gather_shapes(t, dim, index, src, "scatter_add")) ||
        (st = check_positions(index, base, t->shape[dim], t, dim, "scatter_add")))
        return st;
    if (eng_tensor_numel(index) == 0)
        return ENG_OK;
    int64_t idx[ENG_MAX_DIMS] = {0}, at[ENG_MAX_DIMS];
    do {
        memcpy(at, idx, sizeof at);
        at[dim] = position(index, offset_of(index, idx)) - base;
        add_element(element(t, offset_of(t, at)), element(src, offset_of(src, idx)), t->dtype);
    } while (next_index(idx, index->shape, index->ndim));
    return ENG_OK;
}

/* ---- one_hot ---- */

eng_status eng_tensor_one_hot(const eng_tensor *labels, int64_t classes, int64_t base,
                              eng_dtype dtype, eng_tensor **out)
{
    *out = NULL;
    eng_status st;
    if ((st = check_index_dtype(labels, "one_hot")))
        return st;
    if (classes < 1)
        return eng_error(ENG_EARG, "one_hot: %lld classes (at least 1 expected)",
                         (long long)classes);
    if (labels->ndim == ENG_MAX_DIMS)
        return eng_error(ENG_ESHAPE, "one_hot: labels %s already have %d dimensions",
                         eng_tensor_shape_str(labels), ENG_MAX_DIMS);
    int64_t shape[ENG_MAX_DIMS];
    memcpy(shape, labels->shape, sizeof shape);
    shape[labels->ndim] = classes;
    if ((st = check_positions(labels, base, classes, NULL, 0, "one_hot")) ||
        (st = eng_tensor_new(dtype, labels->ndim + 1, shape, out)))
        return st;
    int64_t n = eng_tensor_numel(labels), idx[ENG_MAX_DIMS] = {0};
    for (int64_t i = 0; i < n; i++) {
        int64_t c = position(labels, offset_of(labels, idx)) - base;
        eng_tensor_set_flat(*out, i * classes + c, 1.0);
        next_index(idx, labels->shape, labels->ndim);
    }
    return ENG_OK;
}
