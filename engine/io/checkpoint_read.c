/* Reading HDF5 checkpoints: open (format and version checks), then the model, optimizer,
 * generators and metadata, each checked against the objects it goes into before any of them
 * changes. See checkpoint.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "version.h"
#include "checkpoint_impl.h"

/* Opens dataset name of loc (its full path is where, for messages) after checking that it
 * exists and has the dtype and shape of like, whose name in the model is what. */
static eng_status open_checked(eng_checkpoint *ck, hid_t loc, const char *name, const char *where,
                               const eng_tensor *like, const char *what, hid_t *dset)
{
    *dset = -1;
    if (!eng_h5_exists(loc, name))
        return eng_error(ENG_EFORMAT, "%s: missing dataset %s (%s is %s %s)", ck->path, where, what,
                         eng_dtype_name(like->dtype), eng_tensor_shape_str(like));
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0)
        return eng_h5_error(ENG_EFORMAT, ck->path, "cannot open %s", where);
    hid_t type = H5Dget_type(d), space = H5Dget_space(d);
    int ndim = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    hsize_t dims[ENG_MAX_DIMS] = {0};
    eng_status st = ENG_OK;
    if (type < 0 || ndim < 0 || ndim > ENG_MAX_DIMS) {
        st = eng_h5_error(ENG_EFORMAT, ck->path, "cannot read the type and shape of %s", where);
        goto done;
    }
    H5Sget_simple_extent_dims(space, dims, NULL);
    eng_dtype dtype;
    char tname[64];
    if (!eng_h5_dtype_of(type, &dtype, tname, sizeof tname) || dtype != like->dtype) {
        st = eng_error(ENG_EDTYPE, "%s: %s is %s in the file, but %s is %s", ck->path, where, tname,
                       what, eng_dtype_name(like->dtype));
        goto done;
    }
    int64_t shape[ENG_MAX_DIMS];
    bool same = ndim == like->ndim;
    for (int i = 0; i < ndim; i++) {
        shape[i] = (int64_t)dims[i];
        same = same && shape[i] == like->shape[i];
    }
    if (!same)
        st = eng_error(ENG_ESHAPE, "%s: %s has shape %s in the file, but %s is %s", ck->path, where,
                       eng_shape_str(ndim, shape), what, eng_tensor_shape_str(like));
done:
    if (type >= 0)
        H5Tclose(type);
    if (space >= 0)
        H5Sclose(space);
    if (st)
        H5Dclose(d);
    else
        *dset = d;
    return st;
}

