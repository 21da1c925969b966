/* Rebuilding a checkpoint's model in C, without Lua (checkpoint.h): the JSON config is parsed
 * against the kinds' declared settings, and the parameter shapes those settings give are
 * checked against the datasets in the file before any layer is allocated, so a small file
 * whose config asks for Linear(30000, 30000) is refused at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint_impl.h"

/* Parses model_config once (the first time a layer is built). */
static eng_status parse_specs(eng_checkpoint *ck)
{
    if (ck->specs)
        return ENG_OK;
    if (!ck->has_model || !ck->model_config)
        return eng_error(ENG_EFORMAT, "%s: the checkpoint holds no model", ck->path);
    eng_dtype dtype;
    eng_layer_spec *specs;
    int n;
    eng_status st = eng_model_config_parse(ck->model_config, ck->path, &dtype, &specs, &n);
    if (st)
        return st;
    eng_dtype stored;
    if (n != ck->nlayers || eng_dtype_parse(ck->dtype, &stored) || stored != dtype) {
        eng_layer_specs_free(specs, n);
        return eng_error(ENG_EFORMAT,
                         "%s: model_config (%d layers, %s) disagrees with /model's "
                         "layer_names (%d) and dtype (%s)",
                         ck->path, n, eng_dtype_name(dtype), ck->nlayers, ck->dtype);
    }
    for (int i = 0; i < n; i++) {
        if (strcmp(specs[i].name, ck->layer_names[i]) != 0) {
            eng_status e = eng_error(ENG_EFORMAT,
                                     "%s: model_config names layer %d '%s', but "
                                     "layer_names says '%s'",
                                     ck->path, i + 1, specs[i].name, ck->layer_names[i]);
            eng_layer_specs_free(specs, n);
            return e;
        }
    }
    ck->specs = specs;
    ck->nspecs = n;
    return ENG_OK;
}

/* Opens dataset /model/<layer>/<param> when it exists (-1 when not, or on failure). */
static hid_t open_param(eng_checkpoint *ck, const char *layer, const char *param)
{
    hid_t d = -1, m = -1, g = -1;
    if (eng_h5_exists(ck->file, "model") && (m = H5Gopen2(ck->file, "model", H5P_DEFAULT)) >= 0 &&
        eng_h5_exists(m, layer) && (g = H5Gopen2(m, layer, H5P_DEFAULT)) >= 0 &&
        eng_h5_exists(g, param))
        d = H5Dopen2(g, param, H5P_DEFAULT);
    if (g >= 0)
        H5Gclose(g);
    if (m >= 0)
        H5Gclose(m);
    return d;
}

/* Checks that /model/<layer>/<prefix><p.name> exists with shape p (prefix: where a layer
 * inside a container keeps its parameters, "shortcut.conv2d_1."). */
static eng_status check_stored_shape(eng_checkpoint *ck, const char *layer, const char *prefix,
                                     const eng_param_shape *p)
{
    char where[2 * ENG_NAME_MAX + ENG_PARAM_NAME_MAX + 16], name[ENG_PARAM_NAME_MAX];
    if (snprintf(name, sizeof name, "%s%s", prefix, p->name) >= (int)sizeof name)
        return eng_error(ENG_EFORMAT, "%s: layer '%s': the name %s... is too long", ck->path, layer,
                         name);
    snprintf(where, sizeof where, "/model/%s/%s", layer, name);
    hid_t d = open_param(ck, layer, name);
    if (d < 0)
        return eng_error(ENG_EFORMAT,
                         "%s: model_config gives layer '%s' a parameter %s %s, but "
                         "the file has no dataset %s",
                         ck->path, layer, name, eng_shape_str(p->ndim, p->shape), where);
    hid_t space = H5Dget_space(d);
    int ndim = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    hsize_t dims[ENG_MAX_DIMS] = {0};
    bool readable = ndim >= 0 && ndim <= ENG_MAX_DIMS, same = readable && ndim == p->ndim;
    if (readable)
        H5Sget_simple_extent_dims(space, dims, NULL);
    int64_t stored[ENG_MAX_DIMS] = {0};
    for (int k = 0; readable && k < ndim; k++) {
        stored[k] = (int64_t)dims[k];
        same = same && stored[k] == p->shape[k];
    }
    if (space >= 0)
        H5Sclose(space);
    H5Dclose(d);
    if (!readable)
        return eng_error(ENG_EFORMAT, "%s: cannot read the shape of %s", ck->path, where);
    if (!same)
        return eng_error(ENG_ESHAPE,
                         "%s: model_config gives %s the shape %s, but the file "
                         "stores %s",
                         ck->path, where, eng_shape_str(p->ndim, p->shape),
                         eng_shape_str(ndim, stored));
    return ENG_OK;
}

/* Checks the stored shapes of spec's parameters (a container's: of every layer inside) in
 * /model/<top>, the names there starting with prefix. */
