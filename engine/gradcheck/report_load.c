/* Saved gradient-check reports (report_io.h), reading: every field used is checked (type,
 * range, sizes) before anything is built from it, and errors name the file and the field. A
 * report saved by the Lua writer that preceded report_io.c reads the same (an option it stored
 * as an integer where C stores a number, such as nsigma = 4, is accepted either way). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_criterion.h"

static const char *type_name(eng_meta_type type)
{
    switch (type) {
    case ENG_META_INTEGER: return "integer";
    case ENG_META_NUMBER: return "number";
    case ENG_META_BOOLEAN: return "boolean";
    case ENG_META_STRING: return "string";
    case ENG_META_NUMBERS: return "list of numbers";
    case ENG_META_TABLE: return "table";
    }
    return "?";
}

/* Entry key of table t (named `where` in messages) of the given type: an integer passes for a
 * number and an empty table for an empty list. *out is NULL when an optional entry is absent. */
static eng_status get(const char *path, const eng_meta *t, const char *where, const char *key,
                      eng_meta_type type, bool optional, const eng_meta **out)
{
    const eng_meta *m = eng_meta_get(t, key);
    *out = m;
    if (!m)
        return optional ? ENG_OK : eng_error(ENG_EFORMAT, "%s: %s.%s is missing", path, where, key);
    if (m->type == type || (type == ENG_META_NUMBER && m->type == ENG_META_INTEGER) ||
        (type == ENG_META_NUMBERS && m->type == ENG_META_TABLE && m->nitems == 0))
        return ENG_OK;
    return eng_error(ENG_EFORMAT, "%s: %s.%s is %s %s, expected a %s", path, where, key,
                     m->type == ENG_META_INTEGER ? "an" : "a", type_name(m->type), type_name(type));
}

static double number_of(const eng_meta *m)
{
    return m->type == ENG_META_INTEGER ? (double)m->integer : m->number;
}

/* The values of a list entry (NULL and 0 for an empty one). */
static int64_t list_of(const eng_meta *m, const double **values)
{
    *values = m->type == ENG_META_NUMBERS ? m->numbers : NULL;
    return m->type == ENG_META_NUMBERS ? m->count : 0;
}

/* An integer entry (or a number with an integral value) in [min, max]. */
static eng_status integer_of(const char *path, const char *where, const eng_meta *m, double min,
                             double max, int64_t *out)
{
    double v = m->type == ENG_META_INTEGER  ? (double)m->integer
               : m->type == ENG_META_NUMBER ? m->number
                                            : NAN;
    if (!(v >= min && v <= max && v == floor(v)))
        return eng_error(ENG_EFORMAT, "%s: %s.%s must be an integer in [%.0f, %.0f]", path, where,
                         m->key, min, max);
    *out = m->type == ENG_META_INTEGER ? m->integer : (int64_t)v;
    return ENG_OK;
}

/* <name>, <name>_shape and <name>_dtype of g as a new tensor. */
static eng_status read_tensor(const char *path, const eng_meta *g, const char *name,
                              eng_tensor **out)
{
    const char *where = "meta.gradcheck";
    char shape_key[32], dtype_key[32];
    snprintf(shape_key, sizeof shape_key, "%s_shape", name);
    snprintf(dtype_key, sizeof dtype_key, "%s_dtype", name);
    const eng_meta *mv, *ms, *md;
    eng_status st = get(path, g, where, name, ENG_META_NUMBERS, false, &mv);
    if (!st)
        st = get(path, g, where, shape_key, ENG_META_NUMBERS, false, &ms);
    if (!st)
        st = get(path, g, where, dtype_key, ENG_META_STRING, false, &md);
    if (st)
        return st;
    const double *values, *dims;
    int64_t count = list_of(mv, &values), ndim = list_of(ms, &dims), shape[ENG_MAX_DIMS];
    if (ndim > ENG_MAX_DIMS)
        return eng_error(ENG_EFORMAT, "%s: %s.%s has %lld dimensions (at most %d)", path, where,
                         shape_key, (long long)ndim, ENG_MAX_DIMS);
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (!(dims[d] >= 0 && dims[d] <= 1e15 && dims[d] == floor(dims[d])))
            return eng_error(ENG_EFORMAT, "%s: %s.%s[%d] is %g, not a size", path, where, shape_key,
                             d + 1, dims[d]);
        shape[d] = (int64_t)dims[d];
        numel = shape[d] && numel > count / shape[d] ? count + 1 : numel * shape[d];
    }
    if (numel != count)
        return eng_error(ENG_EFORMAT,
                         "%s: %s.%s holds %lld values, not the %s its shape %s "
                         "gives",
                         path, where, name, (long long)count, numel > count ? "more" : "fewer",
                         eng_shape_str((int)ndim, shape));
    eng_dtype dtype;
    if (eng_dtype_parse(md->string, &dtype))
        return eng_error(ENG_EFORMAT, "%s: %s.%s is '%s', not a dtype", path, where, dtype_key,
                         md->string);
    st = eng_tensor_new(dtype, (int)ndim, shape, out);
    for (int64_t i = 0; !st && i < count; i++)
        eng_tensor_set_flat(*out, i, values[i]);
    return st;
}

