/* Pointwise activations over n contiguous elements.
 *
 * forward:  y[i] = f(x[i])
 * backward: dx[i] = dy[i] * f'(x[i]) (overwrites dx). Where f' needs y (tanh, sigmoid) the
 *           backward takes y. relu'(0) = 0 and leaky_relu'(0) = slope, as in PyTorch.
 * Outputs must not alias inputs. */
#ifndef ENGINE_KERNELS_ACTIVATION_H
#define ENGINE_KERNELS_ACTIVATION_H

#include <stdint.h>

void eng_relu_forward_f32(float *y, const float *x, int64_t n);
void eng_relu_forward_f64(double *y, const double *x, int64_t n);
void eng_relu_backward_f32(float *dx, const float *dy, const float *x, int64_t n);
void eng_relu_backward_f64(double *dx, const double *dy, const double *x, int64_t n);
/* eng_relu_backward in place: d = x > 0 ? d : 0. */
void eng_relu_mask_f32(float *d, const float *x, int64_t n);
void eng_relu_mask_f64(double *d, const double *x, int64_t n);

void eng_leaky_relu_forward_f32(float *y, const float *x, int64_t n, double slope);
void eng_leaky_relu_forward_f64(double *y, const double *x, int64_t n, double slope);
void eng_leaky_relu_backward_f32(float *dx, const float *dy, const float *x, int64_t n,
                                 double slope);
void eng_leaky_relu_backward_f64(double *dx, const double *dy, const double *x, int64_t n,
                                 double slope);

/* Frozen at a reference point (the gradient checker's kink-free differences): the branch is
 * the one x_ref takes, the value follows x. y[i] = x_ref[i] > 0 ? x[i] : slope * x[i]
 * (slope 0 for relu). */
void eng_relu_frozen_f32(float *y, const float *x_ref, const float *x, int64_t n, double slope);
void eng_relu_frozen_f64(double *y, const double *x_ref, const double *x, int64_t n, double slope);

void eng_tanh_forward_f32(float *y, const float *x, int64_t n);
void eng_tanh_forward_f64(double *y, const double *x, int64_t n);
void eng_tanh_backward_f32(float *dx, const float *dy, const float *y, int64_t n);
void eng_tanh_backward_f64(double *dx, const double *dy, const double *y, int64_t n);

void eng_sigmoid_forward_f32(float *y, const float *x, int64_t n);
void eng_sigmoid_forward_f64(double *y, const double *x, int64_t n);
void eng_sigmoid_backward_f32(float *dx, const float *dy, const float *y, int64_t n);
void eng_sigmoid_backward_f64(double *dx, const double *dy, const double *y, int64_t n);

#endif
