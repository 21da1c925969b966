/* Settings of a layer kind: values checked against the kind's declaration (registry.h). The
 * same checks serve the Lua constructors and the configs read from checkpoints, so a value a
 * file holds is refused exactly when the same value given as an argument would be. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "registry.h"

static const char *const type_names[] = {"an integer", "a number", "a boolean", "a string",
                                         "a list of integers"};

void eng_settings_init_decl(eng_settings *s, const char *name, const eng_setting *decl)
{
    memset(s, 0, sizeof *s);
    s->name = name;
    s->decl = decl;
    for (const eng_setting *d = decl; d && d->name; d++)
        s->count++;
}

void eng_settings_init(eng_settings *s, const eng_layer_kind *kind)
{
    eng_settings_init_decl(s, kind->name, kind->settings);
    s->kind = kind;
}

const eng_setting *eng_settings_find(const eng_settings *s, const char *key, int *index)
{
    for (int i = 0; i < s->count; i++) {
        if (strcmp(s->decl[i].name, key) == 0) {
            if (index)
                *index = i;
            return &s->decl[i];
        }
    }
    return NULL;
}

/* The kind's setting names, "in_features, out_features, bias", for messages. */
static void list_names(const eng_settings *s, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < s->count && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "", s->decl[i].name);
    if (s->count == 0)
        snprintf(buf, size, "none");
}

/* The declaration of key, for a value of the given kind of type; NULL after setting the
 * error. */
static const eng_setting *lookup(eng_settings *s, const char *key, eng_setting_value **v)
{
    int i;
    const eng_setting *d = eng_settings_find(s, key, &i);
    if (!d) {
        char names[512];
        list_names(s, names, sizeof names);
        eng_error(ENG_EARG, "%s: unknown setting '%s' (its settings: %s)", s->name, key, names);
        return NULL;
    }
    if (s->values[i].given) {
        eng_error(ENG_EARG, "%s: setting '%s' given twice", s->name, key);
        return NULL;
    }
    *v = &s->values[i];
    return d;
}

static eng_status wrong_type(const eng_settings *s, const eng_setting *d, const char *got)
{
    return eng_error(ENG_EARG, "%s: setting '%s' must be %s, got %s", s->name, d->name,
                     type_names[d->type], got);
}

/* Checks one number against d: integral for INT and INTS, finite, within bounds. */
static eng_status check_number(const eng_settings *s, const eng_setting *d, double v)
{
    bool integral = d->type == ENG_SETTING_INT || d->type == ENG_SETTING_INTS;
    if (!isfinite(v))
        return eng_error(ENG_EARG, "%s: setting '%s' must be finite, got %g", s->name, d->name, v);
    if (integral && v != floor(v))
        return eng_error(ENG_EARG, "%s: setting '%s' must be an integer, got %.17g", s->name,
                         d->name, v);
    if (v < d->min || v > d->max)
        return eng_error(ENG_EARG, "%s: setting '%s' must be between %.17g and %.17g, got %.17g",
                         s->name, d->name, d->min, d->max, v);
    return ENG_OK;
}

eng_status eng_settings_set_number(eng_settings *s, const char *key, double value)
{
    eng_setting_value *v;
    const eng_setting *d = lookup(s, key, &v);
    if (!d)
        return ENG_EARG;
    if (d->type == ENG_SETTING_INTS)
        return eng_settings_set_ints(s, key, &value, 1);
    if (d->type != ENG_SETTING_INT && d->type != ENG_SETTING_NUMBER)
        return wrong_type(s, d, "a number");
    eng_status st = check_number(s, d, value);
    if (st)
        return st;
    v->number = value;
    v->given = true;
    return ENG_OK;
}

eng_status eng_settings_set_ints(eng_settings *s, const char *key, const double *values, int n)
{
    eng_setting_value *v;
    const eng_setting *d = lookup(s, key, &v);
    if (!d)
        return ENG_EARG;
    if (d->type != ENG_SETTING_INTS)
        return wrong_type(s, d, "a list");
    int want = d->len ? d->len : n;
    if (n < 1 || n > ENG_SETTING_INTS_MAX || (n != want && n != 1))
        return d->len ? eng_error(ENG_EARG,
                                  "%s: setting '%s' must be an integer or a list of "
                                  "%d integers, got a list of %d",
                                  s->name, d->name, d->len, n)
                      : eng_error(ENG_EARG,
                                  "%s: setting '%s' must be a list of 1 to %d "
                                  "integers, got %d",
                                  s->name, d->name, ENG_SETTING_INTS_MAX, n);
    for (int k = 0; k < n; k++) {
        eng_status st = check_number(s, d, values[k]);
        if (st)
            return st;
    }
    for (int k = 0; k < want; k++)
        v->ints[k] = (int64_t)values[n == 1 ? 0 : k];
    v->n = want;
    v->given = true;
    return ENG_OK;
}

