/* A model's architecture as JSON (the /model attribute model_config), written and parsed with
 * cJSON. Each layer's config holds its kind and every setting its kind declares
 * (registry.h); reading checks every value against that declaration, exactly as the Lua
 * constructors do, so a file cannot hold a value an argument could not:
 *
 *   {"kind": "sequential", "dtype": "f32", "layers": [
 *     {"name": "conv2d_1", "config": {"kind": "conv2d", "in_channels": 1, "out_channels": 4,
 *      "kernel_size": [3, 3], "stride": [1, 1], "padding": [1, 1], "dilation": [1, 1],
 *      "bias": true}}, ...]} */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../registry.h"
#include "checkpoint.h"

/* Adds layer's settings to obj (a JSON object), after "kind". */
static eng_status add_settings(cJSON *obj, const eng_layer *layer)
{
    eng_settings s;
    eng_status st = eng_layer_settings(layer, &s);
    if (st)
        return st;
    if (!cJSON_AddStringToObject(obj, "kind", s.kind->name))
        return ENG_ENOMEM;
    for (int i = 0; i < s.count; i++) {
        const eng_setting *d = &s.kind->settings[i];
        const eng_setting_value *v = &s.values[i];
        cJSON *item = NULL;
        switch (d->type) {
        case ENG_SETTING_INT:
        case ENG_SETTING_NUMBER: item = cJSON_CreateNumber(v->number); break;
        case ENG_SETTING_BOOL: item = cJSON_CreateBool(v->number != 0); break;
        case ENG_SETTING_STRING: item = cJSON_CreateString(v->string); break;
        case ENG_SETTING_INTS:
            item = cJSON_CreateArray();
            for (int k = 0; item && k < v->n; k++) {
                cJSON *e = cJSON_CreateNumber((double)v->ints[k]);
                if (!e || !cJSON_AddItemToArray(item, e)) {
                    cJSON_Delete(e);
                    cJSON_Delete(item);
                    item = NULL;
                }
            }
            break;
        }
        if (!item || !cJSON_AddItemToObject(obj, d->name, item)) {
            cJSON_Delete(item);
            return ENG_ENOMEM;
        }
    }
    return ENG_OK;
}

/* Prints obj unformatted and frees it. */
static eng_status print_json(cJSON *obj, eng_status st, const char *what, char **out)
{
    *out = NULL;
    if (!st && !(*out = cJSON_PrintUnformatted(obj)))
        st = ENG_ENOMEM;
    cJSON_Delete(obj);
    if (st == ENG_ENOMEM)
        return eng_error(ENG_ENOMEM, "%s: out of memory for the config", what);
    return st;
}

eng_status eng_layer_config(const eng_layer *layer, char **out)
{
    cJSON *obj = cJSON_CreateObject();
    eng_status st = obj ? add_settings(obj, layer) : ENG_ENOMEM;
    return print_json(obj, st, eng_layer_label(layer), out);
}

/* Appends an entry {"name", "config"[, "children"]} per layer of model to the list layers. */
static eng_status add_entries(cJSON *layers, const eng_model *model)
{
    eng_status st = ENG_OK;
    for (int i = 0; !st && i < model->nlayers; i++) {
        const eng_layer *layer = model->layers[i];
        cJSON *entry = cJSON_CreateObject(), *config = NULL, *children = NULL;
        if (!entry || !cJSON_AddItemToArray(layers, entry)) {
            cJSON_Delete(entry);
            st = ENG_ENOMEM;
        } else if (!cJSON_AddStringToObject(entry, "name", layer->name) ||
                   !(config = cJSON_AddObjectToObject(entry, "config"))) {
            st = ENG_ENOMEM;
        } else {
            st = add_settings(config, layer);
        }
        if (!st && eng_layer_is_container(layer) &&
            !(children = cJSON_AddArrayToObject(entry, "children")))
            st = ENG_ENOMEM;
        for (int k = 0; !st && k < eng_container_count(layer); k++) {
            cJSON *list = cJSON_CreateArray();
            if (!list || !cJSON_AddItemToArray(children, list)) {
                cJSON_Delete(list);
                st = ENG_ENOMEM;
            } else {
                st = add_entries(list, eng_container_child(layer, k));
            }
        }
    }
    return st;
}

eng_status eng_model_config(const eng_model *model, char **out)
{
    cJSON *root = cJSON_CreateObject(), *layers = NULL;
    eng_status st = ENG_OK;
    if (!root || !cJSON_AddStringToObject(root, "kind", "sequential") ||
        !cJSON_AddStringToObject(root, "dtype", eng_dtype_name(eng_model_dtype(model))) ||
        !(layers = cJSON_AddArrayToObject(root, "layers")))
        st = ENG_ENOMEM;
    if (!st)
        st = add_entries(layers, model);
    return print_json(root, st, "sequential", out);
}

