#include "tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_contiguous_strides(eng_tensor *t)
{
    int64_t stride = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        t->strides[d] = stride;
        stride *= t->shape[d];
    }
}

eng_status eng_shape_numel(int ndim, const int64_t *shape, int64_t *numel)
{
    if (ndim < 0 || ndim > ENG_MAX_DIMS)
        return eng_error(ENG_ESHAPE, "tensor of %d dimensions (at most %d)", ndim, ENG_MAX_DIMS);
    /* The product of the non-zero sizes must fit too: a view of shape [2^62,2^62,0] has no
     * element, but a loop over its first dimensions would never end. */
    int64_t n = 1, nonzero = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return eng_error(ENG_ESHAPE, "negative size %lld in dimension %d of %s",
                             (long long)shape[d], d + 1, eng_shape_str(ndim, shape));
        if (shape[d] > 0 && __builtin_mul_overflow(nonzero, shape[d], &nonzero))
            return eng_error(ENG_ENOMEM, "tensor %s is too large (its size overflows)",
                             eng_shape_str(ndim, shape));
        n *= shape[d];
    }
    if (numel)
        *numel = n;
    return ENG_OK;
}

/* Atomic: the threads that split a batch allocate their own workspaces. */
static _Atomic uint64_t bytes_allocated;

uint64_t eng_tensor_bytes_allocated(void)
{
    return bytes_allocated;
}

eng_status eng_tensor_new(eng_dtype dtype, int ndim, const int64_t *shape, eng_tensor **out)
{
    *out = NULL;
    int64_t numel;
    eng_status st = eng_shape_numel(ndim, shape, &numel);
    if (st)
        return st;
    if (numel > INT64_MAX / 16)
        return eng_error(ENG_ENOMEM, "tensor %s is too large", eng_shape_str(ndim, shape));
    eng_tensor *t = calloc(1, sizeof *t);
    eng_storage *s = calloc(1, sizeof *s);
    size_t nbytes = (size_t)numel * eng_dtype_size(dtype);
    /* 64-byte alignment suits AVX-512 loads; one extra line keeps zero-sized tensors valid. */
    void *data = aligned_alloc(64, (nbytes + 64) / 64 * 64);
    if (!t || !s || !data) {
        free(t);
        free(s);
        free(data);
        return eng_error(ENG_ENOMEM, "out of memory for a %s tensor %s", eng_dtype_name(dtype),
                         eng_shape_str(ndim, shape));
    }
    memset(data, 0, nbytes);
    bytes_allocated += nbytes;
    s->data = data;
    s->nbytes = nbytes;
    s->refcount = 1;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        t->shape[d] = shape[d];
    set_contiguous_strides(t);
    t->storage = s;
    *out = t;
    return ENG_OK;
}

eng_status eng_tensor_new_like(const eng_tensor *like, eng_tensor **out)
{
    return eng_tensor_new(like->dtype, like->ndim, like->shape, out);
}

void eng_tensor_release(eng_tensor *t)
{
    if (!t)
        return;
    if (--t->storage->refcount == 0) {
        free(t->storage->data);
        free(t->storage);
    }
    free(t);
}

eng_status eng_tensor_ensure(eng_tensor **slot, eng_dtype dtype, int ndim, const int64_t *shape)
{
    eng_tensor *t = *slot;
    if (t && t->dtype == dtype && t->ndim == ndim && eng_tensor_is_contiguous(t) &&
        memcmp(t->shape, shape, (size_t)ndim * sizeof *shape) == 0)
        return ENG_OK;
    /* Another shape that fits the storage: reshape in place, so that buffers used at
     * alternating sizes (a last short batch, a thread's last few samples) are not
     * reallocated every time. */
    int64_t numel;
    if (t && t->dtype == dtype && t->offset == 0 && eng_shape_numel(ndim, shape, &numel) == 0 &&
        numel <= INT64_MAX / 16) {
        if ((size_t)numel * eng_dtype_size(dtype) <= t->storage->nbytes) {
            t->ndim = ndim;
            memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
            set_contiguous_strides(t);
            return ENG_OK;
        }
    }
    eng_tensor *fresh;
    eng_status st = eng_tensor_new(dtype, ndim, shape, &fresh);
    if (st)
        return st;
    eng_tensor_release(t);
    *slot = fresh;
    return ENG_OK;
}

