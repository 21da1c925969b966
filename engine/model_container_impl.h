/* What the container kinds (model_container.c, model_concat.c) share; not part of the API. */
#ifndef ENGINE_MODEL_CONTAINER_IMPL_H
#define ENGINE_MODEL_CONTAINER_IMPL_H

#include "model_container.h"

typedef enum container_type {
    CONTAINER_SEQUENTIAL,
    CONTAINER_RESIDUAL,
    CONTAINER_CONCAT
} container_type;

typedef struct container {
    eng_layer base; /* params and buffers point at the lists below */
    container_type type;
    const eng_layer_ops *variants; /* [4] the kind's ops, by container_flags */
    int nchildren;
    eng_model *children[ENG_CONTAINER_MAX_CHILDREN];
    char child_names[ENG_CONTAINER_MAX_CHILDREN][ENG_NAME_MAX];
    int dim; /* concat: as given, 1-based or negative */
    eng_param *all_params;
    eng_buffer *all_buffers;
    char *names;         /* the entries' names, ENG_PARAM_NAME_MAX bytes each */
    eng_tensor *tmp;     /* the shortcut's input gradient, or a branch's */
    eng_tensor *dmask;   /* residual -> ReLU fused (model_residual.c): dy masked by the ReLU */
    uint16_t *relu_mask; /* and the mask y > 0 of the ReLU's output y, when its branches */
    int64_t mask_words;  /* take it (model_residual.c); its capacity */
    const void *mask_y;  /* the y it is the mask of, or NULL */
    int64_t mask_numel;  /* and y's size */
    bool last_unwritten; /* the branches' last outputs were not written (model_residual.c) */
    eng_tensor *dys[ENG_CONTAINER_MAX_CHILDREN]; /* concat: each branch's share of dy */
    bool training;             /* the mode of the last forward, which forward_frozen runs in */
    eng_tensor *ref_x, *ref_y; /* forward_frozen: the reference refs[] were taken at */
    eng_tensor **refs[ENG_CONTAINER_MAX_CHILDREN]; /* [child's nlayers] outputs at ref_x */
} container;

/* The ops of a kind come in eight variants, indexed by these flags of the layers inside: a
 * container is batch-independent (and may run on a split model's threads) when all of them
 * are, may branch unseen when one of them may, and has a forward_frozen when every one that
 * branches has one (the others are smooth). */
enum {
    CONTAINER_BATCH_INDEPENDENT = 1,
    CONTAINER_UNKNOWN_BRANCHES = 2,
    CONTAINER_FREEZES = 4,
    CONTAINER_VARIANTS = 8
};

#define CONTAINER_OPS(kind_name, shape_fn, forward_fn, backward_fn, frozen_fn, flags)              \
    {                                                                                              \
        .kind = kind_name, .output_shape = shape_fn, .forward = forward_fn,                        \
        .backward = backward_fn, .clone = container_clone, .destroy = container_destroy,           \
        .signature = container_signature,                                                          \
        .forward_frozen = ((flags)&CONTAINER_FREEZES) ? frozen_fn : NULL,                          \
        .batch_independent = ((flags)&CONTAINER_BATCH_INDEPENDENT) != 0,                           \
        .unknown_branches = ((flags)&CONTAINER_UNKNOWN_BRANCHES) != 0,                             \
    }
/* The CONTAINER_VARIANTS ops of a kind, by flags. */
#define CONTAINER_OPS_ALL(kind_name, shape_fn, forward_fn, backward_fn, frozen_fn)                 \
    {                                                                                              \
        CONTAINER_OPS(kind_name, shape_fn, forward_fn, backward_fn, frozen_fn, 0),                 \
            CONTAINER_OPS(kind_name, shape_fn, forward_fn, backward_fn, frozen_fn, 1),             \
            CONTAINER_OPS(kind_name, shape_fn, forward_fn, backward_fn, frozen_fn, 2),             \
            CONTAINER_OPS(kind_name, shape_fn, forward_fn, backward_fn, frozen_fn, 3),             \
            CONTAINER_OPS(kind_name, shape_fn, forward_fn, backward_fn, frozen_fn, 4),             \
            CONTAINER_OPS(kind_name, shape_fn, forward_fn, backward_fn, frozen_fn, 5),             \
            CONTAINER_OPS(kind_name, shape_fn, forward_fn, backward_fn, frozen_fn, 6),             \
            CONTAINER_OPS(kind_name, shape_fn, forward_fn, backward_fn, frozen_fn, 7),             \
    }

eng_status container_clone(const eng_layer *layer, eng_dtype dtype, eng_layer **out);
void container_destroy(eng_layer *layer);
uint64_t container_signature(const eng_layer *layer, const eng_tensor *x, const eng_tensor *y);
/* A container of this type over copies of the models' layer lists (names as given). */
eng_status container_make(container_type type, const eng_layer_ops *variants, int dim,
                          const eng_model *const *children, const char *const *names, int n,
                          eng_layer **out);
/* Points the last output of m at y (a view sharing its storage): a sequential's block then
 * writes its output in place. */
eng_status container_alias_output(eng_model *m, const eng_tensor *y);
/* forward_frozen (model_container_frozen.c): runs child k with its branches frozen at the
 * reference (x_ref, y_ref): the references inside are taken by one forward at x_ref and kept
 * while x_ref's and y_ref's values stay the same; y, the container's output for x, serves as
 * that forward's output. [out] *yk the child's output. */
eng_status container_frozen_child(container *c, int k, const eng_tensor *x_ref,
                                  const eng_tensor *y_ref, const eng_tensor *x, eng_tensor *y,
                                  const eng_tensor **yk);
/* The residual's and the sequential's forward_frozen. */
eng_status container_block_frozen(eng_layer *layer, const eng_tensor *x_ref,
                                  const eng_tensor *y_ref, const eng_tensor *x, eng_tensor *y);
void container_frozen_release(container *c);

/* dst = a + b and dst += src, all alike and contiguous, f32 or f64 (dst may be a or b). */
void container_sum(eng_tensor *dst, const eng_tensor *a, const eng_tensor *b);
void container_add(eng_tensor *dst, const eng_tensor *src);

/* A residual's or a sequential's two halves: the forward of its children on x (*yb the
 * block's output, *ys the shortcut's or x itself; a sequential's block writes into y when y
 * [optional] is contiguous), and the backward that hands dy to both and sums their input
 * gradients into dx [optional]. */
eng_status container_branches_forward(container *c, const eng_tensor *x, const eng_tensor *y,
                                      bool training, const eng_tensor **yb, const eng_tensor **ys);
eng_status container_branches_backward(container *c, const eng_tensor *x, const eng_tensor *dy,
                                       eng_tensor *dx);

extern const eng_layer_ops eng_concat_variants[CONTAINER_VARIANTS];

#endif
