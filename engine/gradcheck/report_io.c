/* Saved gradient-check reports (report_io.h), writing and replaying: the writer builds the
 * /meta/gradcheck table the Lua binding used to build, field for field. Reading is in
 * report_load.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_criterion.h"

/* A list of numbers: a float64 attribute, or an empty group for an empty list. */
static eng_status add_list(eng_meta *t, const char *key, const double *v, int64_t n)
{
    return n > 0 ? eng_meta_add_numbers(t, key, v, n) : eng_meta_add(t, key, ENG_META_TABLE, NULL);
}

/* <name>, <name>_shape, <name>_dtype: t's values in row-major order, its shape and dtype. */
static eng_status add_tensor(eng_meta *g, const char *name, const eng_tensor *t)
{
    int64_t n = eng_tensor_numel(t);
    double *v = malloc(sizeof *v * (size_t)(n + 1)), shape[ENG_MAX_DIMS];
    if (!v)
        return eng_error(ENG_ENOMEM, "gradcheck save: out of memory for %s", name);
    for (int64_t i = 0; i < n; i++)
        v[i] = eng_tensor_get_flat(t, i);
    for (int d = 0; d < t->ndim; d++)
        shape[d] = (double)t->shape[d];
    char key[32];
    eng_status st = add_list(g, name, v, n);
    free(v);
    snprintf(key, sizeof key, "%s_shape", name);
    if (!st)
        st = add_list(g, key, shape, t->ndim);
    snprintf(key, sizeof key, "%s_dtype", name);
    if (!st)
        st = eng_meta_add_string(g, key, eng_dtype_name(t->dtype));
    return st;
}

/* The options that differ from their defaults (the others replay the same without them). */
static eng_status add_options(eng_meta *g, const eng_gc_check_spec *s)
{
    const eng_gc_options *p = &s->options;
    eng_meta *o;
    eng_status st = eng_meta_add(g, "options", ENG_META_TABLE, &o);
    if (!st && p->samples)
        st = eng_meta_add_integer(o, "samples", p->samples);
    if (!st && p->seed)
        st = eng_meta_add_integer(o, "seed", (int64_t)p->seed);
    if (!st && p->step)
        st = eng_meta_add_number(o, "step", p->step);
    if (!st && p->rtol)
        st = eng_meta_add_number(o, "rtol", p->rtol);
    if (!st && p->nsigma)
        st = eng_meta_add_number(o, "nsigma", p->nsigma);
    if (!st && p->worst)
        st = eng_meta_add_integer(o, "worst", p->worst);
    if (!st && p->only)
        st = eng_meta_add_string(o, "only", p->only);
    if (!st && s->input)
        st = eng_meta_add_boolean(o, "input", true);
    if (!st && s->directional)
        st = eng_meta_add_string(o, "mode", "directional");
    if (!st && s->directional)
        st = eng_meta_add_integer(o, "directions", s->directions);
    if (!st && p->exclude)
        st = eng_meta_add_string(o, "exclude", p->exclude);
    if (!st && p->full)
        st = eng_meta_add_boolean(o, "full", true);
    if (!st && p->no_localise)
        st = eng_meta_add_boolean(o, "localise", false);
    if (!st && s->loss_scale != 0 && s->loss_scale != 1)
        st = eng_meta_add_number(o, "loss_scale", s->loss_scale);
    return st;
}

