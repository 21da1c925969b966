/* 2-d pooling over one batch, NCHW, planes of h x w into oh x ow.
 *
 * max: y [planes,oh,ow]; argmax [planes,oh,ow] records the winning input position within its
 *      plane (iy*w + ix); ties go to the first element in row-major window order, as in
 *      PyTorch. Padding cells never win. backward overwrites dx [planes,h,w], sending each
 *      dy to the forward's argmax; backward_xy finds each window's winner again from x and
 *      the forward's y instead (the first element equal to y, or the first when none is, y
 *      being a NaN), for a backward without its forward's argmax.
 * avg: PyTorch's count_include_pad=True: the window sum is divided by kh*kw clipped to the
 *      padded input. */
#ifndef ENGINE_KERNELS_POOL_H
#define ENGINE_KERNELS_POOL_H

#include <stdint.h>

typedef struct eng_pool_geometry {
    int64_t planes; /* N*C */
    int h, w, kh, kw, sh, sw, ph, pw, oh, ow;
} eng_pool_geometry;

void eng_maxpool_forward_f32(float *y, int32_t *argmax, const float *x, const eng_pool_geometry *g);
void eng_maxpool_forward_f64(double *y, int32_t *argmax, const double *x,
                             const eng_pool_geometry *g);
void eng_maxpool_backward_f32(float *dx, const float *dy, const int32_t *argmax,
                              const eng_pool_geometry *g);
void eng_maxpool_backward_f64(double *dx, const double *dy, const int32_t *argmax,
                              const eng_pool_geometry *g);
void eng_maxpool_backward_xy_f32(float *dx, const float *dy, const float *x, const float *y,
                                 const eng_pool_geometry *g);
void eng_maxpool_backward_xy_f64(double *dx, const double *dy, const double *x, const double *y,
                                 const eng_pool_geometry *g);

/* ReLU then max pooling in one pass (engine/model_fusion.c): x is the ReLU's input. max and
 * ReLU commute, so y = relu(max of the window of x); argmax is what eng_maxpool_forward records
 * for relu(x): the first maximum where y > 0, else the window's first cell (relu(x) is all +0
 * there, and ties go to the first). Bit for bit eng_relu_forward then eng_maxpool_forward.
 * The backward overwrites dx [planes,h,w], the gradient w.r.t. the ReLU's input: each dy goes
 * to its argmax cell where y > 0, nothing elsewhere; bit for bit eng_maxpool_backward then
 * eng_relu_backward (a cell x > 0 wins only windows whose y is x > 0). */
void eng_relu_maxpool_forward_f32(float *y, int32_t *argmax, const float *x,
                                  const eng_pool_geometry *g);
void eng_relu_maxpool_forward_f64(double *y, int32_t *argmax, const double *x,
                                  const eng_pool_geometry *g);
void eng_relu_maxpool_backward_f32(float *dx, const float *dy, const float *y,
                                   const int32_t *argmax, const eng_pool_geometry *g);
void eng_relu_maxpool_backward_f64(double *dx, const double *dy, const double *y,
                                   const int32_t *argmax, const eng_pool_geometry *g);

/* Max pooling frozen at a reference point (the gradient checker's kink-free differences):
 * each window takes the element of x at the position of x_ref's first maximum (y_ref). */
void eng_maxpool_frozen_f32(float *y, const float *x_ref, const float *y_ref, const float *x,
                            const eng_pool_geometry *g);
void eng_maxpool_frozen_f64(double *y, const double *x_ref, const double *y_ref, const double *x,
                            const eng_pool_geometry *g);

void eng_avgpool_forward_f32(float *y, const float *x, const eng_pool_geometry *g);
void eng_avgpool_forward_f64(double *y, const double *x, const eng_pool_geometry *g);
void eng_avgpool_backward_f32(float *dx, const float *dy, const eng_pool_geometry *g);
void eng_avgpool_backward_f64(double *dx, const double *dy, const eng_pool_geometry *g);

#endif
