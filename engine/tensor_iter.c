/* The broadcast walk of tensor_iter.h. */
#include "tensor_iter.h"

void eng_iter_init(eng_iter *it, int ndim, const int64_t *shape)
{
    it->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        it->shape[d] = shape[d];
    it->nops = 0;
}

void eng_iter_add(eng_iter *it, char *data, size_t esize, int ndim, const int64_t *shape,
                  const int64_t *strides)
{
    int k = it->nops++, lead = it->ndim - ndim;
    it->data[k] = data;
    it->esize[k] = esize;
    for (int d = 0; d < it->ndim; d++) {
        int e = d - lead;
        it->strides[k][d] = (e < 0 || shape[e] == 1) ? 0 : strides[e];
    }
}

void eng_iter_add_tensor(eng_iter *it, const eng_tensor *t)
{
    eng_iter_add(it, eng_tensor_data(t), eng_dtype_size(t->dtype), t->ndim, t->shape, t->strides);
}

void eng_iter_add_scalar(eng_iter *it, void *value, size_t esize)
{
    eng_iter_add(it, value, esize, 0, NULL, NULL);
}

void eng_iter_coalesce(eng_iter *it)
{
    int nd = 0;
    for (int d = 0; d < it->ndim; d++) {
        if (it->shape[d] == 1)
            continue;
        bool merge = nd > 0;
        for (int k = 0; k < it->nops && merge; k++)
            merge = it->strides[k][nd - 1] == it->strides[k][d] * it->shape[d];
        if (merge) {
            it->shape[nd - 1] *= it->shape[d];
            for (int k = 0; k < it->nops; k++)
                it->strides[k][nd - 1] = it->strides[k][d];
            continue;
        }
        it->shape[nd] = it->shape[d];
        for (int k = 0; k < it->nops; k++)
            it->strides[k][nd] = it->strides[k][d];
        nd++;
    }
    if (nd == 0) {
        it->shape[0] = 1;
        for (int k = 0; k < it->nops; k++)
            it->strides[k][0] = 0;
        nd = 1;
    }
    it->ndim = nd;
}

void eng_iter_run(const eng_iter *it, eng_iter_fn fn, void *ctx)
{
    int last = it->ndim - 1;
    int64_t idx[ENG_MAX_DIMS] = {0}, inner[ENG_ITER_MAX_OPS];
    char *p[ENG_ITER_MAX_OPS];
    for (int d = 0; d <= last; d++)
        if (it->shape[d] == 0)
            return;
    for (int k = 0; k < it->nops; k++)
        inner[k] = it->strides[k][last];
    for (;;) {
        for (int k = 0; k < it->nops; k++) {
            int64_t off = 0;
            for (int d = 0; d < last; d++)
                off += idx[d] * it->strides[k][d];
            p[k] = it->data[k] + off * (int64_t)it->esize[k];
        }
        fn(ctx, p, inner, it->shape[last]);
        int d = last - 1;
        while (d >= 0 && ++idx[d] == it->shape[d])
            idx[d--] = 0;
        if (d < 0)
            return;
    }
}
