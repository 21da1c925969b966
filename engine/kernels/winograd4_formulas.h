/* The 1-d transforms of Winograd F(4, 3) with points 0, 1, -1, 1/2, -2, infinity, written once
 * for winograd4.c's plain bodies (float) and winograd4_avx512.c's (__m512, GCC's vector
 * arithmetic): the same operations in the same order, so both give the same bits (C11 does not
 * contract a * b + c into one rounding). o and i are arrays of 6 (or 4) values, i read through
 * the accessor I(k) so that strided sources need no copy. Derived by Toom-Cook from the points
 * (Lavin and Gray 2016, section 4; checked against the definition in test_kernels_simd_conv.c):
 *
 *   B^T = [1 -3/2  -2  3/2   1  0]   A^T = [1 1  1   1    1  0]   G = [    1     0     0]
 *         [0   -1 1/2  5/2   1  0]         [0 1 -1 1/2   -2  0]       [  1/3   1/3   1/3]
 *         [0    1 -5/2 1/2   1  0]         [0 1  1 1/4    4  0]       [ -1/3   1/3  -1/3]
 *         [0   -2  -1    2   1  0]         [0 1 -1 1/8   -8  1]       [-16/15 -8/15 -4/15]
 *         [0  1/2  -1 -1/2   1  0]                                    [ 1/15 -2/15  4/15]
 *         [0    1 -3/2  -2 3/2  1]                                    [    0     0     1] */
#ifndef ENGINE_KERNELS_WINOGRAD4_FORMULAS_H
#define ENGINE_KERNELS_WINOGRAD4_FORMULAS_H

/* o[0..5] = B^T i[0..5] */
#define WG4_BT(o, I)                                                                               \
    do {                                                                                           \
        o[0] = (I(0) + I(4)) - 2.0f * I(2) + 1.5f * (I(3) - I(1));                                 \
        o[1] = (I(4) - I(1)) + 0.5f * I(2) + 2.5f * I(3);                                          \
        o[2] = (I(4) + I(1)) - 2.5f * I(2) + 0.5f * I(3);                                          \
        o[3] = (I(4) - I(2)) + 2.0f * (I(3) - I(1));                                               \
        o[4] = (I(4) - I(2)) - 0.5f * (I(3) - I(1));                                               \
        o[5] = (I(1) + I(5)) - 2.0f * I(3) + 1.5f * (I(4) - I(2));                                 \
    } while (0)

/* o[0..5] = B i[0..5] (the adjoint of WG4_BT) */
#define WG4_B(o, I)                                                                                \
    do {                                                                                           \
        o[0] = I(0);                                                                               \
        o[1] = (I(2) - I(1) + I(5)) - 1.5f * I(0) - 2.0f * I(3) + 0.5f * I(4);                     \
        o[2] = 0.5f * I(1) - 2.0f * I(0) - 2.5f * I(2) - (I(3) + I(4)) - 1.5f * I(5);              \
        o[3] = 1.5f * I(0) + 2.5f * I(1) + 0.5f * I(2) + 2.0f * (I(3) - I(5)) - 0.5f * I(4);       \
        o[4] = (I(0) + I(1)) + (I(2) + I(3)) + I(4) + 1.5f * I(5);                                 \
        o[5] = I(5);                                                                               \
    } while (0)

/* o[0..3] = A^T i[0..5] */
#define WG4_AT(o, I)                                                                               \
    do {                                                                                           \
        o[0] = I(0) + (I(1) + I(2)) + (I(3) + I(4));                                               \
        o[1] = (I(1) - I(2)) + 0.5f * I(3) - 2.0f * I(4);                                          \
        o[2] = (I(1) + I(2)) + 0.25f * I(3) + 4.0f * I(4);                                         \
        o[3] = (I(1) - I(2)) + 0.125f * I(3) - 8.0f * I(4) + I(5);                                 \
    } while (0)

/* o[0..5] = A i[0..3] (the adjoint of WG4_AT) */
#define WG4_A(o, I)                                                                                \
    do {                                                                                           \
        o[0] = I(0);                                                                               \
        o[1] = (I(0) + I(2)) + (I(1) + I(3));                                                      \
        o[2] = (I(0) + I(2)) - (I(1) + I(3));                                                      \
        o[3] = I(0) + 0.5f * I(1) + 0.25f * I(2) + 0.125f * I(3);                                  \
        o[4] = I(0) - 2.0f * I(1) + 4.0f * I(2) - 8.0f * I(3);                                     \
        o[5] = I(3);                                                                               \
    } while (0)

#endif
