/* One batch iterator for both sources: an in-memory dataset gathers rows through a
 * permutation, an HDF5 split streams through eng_h5stream. The options are checked once,
 * here, for both. */
#include "batches.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct eng_batches {
    eng_batch_options o;
    const eng_dataset *ds; /* in memory, or NULL */
    int64_t n, pos;        /* in memory: samples and the next one */
    int64_t *order;        /* in memory: [n] sample order */
    eng_h5data *d;         /* streamed, or NULL */
    eng_h5stream *stream;
};

eng_batch_options eng_batch_options_default(int64_t batch, eng_dtype sample_dtype)
{
    return (eng_batch_options){.batch = batch,
                               .dtype = ENG_F32,
                               .scale = sample_dtype == ENG_U8 ? 1.0 / 255.0 : 1.0,
                               .mean = 0.0,
                               .std = 1.0};
}

eng_status eng_batch_options_check(const eng_batch_options *o)
{
    if (o->batch < 1)
        return eng_error(ENG_EARG, "batches: batch size %lld, expected >= 1", (long long)o->batch);
    if (!eng_dtype_is_float(o->dtype))
        return eng_error(ENG_EDTYPE, "batches: dtype %s (f32 or f64 expected)",
                         eng_dtype_name(o->dtype));
    if (!isfinite(o->scale))
        return eng_error(ENG_EARG, "batches: scale = %g, expected a finite number", o->scale);
    if (!isfinite(o->mean))
        return eng_error(ENG_EARG, "batches: mean = %g, expected a finite number", o->mean);
    if (!(o->std > 0) || !isfinite(o->std))
        return eng_error(ENG_EARG, "batches: std = %g, expected std > 0", o->std);
    return ENG_OK;
}

eng_status eng_batches_new_memory(const eng_dataset *ds, const eng_batch_options *o, eng_rng *rng,
                                  eng_batches **out)
{
    *out = NULL;
    eng_status st = eng_batch_options_check(o);
    if (st)
        return st;
    if (!ds->x)
        return eng_error(ENG_ESTATE, "batches: the dataset is closed");
    eng_batches *b = calloc(1, sizeof *b);
    int64_t n = ds->x->shape[0];
    if (b)
        b->order = malloc(sizeof *b->order * (size_t)(n ? n : 1));
    if (!b || !b->order) {
        eng_batches_free(b);
        return eng_error(ENG_ENOMEM, "batches: out of memory (%lld samples)", (long long)n);
    }
    b->o = *o;
    b->ds = ds;
    b->n = n;
    if (o->shuffle) {
        eng_permutation(b->order, n, rng);
    } else {
        for (int64_t i = 0; i < n; i++)
            b->order[i] = i;
    }
    *out = b;
    return ENG_OK;
}

eng_status eng_batches_new_stream(eng_h5data *d, size_t memory_limit, const eng_batch_options *o,
                                  eng_rng *rng, eng_batches **out)
{
    *out = NULL;
    eng_status st = eng_batch_options_check(o);
    if (st)
        return st;
    eng_batches *b = calloc(1, sizeof *b);
    if (!b)
        return eng_error(ENG_ENOMEM, "batches: out of memory");
    b->o = *o;
    b->d = d;
    st = eng_h5stream_new(d, o->shuffle, memory_limit, rng, &b->stream);
    if (st) {
        eng_batches_free(b);
        return st;
    }
    *out = b;
    return ENG_OK;
}

eng_batch_options eng_batches_options(const eng_batches *b)
{
    return b->o;
}

int64_t eng_batches_next_size(const eng_batches *b)
{
    if (b->stream)
        return eng_h5stream_next_size(b->stream, b->o.batch, b->o.drop_last);
    int64_t left = b->n - b->pos;
    int64_t count = left < b->o.batch ? left : b->o.batch;
    return count == 0 || (b->o.drop_last && count < b->o.batch) ? 0 : count;
}

int eng_batches_x_shape(const eng_batches *b, int64_t n, int64_t *shape)
{
    int ndim;
    if (b->stream) {
        const eng_h5data_info *in = eng_h5data_info_of(b->d);
        ndim = in->ndim;
        memcpy(shape, in->shape, sizeof(int64_t) * (size_t)ndim);
    } else {
        ndim = b->ds->x ? b->ds->x->ndim : 1;
        if (b->ds->x)
            memcpy(shape, b->ds->x->shape, sizeof(int64_t) * (size_t)ndim);
    }
    shape[0] = n;
    return ndim;
}

eng_status eng_batches_next(eng_batches *b, eng_tensor *x, eng_tensor *y)
{
    int64_t n = eng_batches_next_size(b);
    if (n == 0)
        return eng_error(ENG_ESTATE, "batches: the pass is over");
    if (x->ndim < 1 || x->shape[0] != n || y->ndim != 1 || y->shape[0] != n)
        return eng_error(ENG_ESHAPE, "batches: x %s and y %s for a batch of %lld samples",
                         eng_tensor_shape_str(x), eng_tensor_shape_str(y), (long long)n);
    if (x->dtype != b->o.dtype)
        return eng_error(ENG_EDTYPE, "batches: x is %s, the batches are %s",
                         eng_dtype_name(x->dtype), eng_dtype_name(b->o.dtype));
    if (b->stream)
        return eng_h5stream_next_into(b->stream, b->o.scale, b->o.mean, b->o.std, x, y);
    if (!b->ds->x)
        return eng_error(ENG_ESTATE, "batches: the dataset was closed during the loop");
    eng_status st =
        eng_dataset_gather(b->ds, b->order + b->pos, n, b->o.scale, b->o.mean, b->o.std, x, y);
    if (!st)
        b->pos += n;
    return st;
}

void eng_batches_free(eng_batches *b)
{
    if (!b)
        return;
    eng_h5stream_free(b->stream);
    free(b->order);
    free(b);
}
