/* Splitting a model's batch between the engine's threads (model.c's helper): each thread runs
 * every layer on its own rows of the batch, writing into its rows of the model's activation
 * and gradient buffers; threads past the first use clones of the layers that share the
 * parameters' storage and keep their own gradients, added into the model's afterwards. */
#ifndef ENGINE_MODEL_SPLIT_H
#define ENGINE_MODEL_SPLIT_H

#include "model.h"

/* The number of threads to split x's batch over (1: one part, still run stretch by stretch),
 * or 0 when the model must take the plain serial path: a layer that is not batch-independent
 * (or has no clone), a non-contiguous x, an output whose first dimension is not x's batch
 * size (outputs must already be sized for x), or model->serial_only. */
int eng_model_split_count(const eng_model *model, const eng_tensor *x);

/* Forward over model->input into model->outputs (sized), split over nsplit threads. */
ENG_MUST_CHECK eng_status eng_model_forward_split(eng_model *model, int nsplit);
/* Backward of the last split forward: dy contiguous like the output; dinputs sized (the
 * first only when want_dx). Parameter gradients accumulate as in the serial backward. */
ENG_MUST_CHECK eng_status eng_model_backward_split(eng_model *model, const eng_tensor *dy,
                                                   bool want_dx);

/* Frees the clones (after a structural change, or with the model). */
void eng_model_drop_replicas(eng_model *model);

#endif
