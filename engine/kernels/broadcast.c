#include "broadcast.h"

#include <string.h>

#define DEFINE_FILL_PLANES(T, SFX)                                                                 \
    void eng_fill_planes_##SFX(T *y, const T *value, int64_t channels, int64_t plane)              \
    {                                                                                              \
        for (int64_t c = 0; c < channels; c++) {                                                   \
            T v = value[c];                                                                        \
            T *yc = y + c * plane;                                                                 \
            for (int64_t i = 0; i < plane; i++)                                                    \
                yc[i] = v;                                                                         \
        }                                                                                          \
    }

DEFINE_FILL_PLANES(float, f32)
DEFINE_FILL_PLANES(double, f64)

#define DEFINE_FILL_ROWS(T, SFX)                                                                   \
    void eng_fill_rows_##SFX(T *y, const T *value, int64_t rows, int64_t cols)                     \
    {                                                                                              \
        for (int64_t r = 0; r < rows; r++)                                                         \
            memcpy(y + r * cols, value, sizeof(T) * (size_t)cols);                                 \
    }

DEFINE_FILL_ROWS(float, f32)
DEFINE_FILL_ROWS(double, f64)
