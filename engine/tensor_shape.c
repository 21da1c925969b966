#include "tensor_shape.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- creation ---- */

/* Stores value i of a 1-d contiguous tensor (the value is in range: callers check). */
static void put(eng_tensor *t, int64_t i, double v)
{
    eng_tensor_set_flat(t, i, v);
}

eng_status eng_tensor_arange(eng_dtype dtype, double start, double end, double step,
                             eng_tensor **out)
{
    *out = NULL;
    if (!isfinite(start) || !isfinite(end) || !isfinite(step) || step == 0)
        return eng_error(ENG_EARG,
                         "arange: start %g, end %g and step %g must be finite, step "
                         "non-zero",
                         start, end, step);
    if ((step > 0 && end < start) || (step < 0 && end > start))
        return eng_error(ENG_EARG, "arange: step %g does not lead from start %g to end %g", step,
                         start, end);
    /* The size as aten/src/ATen/native/RangeFactories.cpp computes it. */
    double size = ceil((end - start) / step);
    if (!(size < 9007199254740992.0))
        return eng_error(ENG_EARG, "arange(%g, %g, %g): %g elements are too many", start, end, step,
                         size);
    int64_t n = (int64_t)size;
    eng_status st;
    if (n > 0 && ((st = eng_value_check(start, dtype, "arange")) ||
                  (st = eng_value_check(start + step * (double)(n - 1), dtype, "arange"))))
        return st;
    st = eng_tensor_new(dtype, 1, &n, out);
    if (st)
        return st;
    for (int64_t i = 0; i < n; i++)
        put(*out, i, start + step * (double)i);
    return ENG_OK;
}

eng_status eng_tensor_linspace(eng_dtype dtype, double start, double end, int64_t steps,
                               eng_tensor **out)
{
    *out = NULL;
    if (steps < 0)
        return eng_error(ENG_EARG, "linspace: number of steps %lld must be non-negative",
                         (long long)steps);
    eng_status st;
    if ((st = eng_value_check(start, dtype, "linspace")) ||
        (st = eng_value_check(end, dtype, "linspace")))
        return st;
    st = eng_tensor_new(dtype, 1, &steps, out);
    if (st || steps == 0)
        return st;
    int64_t half = steps / 2;
    /* aten/src/ATen/native/cpu/RangeFactoriesKernel.cpp: the step in the dtype's own precision
     * (double for integer dtypes, whose ends are truncated first), and the second half counted
     * back from end so that the last element is end exactly. */
    if (dtype == ENG_F32) {
        float s = (float)start, e = (float)end, h = steps > 1 ? (e - s) / (float)(steps - 1) : 0;
        float *p = ENG_F32_DATA(*out);
        for (int64_t i = 0; i < steps; i++)
            p[i] = i < half ? s + h * (float)i : e - h * (float)(steps - i - 1);
    } else {
        double s = start, e = end;
        if (!eng_dtype_is_float(dtype))
            s = trunc(s), e = trunc(e);
        double h = steps > 1 ? (e - s) / (double)(steps - 1) : 0;
        for (int64_t i = 0; i < steps; i++)
            put(*out, i, i < half ? s + h * (double)i : e - h * (double)(steps - i - 1));
    }
    return ENG_OK;
}

eng_status eng_tensor_eye(eng_dtype dtype, int64_t n, int64_t m, eng_tensor **out)
{
    eng_status st = eng_tensor_new(dtype, 2, (int64_t[]){n, m}, out);
    if (st)
        return st;
    for (int64_t i = 0; i < n && i < m; i++)
        eng_tensor_set(*out, (int64_t[]){i, i}, 1.0);
    return ENG_OK;
}

/* ---- views ---- */

/* Strides that let a tensor of shape old_shape/old_strides be read as new_shape without a
 * copy, or false when none exist: PyTorch's computeStride (aten/src/ATen/TensorUtils.cpp),
 * which walks the old dimensions in runs that are contiguous with each other. */
