/* HDF5 checkpoints: see checkpoint.h for the layout. Parameters and optimizer slots are stored
 * as single-chunk datasets with the Fletcher-32 checksum filter, so that a flipped bit in the
 * weights is reported at load instead of read silently (HDF5 checksums its metadata itself). */
#include "checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "version.h"
#include "checkpoint_impl.h"

const char *eng_checkpoint_path(const eng_checkpoint *ck)
{
    return ck->path;
}

const char *eng_checkpoint_engine_version(const eng_checkpoint *ck)
{
    return ck->engine_version;
}

const char *eng_checkpoint_created(const eng_checkpoint *ck)
{
    return ck->created;
}

bool eng_checkpoint_has_model(const eng_checkpoint *ck)
{
    return ck->has_model;
}

bool eng_checkpoint_has_optimizer(const eng_checkpoint *ck)
{
    return ck->has_optimizer;
}

const char *eng_checkpoint_model_dtype(const eng_checkpoint *ck)
{
    return ck->dtype;
}

int eng_checkpoint_layer_count(const eng_checkpoint *ck)
{
    return ck->nlayers;
}

const char *eng_checkpoint_layer_name(const eng_checkpoint *ck, int i)
{
    return i >= 0 && i < ck->nlayers ? ck->layer_names[i] : NULL;
}

const char *eng_checkpoint_model_config(const eng_checkpoint *ck)
{
    return ck->model_config;
}

void eng_checkpoint_close(eng_checkpoint *ck)
{
    if (!ck)
        return;
    if (ck->w.tmp)
        eng_h5_abort(&ck->w);
    else if (ck->file >= 0)
        H5Fclose(ck->file);
    free(ck->path);
    free(ck->engine_version);
    free(ck->created);
    free(ck->dtype);
    eng_h5_free_strings(ck->layer_names, ck->nlayers);
    free(ck->model_config);
    eng_layer_specs_free(ck->specs, ck->nspecs);
    free(ck);
}

eng_status eng_checkpoint_new(const char *path, eng_checkpoint **out)
{
    eng_checkpoint *ck = calloc(1, sizeof *ck);
    *out = NULL;
    if (!ck || !(ck->path = strdup(path))) {
        free(ck);
        return eng_error(ENG_ENOMEM, "%s: out of memory", path);
    }
    ck->file = ck->w.file = ck->w.fd = -1;
    *out = ck;
    return ENG_OK;
}

/* ---- writing ---------------------------------------------------------------------------- */

/* Writes the elements at data (elem_size bytes each, memory type mem_type) as dataset name
 * [ndim shape] of file_type in loc: one chunk with the Fletcher-32 checksum (contiguous when
 * empty), and the CRC attribute. */
