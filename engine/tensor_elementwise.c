/* Elementwise tensor math with broadcasting and PyTorch's type promotion (tensor_math.h).
 * Operands of another dtype than the computation's are converted first (a temporary); the
 * arithmetic itself is in kernels/elementwise.c. */
#include "tensor_math.h"
#include "kernels/elementwise.h"

#include <math.h>
#include <string.h>

#include "tensor_iter.h"

eng_scalar eng_scalar_float(double v)
{
    return (eng_scalar){.f = v, .i = 0, .is_int = false};
}

eng_scalar eng_scalar_int(int64_t v)
{
    return (eng_scalar){.f = (double)v, .i = v, .is_int = true};
}

/* Rank within a kind: f64 > f32, i64 > i32 > u8. */
static int type_rank(eng_dtype d)
{
    switch (d) {
    case ENG_U8: return 0;
    case ENG_I32: return 1;
    case ENG_I64: return 2;
    case ENG_F32: return 3;
    case ENG_F64: return 4;
    }
    return 0;
}

eng_dtype eng_promote_types(eng_dtype a, eng_dtype b)
{
    return type_rank(a) >= type_rank(b) ? a : b;
}

eng_dtype eng_promote_scalar(eng_dtype t, eng_scalar s)
{
    if (eng_dtype_is_float(t) || s.is_int)
        return t;
    return ENG_F32; /* torch.get_default_dtype() */
}

eng_status eng_broadcast_shape(int andim, const int64_t *ashape, int bndim, const int64_t *bshape,
                               int *ndim, int64_t *shape)
{
    int nd = andim > bndim ? andim : bndim;
    int64_t out[ENG_MAX_DIMS]; /* shape may be ashape or bshape itself */
    for (int d = 0; d < nd; d++) {
        int ea = d - (nd - andim), eb = d - (nd - bndim);
        int64_t sa = ea < 0 ? 1 : ashape[ea], sb = eb < 0 ? 1 : bshape[eb];
        if (sa != sb && sa != 1 && sb != 1)
            return eng_error(ENG_ESHAPE,
                             "shapes %s and %s do not broadcast: dimension %d (from the end) "
                             "has sizes %lld and %lld",
                             eng_shape_str(andim, ashape), eng_shape_str(bndim, bshape), nd - d,
                             (long long)sa, (long long)sb);
        out[d] = sa == 1 ? sb : sa;
    }
    memcpy(shape, out, sizeof(int64_t) * (size_t)nd);
    *ndim = nd;
    return ENG_OK;
}

static const char *binop_name(eng_binop op)
{
    static const char *names[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum",
                                  "eq",  "ne",  "lt",  "le",  "gt",  "ge"};
    return names[op];
}

static bool is_compare(eng_binop op)
{
    return op >= ENG_OP_EQ;
}

/* The dtype the operation computes in (for comparisons, the operands' promoted dtype). */
static eng_status compute_dtype(eng_binop op, const eng_tensor *a, const eng_tensor *b,
                                eng_scalar s, eng_dtype *out)
{
    eng_dtype c = a && b ? eng_promote_types(a->dtype, b->dtype)
                         : eng_promote_scalar(a ? a->dtype : b->dtype, s);
    if (op == ENG_OP_DIV && !eng_dtype_is_float(c))
        c = ENG_F32; /* true division, as torch.div */
    if (op == ENG_OP_POW && !eng_dtype_is_float(c))
        return eng_error(ENG_EDTYPE,
                         "pow: integer operands (%s ^ %s) are not supported; "
                         "convert with :to(\"f64\") first",
                         a ? eng_dtype_name(a->dtype) : "number",
                         b ? eng_dtype_name(b->dtype) : "number");
    *out = c;
    return ENG_OK;
}

eng_status eng_binop_result(eng_binop op, const eng_tensor *a, const eng_tensor *b, eng_scalar s,
                            eng_dtype *dtype, int *ndim, int64_t *shape)
{
    eng_dtype c = ENG_F32;
    eng_status st = compute_dtype(op, a, b, s, &c);
    if (st)
        return st;
    *dtype = is_compare(op) ? ENG_U8 : c;
    if (a && b) {
        st = eng_broadcast_shape(a->ndim, a->shape, b->ndim, b->shape, ndim, shape);
        return st ? eng_error_wrap(st, "%s", binop_name(op)) : ENG_OK;
    }
    const eng_tensor *t = a ? a : b;
    *ndim = t->ndim;
    for (int d = 0; d < t->ndim; d++)
        shape[d] = t->shape[d];
    return ENG_OK;
}

