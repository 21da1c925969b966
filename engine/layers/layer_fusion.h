/* The entry points through which engine/model_fusion.c runs two adjacent layers of a model as
 * one pass (internal). Each layer stays its own object with its own state: these are its
 * forward and backward with the neighbour's elementwise step folded in, giving bit for bit
 * what the two layers give one after the other. */
#ifndef ENGINE_LAYERS_LAYER_FUSION_H
#define ENGINE_LAYERS_LAYER_FUSION_H

#include <stdbool.h>
#include <stdint.h>

#include "layer.h"

bool eng_layer_is_relu(const eng_layer *layer);
bool eng_layer_is_maxpool2d(const eng_layer *layer);
bool eng_layer_is_batchnorm(const eng_layer *layer); /* batchnorm1d or batchnorm2d */

/* ReLU -> maxpool2d: x is the ReLU's input. The forward writes the pool's output y and keeps
 * the winners the pool would keep for relu(x) (so its signature and plain backward are
 * unchanged); the ReLU's output is not written. The backward overwrites dx (like x), the
 * gradient w.r.t. the ReLU's input, after a forward_after_relu that wrote y (the winners are
 * found again from x and y if the pool ran on other data since). */
eng_status eng_maxpool2d_forward_after_relu(eng_layer *pool, const eng_tensor *x, eng_tensor *y);
eng_status eng_maxpool2d_backward_through_relu(eng_layer *pool, const eng_tensor *x,
                                               const eng_tensor *y, const eng_tensor *dy,
                                               eng_tensor *dx);

/* A gradient kept in pooled form: the gradient w.r.t. the ReLU's input of a fused
 * ReLU -> maxpool2d pair, not written out but given by the pool's output y, its gradient dy
 * and the pool's winners (x: the ReLU's input [N,C,H,W]). eng_pooled_grad_rows writes the
 * rows (images) [first, first + count) of it into dx [count,C,H,W]: bit for bit those
 * eng_maxpool2d_backward_through_relu writes. eng_maxpool2d_folds: whether the pool's windows
 * tile x exactly in 2x2 blocks (2x2, stride 2, no padding, even H and W; f32, contiguous),
 * the case a 2x2-tiled consumer (Winograd F(2x2)) lines up with. */
typedef struct eng_pooled_grad {
    eng_layer *pool;
    const eng_tensor *x, *y, *dy;
} eng_pooled_grad;

bool eng_maxpool2d_folds(const eng_layer *pool, const eng_tensor *x);
eng_status eng_pooled_grad_rows(const eng_pooled_grad *pg, int64_t first, int64_t count, float *dx);
/* The same for the channels [c0, c0 + count) of one image: dx [count,H,W]. */
eng_status eng_pooled_grad_planes(const eng_pooled_grad *pg, int64_t image, int64_t c0,
                                  int64_t count, float *dx);

/* conv2d -> [ReLU -> maxpool2d]: the convolution's backward taking its output gradient in
 * pooled form (model_fusion.c's fold), so that the full-size gradient is never written: it is
 * made a few images at a time into a workspace that stays in cache, right before the
 * convolution reads them. Bit for bit conv2d's backward on the written gradient.
 * eng_conv2d_takes_pooled: whether the layer's path for x does so (f32: the direct path
 * without dx, Winograd F(2x2)); dx [optional] as conv2d's backward. */
bool eng_layer_is_conv2d(const eng_layer *layer);
bool eng_conv2d_takes_pooled(const eng_layer *conv, const eng_tensor *x, bool dx);
eng_status eng_conv2d_backward_pooled(eng_layer *conv, const eng_tensor *x,
                                      const eng_pooled_grad *dy, eng_tensor *dx);

/* BatchNorm1d/2d -> ReLU (engine/layers/batchnorm.c): forward writes y = relu(bn(x)), the
 * BatchNorm's output not written, updating the running statistics as bn's forward; backward
 * takes that y and its gradient dy, overwrites dx [optional] (like x, the gradient w.r.t. bn's
 * input) and accumulates bn's parameter gradients. Bit for bit the two layers in turn.
 * eng_batchnorm_output writes bn's own output for x after such a forward, from the statistics
 * it kept (for the non-finite guard). */
eng_status eng_batchnorm_forward_relu(eng_layer *bn, const eng_tensor *x, eng_tensor *y,
                                      bool training);
eng_status eng_batchnorm_backward_relu(eng_layer *bn, const eng_tensor *x, const eng_tensor *y,
                                       const eng_tensor *dy, eng_tensor *dx);
eng_status eng_batchnorm_output(const eng_layer *bn, const eng_tensor *x, eng_tensor *y);
/* BatchNorm2d -> [a ReLU after the layer, outside its model] (model_residual.c): the ReLU's
 * output y given by its mask y > 0 (one bit a value, eng_batchnorm_relu_mask_words' layout for
 * x's shape), which the backward reads instead of y: bit for bit eng_batchnorm_backward_relu
 * with that y. Only after a training forward on this x in f32, with its batch statistics kept
 * (eng_batchnorm_takes_relu_mask tells; an error otherwise). */
/* [BatchNorm2d, BatchNorm2d] -> sum -> ReLU (the last layers of a residual's two branches,
 * model_residual.c): y = relu(bn_a(xa) + bn_b(xb)) and its mask y > 0 (relu_mask: that layout
 * for y's shape) in one pass, the BatchNorms' outputs not written, each BatchNorm's state
 * (statistics kept for its x, running statistics) that of its training forward; bit for bit the
 * two forwards then the sum and the ReLU. eng_batchnorm_sums_with: whether the pair can (both
 * BatchNorms in f32 with as many features, training). */
bool eng_batchnorm_sums_with(const eng_layer *bn, const eng_layer *other, bool training);
eng_status eng_batchnorm_add_relu(eng_layer *bn_a, const eng_tensor *xa, eng_layer *bn_b,
                                  const eng_tensor *xb, eng_tensor *y, uint16_t *relu_mask);
bool eng_batchnorm_takes_relu_mask(const eng_layer *bn, const eng_tensor *x);
eng_status eng_batchnorm_backward_relu_mask(eng_layer *bn, const eng_tensor *x,
                                            const uint16_t *relu_mask, const eng_tensor *dy,
                                            eng_tensor *dx);

/* Residual -> ReLU (engine/model_residual.c): forward writes y = relu(block(x) + shortcut(x)),
 * the residual's own output not written; backward takes that y and its gradient dy, masks dy
 * once (into the residual's scratch) and hands it to both branches, overwriting dx [optional]
 * (like x) and accumulating the branches' parameter gradients. Bit for bit the two layers in
 * turn. eng_residual_output writes the residual's own output (the sum) from its branches'
 * outputs after such a forward (for the non-finite guard). */
bool eng_layer_is_residual(const eng_layer *layer);
eng_status eng_residual_forward_relu(eng_layer *residual, const eng_tensor *x, eng_tensor *y,
                                     bool training);
eng_status eng_residual_backward_relu(eng_layer *residual, const eng_tensor *x, const eng_tensor *y,
                                      const eng_tensor *dy, eng_tensor *dx);
eng_status eng_residual_output(const eng_layer *residual, const eng_tensor *x, eng_tensor *y);

#endif
