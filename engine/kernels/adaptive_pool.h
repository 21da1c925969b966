/* Adaptive average pooling (torch.nn.AdaptiveAvgPool2d) over x [planes, h, w] to
 * y [planes, oh, ow]: output cell (i, j) averages rows [floor(i h / oh), ceil((i + 1) h / oh))
 * and the same for columns, as PyTorch's start_index/end_index. backward overwrites dx with
 * each dy spread evenly over its cell (cells may overlap: contributions add). */
#ifndef ENGINE_KERNELS_ADAPTIVE_POOL_H
#define ENGINE_KERNELS_ADAPTIVE_POOL_H

#include <stdint.h>

void eng_adaptive_avgpool2d_forward_f32(float *y, const float *x, int64_t planes, int64_t h,
                                        int64_t w, int64_t oh, int64_t ow);
void eng_adaptive_avgpool2d_forward_f64(double *y, const double *x, int64_t planes, int64_t h,
                                        int64_t w, int64_t oh, int64_t ow);
void eng_adaptive_avgpool2d_backward_f32(float *dx, const float *dy, int64_t planes, int64_t h,
                                         int64_t w, int64_t oh, int64_t ow);
void eng_adaptive_avgpool2d_backward_f64(double *dx, const double *dy, int64_t planes, int64_t h,
                                         int64_t w, int64_t oh, int64_t ow);

#endif
