/* Reductions along one dimension and over a whole tensor (tensor_math.h). The arithmetic of
 * one reduced vector is in kernels/reduction.c; this file walks the output positions. */
#include "tensor_math.h"

#include <math.h>
#include <string.h>

#include "kernels/reduction.h"
#include "tensor_iter.h"

const char *eng_reduce_name(eng_reduce_op op)
{
    static const char *names[] = {"sum",  "mean",      "prod", "var", "std",
                                  "norm", "logsumexp", "max",  "min"};
    return names[op];
}

static bool float_only(eng_reduce_op op)
{
    return op == ENG_REDUCE_MEAN || op == ENG_REDUCE_VAR || op == ENG_REDUCE_STD ||
           op == ENG_REDUCE_NORM || op == ENG_REDUCE_LOGSUMEXP;
}

static eng_dtype reduce_dtype(eng_reduce_op op, eng_dtype x)
{
    if ((op == ENG_REDUCE_SUM || op == ENG_REDUCE_PROD) && !eng_dtype_is_float(x))
        return ENG_I64; /* as torch.sum of an integer tensor */
    return x;
}

static eng_status check_reducible(const char *what, eng_reduce_op op, const eng_tensor *x)
{
    if (float_only(op) && !eng_dtype_is_float(x->dtype))
        return eng_error(ENG_EDTYPE,
                         "%s needs a float tensor (f32 or f64), got %s; convert "
                         "with :to(\"f64\")",
                         what, eng_dtype_name(x->dtype));
    return ENG_OK;
}

eng_status eng_reduce_result(eng_reduce_op op, const eng_tensor *x, int dim, bool keepdim,
                             eng_dtype *dtype, int *ndim, int64_t *shape)
{
    const char *what = eng_reduce_name(op);
    eng_status st = check_reducible(what, op, x);
    if (st)
        return st;
    if (dim < 0 || dim >= x->ndim)
        return eng_error(ENG_EARG, "%s: dimension %d out of range for %s (1..%d)", what, dim + 1,
                         eng_tensor_shape_str(x), x->ndim);
    if ((op == ENG_REDUCE_MAX || op == ENG_REDUCE_MIN) && x->shape[dim] == 0)
        return eng_error(ENG_ESHAPE, "%s: dimension %d of %s is empty", what, dim + 1,
                         eng_tensor_shape_str(x));
    int nd = 0;
    for (int d = 0; d < x->ndim; d++)
        if (d != dim)
            shape[nd++] = x->shape[d];
        else if (keepdim)
            shape[nd++] = 1;
    *ndim = nd;
    *dtype = reduce_dtype(op, x->dtype);
    return ENG_OK;
}

/* ---- one vector ---- */

static int64_t argext_vec(const char *x, eng_dtype d, int64_t n, int64_t s, bool max)
{
    switch (d) {
    case ENG_F32: return (max ? eng_vargmax_f32 : eng_vargmin_f32)((const float *)x, n, s);
    case ENG_F64: return (max ? eng_vargmax_f64 : eng_vargmin_f64)((const double *)x, n, s);
    case ENG_I64: return (max ? eng_vargmax_i64 : eng_vargmin_i64)((const int64_t *)x, n, s);
    case ENG_I32: return (max ? eng_vargmax_i32 : eng_vargmin_i32)((const int32_t *)x, n, s);
    case ENG_U8: return (max ? eng_vargmax_u8 : eng_vargmin_u8)((const uint8_t *)x, n, s);
    }
    return 0;
}

static int64_t int_vec(eng_reduce_op op, const char *x, eng_dtype d, int64_t n, int64_t s)
{
    bool sum = op == ENG_REDUCE_SUM;
    switch (d) {
    case ENG_I64: return (sum ? eng_vsum_i64 : eng_vprod_i64)((const int64_t *)x, n, s);
    case ENG_I32: return (sum ? eng_vsum_i32 : eng_vprod_i32)((const int32_t *)x, n, s);
    case ENG_U8: return (sum ? eng_vsum_u8 : eng_vprod_u8)((const uint8_t *)x, n, s);
    default: return 0;
    }
}