/* Reads the whole dataset into t (contiguous, of the checked dtype and shape); closes dset. */
static eng_status read_into(eng_checkpoint *ck, hid_t dset, const char *where, eng_tensor *t)
{
    herr_t r =
        H5Dread(dset, eng_h5_native(t->dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, eng_tensor_data(t));
    eng_status st = r < 0 ? eng_h5_error(ENG_EFORMAT, ck->path, "cannot read %s", where) : ENG_OK;
    if (!st)
        st = eng_h5_check_crc(dset, ck->path, where, eng_tensor_data(t),
                              (size_t)eng_tensor_numel(t) * eng_dtype_size(t->dtype), true);
    H5Dclose(dset);
    return st;
}

static eng_status read_layer_list(eng_checkpoint *ck)
{
    hid_t g = H5Gopen2(ck->file, "model", H5P_DEFAULT);
    if (g < 0)
        return eng_h5_error(ENG_EFORMAT, ck->path, "cannot open group /model");
    eng_status st = eng_h5_read_string(g, "dtype", &ck->dtype);
    if (!st)
        st = eng_h5_read_strings(g, "layer_names", &ck->layer_names, &ck->nlayers);
    if (!st)
        st = eng_h5_read_string(g, "model_config", &ck->model_config);
    for (int i = 0; !st && i < ck->nlayers; i++) {
        const char *name = ck->layer_names[i];
        if (!eng_checkpoint_valid_name(name) || !eng_h5_exists(g, name)) {
            st = eng_error(ENG_EFORMAT,
                           "%s: /model's layer_names lists '%s', but /model/%s is "
                           "missing",
                           ck->path, name, name);
            break;
        }
    }
    H5Gclose(g);
    return st;
}

eng_status eng_checkpoint_open(const char *path, eng_checkpoint **out)
{
    eng_checkpoint *ck;
    char *format = NULL;
    int64_t version = 0;
    *out = NULL;
    eng_status st = eng_checkpoint_new(path, &ck);
    if (st)
        return st;
    st = eng_h5_header_check(path, "checkpoint");
    if (!st)
        st = eng_h5_open(path, "checkpoint", &ck->file);
    if (st)
        goto fail;
    htri_t has_format = H5Aexists(ck->file, "format");
    if (has_format < 0) {
        st = eng_h5_error(ENG_EFORMAT, path, "cannot read the root group's attributes");
        goto fail;
    }
    if (!has_format) {
        st = eng_error(ENG_EFORMAT,
                       "%s: not an engine checkpoint: the root group has no "
                       "'format' attribute",
                       path);
        goto fail;
    }
    /* The format first (a file that passed the header check was written by the engine, and
     * the string reader refuses variable-length strings), then the version, then the audit of
     * everything else before any of it is parsed. */
    st = eng_h5_read_string(ck->file, "format", &format);
    if (!st && strcmp(format, ENG_CHECKPOINT_FORMAT) != 0)
        st = eng_error(ENG_EFORMAT,
                       "%s: not an engine checkpoint: attribute 'format' is '%s', "
                       "expected '%s'",
                       path, format, ENG_CHECKPOINT_FORMAT);
    if (!st)
        st = eng_h5_read_int64(ck->file, "version", &version);
    if (!st && version >= 1 && version < ENG_CHECKPOINT_VERSION)
        st = eng_error(ENG_EFORMAT,
                       "%s: written by an older version of the engine (checkpoint format "
                       "version %lld, whose model config was a Lua literal); this engine (%s) "
                       "reads version %d: load it with the engine that wrote it and save it "
                       "again, or rebuild the model in Lua and copy the weights with h5py",
                       path, (long long)version, ENGINE_VERSION, ENG_CHECKPOINT_VERSION);
    else if (!st && version != ENG_CHECKPOINT_VERSION)
        st = eng_error(ENG_EFORMAT,
                       "%s: checkpoint format version %lld, this engine (%s) reads "
                       "version %d",
                       path, (long long)version, ENGINE_VERSION, ENG_CHECKPOINT_VERSION);
    if (!st)
        st = eng_h5_audit(ck->file, path, &eng_h5_checkpoint_limits);
    if (!st)
        st = eng_h5_read_string(ck->file, "engine_version", &ck->engine_version);
    if (!st)
        st = eng_h5_read_string(ck->file, "created", &ck->created);
    if (st)
        goto fail;
    ck->has_model = eng_h5_exists(ck->file, "model");
    ck->has_optimizer = eng_h5_exists(ck->file, "optimizer");
    if (ck->has_model && (st = read_layer_list(ck)))
        goto fail;
    free(format);
    *out = ck;
    return ENG_OK;
fail:
    free(format);
    eng_checkpoint_close(ck);
    return st;
}

/* Reads a generator's state, dataset name of loc ([4] unsigned integers). */
static eng_status read_state(eng_checkpoint *ck, hid_t loc, const char *name, const char *where,
                             eng_rng *out)
{
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0)
        return eng_h5_error(ENG_EFORMAT, ck->path, "cannot open %s", where);
    hid_t type = H5Dget_type(d), space = H5Dget_space(d);
    bool ok = type >= 0 && space >= 0 && H5Tget_class(type) == H5T_INTEGER &&
              H5Sget_simple_extent_npoints(space) == 4;
    eng_status st = ENG_OK;
    if (!ok)
        st =
            eng_error(ENG_EFORMAT, "%s: %s is not a generator state ([4] uint64)", ck->path, where);
    else if (H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->s) < 0)
        st = eng_h5_error(ENG_EFORMAT, ck->path, "cannot read %s", where);
    else
        st = eng_h5_check_crc(d, ck->path, where, out->s, sizeof out->s, true);
    if (!st && !(out->s[0] | out->s[1] | out->s[2] | out->s[3]))
        st = eng_error(ENG_EFORMAT,
                       "%s: %s is all zeros, which is not a state of xoshiro256** (it would "
                       "only ever return zeros)",
                       ck->path, where);
    if (type >= 0)
        H5Tclose(type);
    if (space >= 0)
        H5Sclose(space);
    H5Dclose(d);
    return st;
}

/* The first link of group g (whose path is where) not among the layer's parameters: an error
 * naming it, or ENG_OK when there is none. */