static bool view_strides(const eng_tensor *t, int ndim, const int64_t *shape, int64_t numel,
                         int64_t *strides)
{
    if (t->ndim == 0 || numel == 0) {
        int64_t stride = 1;
        for (int d = ndim - 1; d >= 0; d--) {
            strides[d] = stride;
            stride *= shape[d] ? shape[d] : 1;
        }
        return true;
    }
    int view_d = ndim - 1;
    int64_t base_stride = t->strides[t->ndim - 1], tensor_numel = 1, view_numel = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        tensor_numel *= t->shape[d];
        if (d == 0 || (t->shape[d - 1] != 1 && t->strides[d - 1] != tensor_numel * base_stride)) {
            while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
                strides[view_d] = view_numel * base_stride;
                view_numel *= shape[view_d];
                view_d--;
            }
            if (view_numel != tensor_numel)
                return false;
            if (d > 0) {
                base_stride = t->strides[d - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    return view_d == -1;
}

/* shape with its -1 (if any) resolved against numel into resolved. */
static eng_status infer_shape(const eng_tensor *t, int ndim, const int64_t *shape,
                              int64_t *resolved)
{
    if (ndim < 0 || ndim > ENG_MAX_DIMS)
        return eng_error(ENG_ESHAPE, "reshape to %d dimensions (at most %d)", ndim, ENG_MAX_DIMS);
    int infer = -1;
    int64_t known = 1, numel = eng_tensor_numel(t);
    for (int d = 0; d < ndim; d++) {
        resolved[d] = shape[d];
        if (shape[d] == -1 && infer >= 0)
            return eng_error(ENG_ESHAPE, "reshape to %s: only one size may be -1",
                             eng_shape_str(ndim, shape));
        if (shape[d] == -1)
            infer = d;
        else if (shape[d] < 0)
            return eng_error(ENG_ESHAPE, "reshape to %s: negative size",
                             eng_shape_str(ndim, shape));
        else if (__builtin_mul_overflow(known, shape[d], &known))
            return eng_error(ENG_ESHAPE, "reshape %s to %s: too many elements (overflow)",
                             eng_tensor_shape_str(t), eng_shape_str(ndim, shape));
    }
    if (infer >= 0) {
        if (known == 0 || numel % known != 0)
            return eng_error(ENG_ESHAPE, "reshape %s to %s: sizes do not divide",
                             eng_tensor_shape_str(t), eng_shape_str(ndim, shape));
        resolved[infer] = numel / known;
        known = numel;
    }
    if (known != numel)
        return eng_error(ENG_ESHAPE, "reshape %s (%lld elements) to %s (%lld elements)",
                         eng_tensor_shape_str(t), (long long)numel, eng_shape_str(ndim, shape),
                         (long long)known);
    return eng_shape_numel(ndim, resolved, NULL);
}

eng_status eng_tensor_reshape(const eng_tensor *t, int ndim, const int64_t *shape, eng_tensor **out)
{
    *out = NULL;
    int64_t resolved[ENG_MAX_DIMS], strides[ENG_MAX_DIMS];
    eng_status st = infer_shape(t, ndim, shape, resolved);
    if (st)
        return st;
    if (!view_strides(t, ndim, resolved, eng_tensor_numel(t), strides))
        return eng_error(ENG_ESTATE,
                         "view: tensor %s with strides %s cannot be viewed as %s "
                         "without a copy (use reshape, or contiguous first)",
                         eng_tensor_shape_str(t), eng_shape_str(t->ndim, t->strides),
                         eng_shape_str(ndim, resolved));
    st = eng_tensor_view(t, out);
    if (st)
        return st;
    (*out)->ndim = ndim;
    memcpy((*out)->shape, resolved, sizeof(int64_t) * (size_t)ndim);
    memcpy((*out)->strides, strides, sizeof(int64_t) * (size_t)ndim);
    return ENG_OK;
}

eng_status eng_tensor_reshaped(const eng_tensor *t, int ndim, const int64_t *shape,
                               eng_tensor **out)
{
    *out = NULL;
    int64_t resolved[ENG_MAX_DIMS], strides[ENG_MAX_DIMS];
    eng_status st = infer_shape(t, ndim, shape, resolved);
    if (st)
        return st;
    if (view_strides(t, ndim, resolved, eng_tensor_numel(t), strides))
        return eng_tensor_reshape(t, ndim, resolved, out);
    eng_tensor *copy;
    st = eng_tensor_clone(t, &copy);
    if (st)
        return st;
    st = eng_tensor_reshape(copy, ndim, resolved, out);
    eng_tensor_release(copy);
    return st;
}

static eng_status check_dim(const eng_tensor *t, int dim, int ndim, const char *what)
{
    if (dim < 0 || dim >= ndim)
        return eng_error(ENG_EARG, "%s: dimension %d out of range for %s (1..%d)", what, dim + 1,
                         eng_tensor_shape_str(t), ndim);
    return ENG_OK;
}

eng_status eng_tensor_transpose(const eng_tensor *t, int d0, int d1, eng_tensor **out)
{
    *out = NULL;
    eng_status st;
    if ((st = check_dim(t, d0, t->ndim, "transpose")) ||
        (st = check_dim(t, d1, t->ndim, "transpose")) || (st = eng_tensor_view(t, out)))
        return st;
    (*out)->shape[d0] = t->shape[d1], (*out)->strides[d0] = t->strides[d1];
    (*out)->shape[d1] = t->shape[d0], (*out)->strides[d1] = t->strides[d0];
    return ENG_OK;
}

eng_status eng_tensor_permute(const eng_tensor *t, const int *dims, eng_tensor **out)
{
    *out = NULL;
    bool seen[ENG_MAX_DIMS] = {false};
    for (int d = 0; d < t->ndim; d++) {
        eng_status st = check_dim(t, dims[d], t->ndim, "permute");
        if (st)
            return st;
        if (seen[dims[d]])
            return eng_error(ENG_EARG, "permute: dimension %d appears twice for %s", dims[d] + 1,
                             eng_tensor_shape_str(t));
        seen[dims[d]] = true;
    }
    eng_status st = eng_tensor_view(t, out);
    if (st)
        return st;
    for (int d = 0; d < t->ndim; d++) {
        (*out)->shape[d] = t->shape[dims[d]];
        (*out)->strides[d] = t->strides[dims[d]];
    }
    return ENG_OK;
}

/* Removes dimension d of the view v in place. */
static void drop_dim(eng_tensor *v, int d)
{
    for (int k = d; k < v->ndim - 1; k++) {
        v->shape[k] = v->shape[k + 1];
        v->strides[k] = v->strides[k + 1];
    }
    v->ndim--;
}

eng_status eng_tensor_squeeze(const eng_tensor *t, int dim, eng_tensor **out)
{
    *out = NULL;
    eng_status st;
    if ((dim != -1 && (st = check_dim(t, dim, t->ndim, "squeeze"))) ||
        (st = eng_tensor_view(t, out)))
        return st;
    for (int d = t->ndim - 1; d >= 0; d--)
        if (t->shape[d] == 1 && (dim == -1 || dim == d))
            drop_dim(*out, d);
    return ENG_OK;
}

eng_status eng_tensor_unsqueeze(const eng_tensor *t, int dim, eng_tensor **out)
{
    *out = NULL;
    if (t->ndim == ENG_MAX_DIMS)
        return eng_error(ENG_ESHAPE, "unsqueeze: %s already has %d dimensions (the most)",
                         eng_tensor_shape_str(t), ENG_MAX_DIMS);
    eng_status st;
    if ((st = check_dim(t, dim, t->ndim + 1, "unsqueeze")) || (st = eng_tensor_view(t, out)))
        return st;
    eng_tensor *v = *out;
    for (int k = t->ndim; k > dim; k--) {
        v->shape[k] = t->shape[k - 1];
        v->strides[k] = t->strides[k - 1];
    }
    v->shape[dim] = 1;
    /* Any stride reads the same element; this one keeps a contiguous tensor contiguous. */
    v->strides[dim] = dim < t->ndim ? t->shape[dim] * t->strides[dim] : 1;
    v->ndim++;
    return ENG_OK;
}

eng_status eng_tensor_expand(const eng_tensor *t, int ndim, const int64_t *shape, eng_tensor **out)
{
    *out = NULL;
    if (ndim < t->ndim || ndim > ENG_MAX_DIMS)
        return eng_error(ENG_ESHAPE, "expand: %s to %s: the new shape needs %d to %d sizes",
                         eng_tensor_shape_str(t), eng_shape_str(ndim, shape), t->ndim,
                         ENG_MAX_DIMS);
    int64_t sizes[ENG_MAX_DIMS], strides[ENG_MAX_DIMS];
    int lead = ndim - t->ndim;
    for (int d = 0; d < ndim; d++) {
        int64_t old = d >= lead ? t->shape[d - lead] : -2;
        sizes[d] = shape[d] == -1 && d >= lead ? old : shape[d];
        strides[d] = d >= lead && sizes[d] == old ? t->strides[d - lead] : 0;
        if (sizes[d] < 0 || (d >= lead && old != 1 && sizes[d] != old))
            return eng_error(
                ENG_ESHAPE,
                "expand: %s to %s: size %lld in dimension %d must be "
                "%s",
                eng_tensor_shape_str(t), eng_shape_str(ndim, shape), (long long)shape[d], d + 1,
                d >= lead ? "the existing size (or the existing size is 1)" : "non-negative");
    }
    eng_status st;
    if ((st = eng_shape_numel(ndim, sizes, NULL)) || (st = eng_tensor_view(t, out)))
        return st;
    (*out)->ndim = ndim;
    memcpy((*out)->shape, sizes, sizeof sizes);
    memcpy((*out)->strides, strides, sizeof strides);
    return ENG_OK;
}

eng_status eng_tensor_contiguous(const eng_tensor *t, eng_tensor **out)
{
    if (eng_tensor_is_contiguous(t))
        return eng_tensor_view(t, out);
    return eng_tensor_clone(t, out);
}

eng_status eng_tensor_flatten(const eng_tensor *t, int first, int last, eng_tensor **out)
{
    *out = NULL;
    if (t->ndim == 0)
        return eng_tensor_reshaped(t, 1, (int64_t[]){1}, out);
    eng_status st;
    if ((st = check_dim(t, first, t->ndim, "flatten")) ||
        (st = check_dim(t, last, t->ndim, "flatten")))
        return st;
    if (first > last)
        return eng_error(ENG_EARG, "flatten: start dimension %d after end dimension %d of %s",
                         first + 1, last + 1, eng_tensor_shape_str(t));
    int64_t shape[ENG_MAX_DIMS];
    int n = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (d <= first || d > last)
            shape[n++] = t->shape[d];
        else
            shape[n - 1] *= t->shape[d]; /* cannot overflow: a factor of numel */
    }
    return eng_tensor_reshaped(t, n, shape, out);
}

/* ---- joining ---- */

eng_status eng_tensor_cat(int n, const eng_tensor *const *ts, int dim, eng_tensor **out)
{
    *out = NULL;
    if (n < 1)
        return eng_error(ENG_EARG, "cat: no tensors to join");
    const eng_tensor *a = ts[0];
    eng_status st = check_dim(a, dim, a->ndim, "cat");
    if (st)
        return st;
    int64_t shape[ENG_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    for (int k = 1; k < n; k++) {
        const eng_tensor *b = ts[k];
        if (b->dtype != a->dtype)
            return eng_error(ENG_EDTYPE,
                             "cat: tensor %d has dtype %s, tensor 1 %s (convert "
                             "with :to())",
                             k + 1, eng_dtype_name(b->dtype), eng_dtype_name(a->dtype));
        int bad = b->ndim != a->ndim ? -2 : -1;
        for (int d = 0; d < a->ndim && bad == -1; d++)
            if (d != dim && b->shape[d] != a->shape[d])
                bad = d;
        if (bad != -1)
            return eng_error(ENG_ESHAPE,
                             "cat along dimension %d: tensor %d is %s, tensor 1 "
                             "is %s (they differ in %s %d)",
                             dim + 1, k + 1, eng_tensor_shape_str(b), eng_tensor_shape_str(a),
                             bad == -2 ? "number of dimensions," : "dimension",
                             bad == -2 ? b->ndim : bad + 1);
        if (__builtin_add_overflow(shape[dim], b->shape[dim], &shape[dim]))
            return eng_error(ENG_ESHAPE, "cat: sizes along dimension %d overflow", dim + 1);
    }
    st = eng_tensor_new(a->dtype, a->ndim, shape, out);
    int64_t at = 0;
    for (int k = 0; k < n && !st; k++) {
        eng_tensor *part;
        st = eng_tensor_narrow(*out, dim, at, ts[k]->shape[dim], &part);
        if (!st)
            st = eng_tensor_copy(part, ts[k]);
        eng_tensor_release(part);
        at += ts[k]->shape[dim];
    }
    if (st) {
        eng_tensor_release(*out);
        *out = NULL;
    }
    return st;
}

eng_status eng_tensor_stack(int n, const eng_tensor *const *ts, int dim, eng_tensor **out)
{
    *out = NULL;
    if (n < 1)
        return eng_error(ENG_EARG, "stack: no tensors to join");
    for (int k = 1; k < n; k++)
        if (!eng_tensor_same_shape(ts[k], ts[0]))
            return eng_error(ENG_ESHAPE,
                             "stack: tensor %d is %s, tensor 1 is %s (all must have "
                             "one shape)",
                             k + 1, eng_tensor_shape_str(ts[k]), eng_tensor_shape_str(ts[0]));
    eng_tensor **parts = calloc((size_t)n, sizeof *parts);
    if (!parts)
        return eng_error(ENG_ENOMEM, "stack: out of memory for %d tensors", n);
    int made = 0;
    eng_status st = ENG_OK;
    for (; made < n && !st; made++)
        st = eng_tensor_unsqueeze(ts[made], dim, &parts[made]);
    if (!st)
        st = eng_tensor_cat(n, (const eng_tensor *const *)parts, dim, out);
    for (int k = 0; k < made; k++)
        eng_tensor_release(parts[k]);
    free(parts);
    return st;
}