static eng_status verdict_of(const char *path, const char *where, const char *name,
                             eng_gc_verdict *out)
{
    for (int v = ENG_GC_PASS; v <= ENG_GC_KINK; v++) {
        if (strcmp(name, eng_gc_verdict_name((eng_gc_verdict)v)) == 0) {
            *out = (eng_gc_verdict)v;
            return ENG_OK;
        }
    }
    return eng_error(ENG_EFORMAT,
                     "%s: %s.verdict is '%s' (PASS, FAIL, INCONCLUSIVE or KINK "
                     "expected)",
                     path, where, name);
}

/* Option samples, seed, worst or directions into p. */
static eng_status read_integer_option(const char *path, const eng_meta *m, eng_gc_check_spec *p)
{
    const char *k = m->key;
    bool seed = strcmp(k, "seed") == 0, samples = strcmp(k, "samples") == 0;
    int64_t v = 0;
    bool directions = strcmp(k, "directions") == 0;
    eng_status st = integer_of(path, "meta.gradcheck.options", m, seed ? -9e15 : directions,
                               seed || samples ? 9e15
                               : directions    ? ENG_GC_DIRECTIONS_MAX
                                               : 1 << 30,
                               &v);
    if (st)
        return st;
    if (samples)
        p->options.samples = v;
    else if (seed)
        p->options.seed = (uint64_t)v;
    else if (strcmp(k, "worst") == 0)
        p->options.worst = (int)v;
    else
        p->directions = (int)v;
    return ENG_OK;
}

/* One option of meta.gradcheck.options into s->spec. */
static eng_status read_option(const char *path, const eng_meta *m, eng_gc_saved_report *s)
{
    const char *where = "meta.gradcheck.options", *k = m->key;
    eng_gc_check_spec *p = &s->spec;
    if (!strcmp(k, "samples") || !strcmp(k, "seed") || !strcmp(k, "worst") ||
        !strcmp(k, "directions"))
        return read_integer_option(path, m, p);
    if (!strcmp(k, "loss_scale")) {
        double x = m->type == ENG_META_INTEGER || m->type == ENG_META_NUMBER ? number_of(m) : NAN;
        if (!(isfinite(x) && x != 0))
            return eng_error(ENG_EFORMAT, "%s: %s.loss_scale must be a finite nonzero number", path,
                             where);
        p->loss_scale = x;
        return ENG_OK;
    }
    if (!strcmp(k, "step") || !strcmp(k, "rtol") || !strcmp(k, "nsigma")) {
        double x = m->type == ENG_META_INTEGER || m->type == ENG_META_NUMBER ? number_of(m) : NAN;
        if (!(x >= 0 && isfinite(x)))
            return eng_error(ENG_EFORMAT, "%s: %s.%s must be a number >= 0", path, where, k);
        *(k[0] == 's' ? &p->options.step : k[0] == 'r' ? &p->options.rtol : &p->options.nsigma) = x;
        return ENG_OK;
    }
    if (!strcmp(k, "input") || !strcmp(k, "full") || !strcmp(k, "localise")) {
        if (m->type != ENG_META_BOOLEAN)
            return eng_error(ENG_EFORMAT, "%s: %s.%s must be a boolean", path, where, k);
        *(k[0] == 'i'   ? &p->input
          : k[0] == 'f' ? &p->options.full
                        : &p->options.no_localise) = k[0] == 'l' ? !m->boolean : m->boolean;
        return ENG_OK;
    }
    if (strcmp(k, "only") && strcmp(k, "exclude") && strcmp(k, "mode"))
        return eng_error(ENG_EFORMAT, "%s: %s.%s is not an option of the checker", path, where, k);
    if (m->type != ENG_META_STRING)
        return eng_error(ENG_EFORMAT, "%s: %s.%s must be a string", path, where, k);
    if (k[0] == 'o' || k[0] == 'e') {
        char **own = k[0] == 'o' ? &s->only : &s->exclude;
        free(*own);
        if (!(*own = strdup(m->string)))
            return eng_error(ENG_ENOMEM, "%s: out of memory", path);
        *(k[0] == 'o' ? &p->options.only : &p->options.exclude) = *own;
    } else if (!strcmp(m->string, "element") || !strcmp(m->string, "directional")) {
        p->directional = strcmp(m->string, "directional") == 0;
    } else {
        return eng_error(ENG_EFORMAT,
                         "%s: %s.mode is '%s' (expected 'element' or "
                         "'directional')",
                         path, where, m->string);
    }
    return ENG_OK;
}

