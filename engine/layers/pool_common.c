#include "pool_common.h"

#include <stdio.h>

eng_status pool_config_init(pool_config *cfg, const char *kind, int kh, int kw, int sh, int sw,
                            int ph, int pw)
{
    if (sh == 0)
        sh = kh;
    if (sw == 0)
        sw = kw;
    if (kh <= 0 || kw <= 0 || sh <= 0 || sw <= 0)
        return eng_error(ENG_EARG, "%s: kernel size (%d,%d) and stride (%d,%d) must be positive",
                         kind, kh, kw, sh, sw);
    /* PyTorch's rule: a window must always hold at least one real element. */
    if (ph < 0 || pw < 0 || ph > kh / 2 || pw > kw / 2)
        return eng_error(ENG_EARG,
                         "%s: padding (%d,%d) must be between 0 and half the kernel size (%d,%d)",
                         kind, ph, pw, kh, kw);
    *cfg = (pool_config){kh, kw, sh, sw, ph, pw};
    return ENG_OK;
}

eng_status pool_geometry(const eng_layer *layer, const pool_config *cfg, const eng_tensor *x,
                         eng_pool_geometry *g)
{
    eng_status st = eng_layer_check_input(layer, x, 4, "[N,C,H,W]");
    if (st)
        return st;
    int h = (int)x->shape[2], w = (int)x->shape[3];
    if (h + 2 * cfg->ph < cfg->kh || w + 2 * cfg->pw < cfg->kw)
        return eng_error(ENG_ESHAPE, "%s '%s': x %s is smaller than the %dx%d window",
                         layer->ops->kind, eng_layer_label(layer), eng_tensor_shape_str(x), cfg->kh,
                         cfg->kw);
    *g = (eng_pool_geometry){
        .planes = x->shape[0] * x->shape[1],
        .h = h,
        .w = w,
        .kh = cfg->kh,
        .kw = cfg->kw,
        .sh = cfg->sh,
        .sw = cfg->sw,
        .ph = cfg->ph,
        .pw = cfg->pw,
        .oh = (h + 2 * cfg->ph - cfg->kh) / cfg->sh + 1,
        .ow = (w + 2 * cfg->pw - cfg->kw) / cfg->sw + 1,
    };
    return ENG_OK;
}

eng_status pool_output_shape(const eng_layer *layer, const pool_config *cfg, const eng_tensor *x,
                             int *ndim, int64_t *shape)
{
    eng_pool_geometry g = {0}; /* set on success; the zero quiets -Wmaybe-uninitialized */
    eng_status st = pool_geometry(layer, cfg, x, &g);
    if (st)
        return st;
    *ndim = 4;
    shape[0] = x->shape[0];
    shape[1] = x->shape[1];
    shape[2] = g.oh;
    shape[3] = g.ow;
    return ENG_OK;
}

const eng_setting pool_settings[] = {
    {"kernel_size", ENG_SETTING_INTS,
     ENG_SETTING_REQUIRED | ENG_SETTING_POSITIONAL | ENG_SETTING_SHOWN, .min = 1, .max = 1 << 20,
     .len = 2, .doc = "(kh, kw), or k for (k, k)"},
    {"stride", ENG_SETTING_INTS, ENG_SETTING_SHOWN, .def = 0, .min = 0, .max = 1 << 20, .len = 2,
     .doc = "(sh, sw); 0 means the kernel size"},
    {"padding", ENG_SETTING_INTS, 0, .def = 0, .min = 0, .max = 1 << 20, .len = 2,
     .doc = "(ph, pw), at most half the kernel size"},
    {0},
};

eng_status pool_describe(const pool_config *cfg, eng_settings *s)
{
    int k[2] = {cfg->kh, cfg->kw}, st2[2] = {cfg->sh, cfg->sw}, p[2] = {cfg->ph, cfg->pw};
    eng_status st = eng_settings_set_int_list(s, "kernel_size", k, 2);
    if (!st)
        st = eng_settings_set_int_list(s, "stride", st2, 2);
    if (!st)
        st = eng_settings_set_int_list(s, "padding", p, 2);
    return st;
}

void pool_settings_get(const eng_settings *s, int v[6])
{
    eng_settings_ints(s, "kernel_size", v, 2);
    eng_settings_ints(s, "stride", v + 2, 2);
    eng_settings_ints(s, "padding", v + 4, 2);
}
