/* The kind registry (registry.h): the built-in kinds, listed by the build from their
 * ENG_BUILTIN_KIND lines, and the kinds registered at run time (plugins, the Lua host). */
#include "registry.h"

#include <stdio.h>
#include <string.h>

#include "builtin_kinds.h" /* generated: #define ENG_BUILTIN_KINDS(X) X(conv2d) X(linear) ... */

#define DECLARE_KIND(name) extern const eng_layer_kind eng_kind_##name;
ENG_BUILTIN_KINDS(DECLARE_KIND)
#define LIST_KIND(name) &eng_kind_##name,
static const eng_layer_kind *const builtins[] = {ENG_BUILTIN_KINDS(LIST_KIND) NULL};
#define NBUILTINS ((int)(sizeof builtins / sizeof builtins[0]) - 1)

#define MAX_REGISTERED 256
static const eng_layer_kind *registered[MAX_REGISTERED];
static int nregistered;

int eng_kind_count(void)
{
    return NBUILTINS + nregistered;
}

const eng_layer_kind *eng_kind_at(int i)
{
    if (i < 0 || i >= eng_kind_count())
        return NULL;
    return i < NBUILTINS ? builtins[i] : registered[i - NBUILTINS];
}

const eng_layer_kind *eng_kind_find(const char *name)
{
    for (int i = 0, n = eng_kind_count(); name && i < n; i++)
        if (strcmp(eng_kind_at(i)->name, name) == 0)
            return eng_kind_at(i);
    return NULL;
}

const eng_layer_kind *eng_kind_of(const eng_layer *layer)
{
    for (int i = 0, n = eng_kind_count(); i < n; i++)
        if (eng_kind_at(i)->ops == layer->ops)
            return eng_kind_at(i);
    /* A kind may run layers on variants of its vtable (the Lua layer's): names are unique. */
    return eng_kind_find(layer->ops->kind);
}

