/* Fusion of adjacent layers (model.c's and model_split.c's helper): a model runs a pair of
 * neighbouring layers as one pass where that saves whole passes over a large activation, and
 * gives bit for bit what the two layers give one after the other. See model_fusion.c for the
 * rules (which pairs, when, and what is then not written). */
#ifndef ENGINE_MODEL_FUSION_H
#define ENGINE_MODEL_FUSION_H

#include "model.h"

/* What model->fused[i] holds for the pair (layer i, layer i + 1). */
enum { ENG_FUSE_NONE = 0, ENG_FUSE_RELU_MAXPOOL, ENG_FUSE_BN_RELU, ENG_FUSE_RESIDUAL_RELU };

/* Marks the running step as one that may fuse (top-level forward or backward of a model
 * without fusion_off): nested models (containers) fuse only inside such a step, so that a
 * container run on its own (the gradient checker's layer calls) runs its layers one by one.
 * Returns the previous state, for eng_fusion_end. */
bool eng_fusion_begin(const eng_model *model);
void eng_fusion_end(bool previous);
/* Whether the calling thread runs a step that may fuse. */
bool eng_fusion_active(void);

/* The kind of fusion for the pair (i, i + 1) given x, layer i's input (0: none); nested: the
 * model runs inside a container (its last pair may fuse). */
int eng_model_fusable(const eng_model *model, int i, const eng_tensor *x, bool nested);
/* Fills model->fused for the whole model (x: the input; every output buffer sized); clears it
 * when fuse is false. */
void eng_model_plan_fusion(eng_model *model, const eng_tensor *x, bool fuse);

/* The pair (a, b) as one pass: x is a's input, y b's output (a's output is not written). */
ENG_MUST_CHECK eng_status eng_fused_forward(int kind, eng_layer *a, eng_layer *b,
                                            const eng_tensor *x, eng_tensor *y, bool training);
/* The pair's backward after eng_fused_forward: dy like y; dx [optional] like x, overwritten
 * (b's input gradient is not written); parameter gradients accumulate. */
ENG_MUST_CHECK eng_status eng_fused_backward(int kind, eng_layer *a, eng_layer *b,
                                             const eng_tensor *x, const eng_tensor *y,
                                             const eng_tensor *dy, eng_tensor *dx);

/* The fold: a ReLU -> MaxPool2d pair whose backward runs inside that of the conv2d before
 * it, which takes the pair's gradient in pooled form (layers/layer_fusion.h): the conv2d's
 * output gradient, full size and three quarters zeros, is never written (model_fusion.c).
 * Top-level models only (model.c's eng_model_backward, serial and split).
 * eng_model_folds: whether the fused pair (i, i + 1) folds into layer i - 1 after the last
 * forward; want_dx: whether the model's backward writes its input gradient.
 * eng_model_backward_first: the first layer of the backward step that ends at layer i: i,
 * i - 1 (a fused pair) or i - 2 (a fold).
 * eng_model_fold_owner: the layer whose backward runs layer i's in a fold that folds whatever
 * want_dx is (the ReLU and pool of a pair folded into a Winograd conv2d), else i: layers run
 * in stretches (model_split.c) as their owner does. */
bool eng_model_folds(const eng_model *model, int i, bool want_dx);
int eng_model_backward_first(const eng_model *model, int i, bool want_dx);
int eng_model_fold_owner(const eng_model *model, int i);
/* The fold's backward: x the conv2d's input, xr the ReLU's input (the conv2d's output), y the
 * pool's output and dy its gradient; dx [optional] like x, overwritten; the conv2d's parameter
 * gradients accumulate. Bit for bit the pair's backward then the conv2d's. */
ENG_MUST_CHECK eng_status eng_folded_backward(eng_layer *conv, eng_layer *pool, const eng_tensor *x,
                                              const eng_tensor *xr, const eng_tensor *y,
                                              const eng_tensor *dy, eng_tensor *dx);
/* Whether a fused step may leave model->dinputs[i] unwritten, for the non-finite guard. */
bool eng_model_grad_skipped(const eng_model *model, int i);

/* Writes into y_a the output layer a (of a fused pair) gives for x, which the fused forward
 * did not write: for readers that need it (the non-finite guard). */
ENG_MUST_CHECK eng_status eng_fused_inner_output(int kind, const eng_layer *a, const eng_tensor *x,
                                                 eng_tensor *y_a);

/* eng_model_forward_nested over the first count layers only (the output buffer of layer
 * count made, for the caller to write: model_residual.c); [out] *y layer count's input. */
ENG_MUST_CHECK eng_status eng_model_forward_nested_part(eng_model *model, const eng_tensor *x,
                                                        bool training, int count,
                                                        const eng_tensor **y);
/* A nested model whose output goes through a ReLU outside it (model_residual.c): its backward
 * given the ReLU's output gradient dy and the mask y > 0 of the ReLU's output (one bit a value,
 * BatchNorm's layout), bit for bit eng_model_backward_nested (or _add) on dy masked by y > 0.
 * eng_model_takes_relu_mask: whether it can, after a nested forward on x (the last layer is a
 * BatchNorm, not fused, that takes the mask: layer_fusion.h). */
bool eng_model_takes_relu_mask(const eng_model *model, const eng_tensor *x);
ENG_MUST_CHECK eng_status eng_model_backward_nested_relu_mask(eng_model *model, const eng_tensor *x,
                                                              const eng_tensor *dy,
                                                              const uint16_t *relu_mask,
                                                              eng_tensor *dx, bool add);

#endif