static eng_status write_typed(eng_checkpoint *ck, hid_t loc, const char *name, hid_t file_type,
                              hid_t mem_type, size_t elem_size, int ndim, const int64_t *shape,
                              const void *data)
{
    hsize_t dims[ENG_MAX_DIMS];
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        dims[d] = (hsize_t)shape[d];
        numel *= shape[d];
    }
    hid_t space = ndim ? H5Screate_simple(ndim, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), dset = -1;
    bool ok = space >= 0 && dcpl >= 0;
    if (ok && numel > 0 && ndim > 0)
        ok = H5Pset_chunk(dcpl, ndim, dims) >= 0 && H5Pset_fletcher32(dcpl) >= 0;
    if (ok)
        dset = H5Dcreate2(loc, name, file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ok = dset >= 0 && H5Dwrite(dset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0;
    eng_status st = ok ? ENG_OK
                       : eng_h5_error(ENG_EIO, ck->path, "cannot write dataset %s/%s",
                                      eng_h5_path_of(loc), name);
    if (!st)
        st = eng_h5_write_crc(dset, data, (size_t)numel * elem_size);
    if (dset >= 0)
        H5Dclose(dset);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (space >= 0)
        H5Sclose(space);
    return st;
}

/* Writes n elements at data of dtype as dataset name [ndim shape] in loc (write_typed). */
static eng_status write_array(eng_checkpoint *ck, hid_t loc, const char *name, eng_dtype dtype,
                              int ndim, const int64_t *shape, const void *data)
{
    return write_typed(ck, loc, name, eng_h5_file_type(dtype), eng_h5_native(dtype),
                       eng_dtype_size(dtype), ndim, shape, data);
}

static eng_status write_tensor(eng_checkpoint *ck, hid_t loc, const char *name, const eng_tensor *t)
{
    eng_tensor *c = NULL;
    if (!eng_tensor_is_contiguous(t)) {
        eng_status st = eng_tensor_clone(t, &c);
        if (st)
            return st;
        t = c;
    }
    eng_status st = write_array(ck, loc, name, t->dtype, t->ndim, t->shape, eng_tensor_data(t));
    eng_tensor_release(c);
    return st;
}

eng_status eng_checkpoint_create(const char *path, eng_checkpoint **out)
{
    eng_checkpoint *ck;
    eng_status st = eng_checkpoint_new(path, &ck);
    if (st)
        return st;
    st = eng_h5_create(&ck->w, path, "checkpoint");
    if (st) {
        eng_checkpoint_close(ck);
        return st;
    }
    ck->file = ck->w.file;
    char created[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    st = eng_h5_write_string(ck->file, "format", ENG_CHECKPOINT_FORMAT);
    if (!st)
        st = eng_h5_write_int64(ck->file, "version", ENG_CHECKPOINT_VERSION);
    if (!st)
        st = eng_h5_write_string(ck->file, "engine_version", ENGINE_VERSION);
    if (!st)
        st = eng_h5_write_string(ck->file, "created", created);
    if (st) {
        eng_checkpoint_close(ck);
        return st;
    }
    *out = ck;
    return ENG_OK;
}

/* A group of loc, created with creation order tracked. */
static eng_status create_group(eng_checkpoint *ck, hid_t loc, const char *name, hid_t *g)
{
    *g = eng_h5_group_create(loc, name);
    if (*g < 0)
        return eng_h5_error(ENG_EIO, ck->path, "cannot create group %s/%s",
                            loc == ck->file ? "" : eng_h5_path_of(loc), name);
    return ENG_OK;
}

static eng_status write_layer(eng_checkpoint *ck, hid_t model_group, const eng_layer *layer)
{
    hid_t g;
    eng_status st = create_group(ck, model_group, layer->name, &g);
    if (st)
        return st;
    st = eng_h5_write_string(g, "kind", layer->ops->kind);
    for (int p = 0; !st && p < layer->nparams; p++)
        st = write_tensor(ck, g, layer->params[p].name, layer->params[p].value);
    for (int b = 0; !st && b < layer->nbuffers; b++)
        st = write_tensor(ck, g, layer->buffers[b].name, layer->buffers[b].value);
    H5Gclose(g);
    return st;
}

eng_status eng_checkpoint_write_model(eng_checkpoint *ck, const eng_model *model)
{
    for (int i = 0; i < model->nlayers; i++)
        if (!eng_checkpoint_valid_name(model->layers[i]->name))
            return eng_error(ENG_EARG,
                             "%s: layer %d is named '%s', which cannot name an HDF5 "
                             "group (empty, '.', or holding '/')",
                             ck->path, i + 1, model->layers[i]->name);
    const char **names = calloc((size_t)model->nlayers + 1, sizeof *names);
    char *json = NULL;
    if (!names)
        return eng_error(ENG_ENOMEM, "%s: out of memory", ck->path);
    for (int i = 0; i < model->nlayers; i++)
        names[i] = model->layers[i]->name;
    hid_t g = -1;
    eng_status st = eng_model_config(model, &json);
    if (!st)
        st = create_group(ck, ck->file, "model", &g);
    if (!st)
        st = eng_h5_write_string(g, "dtype", eng_dtype_name(eng_model_dtype(model)));
    if (!st)
        st = eng_h5_write_strings(g, "layer_names", names, model->nlayers);
    if (!st)
        st = eng_h5_write_string(g, "model_config", json);
    for (int i = 0; !st && i < model->nlayers; i++)
        st = write_layer(ck, g, model->layers[i]);
    if (g >= 0)
        H5Gclose(g);
    free(names);
    free(json);
    return st;
}

/* Opens group name of loc, creating it when absent. */
static eng_status open_or_create(eng_checkpoint *ck, hid_t loc, const char *name, hid_t *g)
{
    if (!eng_h5_exists(loc, name))
        return create_group(ck, loc, name, g);
    *g = H5Gopen2(loc, name, H5P_DEFAULT);
    return *g < 0 ? eng_h5_error(ENG_EIO, ck->path, "cannot open group %s", name) : ENG_OK;
}

static eng_status write_slots(eng_checkpoint *ck, hid_t opt_group, const eng_optimizer *opt, int i)
{
    const eng_optim_ops *ops = opt->ops;
    char layer[ENG_PARAM_NAME_MAX], param[ENG_PARAM_NAME_MAX];
    bool any = false;
    for (int k = 0; k < ops->nslots; k++)
        any = any || opt->slots[i * ops->nslots + k];
    if (!any)
        return ENG_OK;
    eng_checkpoint_split_name(opt->params[i].name, layer, param, sizeof layer);
    if (!eng_checkpoint_valid_name(layer) || !eng_checkpoint_valid_name(param))
        return eng_error(ENG_EARG, "%s: optimizer parameter '%s' cannot name an HDF5 group",
                         ck->path, opt->params[i].name);
    hid_t lg, pg = -1;
    eng_status st = open_or_create(ck, opt_group, layer, &lg);
    if (st)
        return st;
    st = open_or_create(ck, lg, param, &pg);
    for (int k = 0; !st && k < ops->nslots; k++) {
        const eng_tensor *slot = opt->slots[i * ops->nslots + k];
        if (slot)
            st = write_tensor(ck, pg, ops->slot_names[k], slot);
    }
    if (pg >= 0)
        H5Gclose(pg);
    H5Gclose(lg);
    return st;
}

eng_status eng_checkpoint_write_optimizer(eng_checkpoint *ck, const eng_optimizer *opt)
{
    const eng_optim_ops *ops = opt->ops;
    const char *hyper_names[MAX_HYPER];
    double hyper_values[MAX_HYPER];
    int nhyper = ops->hyper ? ops->hyper(opt, hyper_names, hyper_values, MAX_HYPER) : 0;
    nhyper = nhyper < MAX_HYPER ? nhyper : MAX_HYPER;
    const char **names = calloc((size_t)opt->nparams + 1, sizeof *names);
    if (!names)
        return eng_error(ENG_ENOMEM, "%s: out of memory", ck->path);
    for (int i = 0; i < opt->nparams; i++)
        names[i] = opt->params[i].name;
    hid_t g;
    eng_status st = create_group(ck, ck->file, "optimizer", &g);
    if (st) {
        free(names);
        return st;
    }
    st = eng_h5_write_string(g, "kind", ops->kind);
    if (!st)
        st = eng_h5_write_int64(g, "steps", opt->steps);
    if (!st)
        st = eng_h5_write_strings(g, "param_names", names, opt->nparams);
    if (!st)
        st = eng_h5_write_strings(g, "slot_names", (const char *const *)ops->slot_names,
                                  ops->nslots);
    bool has_lr = false;
    for (int h = 0; !st && h < nhyper; h++) {
        has_lr = has_lr || strcmp(hyper_names[h], "lr") == 0;
        /* The step count and the learning rate come from opt itself, which a schedule may
         * have changed since the kind's hyper() read them. */
        if (strcmp(hyper_names[h], "steps") != 0)
            st = eng_h5_write_double(g, hyper_names[h],
                                     strcmp(hyper_names[h], "lr") ? hyper_values[h] : opt->lr);
    }
    if (!st && !has_lr)
        st = eng_h5_write_double(g, "lr", opt->lr);
    for (int i = 0; !st && i < opt->nparams; i++)
        st = write_slots(ck, g, opt, i);
    H5Gclose(g);
    free(names);
    return st;
}

/* A generator's state: dataset name [4] uint64 in loc, with the Fletcher-32 checksum too. */
static eng_status write_state(eng_checkpoint *ck, hid_t loc, const char *name, const eng_rng *r)
{
    int64_t four = 4;
    return write_typed(ck, loc, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, sizeof r->s[0], 1, &four,
                       r->s);
}

eng_status eng_checkpoint_write_rng(eng_checkpoint *ck, const eng_rng *rng, const eng_model *model)
{
    hid_t g, lg = -1;
    eng_status st = create_group(ck, ck->file, "rng", &g);
    if (st)
        return st;
    st = eng_h5_write_string(g, "algorithm", "xoshiro256**");
    if (!st)
        st = write_state(ck, g, "global", rng);
    for (int i = 0; !st && model && i < model->nlayers; i++) {
        eng_layer *layer = model->layers[i];
        /* a container's: one per generator inside it, "/rng/layers/residual_1.dropout_1" */
        int n = eng_container_rngs(layer, NULL, NULL, 0);
        if (!layer->ops->rng && n == 0)
            continue;
        if (lg < 0)
            st = create_group(ck, g, "layers", &lg);
        if (!st && layer->ops->rng)
            st = write_state(ck, lg, layer->name, layer->ops->rng(layer));
        eng_rng **rngs = n ? calloc((size_t)n, sizeof *rngs) : NULL;
        char(*paths)[ENG_PARAM_NAME_MAX] = n ? calloc((size_t)n, sizeof *paths) : NULL;
        if (!st && n && (!rngs || !paths))
            st = eng_error(ENG_ENOMEM, "%s: out of memory", ck->path);
        if (!st && n)
            eng_container_rngs(layer, rngs, paths, n);
        for (int k = 0; !st && k < n; k++) {
            char name[ENG_NAME_MAX + ENG_PARAM_NAME_MAX];
            snprintf(name, sizeof name, "%s.%s", layer->name, paths[k]);
            st = write_state(ck, lg, name, rngs[k]);
        }
        free(rngs);
        free(paths);
    }
    if (lg >= 0)
        H5Gclose(lg);
    H5Gclose(g);
    return st;
}

eng_status eng_checkpoint_write_meta(eng_checkpoint *ck, const eng_meta *meta)
{
    hid_t g;
    eng_status st = create_group(ck, ck->file, "meta", &g);
    if (st)
        return st;
    st = eng_h5_write_meta(g, meta);
    H5Gclose(g);
    return st;
}

eng_status eng_checkpoint_commit(eng_checkpoint *ck)
{
    eng_status st = eng_h5_seal(ck->file, ck->path);
    if (st) {
        eng_checkpoint_close(ck);
        return st;
    }
    st = eng_h5_commit(&ck->w);
    ck->file = -1;
    eng_checkpoint_close(ck);
    return st;
}

bool eng_checkpoint_valid_name(const char *name)
{
    return name[0] && !strchr(name, '/') && strcmp(name, ".") != 0;
}

void eng_checkpoint_split_name(const char *full, char *layer, char *param, size_t size)
{
    const char *dot = strrchr(full, '.');
    size_t n = dot ? (size_t)(dot - full) : strlen(full);
    snprintf(layer, size, "%.*s", (int)n, full);
    snprintf(param, size, "%s", dot ? dot + 1 : "value");
}
