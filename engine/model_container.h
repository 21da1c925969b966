/* Containers: layers made of models, so that models branch and nest (Torch7's ConcatTable with
 * CAddTable, and JoinTable, in spirit). A container is an ordinary layer of a model (printing,
 * checkpoints, optimizers, the gradient checker and thread splitting see one layer) that holds
 * one or more models, its "children":
 *
 *   residual    y = block(x) + shortcut(x)      children: block, [optional] shortcut
 *                                               (without one, the shortcut is the identity)
 *   concat      y = cat(branch_1(x), ..., branch_k(x)) along dim (1-based as in Lua, negative
 *                                               from the end; never the batch's)
 *   sequential  y = block(x)                    a Sequential inside a model
 *
 * The layer lists every parameter and buffer of the layers inside it (at any depth) as its own,
 * named relative to it: "conv2d_1.weight" for the block's layers (and a sequential's),
 * "shortcut.conv2d_1.weight" for the shortcut's, "branch_2.conv2d_1.weight" for a branch's; a
 * model then names them "residual_1.conv2d_1.weight". A child is a new model over the layers
 * the given one holds when the container is made (the layers are shared, not copied), so adding
 * layers to the given model afterwards does not change the container. */
#ifndef ENGINE_MODEL_CONTAINER_H
#define ENGINE_MODEL_CONTAINER_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include "model.h"
#include "registry.h"

#define ENG_CONTAINER_MAX_CHILDREN 16 /* branches of a concat */
#define ENG_CONTAINER_MAX_DEPTH 16    /* containers inside containers */

/* The three kinds (registry.h): their names are "residual", "concat" and "sequential". */
bool eng_kind_is_container(const eng_layer_kind *kind);
bool eng_layer_is_container(const eng_layer *layer);

/* y = block(x) + shortcut(x); shortcut [optional] NULL for the identity. Neither model may be
 * empty; a layer that needs x's values to know its output shape (an nn.Lua layer without
 * output_shape) is refused. [out] *out, refcount 1. */
ENG_MUST_CHECK eng_status eng_residual_new(const eng_model *block, const eng_model *shortcut,
                                           eng_layer **out);
/* y = the branches' outputs concatenated along dim (1-based, negative from the end; resolved
 * at forward, where it may not be the first). 1 to ENG_CONTAINER_MAX_CHILDREN branches. */
ENG_MUST_CHECK eng_status eng_concat_new(int dim, const eng_model *const *branches, int n,
                                         eng_layer **out);
/* y = block(x): a model as one layer of another. */
ENG_MUST_CHECK eng_status eng_sequential_layer_new(const eng_model *block, eng_layer **out);
/* A container of this kind from its settings (finished) and its children, in the order above:
 * what the checkpoint loader rebuilds. */
ENG_MUST_CHECK eng_status eng_container_create(const eng_settings *s,
                                               const eng_model *const *children, int n,
                                               eng_layer **out);

/* The children: i in [0, eng_container_count(layer)); their names as the parameter names
 * use them ("" for a block, "shortcut", "branch_2"). The models stay the container's. */
int eng_container_count(const eng_layer *layer);
eng_model *eng_container_child(const eng_layer *layer, int i);
const char *eng_container_child_name(const eng_layer *layer, int i);
/* The generators of the layers inside (a Dropout's), at any depth, in order, with their paths
 * relative to the container ("shortcut.dropout_1"), for checkpoints. Writes at most max;
 * returns how many there are. */
int eng_container_rngs(eng_layer *layer, eng_rng **rngs, char (*paths)[ENG_PARAM_NAME_MAX],
                       int max);
/* The name child k of a container of this kind has (as eng_container_child_name). */
void eng_container_child_name_of(const eng_layer_kind *kind, int k, char *buf, size_t size);
/* Lists again the parameters and buffers of the layers inside, after one of their tensors was
 * replaced (a thread's clone pointed at the model's storage: model_split.c). */
ENG_MUST_CHECK eng_status eng_container_refresh(eng_layer *layer);

#pragma GCC visibility pop

#endif