int64_t eng_tensor_numel(const eng_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

bool eng_tensor_is_contiguous(const eng_tensor *t)
{
    int64_t stride = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->strides[d] != stride)
            return false;
        stride *= t->shape[d];
    }
    return true;
}

bool eng_tensor_same_shape(const eng_tensor *a, const eng_tensor *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d])
            return false;
    return true;
}

void *eng_tensor_data(const eng_tensor *t)
{
    return (char *)t->storage->data + t->offset * (int64_t)eng_dtype_size(t->dtype);
}

const char *eng_shape_str(int ndim, const int64_t *shape)
{
    static _Thread_local char buffers[8][160];
    static _Thread_local int next;
    char *buf = buffers[next];
    next = (next + 1) % 8;
    size_t used = 0;
    buf[used++] = '[';
    for (int d = 0; d < ndim && used < sizeof buffers[0] - 24; d++)
        used += (size_t)snprintf(buf + used, sizeof buffers[0] - used, d ? ",%lld" : "%lld",
                                 (long long)shape[d]);
    buf[used++] = ']';
    buf[used] = '\0';
    return buf;
}

const char *eng_tensor_shape_str(const eng_tensor *t)
{
    return eng_shape_str(t->ndim, t->shape);
}

eng_status eng_tensor_view(const eng_tensor *t, eng_tensor **out)
{
    eng_tensor *v = malloc(sizeof *v);
    if (!v)
        return eng_error(ENG_ENOMEM, "out of memory for a tensor view");
    *v = *t;
    v->storage->refcount++;
    *out = v;
    return ENG_OK;
}

eng_status eng_tensor_narrow(const eng_tensor *t, int dim, int64_t start, int64_t length,
                             eng_tensor **out)
{
    *out = NULL;
    if (dim < 0 || dim >= t->ndim)
        return eng_error(ENG_EARG, "narrow: dimension %d out of range for %s", dim + 1,
                         eng_tensor_shape_str(t));
    /* length > size - start, not start + length > size: the sum overflows for start near
     * INT64_MAX and the view would point outside the storage. */
    if (start < 0 || length < 0 || start > t->shape[dim] || length > t->shape[dim] - start) {
        int64_t last;
        if (start >= 0 && length >= 0 && !__builtin_add_overflow(start, length, &last))
            return eng_error(ENG_EARG,
                             "narrow: elements %lld..%lld out of range for dimension "
                             "%d of %s",
                             (long long)start + 1, (long long)last, dim + 1,
                             eng_tensor_shape_str(t));
        return eng_error(ENG_EARG,
                         "narrow: start %lld, length %lld out of range for dimension "
                         "%d of %s",
                         (long long)(start < INT64_MAX ? start + 1 : start), (long long)length,
                         dim + 1, eng_tensor_shape_str(t));
    }
    eng_status st = eng_tensor_view(t, out);
    if (st)
        return st;
    (*out)->offset += start * t->strides[dim];
    (*out)->shape[dim] = length;
    return ENG_OK;
}

eng_tensor eng_tensor_rows(const eng_tensor *t, int64_t start, int64_t length)
{
    eng_tensor rows = *t;
    rows.offset += start * t->strides[0];
    rows.shape[0] = length;
    return rows;
}

eng_status eng_tensor_select(const eng_tensor *t, int dim, int64_t index, eng_tensor **out)
{
    *out = NULL;
    if (dim < 0 || dim >= t->ndim)
        return eng_error(ENG_EARG, "select: dimension %d out of range for %s", dim + 1,
                         eng_tensor_shape_str(t));
    if (index < 0 || index >= t->shape[dim])
        return eng_error(ENG_EARG, "select: index %lld out of range for dimension %d of %s",
                         (long long)index + 1, dim + 1, eng_tensor_shape_str(t));
    eng_status st = eng_tensor_view(t, out);
    if (st)
        return st;
    eng_tensor *v = *out;
    v->offset += index * t->strides[dim];
    for (int d = dim; d < t->ndim - 1; d++) {
        v->shape[d] = t->shape[d + 1];
        v->strides[d] = t->strides[d + 1];
    }
    v->ndim--;
    return ENG_OK;
}

