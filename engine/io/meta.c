/* The metadata tree of checkpoints (/meta): named numbers, booleans, strings, number lists and
 * nested tables, built by the bindings from a Lua table and read back from a file. */
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "hdf5_util.h"

eng_status eng_meta_new(eng_meta **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return eng_error(ENG_ENOMEM, "meta: out of memory");
    (*out)->type = ENG_META_TABLE;
    return ENG_OK;
}

void eng_meta_free(eng_meta *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->nitems; i++)
        eng_meta_free(m->items[i]);
    free(m->items);
    free(m->key);
    free(m->string);
    free(m->numbers);
    free(m);
}

const eng_meta *eng_meta_get(const eng_meta *t, const char *key)
{
    for (int i = 0; t && t->type == ENG_META_TABLE && i < t->nitems; i++)
        if (strcmp(t->items[i]->key, key) == 0)
            return t->items[i];
    return NULL;
}

eng_status eng_meta_add(eng_meta *t, const char *key, eng_meta_type type, eng_meta **out)
{
    if (out)
        *out = NULL;
    if (t->type != ENG_META_TABLE)
        return eng_error(ENG_EARG, "meta: '%s' is not a table", t->key ? t->key : "(root)");
    if (!key[0] || strchr(key, '/') || strcmp(key, ".") == 0)
        return eng_error(ENG_EARG,
                         "meta: key '%s' cannot name an HDF5 attribute or group "
                         "(it is empty, '.', or holds '/')",
                         key);
    if (eng_meta_get(t, key))
        return eng_error(ENG_EARG, "meta: key '%s' appears twice", key);
    if (t->nitems == t->capacity) {
        int cap = t->capacity ? 2 * t->capacity : 8;
        eng_meta **items = realloc(t->items, sizeof *items * (size_t)cap);
        if (!items)
            return eng_error(ENG_ENOMEM, "meta: out of memory");
        t->items = items;
        t->capacity = cap;
    }
    eng_meta *m = calloc(1, sizeof *m);
    if (!m || !(m->key = strdup(key))) {
        free(m);
        return eng_error(ENG_ENOMEM, "meta: out of memory");
    }
    m->type = type;
    t->items[t->nitems++] = m;
    if (out)
        *out = m;
    return ENG_OK;
}

eng_status eng_meta_add_integer(eng_meta *t, const char *key, int64_t value)
{
    eng_meta *m;
    eng_status st = eng_meta_add(t, key, ENG_META_INTEGER, &m);
    if (!st)
        m->integer = value;
    return st;
}

eng_status eng_meta_add_number(eng_meta *t, const char *key, double value)
{
    eng_meta *m;
    eng_status st = eng_meta_add(t, key, ENG_META_NUMBER, &m);
    if (!st)
        m->number = value;
    return st;
}

eng_status eng_meta_add_boolean(eng_meta *t, const char *key, bool value)
{
    eng_meta *m;
    eng_status st = eng_meta_add(t, key, ENG_META_BOOLEAN, &m);
    if (!st)
        m->boolean = value;
    return st;
}

eng_status eng_meta_add_string(eng_meta *t, const char *key, const char *value)
{
    eng_meta *m;
    eng_status st = eng_meta_add(t, key, ENG_META_STRING, &m);
    if (!st && !(m->string = strdup(value)))
        st = eng_error(ENG_ENOMEM, "meta: out of memory");
    return st;
}

eng_status eng_meta_add_numbers(eng_meta *t, const char *key, const double *values, int64_t n)
{
    eng_meta *m;
    eng_status st = eng_meta_add(t, key, ENG_META_NUMBERS, &m);
    if (st)
        return st;
    m->numbers = malloc(sizeof *values * (size_t)(n ? n : 1));
    if (!m->numbers)
        return eng_error(ENG_ENOMEM, "meta: out of memory");
    if (n)
        memcpy(m->numbers, values, sizeof *values * (size_t)n);
    m->count = n;
    return ENG_OK;
}

/* ---- HDF5: a table is a group, its values attributes, its tables subgroups ---- */

eng_status eng_h5_write_meta(hid_t g, const eng_meta *t)
{
    eng_status st = ENG_OK;
    for (int i = 0; !st && i < t->nitems; i++) {
        const eng_meta *m = t->items[i];
        switch (m->type) {
        case ENG_META_INTEGER: st = eng_h5_write_int64(g, m->key, m->integer); break;
        case ENG_META_NUMBER: st = eng_h5_write_double(g, m->key, m->number); break;
        case ENG_META_BOOLEAN: st = eng_h5_write_bool(g, m->key, m->boolean); break;
        case ENG_META_STRING: st = eng_h5_write_string(g, m->key, m->string); break;
        case ENG_META_NUMBERS: st = eng_h5_write_doubles(g, m->key, m->numbers, m->count); break;
        case ENG_META_TABLE: {
            hid_t sub = eng_h5_group_create(g, m->key);
            if (sub < 0) {
                st = eng_h5_error(ENG_EIO, eng_h5_file_of(g), "cannot create group %s/%s",
                                  eng_h5_path_of(g), m->key);
                break;
            }
            st = eng_h5_write_meta(sub, m);
            H5Gclose(sub);
            break;
        }
        }
    }
    return st;
}

typedef struct meta_walk {
    eng_meta *table;
    eng_status st;
    bool vlen; /* variable-length strings allowed (the file passed the audit for them) */
} meta_walk;

