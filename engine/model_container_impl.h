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
    char *names;     /* the entries' names, ENG_PARAM_NAME_MAX bytes each */
    eng_tensor *tmp; /* the shortcut's input gradient, or a branch's */
    eng_tensor *dys[ENG_CONTAINER_MAX_CHILDREN]; /* concat: each branch's share of dy */
} container;

/* The ops of a kind come in four variants, indexed by these flags of the layers inside: a
 * container is batch-independent (and may run on a split model's threads) when all of them
 * are, and may branch unseen when one of them may. */
enum { CONTAINER_BATCH_INDEPENDENT = 1, CONTAINER_UNKNOWN_BRANCHES = 2 };

#define CONTAINER_OPS(kind_name, shape_fn, forward_fn, backward_fn, flags)                         \
    {                                                                                              \
        .kind = kind_name, .output_shape = shape_fn, .forward = forward_fn,                        \
        .backward = backward_fn, .clone = container_clone, .destroy = container_destroy,           \
        .signature = container_signature,                                                          \
        .batch_independent = ((flags)&CONTAINER_BATCH_INDEPENDENT) != 0,                           \
        .unknown_branches = ((flags)&CONTAINER_UNKNOWN_BRANCHES) != 0,                             \
    }

eng_status container_clone(const eng_layer *layer, eng_dtype dtype, eng_layer **out);
void container_destroy(eng_layer *layer);
uint64_t container_signature(const eng_layer *layer, const eng_tensor *x, const eng_tensor *y);
/* A container of this type over copies of the models' layer lists (names as given). */
eng_status container_make(container_type type, const eng_layer_ops *variants, int dim,
                          const eng_model *const *children, const char *const *names, int n,
                          eng_layer **out);
/* dst = a + b and dst += src, all alike and contiguous, f32 or f64 (dst may be a or b). */
void container_sum(eng_tensor *dst, const eng_tensor *a, const eng_tensor *b);
void container_add(eng_tensor *dst, const eng_tensor *src);

extern const eng_layer_ops eng_concat_variants[4];

#endif
