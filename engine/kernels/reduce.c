#include "reduce.h"

#include "cpu.h"
#include "reduce_avx512.h"

/* f32 sums have an AVX-512 body (reduce_avx512.c); f64 keeps the plain one. */
#if defined(__x86_64__) && defined(__GNUC__)
#define SUM_AVX512_f32(x, n)                                                                       \
    if (eng_simd_level() == ENG_SIMD_AVX512)                                                       \
        return eng_sum_avx512_f32(x, n);
#else
#define SUM_AVX512_f32(x, n)
#endif
#define SUM_AVX512_f64(x, n)

#define DEFINE_REDUCE(T, SFX)                                                                      \
    void eng_sum_rows_##SFX(T *dbias, const T *dy, int64_t rows, int64_t cols)                     \
    {                                                                                              \
        for (int64_t c = 0; c < cols; c++) {                                                       \
            double acc = 0;                                                                        \
            for (int64_t r = 0; r < rows; r++)                                                     \
                acc += dy[r * cols + c];                                                           \
            dbias[c] += (T)acc;                                                                    \
        }                                                                                          \
    }                                                                                              \
    void eng_sum_planes_##SFX(T *dbias, const T *dy, int64_t channels, int64_t plane)              \
    {                                                                                              \
        for (int64_t c = 0; c < channels; c++)                                                     \
            dbias[c] += (T)eng_sum_##SFX(dy + c * plane, plane);                                   \
    }                                                                                              \
    double eng_sum_##SFX(const T *x, int64_t n)                                                    \
    {                                                                                              \
        SUM_AVX512_##SFX(x, n) /* Eight independent partial sums let the loop vectorise and hide   \
                                  the add latency. */                                              \
            double acc[8] = {0};                                                                   \
        int64_t i = 0;                                                                             \
        for (; i + 8 <= n; i += 8)                                                                 \
            for (int j = 0; j < 8; j++)                                                            \
                acc[j] += x[i + j];                                                                \
        for (; i < n; i++)                                                                         \
            acc[0] += x[i];                                                                        \
        return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));  \
    }

DEFINE_REDUCE(float, f32)
DEFINE_REDUCE(double, f64)

/* x - x is 0 for a finite x and NaN for NaN and +-inf: one subtraction and one compare per
 * element, with no branch until the block has a hit, so the scan vectorises. */
#define DEFINE_FIND_NONFINITE(T, SFX)                                                              \
    int64_t eng_find_nonfinite_##SFX(const T *x, int64_t n)                                        \
    {                                                                                              \
        for (int64_t start = 0; start < n; start += 256) {                                         \
            int64_t end = n - start < 256 ? n : start + 256;                                       \
            int bad = 0;                                                                           \
            for (int64_t i = start; i < end; i++)                                                  \
                bad |= (x[i] - x[i]) != 0;                                                         \
            if (bad)                                                                               \
                for (int64_t i = start; i < end; i++)                                              \
                    if ((x[i] - x[i]) != 0)                                                        \
                        return i;                                                                  \
        }                                                                                          \
        return -1;                                                                                 \
    }

DEFINE_FIND_NONFINITE(float, f32)
DEFINE_FIND_NONFINITE(double, f64)