static eng_status check_spec_shapes(eng_checkpoint *ck, const char *top, const char *prefix,
                                    const eng_layer_spec *spec)
{
    const eng_layer_kind *kind = spec->settings.kind;
    eng_status st = ENG_OK;
    if (kind->param_shapes) {
        eng_param_shape shapes[ENG_MAX_PARAMS + ENG_MAX_BUFFERS];
        int n = 0;
        st = kind->param_shapes(&spec->settings, shapes, &n);
        for (int p = 0; !st && p < n && p < ENG_MAX_PARAMS + ENG_MAX_BUFFERS; p++)
            st = check_stored_shape(ck, top, prefix, &shapes[p]);
    }
    const eng_layer_spec *child = spec->children;
    for (int k = 0; !st && k < spec->nchildren; k++) {
        char model[ENG_NAME_MAX];
        eng_container_child_name_of(kind, k, model, sizeof model);
        for (int i = 0; !st && i < spec->child_sizes[k]; i++, child++) {
            char sub[ENG_PARAM_NAME_MAX];
            if (snprintf(sub, sizeof sub, "%s%s%s%s.", prefix, model, model[0] ? "." : "",
                         child->name) >= (int)sizeof sub)
                return eng_error(ENG_EFORMAT, "%s: layer '%s': the name %s... is too long",
                                 ck->path, top, sub);
            st = check_spec_shapes(ck, top, sub, child);
        }
    }
    return st;
}

/* A new layer from spec (a container: with the layers inside, built first), named. */
static eng_status build_layer(eng_checkpoint *ck, const eng_layer_spec *spec, eng_dtype dtype,
                              eng_layer **out)
{
    *out = NULL;
    const eng_layer_kind *kind = spec->settings.kind;
    eng_status st = ENG_OK;
    if (eng_kind_is_container(kind)) {
        eng_model *models[ENG_CONTAINER_MAX_CHILDREN] = {0};
        const eng_layer_spec *child = spec->children;
        for (int k = 0; !st && k < spec->nchildren; k++) {
            st = eng_model_new(&models[k]);
            for (int i = 0; !st && i < spec->child_sizes[k]; i++, child++) {
                eng_layer *layer;
                st = build_layer(ck, child, dtype, &layer);
                if (!st)
                    st = eng_model_add(models[k], layer);
                eng_layer_release(layer);
            }
        }
        if (!st)
            st = eng_container_create(&spec->settings, (const eng_model *const *)models,
                                      spec->nchildren, out);
        for (int k = 0; k < spec->nchildren; k++)
            eng_model_release(models[k]);
    } else if (!kind->create) {
        return eng_error(ENG_EFORMAT,
                         "layer '%s' is of kind '%s', which a checkpoint cannot "
                         "rebuild (an nn.Lua layer's functions are not in the file): build the "
                         "model in Lua and call model:load",
                         spec->name, kind->name);
    } else {
        eng_settings settings = spec->settings;
        st = eng_layer_create(&settings, dtype, NULL, out);
    }
    if (!st)
        st = eng_layer_set_name(*out, spec->name);
    if (st) {
        eng_layer_release(*out);
        *out = NULL;
    }
    return st;
}

eng_status eng_checkpoint_new_layer(eng_checkpoint *ck, int i, eng_layer **out)
{
    *out = NULL;
    eng_status st = parse_specs(ck);
    if (st)
        return st;
    if (i < 0 || i >= ck->nspecs)
        return eng_error(ENG_EARG, "%s: no layer %d (the model has %d)", ck->path, i + 1,
                         ck->nspecs);
    eng_layer_spec *spec = &ck->specs[i];
    st = check_spec_shapes(ck, spec->name, "", spec);
    if (st)
        return st;
    eng_dtype dtype;
    if (eng_dtype_parse(ck->dtype, &dtype))
        return eng_error_wrap(ENG_EFORMAT, "%s: /model dtype", ck->path);
    st = build_layer(ck, spec, dtype, out);
    if (st)
        return eng_error_wrap(st, "%s: layer %d '%s'", ck->path, i + 1, spec->name);
    return ENG_OK;
}

eng_status eng_checkpoint_load_model(const char *path, eng_model **out)
{
    eng_checkpoint *ck = NULL;
    eng_model *model = NULL;
    eng_layer *layer = NULL;
    *out = NULL;
    eng_status st = eng_checkpoint_open(path, &ck);
    if (!st)
        st = eng_model_new(&model);
    for (int i = 0; !st && i < eng_checkpoint_layer_count(ck); i++) {
        st = eng_checkpoint_new_layer(ck, i, &layer);
        if (!st)
            st = eng_model_add(model, layer);
        eng_layer_release(layer); /* the model holds its own reference */
        layer = NULL;
    }
    if (!st && !eng_checkpoint_has_model(ck))
        st = eng_error(ENG_EFORMAT, "%s: the checkpoint holds no model", path);
    if (!st)
        st = eng_checkpoint_read_model(ck, model);
    eng_checkpoint_close(ck);
    if (st) {
        eng_model_release(model);
        return st;
    }
    *out = model;
    return ENG_OK;
}