/* tensors/<name> into t. */
static eng_status read_saved_tensor(const char *path, const eng_meta *e, eng_gc_saved_tensor *t)
{
    char where[64 + ENG_PARAM_NAME_MAX];
    snprintf(where, sizeof where, "meta.gradcheck.tensors.%s", e->key);
    if (e->type != ENG_META_TABLE || strlen(e->key) >= sizeof t->name)
        return eng_error(ENG_EFORMAT, "%s: %s is not a tensor's table (or its name is too long)",
                         path, where);
    snprintf(t->name, sizeof t->name, "%s", e->key);
    const eng_meta *mv, *md, *ms, *lists[4];
    static const char *const names[4] = {"numerical", "analytic", "error", "index"};
    eng_status st = get(path, e, where, "verdict", ENG_META_STRING, false, &mv);
    if (!st)
        st = get(path, e, where, "diagnosis", ENG_META_STRING, false, &md);
    if (!st)
        st = get(path, e, where, "step", ENG_META_NUMBER, false, &ms);
    for (int i = 0; i < 4 && !st; i++)
        st = get(path, e, where, names[i], ENG_META_NUMBERS, false, &lists[i]);
    if (!st)
        st = verdict_of(path, where, mv->string, &t->verdict);
    if (st)
        return st;
    if (strlen(md->string) >= sizeof t->diagnosis)
        return eng_error(ENG_EFORMAT, "%s: %s.diagnosis is too long (%zu bytes, at most %zu)", path,
                         where, strlen(md->string), sizeof t->diagnosis - 1);
    snprintf(t->diagnosis, sizeof t->diagnosis, "%s", md->string);
    t->step = number_of(ms);
    const double *v[4];
    int64_t n[4];
    for (int i = 0; i < 4; i++)
        n[i] = list_of(lists[i], &v[i]);
    int64_t ndim = n[0] ? n[3] / n[0] : 0;
    if (n[1] != n[0] || n[2] != n[0] || n[0] > 1 << 20 || ndim * n[0] != n[3] ||
        ndim > ENG_MAX_DIMS)
        return eng_error(ENG_EFORMAT,
                         "%s: %s holds %lld numerical, %lld analytic, %lld error "
                         "values and %lld coordinates, which do not make a list of elements",
                         path, where, (long long)n[0], (long long)n[1], (long long)n[2],
                         (long long)n[3]);
    t->nworst = (int)n[0];
    t->ndim = (int)ndim;
    t->numerical = malloc(sizeof(double) * (size_t)(3 * n[0] + 1));
    t->index = malloc(sizeof(int64_t) * (size_t)(n[3] + 1));
    if (!t->numerical || !t->index)
        return eng_error(ENG_ENOMEM, "%s: out of memory for %s", path, where);
    t->analytic = t->numerical + n[0];
    t->error = t->numerical + 2 * n[0];
    for (int64_t k = 0; k < n[0]; k++) {
        t->numerical[k] = v[0][k];
        t->analytic[k] = v[1][k];
        t->error[k] = v[2][k];
    }
    for (int64_t k = 0; k < n[3]; k++) {
        if (!(v[3][k] >= 1 && v[3][k] <= 1e15 && v[3][k] == floor(v[3][k])))
            return eng_error(ENG_EFORMAT, "%s: %s.index[%lld] is %g, not a 1-based coordinate",
                             path, where, (long long)k + 1, v[3][k]);
        t->index[k] = (int64_t)v[3][k] - 1;
    }
    return ENG_OK;
}

