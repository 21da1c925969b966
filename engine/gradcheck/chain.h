/* The objective over a chain of layers and a loss (objective.c), and its evaluation after a
 * perturbation (tail.c): internal to the gradient checker. */
#ifndef ENGINE_GRADCHECK_CHAIN_H
#define ENGINE_GRADCHECK_CHAIN_H

#include "check_internal.h"

typedef struct chain {
    int nlayers;
    eng_layer **layers; /* retained */
    bool training;
    eng_loss *loss; /* not owned (the model objective) or owned (projection) */
    bool owns_loss;
    eng_tensor *x, *target;
    eng_tensor **base;    /* [nlayers] outputs at the unperturbed point */
    eng_tensor **scratch; /* [nlayers] outputs of perturbed evaluations */
    eng_tensor **dinputs; /* [nlayers] gradients w.r.t. each layer's input */
    eng_tensor *dloss;
    bool with_input;
    int8_t *delta_ok; /* [nlayers] forward_delta: 0 untested, 1 verified, -1 unusable */
    int *param_of;    /* [ntensors] parameter index in its layer, -1 for the input */
    /* Frozen branches (kink-free differences): the reference input and output of every layer
     * with forward_frozen, taken when freezing; evaluations then hold its branches. */
    bool frozen;
    eng_tensor **ref_x, **ref_y; /* [nlayers], NULL for smooth layers */
    gc_saved_buffers buffers;    /* training mode: restored when the objective goes */
    /* Sparse tail: scratch[i] equals base[i] except at the changed[i][0..nchanged[i])
     * positions (nchanged[i] = -1: not known), which layer i+1's forward_sparse takes. */
    int64_t **changed; /* [nlayers], capacity numel(base[i]) */
    int64_t *nchanged; /* [nlayers] */
    int8_t *sparse_ok; /* [nlayers] forward_sparse: 0 untested, 1 verified, -1 unusable */
} chain;

const eng_tensor *gc_chain_input(const chain *c, eng_tensor **outputs, int i);
/* Layer i on `in` into *slot; with frozen branches when ref_x (and its output ref_y) is given. */
eng_status gc_chain_run_layer_ref(chain *c, int i, const eng_tensor *in, eng_tensor **slot,
                                  const eng_tensor *ref_x, const eng_tensor *ref_y);
/* Layer i as the objective evaluates it (frozen when the chain is and the layer can be). */
eng_status gc_chain_run_layer(chain *c, int i, const eng_tensor *in, eng_tensor **slot);
/* The loss after a change at layer `from` (its output already in scratch[from] when
 * done_from): runs the layers from..end on scratch buffers, only where their inputs changed
 * when they can (forward_sparse), hashing the signatures of the layers that have one. */
eng_status gc_chain_tail(chain *c, int from, bool done_from, double *value, uint64_t *signature);
/* Checks layer k's forward_delta once against a full forward (sets delta_ok[k]). */
eng_status gc_chain_verify_delta(chain *c, int k, int param, int64_t index, double delta);
/* Forgets what scratch holds (after the base outputs were recomputed). */
void gc_chain_scratch_stale(chain *c);
/* Allocates the sparse-tail arrays; frees them. */
eng_status gc_chain_sparse_alloc(chain *c);
void gc_chain_sparse_free(chain *c);

#endif