/* Storage offset of the i-th element in row-major order. */
static int64_t flat_offset(const eng_tensor *t, int64_t i)
{
    int64_t off = t->offset;
    for (int d = t->ndim - 1; d >= 0; d--) {
        int64_t size = t->shape[d];
        off += (i % size) * t->strides[d];
        i /= size;
    }
    return off;
}

static double load(const void *base, eng_dtype dtype, int64_t off)
{
    switch (dtype) {
    case ENG_F32: return ((const float *)base)[off];
    case ENG_F64: return ((const double *)base)[off];
    case ENG_U8: return ((const uint8_t *)base)[off];
    case ENG_I32: return ((const int32_t *)base)[off];
    case ENG_I64: return (double)((const int64_t *)base)[off];
    }
    return 0;
}

static void store(void *base, eng_dtype dtype, int64_t off, double v)
{
    switch (dtype) {
    case ENG_F32: ((float *)base)[off] = (float)v; break;
    case ENG_F64: ((double *)base)[off] = v; break;
    case ENG_U8: ((uint8_t *)base)[off] = (uint8_t)v; break;
    case ENG_I32: ((int32_t *)base)[off] = (int32_t)v; break;
    case ENG_I64: ((int64_t *)base)[off] = (int64_t)v; break;
    }
}

double eng_tensor_get_flat(const eng_tensor *t, int64_t i)
{
    return load(t->storage->data, t->dtype, flat_offset(t, i));
}

void eng_tensor_set_flat(eng_tensor *t, int64_t i, double value)
{
    store(t->storage->data, t->dtype, flat_offset(t, i), value);
}

double eng_tensor_get(const eng_tensor *t, const int64_t *index)
{
    int64_t off = t->offset;
    for (int d = 0; d < t->ndim; d++)
        off += index[d] * t->strides[d];
    return load(t->storage->data, t->dtype, off);
}

void eng_tensor_set(eng_tensor *t, const int64_t *index, double value)
{
    int64_t off = t->offset;
    for (int d = 0; d < t->ndim; d++)
        off += index[d] * t->strides[d];
    store(t->storage->data, t->dtype, off, value);
}

/* Whether v survives the C conversion to dtype (which is undefined behaviour out of range: C11
 * 6.3.1.4 truncates toward zero, so the bounds are open one past the representable range). */
static bool fits_dtype(double v, eng_dtype dtype)
{
    switch (dtype) {
    case ENG_F32:
    case ENG_F64: return true;
    case ENG_U8: return v > -1.0 && v < 256.0;
    case ENG_I32: return v > -2147483649.0 && v < 2147483648.0;
    case ENG_I64: return v >= -9223372036854775808.0 && v < 9223372036854775808.0;
    }
    return false;
}

eng_status eng_value_check(double v, eng_dtype dtype, const char *what)
{
    if (!fits_dtype(v, dtype))
        return eng_error(ENG_EARG, "%s: value %.17g is out of range for %s", what, v,
                         eng_dtype_name(dtype));
    return ENG_OK;
}

/* Refuses a copy that would convert an element out of the destination's range (1e40 or NaN
 * into i32) before anything is written. */
static eng_status check_convertible(const eng_tensor *dst, const eng_tensor *src)
{
    if (eng_dtype_is_float(dst->dtype) || src->dtype == ENG_U8 ||
        (src->dtype == ENG_I32 && dst->dtype != ENG_U8) || src->dtype == dst->dtype)
        return ENG_OK;
    int64_t n = eng_tensor_numel(src);
    for (int64_t i = 0; i < n; i++) {
        int64_t off = flat_offset(src, i);
        bool ok;
        double v;
        if (src->dtype == ENG_I64) {
            int64_t x = ((const int64_t *)src->storage->data)[off];
            ok = dst->dtype == ENG_U8 ? x >= 0 && x <= 255 : x >= INT32_MIN && x <= INT32_MAX;
            v = (double)x;
        } else {
            v = load(src->storage->data, src->dtype, off);
            ok = fits_dtype(v, dst->dtype);
        }
        if (!ok)
            return eng_error(ENG_EARG,
                             "conversion to %s: value %.17g (element %lld of %s %s) "
                             "is out of range for %s",
                             eng_dtype_name(dst->dtype), v, (long long)i + 1,
                             eng_dtype_name(src->dtype), eng_tensor_shape_str(src),
                             eng_dtype_name(dst->dtype));
    }
    return ENG_OK;
}

