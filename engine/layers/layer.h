/* The layer interface: a const vtable per kind and a common header that every kind embeds as
 * its first member (private fields follow in the kind's own .c file).
 *
 * backward overwrites dx and ADDS into the parameter gradients, so that gradients of several
 * batches can be accumulated; zero them with eng_layer_zero_grad(). */
#ifndef ENGINE_LAYERS_LAYER_H
#define ENGINE_LAYERS_LAYER_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include <stdbool.h>
#include <stddef.h>

#include "../tensor.h"

#define ENG_MAX_PARAMS 4
#define ENG_MAX_BUFFERS 2
#define ENG_NAME_MAX 64

typedef struct eng_layer eng_layer;

typedef struct eng_param {
    const char *name; /* "weight", "bias": static strings */
    eng_tensor *value;
    eng_tensor *grad; /* same shape and dtype as value */
} eng_param;

/* State that is not a parameter (batchnorm's running statistics): saved in checkpoints and
 * copied by clones, but never given a gradient or touched by an optimizer. */
typedef struct eng_buffer {
    const char *name; /* "running_mean": static strings */
    eng_tensor *value;
} eng_buffer;

typedef struct eng_layer_ops {
    const char *kind; /* "conv2d", "relu", ...: also the prefix of automatic names; the kind's
                       * settings are declared in its eng_layer_kind (registry.h) */
    /* Checks x (shape, dtype) and gives y's shape. The message names the layer and shapes. */
    eng_status (*output_shape)(const eng_layer *layer, const eng_tensor *x, int *ndim,
                               int64_t *shape);
    /* y has the shape output_shape gave and x's dtype; both contiguous. */
    eng_status (*forward)(eng_layer *layer, const eng_tensor *x, eng_tensor *y, bool training);
    /* x and y as in the last forward; dy like y. dx [optional, out] like x: NULL skips the
     * input gradient (the first layer of a model needs none). */
    eng_status (*backward)(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                           const eng_tensor *dy, eng_tensor *dx);
    /* [optional] backward with the input gradient ADDED to dx (which holds another gradient
     * of x already) instead of written over it, for an x where can_add_dx says so: the
     * branches of a residual then sum their gradients without a pass of their own. */
    bool (*can_add_dx)(const eng_layer *layer, const eng_tensor *x);
    eng_status (*backward_add)(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                               const eng_tensor *dy, eng_tensor *dx);
    /* A new layer of the same kind and configuration whose parameters are copies of these in
     * the given dtype (gradients zero). [out] *out owned by the caller. */
    eng_status (*clone)(const eng_layer *layer, eng_dtype dtype, eng_layer **out);
    /* Frees the kind's private fields (the common header is freed by eng_layer_release). */
    void (*destroy)(eng_layer *layer);
    /* [optional] Writes into y_out (like y) the output for x after element `index` (row-major)
     * of parameter `param` changes by delta, given y, the output before the change. Lets the
     * gradient checker skip recomputing the whole layer for one element; it is checked there
     * against a full forward. */
    eng_status (*forward_delta)(eng_layer *layer, const eng_tensor *x, const eng_tensor *y,
                                int param, int64_t index, double delta, eng_tensor *y_out);
    /* [optional] A hash of the branches the last forward took for x and y (which ReLU inputs
     * were positive, which max-pool element won). Two evaluations whose signatures differ
     * straddle a kink, where finite differences are meaningless. */
    uint64_t (*signature)(const eng_layer *layer, const eng_tensor *x, const eng_tensor *y);
    /* [optional, with signature] The forward with its branches frozen at a reference point:
     * writes into y (like y_ref) the output for x when every branch (ReLU mask, max-pool
     * winner) is the one taken for x_ref, whose output was y_ref. A smooth function of x that
     * equals forward at x_ref: the gradient checker differences it with large steps and no
     * kinks. */
    eng_status (*forward_frozen)(eng_layer *layer, const eng_tensor *x_ref, const eng_tensor *y_ref,
                                 const eng_tensor *x, eng_tensor *y);
    /* [optional] The gradient checker's sparse tail. x equals x_ref (whose output is y_ref)
     * except at the n flat indices in[] (ascending, distinct); y holds y_ref except where
     * this call writes. Writes into y the output for x at every position that may differ,
     * lists those positions in out[] (ascending, distinct, at most cap) and sets *nout; sets
     * *nout = -1 (y then unspecified) when more than cap would be needed or a full forward
     * is cheaper. Branches (ReLU masks, max-pool winners) are those taken at x_ref, as in
     * forward_frozen. The checker verifies it once against a full forward. */
    eng_status (*forward_sparse)(eng_layer *layer, const eng_tensor *x_ref, const eng_tensor *y_ref,
                                 const eng_tensor *x, const int64_t *in, int64_t n, eng_tensor *y,
                                 int64_t *out, int64_t cap, int64_t *nout);
    /* Set when the kind may branch (kinks) without a signature to tell: layers written in Lua
     * or in plugins. Built-in kinds without a signature are smooth. */
    bool unknown_branches;
    /* [optional] The layer's own random generator (dropout's masks), which checkpoints save and
     * restore so that a resumed run draws the same masks. */
    eng_rng *(*rng)(eng_layer *layer);
    /* Set when each sample's output and gradients depend on that sample alone, and a clone
     * (sharing the parameters' storage) may run on another thread at the same time: the model
     * may then split a batch between threads (engine.threads). Leave it unset for layers that
     * draw random numbers, mix samples, or call into Lua. */
    bool batch_independent;
    /* Set (with batch_independent) when the kind's kernels take one sample at a time (no GEMM
     * over the batch), so that running it on a few samples at a time costs nothing, and its
     * backward needs nothing kept from its forward but x and y: the model then runs a stretch
     * of such layers a few samples at a time (all the forwards of a step before any backward),
     * and each layer reads its input from cache instead of memory. */
    bool sample_by_sample;
    /* [optional] For a sample_by_sample kind: whether this layer, for this input, runs faster
     * on many samples per call (conv2d's Winograd path gathers 8 images into each GEMM); the
     * model then gives it whole rows, ending the stretch there. */
    bool (*prefers_many_samples)(const eng_layer *layer, const eng_tensor *x);
    /* Set when output_shape can only tell the shape by running the layer on x's values (a
     * layer written in Lua without an output_shape function): a container then asks for it
     * only once x holds the real input, right before the forward, never on a buffer that the
     * layers before it have not filled yet. */
    bool shape_needs_data;
} eng_layer_ops;

