/* GELU (Hendrycks and Gimpel 2016; torch.nn.GELU), elementwise over n values.
 *
 *   exact:  y = x * Phi(x) = 0.5 * x * (1 + erf(x / sqrt(2)))
 *           dy/dx = Phi(x) + x * phi(x),  phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
 *   tanh:   y = 0.5 * x * (1 + tanh(u)),  u = sqrt(2 / pi) * (x + 0.044715 x^3)
 *           dy/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2 / pi) (1 + 3 * 0.044715 x^2)
 * backward overwrites dx = dy * dy/dx at x. */
#ifndef ENGINE_KERNELS_GELU_H
#define ENGINE_KERNELS_GELU_H

#include <stdbool.h>
#include <stdint.h>

void eng_gelu_forward_f32(float *y, const float *x, int64_t n, bool tanh_approx);
void eng_gelu_forward_f64(double *y, const double *x, int64_t n, bool tanh_approx);
void eng_gelu_backward_f32(float *dx, const float *dy, const float *x, int64_t n, bool tanh_approx);
void eng_gelu_backward_f64(double *dx, const double *dy, const double *x, int64_t n,
                           bool tanh_approx);

#endif