/* The destination must be exactly the result: PyTorch would resize it, which would hide an
 * allocation inside a loop meant to have none. */
static eng_status check_dst(const char *what, const eng_tensor *dst, eng_dtype dtype, int ndim,
                            const int64_t *shape)
{
    if (dst->ndim != ndim || memcmp(dst->shape, shape, sizeof(int64_t) * (size_t)ndim) != 0)
        return eng_error(ENG_ESHAPE, "%s: destination %s does not match the result %s", what,
                         eng_tensor_shape_str(dst), eng_shape_str(ndim, shape));
    if (dst->dtype != dtype)
        return eng_error(ENG_EDTYPE, "%s: destination dtype %s, result dtype %s", what,
                         eng_dtype_name(dst->dtype), eng_dtype_name(dtype));
    return ENG_OK;
}

/* *use = t, or a converted copy kept in *tmp (released by the caller). */
static eng_status as_dtype(const eng_tensor *t, eng_dtype d, eng_tensor **tmp,
                           const eng_tensor **use)
{
    *use = t;
    if (!t || t->dtype == d)
        return ENG_OK;
    eng_status st = eng_tensor_to(t, d, tmp);
    *use = *tmp;
    return st;
}

typedef union scalar_box {
    float f32;
    double f64;
    int64_t i64;
    int32_t i32;
    uint8_t u8;
} scalar_box;

/* s stored as dtype d; an integer out of d's range is refused rather than wrapped. */
static eng_status scalar_as(const char *what, eng_scalar s, eng_dtype d, scalar_box *box)
{
    int64_t lo = d == ENG_U8 ? 0 : d == ENG_I32 ? INT32_MIN : INT64_MIN;
    int64_t hi = d == ENG_U8 ? 255 : d == ENG_I32 ? INT32_MAX : INT64_MAX;
    switch (d) {
    case ENG_F32: box->f32 = (float)(s.is_int ? (double)s.i : s.f); return ENG_OK;
    case ENG_F64: box->f64 = s.is_int ? (double)s.i : s.f; return ENG_OK;
    default: break;
    }
    if (!s.is_int || s.i < lo || s.i > hi)
        return eng_error(ENG_EARG, "%s: the number %.17g does not fit %s", what, s.f,
                         eng_dtype_name(d));
    if (d == ENG_U8)
        box->u8 = (uint8_t)s.i;
    else if (d == ENG_I32)
        box->i32 = (int32_t)s.i;
    else
        box->i64 = s.i;
    return ENG_OK;
}

typedef struct binctx {
    eng_binop op;
    eng_dtype c;
} binctx;

#define BIN_CASE(D, T, SFX)                                                                        \
    case D:                                                                                        \
        if (is_compare(b->op))                                                                     \
            eng_compare_##SFX(b->op, (uint8_t *)p[0], s[0], (const T *)p[1], s[1],                 \
                              (const T *)p[2], s[2], n);                                           \
        else                                                                                       \
            eng_binary_##SFX(b->op, (T *)p[0], s[0], (const T *)p[1], s[1], (const T *)p[2], s[2], \
                             n);                                                                   \
        break;

static void binary_row(void *ctx, char **p, const int64_t *s, int64_t n)
{
    const binctx *b = ctx;
    switch (b->c) {
        BIN_CASE(ENG_F32, float, f32)
        BIN_CASE(ENG_F64, double, f64)
        BIN_CASE(ENG_I64, int64_t, i64)
        BIN_CASE(ENG_I32, int32_t, i32)
        BIN_CASE(ENG_U8, uint8_t, u8)
    }
}

typedef struct powctx {
    scalar_box e;
    eng_dtype c;
} powctx;

static void pow_scalar_row(void *ctx, char **p, const int64_t *s, int64_t n)
{
    const powctx *c = ctx;
    if (c->c == ENG_F32)
        eng_pow_scalar_f32((float *)p[0], s[0], (const float *)p[1], s[1], c->e.f32, n);
    else
        eng_pow_scalar_f64((double *)p[0], s[0], (const double *)p[1], s[1], c->e.f64, n);
}