/* A float reduction of n elements at x, stride s, as a double. */
static double float_vec(eng_reduce_op op, const char *x, eng_dtype d, int64_t n, int64_t s,
                        double param)
{
    bool f = d == ENG_F32;
    const float *xf = (const float *)x;
    const double *xd = (const double *)x;
    double sum, mean, var;
    switch (op) {
    case ENG_REDUCE_SUM: return f ? eng_vsum_f32(xf, n, s) : eng_vsum_f64(xd, n, s);
    case ENG_REDUCE_MEAN:
        sum = f ? eng_vsum_f32(xf, n, s) : eng_vsum_f64(xd, n, s);
        return sum / (double)n;
    case ENG_REDUCE_PROD: return f ? eng_vprod_f32(xf, n, s) : eng_vprod_f64(xd, n, s);
    case ENG_REDUCE_VAR:
    case ENG_REDUCE_STD:
        /* Two passes: the mean, then the squared deviations (Chan, Golub and LeVeque 1983
         * on why one pass loses digits). The divisor is n - correction (torch.var). */
        mean = (f ? eng_vsum_f32(xf, n, s) : eng_vsum_f64(xd, n, s)) / (double)n;
        var = (f ? eng_vsumsq_dev_f32(xf, n, s, mean) : eng_vsumsq_dev_f64(xd, n, s, mean)) /
              ((double)n - param);
        return op == ENG_REDUCE_STD ? sqrt(var) : var;
    case ENG_REDUCE_NORM:
        return f ? eng_vnorm_f32(xf, n, s, param) : eng_vnorm_f64(xd, n, s, param);
    case ENG_REDUCE_LOGSUMEXP:
        return f ? eng_vlogsumexp_f32(xf, n, s) : eng_vlogsumexp_f64(xd, n, s);
    case ENG_REDUCE_MAX:
    case ENG_REDUCE_MIN:
        return f ? xf[argext_vec(x, d, n, s, op == ENG_REDUCE_MAX) * s]
                 : xd[argext_vec(x, d, n, s, op == ENG_REDUCE_MAX) * s];
    }
    return 0;
}

/* The reduction of one vector as a scalar of the result dtype. */
static eng_scalar reduce_vec(eng_reduce_op op, const char *x, eng_dtype d, int64_t n, int64_t s,
                             double param)
{
    if (eng_dtype_is_float(d))
        return eng_scalar_float(float_vec(op, x, d, n, s, param));
    if (op == ENG_REDUCE_SUM || op == ENG_REDUCE_PROD)
        return eng_scalar_int(int_vec(op, x, d, n, s));
    int64_t at = argext_vec(x, d, n, s, op == ENG_REDUCE_MAX) * s;
    switch (d) {
    case ENG_I64: return eng_scalar_int(((const int64_t *)x)[at]);
    case ENG_I32: return eng_scalar_int(((const int32_t *)x)[at]);
    default: return eng_scalar_int(((const uint8_t *)x)[at]);
    }
}

static void store(char *y, eng_dtype d, eng_scalar v)
{
    switch (d) {
    case ENG_F32: *(float *)y = (float)v.f; break;
    case ENG_F64: *(double *)y = v.f; break;
    case ENG_I64: *(int64_t *)y = v.i; break;
    case ENG_I32: *(int32_t *)y = (int32_t)v.i; break;
    case ENG_U8: *(uint8_t *)y = (uint8_t)v.i; break;
    }
}

/* ---- along one dimension ---- */

typedef struct redctx {
    eng_reduce_op op;
    eng_dtype xd, yd;
    int64_t n, stride; /* the reduced dimension of x */
    double param;
    bool arg, max; /* eng_tensor_argext: indices instead of values */
    int64_t base;
} redctx;

static void reduce_row(void *ctx, char **p, const int64_t *s, int64_t n)
{
    const redctx *r = ctx;
    size_t ye = eng_dtype_size(r->yd), xe = eng_dtype_size(r->xd);
    for (int64_t i = 0; i < n; i++) {
        char *y = p[0] + i * s[0] * (int64_t)ye;
        const char *x = p[1] + i * s[1] * (int64_t)xe;
        if (r->arg)
            *(int64_t *)y = argext_vec(x, r->xd, r->n, r->stride, r->max) + r->base;
        else
            store(y, r->yd, reduce_vec(r->op, x, r->xd, r->n, r->stride, r->param));
    }
}

/* Walks the positions of x without dim, y at the matching positions. */
static void walk(eng_tensor *y, const eng_tensor *x, int dim, bool keepdim, redctx *ctx)
{
    int64_t shape[ENG_MAX_DIMS], xs[ENG_MAX_DIMS], ys[ENG_MAX_DIMS];
    int nd = 0;
    for (int d = 0, e = 0; d < x->ndim; d++) {
        if (d == dim) {
            e += keepdim;
            continue;
        }
        shape[nd] = x->shape[d];
        xs[nd] = x->strides[d];
        ys[nd++] = y->strides[e++];
    }
    ctx->n = x->shape[dim];
    ctx->stride = x->strides[dim];
    eng_iter it;
    eng_iter_init(&it, nd, shape);
    eng_iter_add(&it, eng_tensor_data(y), eng_dtype_size(y->dtype), nd, shape, ys);
    eng_iter_add(&it, eng_tensor_data(x), eng_dtype_size(x->dtype), nd, shape, xs);
    eng_iter_coalesce(&it);
    eng_iter_run(&it, reduce_row, ctx);
}

