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
 * backward writes the ReLU's input gradient, dy going to the winner where the pooled y > 0);
 * BatchNorm1d/2d -> ReLU (BatchNorm's normalising pass writes relu(y), and its backward masks
 * dy by the ReLU's output > 0 inside its sums and dx pass: BatchNorm's kernels, relu flags,
 * engine/kernels/batchnorm.h); Residual -> ReLU (the branches' outputs summed and rectified in one
 * pass, and in the backward dy masked once and handed to both branches: engine/model_residual.c).
 * A pair is fused only when
 *   - the step may fuse: a top-level forward/backward of a model without fusion_off, or a
 *     nested model (container) run inside one (eng_fusion_begin); the gradient checker sets
 *     fusion_off, and its own per-layer calls into containers run unfused;
 *   - the pair does not end a top-level model (the non-finite guard below relies on it; a
 *     nested model's inner buffers have no reader but its own backward), and every layer's
 *     buffers are sized before any runs (no layer whose shape needs data);
 *   - x is contiguous, f32 or f64, and both layers run alike in stretches (model_split.c) if
 *     the model may run stretches at all.
 *
 * What is then not written: layer i's output (outputs[i]) and layer i+1's input gradient
 * (dinputs[i+1]). Their readers: backward (follows the plan, reads neither), the gradient
 * checker (runs with fusion_off), container signatures (read only in the checker's unfused
 * runs), and eng_model_check_finite, which writes the skipped output from layer i's input
 * (eng_fused_inner_output) before it looks, and skips the skipped gradient: that holds only
 * values of the gradient layer i+1 received (zero elsewhere), checked just before it (the pair
 * does not end the model), so the guard reports exactly what it reports unfused. */
#include "model_fusion.h"

#include "kernels/activation.h"
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

int eng_model_fusable(const eng_model *model, int i, const eng_tensor *x, bool nested)
{
    if (i + (nested ? 1 : 2) >= model->nlayers || !x || !eng_tensor_is_contiguous(x) ||
        (x->dtype != ENG_F32 && x->dtype != ENG_F64))
        return ENG_FUSE_NONE;
    const eng_layer *a = model->layers[i], *b = model->layers[i + 1];
    /* a model with a layer that is not batch-independent never runs stretches */
    if (a->ops->batch_independent && b->ops->batch_independent && !same_stretch_rule(a, b))
        return ENG_FUSE_NONE;
    if (eng_layer_is_relu(a) && eng_layer_is_maxpool2d(b))
        return ENG_FUSE_RELU_MAXPOOL;
    if (eng_layer_is_batchnorm(a) && eng_layer_is_relu(b) && x->dtype == a->dtype)
        return ENG_FUSE_BN_RELU;
    if (eng_layer_is_residual(a) && eng_layer_is_relu(b))
        return ENG_FUSE_RESIDUAL_RELU;
    return ENG_FUSE_NONE;
}

void eng_model_plan_fusion(eng_model *model, const eng_tensor *x, bool fuse)
{
    for (int i = 0; i < model->nlayers; i++)
        model->fused[i] = ENG_FUSE_NONE;
    for (int i = 0; fuse && i < model->nlayers; i++) {
        model->fused[i] =
            (unsigned char)eng_model_fusable(model, i, i == 0 ? x : model->outputs[i - 1], false);
        i += model->fused[i] != ENG_FUSE_NONE;
    }
}

eng_status eng_fused_forward(int kind, eng_layer *a, eng_layer *b, const eng_tensor *x,
                             eng_tensor *y, bool training)
{
    switch (kind) {
    case ENG_FUSE_RELU_MAXPOOL: return eng_maxpool2d_forward_after_relu(b, x, y);
    case ENG_FUSE_BN_RELU: return eng_batchnorm_forward_relu(a, x, y, training);
    case ENG_FUSE_RESIDUAL_RELU: return eng_residual_forward_relu(a, x, y, training);
    default: return eng_error(ENG_ESTATE, "fusion: unknown pair kind %d", kind);
    }
}

eng_status eng_fused_backward(int kind, eng_layer *a, eng_layer *b, const eng_tensor *x,
                              const eng_tensor *y, const eng_tensor *dy, eng_tensor *dx)
{
    switch (kind) {
    case ENG_FUSE_RELU_MAXPOOL:
        return dx ? eng_maxpool2d_backward_through_relu(b, x, y, dy, dx) : ENG_OK;
    case ENG_FUSE_BN_RELU: return eng_batchnorm_backward_relu(a, x, y, dy, dx);
    case ENG_FUSE_RESIDUAL_RELU: return eng_residual_backward_relu(a, x, y, dy, dx);
    default: return eng_error(ENG_ESTATE, "fusion: unknown pair kind %d", kind);
    }
}

/* The fold. The pair's backward would write the gradient w.r.t. the ReLU's input (the
 * conv2d's output), 3/4 zeros, in full (64x32x28x28 f32 in the LeNet: 6.4 MB of stores that
 * miss the cache, then read back); folded, the conv2d makes it from the pooled gradient and
 * the winners a little at a time (8 output channels of one image on the direct path, a
 * Winograd group of 4 images) in a workspace that stays in cache, right before it reads
 * them. The sums are those of the
 * unfolded backward, in the same order. What is then not written: dinputs[i] of the ReLU i.
 * Its readers: the conv2d's backward (folded), the gradient checker (fusion_off) and the
 * non-finite guard, which skips it: it holds only values of dinputs[i + 2], checked before it,
 * and zeros (eng_model_grad_skipped). Only at the top level (a container's backward keeps its
 * pairs), and only where the conv2d runs a path that reads its gradient image by image
 * (eng_conv2d_takes_pooled). */
bool eng_model_folds(const eng_model *model, int i, bool want_dx)
{
    if (i < 1 || i + 1 >= model->nlayers || model->fused[i] != ENG_FUSE_RELU_MAXPOOL ||
        !eng_layer_is_conv2d(model->layers[i - 1]))
        return false;
    const eng_tensor *x = i == 1 ? model->input : model->outputs[i - 2];
    return x && eng_maxpool2d_folds(model->layers[i + 1], model->outputs[i - 1]) &&
           eng_conv2d_takes_pooled(model->layers[i - 1], x, i > 1 || want_dx);
}

int eng_model_backward_first(const eng_model *model, int i, bool want_dx)
{
    if (i < 1 || !model->fused[i - 1])
        return i;
    return eng_model_folds(model, i - 1, want_dx) ? i - 2 : i - 1;
}

int eng_model_fold_owner(const eng_model *model, int i)
{
    /* folds with an input gradient fold without one too (eng_conv2d_takes_pooled) */
    if (i >= 1 && eng_model_folds(model, i, true))
        return i - 1;
    if (i >= 2 && model->fused[i - 1] && eng_model_folds(model, i - 1, true))
        return i - 2;
    return i;
}

eng_status eng_folded_backward(eng_layer *conv, eng_layer *pool, const eng_tensor *x,
                               const eng_tensor *xr, const eng_tensor *y, const eng_tensor *dy,
                               eng_tensor *dx)
{
    eng_pooled_grad pooled = {pool, xr, y, dy};
    return eng_conv2d_backward_pooled(conv, x, &pooled, dx);
}

bool eng_model_grad_skipped(const eng_model *model, int i)
{
    return (i > 0 && model->fused[i - 1]) ||
           (i + 1 < model->nlayers && model->fused[i] == ENG_FUSE_RELU_MAXPOOL);
}

eng_status eng_fused_inner_output(int kind, const eng_layer *a, const eng_tensor *x,
                                  eng_tensor *y_a)
{
    int64_t n = eng_tensor_numel(x);
    switch (kind) {
    case ENG_FUSE_RELU_MAXPOOL:
        if (x->dtype == ENG_F32)
            eng_relu_forward_f32(ENG_F32_DATA(y_a), ENG_F32_DATA(x), n);
        else
            eng_relu_forward_f64(ENG_F64_DATA(y_a), ENG_F64_DATA(x), n);
        return ENG_OK;
    case ENG_FUSE_BN_RELU: return eng_batchnorm_output(a, x, y_a);
    case ENG_FUSE_RESIDUAL_RELU: return eng_residual_output(a, x, y_a);
    default: return eng_error(ENG_ESTATE, "fusion: unknown pair kind %d", kind);
    }
}

bool eng_model_takes_relu_mask(const eng_model *model, const eng_tensor *x)
{
    int last = model->nlayers - 1;
    if (last < 0 || (last > 0 && model->fused[last - 1] != ENG_FUSE_NONE))
        return false;
    const eng_tensor *in = last == 0 ? x : model->outputs[last - 1];
    return in && eng_batchnorm_takes_relu_mask(model->layers[last], in);
}
