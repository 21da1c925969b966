/* HDF5 datasets: the writer (chunked, shuffle + deflate), the checked reader and the streaming
 * shuffle buffer. See h5dataset.h. */
#include "h5dataset.h"

#include <stdlib.h>
#include <string.h>

#include "hdf5_util.h"

#define TARGET_CHUNK_BYTES (512 * 1024)
#define CONTIGUOUS_READ_BYTES (1024 * 1024)

/* ---- writing ---------------------------------------------------------------------------- */

/* Writes t (contiguous) as dataset name of loc, chunked along its first dimension by rows. */
static eng_status write_chunked(hid_t loc, const char *path, const char *name, const eng_tensor *t,
                                int64_t rows, int level)
{
    hsize_t dims[ENG_MAX_DIMS], chunk[ENG_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++)
        dims[d] = chunk[d] = (hsize_t)t->shape[d];
    chunk[0] = (hsize_t)(rows < t->shape[0] ? rows : t->shape[0]);
    hid_t space = H5Screate_simple(t->ndim, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), dset = -1;
    bool ok = space >= 0 && dcpl >= 0;
    if (ok && eng_tensor_numel(t) > 0)
        ok = H5Pset_chunk(dcpl, t->ndim, chunk) >= 0 && H5Pset_shuffle(dcpl) >= 0 &&
             H5Pset_deflate(dcpl, (unsigned)level) >= 0;
    if (ok)
        dset = H5Dcreate2(loc, name, eng_h5_file_type(t->dtype), space, H5P_DEFAULT, dcpl,
                          H5P_DEFAULT);
    ok = dset >= 0 && H5Dwrite(dset, eng_h5_native(t->dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT,
                               eng_tensor_data(t)) >= 0;
    eng_status st =
        ok ? ENG_OK
           : eng_h5_error(ENG_EIO, path, "cannot write dataset %s/%s", eng_h5_path_of(loc), name);
    if (dset >= 0)
        H5Dclose(dset);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (space >= 0)
        H5Sclose(space);
    return st;
}

static eng_status check_split(const char *path, const eng_h5data_split *s)
{
    const eng_tensor *x = s->x, *y = s->y;
    if (!s->name[0] || strchr(s->name, '/'))
        return eng_error(ENG_EARG, "%s: split name '%s' cannot name an HDF5 group", path, s->name);
    if (x->ndim < 1 || y->ndim != 1 || x->shape[0] != y->shape[0])
        return eng_error(ENG_ESHAPE,
                         "%s: split '%s': samples %s and labels %s, expected [N,...] "
                         "and [N]",
                         path, s->name, eng_tensor_shape_str(x), eng_tensor_shape_str(y));
    if (x->dtype != ENG_U8 && !eng_dtype_is_float(x->dtype))
        return eng_error(ENG_EDTYPE, "%s: split '%s': samples are %s, expected u8, f32 or f64",
                         path, s->name, eng_dtype_name(x->dtype));
    if (eng_dtype_is_float(y->dtype) || y->dtype == ENG_U8)
        return eng_error(ENG_EDTYPE, "%s: split '%s': labels are %s, expected i32 or i64", path,
                         s->name, eng_dtype_name(y->dtype));
    return ENG_OK;
}

static eng_status write_split(hid_t file, const char *path, const eng_h5data_split *s,
                              const eng_h5data_write_options *o)
{
    eng_tensor *x = NULL, *y = NULL;
    hid_t g = eng_h5_group_create(file, s->name);
    if (g < 0)
        return eng_h5_error(ENG_EIO, path, "cannot create group /%s", s->name);
    int64_t n = s->x->shape[0], sample = n ? eng_tensor_numel(s->x) / n : 1;
    size_t sample_bytes = (size_t)sample * eng_dtype_size(s->x->dtype);
    int64_t rows = o->chunk_rows > 0
                       ? o->chunk_rows
                       : (int64_t)(TARGET_CHUNK_BYTES / (sample_bytes ? sample_bytes : 1));
    rows = rows < 1 ? 1 : rows;
    eng_status st = eng_tensor_clone(s->x, &x);
    if (!st)
        st = eng_tensor_to(s->y, ENG_I64, &y);
    if (!st)
        st = write_chunked(g, path, "x", x, rows, o->level);
    if (!st)
        st = write_chunked(g, path, "y", y, rows, o->level);
    eng_tensor_release(x);
    eng_tensor_release(y);
    H5Gclose(g);
    return st;
}

eng_status eng_h5data_write(const char *path, const eng_h5data_split *splits, int nsplits,
                            const eng_h5data_write_options *opts)
{
    eng_h5data_write_options o = opts ? *opts : (eng_h5data_write_options){0};
    o.level = o.level > 0 ? (o.level > 9 ? 9 : o.level) : 4;
    for (int i = 0; i < nsplits; i++) {
        eng_status st = check_split(path, &splits[i]);
        if (st)
            return st;
    }
    eng_h5_writer w;
    eng_status st = eng_h5_create(&w, path, "dataset file");
    if (st)
        return st;
    st = eng_h5_write_string(w.file, "format", ENG_DATASET_FORMAT);
    if (!st)
        st = eng_h5_write_int64(w.file, "version", 1);
    if (!st && o.classes)
        st = eng_h5_write_strings(w.file, "classes", o.classes, o.nclasses);
    if (!st && o.source)
        st = eng_h5_write_string(w.file, "source", o.source);
    for (int i = 0; !st && i < nsplits; i++)
        st = write_split(w.file, path, &splits[i], &o);
    if (st) {
        eng_h5_abort(&w);
        return st;
    }
    return eng_h5_commit(&w);
}

/* ---- reading ---------------------------------------------------------------------------- */

struct eng_h5data {
    char *path, *x_name, *y_name;
    hid_t file, x, y;
    eng_h5data_info info;
};

const eng_h5data_info *eng_h5data_info_of(const eng_h5data *d)
{
    return &d->info;
}

void eng_h5data_close(eng_h5data *d)
{
    if (!d)
        return;
    if (d->file >= 0)
        H5Fclose(d->file); /* closes x and y too (strong close degree) */
    free(d->path);
    free(d->x_name);
    free(d->y_name);
    free(d);
}

/* Opens dataset name with a chunk cache of at least cache_bytes; [out] its type and shape. */
static eng_status open_data(eng_h5data *d, const char *name, const char *what, hid_t *dset,
                            int *ndim, int64_t *shape, hid_t *type)
{
    *dset = *type = -1;
    if (H5Lexists(d->file, name, H5P_DEFAULT) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return eng_error(ENG_EFORMAT, "%s: missing dataset %s (the %s)", d->path, name, what);
    }
    *dset = H5Dopen2(d->file, name, H5P_DEFAULT);
    if (*dset < 0)
        return eng_h5_error(ENG_EFORMAT, d->path, "cannot open dataset %s", name);
    hid_t space = H5Dget_space(*dset);
    *type = H5Dget_type(*dset);
    *ndim = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    hsize_t dims[ENG_MAX_DIMS] = {0};
    eng_status st = ENG_OK;
    if (*type < 0 || *ndim < 0)
        st = eng_h5_error(ENG_EFORMAT, d->path, "cannot read the type and shape of %s", name);
    else if (*ndim > ENG_MAX_DIMS)
        st = eng_error(ENG_ESHAPE, "%s: dataset %s has %d dimensions, at most %d are supported",
                       d->path, name, *ndim, ENG_MAX_DIMS);
    else
        H5Sget_simple_extent_dims(space, dims, NULL);
    for (int i = 0; !st && i < *ndim; i++)
        shape[i] = (int64_t)dims[i];
    if (space >= 0)
        H5Sclose(space);
    return st;
}

/* The chunk length along N of dataset x (rows of about 1 MiB when contiguous), and a chunk
 * cache holding two chunks, so that batches crossing a chunk boundary decompress each chunk
 * once. */
static eng_status set_chunking(eng_h5data *d)
{
    eng_h5data_info *in = &d->info;
    hid_t dcpl = H5Dget_create_plist(d->x);
    if (dcpl < 0)
        return eng_h5_error(ENG_EFORMAT, d->path, "cannot read the layout of %s", d->x_name);
    hsize_t chunk[ENG_MAX_DIMS];
    in->chunked =
        H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, ENG_MAX_DIMS, chunk) >= 1;
    if (in->chunked)
        in->chunk_rows = (int64_t)chunk[0];
    else
        in->chunk_rows =
            (int64_t)(CONTIGUOUS_READ_BYTES / (in->sample_bytes ? in->sample_bytes : 1));
    H5Pclose(dcpl);
    in->chunk_rows = in->chunk_rows < in->n ? in->chunk_rows : in->n;
    in->chunk_rows = in->chunk_rows < 1 ? 1 : in->chunk_rows;
    /* Reopen x with its cache sized for two chunks (HDF5's default is 1 MiB). */
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    size_t bytes = 2 * (size_t)in->chunk_rows * in->sample_bytes + 4096;
    if (dapl < 0 ||
        H5Pset_chunk_cache(dapl, 521, bytes > (1u << 20) ? bytes : (1u << 20), 1.0) < 0) {
        eng_status st =
            eng_h5_error(ENG_EIO, d->path, "cannot set the chunk cache of %s", d->x_name);
        if (dapl >= 0)
            H5Pclose(dapl);
        return st;
    }
    H5Dclose(d->x);
    d->x = H5Dopen2(d->file, d->x_name, dapl);
    H5Pclose(dapl);
    return d->x < 0 ? eng_h5_error(ENG_EFORMAT, d->path, "cannot open dataset %s", d->x_name)
                    : ENG_OK;
}

