/* Learning-rate schedules with PyTorch's chainable get_lr() (torch 1.13,
 * torch/optim/lr_scheduler.py): each step computes the new lr from the optimizer's current one,
 * in the same operations as the Python code, so the sequences agree bit for bit. */
#include "schedule.h"

#include <math.h>
#include <string.h>

/* get_lr() at s->last_epoch, from the optimizer's current lr. */
static double next_lr(const eng_schedule *s, double lr)
{
    int64_t e = s->last_epoch;
    switch (s->kind) {
    case ENG_SCHEDULE_STEP:
        if (e == 0 || e % s->step.step_size != 0)
            return lr;
        return lr * s->step.gamma;
    case ENG_SCHEDULE_EXPONENTIAL: return e == 0 ? lr : lr * s->exponential.gamma;
    case ENG_SCHEDULE_COSINE: {
        double t_max = (double)s->cosine.t_max, eta_min = s->cosine.eta_min;
        if (e == 0)
            return lr;
        /* Past a minimum the recursive ratio below would divide by zero: PyTorch steps the lr
         * up from there instead (the period is 2 T_max). Divisibility, hence this test, is the
         * same for C's and Python's remainder. */
        if ((e - 1 - s->cosine.t_max) % (2 * s->cosine.t_max) == 0)
            return lr + (s->base_lr - eta_min) * (1 - cos(M_PI / t_max)) / 2;
        return (1 + cos(M_PI * (double)e / t_max)) / (1 + cos(M_PI * (double)(e - 1) / t_max)) *
                   (lr - eta_min) +
               eta_min;
    }
    case ENG_SCHEDULE_LINEAR: {
        double start = s->linear.start_factor, end = s->linear.end_factor;
        if (e == 0)
            return lr * start;
        if (e > s->linear.total_iters)
            return lr;
        return lr * (1. + (end - start) / ((double)s->linear.total_iters * start +
                                           (double)(e - 1) * (end - start)));
    }
    }
    return lr;
}

/* _initial_step(): last_epoch goes from -1 to 0. */
static eng_status start(eng_schedule *s, eng_optimizer *opt)
{
    s->base_lr = opt->lr;
    s->last_epoch = -1;
    eng_schedule_step(s, opt);
    return ENG_OK;
}

eng_status eng_step_lr_init(eng_schedule *s, eng_optimizer *opt, int64_t step_size, double gamma)
{
    if (step_size < 1)
        return eng_error(ENG_EARG, "StepLR: step_size = %lld, expected >= 1", (long long)step_size);
    if (!(gamma > 0))
        return eng_error(ENG_EARG, "StepLR: gamma = %g, expected gamma > 0", gamma);
    *s = (eng_schedule){.kind = ENG_SCHEDULE_STEP, .step = {step_size, gamma}};
    return start(s, opt);
}

eng_status eng_exponential_lr_init(eng_schedule *s, eng_optimizer *opt, double gamma)
{
    if (!(gamma > 0))
        return eng_error(ENG_EARG, "ExponentialLR: gamma = %g, expected gamma > 0", gamma);
    *s = (eng_schedule){.kind = ENG_SCHEDULE_EXPONENTIAL, .exponential = {gamma}};
    return start(s, opt);
}

eng_status eng_cosine_lr_init(eng_schedule *s, eng_optimizer *opt, int64_t t_max, double eta_min)
{
    if (t_max < 1)
        return eng_error(ENG_EARG, "CosineAnnealingLR: T_max = %lld, expected >= 1",
                         (long long)t_max);
    if (!(eta_min >= 0))
        return eng_error(ENG_EARG, "CosineAnnealingLR: eta_min = %g, expected eta_min >= 0",
                         eta_min);
    *s = (eng_schedule){.kind = ENG_SCHEDULE_COSINE, .cosine = {t_max, eta_min}};
    return start(s, opt);
}

eng_status eng_linear_lr_init(eng_schedule *s, eng_optimizer *opt, double start_factor,
                              double end_factor, int64_t total_iters)
{
    if (!(start_factor > 0 && start_factor <= 1))
        return eng_error(ENG_EARG, "LinearLR: start_factor = %g, expected 0 < start_factor <= 1",
                         start_factor);
    if (!(end_factor >= 0 && end_factor <= 1))
        return eng_error(ENG_EARG, "LinearLR: end_factor = %g, expected 0 <= end_factor <= 1",
                         end_factor);
    if (total_iters < 1)
        return eng_error(ENG_EARG, "LinearLR: total_iters = %lld, expected >= 1",
                         (long long)total_iters);
    *s = (eng_schedule){.kind = ENG_SCHEDULE_LINEAR,
                        .linear = {start_factor, end_factor, total_iters}};
    return start(s, opt);
}

void eng_schedule_step(eng_schedule *s, eng_optimizer *opt)
{
    s->last_epoch++;
    opt->lr = next_lr(s, opt->lr);
    s->last_lr = opt->lr;
}

const char *eng_schedule_kind_name(eng_schedule_kind kind)
{
    switch (kind) {
    case ENG_SCHEDULE_STEP: return "StepLR";
    case ENG_SCHEDULE_EXPONENTIAL: return "ExponentialLR";
    case ENG_SCHEDULE_COSINE: return "CosineAnnealingLR";
    case ENG_SCHEDULE_LINEAR: return "LinearLR";
    }
    return "?";
}
