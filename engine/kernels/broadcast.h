/* Broadcast fills: y [channels,plane] = value [channels] repeated along the plane (a bias
 * written as a GEMM's starting value). */
#ifndef ENGINE_KERNELS_BROADCAST_H
#define ENGINE_KERNELS_BROADCAST_H

#include <stdint.h>

void eng_fill_planes_f32(float *y, const float *value, int64_t channels, int64_t plane);
void eng_fill_planes_f64(double *y, const double *value, int64_t channels, int64_t plane);

#endif
