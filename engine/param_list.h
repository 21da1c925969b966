/* A list of named parameters with their gradients: what optimizers and gradient clipping work
 * on, without knowing of models or layers (a model gives its own with eng_model_params). The
 * list borrows the tensors; an optimizer takes views of them. */
#ifndef ENGINE_PARAM_LIST_H
#define ENGINE_PARAM_LIST_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include "tensor.h"

/* The most bytes, with the terminating NUL, of a parameter's full name: "<layer>.<param>", or
 * inside containers its path ("residual_2.shortcut.conv2d_1.weight"). A container keeps the
 * names relative to it ENG_NAME_MAX shorter, so that the model's own layer name always fits in
 * front: containers nested the 16 levels they may (default names, as in
 * "sequential_1.sequential_1.(...).batchnorm2d_1.running_mean") fit with room to spare. */
#define ENG_PARAM_NAME_MAX 512

typedef struct eng_named_param {
    char name[ENG_PARAM_NAME_MAX]; /* "<layer>.<param>" for a model's */
    eng_tensor *value;
    eng_tensor *grad; /* same shape and dtype as value */
} eng_named_param;

typedef struct eng_param_list {
    int count;
    eng_named_param *params; /* [count] */
} eng_param_list;

#pragma GCC visibility pop

#endif
