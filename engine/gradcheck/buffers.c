/* Layers' buffers (BatchNorm's running statistics) saved before a check runs the layers in
 * training mode, whose every forward updates them, and put back afterwards: a check must
 * leave the model as it found it. */
#include <stdlib.h>

#include "check_internal.h"

eng_status gc_buffers_save(eng_layer *const *layers, int n, gc_saved_buffers *out)
{
    *out = (gc_saved_buffers){0};
    int count = 0;
    for (int i = 0; i < n; i++)
        count += layers[i]->nbuffers;
    if (count == 0)
        return ENG_OK;
    out->copies = calloc((size_t)count, sizeof *out->copies);
    out->targets = calloc((size_t)count, sizeof *out->targets);
    if (!out->copies || !out->targets) {
        gc_buffers_restore(out);
        return eng_error(ENG_ENOMEM, "gradcheck: out of memory");
    }
    for (int i = 0; i < n; i++)
        for (int b = 0; b < layers[i]->nbuffers; b++) {
            eng_tensor *value = layers[i]->buffers[b].value;
            eng_status st = eng_tensor_clone(value, &out->copies[out->count]);
            if (st) {
                gc_buffers_restore(out);
                return st;
            }
            out->targets[out->count++] = value;
        }
    return ENG_OK;
}

eng_status gc_buffers_restore(gc_saved_buffers *s)
{
    eng_status st = ENG_OK;
    for (int i = 0; i < s->count; i++) {
        eng_status one = eng_tensor_copy(s->targets[i], s->copies[i]);
        if (one && !st)
            st = one;
        eng_tensor_release(s->copies[i]);
    }
    free(s->copies);
    free(s->targets);
    *s = (gc_saved_buffers){0};
    return st;
}
