/* The printed form of a report: a header, then one table per tensor with its worst elements. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gradcheck.h"

typedef struct writer {
    char *buf;
    size_t size, used; /* used may exceed size: snprintf semantics */
} writer;

static void put(writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(writer *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = w->used < w->size ? w->size - w->used : 0;
    int n = vsnprintf(room ? w->buf + w->used : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        w->used += (size_t)n;
}

static void index_str(char *out, size_t size, const eng_gc_tensor_report *r, int64_t flat,
                      bool one_based)
{
    int64_t idx[ENG_MAX_DIMS];
    for (int d = r->ndim - 1; d >= 0; d--) {
        idx[d] = r->shape[d] ? flat % r->shape[d] : 0;
        flat = r->shape[d] ? flat / r->shape[d] : 0;
    }
    size_t used = (size_t)snprintf(out, size, "(");
    for (int d = 0; d < r->ndim && used < size; d++)
        used += (size_t)snprintf(out + used, size - used, d ? ",%lld" : "%lld",
                                 (long long)(idx[d] + one_based));
    if (used < size)
        snprintf(out + used, size - used, ")");
}

/* The estimated cost and the budget: within it, over it (a sample), or cut while running. */
static void put_cost(writer *w, const eng_gc_report *report)
{
    if (report->estimated_seconds > 0 && report->budget > 0 && report->budget_slowdown > 0)
        put(w,
            "estimated time of a full check: %.3g s as timed, but the check ran %.2gx slower: "
            "over the budget of %g s, the budget cut the sample during the check "
            "(full = true checks every element)\n",
            report->estimated_seconds, report->budget_slowdown, report->budget);
    else if (report->estimated_seconds > 0 && report->budget > 0)
        put(w, "estimated time of a full check: %.3g s, %s the budget of %g s%s\n",
            report->estimated_seconds, report->budget_sampled ? "over" : "within", report->budget,
            report->budget_sampled ? ": a stratified sample was checked "
                                     "(full = true checks every element)"
                                   : ": every element checked");
    else if (report->estimated_seconds > 0)
        put(w, "estimated time of a full check: %.3g s\n", report->estimated_seconds);
}

size_t eng_gc_report_format(const eng_gc_report *report, bool one_based, char *buf, size_t size)
{
    writer w = {buf, size, 0};
    if (size)
        buf[0] = '\0';
    put(&w,
        "gradient check (%s): %s (%s, loss %.6e, loss round-off %.1e, %lld evaluations, "
        "%.2f s)\n",
        report->mode ? report->mode : "element-wise", eng_gc_verdict_name(report->verdict),
        eng_dtype_name(report->dtype), report->loss, report->loss_noise,
        (long long)report->evaluations, report->seconds);
    if (report->directions)
        put(&w, "directions: %d checked, %d failed\n", report->directions,
            report->directions_failed);
    if (report->kink_free)
        put(&w, "differences with ReLU masks and max-pool winners frozen at the base point "
                "(no kinks)\n");
    if (report->warning[0])
        put(&w, "warning: %s\n", report->warning);
    put_cost(&w, report);
    if (report->directions)
        put(&w,
            "coverage: %d random directions over %d tensors (each moves every element of its "
            "tensor: %lld in all); %lld elements checked one by one\n",
            report->directions, report->directions_tensors, (long long)report->elements_total,
            (long long)report->elements_checked);
    else if (report->elements_checked < report->elements_total)
        put(&w,
            "coverage: %lld of %lld elements (%.2f%%), a stratified sample per tensor "
            "decided with the tensor-level statistics\n",
            (long long)report->elements_checked, (long long)report->elements_total,
            100.0 * (double)report->elements_checked / (double)report->elements_total);
    else if (report->elements_total > 0)
        put(&w, "coverage: every element (%lld)\n", (long long)report->elements_total);
    if (report->summary[0])
        put(&w, "%s\n", report->summary);
    for (int i = 0; i < report->ntensors; i++) {
        const eng_gc_tensor_report *r = &report->tensors[i];
        int64_t n = 1;
        for (int d = 0; d < r->ndim; d++)
            n *= r->shape[d];
        char of[64] = "";
        if (r->checked < n)
            snprintf(of, sizeof of, " of %lld (%.2f%%)", (long long)n,
                     100.0 * (double)r->checked / (double)(n ? n : 1));
        put(&w,
            "\n%s %s  %s  checked %lld%s: %lld pass, %lld fail, %lld inconclusive, "
            "%lld kink\n",
            r->name, eng_shape_str(r->ndim, r->shape), eng_gc_verdict_name(r->verdict),
            (long long)r->checked, of, (long long)r->passed, (long long)r->failed,
            (long long)r->inconclusive, (long long)r->kinks);
        put(&w, "  step %.1e, noise floor %.1e, rel error max %.2e median %.2e\n", r->step,
            r->noise_floor, r->max_rel, r->median_rel);
        put(&w,
            "  tensor-level: analytic/numerical %.6g +- %.2g, chi2 %.3g over %lld elements "
            "(limit %.3g)%s\n",
            r->ratio, r->ratio_error, r->chi2, (long long)r->dof, r->chi2_limit,
            r->tensor_level ? ": decides the verdict" : "");
        if (r->diagnosis[0])
            put(&w, "  diagnosis: %s\n", r->diagnosis);
        if (r->advice[0])
            put(&w, "  to decide: %s\n", r->advice);
        if (r->nworst == 0)
            continue;
        put(&w, "  %-16s %14s %10s %14s %10s  %s\n", "index", "numerical", "error bar", "analytic",
            "rel error", "verdict");
        for (int k = 0; k < r->nworst; k++) {
            const eng_gc_element *e = &r->worst[k];
            char idx[64];
            index_str(idx, sizeof idx, r, e->index, one_based);
            put(&w, "  %-16s %14.6e %10.2e %14.6e %10.2e  %s\n", idx, e->numerical, e->error,
                e->analytic, e->rel_error, eng_gc_verdict_name(e->verdict));
        }
    }
    return w.used;
}