static eng_status check_data(eng_h5data *d)
{
    eng_h5data_info *in = &d->info;
    int ydim;
    int64_t yshape[ENG_MAX_DIMS];
    hid_t xtype = -1, ytype = -1;
    char tname[64];
    eng_status st = open_data(d, d->x_name, "samples", &d->x, &in->ndim, in->shape, &xtype);
    if (!st)
        st = open_data(d, d->y_name, "labels", &d->y, &ydim, yshape, &ytype);
    if (st)
        goto done;
    if (!eng_h5_dtype_of(xtype, &in->dtype, tname, sizeof tname) ||
        !(in->dtype == ENG_U8 || eng_dtype_is_float(in->dtype))) {
        st = eng_error(ENG_EDTYPE, "%s: samples %s are %s, expected uint8, float32 or float64",
                       d->path, d->x_name, tname);
    } else if (in->ndim < 1) {
        st = eng_error(ENG_ESHAPE, "%s: samples %s are a scalar, expected [N,...]", d->path,
                       d->x_name);
    } else if (H5Tget_class(ytype) != H5T_INTEGER) {
        eng_dtype dummy;
        eng_h5_dtype_of(ytype, &dummy, tname, sizeof tname);
        st = eng_error(ENG_EDTYPE, "%s: labels %s are %s, expected integers", d->path, d->y_name,
                       tname);
    } else if (ydim != 1 || yshape[0] != in->shape[0]) {
        st = eng_error(ENG_ESHAPE, "%s: labels %s %s do not fit samples %s %s (expected [%lld])",
                       d->path, d->y_name, eng_shape_str(ydim, yshape), d->x_name,
                       eng_shape_str(in->ndim, in->shape), (long long)in->shape[0]);
    }
    if (st)
        goto done;
    in->n = in->shape[0];
    int64_t sample = 1;
    for (int i = 1; i < in->ndim; i++)
        sample *= in->shape[i];
    in->sample_bytes = (size_t)sample * eng_dtype_size(in->dtype);
    in->bytes = (size_t)in->n * (in->sample_bytes + sizeof(int64_t));
    st = set_chunking(d);
done:
    if (xtype >= 0)
        H5Tclose(xtype);
    if (ytype >= 0)
        H5Tclose(ytype);
    return st;
}

