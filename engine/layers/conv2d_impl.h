/* conv2d's private state, shared by its files: conv2d.c (the layer, groups = 1 fast paths)
 * and conv2d_grouped.c (groups > 1, and forward_delta). */
#ifndef ENGINE_LAYERS_CONV2D_IMPL_H
#define ENGINE_LAYERS_CONV2D_IMPL_H

#include "../kernels/im2col.h"
#include "layers.h"

typedef struct conv2d {
    eng_layer base;
    int in_channels, out_channels, kh, kw;
    eng_conv2d_options opts;
    eng_tensor *col;  /* workspace [in*kh*kw, oh*ow] (in/groups for groups > 1), reused */
    eng_tensor *xpad; /* workspace [in, h+2ph, w+2pw] for the direct path */
    /* workspaces of the Winograd path: transformed weights (and their gradient), input tiles
     * and output tiles of one group of images (conv2d_winograd.c) */
    eng_tensor *wino_u, *wino_ut, *wino_du, *wino_v, *wino_m;
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
/* The layer's forward_delta (layer.h), any groups. */
ENG_MUST_CHECK eng_status eng_conv2d_forward_delta(eng_layer *layer, const eng_tensor *x,
                                                   const eng_tensor *y, int param, int64_t index,
                                                   double delta, eng_tensor *y_out);

#endif
