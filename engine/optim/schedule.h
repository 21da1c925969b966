/* Learning-rate schedules: torch.optim.lr_scheduler's StepLR, ExponentialLR, CosineAnnealingLR
 * and LinearLR (the usual linear warm-up), with PyTorch 1.13's semantics.
 *
 * A schedule is plain data (no allocation, no pointer to the optimizer): it changes opt->lr
 * when stepped, using the chainable forms PyTorch's scheduler.step() uses, so the sequence of
 * learning rates is PyTorch's to the last bit. Like PyTorch, making a schedule takes its
 * initial step (last_epoch becomes 0, and LinearLR scales the lr by start_factor at once);
 * call eng_schedule_step once per epoch (or per batch), after the optimizer's step.
 * To resume, keep last_epoch with the optimizer's own lr: the next step needs only those. */
#ifndef ENGINE_OPTIM_SCHEDULE_H
#define ENGINE_OPTIM_SCHEDULE_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include "optim.h"

typedef enum eng_schedule_kind {
    ENG_SCHEDULE_STEP,        /* lr *= gamma every step_size steps */
    ENG_SCHEDULE_EXPONENTIAL, /* lr *= gamma every step */
    ENG_SCHEDULE_COSINE,      /* eta_min + (base_lr - eta_min) (1 + cos(pi t / T_max)) / 2 */
    ENG_SCHEDULE_LINEAR,      /* base_lr times a factor going linearly from start_factor to
                                 end_factor over total_iters steps, then constant */
} eng_schedule_kind;

typedef struct eng_schedule {
    eng_schedule_kind kind;
    double base_lr;     /* the optimizer's lr when the schedule was made (initial_lr) */
    int64_t last_epoch; /* steps taken since then; 0 after making it */
    double last_lr;     /* the lr it set last (get_last_lr) */
    union {
        struct {
            int64_t step_size; /* >= 1 */
            double gamma;      /* > 0 */
        } step;
        struct {
            double gamma; /* > 0 */
        } exponential;
        struct {
            int64_t t_max;  /* >= 1, PyTorch's T_max */
            double eta_min; /* >= 0 */
        } cosine;
        struct {
            double start_factor; /* in (0, 1] */
            double end_factor;   /* in [0, 1] */
            int64_t total_iters; /* >= 1 */
        } linear;
    };
} eng_schedule;

/* Each fills *s and takes the initial step on opt (settings as in the struct above; a bad one
 * gives ENG_EARG naming it, and leaves opt unchanged). */
ENG_MUST_CHECK eng_status eng_step_lr_init(eng_schedule *s, eng_optimizer *opt, int64_t step_size,
                                           double gamma);
ENG_MUST_CHECK eng_status eng_exponential_lr_init(eng_schedule *s, eng_optimizer *opt,
                                                  double gamma);
ENG_MUST_CHECK eng_status eng_cosine_lr_init(eng_schedule *s, eng_optimizer *opt, int64_t t_max,
                                             double eta_min);
ENG_MUST_CHECK eng_status eng_linear_lr_init(eng_schedule *s, eng_optimizer *opt,
                                             double start_factor, double end_factor,
                                             int64_t total_iters);

/* scheduler.step(): last_epoch += 1, then opt->lr (and s->last_lr) = the new learning rate. */
void eng_schedule_step(eng_schedule *s, eng_optimizer *opt);

/* PyTorch's class name: "StepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR". */
const char *eng_schedule_kind_name(eng_schedule_kind kind);

#pragma GCC visibility pop

#endif