/* One attribute of a /meta group as an entry; types the tree cannot hold are skipped. */
static herr_t read_meta_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    (void)info;
    meta_walk *w = data;
    if (strcmp(name, "attrs_crc32") == 0) /* the checksum of the others (hdf5_audit.c) */
        return 0;
    hid_t attr = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t type = attr >= 0 ? H5Aget_type(attr) : -1, space = attr >= 0 ? H5Aget_space(attr) : -1;
    if (type < 0 || space < 0) {
        w->st = eng_h5_error(ENG_EFORMAT, eng_h5_file_of(loc), "cannot read attribute '%s' of %s",
                             name, eng_h5_path_of(loc));
        goto done;
    }
    bool scalar = H5Sget_simple_extent_type(space) == H5S_SCALAR;
    hssize_t n = H5Sget_simple_extent_npoints(space);
    H5T_class_t cls = H5Tget_class(type);
    eng_meta *m;
    if (cls == H5T_ENUM && scalar && H5Tget_size(type) == 1 && H5Tget_nmembers(type) == 2) {
        hid_t bt = eng_h5_bool_type();
        int8_t v = 0;
        if (bt < 0 || H5Aread(attr, bt, &v) < 0)
            w->st =
                eng_h5_error(ENG_EFORMAT, eng_h5_file_of(loc), "cannot read attribute '%s'", name);
        else
            w->st = eng_meta_add_boolean(w->table, name, v != 0);
        if (bt >= 0)
            H5Tclose(bt);
    } else if ((cls == H5T_INTEGER || cls == H5T_FLOAT) && scalar) {
        if (cls == H5T_INTEGER)
            w->st = eng_meta_add_integer(w->table, name, 0);
        else
            w->st = eng_meta_add_number(w->table, name, 0);
        m = w->st ? NULL : w->table->items[w->table->nitems - 1];
        if (m && H5Aread(attr, cls == H5T_INTEGER ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE,
                         cls == H5T_INTEGER ? (void *)&m->integer : (void *)&m->number) < 0)
            w->st =
                eng_h5_error(ENG_EFORMAT, eng_h5_file_of(loc), "cannot read attribute '%s'", name);
    } else if (cls == H5T_INTEGER || cls == H5T_FLOAT) {
        w->st = eng_meta_add(w->table, name, ENG_META_NUMBERS, &m);
        if (!w->st && !(m->numbers = malloc(sizeof(double) * (size_t)(n ? n : 1))))
            w->st = eng_error(ENG_ENOMEM, "%s: out of memory", eng_h5_file_of(loc));
        if (!w->st) {
            m->count = n;
            if (H5Aread(attr, H5T_NATIVE_DOUBLE, m->numbers) < 0)
                w->st = eng_h5_error(ENG_EFORMAT, eng_h5_file_of(loc), "cannot read attribute '%s'",
                                     name);
        }
    } else if (cls == H5T_STRING && scalar) {
        char *s = NULL;
        if (w->vlen && H5Tis_variable_str(type) > 0)
            w->st = eng_h5_read_vlen_string(loc, name, &s);
        else
            w->st = eng_h5_read_string(loc, name, &s);
        if (!w->st)
            w->st = eng_meta_add_string(w->table, name, s);
        free(s);
    }
done:
    if (type >= 0)
        H5Tclose(type);
    if (space >= 0)
        H5Sclose(space);
    if (attr >= 0)
        H5Aclose(attr);
    return w->st ? -1 : 0;
}

static eng_status read_meta_group(hid_t g, eng_meta *t, int depth, bool recurse, bool vlen)
{
    meta_walk w = {t, ENG_OK, vlen};
    hsize_t idx = 0;
    if (depth > ENG_META_MAX_DEPTH)
        return eng_error(ENG_EFORMAT, "%s: %s is nested deeper than %d tables", eng_h5_file_of(g),
                         eng_h5_path_of(g), ENG_META_MAX_DEPTH);
    if (H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_INC, &idx, read_meta_attr, &w) < 0 && !w.st)
        w.st = eng_h5_error(ENG_EFORMAT, eng_h5_file_of(g), "cannot list the attributes of %s",
                            eng_h5_path_of(g));
    H5G_info_t info;
    if (!w.st && H5Gget_info(g, &info) < 0)
        w.st = eng_h5_error(ENG_EFORMAT, eng_h5_file_of(g), "cannot list %s", eng_h5_path_of(g));
    for (hsize_t k = 0; recurse && !w.st && k < info.nlinks; k++) {
        char name[256];
        if (H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, k, name, sizeof name,
                               H5P_DEFAULT) < 0) {
            w.st =
                eng_h5_error(ENG_EFORMAT, eng_h5_file_of(g), "cannot list %s", eng_h5_path_of(g));
            break;
        }
        hid_t obj = H5Oopen(g, name, H5P_DEFAULT);
        if (obj >= 0 && H5Iget_type(obj) == H5I_GROUP) {
            eng_meta *sub;
            w.st = eng_meta_add(t, name, ENG_META_TABLE, &sub);
            if (!w.st)
                w.st = read_meta_group(obj, sub, depth + 1, true, vlen);
        }
        if (obj >= 0)
            H5Oclose(obj);
    }
    return w.st;
}

eng_status eng_h5_read_meta(hid_t g, eng_meta *t, bool recurse)
{
    return read_meta_group(g, t, 0, recurse, false);
}

eng_status eng_h5_read_meta_vlen(hid_t g, eng_meta *t, bool recurse)
{
    return read_meta_group(g, t, 0, recurse, true);
}
