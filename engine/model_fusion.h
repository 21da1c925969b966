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

/* Writes into y_a the output layer a (of a fused pair) gives for x, which the fused forward
 * did not write: for readers that need it (the non-finite guard). */
ENG_MUST_CHECK eng_status eng_fused_inner_output(int kind, const eng_layer *a, const eng_tensor *x,
                                                 eng_tensor *y_a);

#endif