eng_status eng_h5data_open(const char *path, const char *x_name, const char *y_name,
                           eng_h5data **out)
{
    *out = NULL;
    eng_h5data *d = calloc(1, sizeof *d);
    if (!d)
        return eng_error(ENG_ENOMEM, "%s: out of memory", path);
    d->file = d->x = d->y = -1;
    d->path = strdup(path);
    d->x_name = strdup(x_name);
    d->y_name = strdup(y_name);
    eng_status st = ENG_OK;
    if (!d->path || !d->x_name || !d->y_name)
        st = eng_error(ENG_ENOMEM, "%s: out of memory", path);
    if (!st)
        st = eng_h5_header_present(path) ? eng_h5_header_check(path, "dataset file") : ENG_OK;
    if (!st)
        st = eng_h5_open(path, "dataset file", &d->file);
    if (!st)
        st = eng_h5_audit(d->file, path, &eng_h5_dataset_limits);
    if (!st)
        st = check_data(d);
    if (st) {
        eng_h5data_close(d);
        return st;
    }
    *out = d;
    return ENG_OK;
}

eng_status eng_h5data_read(eng_h5data *d, int64_t start, int64_t count, void *x, int64_t *y)
{
    const eng_h5data_info *in = &d->info;
    if (start < 0 || count < 0 || start + count > in->n)
        return eng_error(ENG_EARG, "%s: rows [%lld, %lld) out of range for %s (%lld samples)",
                         d->path, (long long)start, (long long)(start + count), d->x_name,
                         (long long)in->n);
    if (count == 0)
        return ENG_OK;
    hsize_t offset[ENG_MAX_DIMS] = {0}, dims[ENG_MAX_DIMS];
    for (int i = 0; i < in->ndim; i++)
        dims[i] = (hsize_t)in->shape[i];
    offset[0] = (hsize_t)start;
    dims[0] = (hsize_t)count;
    eng_status st = ENG_OK;
    for (int k = 0; k < 2 && !st; k++) {
        hid_t dset = k == 0 ? d->x : d->y;
        int ndim = k == 0 ? in->ndim : 1;
        hid_t fspace = H5Dget_space(dset), mspace = H5Screate_simple(ndim, dims, NULL);
        bool ok = fspace >= 0 && mspace >= 0 &&
                  H5Sselect_hyperslab(fspace, H5S_SELECT_SET, offset, NULL, dims, NULL) >= 0 &&
                  H5Dread(dset, k == 0 ? eng_h5_native(in->dtype) : H5T_NATIVE_INT64, mspace,
                          fspace, H5P_DEFAULT, k == 0 ? x : (void *)y) >= 0;
        if (!ok)
            st = eng_h5_error(ENG_EFORMAT, d->path, "cannot read rows %lld..%lld of %s",
                              (long long)start, (long long)(start + count - 1),
                              k == 0 ? d->x_name : d->y_name);
        if (fspace >= 0)
            H5Sclose(fspace);
        if (mspace >= 0)
            H5Sclose(mspace);
    }
    return st;
}