/* ---- reading ---- */

static const char *json_type(const cJSON *item)
{
    return cJSON_IsNumber(item)   ? "a number"
           : cJSON_IsBool(item)   ? "a boolean"
           : cJSON_IsString(item) ? "a string"
           : cJSON_IsArray(item)  ? "a list"
           : cJSON_IsObject(item) ? "an object"
                                  : "null";
}

/* Sets one setting from its JSON value through the same checks as the Lua constructors. */
static eng_status set_from_json(eng_settings *s, const cJSON *item)
{
    const char *key = item->string;
    const eng_setting *d = eng_settings_find(s, key, NULL);
    if (d && d->type == ENG_SETTING_INTS && cJSON_IsArray(item)) {
        double v[ENG_SETTING_INTS_MAX];
        int n = cJSON_GetArraySize(item), k = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, item)
        {
            if (!cJSON_IsNumber(e))
                return eng_error(ENG_EARG,
                                 "%s: setting '%s' must be a list of integers, got "
                                 "%s in it",
                                 s->kind->name, key, json_type(e));
            if (k < ENG_SETTING_INTS_MAX)
                v[k] = e->valuedouble;
            k++;
        }
        return eng_settings_set_ints(s, key, v, n > ENG_SETTING_INTS_MAX ? n : k);
    }
    if (cJSON_IsNumber(item))
        return eng_settings_set_number(s, key, item->valuedouble);
    if (cJSON_IsBool(item))
        return eng_settings_set_bool(s, key, cJSON_IsTrue(item));
    if (cJSON_IsString(item))
        return eng_settings_set_string(s, key, item->valuestring);
    if (!d) /* unknown key: let the setter name the kind's settings */
        return eng_settings_set_bool(s, key, false);
    return eng_error(ENG_EARG, "%s: setting '%s' cannot be %s", s->kind->name, key,
                     json_type(item));
}

void eng_layer_specs_free(eng_layer_spec *specs, int n)
{
    for (int i = 0; specs && i < n; i++) {
        int total = 0;
        for (int k = 0; k < specs[i].nchildren; k++)
            total += specs[i].child_sizes[k];
        eng_layer_specs_free(specs[i].children, total);
    }
    free(specs);
}

static eng_status parse_layer(const cJSON *entry, eng_layer_spec *spec, int depth, int *budget);

/* The "children" of a container's entry (a list of lists of entries) into spec. */
static eng_status parse_children(const cJSON *entry, eng_layer_spec *spec, int depth, int *budget)
{
    const cJSON *children = cJSON_GetObjectItemCaseSensitive(entry, "children");
    bool container = eng_kind_is_container(spec->settings.kind);
    if (!container && !children)
        return ENG_OK;
    if (!container)
        return eng_error(ENG_EFORMAT, "'%s': a %s has no \"children\"", spec->name,
                         spec->settings.kind->name);
    int n = cJSON_GetArraySize(children), total = 0;
    if (!cJSON_IsArray(children) || n < 1 || n > ENG_CONTAINER_MAX_CHILDREN)
        return eng_error(ENG_EFORMAT,
                         "'%s': a %s needs \"children\", a list of 1 to %d lists "
                         "of layers",
                         spec->name, spec->settings.kind->name, ENG_CONTAINER_MAX_CHILDREN);
    if (depth >= ENG_CONTAINER_MAX_DEPTH)
        return eng_error(ENG_EFORMAT, "'%s': containers nested more than %d deep", spec->name,
                         ENG_CONTAINER_MAX_DEPTH);
    const cJSON *list;
    cJSON_ArrayForEach(list, children)
    {
        int size = cJSON_GetArraySize(list);
        if (!cJSON_IsArray(list) || size < 1 || size > *budget)
            return eng_error(ENG_EFORMAT,
                             "'%s': model %d of its \"children\" must be a list "
                             "of 1 to %d layers",
                             spec->name, spec->nchildren + 1, *budget);
        *budget -= size;
        spec->child_sizes[spec->nchildren++] = size;
        total += size;
    }
    spec->children = calloc((size_t)total, sizeof *spec->children);
    if (!spec->children)
        return eng_error(ENG_ENOMEM, "'%s': out of memory", spec->name);
    int i = 0, k = 0;
    cJSON_ArrayForEach(list, children)
    {
        const cJSON *e;
        k++;
        cJSON_ArrayForEach(e, list)
        {
            eng_status st = parse_layer(e, &spec->children[i++], depth + 1, budget);
            if (st)
                return eng_error_wrap(st, "'%s': model %d", spec->name, k);
        }
    }
    return ENG_OK;
}

/* One layer entry {"name": ..., "config": {"kind": ..., settings}} into spec; *budget: how
 * many more layers the whole config may hold. */
