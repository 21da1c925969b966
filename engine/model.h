/* The sequential container: layers applied in order, with the activation and gradient buffers
 * they need kept across steps (reallocated only when the batch shape changes).
 *
 * Parameters are named "<layer>.<param>"; a layer without a name gets "<kind>_<k>", k counting
 * the layers of that kind in this model from 1 (conv2d_1, relu_1, linear_1, relu_2, ...). */
#ifndef ENGINE_MODEL_H
#define ENGINE_MODEL_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include "layers/layer.h"
#include "param_list.h"

typedef struct eng_model {
    int nlayers, capacity;
    eng_layer **layers;   /* each retained by the model */
    eng_tensor *input;    /* view of the last forward's input */
    eng_tensor **outputs; /* [nlayers] output of each layer */
    eng_tensor **dinputs; /* [nlayers] gradient w.r.t. each layer's input */
    bool training;
    bool forwarded; /* a forward ran since the last structural change */
    int refcount;
    /* Batch splitting (model_split.c): clones of the layers run by the other threads,
     * [nreplicas][nlayers] flattened, sharing the parameters' storage; and the number of
     * threads the last forward's batch was split over (1: not split). */
    eng_layer **replicas;
    int nreplicas;
    int split;
    /* Set to run every layer on the whole batch in turn (no threads, no stretches): the plain
     * path, kept as the reference the split one is tested against. */
    bool serial_only;
    /* Set to run every layer on its own pass (model_fusion.c: the reference the fused path is
     * tested against; the gradient checker sets it while it runs the model). */
    bool fusion_off;
    /* [nlayers] the last forward's plan (model_fusion.h): fused[i] != 0 when layers i and i+1
     * ran as one pass, leaving outputs[i] and dinputs[i+1] unwritten. */
    unsigned char *fused;
    eng_param_list params; /* the list eng_model_params returns, rebuilt on each call */
} eng_model;

ENG_MUST_CHECK eng_status eng_model_new(eng_model **out);
void eng_model_retain(eng_model *model);
void eng_model_release(eng_model *model);

/* Appends a layer (retained). Unnamed layers are named as above; a duplicate name is refused. */
ENG_MUST_CHECK eng_status eng_model_add(eng_model *model, eng_layer *layer);

/* Runs every layer. When every layer is batch-independent, the batch is split between the
 * engine's threads (eng_set_threads), each running every layer on its rows, and stretches of
 * sample-by-sample layers run a few samples at a time (model_split.h); the results equal the
 * plain path's up to the order of floating-point sums in the parameter gradients (and exactly
 * with one thread). [out] *y points at the model's own output buffer, valid until the next
 * forward. x is kept (as a view) for backward. */
ENG_MUST_CHECK eng_status eng_model_forward(eng_model *model, const eng_tensor *x,
                                            const eng_tensor **y);
/* Backpropagates dy (like the last output), accumulating parameter gradients. dx [optional,
 * out]: when non-NULL, *dx points at the model's buffer for d(loss)/d(x); when NULL the first
 * layer's input gradient is not computed at all. */
ENG_MUST_CHECK eng_status eng_model_backward(eng_model *model, const eng_tensor *dy,
                                             const eng_tensor **dx);

/* For containers (engine/model_container.h), whose layers hold models: the shape the layers
 * would give for x, computed without running them (x's values are not read; it may be a
 * shape-only descriptor). */
ENG_MUST_CHECK eng_status eng_model_output_shape(const eng_model *model, const eng_tensor *x,
                                                 int *ndim, int64_t *shape);
/* The layers on x in turn, on the calling thread, with no batch split and without changing
 * OpenBLAS's threads or keeping x (so that a container may run inside a split model's
 * thread). [out] *y points at the model's buffer for the last output. */
ENG_MUST_CHECK eng_status eng_model_forward_nested(eng_model *model, const eng_tensor *x,
                                                   bool training, const eng_tensor **y);
/* Backward after eng_model_forward_nested on the same x: dx [optional, out] like x is
 * overwritten; parameter gradients accumulate. */
ENG_MUST_CHECK eng_status eng_model_backward_nested(eng_model *model, const eng_tensor *x,
                                                    const eng_tensor *dy, eng_tensor *dx);
/* Whether eng_model_backward_nested_add runs after a nested forward on x: the first layer (not
 * in a fused pair) can add its input gradient into dx (layer.h's backward_add). */
bool eng_model_can_add_dx(const eng_model *model, const eng_tensor *x);
/* eng_model_backward_nested with the input gradient ADDED to dx (which holds another gradient
 * of x), where eng_model_can_add_dx says so. */
ENG_MUST_CHECK eng_status eng_model_backward_nested_add(eng_model *model, const eng_tensor *x,
                                                        const eng_tensor *dy, eng_tensor *dx);

void eng_model_zero_grad(eng_model *model);
void eng_model_set_training(eng_model *model, bool training);
/* Converts every layer's parameters; a new model with cloned layers. */
ENG_MUST_CHECK eng_status eng_model_to(const eng_model *model, eng_dtype dtype, eng_model **out);

/* Iterates parameters in order: index in [0, eng_model_param_count). full_name receives
 * "<layer>.<param>". */
int eng_model_param_count(const eng_model *model);
eng_param *eng_model_param(eng_model *model, int index, char *full_name, size_t size);
/* Every parameter in order, as the list optimizers and clipping take. The list is the
 * model's: valid until the next call or the model's release. NULL when out of memory (the
 * message is set). */
const eng_param_list *eng_model_params(eng_model *model);
/* The dtype of the first layer with parameters (ENG_F32 when none has any). */
eng_dtype eng_model_dtype(const eng_model *model);

/* The NaN/Inf guard of a training step: looks for the first NaN or infinity in the order the
 * step computed them: the input, then layer by layer its parameters and its output (forward),
 * then from the last layer back its parameter gradients and the gradient it passes to the layer
 * before it (backward; the first layer's input gradient is not looked at). Outputs are looked
 * at only after a successful forward. Returns ENG_OK when everything and loss are finite, else
 * ENG_ENONFINITE with a message naming the step, the loss, the layer (position, name, kind),
 * the tensor, the value and its 0-based index. */
ENG_MUST_CHECK eng_status eng_model_check_finite(const eng_model *model, int64_t step, double loss);

#pragma GCC visibility pop

#endif
