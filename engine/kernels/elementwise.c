/* Elementwise kernels (see elementwise.h). Each loop has a contiguous form and a form with a
 * repeated right operand (a scalar) that compilers vectorise, and a general strided form. */
#include "elementwise.h"

#include <math.h>

/* y[i] = EXPR with A and B the i-th operands. */
#define LOOP2(EXPR)                                                                                \
    do {                                                                                           \
        if (sy == 1 && sa == 1 && sb == 1) {                                                       \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T A = a[i], B = b[i];                                                              \
                y[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else if (sy == 1 && sa == 1 && sb == 0) {                                                \
            const T B = b[0];                                                                      \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T A = a[i];                                                                        \
                y[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T A = a[i * sa], B = b[i * sb];                                                    \
                y[i * sy] = (EXPR);                                                                \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#define LOOP1(EXPR)                                                                                \
    do {                                                                                           \
        if (sy == 1 && sx == 1) {                                                                  \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T X = x[i];                                                                        \
                y[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T X = x[i * sx];                                                                   \
                y[i * sy] = (EXPR);                                                                \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* NaN-propagating maximum and minimum, as torch.maximum. */
#define FMAX(A, B) (((A) != (A) || (A) > (B)) ? (A) : (B))
#define FMIN(A, B) (((A) != (A) || (A) < (B)) ? (A) : (B))

#define COMPARE_BODY                                                                               \
    switch (op) {                                                                                  \
    case ENG_OP_EQ: LOOP2(A == B); break;                                                          \
    case ENG_OP_NE: LOOP2(A != B); break;                                                          \
    case ENG_OP_LT: LOOP2(A < B); break;                                                           \
    case ENG_OP_LE: LOOP2(A <= B); break;                                                          \
    case ENG_OP_GT: LOOP2(A > B); break;                                                           \
    case ENG_OP_GE: LOOP2(A >= B); break;                                                          \
    default: break;                                                                                \
    }

#define FLOAT_BINARY(NAME, T, POW)                                                                 \
    void NAME(eng_binop op, T *y, int64_t sy, const T *a, int64_t sa, const T *b, int64_t sb,      \
              int64_t n)                                                                           \
    {                                                                                              \
        switch (op) {                                                                              \
        case ENG_OP_ADD: LOOP2(A + B); break;                                                      \
        case ENG_OP_SUB: LOOP2(A - B); break;                                                      \
        case ENG_OP_MUL: LOOP2(A *B); break;                                                       \
        case ENG_OP_DIV: LOOP2(A / B); break;                                                      \
        case ENG_OP_POW: LOOP2(POW(A, B)); break;                                                  \
        case ENG_OP_MAXIMUM: LOOP2(FMAX(A, B)); break;                                             \
        case ENG_OP_MINIMUM: LOOP2(FMIN(A, B)); break;                                             \
        default: break;                                                                            \
        }                                                                                          \
    }

/* Integer +, -, * through the unsigned type U, which wraps where signed overflow would be
 * undefined. DIV and POW are not defined for integers (the caller promotes or refuses). */
#define INT_BINARY(NAME, T, U)                                                                     \
    void NAME(eng_binop op, T *y, int64_t sy, const T *a, int64_t sa, const T *b, int64_t sb,      \
              int64_t n)                                                                           \
    {                                                                                              \
        switch (op) {                                                                              \
        case ENG_OP_ADD: LOOP2((T)((U)A + (U)B)); break;                                           \
        case ENG_OP_SUB: LOOP2((T)((U)A - (U)B)); break;                                           \
        case ENG_OP_MUL: LOOP2((T)((U)A * (U)B)); break;                                           \
        case ENG_OP_MAXIMUM: LOOP2(A > B ? A : B); break;                                          \
        case ENG_OP_MINIMUM: LOOP2(A < B ? A : B); break;                                          \
        default: break;                                                                            \
        }                                                                                          \
    }

#define COMPARE(NAME, T)                                                                           \
    void NAME(eng_binop op, uint8_t *y, int64_t sy, const T *a, int64_t sa, const T *b,            \
              int64_t sb, int64_t n)                                                               \
    {                                                                                              \
        COMPARE_BODY                                                                               \
    }

/* sigmoid = 1 / (1 + exp(-x)) and rsqrt = 1 / sqrt(x), the formulas of PyTorch's CPU kernels,
 * so that f64 results agree with it to the last bit where exp does. */
#define FLOAT_UNARY(NAME, T, EXP, LOG, LOG1P, EXPM1, SQRT, TANH, FABS)                             \
    void NAME(eng_unop op, T *y, int64_t sy, const T *x, int64_t sx, int64_t n)                    \
    {                                                                                              \
        switch (op) {                                                                              \
        case ENG_OP_NEG: LOOP1(-X); break;                                                         \
        case ENG_OP_ABS: LOOP1(FABS(X)); break;                                                    \
        case ENG_OP_SIGN: LOOP1((T)((0 < X) - (X < 0))); break;                                    \
        case ENG_OP_RELU: LOOP1(X != X ? X : (X > 0 ? X : (T)0)); break;                           \
        case ENG_OP_EXP: LOOP1(EXP(X)); break;                                                     \
        case ENG_OP_LOG: LOOP1(LOG(X)); break;                                                     \
        case ENG_OP_LOG1P: LOOP1(LOG1P(X)); break;                                                 \
        case ENG_OP_EXPM1: LOOP1(EXPM1(X)); break;                                                 \
        case ENG_OP_SQRT: LOOP1(SQRT(X)); break;                                                   \
        case ENG_OP_RSQRT: LOOP1((T)1 / SQRT(X)); break;                                           \
        case ENG_OP_TANH: LOOP1(TANH(X)); break;                                                   \
        case ENG_OP_SIGMOID: LOOP1((T)1 / ((T)1 + EXP(-X))); break;                                \
        }                                                                                          \
    }

#define POW_SCALAR(NAME, T, POW, SQRT)                                                             \
    void NAME(T *y, int64_t sy, const T *x, int64_t sx, T e, int64_t n)                            \
    {                                                                                              \
        if (e == 2)                                                                                \
            LOOP1(X *X);                                                                           \
        else if (e == 3)                                                                           \
            LOOP1(X *X *X);                                                                        \
        else if (e == (T)0.5)                                                                      \
            LOOP1(SQRT(X));                                                                        \
        else if (e == (T)-0.5)                                                                     \
            LOOP1((T)1 / SQRT(X));                                                                 \
        else if (e == -1)                                                                          \
            LOOP1((T)1 / X);                                                                       \
        else if (e == -2)                                                                          \
            LOOP1((T)1 / (X * X));                                                                 \
        else                                                                                       \
            LOOP1(POW(X, e));                                                                      \
    }

#define INT_UNARY(NAME, T, U)                                                                      \
    void NAME(eng_unop op, T *y, int64_t sy, const T *x, int64_t sx, int64_t n)                    \
    {                                                                                              \
        switch (op) {                                                                              \
        case ENG_OP_NEG: LOOP1((T)((U)0 - (U)X)); break;                                           \
        case ENG_OP_ABS: LOOP1(X < 0 ? (T)((U)0 - (U)X) : X); break;                               \
        case ENG_OP_SIGN: LOOP1((T)((0 < X) - (X < 0))); break;                                    \
        case ENG_OP_RELU: LOOP1(X > 0 ? X : (T)0); break;                                          \
        default: break;                                                                            \
        }                                                                                          \
    }

#define WHERE(NAME, T)                                                                             \
    void NAME(T *y, int64_t sy, const uint8_t *c, int64_t sc, const T *a, int64_t sa, const T *b,  \
              int64_t sb, int64_t n)                                                               \
    {                                                                                              \
        for (int64_t i = 0; i < n; i++)                                                            \
            y[i * sy] = c[i * sc] ? a[i * sa] : b[i * sb];                                         \
    }

#define T float
FLOAT_BINARY(eng_binary_f32, float, powf)
COMPARE(eng_compare_f32, float)
POW_SCALAR(eng_pow_scalar_f32, float, powf, sqrtf)
FLOAT_UNARY(eng_unary_f32, float, expf, logf, log1pf, expm1f, sqrtf, tanhf, fabsf)
WHERE(eng_where_f32, float)
#undef T

#define T double
FLOAT_BINARY(eng_binary_f64, double, pow)
COMPARE(eng_compare_f64, double)
POW_SCALAR(eng_pow_scalar_f64, double, pow, sqrt)
FLOAT_UNARY(eng_unary_f64, double, exp, log, log1p, expm1, sqrt, tanh, fabs)
WHERE(eng_where_f64, double)
#undef T

#define T int64_t
INT_BINARY(eng_binary_i64, int64_t, uint64_t)
COMPARE(eng_compare_i64, int64_t)
INT_UNARY(eng_unary_i64, int64_t, uint64_t)
WHERE(eng_where_i64, int64_t)
#undef T

#define T int32_t
INT_BINARY(eng_binary_i32, int32_t, uint32_t)
COMPARE(eng_compare_i32, int32_t)
INT_UNARY(eng_unary_i32, int32_t, uint32_t)
WHERE(eng_where_i32, int32_t)
#undef T

#define T uint8_t
INT_BINARY(eng_binary_u8, uint8_t, uint32_t)
COMPARE(eng_compare_u8, uint8_t)
/* Unsigned: abs and relu are the identity, sign is 0 or 1, neg wraps. */
void eng_unary_u8(eng_unop op, uint8_t *y, int64_t sy, const uint8_t *x, int64_t sx, int64_t n)
{
    switch (op) {
    case ENG_OP_NEG: LOOP1((T)(256u - X)); break;
    case ENG_OP_ABS:
    case ENG_OP_RELU: LOOP1(X); break;
    case ENG_OP_SIGN: LOOP1((T)(X != 0)); break;
    default: break;
    }
}
WHERE(eng_where_u8, uint8_t)
#undef T