static bool is_identifier(const char *s)
{
    if (!s || !(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return false;
    for (; *s; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

/* One setting's declaration: name, type, bounds, default. */
static eng_status check_setting(const char *kind, const eng_setting *decl, const eng_setting *d,
                                int i)
{
    if (!is_identifier(d->name) || strlen(d->name) >= ENG_NAME_MAX)
        return eng_error(ENG_EARG, "kind '%s': setting %d needs a name (a Lua identifier)", kind,
                         i + 1);
    if (!strcmp(d->name, "kind") || !strcmp(d->name, "name") || !strcmp(d->name, "dtype"))
        return eng_error(ENG_EARG, "kind '%s': setting name '%s' is reserved", kind, d->name);
    for (int k = 0; k < i; k++)
        if (strcmp(decl[k].name, d->name) == 0)
            return eng_error(ENG_EARG, "kind '%s': setting '%s' declared twice", kind, d->name);
    if ((unsigned)d->type > ENG_SETTING_INTS)
        return eng_error(ENG_EARG, "kind '%s': setting '%s' has an unknown type %d", kind, d->name,
                         (int)d->type);
    bool numeric =
        d->type == ENG_SETTING_INT || d->type == ENG_SETTING_NUMBER || d->type == ENG_SETTING_INTS;
    bool integral = d->type != ENG_SETTING_NUMBER;
    if (numeric && !(d->min <= d->max))
        return eng_error(ENG_EARG, "kind '%s': setting '%s' has bounds [%g, %g]", kind, d->name,
                         d->min, d->max);
    if (numeric && integral && (d->min < -ENG_SETTING_INT_MAX || d->max > ENG_SETTING_INT_MAX))
        return eng_error(ENG_EARG, "kind '%s': setting '%s' has bounds beyond an int", kind,
                         d->name);
    if (d->type == ENG_SETTING_INTS && (d->len < 0 || d->len > ENG_SETTING_INTS_MAX))
        return eng_error(ENG_EARG, "kind '%s': setting '%s' has length %d (0 to %d)", kind, d->name,
                         d->len, ENG_SETTING_INTS_MAX);
    if (numeric && !(d->flags & ENG_SETTING_REQUIRED) && !(d->def >= d->min && d->def <= d->max))
        return eng_error(ENG_EARG, "kind '%s': setting '%s' defaults to %g, outside [%g, %g]", kind,
                         d->name, d->def, d->min, d->max);
    return ENG_OK;
}

eng_status eng_settings_check_decl(const char *name, const eng_setting *decl)
{
    int n = 0;
    for (const eng_setting *d = decl; d && d->name; d++, n++) {
        if (n == ENG_SETTINGS_MAX)
            return eng_error(ENG_EARG, "kind '%s': more than %d settings", name, ENG_SETTINGS_MAX);
        eng_status st = check_setting(name, decl, d, n);
        if (st)
            return st;
    }
    return ENG_OK;
}

eng_status eng_kind_check(const eng_layer_kind *kind)
{
    if (!kind)
        return eng_error(ENG_EARG, "NULL layer kind");
    if (!kind->name || !kind->name[0] || strlen(kind->name) >= ENG_NAME_MAX)
        return eng_error(ENG_EARG, "a layer kind needs a name of 1 to %d characters",
                         ENG_NAME_MAX - 1);
    const eng_layer_ops *ops = kind->ops;
    const char *missing = !ops                 ? "ops"
                          : !ops->kind         ? "ops->kind"
                          : !ops->output_shape ? "ops->output_shape"
                          : !ops->forward      ? "ops->forward"
                          : !ops->backward     ? "ops->backward"
                          : !ops->clone        ? "ops->clone"
                          : !kind->describe    ? "describe"
                                               : NULL;
    if (missing)
        return eng_error(ENG_EARG, "layer kind '%s' has no %s (a required slot)", kind->name,
                         missing);
    if (strcmp(ops->kind, kind->name) != 0)
        return eng_error(ENG_EARG, "layer kind '%s' has ops->kind '%s' (they must be equal)",
                         kind->name, ops->kind);
    return eng_settings_check_decl(kind->name, kind->settings);
}

eng_status eng_kind_register(const eng_layer_kind *kind)
{
    eng_status st = eng_kind_check(kind);
    if (st)
        return st;
    if (eng_kind_find(kind->name))
        return eng_error(ENG_EARG, "layer kind '%s' is already registered", kind->name);
    if (nregistered == MAX_REGISTERED)
        return eng_error(ENG_ESTATE, "layer kind '%s': more than %d registered kinds", kind->name,
                         MAX_REGISTERED);
    registered[nregistered++] = kind;
    return ENG_OK;
}

eng_status eng_layer_settings(const eng_layer *layer, eng_settings *out)
{
    const eng_layer_kind *kind = eng_kind_of(layer);
    if (!kind)
        return eng_error(ENG_EARG, "%s '%s': kind not registered", layer->ops->kind,
                         eng_layer_label(layer));
    eng_settings_init(out, kind);
    eng_status st = kind->describe(layer, out);
    if (!st)
        st = eng_settings_finish(out);
    return st;
}

eng_status eng_layer_create(eng_settings *s, eng_dtype dtype, eng_rng *rng, eng_layer **out)
{
    *out = NULL;
    const eng_layer_kind *kind = s->kind;
    if (!kind->create)
        return eng_error(ENG_EARG, "layer kind '%s' cannot be created from settings", kind->name);
    if (kind->takes_dtype && !eng_dtype_is_float(dtype))
        return eng_error(ENG_EDTYPE, "%s: dtype %s (f32 or f64 expected)", kind->name,
                         eng_dtype_name(dtype));
    eng_status st = eng_settings_finish(s);
    if (!st)
        st = kind->create(s, dtype, rng, out);
    if (!st && !*out)
        st = eng_error(ENG_ESTATE, "layer kind '%s' created no layer", kind->name);
    return st;
}

/* Appends one value as the repr shows it: 3, 0.2, true, (5, 5), swish. */
static size_t put_value(char *buf, size_t size, const eng_setting *d, const eng_setting_value *v)
{
    switch (d->type) {
    case ENG_SETTING_INT: return (size_t)snprintf(buf, size, "%d", (int)v->number);
    case ENG_SETTING_NUMBER: return (size_t)snprintf(buf, size, "%g", v->number);
    case ENG_SETTING_BOOL: return (size_t)snprintf(buf, size, "%s", v->number ? "true" : "false");
    case ENG_SETTING_STRING: return (size_t)snprintf(buf, size, "%s", v->string);
    case ENG_SETTING_INTS: {
        size_t n = (size_t)snprintf(buf, size, "(");
        for (int k = 0; k < v->n; k++)
            n += (size_t)snprintf(buf + (n < size ? n : size), n < size ? size - n : 0, "%s%lld",
                                  k ? ", " : "", (long long)v->ints[k]);
        return n + (size_t)snprintf(buf + (n < size ? n : size), n < size ? size - n : 0, ")");
    }
    }
    return 0;
}

static bool is_default(const eng_setting *d, const eng_setting_value *v)
{
    switch (d->type) {
    case ENG_SETTING_STRING: return strcmp(v->string, d->def_string ? d->def_string : "") == 0;
    case ENG_SETTING_INTS:
        for (int k = 0; k < v->n; k++)
            if ((double)v->ints[k] != d->def)
                return false;
        return true;
    default: return v->number == d->def;
    }
}

int eng_settings_repr(const eng_settings *s, const char *ctor, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "%s(", ctor);
    bool first = true;
    for (int i = 0; i < s->count; i++) {
        const eng_setting *d = &s->decl[i];
        const eng_setting_value *v = &s->values[i];
        if (!(d->flags & (ENG_SETTING_BARE | ENG_SETTING_SHOWN)) && is_default(d, v))
            continue;
        n += (size_t)snprintf(buf + (n < size ? n : size), n < size ? size - n : 0, "%s%s%s",
                              first ? "" : ", ", d->flags & ENG_SETTING_BARE ? "" : d->name,
                              d->flags & ENG_SETTING_BARE ? "" : "=");
        n += put_value(buf + (n < size ? n : size), n < size ? size - n : 0, d, v);
        first = false;
    }
    n += (size_t)snprintf(buf + (n < size ? n : size), n < size ? size - n : 0, ")");
    return (int)n;
}

int eng_layer_repr(const eng_layer *layer, char *buf, size_t size)
{
    eng_settings s;
    if (eng_layer_settings(layer, &s)) {
        eng_error_clear();
        return snprintf(buf, size, "%s", layer->ops->kind);
    }
    return eng_settings_repr(&s, s.kind->ctor ? s.kind->ctor : s.kind->name, buf, size);
}
