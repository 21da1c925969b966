/* Elementwise kernels over strided vectors: n elements, element i of y at y[i * sy], of a at
 * a[i * sa], of b at b[i * sb]. A stride of 0 repeats one element (a broadcast or a scalar).
 * y may alias a or b with the same stride. No allocation, no failure path.
 *
 *   binary:  y = a op b           (f32, f64, i64, i32, u8; DIV and POW: floats only)
 *   compare: y = (a op b) ? 1 : 0  into a u8 mask
 *   unary:   y = op(x)            (floats: every op; integers: NEG, ABS, SIGN, RELU)
 *   where:   y = c ? a : b        c a u8 mask, nonzero meaning true
 *
 * Integer ADD, SUB, MUL and NEG wrap modulo 2^bits, as PyTorch's do. Float MAXIMUM and MINIMUM
 * propagate NaN (torch.maximum). */
#ifndef ENGINE_KERNELS_ELEMENTWISE_H
#define ENGINE_KERNELS_ELEMENTWISE_H

#pragma GCC visibility push(default) /* public: its op enums are part of tensor_math.h's API */

#include <stdint.h>

#include "../elementwise_ops.h"

void eng_binary_f32(eng_binop op, float *y, int64_t sy, const float *a, int64_t sa, const float *b,
                    int64_t sb, int64_t n);
void eng_binary_f64(eng_binop op, double *y, int64_t sy, const double *a, int64_t sa,
                    const double *b, int64_t sb, int64_t n);
void eng_binary_i64(eng_binop op, int64_t *y, int64_t sy, const int64_t *a, int64_t sa,
                    const int64_t *b, int64_t sb, int64_t n);
void eng_binary_i32(eng_binop op, int32_t *y, int64_t sy, const int32_t *a, int64_t sa,
                    const int32_t *b, int64_t sb, int64_t n);
void eng_binary_u8(eng_binop op, uint8_t *y, int64_t sy, const uint8_t *a, int64_t sa,
                   const uint8_t *b, int64_t sb, int64_t n);

void eng_compare_f32(eng_binop op, uint8_t *y, int64_t sy, const float *a, int64_t sa,
                     const float *b, int64_t sb, int64_t n);
void eng_compare_f64(eng_binop op, uint8_t *y, int64_t sy, const double *a, int64_t sa,
                     const double *b, int64_t sb, int64_t n);
void eng_compare_i64(eng_binop op, uint8_t *y, int64_t sy, const int64_t *a, int64_t sa,
                     const int64_t *b, int64_t sb, int64_t n);
void eng_compare_i32(eng_binop op, uint8_t *y, int64_t sy, const int32_t *a, int64_t sa,
                     const int32_t *b, int64_t sb, int64_t n);
void eng_compare_u8(eng_binop op, uint8_t *y, int64_t sy, const uint8_t *a, int64_t sa,
                    const uint8_t *b, int64_t sb, int64_t n);

/* y = x ^ e for a scalar exponent, with PyTorch's special cases (torch.pow's CPU kernel):
 * e = 2, 3 by multiplication, 0.5 as sqrt, -0.5 as 1/sqrt, -1 and -2 as reciprocals. */
void eng_pow_scalar_f32(float *y, int64_t sy, const float *x, int64_t sx, float e, int64_t n);
void eng_pow_scalar_f64(double *y, int64_t sy, const double *x, int64_t sx, double e, int64_t n);

void eng_unary_f32(eng_unop op, float *y, int64_t sy, const float *x, int64_t sx, int64_t n);
void eng_unary_f64(eng_unop op, double *y, int64_t sy, const double *x, int64_t sx, int64_t n);
void eng_unary_i64(eng_unop op, int64_t *y, int64_t sy, const int64_t *x, int64_t sx, int64_t n);
void eng_unary_i32(eng_unop op, int32_t *y, int64_t sy, const int32_t *x, int64_t sx, int64_t n);
void eng_unary_u8(eng_unop op, uint8_t *y, int64_t sy, const uint8_t *x, int64_t sx, int64_t n);

void eng_where_f32(float *y, int64_t sy, const uint8_t *c, int64_t sc, const float *a, int64_t sa,
                   const float *b, int64_t sb, int64_t n);
void eng_where_f64(double *y, int64_t sy, const uint8_t *c, int64_t sc, const double *a, int64_t sa,
                   const double *b, int64_t sb, int64_t n);
void eng_where_i64(int64_t *y, int64_t sy, const uint8_t *c, int64_t sc, const int64_t *a,
                   int64_t sa, const int64_t *b, int64_t sb, int64_t n);
void eng_where_i32(int32_t *y, int64_t sy, const uint8_t *c, int64_t sc, const int32_t *a,
                   int64_t sa, const int32_t *b, int64_t sb, int64_t n);
void eng_where_u8(uint8_t *y, int64_t sy, const uint8_t *c, int64_t sc, const uint8_t *a,
                  int64_t sa, const uint8_t *b, int64_t sb, int64_t n);

#pragma GCC visibility pop

#endif
