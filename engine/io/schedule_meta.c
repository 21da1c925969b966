/* A learning-rate schedule's counters in a checkpoint's meta (a table "schedule"). Here, in
 * io/, because checkpoints know schedules and not the other way round. */
#include <math.h>
#include <string.h>

#include "../optim/schedule.h"
#include "checkpoint.h"

/* The settings of s as (name, value) pairs; returns their count. */
static int settings_of(const eng_schedule *s, const char *names[3], double values[3])
{
    switch (s->kind) {
    case ENG_SCHEDULE_STEP:
        names[0] = "step_size", values[0] = (double)s->step.step_size;
        names[1] = "gamma", values[1] = s->step.gamma;
        return 2;
    case ENG_SCHEDULE_EXPONENTIAL: names[0] = "gamma", values[0] = s->exponential.gamma; return 1;
    case ENG_SCHEDULE_COSINE:
        names[0] = "T_max", values[0] = (double)s->cosine.t_max;
        names[1] = "eta_min", values[1] = s->cosine.eta_min;
        return 2;
    case ENG_SCHEDULE_LINEAR:
        names[0] = "start_factor", values[0] = s->linear.start_factor;
        names[1] = "end_factor", values[1] = s->linear.end_factor;
        names[2] = "total_iters", values[2] = (double)s->linear.total_iters;
        return 3;
    }
    return 0;
}

eng_status eng_schedule_save_meta(const eng_schedule *s, eng_meta *t)
{
    eng_meta *m;
    const char *names[3];
    double values[3];
    int n = settings_of(s, names, values);
    eng_status st = eng_meta_add(t, "schedule", ENG_META_TABLE, &m);
    if (!st)
        st = eng_meta_add_string(m, "kind", eng_schedule_kind_name(s->kind));
    for (int i = 0; i < n && !st; i++)
        st = eng_meta_add_number(m, names[i], values[i]);
    if (!st)
        st = eng_meta_add_number(m, "base_lr", s->base_lr);
    if (!st)
        st = eng_meta_add_integer(m, "last_epoch", s->last_epoch);
    if (!st)
        st = eng_meta_add_number(m, "last_lr", s->last_lr);
    return st;
}

/* The number in field name of m (an integer field reads as its value), or an error. */
static eng_status field_number(const eng_meta *m, const char *name, double *v)
{
    const eng_meta *f = eng_meta_get(m, name);
    if (f && f->type == ENG_META_NUMBER)
        *v = f->number;
    else if (f && f->type == ENG_META_INTEGER)
        *v = (double)f->integer;
    else
        return eng_error(ENG_EFORMAT,
                         "schedule: meta field 'schedule.%s' is %s, expected a "
                         "number",
                         name, f ? "not a number" : "missing");
    return ENG_OK;
}

eng_status eng_schedule_load_meta(eng_schedule *s, const eng_meta *t)
{
    const eng_meta *m = t ? eng_meta_get(t, "schedule") : NULL;
    if (!m || m->type != ENG_META_TABLE)
        return eng_error(ENG_EFORMAT,
                         "schedule: the checkpoint holds no schedule (meta table "
                         "'schedule'; saved with engine.save{..., schedule = sched}?)");
    const eng_meta *kind = eng_meta_get(m, "kind");
    const char *want = eng_schedule_kind_name(s->kind);
    if (!kind || kind->type != ENG_META_STRING || strcmp(kind->string, want) != 0)
        return eng_error(ENG_EFORMAT, "schedule: the checkpoint's schedule is %s, this one is %s",
                         kind && kind->type == ENG_META_STRING ? kind->string : "unnamed", want);
    const char *names[3];
    double values[3], v = 0, base_lr = 0, last_epoch = 0, last_lr = 0;
    int n = settings_of(s, names, values);
    for (int i = 0; i < n; i++) {
        if (field_number(m, names[i], &v))
            return ENG_EFORMAT;
        if (v != values[i])
            return eng_error(ENG_EFORMAT, "schedule: %s %s = %g in the checkpoint, %g here", want,
                             names[i], v, values[i]);
    }
    if (field_number(m, "base_lr", &base_lr) || field_number(m, "last_epoch", &last_epoch) ||
        field_number(m, "last_lr", &last_lr))
        return ENG_EFORMAT;
    if (!(last_epoch >= 0 && last_epoch < 9e15) || !isfinite(base_lr) || !isfinite(last_lr))
        return eng_error(ENG_EFORMAT,
                         "schedule: counters out of range in the checkpoint "
                         "(last_epoch %g, base_lr %g, last_lr %g)",
                         last_epoch, base_lr, last_lr);
    s->base_lr = base_lr;
    s->last_epoch = (int64_t)last_epoch;
    s->last_lr = last_lr;
    return ENG_OK;
}