static eng_status check_extra_params(eng_checkpoint *ck, hid_t g, const eng_layer *layer)
{
    H5G_info_t info;
    if (H5Gget_info(g, &info) < 0)
        return eng_h5_error(ENG_EFORMAT, ck->path, "cannot list /model/%s", layer->name);
    for (hsize_t k = 0; k < info.nlinks; k++) {
        char name[ENG_PARAM_NAME_MAX];
        if (H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, k, name, sizeof name,
                               H5P_DEFAULT) < 0)
            return eng_h5_error(ENG_EFORMAT, ck->path, "cannot list /model/%s", layer->name);
        bool known = false;
        for (int p = 0; p < layer->nparams && !known; p++)
            known = strcmp(layer->params[p].name, name) == 0;
        for (int b = 0; b < layer->nbuffers && !known; b++)
            known = strcmp(layer->buffers[b].name, name) == 0;
        if (!known)
            return eng_error(ENG_EFORMAT,
                             "%s: /model/%s/%s is in the file, but the model's %s "
                             "(%s) has no parameter%s '%s'",
                             ck->path, layer->name, name, layer->name, layer->ops->kind,
                             layer->nbuffers ? " or buffer" : "", name);
    }
    return ENG_OK;
}

/* Checks layer i of the model against the file and reads its parameters, then its buffers,
 * into new tensors values[0..nparams + nbuffers). */
static eng_status read_layer(eng_checkpoint *ck, hid_t model_group, int i, const eng_layer *layer,
                             eng_tensor **values)
{
    if (strcmp(layer->name, ck->layer_names[i]) != 0)
        return eng_error(ENG_EFORMAT, "%s: layer %d is '%s' in the model but '%s' in the file",
                         ck->path, i + 1, layer->name, ck->layer_names[i]);
    hid_t g = H5Gopen2(model_group, layer->name, H5P_DEFAULT);
    if (g < 0)
        return eng_h5_error(ENG_EFORMAT, ck->path, "cannot open /model/%s", layer->name);
    char *kind = NULL;
    eng_status st = eng_h5_read_string(g, "kind", &kind);
    if (!st && strcmp(kind, layer->ops->kind) != 0)
        st = eng_error(ENG_EFORMAT, "%s: layer %d '%s' is %s in the model but %s in the file",
                       ck->path, i + 1, layer->name, layer->ops->kind, kind);
    for (int p = 0; !st && p < layer->nparams + layer->nbuffers; p++) {
        bool is_param = p < layer->nparams;
        const char *name =
            is_param ? layer->params[p].name : layer->buffers[p - layer->nparams].name;
        eng_tensor *value =
            is_param ? layer->params[p].value : layer->buffers[p - layer->nparams].value;
        char where[2 * ENG_NAME_MAX + ENG_PARAM_NAME_MAX], what[sizeof where];
        snprintf(where, sizeof where, "/model/%s/%s", layer->name, name);
        snprintf(what, sizeof what, "the model's %s.%s", layer->name, name);
        hid_t d;
        st = open_checked(ck, g, name, where, value, what, &d);
        if (!st && (st = eng_tensor_new_like(value, &values[p])))
            H5Dclose(d);
        else if (!st)
            st = read_into(ck, d, where, values[p]);
    }
    if (!st)
        st = check_extra_params(ck, g, layer);
    free(kind);
    H5Gclose(g);
    return st;
}

/* The generators inside the model's containers with the states the file holds for them. */
typedef struct rng_list {
    int n;
    eng_rng **rngs;
    eng_rng *states;
    bool *found;
} rng_list;

/* Reads /rng/layers/<layer>.<path> for every generator inside a container (rg: /rng/layers,
 * -1 when the file has none), into out, changing nothing. */
static eng_status read_container_rngs(eng_checkpoint *ck, hid_t rg, const eng_model *model,
                                      rng_list *out)
{
    int total = 0;
    for (int i = 0; i < model->nlayers; i++)
        total += eng_container_rngs(model->layers[i], NULL, NULL, 0);
    if (total == 0 || rg < 0)
        return ENG_OK;
    char(*paths)[ENG_PARAM_NAME_MAX] = calloc((size_t)total, sizeof *paths);
    out->rngs = calloc((size_t)total, sizeof *out->rngs);
    out->states = calloc((size_t)total, sizeof *out->states);
    out->found = calloc((size_t)total, sizeof *out->found);
    eng_status st = ENG_OK;
    if (!paths || !out->rngs || !out->states || !out->found)
        st = eng_error(ENG_ENOMEM, "%s: out of memory", ck->path);
    for (int i = 0, at = 0; !st && i < model->nlayers; i++) {
        eng_layer *layer = model->layers[i];
        int n = eng_container_rngs(layer, out->rngs + at, paths + at, total - at);
        for (int k = at; !st && k < at + n; k++) {
            char name[ENG_NAME_MAX + ENG_PARAM_NAME_MAX], where[sizeof name + 16];
            snprintf(name, sizeof name, "%s.%s", layer->name, paths[k]);
            snprintf(where, sizeof where, "/rng/layers/%s", name);
            if (eng_h5_exists(rg, name)) {
                st = read_state(ck, rg, name, where, &out->states[k]);
                out->found[k] = true;
            }
        }
        at += n;
    }
    out->n = total;
    free(paths);
    return st;
}