eng_status eng_tensor_binop(eng_tensor *dst, eng_binop op, const eng_tensor *a, const eng_tensor *b,
                            eng_scalar s)
{
    eng_tensor *ta = NULL, *tb = NULL;
    const eng_tensor *ua, *ub;
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    eng_dtype dtype, c = ENG_F32;
    scalar_box box;
    eng_status st = eng_binop_result(op, a, b, s, &dtype, &ndim, shape);
    if (!st)
        st = check_dst(binop_name(op), dst, dtype, ndim, shape);
    if (!st)
        st = compute_dtype(op, a, b, s, &c);
    if (!st && !(a && b))
        st = scalar_as(binop_name(op), s, c, &box);
    if (!st)
        st = as_dtype(a, c, &ta, &ua);
    if (!st)
        st = as_dtype(b, c, &tb, &ub);
    if (st)
        goto fail;
    eng_iter it;
    eng_iter_init(&it, ndim, shape);
    eng_iter_add_tensor(&it, dst);
    if (op == ENG_OP_POW && !b) {
        powctx ctx = {box, c};
        eng_iter_add_tensor(&it, ua);
        eng_iter_coalesce(&it);
        eng_iter_run(&it, pow_scalar_row, &ctx);
    } else {
        binctx ctx = {op, c};
        if (ua)
            eng_iter_add_tensor(&it, ua);
        else
            eng_iter_add_scalar(&it, &box, eng_dtype_size(c));
        if (ub)
            eng_iter_add_tensor(&it, ub);
        else
            eng_iter_add_scalar(&it, &box, eng_dtype_size(c));
        eng_iter_coalesce(&it);
        eng_iter_run(&it, binary_row, &ctx);
    }
fail:
    eng_tensor_release(ta);
    eng_tensor_release(tb);
    return st;
}

/* ---- unary ---- */

static const char *unop_name(eng_unop op)
{
    static const char *names[] = {"neg",   "abs",   "sign", "relu",  "exp",  "log",
                                  "log1p", "expm1", "sqrt", "rsqrt", "tanh", "sigmoid"};
    return names[op];
}

eng_dtype eng_unop_result(eng_unop op, eng_dtype x)
{
    return op >= ENG_OP_EXP && !eng_dtype_is_float(x) ? ENG_F32 : x;
}

#define UN_CASE(D, T, SFX)                                                                         \
    case D: eng_unary_##SFX(*op, (T *)p[0], s[0], (const T *)p[1], s[1], n); break;

typedef struct unctx {
    eng_unop op;
    eng_dtype c;
} unctx;

static void unary_row(void *ctx, char **p, const int64_t *s, int64_t n)
{
    const unctx *u = ctx;
    const eng_unop *op = &u->op;
    switch (u->c) {
        UN_CASE(ENG_F32, float, f32)
        UN_CASE(ENG_F64, double, f64)
        UN_CASE(ENG_I64, int64_t, i64)
        UN_CASE(ENG_I32, int32_t, i32)
        UN_CASE(ENG_U8, uint8_t, u8)
    }
}

eng_status eng_tensor_unop(eng_tensor *dst, eng_unop op, const eng_tensor *x)
{
    eng_tensor *tx = NULL;
    const eng_tensor *ux;
    eng_dtype c = eng_unop_result(op, x->dtype);
    eng_status st = check_dst(unop_name(op), dst, c, x->ndim, x->shape);
    if (!st)
        st = as_dtype(x, c, &tx, &ux);
    if (st)
        goto fail;
    eng_iter it;
    unctx ctx = {op, c};
    eng_iter_init(&it, x->ndim, x->shape);
    eng_iter_add_tensor(&it, dst);
    eng_iter_add_tensor(&it, ux);
    eng_iter_coalesce(&it);
    eng_iter_run(&it, unary_row, &ctx);
fail:
    eng_tensor_release(tx);
    return st;
}