eng_status eng_tensor_copy(eng_tensor *dst, const eng_tensor *src)
{
    if (eng_tensor_numel(dst) != eng_tensor_numel(src) || !eng_tensor_same_shape(dst, src))
        return eng_error(ENG_ESHAPE, "copy: destination %s, source %s", eng_tensor_shape_str(dst),
                         eng_tensor_shape_str(src));
    eng_status st = check_convertible(dst, src);
    if (st)
        return st;
    int64_t n = eng_tensor_numel(src);
    if (dst->dtype == src->dtype && eng_tensor_is_contiguous(dst) &&
        eng_tensor_is_contiguous(src)) {
        memmove(eng_tensor_data(dst), eng_tensor_data(src), (size_t)n * eng_dtype_size(src->dtype));
        return ENG_OK;
    }
    if (dst->dtype == ENG_I64 && src->dtype == ENG_I64) {
        /* Through double would lose integers above 2^53. */
        for (int64_t i = 0; i < n; i++)
            ((int64_t *)dst->storage->data)[flat_offset(dst, i)] =
                ((const int64_t *)src->storage->data)[flat_offset(src, i)];
        return ENG_OK;
    }
    for (int64_t i = 0; i < n; i++)
        eng_tensor_set_flat(dst, i, eng_tensor_get_flat(src, i));
    return ENG_OK;
}

eng_status eng_tensor_to(const eng_tensor *t, eng_dtype dtype, eng_tensor **out)
{
    eng_status st = eng_tensor_new(dtype, t->ndim, t->shape, out);
    if (st)
        return st;
    st = eng_tensor_copy(*out, t);
    if (st) {
        eng_tensor_release(*out);
        *out = NULL;
    }
    return st;
}

eng_status eng_tensor_clone(const eng_tensor *t, eng_tensor **out)
{
    return eng_tensor_to(t, t->dtype, out);
}

void eng_tensor_fill(eng_tensor *t, double value)
{
    int64_t n = eng_tensor_numel(t);
    if (eng_tensor_is_contiguous(t) && t->dtype == ENG_F32) {
        float *p = ENG_F32_DATA(t);
        for (int64_t i = 0; i < n; i++)
            p[i] = (float)value;
    } else if (eng_tensor_is_contiguous(t) && t->dtype == ENG_F64) {
        double *p = ENG_F64_DATA(t);
        for (int64_t i = 0; i < n; i++)
            p[i] = value;
    } else {
        for (int64_t i = 0; i < n; i++)
            eng_tensor_set_flat(t, i, value);
    }
}

void eng_tensor_zero(eng_tensor *t)
{
    if (eng_tensor_is_contiguous(t))
        memset(eng_tensor_data(t), 0, (size_t)eng_tensor_numel(t) * eng_dtype_size(t->dtype));
    else
        eng_tensor_fill(t, 0.0);
}

static eng_status check_float(const eng_tensor *t, const char *what)
{
    if (!eng_dtype_is_float(t->dtype))
        return eng_error(ENG_EDTYPE, "%s: tensor %s has dtype %s (f32 or f64 expected)", what,
                         eng_tensor_shape_str(t), eng_dtype_name(t->dtype));
    return ENG_OK;
}

eng_status eng_tensor_uniform(eng_tensor *t, eng_rng *rng, double lo, double hi)
{
    eng_status st = check_float(t, "uniform");
    if (st)
        return st;
    if (!rng)
        rng = eng_rng_global();
    int64_t n = eng_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        eng_tensor_set_flat(t, i, lo + (hi - lo) * eng_rng_uniform(rng));
    return ENG_OK;
}

eng_status eng_tensor_normal(eng_tensor *t, eng_rng *rng, double mean, double std)
{
    eng_status st = check_float(t, "normal");
    if (st)
        return st;
    if (!rng)
        rng = eng_rng_global();
    int64_t n = eng_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        eng_tensor_set_flat(t, i, mean + std * eng_rng_normal(rng));
    return ENG_OK;
}