/* The report's own fields: mode, verdict, dtype, loss. */
static eng_status read_header(const char *path, const eng_meta *g, eng_gc_saved_report *s)
{
    const char *where = "meta.gradcheck";
    const eng_meta *mode, *verdict, *dtype, *loss;
    eng_status st = get(path, g, where, "mode", ENG_META_STRING, true, &mode);
    if (!st)
        st = get(path, g, where, "verdict", ENG_META_STRING, false, &verdict);
    if (!st)
        st = get(path, g, where, "dtype", ENG_META_STRING, false, &dtype);
    if (!st)
        st = get(path, g, where, "loss", ENG_META_NUMBER, false, &loss);
    if (!st)
        st = verdict_of(path, where, verdict->string, &s->verdict);
    if (st)
        return st;
    if (mode && strlen(mode->string) >= sizeof s->mode)
        return eng_error(ENG_EFORMAT, "%s: %s.mode is too long", path, where);
    snprintf(s->mode, sizeof s->mode, "%s", mode ? mode->string : "element-wise");
    if (eng_dtype_parse(dtype->string, &s->dtype))
        return eng_error(ENG_EFORMAT, "%s: %s.dtype is '%s', not a dtype", path, where,
                         dtype->string);
    s->loss = number_of(loss);
    return ENG_OK;
}

/* Everything of meta.gradcheck (g) but the model. */
static eng_status read_report(const char *path, const eng_meta *g, eng_gc_saved_report *s)
{
    const char *where = "meta.gradcheck";
    const eng_meta *options, *criterion, *tensors;
    s->spec.directions = 16; /* Lua's default, when the options do not say */
    eng_status st = read_header(path, g, s);
    if (!st)
        st = read_tensor(path, g, "x", &s->spec.x);
    if (!st)
        st = get(path, g, where, "options", ENG_META_TABLE, true, &options);
    for (int i = 0; !st && options && i < options->nitems; i++)
        st = read_option(path, options->items[i], s);
    if (!st)
        st = get(path, g, where, "criterion", ENG_META_STRING, true, &criterion);
    if (!st && criterion && strlen(criterion->string) >= sizeof s->spec.criterion)
        st = eng_error(ENG_EFORMAT, "%s: %s.criterion is too long", path, where);
    if (!st && criterion)
        snprintf(s->spec.criterion, sizeof s->spec.criterion, "%s", criterion->string);
    if (!st && criterion)
        st = gc_criterion_read(path, g, &s->spec);
    if (!st && criterion)
        st = read_tensor(path, g, "y", &s->spec.y);
    if (!st)
        st = get(path, g, where, "tensors", ENG_META_TABLE, false, &tensors);
    if (st)
        return st;
    s->tensors = calloc((size_t)tensors->nitems + 1, sizeof *s->tensors);
    if (!s->tensors)
        return eng_error(ENG_ENOMEM, "%s: out of memory", path);
    for (int i = 0; !st && i < tensors->nitems; i++, s->ntensors++)
        st = read_saved_tensor(path, tensors->items[i], &s->tensors[i]);
    return st;
}

eng_status eng_gc_report_load(const char *path, eng_model *model, eng_gc_saved_report **out)
{
    *out = NULL;
    bool borrowed = model != NULL;
    eng_gc_saved_report *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return eng_error(ENG_ENOMEM, "%s: out of memory", path);
    }
    eng_checkpoint *ck = NULL;
    eng_status st = eng_checkpoint_open(path, &ck);
    if (!st)
        st = eng_checkpoint_read_meta(ck, &s->meta);
    if (!st) {
        s->stored = eng_meta_get(s->meta, "gradcheck");
        if (!s->stored || s->stored->type != ENG_META_TABLE)
            st = eng_error(ENG_EFORMAT,
                           "%s: not a saved gradient-check report (no "
                           "meta.gradcheck)",
                           path);
    }
    if (!st)
        st = read_report(path, s->stored, s);
    if (!st && borrowed) /* a model of the caller's: the file's weights go into it */
        st = eng_checkpoint_read_model(ck, model);
    eng_checkpoint_close(ck);
    if (!st && !borrowed)
        st = eng_checkpoint_load_model(path, &model);
    if (!st) {
        s->spec.model = model;
        s->owns_model = !borrowed;
    }
    if (st) {
        eng_gc_saved_report_free(s);
        return st;
    }
    *out = s;
    return ENG_OK;
}

void eng_gc_saved_report_free(eng_gc_saved_report *saved)
{
    if (!saved)
        return;
    for (int i = 0; i < saved->ntensors; i++) {
        free(saved->tensors[i].numerical); /* analytic and error share its block */
        free(saved->tensors[i].index);
    }
    free(saved->tensors);
    if (saved->owns_model)
        eng_model_release(saved->spec.model);
    eng_tensor_release(saved->spec.x);
    eng_tensor_release(saved->spec.y);
    eng_meta_free(saved->meta);
    free(saved->only);
    free(saved->exclude);
    free(saved->path);
    free(saved);
}