/* New tensors x [rows,...] of the file's dtype and y [rows] i64. */
static eng_status new_rows(const eng_h5data_info *in, int64_t rows, eng_tensor **x, eng_tensor **y)
{
    int64_t shape[ENG_MAX_DIMS];
    memcpy(shape, in->shape, sizeof shape);
    shape[0] = rows;
    *y = NULL;
    eng_status st = eng_tensor_new(in->dtype, in->ndim, shape, x);
    if (!st && (st = eng_tensor_new(ENG_I64, 1, &rows, y))) {
        eng_tensor_release(*x);
        *x = NULL;
    }
    return st;
}

eng_status eng_h5data_load(eng_h5data *d, eng_dataset *ds)
{
    eng_tensor *x, *y;
    eng_status st = new_rows(&d->info, d->info.n, &x, &y);
    if (st)
        return st;
    st = eng_h5data_read(d, 0, d->info.n, eng_tensor_data(x), eng_tensor_data(y));
    if (st) {
        eng_tensor_release(x);
        eng_tensor_release(y);
        return st;
    }
    return eng_dataset_init(ds, x, y);
}

/* ---- streaming ---------------------------------------------------------------------------- */

struct eng_h5stream {
    eng_h5data *d;
    bool shuffle;
    eng_rng *rng;
    int64_t consumed; /* samples given out; without shuffle also the next one */
    int64_t unit;     /* rows per read: a chunk */
    int64_t nchunks, next_chunk;
    int64_t *order;  /* [nchunks] chunk order */
    eng_dataset buf; /* with shuffle: [cap,...] rows, count of them valid */
    int64_t cap, count;
    int64_t *picks;     /* [cap] buffer rows of one batch */
    unsigned char *tmp; /* one sample, for swaps */
    eng_dataset rows;   /* without shuffle: the raw rows of the last batch, kept for the next */
    int64_t *identity;  /* [identity_len] 0, 1, 2, ...: the gather of rows in order */
    int64_t identity_len;
};