/* tensors/<name>: the verdict, diagnosis, step and worst elements (1-based coordinates). */
static eng_status add_tensor_report(eng_meta *tensors, const eng_gc_tensor_report *t)
{
    eng_meta *e;
    eng_status st = eng_meta_add(tensors, t->name, ENG_META_TABLE, &e);
    if (!st)
        st = eng_meta_add_string(e, "verdict", eng_gc_verdict_name(t->verdict));
    if (!st)
        st = eng_meta_add_string(e, "diagnosis", t->diagnosis);
    if (!st)
        st = eng_meta_add_number(e, "step", t->step);
    if (st)
        return st;
    size_t n = (size_t)t->nworst;
    double *v = malloc(sizeof *v * (3 * n + n * (size_t)t->ndim + 1));
    if (!v)
        return eng_error(ENG_ENOMEM, "gradcheck save: out of memory for %s", t->name);
    double *num = v, *ana = v + n, *err = v + 2 * n, *idx = v + 3 * n;
    for (size_t k = 0; k < n; k++) {
        const eng_gc_element *w = &t->worst[k];
        num[k] = w->numerical;
        ana[k] = w->analytic;
        err[k] = w->error;
        int64_t flat = w->index;
        for (int d = t->ndim - 1; d >= 0; d--) {
            double coordinate = t->shape[d] ? (double)(flat % t->shape[d] + 1) : 1;
            idx[k * (size_t)t->ndim + (size_t)d] = coordinate;
            flat = t->shape[d] ? flat / t->shape[d] : 0;
        }
    }
    st = add_list(e, "numerical", num, (int64_t)n);
    if (!st)
        st = add_list(e, "analytic", ana, (int64_t)n);
    if (!st)
        st = add_list(e, "error", err, (int64_t)n);
    if (!st)
        st = add_list(e, "index", idx, (int64_t)(n * (size_t)t->ndim));
    free(v);
    return st;
}

/* The whole /meta tree of a saved report. */
static eng_status build_meta(const eng_gc_check_spec *s, const eng_gc_report *r, eng_meta **out)
{
    eng_meta *root = NULL, *g = NULL, *tensors = NULL;
    eng_status st = eng_meta_new(&root);
    if (!st)
        st = eng_meta_add(root, "gradcheck", ENG_META_TABLE, &g);
    if (!st && r->mode && r->mode[0])
        st = eng_meta_add_string(g, "mode", r->mode);
    if (!st)
        st = eng_meta_add_string(g, "verdict", eng_gc_verdict_name(r->verdict));
    if (!st)
        st = eng_meta_add_number(g, "loss", r->loss);
    if (!st)
        st = eng_meta_add_string(g, "dtype", eng_dtype_name(r->dtype));
    if (!st)
        st = add_tensor(g, "x", s->x);
    if (!st)
        st = add_options(g, s);
    if (!st && s->criterion[0])
        st = eng_meta_add_string(g, "criterion", s->criterion);
    if (!st && s->criterion[0])
        st = gc_criterion_write(g, s);
    if (!st && s->criterion[0])
        st = add_tensor(g, "y", s->y);
    if (!st)
        st = eng_meta_add(g, "tensors", ENG_META_TABLE, &tensors);
    for (int i = 0; !st && i < r->ntensors; i++)
        st = add_tensor_report(tensors, &r->tensors[i]);
    if (!st) /* as engine.save writes them */
        st = eng_meta_add_integer(root, "step", 0);
    if (!st)
        st = eng_meta_add_integer(root, "epoch", 0);
    if (st) {
        eng_meta_free(root);
        return st;
    }
    *out = root;
    return ENG_OK;
}

eng_status eng_gc_report_save(const char *path, const eng_gc_check_spec *spec,
                              const eng_gc_report *report)
{
    if (!spec->model || !spec->x)
        return eng_error(ENG_EARG,
                         "gradcheck save '%s': the check's model and batch x are "
                         "required",
                         path);
    if (spec->criterion[0] && !spec->y)
        return eng_error(ENG_EARG, "gradcheck save '%s': criterion %s without its target y", path,
                         spec->criterion);
    eng_meta *meta = NULL;
    eng_checkpoint *ck = NULL;
    eng_status st = build_meta(spec, report, &meta);
    if (!st)
        st = eng_checkpoint_create(path, &ck);
    if (!st)
        st = eng_checkpoint_write_model(ck, spec->model);
    if (!st)
        st = eng_checkpoint_write_rng(ck, eng_rng_global(), spec->model);
    if (!st)
        st = eng_checkpoint_write_meta(ck, meta);
    if (!st) {
        st = eng_checkpoint_commit(ck); /* frees ck in every case */
        ck = NULL;
    }
    eng_checkpoint_close(ck);
    eng_meta_free(meta);
    return st;
}

