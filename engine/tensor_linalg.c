/* Matrix products of tensors through OpenBLAS (tensor_math.h). A view whose last two
 * dimensions are row- or column-major goes to BLAS as it is; any other is copied first. */
#include "tensor_math.h"
#include "kernels/elementwise.h"

#include <limits.h>
#include <string.h>

#include "kernels/matmul.h"
#include "tensor_iter.h"

static eng_status check_float_pair(const char *what, const eng_tensor *a, const eng_tensor *b)
{
    if (!eng_dtype_is_float(a->dtype) || a->dtype != b->dtype)
        return eng_error(ENG_EDTYPE, "%s: needs two f32 or two f64 tensors, got %s and %s", what,
                         eng_dtype_name(a->dtype), eng_dtype_name(b->dtype));
    return ENG_OK;
}

/* a and b as >= 2-d headers on the stack (a [k] as [1,k], b [k] as [k,1]), borrowing their
 * storage; the batch shape, n, m; and the user-visible result shape. */
typedef struct mmplan {
    eng_tensor a, b;
    int bnd;
    int64_t batch[ENG_MAX_DIMS];
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
} mmplan;

static eng_status plan(const char *what, const eng_tensor *a, const eng_tensor *b, mmplan *p)
{
    eng_status st = check_float_pair(what, a, b);
    if (st)
        return st;
    if (a->ndim == 0 || b->ndim == 0)
        return eng_error(ENG_ESHAPE,
                         "%s: both operands need at least 1 dimension, got %s "
                         "and %s",
                         what, eng_tensor_shape_str(a), eng_tensor_shape_str(b));
    p->a = *a;
    p->b = *b;
    if (a->ndim == 1) {
        p->a.ndim = 2;
        p->a.shape[1] = a->shape[0], p->a.strides[1] = a->strides[0];
        p->a.shape[0] = 1, p->a.strides[0] = a->shape[0] * a->strides[0];
    }
    if (b->ndim == 1) {
        p->b.ndim = 2;
        p->b.shape[0] = b->shape[0], p->b.strides[0] = b->strides[0];
        p->b.shape[1] = 1, p->b.strides[1] = 1;
    }
    int64_t k = p->a.shape[p->a.ndim - 1], k2 = p->b.shape[p->b.ndim - 2];
    if (k != k2)
        return eng_error(ENG_ESHAPE,
                         "%s: %s @ %s: dimension %d of the first (%lld) must "
                         "equal dimension %d of the second (%lld)",
                         what, eng_tensor_shape_str(a), eng_tensor_shape_str(b), a->ndim,
                         (long long)k, b->ndim == 1 ? 1 : b->ndim - 1, (long long)k2);
    st = eng_broadcast_shape(p->a.ndim - 2, p->a.shape, p->b.ndim - 2, p->b.shape, &p->bnd,
                             p->batch);
    if (st)
        return eng_error_wrap(st, "%s: batch dimensions of %s and %s", what,
                              eng_tensor_shape_str(a), eng_tensor_shape_str(b));
    p->ndim = p->bnd;
    memcpy(p->shape, p->batch, sizeof(int64_t) * (size_t)p->bnd);
    if (a->ndim > 1)
        p->shape[p->ndim++] = p->a.shape[p->a.ndim - 2];
    if (b->ndim > 1)
        p->shape[p->ndim++] = p->b.shape[p->b.ndim - 1];
    return ENG_OK;
}

eng_status eng_matmul_result(const char *what, const eng_tensor *a, const eng_tensor *b,
                             eng_dtype *dtype, int *ndim, int64_t *shape)
{
    mmplan p;
    eng_status st = plan(what, a, b, &p);
    if (st)
        return st;
    *dtype = a->dtype;
    *ndim = p.ndim;
    memcpy(shape, p.shape, sizeof(int64_t) * (size_t)p.ndim);
    return ENG_OK;
}