eng_status eng_checkpoint_read_model(eng_checkpoint *ck, eng_model *model)
{
    if (!ck->has_model)
        return eng_error(ENG_EFORMAT, "%s: no model in this checkpoint (no /model group)",
                         ck->path);
    int n = model->nlayers < ck->nlayers ? model->nlayers : ck->nlayers;
    /* Tensors read per layer: parameters, then buffers; layer i's from values + first[i] (a
     * container lists those of every layer inside it). */
    int64_t total = 0;
    int64_t *first = calloc((size_t)model->nlayers + 1, sizeof *first);
    for (int i = 0; first && i < model->nlayers; i++) {
        first[i] = total;
        total += model->layers[i]->nparams + model->layers[i]->nbuffers;
    }
    eng_tensor **values = calloc((size_t)total + 1, sizeof *values);
    eng_rng *states = calloc((size_t)model->nlayers + 1, sizeof *states);
    bool *has_state = calloc((size_t)model->nlayers + 1, sizeof *has_state);
    hid_t g = -1, rg = -1;
    rng_list inside = {0};
    eng_status st = ENG_OK;
    if (!first || !values || !states || !has_state) {
        st = eng_error(ENG_ENOMEM, "%s: out of memory", ck->path);
        goto done;
    }
    if ((g = H5Gopen2(ck->file, "model", H5P_DEFAULT)) < 0) {
        st = eng_h5_error(ENG_EFORMAT, ck->path, "cannot open /model");
        goto done;
    }
    for (int i = 0; !st && i < n; i++)
        st = read_layer(ck, g, i, model->layers[i], values + first[i]);
    if (!st && model->nlayers != ck->nlayers)
        st = eng_error(ENG_EFORMAT, "%s: the model has %d layers, the file %d", ck->path,
                       model->nlayers, ck->nlayers);
    if (!st && H5Lexists(ck->file, "/rng/layers", H5P_DEFAULT) > 0) {
        if ((rg = H5Gopen2(ck->file, "/rng/layers", H5P_DEFAULT)) < 0)
            st = eng_h5_error(ENG_EFORMAT, ck->path, "cannot open /rng/layers");
        for (int i = 0; !st && i < model->nlayers; i++) {
            const char *name = model->layers[i]->name;
            char where[2 * ENG_NAME_MAX];
            snprintf(where, sizeof where, "/rng/layers/%s", name);
            if (model->layers[i]->ops->rng && eng_h5_exists(rg, name)) {
                st = read_state(ck, rg, name, where, &states[i]);
                has_state[i] = true;
            }
        }
    }
    if (!st)
        st = read_container_rngs(ck, rg, model, &inside);
    if (st)
        goto done;
    /* Everything fits: only now does the model change. */
    for (int i = 0; i < model->nlayers; i++) {
        eng_layer *layer = model->layers[i];
        for (int p = 0; p < layer->nparams + layer->nbuffers; p++) {
            eng_tensor *v = p < layer->nparams ? layer->params[p].value
                                               : layer->buffers[p - layer->nparams].value;
            memcpy(eng_tensor_data(v), eng_tensor_data(values[first[i] + p]),
                   (size_t)eng_tensor_numel(v) * eng_dtype_size(layer->dtype));
        }
        if (has_state[i])
            *layer->ops->rng(layer) = states[i];
    }
    for (int k = 0; k < inside.n; k++)
        if (inside.found[k])
            *inside.rngs[k] = inside.states[k];
done:
    free(inside.rngs);
    free(inside.states);
    free(inside.found);
    for (int64_t i = 0; values && i < total; i++)
        eng_tensor_release(values[i]);
    free(values);
    free(first);
    free(states);
    free(has_state);
    if (rg >= 0)
        H5Gclose(rg);
    if (g >= 0)
        H5Gclose(g);
    return st;
}