void eng_tensor_fans(const eng_tensor *t, int64_t *fan_in, int64_t *fan_out)
{
    int64_t receptive = 1;
    for (int d = 2; d < t->ndim; d++)
        receptive *= t->shape[d];
    *fan_in = (t->ndim >= 2 ? t->shape[1] : (t->ndim == 1 ? t->shape[0] : 1)) * receptive;
    *fan_out = (t->ndim >= 1 ? t->shape[0] : 1) * receptive;
}

eng_status eng_tensor_kaiming_uniform(eng_tensor *t, eng_rng *rng)
{
    int64_t fan_in, fan_out;
    eng_tensor_fans(t, &fan_in, &fan_out);
    /* gain sqrt(2/(1+a^2)) with a = sqrt(5) gives bound = gain*sqrt(3/fan_in) = 1/sqrt(fan_in)
     * (torch.nn.init.kaiming_uniform_ as called by nn.Linear.reset_parameters). */
    double bound = fan_in > 0 ? 1.0 / sqrt((double)fan_in) : 0.0;
    return eng_tensor_uniform(t, rng, -bound, bound);
}

eng_status eng_tensor_kaiming_normal(eng_tensor *t, eng_rng *rng)
{
    int64_t fan_in, fan_out;
    eng_tensor_fans(t, &fan_in, &fan_out);
    /* He et al. 2015 for ReLU: std = sqrt(2/fan_in). */
    double std = fan_in > 0 ? sqrt(2.0 / (double)fan_in) : 0.0;
    return eng_tensor_normal(t, rng, 0.0, std);
}

eng_status eng_tensor_xavier_uniform(eng_tensor *t, eng_rng *rng)
{
    int64_t fan_in, fan_out;
    eng_tensor_fans(t, &fan_in, &fan_out);
    double bound = fan_in + fan_out > 0 ? sqrt(6.0 / (double)(fan_in + fan_out)) : 0.0;
    return eng_tensor_uniform(t, rng, -bound, bound);
}

static double apply(eng_binary_op op, double a, double b)
{
    switch (op) {
    case ENG_ADD: return a + b;
    case ENG_SUB: return a - b;
    case ENG_MUL: return a * b;
    case ENG_DIV: return a / b;
    }
    return 0;
}

eng_status eng_tensor_binary(eng_tensor *dst, const eng_tensor *a, const eng_tensor *b,
                             eng_binary_op op)
{
    eng_status st = check_float(a, "arithmetic");
    if (st)
        return st;
    if (!eng_tensor_same_shape(a, b) || !eng_tensor_same_shape(a, dst))
        return eng_error(ENG_ESHAPE, "arithmetic on tensors of shapes %s and %s",
                         eng_tensor_shape_str(a), eng_tensor_shape_str(b));
    if (a->dtype != b->dtype || a->dtype != dst->dtype)
        return eng_error(ENG_EDTYPE,
                         "arithmetic on tensors of dtypes %s and %s (convert one with :to())",
                         eng_dtype_name(a->dtype), eng_dtype_name(b->dtype));
    int64_t n = eng_tensor_numel(a);
    for (int64_t i = 0; i < n; i++)
        eng_tensor_set_flat(dst, i,
                            apply(op, eng_tensor_get_flat(a, i), eng_tensor_get_flat(b, i)));
    return ENG_OK;
}

eng_status eng_tensor_binary_scalar(eng_tensor *dst, const eng_tensor *a, double s,
                                    eng_binary_op op)
{
    eng_status st = check_float(a, "arithmetic");
    if (st)
        return st;
    if (!eng_tensor_same_shape(a, dst) || a->dtype != dst->dtype)
        return eng_error(ENG_ESHAPE, "arithmetic into %s from %s", eng_tensor_shape_str(dst),
                         eng_tensor_shape_str(a));
    int64_t n = eng_tensor_numel(a);
    for (int64_t i = 0; i < n; i++)
        eng_tensor_set_flat(dst, i, apply(op, eng_tensor_get_flat(a, i), s));
    return ENG_OK;
}

double eng_tensor_sum(const eng_tensor *t)
{
    double acc = 0.0;
    int64_t n = eng_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        acc += eng_tensor_get_flat(t, i);
    return acc;
}
