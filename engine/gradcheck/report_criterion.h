/* The criterion of a saved check (report_io.h): its settings in
 * meta.gradcheck.criterion_settings, and the loss rebuilt from its name and those settings. */
#ifndef ENGINE_GRADCHECK_REPORT_CRITERION_H
#define ENGINE_GRADCHECK_REPORT_CRITERION_H

#include "../loss/loss.h"
#include "report_io.h"

/* The loss kind whose constructor is named ctor ("HuberLoss"), or NULL. */
const eng_loss_kind *gc_criterion_kind(const char *ctor);
/* Adds criterion_settings to g when s has settings (a loss kind with none adds nothing). */
eng_status gc_criterion_write(eng_meta *g, const eng_gc_check_spec *s);
/* Reads g's criterion_settings [optional] into s->criterion_settings (s->criterion is read);
 * each value is checked as the loss kind declares it; errors name the file and the field. */
eng_status gc_criterion_read(const char *path, const eng_meta *g, eng_gc_check_spec *s);
/* A new loss of kind with s->criterion_settings (unset: the kind's defaults). */
eng_status gc_criterion_create(const eng_loss_kind *kind, const eng_gc_check_spec *s,
                               eng_loss **out);

#endif
