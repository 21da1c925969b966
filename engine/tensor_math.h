/* Tensor math: elementwise operations with PyTorch's broadcasting, reductions along one
 * dimension or over the whole tensor, and matrix products through OpenBLAS.
 *
 * Conventions of every function below:
 * - Dimensions are 0-based here (the Lua bindings convert).
 * - dst is written, never resized: its shape and dtype must be exactly the result's (ask
 *   eng_binop_result / eng_reduce_result / eng_matmul_result for them), else ENG_ESHAPE or
 *   ENG_EDTYPE naming both. dst may be one of the inputs itself (in-place), but not another
 *   view overlapping one. Any strides work for inputs and dst.
 * - Dtypes follow PyTorch's type promotion (torch.result_type): a float beats an integer,
 *   a wider type beats a narrower one in the same kind (f64 > f32, i64 > i32 > u8); a scalar
 *   never widens a tensor of its kind (f32 tensor * 0.5 is f32, i32 tensor + 7 is i32) and a
 *   float scalar makes an integer tensor f32. Division of integers and the float-only
 *   functions (exp, log, ...) of integers give f32. Comparisons give u8 masks (0 or 1).
 * - Results are computed in the result dtype: an operand of another dtype is first converted
 *   (a temporary copy). Same-dtype operations allocate nothing. */
#ifndef ENGINE_TENSOR_MATH_H
#define ENGINE_TENSOR_MATH_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include "elementwise_ops.h"
#include "tensor.h"

/* A Lua/Python number operand: an integer (exact in int64) or a float. */
typedef struct eng_scalar {
    double f;  /* the value as a double (always set) */
    int64_t i; /* the value when is_int */
    bool is_int;
} eng_scalar;

eng_scalar eng_scalar_float(double v);
eng_scalar eng_scalar_int(int64_t v);

/* The promoted dtype of two tensors' dtypes, and of a tensor's dtype with a scalar. */
eng_dtype eng_promote_types(eng_dtype a, eng_dtype b);
eng_dtype eng_promote_scalar(eng_dtype t, eng_scalar s);

/* The broadcast shape of a and b (PyTorch's rules: align trailing dimensions; sizes must be
 * equal or one of them 1). ENG_ESHAPE names both shapes and the dimension. */
ENG_MUST_CHECK eng_status eng_broadcast_shape(int andim, const int64_t *ashape, int bndim,
                                              const int64_t *bshape, int *ndim, int64_t *shape);

/* Shape and dtype of a op b, where a or b [optional, NULL] is replaced by the scalar s.
 * Refuses integer POW (convert first) with both dtypes named. */
ENG_MUST_CHECK eng_status eng_binop_result(eng_binop op, const eng_tensor *a, const eng_tensor *b,
                                           eng_scalar s, eng_dtype *dtype, int *ndim,
                                           int64_t *shape);
/* dst = a op b, broadcasting. a or b may be NULL: the scalar s takes its place (s - x, 2 ^ x).
 * Comparisons write a u8 mask; POW with a scalar exponent uses torch.pow's special cases. */
ENG_MUST_CHECK eng_status eng_tensor_binop(eng_tensor *dst, eng_binop op, const eng_tensor *a,
                                           const eng_tensor *b, eng_scalar s);

/* The dtype of op(x): x's, or f32 for a float-only op of an integer tensor. */
eng_dtype eng_unop_result(eng_unop op, eng_dtype x);
/* dst = op(x), dst of x's shape and eng_unop_result's dtype. */
ENG_MUST_CHECK eng_status eng_tensor_unop(eng_tensor *dst, eng_unop op, const eng_tensor *x);
/* dst = min(max(x, lo), hi) (torch.clamp); lo and hi [optional, NULL], not both; NaN stays
 * NaN. dst has x's shape and the promoted dtype of x with the bounds. */
ENG_MUST_CHECK eng_status eng_tensor_clamp(eng_tensor *dst, const eng_tensor *x,
                                           const eng_scalar *lo, const eng_scalar *hi);

/* dst = cond ? a : b (torch.where), broadcasting the three. cond is a u8 mask; a or b may be
 * NULL, replaced by the scalar sa or sb. dst has the promoted dtype of a and b. */
ENG_MUST_CHECK eng_status eng_where_result(const eng_tensor *cond, const eng_tensor *a,
                                           eng_scalar sa, const eng_tensor *b, eng_scalar sb,
                                           eng_dtype *dtype, int *ndim, int64_t *shape);