/* Compares opt's hyper-parameters other than the learning rate and the step count (restored
 * from the file) with the file's. */
static eng_status check_hyper(eng_checkpoint *ck, hid_t g, const eng_optimizer *opt)
{
    const char *names[MAX_HYPER];
    double values[MAX_HYPER];
    int n = opt->ops->hyper ? opt->ops->hyper(opt, names, values, MAX_HYPER) : 0;
    for (int h = 0; h < n && h < MAX_HYPER; h++) {
        double stored;
        if (strcmp(names[h], "lr") == 0 || strcmp(names[h], "steps") == 0 ||
            H5Aexists(g, names[h]) <= 0)
            continue;
        eng_status st = eng_h5_read_double(g, names[h], &stored);
        if (st)
            return st;
        if (stored != values[h] && !(stored != stored && values[h] != values[h]))
            return eng_error(ENG_EARG,
                             "%s: %s's %s is %.17g in the file but %.17g in this "
                             "optimizer (a resumed run needs the same settings)",
                             ck->path, opt->ops->kind, names[h], stored, values[h]);
    }
    return ENG_OK;
}

/* Checks the file's list attribute name against expected[0..n); what names the list. */
static eng_status check_names(eng_checkpoint *ck, hid_t g, const char *name, const char *what,
                              const char *const *expected, int n, size_t stride)
{
    char **stored;
    int count;
    eng_status st = eng_h5_read_strings(g, name, &stored, &count);
    if (st)
        return st;
    for (int i = 0; !st && i < n && i < count; i++) {
        const char *e = *(const char *const *)((const char *)expected + (size_t)i * stride);
        if (strcmp(e, stored[i]) != 0)
            st = eng_error(ENG_EFORMAT, "%s: optimizer %s %d is '%s' here but '%s' in the file",
                           ck->path, what, i + 1, e, stored[i]);
    }
    if (!st && count != n)
        st = eng_error(ENG_EFORMAT, "%s: the optimizer has %d %ss, the file %d", ck->path, n, what,
                       count);
    eng_h5_free_strings(stored, count);
    return st;
}

/* The step count and the learning rate of /optimizer, checked as strictly as the same numbers
 * given as arguments (set_lr, the constructors). */
static eng_status read_counters(eng_checkpoint *ck, hid_t g, int64_t *steps, double *lr)
{
    eng_status st = eng_h5_read_int64(g, "steps", steps);
    if (!st)
        st = eng_h5_read_double(g, "lr", lr);
    if (!st && !(*lr > 0 && isfinite(*lr)))
        st = eng_error(ENG_EFORMAT, "%s: /optimizer's lr is %g, expected a finite number > 0",
                       ck->path, *lr);
    if (!st && *steps < 0)
        st = eng_error(ENG_EFORMAT, "%s: /optimizer's steps is %lld, expected >= 0", ck->path,
                       (long long)*steps);
    return st;
}

