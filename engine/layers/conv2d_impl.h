/* conv2d's private state, shared by its files: conv2d.c (the layer, im2col and Winograd),
 * conv2d_paths.c (the direct, 1x1 and strided paths) and conv2d_grouped.c (groups > 1, and
 * forward_delta). */
#ifndef ENGINE_LAYERS_CONV2D_IMPL_H
#define ENGINE_LAYERS_CONV2D_IMPL_H

#include "../kernels/im2col.h"
#include "layer_fusion.h"
#include "layers.h"

typedef struct conv2d {
    eng_layer base;
    int in_channels, out_channels, kh, kw;
    eng_conv2d_options opts;
    eng_tensor *col;           /* workspace [in*kh*kw, oh*ow] (in/groups for groups > 1), reused */
    eng_tensor *xpad;          /* workspace [in, h+2ph, w+2pw] for the direct path, phases for the
                                * strided one */
    eng_tensor *grid, *dphase; /* the strided path's product [out, columns], dx's phases; grid
                                * holds the direct path's zero bias */
    /* workspaces of the Winograd path: transformed weights (and their gradient), input tiles
     * and output tiles of one group of images (conv2d_winograd.c) */
    eng_tensor *wino_u, *wino_ut, *wino_du, *wino_v, *wino_m;
    /* workspace: a few images of the output gradient, made from its pooled form (a fold,
     * layer_fusion.h) right before the backward reads them */
    eng_tensor *dy_rows;
} conv2d;

/* Checks x against the layer and fills the geometry of all its channels. */
ENG_MUST_CHECK eng_status eng_conv2d_geometry(const eng_layer *layer, const eng_tensor *x,
                                              eng_conv_geometry *g);
/* groups > 1: per image and group, im2col of the group's input channels and one GEMM with
 * the group's slice of weight [out/groups, in/groups*kh*kw]. backward as conv2d's. */
ENG_MUST_CHECK eng_status eng_conv2d_grouped_forward(conv2d *c, const eng_tensor *x, eng_tensor *y,
                                                     const eng_conv_geometry *g);
ENG_MUST_CHECK eng_status eng_conv2d_grouped_backward(conv2d *c, const eng_tensor *x,
                                                      const eng_tensor *dy, eng_tensor *dx,
                                                      const eng_conv_geometry *g);
/* The Winograd path for f32 3x3 stride-1 layers (conv2d_winograd.c; conv2d.c decides when):
 * forward and backward as conv2d's, F(2x2, 3x3) or F(4x4, 3x3) chosen by the output size. */
ENG_MUST_CHECK eng_status eng_conv2d_winograd_forward(conv2d *c, const eng_tensor *x, eng_tensor *y,
                                                      const eng_conv_geometry *g);
ENG_MUST_CHECK eng_status eng_conv2d_winograd_backward(conv2d *c, const eng_tensor *x,
                                                       const eng_tensor *dy, eng_tensor *dx,
                                                       const eng_conv_geometry *g);
/* Whether the Winograd path runs F(2x2, 3x3) for this geometry, and its backward with the
 * output gradient in pooled form (layer_fusion.h): the same sums, each group's rows of dy made
 * into c->dy_rows first. */
bool eng_conv2d_winograd_is_2x2(const conv2d *c, const eng_conv_geometry *g);
ENG_MUST_CHECK eng_status eng_conv2d_winograd_backward_pooled(conv2d *c, const eng_tensor *x,
                                                              const eng_pooled_grad *dy,
                                                              eng_tensor *dx,
                                                              const eng_conv_geometry *g);
/* The paths of conv2d_paths.c: whether each applies to the layer (and x), and forward and
 * backward on the layer's terms (backward overwrites dx [optional], adds into the parameters'
 * gradients).
 * direct: stride 1, dilation 1, at most 64 input taps (in*kh*kw), on eng_conv_direct_is_fast
 *         processors, not f32 1x1 layers (pointwise); its backward takes no dx (a first
 *         layer), the caller checks.
 * pointwise: 1x1, stride 1, no padding; f32 and f64, the im2col path's sums.
 * phases: f32, dilation 1, a stride above 1 (kernels/conv_phase.h). */
bool eng_conv2d_use_direct(const conv2d *c, const eng_tensor *x);
ENG_MUST_CHECK eng_status eng_conv2d_direct_forward(conv2d *c, const eng_tensor *x, eng_tensor *y,
                                                    const eng_conv_geometry *g);
ENG_MUST_CHECK eng_status eng_conv2d_direct_backward(conv2d *c, const eng_tensor *x,
                                                     const eng_tensor *dy,
                                                     const eng_conv_geometry *g);
bool eng_conv2d_use_pointwise(const conv2d *c);
ENG_MUST_CHECK eng_status eng_conv2d_pointwise_forward(conv2d *c, const eng_tensor *x,
                                                       eng_tensor *y, const eng_conv_geometry *g);
ENG_MUST_CHECK eng_status eng_conv2d_pointwise_backward(conv2d *c, const eng_tensor *x,
                                                        const eng_tensor *dy, eng_tensor *dx,
                                                        const eng_conv_geometry *g);
bool eng_conv2d_use_phases(const conv2d *c, const eng_tensor *x);
/* Whether the phases path runs faster on many images per call (small planes). */
bool eng_conv2d_phase_prefers_many(const conv2d *c, const eng_tensor *x);
ENG_MUST_CHECK eng_status eng_conv2d_phase_forward(conv2d *c, const eng_tensor *x, eng_tensor *y,
                                                   const eng_conv_geometry *g);
ENG_MUST_CHECK eng_status eng_conv2d_phase_backward(conv2d *c, const eng_tensor *x,
                                                    const eng_tensor *dy, eng_tensor *dx,
                                                    const eng_conv_geometry *g);
/* The layer's can_add_dx and backward_add (layer.h): f32 1x1 kernels on the pointwise and
 * phases paths (conv2d_paths.c). */
bool eng_conv2d_can_add_dx(const eng_layer *layer, const eng_tensor *x);
ENG_MUST_CHECK eng_status eng_conv2d_backward_add(eng_layer *layer, const eng_tensor *x,
                                                  const eng_tensor *y, const eng_tensor *dy,
                                                  eng_tensor *dx);
/* The layer's forward_delta (layer.h), any groups. */
ENG_MUST_CHECK eng_status eng_conv2d_forward_delta(eng_layer *layer, const eng_tensor *x,
                                                   const eng_tensor *y, int param, int64_t index,
                                                   double delta, eng_tensor *y_out);

#endif
