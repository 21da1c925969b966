/* The loss vtable's checks, and the loss kinds (loss.h): the built-in ones, listed by the
 * build from their ENG_BUILTIN_LOSS lines. */
#include "loss.h"

#include <stdlib.h>
#include <string.h>

#include "builtin_kinds.h" /* generated: #define ENG_BUILTIN_LOSSES(X) X(cross_entropy) ... */

#define DECLARE_LOSS(name) extern const eng_loss_kind eng_loss_kind_##name;
ENG_BUILTIN_LOSSES(DECLARE_LOSS)
#define LIST_LOSS(name) &eng_loss_kind_##name,
static const eng_loss_kind *const builtins[] = {ENG_BUILTIN_LOSSES(LIST_LOSS) NULL};

int eng_loss_kind_count(void)
{
    return (int)(sizeof builtins / sizeof builtins[0]) - 1;
}

const eng_loss_kind *eng_loss_kind_at(int i)
{
    return i >= 0 && i < eng_loss_kind_count() ? builtins[i] : NULL;
}

const eng_loss_kind *eng_loss_kind_find(const char *name)
{
    for (int i = 0; name && i < eng_loss_kind_count(); i++)
        if (strcmp(builtins[i]->name, name) == 0)
            return builtins[i];
    return NULL;
}

void eng_loss_settings_init(eng_settings *s, const eng_loss_kind *kind)
{
    eng_settings_init_decl(s, kind->name, kind->settings);
}

eng_status eng_loss_create(eng_settings *s, eng_loss **out)
{
    *out = NULL;
    const eng_loss_kind *kind = eng_loss_kind_find(s->name);
    if (!kind || kind->settings != s->decl)
        return eng_error(ENG_EARG, "no loss kind '%s'", s->name ? s->name : "(none)");
    eng_status st = eng_settings_finish(s);
    return st ? st : kind->create(s, out);
}

eng_status eng_loss_forward(eng_loss *loss, const eng_tensor *input, const eng_tensor *target,
                            double *value)
{
    if (!eng_tensor_is_contiguous(input) || (target && !eng_tensor_is_contiguous(target)))
        return eng_error(ENG_ESTATE, "%s: input and target must be contiguous (clone them first)",
                         loss->ops->kind);
    return loss->ops->forward(loss, input, target, value);
}

eng_status eng_loss_backward(eng_loss *loss, const eng_tensor *input, const eng_tensor *target,
                             eng_tensor *dinput)
{
    if (!eng_tensor_same_shape(dinput, input) || dinput->dtype != input->dtype ||
        !eng_tensor_is_contiguous(dinput))
        return eng_error(!eng_tensor_same_shape(dinput, input) ? ENG_ESHAPE
                         : dinput->dtype != input->dtype       ? ENG_EDTYPE
                                                               : ENG_ESTATE,
                         "%s: dinput is %s %s, expected %s %s like the input", loss->ops->kind,
                         eng_dtype_name(dinput->dtype), eng_tensor_shape_str(dinput),
                         eng_dtype_name(input->dtype), eng_tensor_shape_str(input));
    return loss->ops->backward(loss, input, target, dinput);
}

void eng_loss_release(eng_loss *loss)
{
    if (!loss)
        return;
    if (loss->ops->destroy)
        loss->ops->destroy(loss);
    free(loss);
}
