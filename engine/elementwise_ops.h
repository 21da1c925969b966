/* The elementwise operations, named once for the tensor API (tensor_math.h) and the kernels
 * that compute them (kernels/elementwise.h). */
#ifndef ENGINE_ELEMENTWISE_OPS_H
#define ENGINE_ELEMENTWISE_OPS_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

typedef enum eng_binop {
    ENG_OP_ADD,
    ENG_OP_SUB,
    ENG_OP_MUL,
    ENG_OP_DIV,
    ENG_OP_POW,
    ENG_OP_MAXIMUM,
    ENG_OP_MINIMUM,
    ENG_OP_EQ,
    ENG_OP_NE,
    ENG_OP_LT,
    ENG_OP_LE,
    ENG_OP_GT,
    ENG_OP_GE,
} eng_binop;

typedef enum eng_unop {
    ENG_OP_NEG,
    ENG_OP_ABS,
    ENG_OP_SIGN,
    ENG_OP_RELU,
    /* floats only from here on */
    ENG_OP_EXP,
    ENG_OP_LOG,
    ENG_OP_LOG1P,
    ENG_OP_EXPM1,
    ENG_OP_SQRT,
    ENG_OP_RSQRT,
    ENG_OP_TANH,
    ENG_OP_SIGMOID,
} eng_unop;

#pragma GCC visibility pop

#endif