/* How BLAS can read the last two dims of t: row-major (ld = row stride) or transposed. */
static bool blas_layout(const eng_tensor *t, bool *trans, int *ld)
{
    int64_t r = t->shape[t->ndim - 2], c = t->shape[t->ndim - 1];
    int64_t rs = t->strides[t->ndim - 2], cs = t->strides[t->ndim - 1];
    int64_t l;
    if (cs == 1 || c <= 1) {
        *trans = false;
        l = r <= 1 ? (c > 1 ? c : 1) : rs;
        if (l >= c && l >= 1 && l <= INT_MAX)
            return *ld = (int)l, true;
    }
    if (rs == 1 || r <= 1) {
        *trans = true;
        l = c <= 1 ? (r > 1 ? r : 1) : cs;
        if (l >= r && l >= 1 && l <= INT_MAX)
            return *ld = (int)l, true;
    }
    return false;
}

typedef struct mmctx {
    eng_dtype dtype;
    int m, n, k, lda, ldb, ldc;
    bool ta, tb;
} mmctx;

static void mm_row(void *ctx, char **p, const int64_t *s, int64_t count)
{
    const mmctx *c = ctx;
    size_t e = eng_dtype_size(c->dtype);
    for (int64_t i = 0; i < count; i++) {
        char *y = p[0] + i * s[0] * (int64_t)e;
        const char *a = p[1] + i * s[1] * (int64_t)e, *b = p[2] + i * s[2] * (int64_t)e;
        if (c->dtype == ENG_F32)
            eng_matmul_f32((float *)y, c->ldc, (const float *)a, c->lda, c->ta, (const float *)b,
                           c->ldb, c->tb, c->m, c->n, c->k);
        else
            eng_matmul_f64((double *)y, c->ldc, (const double *)a, c->lda, c->ta, (const double *)b,
                           c->ldb, c->tb, c->m, c->n, c->k);
    }
}

/* mm_row's walk over the batch dimensions of p (y contiguous, [batch..., m, n]). */
static void run(eng_tensor *y, const mmplan *p, mmctx *c)
{
    int64_t ys[ENG_MAX_DIMS], stride = (int64_t)c->m * c->n;
    for (int d = p->bnd - 1; d >= 0; d--) {
        ys[d] = stride;
        stride *= p->batch[d];
    }
    eng_iter it;
    eng_iter_init(&it, p->bnd, p->batch);
    eng_iter_add(&it, eng_tensor_data(y), eng_dtype_size(y->dtype), p->bnd, p->batch, ys);
    eng_iter_add(&it, eng_tensor_data(&p->a), eng_dtype_size(y->dtype), p->a.ndim - 2, p->a.shape,
                 p->a.strides);
    eng_iter_add(&it, eng_tensor_data(&p->b), eng_dtype_size(y->dtype), p->b.ndim - 2, p->b.shape,
                 p->b.strides);
    eng_iter_coalesce(&it);
    eng_iter_run(&it, mm_row, c);
}

static eng_status matmul(const char *what, eng_tensor *y, const eng_tensor *a, const eng_tensor *b)
{
    eng_tensor *ta = NULL, *tb = NULL;
    mmplan p;
    mmctx c = {.dtype = a->dtype};
    eng_status st = plan(what, a, b, &p);
    if (st)
        return st;
    if (y->dtype != a->dtype || y->ndim != p.ndim ||
        memcmp(y->shape, p.shape, sizeof(int64_t) * (size_t)p.ndim) != 0 ||
        !eng_tensor_is_contiguous(y))
        return eng_error(ENG_ESHAPE, "%s: destination %s %s, result %s %s (contiguous)", what,
                         eng_dtype_name(y->dtype), eng_tensor_shape_str(y),
                         eng_dtype_name(a->dtype), eng_shape_str(p.ndim, p.shape));
    if (y->storage == a->storage || y->storage == b->storage)
        return eng_error(ENG_EARG, "%s: the destination shares storage with an operand", what);
    int64_t m = p.a.shape[p.a.ndim - 2], k = p.a.shape[p.a.ndim - 1];
    int64_t n = p.b.shape[p.b.ndim - 1];
    if (m > INT_MAX || n > INT_MAX || k > INT_MAX)
        return eng_error(ENG_ESHAPE, "%s: %s @ %s is too large for BLAS", what,
                         eng_tensor_shape_str(a), eng_tensor_shape_str(b));
    if (!blas_layout(&p.a, &c.ta, &c.lda)) {
        if ((st = eng_tensor_clone(&p.a, &ta)))
            goto fail;
        p.a = *ta;
        blas_layout(&p.a, &c.ta, &c.lda);
    }
    if (!blas_layout(&p.b, &c.tb, &c.ldb)) {
        if ((st = eng_tensor_clone(&p.b, &tb)))
            goto fail;
        p.b = *tb;
        blas_layout(&p.b, &c.tb, &c.ldb);
    }
    c.m = (int)m, c.n = (int)n, c.k = (int)k, c.ldc = n > 1 ? (int)n : 1;
    if (m > 0 && n > 0)
        run(y, &p, &c);
fail:
    eng_tensor_release(ta);
    eng_tensor_release(tb);
    return st;
}

