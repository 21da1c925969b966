/* The criterion of a saved check: a loss kind's settings (NLLLoss's reduction and
 * ignore_index, HuberLoss's delta, a plugin loss's own) are written as
 * meta.gradcheck.criterion_settings, one entry per declared setting, and read back through
 * the kind's declaration, so a file's value is refused exactly when the same value given to
 * the constructor would be. Reports saved before the settings were stored read with the kind's
 * defaults. */
#include <string.h>

#include "report_criterion.h"

const eng_loss_kind *gc_criterion_kind(const char *ctor)
{
    for (int i = 0, n = eng_loss_kind_count(); i < n; i++)
        if (strcmp(eng_loss_kind_at(i)->ctor, ctor) == 0)
            return eng_loss_kind_at(i);
    return NULL;
}

static eng_status add_value(eng_meta *t, const eng_setting *d, const eng_setting_value *v)
{
    switch (d->type) {
    case ENG_SETTING_INT: return eng_meta_add_integer(t, d->name, (int64_t)v->number);
    case ENG_SETTING_NUMBER: return eng_meta_add_number(t, d->name, v->number);
    case ENG_SETTING_BOOL: return eng_meta_add_boolean(t, d->name, v->number != 0);
    case ENG_SETTING_STRING: return eng_meta_add_string(t, d->name, v->string);
    case ENG_SETTING_INTS: {
        double values[ENG_SETTING_INTS_MAX];
        for (int k = 0; k < v->n; k++)
            values[k] = (double)v->ints[k];
        return eng_meta_add_numbers(t, d->name, values, v->n);
    }
    }
    return eng_error(ENG_EARG, "criterion setting '%s': unknown type", d->name);
}

eng_status gc_criterion_write(eng_meta *g, const eng_gc_check_spec *s)
{
    const eng_settings *cs = &s->criterion_settings;
    if (!cs->decl || cs->count == 0)
        return ENG_OK;
    const eng_loss_kind *kind = gc_criterion_kind(s->criterion);
    if (!kind || kind->settings != cs->decl)
        return eng_error(ENG_EARG, "criterion_settings are %s's, not those of criterion '%s'",
                         cs->name ? cs->name : "another kind", s->criterion);
    eng_meta *t = NULL;
    eng_status st = eng_meta_add(g, "criterion_settings", ENG_META_TABLE, &t);
    for (int i = 0; !st && i < cs->count; i++)
        st = add_value(t, &cs->decl[i], &cs->values[i]);
    return st;
}

static eng_status set_value(eng_settings *s, const eng_meta *m)
{
    switch (m->type) {
    case ENG_META_INTEGER: return eng_settings_set_number(s, m->key, (double)m->integer);
    case ENG_META_NUMBER: return eng_settings_set_number(s, m->key, m->number);
    case ENG_META_BOOLEAN: return eng_settings_set_bool(s, m->key, m->boolean);
    case ENG_META_STRING: return eng_settings_set_string(s, m->key, m->string);
    case ENG_META_NUMBERS:
        if (m->count > ENG_SETTING_INTS_MAX)
            return eng_error(ENG_EFORMAT, "'%s' holds %lld numbers (at most %d)", m->key,
                             (long long)m->count, ENG_SETTING_INTS_MAX);
        return eng_settings_set_ints(s, m->key, m->numbers, (int)m->count);
    case ENG_META_TABLE: break;
    }
    return eng_error(ENG_EFORMAT, "'%s' is a table, expected a value", m->key);
}

eng_status gc_criterion_read(const char *path, const eng_meta *g, eng_gc_check_spec *s)
{
    const eng_meta *t = eng_meta_get(g, "criterion_settings");
    if (!t)
        return ENG_OK; /* none, or a file from before they were stored: the defaults */
    const char *where = "meta.gradcheck.criterion_settings";
    if (t->type != ENG_META_TABLE)
        return eng_error(ENG_EFORMAT, "%s: %s is not a table", path, where);
    const eng_loss_kind *kind = s->criterion[0] ? gc_criterion_kind(s->criterion) : NULL;
    if (!kind)
        return eng_error(ENG_EFORMAT, "%s: %s given for criterion '%s', which is not a loss kind",
                         path, where, s->criterion);
    eng_loss_settings_init(&s->criterion_settings, kind);
    eng_status st = ENG_OK;
    for (int i = 0; !st && i < t->nitems; i++)
        st = set_value(&s->criterion_settings, t->items[i]);
    if (!st)
        st = eng_settings_finish(&s->criterion_settings);
    return st ? eng_error_wrap(st, "%s: %s", path, where) : ENG_OK;
}

eng_status gc_criterion_create(const eng_loss_kind *kind, const eng_gc_check_spec *s,
                               eng_loss **out)
{
    eng_settings settings = s->criterion_settings;
    if (settings.decl && settings.decl != kind->settings)
        return eng_error(ENG_EARG, "criterion_settings are %s's, not those of criterion '%s'",
                         settings.name ? settings.name : "another kind", kind->ctor);
    if (!settings.decl)
        eng_loss_settings_init(&settings, kind);
    return eng_loss_create(&settings, out);
}