eng_status eng_settings_set_bool(eng_settings *s, const char *key, bool value)
{
    eng_setting_value *v;
    const eng_setting *d = lookup(s, key, &v);
    if (!d)
        return ENG_EARG;
    if (d->type != ENG_SETTING_BOOL)
        return wrong_type(s, d, "a boolean");
    v->number = value;
    v->given = true;
    return ENG_OK;
}

eng_status eng_settings_set_string(eng_settings *s, const char *key, const char *value)
{
    eng_setting_value *v;
    const eng_setting *d = lookup(s, key, &v);
    if (!d)
        return ENG_EARG;
    if (d->type != ENG_SETTING_STRING)
        return wrong_type(s, d, "a string");
    size_t n = strlen(value);
    if (n == 0 || n >= ENG_NAME_MAX)
        return eng_error(ENG_EARG, "%s: setting '%s' must be 1 to %d bytes long, got %zu", s->name,
                         d->name, ENG_NAME_MAX - 1, n);
    memcpy(v->string, value, n + 1);
    v->given = true;
    return ENG_OK;
}

eng_status eng_settings_set_int(eng_settings *s, const char *key, int64_t value)
{
    return eng_settings_set_number(s, key, (double)value);
}

eng_status eng_settings_set_int_list(eng_settings *s, const char *key, const int *values, int n)
{
    double d[ENG_SETTING_INTS_MAX] = {0};
    if (n < 1 || n > ENG_SETTING_INTS_MAX)
        return eng_settings_set_ints(s, key, d, n); /* refused with the message */
    for (int k = 0; k < n; k++)
        d[k] = values[k];
    return eng_settings_set_ints(s, key, d, n);
}

eng_status eng_settings_finish(eng_settings *s)
{
    for (int i = 0; i < s->count; i++) {
        const eng_setting *d = &s->decl[i];
        eng_setting_value *v = &s->values[i];
        if (v->given)
            continue;
        if (d->flags & ENG_SETTING_REQUIRED)
            return eng_error(ENG_EARG, "%s: setting '%s' (%s) is required", s->name, d->name,
                             type_names[d->type]);
        switch (d->type) {
        case ENG_SETTING_INTS:
            v->n = d->len ? d->len : 1;
            for (int k = 0; k < v->n; k++)
                v->ints[k] = (int64_t)d->def;
            break;
        case ENG_SETTING_STRING:
            snprintf(v->string, sizeof v->string, "%s", d->def_string ? d->def_string : "");
            break;
        default: v->number = d->def;
        }
    }
    return ENG_OK;
}

static const eng_setting_value *value_of(const eng_settings *s, const char *key,
                                         eng_setting_type type)
{
    static const eng_setting_value none;
    int i;
    const eng_setting *d = eng_settings_find(s, key, &i);
    if (!d || d->type != type) {
        assert(!"a setting the kind does not declare, or of another type");
        return &none;
    }
    return &s->values[i];
}

int eng_settings_int(const eng_settings *s, const char *key)
{
    return (int)value_of(s, key, ENG_SETTING_INT)->number;
}

double eng_settings_number(const eng_settings *s, const char *key)
{
    return value_of(s, key, ENG_SETTING_NUMBER)->number;
}

bool eng_settings_bool(const eng_settings *s, const char *key)
{
    return value_of(s, key, ENG_SETTING_BOOL)->number != 0;
}

const char *eng_settings_string(const eng_settings *s, const char *key)
{
    return value_of(s, key, ENG_SETTING_STRING)->string;
}

int eng_settings_ints(const eng_settings *s, const char *key, int *out, int max)
{
    const eng_setting_value *v = value_of(s, key, ENG_SETTING_INTS);
    for (int k = 0; k < v->n && k < max; k++)
        out[k] = (int)v->ints[k];
    return v->n;
}