static eng_status check_out(const char *what, const eng_tensor *y, eng_dtype dtype, int ndim,
                            const int64_t *shape)
{
    if (y->ndim != ndim || memcmp(y->shape, shape, sizeof(int64_t) * (size_t)ndim) != 0)
        return eng_error(ENG_ESHAPE, "%s: destination %s does not match the result %s", what,
                         eng_tensor_shape_str(y), eng_shape_str(ndim, shape));
    if (y->dtype != dtype)
        return eng_error(ENG_EDTYPE, "%s: destination dtype %s, result dtype %s", what,
                         eng_dtype_name(y->dtype), eng_dtype_name(dtype));
    return ENG_OK;
}

eng_status eng_tensor_reduce(eng_tensor *y, eng_reduce_op op, const eng_tensor *x, int dim,
                             bool keepdim, double param)
{
    eng_dtype dtype = ENG_F32;
    int ndim = 0;
    int64_t shape[ENG_MAX_DIMS];
    eng_status st = eng_reduce_result(op, x, dim, keepdim, &dtype, &ndim, shape);
    if (!st)
        st = check_out(eng_reduce_name(op), y, dtype, ndim, shape);
    if (st)
        return st;
    if (y->storage == x->storage)
        return eng_error(ENG_EARG, "%s: the destination shares storage with the input",
                         eng_reduce_name(op));
    redctx ctx = {.op = op, .xd = x->dtype, .yd = dtype, .param = param};
    walk(y, x, dim, keepdim, &ctx);
    return ENG_OK;
}

eng_status eng_tensor_argext(eng_tensor *idx, const eng_tensor *x, int dim, bool keepdim, bool max,
                             int64_t base)
{
    eng_dtype dtype = ENG_F32;
    int ndim = 0;
    int64_t shape[ENG_MAX_DIMS];
    const char *what = max ? "argmax" : "argmin";
    eng_status st = eng_reduce_result(max ? ENG_REDUCE_MAX : ENG_REDUCE_MIN, x, dim, keepdim,
                                      &dtype, &ndim, shape);
    if (!st)
        st = check_out(what, idx, ENG_I64, ndim, shape);
    if (!st && idx->storage == x->storage)
        st = eng_error(ENG_EARG, "%s: the destination shares storage with the input", what);
    if (st)
        return eng_error_wrap(st, "%s", what);
    redctx ctx = {.xd = x->dtype, .yd = ENG_I64, .arg = true, .max = max, .base = base};
    walk(idx, x, dim, keepdim, &ctx);
    return ENG_OK;
}

/* ---- whole tensor ---- */

/* x itself when contiguous, else a contiguous copy in *tmp. */
static eng_status flat(const eng_tensor *x, eng_tensor **tmp, const eng_tensor **use)
{
    *use = x;
    if (eng_tensor_is_contiguous(x))
        return ENG_OK;
    eng_status st = eng_tensor_clone(x, tmp);
    *use = *tmp;
    return st;
}

eng_status eng_tensor_reduce_all(eng_scalar *value, eng_reduce_op op, const eng_tensor *x,
                                 double param)
{
    const char *what = eng_reduce_name(op);
    eng_tensor *tmp = NULL;
    const eng_tensor *u;
    int64_t n = eng_tensor_numel(x);
    eng_status st = check_reducible(what, op, x);
    if (!st && (op == ENG_REDUCE_MAX || op == ENG_REDUCE_MIN) && n == 0)
        st = eng_error(ENG_ESHAPE, "%s of an empty tensor %s", what, eng_tensor_shape_str(x));
    if (!st)
        st = flat(x, &tmp, &u);
    if (!st)
        *value = reduce_vec(op, eng_tensor_data(u), u->dtype, n, 1, param);
    eng_tensor_release(tmp);
    return st;
}

eng_status eng_tensor_argext_all(int64_t *pos, const eng_tensor *x, bool max)
{
    eng_tensor *tmp = NULL;
    const eng_tensor *u;
    int64_t n = eng_tensor_numel(x);
    if (n == 0)
        return eng_error(ENG_ESHAPE, "%s of an empty tensor %s", max ? "argmax" : "argmin",
                         eng_tensor_shape_str(x));
    eng_status st = flat(x, &tmp, &u);
    if (!st)
        *pos = argext_vec(eng_tensor_data(u), u->dtype, n, 1, max);
    eng_tensor_release(tmp);
    return st;
}