eng_status eng_tensor_matmul(eng_tensor *y, const eng_tensor *a, const eng_tensor *b)
{
    return matmul("matmul", y, a, b);
}

eng_status eng_tensor_mm(eng_tensor *y, const eng_tensor *a, const eng_tensor *b)
{
    if (a->ndim != 2 || b->ndim != 2)
        return eng_error(ENG_ESHAPE, "mm: needs two matrices, got %s and %s",
                         eng_tensor_shape_str(a), eng_tensor_shape_str(b));
    return matmul("mm", y, a, b);
}

eng_status eng_tensor_bmm(eng_tensor *y, const eng_tensor *a, const eng_tensor *b)
{
    if (a->ndim != 3 || b->ndim != 3 || a->shape[0] != b->shape[0])
        return eng_error(ENG_ESHAPE, "bmm: needs [B,n,k] and [B,k,m], got %s and %s",
                         eng_tensor_shape_str(a), eng_tensor_shape_str(b));
    return matmul("bmm", y, a, b);
}

eng_status eng_tensor_outer(eng_tensor *y, const eng_tensor *a, const eng_tensor *b)
{
    eng_status st = check_float_pair("outer", a, b);
    if (st)
        return st;
    if (a->ndim != 1 || b->ndim != 1)
        return eng_error(ENG_ESHAPE, "outer: needs two vectors, got %s and %s",
                         eng_tensor_shape_str(a), eng_tensor_shape_str(b));
    /* y [n,m] = a [n,1] * b [m], one exact product per element as torch.outer. */
    eng_tensor col = *a;
    col.ndim = 2;
    col.shape[1] = 1, col.strides[1] = 0;
    st = eng_tensor_binop(y, ENG_OP_MUL, &col, b, eng_scalar_int(0));
    return st ? eng_error_wrap(st, "outer") : ENG_OK;
}

eng_status eng_tensor_dot(double *value, const eng_tensor *a, const eng_tensor *b)
{
    eng_tensor *ta = NULL, *tb = NULL;
    eng_status st = check_float_pair("dot", a, b);
    if (st)
        return st;
    if (a->ndim != 1 || b->ndim != 1 || a->shape[0] != b->shape[0])
        return eng_error(ENG_ESHAPE, "dot: needs two vectors of one length, got %s and %s",
                         eng_tensor_shape_str(a), eng_tensor_shape_str(b));
    if (a->shape[0] > INT_MAX)
        return eng_error(ENG_ESHAPE, "dot: %s is too large for BLAS", eng_tensor_shape_str(a));
    /* BLAS reads a negative or zero increment differently from a view: copy those. */
    if ((a->strides[0] < 1 || a->strides[0] > INT_MAX) && (st = eng_tensor_clone(a, &ta)))
        goto fail;
    if ((b->strides[0] < 1 || b->strides[0] > INT_MAX) && (st = eng_tensor_clone(b, &tb)))
        goto fail;
    const eng_tensor *ua = ta ? ta : a, *ub = tb ? tb : b;
    int n = (int)a->shape[0];
    if (a->dtype == ENG_F32)
        *value = eng_dot_f32(eng_tensor_data(ua), (int)ua->strides[0], eng_tensor_data(ub),
                             (int)ub->strides[0], n);
    else
        *value = eng_dot_f64(eng_tensor_data(ua), (int)ua->strides[0], eng_tensor_data(ub),
                             (int)ub->strides[0], n);
fail:
    eng_tensor_release(ta);
    eng_tensor_release(tb);
    return st;
}
