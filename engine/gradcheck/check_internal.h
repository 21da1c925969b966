/* Shared between the element-wise check and its diagnosis (internal). */
#ifndef ENGINE_GRADCHECK_CHECK_INTERNAL_H
#define ENGINE_GRADCHECK_CHECK_INTERNAL_H

#include "gradcheck.h"

/* One numerical derivative with its error estimate. */
typedef struct gc_estimate {
    double value;     /* Richardson extrapolation of the central differences at h and h/2 */
    double coarse;    /* central difference at h */
    double truncation;
    double roundoff;
    bool kink;
    double coarse_step; /* directional mode: the step h that gave this estimate */
} gc_estimate;

typedef struct gc_context {
    eng_gc_objective *obj;
    double u;          /* unit round-off of the objective's dtype */
    double loss;
    double loss_noise; /* round-off of one loss evaluation */
    double rtol, nsigma;
    int64_t evaluations;
} gc_context;

/* Sets ctx->loss_noise from the observed jitter of the loss (needs ctx->loss and the
 * analytic gradients). */
eng_status gc_calibrate_noise(gc_context *ctx, eng_rng *rng);

/* Central differences at h and h/2 around element index of tensor t. */
eng_status gc_estimate_at(gc_context *ctx, int t, int64_t index, double h, gc_estimate *out);
double gc_error_bar(const gc_estimate *e);
eng_gc_verdict gc_verdict(const gc_context *ctx, double analytic, const gc_estimate *e,
                          double *rel_error);

/* Fills report->diagnosis (and may evaluate more derivatives to test hypotheses such as a
 * transposed layout). elements: every checked element of the tensor. */
eng_status gc_diagnose(gc_context *ctx, int t, eng_gc_tensor_report *report,
                       const eng_gc_element *elements, int64_t count, double step);

#endif
