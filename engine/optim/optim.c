#include "optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../parallel.h"

/* Every setting a kind reports must be a finite number: each kind checks its own bounds, and
 * an infinite lr or momentum satisfies "> 0" (PyTorch refuses neither; one step would turn the
 * parameters into inf and NaN). */
static eng_status check_finite(const eng_optimizer *opt)
{
    const char *names[32];
    double values[32];
    int n = opt->ops->hyper ? opt->ops->hyper(opt, names, values, 32) : 0;
    for (int h = 0; h < n && h < 32; h++)
        if (!isfinite(values[h]))
            return eng_error(ENG_EARG, "%s: %s = %g, expected a finite number", opt->ops->kind,
                             names[h], values[h]);
    if (!isfinite(opt->lr))
        return eng_error(ENG_EARG, "%s: lr = %g, expected a finite number", opt->ops->kind,
                         opt->lr);
    return ENG_OK;
}

eng_status eng_optimizer_init_params(eng_optimizer *opt, const eng_param_list *params)
{
    eng_status bad = check_finite(opt);
    if (bad)
        return bad;
    if (!params)
        return eng_error(ENG_EARG, "optimizer: no parameter list");
    int n = params->count;
    opt->params = calloc((size_t)(n ? n : 1), sizeof *opt->params);
    if (!opt->params)
        return eng_error(ENG_ENOMEM, "optimizer: out of memory");
    int nslots = opt->ops->nslots;
    opt->slots = calloc((size_t)(n * nslots > 0 ? n * nslots : 1), sizeof *opt->slots);
    if (!opt->slots)
        return eng_error(ENG_ENOMEM, "optimizer: out of memory");
    for (int i = 0; i < n; i++) {
        eng_optim_param *p = &opt->params[i];
        const eng_named_param *src = &params->params[i];
        snprintf(p->name, sizeof p->name, "%s", src->name);
        eng_status st = eng_tensor_view(src->value, &p->value);
        if (!st)
            st = eng_tensor_view(src->grad, &p->grad);
        opt->nparams = i + 1;
        if (st)
            return st;
    }
    return ENG_OK;
}

eng_status eng_optimizer_slot(eng_optimizer *opt, int i, int k, eng_tensor **out, bool *created)
{
    eng_tensor **slot = &opt->slots[i * opt->ops->nslots + k];
    *created = false;
    if (!*slot) {
        eng_status st = eng_tensor_new_like(opt->params[i].value, slot);
        if (st)
            return st;
        *created = true;
    }
    *out = *slot;
    return ENG_OK;
}

typedef struct range_job {
    eng_optimizer *opt;
    eng_range_update_fn update;
    void *ctx;
} range_job;

static void update_share(void *ctx, int t, int ntasks)
{
    const range_job *job = ctx;
    for (int i = 0; i < job->opt->nparams; i++) {
        int64_t start, length;
        eng_parallel_share(eng_tensor_numel(job->opt->params[i].value), t, ntasks, &start, &length);
        if (length > 0)
            job->update(job->ctx, i, start, length);
    }
}

void eng_optimizer_update_ranges(eng_optimizer *opt, eng_range_update_fn update, void *ctx)
{
    range_job job = {opt, update, ctx};
    eng_parallel_run(eng_threads(), update_share, &job);
}

eng_status eng_optimizer_step(eng_optimizer *opt)
{
    eng_status st = opt->ops->step(opt);
    if (!st)
        opt->steps++;
    return st;
}

void eng_optimizer_release(eng_optimizer *opt)
{
    if (!opt)
        return;
    if (opt->ops->destroy)
        opt->ops->destroy(opt);
    for (int i = 0; opt->slots && i < opt->nparams * opt->ops->nslots; i++)
        eng_tensor_release(opt->slots[i]);
    free(opt->slots);
    for (int i = 0; i < opt->nparams; i++) {
        eng_tensor_release(opt->params[i].value);
        eng_tensor_release(opt->params[i].grad);
    }
    free(opt->params);
    free(opt);
}

eng_status eng_optimizer_check_params(const eng_optimizer *opt)
{
    for (int i = 0; i < opt->nparams; i++) {
        const eng_tensor *p = opt->params[i].value, *g = opt->params[i].grad;
        if (!eng_tensor_is_contiguous(p) || !eng_tensor_is_contiguous(g))
            return eng_error(ENG_ESTATE, "%s: parameter %s is not contiguous", opt->ops->kind,
                             opt->params[i].name);
        if ((p->dtype != ENG_F32 && p->dtype != ENG_F64) || g->dtype != p->dtype)
            return eng_error(ENG_EDTYPE,
                             "%s: parameter %s is %s with a %s gradient, expected "
                             "f32 or f64 for both",
                             opt->ops->kind, opt->params[i].name, eng_dtype_name(p->dtype),
                             eng_dtype_name(g->dtype));
    }
    return ENG_OK;
}

int eng_optimizer_put_hyper(const char **names, double *values, int max, int n,
                            const char *const *src_names, const double *src_values)
{
    for (int i = 0; i < n && i < max; i++) {
        names[i] = src_names[i];
        values[i] = src_values[i];
    }
    return n;
}