static eng_status parse_layer(const cJSON *entry, eng_layer_spec *spec, int depth, int *budget)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(entry, "name");
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(entry, "config");
    if (!cJSON_IsObject(entry) || !cJSON_IsString(name) || !cJSON_IsObject(config))
        return eng_error(ENG_EFORMAT, "needs a string \"name\" and an object \"config\"");
    if (!name->valuestring[0] || strlen(name->valuestring) >= ENG_NAME_MAX)
        return eng_error(ENG_EFORMAT, "name must be 1 to %d bytes long", ENG_NAME_MAX - 1);
    snprintf(spec->name, sizeof spec->name, "%s", name->valuestring);
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(config, "kind");
    if (!cJSON_IsString(kind))
        return eng_error(ENG_EFORMAT, "'%s': its config has no string \"kind\"", spec->name);
    const eng_layer_kind *k = eng_kind_find(kind->valuestring);
    if (!k)
        return eng_error(ENG_EFORMAT,
                         "'%s': unknown layer kind '%.64s' (a plugin's kind needs "
                         "its plugin loaded first)",
                         spec->name, kind->valuestring);
    eng_settings_init(&spec->settings, k);
    const cJSON *item;
    eng_status st = ENG_OK;
    cJSON_ArrayForEach(item, config)
    {
        if (strcmp(item->string, "kind") == 0)
            continue;
        if ((st = set_from_json(&spec->settings, item)))
            break;
    }
    if (!st)
        st = eng_settings_finish(&spec->settings);
    if (st)
        return eng_error_wrap(st, "'%s'", spec->name);
    return parse_children(entry, spec, depth, budget);
}

/* The deepest nesting of arrays and objects in json (strings skipped): cJSON refuses more than
 * CJSON_NESTING_LIMIT levels, which its message would not say. */
static long json_depth(const char *json)
{
    long depth = 0, deepest = 0;
    for (const char *p = json; *p; p++) {
        if (*p == '"') {
            while (*++p && *p != '"')
                if (*p == '\\' && !*++p)
                    return deepest;
            if (!*p)
                break;
        } else if (*p == '[' || *p == '{') {
            deepest = ++depth > deepest ? depth : deepest;
        } else if (*p == ']' || *p == '}') {
            depth--;
        }
    }
    return deepest;
}

eng_status eng_model_config_parse(const char *json, const char *where, eng_dtype *dtype,
                                  eng_layer_spec **out, int *n)
{
    *out = NULL;
    *n = 0;
    cJSON *root = cJSON_Parse(json);
    eng_layer_spec *specs = NULL;
    int i = 0;
    eng_status st = ENG_OK;
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(root, "dtype");
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
    if (!root) {
        long depth = json_depth(json);
        if (depth > CJSON_NESTING_LIMIT)
            st = eng_error(ENG_EFORMAT,
                           "%s: model_config is nested %ld deep (JSON arrays and "
                           "objects, at most %d)",
                           where, depth, CJSON_NESTING_LIMIT);
        else
            st = eng_error(ENG_EFORMAT, "%s: model_config is not valid JSON", where);
        goto done;
    }
    if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "sequential") != 0 ||
        !cJSON_IsString(dt) || !cJSON_IsArray(layers)) {
        st = eng_error(ENG_EFORMAT,
                       "%s: model_config needs \"kind\": \"sequential\", a string "
                       "\"dtype\" and a list \"layers\"",
                       where);
        goto done;
    }
    if (eng_dtype_parse(dt->valuestring, dtype) || !eng_dtype_is_float(*dtype)) {
        st = eng_error(ENG_EFORMAT, "%s: model_config: dtype '%.16s' (f32 or f64 expected)", where,
                       dt->valuestring);
        goto done;
    }
    int count = cJSON_GetArraySize(layers);
    if (count > ENG_MODEL_CONFIG_MAX_LAYERS) {
        st = eng_error(ENG_EFORMAT, "%s: model_config has %d layers (at most %d)", where, count,
                       ENG_MODEL_CONFIG_MAX_LAYERS);
        goto done;
    }
    if (!(specs = calloc((size_t)count + 1, sizeof *specs))) {
        st = eng_error(ENG_ENOMEM, "%s: out of memory", where);
        goto done;
    }
    const cJSON *entry;
    int budget = ENG_MODEL_CONFIG_MAX_LAYERS - count;
    cJSON_ArrayForEach(entry, layers)
    {
        if ((st = parse_layer(entry, &specs[i], 0, &budget))) {
            st = eng_error_wrap(st, "%s: model_config: layer %d", where, i + 1);
            i++; /* freed with the others */
            goto done;
        }
        i++;
    }
    *out = specs;
    *n = count;
    specs = NULL;
done:
    eng_layer_specs_free(specs, i);
    cJSON_Delete(root);
    return st;
}