eng_status eng_checkpoint_read_optimizer(eng_checkpoint *ck, eng_optimizer *opt)
{
    if (!ck->has_optimizer)
        return eng_error(ENG_EFORMAT,
                         "%s: no optimizer state in this checkpoint (no /optimizer "
                         "group)",
                         ck->path);
    const eng_optim_ops *ops = opt->ops;
    int nslots = opt->nparams * ops->nslots;
    eng_tensor **slots = calloc((size_t)nslots + 1, sizeof *slots);
    const char **pnames = calloc((size_t)opt->nparams + 1, sizeof *pnames);
    char *kind = NULL;
    int64_t steps = 0;
    double lr = 0;
    hid_t g = -1;
    eng_status st = ENG_OK;
    if (!slots || !pnames) {
        st = eng_error(ENG_ENOMEM, "%s: out of memory", ck->path);
        goto done;
    }
    for (int i = 0; i < opt->nparams; i++)
        pnames[i] = opt->params[i].name;
    if ((g = H5Gopen2(ck->file, "optimizer", H5P_DEFAULT)) < 0) {
        st = eng_h5_error(ENG_EFORMAT, ck->path, "cannot open /optimizer");
        goto done;
    }
    st = eng_h5_read_string(g, "kind", &kind);
    if (!st && strcmp(kind, ops->kind) != 0)
        st = eng_error(ENG_EFORMAT, "%s: the checkpoint holds a %s optimizer, this one is %s",
                       ck->path, kind, ops->kind);
    if (!st)
        st = check_names(ck, g, "param_names", "parameter", pnames, opt->nparams, sizeof(char *));
    if (!st)
        st = check_names(ck, g, "slot_names", "slot", (const char *const *)ops->slot_names,
                         ops->nslots, sizeof(char *));
    if (!st)
        st = check_hyper(ck, g, opt);
    if (!st)
        st = read_counters(ck, g, &steps, &lr);
    for (int i = 0; !st && i < opt->nparams; i++) {
        char layer[ENG_PARAM_NAME_MAX], param[ENG_PARAM_NAME_MAX];
        eng_checkpoint_split_name(opt->params[i].name, layer, param, sizeof layer);
        for (int k = 0; !st && k < ops->nslots; k++) {
            char rel[2 * ENG_PARAM_NAME_MAX + ENG_NAME_MAX], where[sizeof rel + 16],
                what[ENG_PARAM_NAME_MAX + 2 * ENG_NAME_MAX];
            snprintf(rel, sizeof rel, "%s/%s/%s", layer, param, ops->slot_names[k]);
            snprintf(where, sizeof where, "/optimizer/%s", rel);
            snprintf(what, sizeof what, "the optimizer's %s for %s", ops->slot_names[k],
                     opt->params[i].name);
            if (H5Lexists(g, layer, H5P_DEFAULT) <= 0 ||
                H5Lexists(g, rel, H5P_DEFAULT) <= 0) { /* never created: stays absent */
                H5Eclear2(H5E_DEFAULT);
                continue;
            }
            hid_t d;
            eng_tensor **slot = &slots[i * ops->nslots + k];
            st = open_checked(ck, g, rel, where, opt->params[i].value, what, &d);
            if (!st && (st = eng_tensor_new_like(opt->params[i].value, slot)))
                H5Dclose(d);
            else if (!st)
                st = read_into(ck, d, where, *slot);
        }
    }
    if (st)
        goto done;
    for (int s = 0; s < nslots; s++) {
        eng_tensor_release(opt->slots[s]);
        opt->slots[s] = slots[s];
        slots[s] = NULL;
    }
    opt->steps = steps;
    opt->lr = lr;
done:
    for (int s = 0; slots && s < nslots; s++)
        eng_tensor_release(slots[s]);
    free(slots);
    free(pnames);
    free(kind);
    if (g >= 0)
        H5Gclose(g);
    return st;
}

eng_status eng_checkpoint_read_rng(eng_checkpoint *ck, eng_rng *rng)
{
    if (H5Lexists(ck->file, "rng", H5P_DEFAULT) <= 0 ||
        H5Lexists(ck->file, "rng/global", H5P_DEFAULT) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return eng_error(ENG_EFORMAT, "%s: missing dataset /rng/global", ck->path);
    }
    eng_rng state;
    eng_status st = read_state(ck, ck->file, "rng/global", "/rng/global", &state);
    if (!st)
        *rng = state;
    return st;
}

eng_status eng_checkpoint_read_meta(eng_checkpoint *ck, eng_meta **out)
{
    eng_status st = eng_meta_new(out);
    if (st || !eng_h5_exists(ck->file, "meta"))
        return st;
    hid_t g = H5Gopen2(ck->file, "meta", H5P_DEFAULT);
    st = g < 0 ? eng_h5_error(ENG_EFORMAT, ck->path, "cannot open /meta")
               : eng_h5_read_meta(g, *out, true);
    if (g >= 0)
        H5Gclose(g);
    if (st) {
        eng_meta_free(*out);
        *out = NULL;
    }
    return st;
}

eng_status eng_checkpoint_read_optimizer_info(eng_checkpoint *ck, eng_meta **out)
{
    *out = NULL;
    if (!ck->has_optimizer)
        return eng_error(ENG_EFORMAT,
                         "%s: no optimizer state in this checkpoint (no /optimizer "
                         "group)",
                         ck->path);
    eng_status st = eng_meta_new(out);
    if (st)
        return st;
    hid_t g = H5Gopen2(ck->file, "optimizer", H5P_DEFAULT);
    st = g < 0 ? eng_h5_error(ENG_EFORMAT, ck->path, "cannot open /optimizer")
               : eng_h5_read_meta(g, *out, false);
    if (g >= 0)
        H5Gclose(g);
    if (st) {
        eng_meta_free(*out);
        *out = NULL;
    }
    return st;
}