ENG_MUST_CHECK eng_status eng_tensor_where(eng_tensor *dst, const eng_tensor *cond,
                                           const eng_tensor *a, eng_scalar sa, const eng_tensor *b,
                                           eng_scalar sb);

/* ---- reductions (tensor_reduce.c) ---- */

typedef enum eng_reduce_op {
    ENG_REDUCE_SUM,
    ENG_REDUCE_MEAN,
    ENG_REDUCE_PROD,
    ENG_REDUCE_VAR,  /* param: the correction, 1 for unbiased (Bessel), 0 for biased */
    ENG_REDUCE_STD,  /* param: as VAR */
    ENG_REDUCE_NORM, /* param: p (INFINITY allowed) */
    ENG_REDUCE_LOGSUMEXP,
    ENG_REDUCE_MAX, /* values; the indices come from eng_tensor_argext */
    ENG_REDUCE_MIN,
} eng_reduce_op;

const char *eng_reduce_name(eng_reduce_op op);
/* Checks dim against x and gives the result's shape (dim removed, or size 1 with keepdim)
 * and dtype: x's, or i64 for SUM and PROD of integers. MEAN, VAR, STD, NORM and LOGSUMEXP
 * need a float tensor; MAX and MIN need a non-empty dim. */
ENG_MUST_CHECK eng_status eng_reduce_result(eng_reduce_op op, const eng_tensor *x, int dim,
                                            bool keepdim, eng_dtype *dtype, int *ndim,
                                            int64_t *shape);
/* y = op of x along dim. */
ENG_MUST_CHECK eng_status eng_tensor_reduce(eng_tensor *y, eng_reduce_op op, const eng_tensor *x,
                                            int dim, bool keepdim, double param);
/* The reduction of every element of x. [out] *value; for an integer SUM, PROD, MAX or MIN
 * the exact result is in value->i (value->is_int). */
ENG_MUST_CHECK eng_status eng_tensor_reduce_all(eng_scalar *value, eng_reduce_op op,
                                                const eng_tensor *x, double param);
/* idx (i64, eng_reduce_result's shape) = position along dim of the first maximum (max true)
 * or minimum, counted from base (0 for C, 1 for Lua). NaN wins, as in torch.argmax. */
ENG_MUST_CHECK eng_status eng_tensor_argext(eng_tensor *idx, const eng_tensor *x, int dim,
                                            bool keepdim, bool max, int64_t base);
/* The flat row-major position of the first maximum or minimum of a non-empty x. */
ENG_MUST_CHECK eng_status eng_tensor_argext_all(int64_t *pos, const eng_tensor *x, bool max);

/* ---- linear algebra (tensor_linalg.c), f32 and f64, through OpenBLAS ---- */

/* Shape of torch.matmul(a, b): 1-d and 2-d products, and batched products with the batch
 * dimensions broadcast. Refuses mismatched inner sizes naming both shapes, and mixed or
 * integer dtypes naming them; what names the caller ("matmul", "mm", "bmm") in messages. */
ENG_MUST_CHECK eng_status eng_matmul_result(const char *what, const eng_tensor *a,
                                            const eng_tensor *b, eng_dtype *dtype, int *ndim,
                                            int64_t *shape);
/* y = a @ b (torch.matmul). y must be contiguous. mm and bmm are its 2-d and 3-d cases and
 * refuse other ranks; outer(a [n], b [m]) is y [n,m] = a b^T; dot(a [n], b [n]) a number. */
ENG_MUST_CHECK eng_status eng_tensor_matmul(eng_tensor *y, const eng_tensor *a,
                                            const eng_tensor *b);
ENG_MUST_CHECK eng_status eng_tensor_mm(eng_tensor *y, const eng_tensor *a, const eng_tensor *b);
ENG_MUST_CHECK eng_status eng_tensor_bmm(eng_tensor *y, const eng_tensor *a, const eng_tensor *b);
ENG_MUST_CHECK eng_status eng_tensor_outer(eng_tensor *y, const eng_tensor *a, const eng_tensor *b);
ENG_MUST_CHECK eng_status eng_tensor_dot(double *value, const eng_tensor *a, const eng_tensor *b);

#pragma GCC visibility pop

#endif
