/* Geometry and configuration shared by the max and average pooling kinds (internal). */
#ifndef ENGINE_LAYERS_POOL_COMMON_H
#define ENGINE_LAYERS_POOL_COMMON_H

#include "../kernels/pool.h"
#include "../registry.h"
#include "layer.h"

typedef struct pool_config {
    int kh, kw, sh, sw, ph, pw;
} pool_config;

/* Validates and completes a configuration (stride 0 means the kernel size). */
eng_status pool_config_init(pool_config *cfg, const char *kind, int kh, int kw, int sh, int sw,
                            int ph, int pw);
/* Checks x [N,C,H,W] against the window and fills g. */
eng_status pool_geometry(const eng_layer *layer, const pool_config *cfg, const eng_tensor *x,
                         eng_pool_geometry *g);
eng_status pool_output_shape(const eng_layer *layer, const pool_config *cfg, const eng_tensor *x,
                             int *ndim, int64_t *shape);
/* The settings both kinds declare: kernel_size, stride (0: the kernel size), padding. */
extern const eng_setting pool_settings[];
eng_status pool_describe(const pool_config *cfg, eng_settings *s);
/* The settings' kernel, stride and padding as {kh, kw, sh, sw, ph, pw}. */
void pool_settings_get(const eng_settings *s, int v[6]);

#endif