struct eng_layer {
    const eng_layer_ops *ops;
    char name[ENG_NAME_MAX]; /* "" until named by the user or by a container */
    eng_dtype dtype;         /* parameters' dtype; parameter-free layers accept f32 and f64 */
    int refcount;
    /* params and buffers point at the slots below (eng_layer_init), except in a container
     * (engine/model_container.h), which lists there every parameter and buffer of the layers
     * it holds, with names relative to it ("shortcut.conv2d_1.weight"), each entry holding
     * references of its own. Code that walks a layer's parameters needs no other case. */
    int nparams;
    eng_param *params;
    int nbuffers;
    eng_buffer *buffers;
    eng_param param_slots[ENG_MAX_PARAMS];
    eng_buffer buffer_slots[ENG_MAX_BUFFERS];
};

/* Sets the common header: refcount 1, no parameters, no name. */
void eng_layer_init(eng_layer *layer, const eng_layer_ops *ops, eng_dtype dtype);
/* Adds a zero parameter of this shape (and its zero gradient) in the layer's dtype. */
ENG_MUST_CHECK eng_status eng_layer_add_param(eng_layer *layer, const char *name, int ndim,
                                              const int64_t *shape);
eng_param *eng_layer_param(eng_layer *layer, const char *name);
/* Adds a buffer of this shape in the layer's dtype, filled with value. */
ENG_MUST_CHECK eng_status eng_layer_add_buffer(eng_layer *layer, const char *name, int ndim,
                                               const int64_t *shape, double value);

void eng_layer_retain(eng_layer *layer);
/* Drops one reference; the last one destroys the layer and its parameters. NULL accepted. */
void eng_layer_release(eng_layer *layer);

ENG_MUST_CHECK eng_status eng_layer_set_name(eng_layer *layer, const char *name);
/* The name, or the kind when the layer has none yet: for messages. */
const char *eng_layer_label(const eng_layer *layer);

/* Checked entry points: they verify dtypes and shapes, then call the vtable. */
ENG_MUST_CHECK eng_status eng_layer_output_shape(const eng_layer *layer, const eng_tensor *x,
                                                 int *ndim, int64_t *shape);
ENG_MUST_CHECK eng_status eng_layer_forward(eng_layer *layer, const eng_tensor *x, eng_tensor *y,
                                            bool training);
ENG_MUST_CHECK eng_status eng_layer_backward(eng_layer *layer, const eng_tensor *x,
                                             const eng_tensor *y, const eng_tensor *dy,
                                             eng_tensor *dx);
void eng_layer_zero_grad(eng_layer *layer);
/* A hash of n bytes continuing from h (start with ENG_HASH_INIT): signatures use it. */
#define ENG_HASH_INIT 14695981039346656037ull
uint64_t eng_hash_bytes(uint64_t h, const void *data, size_t n);
/* Mixes one 64-bit word into h (faster than hashing its bytes). */
static inline uint64_t eng_hash_word(uint64_t h, uint64_t word)
{
    h ^= word + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}
/* Copies every parameter (not gradient) and every buffer of src into dst, converting the
 * dtype. Same kind and parameter shapes required. */
ENG_MUST_CHECK eng_status eng_layer_copy_params(eng_layer *dst, const eng_layer *src);

/* Shared checks for kinds: x must be a contiguous float tensor of ndim dimensions and, when
 * the layer has parameters, of the layer's dtype. */
ENG_MUST_CHECK eng_status eng_layer_check_input(const eng_layer *layer, const eng_tensor *x,
                                                int ndim, const char *expected);

#pragma GCC visibility pop

#endif
