/* Broadcast fills, a bias written as a GEMM's starting value:
 *   planes: y [channels,plane] = value [channels] repeated along the plane
 *   rows:   y [rows,cols] = value [cols] in every row */
#ifndef ENGINE_KERNELS_BROADCAST_H
#define ENGINE_KERNELS_BROADCAST_H

#include <stdint.h>

void eng_fill_planes_f32(float *y, const float *value, int64_t channels, int64_t plane);
void eng_fill_planes_f64(double *y, const double *value, int64_t channels, int64_t plane);
void eng_fill_rows_f32(float *y, const float *value, int64_t rows, int64_t cols);
void eng_fill_rows_f64(double *y, const double *value, int64_t rows, int64_t cols);

#endif