eng_status eng_tensor_clamp(eng_tensor *dst, const eng_tensor *x, const eng_scalar *lo,
                            const eng_scalar *hi)
{
    if (!lo && !hi)
        return eng_error(ENG_EARG, "clamp: give at least one of min and max");
    eng_dtype c = x->dtype;
    if (lo)
        c = eng_promote_scalar(c, *lo);
    if (hi)
        c = eng_promote_scalar(c, *hi);
    eng_status st = check_dst("clamp", dst, c, x->ndim, x->shape);
    if (!st && x->dtype != c) {
        st = eng_tensor_copy(dst, x); /* an integer tensor with a float bound */
        x = dst;
    }
    if (!st && lo)
        st = eng_tensor_binop(dst, ENG_OP_MAXIMUM, x, NULL, *lo);
    if (!st && hi)
        st = eng_tensor_binop(dst, ENG_OP_MINIMUM, lo ? dst : x, NULL, *hi);
    return st ? eng_error_wrap(st, "clamp") : ENG_OK;
}

/* ---- where ---- */

static eng_dtype where_dtype(const eng_tensor *a, eng_scalar sa, const eng_tensor *b, eng_scalar sb)
{
    if (a && b)
        return eng_promote_types(a->dtype, b->dtype);
    if (a || b)
        return eng_promote_scalar(a ? a->dtype : b->dtype, a ? sb : sa);
    return sa.is_int && sb.is_int ? ENG_I64 : ENG_F32;
}

eng_status eng_where_result(const eng_tensor *cond, const eng_tensor *a, eng_scalar sa,
                            const eng_tensor *b, eng_scalar sb, eng_dtype *dtype, int *ndim,
                            int64_t *shape)
{
    if (cond->dtype != ENG_U8)
        return eng_error(ENG_EDTYPE,
                         "where: the condition must be a u8 mask (from eq, lt, "
                         "...), got %s",
                         eng_dtype_name(cond->dtype));
    *dtype = where_dtype(a, sa, b, sb);
    eng_status st = ENG_OK;
    *ndim = cond->ndim;
    memcpy(shape, cond->shape, sizeof(int64_t) * (size_t)cond->ndim);
    if (a)
        st = eng_broadcast_shape(*ndim, shape, a->ndim, a->shape, ndim, shape);
    if (!st && b)
        st = eng_broadcast_shape(*ndim, shape, b->ndim, b->shape, ndim, shape);
    return st ? eng_error_wrap(st, "where") : ENG_OK;
}

#define WHERE_CASE(D, T, SFX)                                                                      \
    case D:                                                                                        \
        eng_where_##SFX((T *)p[0], s[0], (const uint8_t *)p[1], s[1], (const T *)p[2], s[2],       \
                        (const T *)p[3], s[3], n);                                                 \
        break;

static void where_row(void *ctx, char **p, const int64_t *s, int64_t n)
{
    switch (*(const eng_dtype *)ctx) {
        WHERE_CASE(ENG_F32, float, f32)
        WHERE_CASE(ENG_F64, double, f64)
        WHERE_CASE(ENG_I64, int64_t, i64)
        WHERE_CASE(ENG_I32, int32_t, i32)
        WHERE_CASE(ENG_U8, uint8_t, u8)
    }
}

eng_status eng_tensor_where(eng_tensor *dst, const eng_tensor *cond, const eng_tensor *a,
                            eng_scalar sa, const eng_tensor *b, eng_scalar sb)
{
    eng_tensor *ta = NULL, *tb = NULL;
    const eng_tensor *ua, *ub;
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    eng_dtype c = ENG_F32;
    scalar_box boxa, boxb;
    eng_status st = eng_where_result(cond, a, sa, b, sb, &c, &ndim, shape);
    if (!st)
        st = check_dst("where", dst, c, ndim, shape);
    if (!st && !a)
        st = scalar_as("where", sa, c, &boxa);
    if (!st && !b)
        st = scalar_as("where", sb, c, &boxb);
    if (!st)
        st = as_dtype(a, c, &ta, &ua);
    if (!st)
        st = as_dtype(b, c, &tb, &ub);
    if (st)
        goto fail;
    eng_iter it;
    eng_iter_init(&it, ndim, shape);
    eng_iter_add_tensor(&it, dst);
    eng_iter_add_tensor(&it, cond);
    if (ua)
        eng_iter_add_tensor(&it, ua);
    else
        eng_iter_add_scalar(&it, &boxa, eng_dtype_size(c));
    if (ub)
        eng_iter_add_tensor(&it, ub);
    else
        eng_iter_add_scalar(&it, &boxb, eng_dtype_size(c));
    eng_iter_coalesce(&it);
    eng_iter_run(&it, where_row, &c);
fail:
    eng_tensor_release(ta);
    eng_tensor_release(tb);
    return st;
}
