/* Evaluating a chain objective after a one-element change: the layers before the change keep
 * their cached outputs (prefix caching), the changed layer updates its output incrementally
 * when it can (forward_delta), and the layers after it recompute only the outputs whose inputs
 * changed when they can (forward_sparse: a conv weight changes one channel, a linear weight
 * one column). Both incremental paths are checked once per layer against a full forward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "chain.h"

const eng_tensor *gc_chain_input(const chain *c, eng_tensor **outputs, int i)
{
    return i == 0 ? c->x : outputs[i - 1];
}

eng_status gc_chain_run_layer_ref(chain *c, int i, const eng_tensor *in, eng_tensor **slot,
                                  const eng_tensor *ref_x, const eng_tensor *ref_y)
{
    eng_layer *layer = c->layers[i];
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
    eng_status st = eng_layer_output_shape(layer, in, &ndim, shape);
    if (!st)
        st = eng_tensor_ensure(slot, in->dtype, ndim, shape);
    if (!st && ref_x)
        st = layer->ops->forward_frozen(layer, ref_x, ref_y, in, *slot);
    else if (!st)
        st = layer->ops->forward(layer, in, *slot, c->training);
    if (st)
        return eng_error_wrap(st, "gradcheck: layer %d (%s)", i + 1, eng_layer_label(layer));
    return ENG_OK;
}

eng_status gc_chain_run_layer(chain *c, int i, const eng_tensor *in, eng_tensor **slot)
{
    bool frozen = c->frozen && c->ref_x[i];
    return gc_chain_run_layer_ref(c, i, in, slot, frozen ? c->ref_x[i] : NULL,
                                  frozen ? c->ref_y[i] : NULL);
}

static double max_abs(const eng_tensor *t)
{
    double m = 0;
    int64_t n = eng_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        m = fmax(m, fabs(eng_tensor_get_flat(t, i)));
    return m;
}

/* Whether b agrees with a full result to the rounding of an incremental update. */
static bool agrees(const eng_tensor *full, const eng_tensor *b, double scale)
{
    double u = full->dtype == ENG_F32 ? 0x1p-24 : 0x1p-53;
    double diff = 0;
    for (int64_t i = 0, n = eng_tensor_numel(full); i < n; i++)
        diff = fmax(diff, fabs(eng_tensor_get_flat(full, i) - eng_tensor_get_flat(b, i)));
    return diff <= 256 * u * scale;
}

eng_status gc_chain_verify_delta(chain *c, int k, int param, int64_t index, double delta)
{
    eng_layer *layer = c->layers[k];
    const eng_tensor *in = gc_chain_input(c, c->base, k);
    eng_tensor *full = NULL;
    eng_tensor *value = layer->params[param].value;
    double old = eng_tensor_get_flat(value, index);
    eng_tensor_set_flat(value, index, old + delta);
    eng_status st = gc_chain_run_layer(c, k, in, &full);
    eng_tensor_set_flat(value, index, old);
    if (!st)
        st = layer->ops->forward_delta(layer, in, c->base[k], param, index, delta, c->scratch[k]);
    if (!st)
        c->delta_ok[k] =
            agrees(full, c->scratch[k], max_abs(full) + fabs(delta) * max_abs(in)) ? 1 : -1;
    c->nchanged[k] = -1;
    eng_tensor_release(full);
    return st;
}

void gc_chain_scratch_stale(chain *c)
{
    for (int i = 0; i < c->nlayers; i++)
        c->nchanged[i] = -1;
}

eng_status gc_chain_sparse_alloc(chain *c)
{
    c->changed = calloc((size_t)c->nlayers, sizeof *c->changed);
    c->nchanged = malloc(sizeof *c->nchanged * (size_t)c->nlayers);
    c->sparse_ok = calloc((size_t)c->nlayers, sizeof *c->sparse_ok);
    if (!c->changed || !c->nchanged || !c->sparse_ok)
        return eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    gc_chain_scratch_stale(c);
    return ENG_OK;
}

void gc_chain_sparse_free(chain *c)
{
    for (int i = 0; c->changed && i < c->nlayers; i++)
        free(c->changed[i]);
    free(c->changed);
    free(c->nchanged);
    free(c->sparse_ok);
}

/* Whether layer i may take only its input's changes: built-in, f64, not disproved, and
 * either smooth or frozen (a layer whose branches are live needs its whole signature). */
static bool sparse_capable(const chain *c, int i)
{
    const eng_layer_ops *ops = c->layers[i]->ops;
    return ops->forward_sparse && c->sparse_ok[i] >= 0 && c->x->dtype == ENG_F64 &&
           (!ops->signature || (c->frozen && c->ref_x[i]));
}

static int64_t capacity(const chain *c, int i)
{
    return eng_tensor_numel(c->base[i]);
}

static inline uint64_t bits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

