/* Fusion of adjacent layers.
 *
 * Where the decision lives: here. A model plans its pairs at each forward, once the output
 * buffers are sized (eng_model_plan_fusion, or pair by pair in a nested model's forward), and
 * records the plan in model->fused; its backward follows the plan its forward recorded, in the
 * serial, split and stretch (model_split.c) paths alike. Layers stay separate objects: a fused
 * pass is one layer's forward or backward with its neighbour's elementwise step folded in, run
 * through entry points of the layers' own files (layers/layer_fusion.h), each keeping its own
 * state (the pool's winners are those its plain forward would keep).
 *
 * Pairs: ReLU -> MaxPool2d (max and ReLU commute; the pool runs on the ReLU's input and its
 * backward writes the ReLU's input gradient). A pair is fused only when
 *   - the step may fuse: a top-level forward/backward of a model without fusion_off, or a
 *     nested model (container) run inside one (eng_fusion_begin); the gradient checker sets
 *     fusion_off, and its own per-layer calls into containers run unfused;
 *   - the pair does not end the model (its last output, and the gradient the caller passes in,
 *     are always those of separate layers), and every layer's buffers are sized before any
 *     runs (no layer whose shape needs data);
 *   - x is contiguous, f32 or f64, and both layers run alike in stretches (model_split.c).
 *
 * What is then not written: layer i's output (outputs[i]) and layer i+1's input gradient
 * (dinputs[i+1]). Their readers: backward (follows the plan, reads neither), the gradient
 * checker (runs with fusion_off), container signatures (read only in the checker's unfused
 * runs), and eng_model_check_finite, which skips both; that reports exactly what it reports
 * unfused, because a non-finite ReLU output needs a non-finite ReLU input (checked before it)
 * and the pool's input gradient holds only values of dy (zero elsewhere), checked before it
 * (the pair does not end the model). */
#include "model_fusion.h"

#include "layers/layer_fusion.h"

static _Thread_local bool step_fuses;

bool eng_fusion_begin(const eng_model *model)
{
    bool previous = step_fuses;
    step_fuses = !model->fusion_off;
    return previous;
}

void eng_fusion_end(bool previous)
{
    step_fuses = previous;
}

bool eng_fusion_active(void)
{
    return step_fuses;
}

static bool same_stretch_rule(const eng_layer *a, const eng_layer *b)
{
    return a->ops->sample_by_sample == b->ops->sample_by_sample && !a->ops->prefers_many_samples &&
           !b->ops->prefers_many_samples;
}

int eng_model_fusable(const eng_model *model, int i, const eng_tensor *x)
{
    if (i + 2 >= model->nlayers || !x || !eng_tensor_is_contiguous(x) ||
        (x->dtype != ENG_F32 && x->dtype != ENG_F64))
        return ENG_FUSE_NONE;
    const eng_layer *a = model->layers[i], *b = model->layers[i + 1];
    if (!same_stretch_rule(a, b))
        return ENG_FUSE_NONE;
    if (eng_layer_is_relu(a) && eng_layer_is_maxpool2d(b))
        return ENG_FUSE_RELU_MAXPOOL;
    return ENG_FUSE_NONE;
}

void eng_model_plan_fusion(eng_model *model, const eng_tensor *x, bool fuse)
{
    for (int i = 0; i < model->nlayers; i++)
        model->fused[i] = ENG_FUSE_NONE;
    for (int i = 0; fuse && i < model->nlayers; i++) {
        model->fused[i] =
            (unsigned char)eng_model_fusable(model, i, i == 0 ? x : model->outputs[i - 1]);
        i += model->fused[i] != ENG_FUSE_NONE;
    }
}

eng_status eng_fused_forward(int kind, eng_layer *a, eng_layer *b, const eng_tensor *x,
                             eng_tensor *y, bool training)
{
    (void)a;
    (void)training;
    switch (kind) {
    case ENG_FUSE_RELU_MAXPOOL: return eng_maxpool2d_forward_after_relu(b, x, y);
    default: return eng_error(ENG_ESTATE, "fusion: unknown pair kind %d", kind);
    }
}

eng_status eng_fused_backward(int kind, eng_layer *a, eng_layer *b, const eng_tensor *x,
                              const eng_tensor *y, const eng_tensor *dy, eng_tensor *dx)
{
    (void)a;
    switch (kind) {
    case ENG_FUSE_RELU_MAXPOOL:
        return dx ? eng_maxpool2d_backward_through_relu(b, x, y, dy, dx) : ENG_OK;
    default: return eng_error(ENG_ESTATE, "fusion: unknown pair kind %d", kind);
    }
}