/* The criterion a saved report names: a loss kind with its saved settings. */
static eng_status new_criterion(const eng_gc_saved_report *s, eng_loss **out)
{
    const char *c = s->spec.criterion;
    const eng_loss_kind *kind = c[0] ? gc_criterion_kind(c) : NULL;
    if (kind)
        return gc_criterion_create(kind, &s->spec, out);
    if (strcmp(c, ENG_GC_CRITERION_LUA) == 0)
        return eng_error(ENG_EARG,
                         "%s: meta.gradcheck.criterion is '%s': the check's criterion "
                         "was written in Lua, which a file cannot hold; give it to the replay "
                         "(gradcheck.replay(path, model or nil, criterion) in Lua)",
                         s->path, c);
    if (!c[0] && !s->spec.y)
        return eng_error(ENG_EFORMAT,
                         "%s: meta.gradcheck.criterion and y are missing: unknown "
                         "criterion and target (a check with a criterion written in Lua, saved "
                         "before such checks recorded both: check again and save)",
                         s->path);
    if (!c[0])
        return eng_error(ENG_EFORMAT,
                         "%s: meta.gradcheck.criterion is missing: unknown "
                         "criterion (give it to the replay: gradcheck.replay(path, model or nil, "
                         "criterion) in Lua)",
                         s->path);
    return eng_error(ENG_EFORMAT,
                     "%s: meta.gradcheck.criterion: unknown criterion '%s' (the "
                     "replay rebuilds the engine's loss kinds; give any other to it: "
                     "gradcheck.replay(path, model or nil, criterion) in Lua)",
                     s->path, c);
}

eng_status eng_gc_replay(eng_gc_saved_report *saved, eng_gc_report **out)
{
    return eng_gc_replay_with(saved, NULL, out);
}

eng_status eng_gc_replay_with(eng_gc_saved_report *saved, eng_loss *criterion, eng_gc_report **out)
{
    const eng_gc_check_spec *p = &saved->spec;
    *out = NULL;
    if (strcmp(saved->mode, "layer-wise") == 0) {
        eng_status st = eng_gc_check_layers(p->model, p->x, &p->options, out);
        return st ? eng_error_wrap(st,
                                   "%s: replaying the saved layer-wise check (meta.gradcheck."
                                   "x and options on the saved model)",
                                   saved->path)
                  : ENG_OK;
    }
    eng_loss *owned = NULL, *scaled = NULL;
    eng_gc_objective *obj = NULL;
    eng_status st = criterion ? ENG_OK : new_criterion(saved, &owned);
    if (!st && !p->y)
        st = eng_error(ENG_EFORMAT, "%s: meta.gradcheck.y is missing (the check's target)",
                       saved->path);
    if (!st && p->loss_scale != 0 && p->loss_scale != 1)
        st = eng_gc_scaled_loss(criterion ? criterion : owned, p->loss_scale, &scaled);
    eng_loss *loss = scaled ? scaled : criterion ? criterion : owned;
    if (st)
        goto done;
    st = eng_gc_model_objective(p->model, loss, p->x, p->y, p->input, &obj);
    if (!st)
        st = p->directional ? eng_gc_check_directions(obj, p->directions, &p->options, out)
                            : eng_gc_check(obj, &p->options, out);
    if (st)
        st = eng_error_wrap(st,
                            "%s: replaying the saved check (meta.gradcheck.x, y, criterion "
                            "and options on the saved model)",
                            saved->path);
done:
    eng_gc_objective_release(obj);
    eng_loss_release(scaled);
    eng_loss_release(owned);
    return st;
}