/* Lists where scratch[i] differs from base[i] (nchanged[i] = -1 when more than capacity). */
static eng_status mark_changes(chain *c, int i)
{
    int64_t cap = capacity(c, i), n = eng_tensor_numel(c->base[i]), count = 0;
    c->nchanged[i] = -1;
    if (!c->changed[i] && !(c->changed[i] = malloc(sizeof **c->changed * (size_t)cap)))
        return eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    if (eng_tensor_numel(c->scratch[i]) != n)
        return ENG_OK;
    /* bit patterns, 8 at a time (a -0 for a 0 or a NaN counts as changed: harmless) */
    const double *a = ENG_F64_DATA(c->scratch[i]), *b = ENG_F64_DATA(c->base[i]);
    for (int64_t j0 = 0; j0 < n; j0 += 8) {
        int64_t end = j0 + 8 < n ? j0 + 8 : n;
        uint64_t any = 0;
        for (int64_t j = j0; j < end; j++)
            any |= bits(a[j]) ^ bits(b[j]);
        for (int64_t j = j0; any && j < end; j++) {
            if (bits(a[j]) == bits(b[j]))
                continue;
            if (count == cap)
                return ENG_OK;
            c->changed[i][count++] = j;
        }
    }
    c->nchanged[i] = count;
    return ENG_OK;
}

/* Layer i from the changes of its input; *done false when the layer must run in full. */
static eng_status sparse_layer(chain *c, int i, bool *done)
{
    *done = false;
    eng_tensor *base = c->base[i];
    eng_status st = ENG_OK;
    if (!c->changed[i] && !(c->changed[i] = malloc(sizeof **c->changed * (size_t)capacity(c, i))))
        return eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    if (c->nchanged[i] < 0) {
        st = eng_tensor_ensure(&c->scratch[i], base->dtype, base->ndim, base->shape);
        if (!st)
            st = eng_tensor_copy(c->scratch[i], base);
        if (st)
            return st;
    } else {
        double *s = ENG_F64_DATA(c->scratch[i]);
        const double *b = ENG_F64_DATA(base);
        for (int64_t k = 0; k < c->nchanged[i]; k++)
            s[c->changed[i][k]] = b[c->changed[i][k]];
    }
    bool frozen = c->frozen && c->ref_x[i];
    const eng_tensor *x_ref = frozen ? c->ref_x[i] : c->base[i - 1];
    const eng_tensor *y_ref = frozen ? c->ref_y[i] : base;
    eng_layer *layer = c->layers[i];
    c->nchanged[i] = -1;
    st = layer->ops->forward_sparse(layer, x_ref, y_ref, c->scratch[i - 1], c->changed[i - 1],
                                    c->nchanged[i - 1], c->scratch[i], c->changed[i],
                                    capacity(c, i), &c->nchanged[i]);
    if (st)
        return eng_error_wrap(st, "gradcheck: layer %d (%s)", i + 1, eng_layer_label(layer));
    if (c->nchanged[i] < 0)
        return ENG_OK;
    if (c->sparse_ok[i] == 0) {
        eng_tensor *full = NULL;
        st = gc_chain_run_layer(c, i, c->scratch[i - 1], &full);
        if (!st)
            c->sparse_ok[i] = agrees(full, c->scratch[i], max_abs(full) + max_abs(base)) ? 1 : -1;
        eng_tensor_release(full);
        if (st || c->sparse_ok[i] < 0) {
            c->nchanged[i] = -1;
            return st;
        }
    }
    *done = true;
    return ENG_OK;
}

eng_status gc_chain_tail(chain *c, int from, bool done_from, double *value, uint64_t *signature)
{
    uint64_t h = ENG_HASH_INIT;
    for (int i = from; i < c->nlayers; i++) {
        const eng_tensor *in =
            i == 0 ? c->x : (i == from && !done_from ? c->base[i - 1] : c->scratch[i - 1]);
        bool sparse = false;
        eng_status st = ENG_OK;
        if (i > from && c->nchanged[i - 1] >= 0 && sparse_capable(c, i))
            st = sparse_layer(c, i, &sparse);
        if (!st && !sparse && (i > from || !done_from))
            st = gc_chain_run_layer(c, i, in, &c->scratch[i]);
        if (!st && !sparse) {
            c->nchanged[i] = -1;
            if (i + 1 < c->nlayers && sparse_capable(c, i + 1))
                st = mark_changes(c, i);
        }
        if (st)
            return st;
        if (c->layers[i]->ops->signature && !(c->frozen && c->ref_x[i])) {
            uint64_t s = c->layers[i]->ops->signature(c->layers[i], in, c->scratch[i]);
            h = eng_hash_bytes(h, &s, sizeof s);
        }
    }
    if (signature)
        *signature = h;
    return eng_loss_forward(c->loss, c->scratch[c->nlayers - 1], c->target, value);
}