int64_t eng_h5stream_buffer_rows(const eng_h5stream *s)
{
    return s->shuffle ? s->cap : 0;
}

void eng_h5stream_free(eng_h5stream *s)
{
    if (!s)
        return;
    eng_dataset_free(&s->buf);
    eng_tensor_release(s->rows.x);
    eng_tensor_release(s->rows.y);
    free(s->identity);
    free(s->order);
    free(s->picks);
    free(s->tmp);
    free(s);
}

eng_status eng_h5stream_new(eng_h5data *d, bool shuffle, size_t memory_limit, eng_rng *rng,
                            eng_h5stream **out)
{
    const eng_h5data_info *in = &d->info;
    *out = NULL;
    eng_h5stream *s = calloc(1, sizeof *s);
    if (!s)
        return eng_error(ENG_ENOMEM, "%s: out of memory", d->path);
    s->d = d;
    s->shuffle = shuffle;
    s->rng = rng ? rng : eng_rng_global();
    if (!shuffle) {
        *out = s;
        return ENG_OK;
    }
    size_t row_bytes = in->sample_bytes + sizeof(int64_t);
    int64_t chunk = in->chunk_rows, rows = (int64_t)(memory_limit / row_bytes);
    if (!in->chunked && rows < chunk)
        chunk = rows < 1 ? 1 : rows; /* contiguous rows can be read in any blocks */
    s->unit = chunk;
    s->nchunks = (in->n + chunk - 1) / chunk;
    int64_t fit = rows / chunk * chunk;
    if (in->n > 0 && fit < chunk) {
        free(s);
        return eng_error(ENG_EARG,
                         "%s: memory_limit %zu bytes is less than one chunk of %s "
                         "(%lld samples, %zu bytes)",
                         d->path, memory_limit, d->x_name, (long long)chunk,
                         (size_t)chunk * row_bytes);
    }
    s->cap = fit < s->nchunks * chunk ? fit : s->nchunks * chunk;
    s->order = malloc(sizeof *s->order * (size_t)(s->nchunks ? s->nchunks : 1));
    s->picks = malloc(sizeof *s->picks * (size_t)(s->cap ? s->cap : 1));
    s->tmp = malloc(in->sample_bytes ? in->sample_bytes : 1);
    eng_tensor *x = NULL, *y = NULL;
    eng_status st = s->order && s->picks && s->tmp
                        ? new_rows(in, s->cap, &x, &y)
                        : eng_error(ENG_ENOMEM, "%s: out of memory", d->path);
    if (!st)
        st = eng_dataset_init(&s->buf, x, y);
    if (st) {
        eng_h5stream_free(s);
        return st;
    }
    eng_permutation(s->order, s->nchunks, s->rng);
    *out = s;
    return ENG_OK;
}

/* Appends whole chunks to the buffer while they fit. */
static eng_status refill(eng_h5stream *s)
{
    const eng_h5data_info *in = &s->d->info;
    while (s->next_chunk < s->nchunks) {
        int64_t start = s->order[s->next_chunk] * s->unit;
        int64_t rows = in->n - start < s->unit ? in->n - start : s->unit;
        if (s->count + rows > s->cap)
            break;
        unsigned char *x =
            (unsigned char *)eng_tensor_data(s->buf.x) + (size_t)s->count * in->sample_bytes;
        int64_t *y = (int64_t *)eng_tensor_data(s->buf.y) + s->count;
        eng_status st = eng_h5data_read(s->d, start, rows, x, y);
        if (st)
            return st;
        s->count += rows;
        s->next_chunk++;
    }
    return ENG_OK;
}

/* Moves k random samples of the buffer to its tail, removing them: the picks, in draw order,
 * are rows picks[0..k) of the buffer, valid until the next refill. */
static void draw(eng_h5stream *s, int64_t k)
{
    size_t sb = s->d->info.sample_bytes;
    unsigned char *x = eng_tensor_data(s->buf.x);
    int64_t *y = eng_tensor_data(s->buf.y);
    for (int64_t j = 0; j < k; j++) {
        int64_t r = (int64_t)eng_rng_below(s->rng, (uint64_t)s->count), last = --s->count;
        if (r != last) {
            memcpy(s->tmp, x + (size_t)r * sb, sb);
            memcpy(x + (size_t)r * sb, x + (size_t)last * sb, sb);
            memcpy(x + (size_t)last * sb, s->tmp, sb);
            int64_t t = y[r];
            y[r] = y[last];
            y[last] = t;
        }
        s->picks[j] = last;
    }
}

int64_t eng_h5stream_next_size(const eng_h5stream *s, int64_t batch, bool drop_last)
{
    int64_t left = s->d->info.n - s->consumed;
    int64_t b = left < batch ? left : batch;
    return b == 0 || (drop_last && b < batch) ? 0 : b;
}

eng_status eng_h5stream_next_into(eng_h5stream *s, double scale, double mean, double std,
                                  eng_tensor *x, eng_tensor *y)
{
    const eng_h5data_info *in = &s->d->info;
    int64_t b = x->ndim >= 1 ? x->shape[0] : 0;
    if (b < 1 || b > in->n - s->consumed)
        return eng_error(ENG_EARG, "%s: a batch of %lld samples with %lld left in the pass",
                         s->d->path, (long long)b, (long long)(in->n - s->consumed));
    eng_status st = ENG_OK;
    if (!s->shuffle) {
        /* In order: read the rows into the stream's own buffer (kept across batches) and
         * normalise them with the in-memory gather. */
        int64_t shape[ENG_MAX_DIMS];
        memcpy(shape, in->shape, sizeof shape);
        shape[0] = b;
        st = eng_tensor_ensure(&s->rows.x, in->dtype, in->ndim, shape);
        if (!st)
            st = eng_tensor_ensure(&s->rows.y, ENG_I64, 1, &b);
        if (!st && s->identity_len < b) {
            int64_t *identity = realloc(s->identity, sizeof *identity * (size_t)b);
            if (!identity)
                return eng_error(ENG_ENOMEM, "%s: out of memory", s->d->path);
            for (int64_t j = s->identity_len; j < b; j++)
                identity[j] = j;
            s->identity = identity;
            s->identity_len = b;
        }
        if (!st)
            st = eng_h5data_read(s->d, s->consumed, b, eng_tensor_data(s->rows.x),
                                 eng_tensor_data(s->rows.y));
        if (!st)
            st = eng_dataset_gather(&s->rows, s->identity, b, scale, mean, std, x, y);
        if (!st)
            s->consumed += b;
        return st;
    }
    /* Shuffled: draw from the buffer, refilling it between draws, until the batch is full. */
    for (int64_t done = 0; done < b;) {
        if ((st = refill(s)))
            return st;
        int64_t k = b - done < s->count ? b - done : s->count;
        if (k == 0) /* cannot happen: the size counted what the chunks still hold */
            return eng_error(ENG_ESTATE, "%s: stream of %s ran dry", s->d->path, s->d->x_name);
        draw(s, k);
        eng_tensor part_x = eng_tensor_rows(x, done, k), part_y = eng_tensor_rows(y, done, k);
        st = eng_dataset_gather(&s->buf, s->picks, k, scale, mean, std, &part_x, &part_y);
        if (st)
            return st;
        done += k;
    }
    s->consumed += b;
    return ENG_OK;
}

eng_status eng_h5stream_next(eng_h5stream *s, int64_t batch, bool drop_last, eng_dtype dtype,
                             double scale, double mean, double std, eng_tensor **x, eng_tensor **y)
{
    const eng_h5data_info *in = &s->d->info;
    *x = *y = NULL;
    if (batch < 1 || !eng_dtype_is_float(dtype))
        return eng_error(ENG_EARG, "%s: batch %lld of %s (expected >= 1, f32 or f64)", s->d->path,
                         (long long)batch, eng_dtype_name(dtype));
    int64_t b = eng_h5stream_next_size(s, batch, drop_last);
    if (b == 0)
        return ENG_OK;
    int64_t shape[ENG_MAX_DIMS];
    memcpy(shape, in->shape, sizeof shape);
    shape[0] = b;
    eng_status st = eng_tensor_new(dtype, in->ndim, shape, x);
    if (!st)
        st = eng_tensor_new(ENG_I64, 1, &b, y);
    if (!st)
        st = eng_h5stream_next_into(s, scale, mean, std, *x, *y);
    if (st) {
        eng_tensor_release(*x);
        eng_tensor_release(*y);
        *x = *y = NULL;
    }
    return st;
}
