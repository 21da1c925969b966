#include "data.h"

#include <stdio.h>
#include <string.h>

#include "io/idx.h"

eng_status eng_dataset_init(eng_dataset *ds, eng_tensor *x, eng_tensor *y)
{
    ds->x = x;
    ds->y = y;
    eng_status st = ENG_OK;
    if (x->ndim < 1 || y->ndim != 1 || x->shape[0] != y->shape[0])
        st = eng_error(ENG_ESHAPE, "dataset: samples %s and labels %s, expected [N,...] and [N]",
                       eng_tensor_shape_str(x), eng_tensor_shape_str(y));
    else if (y->dtype != ENG_I64)
        st = eng_error(ENG_EDTYPE, "dataset: labels have dtype %s, expected i64",
                       eng_dtype_name(y->dtype));
    else if (x->dtype != ENG_U8 && !eng_dtype_is_float(x->dtype))
        st = eng_error(ENG_EDTYPE, "dataset: samples have dtype %s, expected u8, f32 or f64",
                       eng_dtype_name(x->dtype));
    else if (!eng_tensor_is_contiguous(x) || !eng_tensor_is_contiguous(y))
        st = eng_error(ENG_ESTATE, "dataset: samples and labels must be contiguous");
    if (st)
        eng_dataset_free(ds);
    return st;
}

void eng_dataset_free(eng_dataset *ds)
{
    eng_tensor_release(ds->x);
    eng_tensor_release(ds->y);
    ds->x = ds->y = NULL;
}

eng_status eng_dataset_load_mnist(eng_dataset *ds, const char *dir, const char *split)
{
    const char *prefix;
    if (strcmp(split, "train") == 0)
        prefix = "train";
    else if (strcmp(split, "test") == 0)
        prefix = "t10k";
    else
        return eng_error(ENG_EARG, "mnist: split '%s' (expected 'train' or 'test')", split);
    char images_path[4096], labels_path[4096];
    snprintf(images_path, sizeof images_path, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    snprintf(labels_path, sizeof labels_path, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    eng_tensor *images = NULL, *labels = NULL, *y = NULL, *x = NULL;
    eng_status st = eng_idx_read(images_path, &images);
    if (!st)
        st = eng_idx_read(labels_path, &labels);
    if (st)
        goto fail;
    if (images->ndim != 3 || labels->ndim != 1 || images->shape[0] != labels->shape[0]) {
        st = eng_error(ENG_EFORMAT, "%s holds images %s and %s labels %s: expected [N,H,W] and [N]",
                       images_path, eng_tensor_shape_str(images), labels_path,
                       eng_tensor_shape_str(labels));
        goto fail;
    }
    int64_t shape[4] = {images->shape[0], 1, images->shape[1], images->shape[2]};
    st = eng_tensor_reshape(images, 4, shape, &x);
    if (!st)
        st = eng_tensor_to(labels, ENG_I64, &y);
    if (st)
        goto fail;
    eng_tensor_release(images);
    eng_tensor_release(labels);
    return eng_dataset_init(ds, x, y);
fail:
    eng_tensor_release(images);
    eng_tensor_release(labels);
    eng_tensor_release(x);
    eng_tensor_release(y);
    return st;
}

void eng_permutation(int64_t *perm, int64_t n, eng_rng *rng)
{
    if (!rng)
        rng = eng_rng_global();
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)eng_rng_below(rng, (uint64_t)i + 1);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

eng_status eng_dataset_gather(const eng_dataset *ds, const int64_t *indices, int64_t count,
                              double scale, double mean, double std, eng_tensor *x_out,
                              eng_tensor *y_out)
{
    int64_t n = ds->x->shape[0];
    int64_t sample = n ? eng_tensor_numel(ds->x) / n : 0;
    if (!eng_dtype_is_float(x_out->dtype) || x_out->ndim != ds->x->ndim ||
        x_out->shape[0] != count || eng_tensor_numel(x_out) != count * sample ||
        !eng_tensor_is_contiguous(x_out))
        return eng_error(ENG_ESHAPE, "dataset: batch buffer %s %s for %lld samples of %s",
                         eng_dtype_name(x_out->dtype), eng_tensor_shape_str(x_out),
                         (long long)count, eng_tensor_shape_str(ds->x));
    if (y_out->dtype != ENG_I64 || y_out->ndim != 1 || y_out->shape[0] != count)
        return eng_error(ENG_ESHAPE, "dataset: label buffer %s %s for %lld samples",
                         eng_dtype_name(y_out->dtype), eng_tensor_shape_str(y_out),
                         (long long)count);
    if (!(std > 0))
        return eng_error(ENG_EARG, "dataset: std = %g, expected std > 0", std);
    const int64_t *labels = eng_tensor_data(ds->y);
    int64_t *ly = eng_tensor_data(y_out);
    double a = scale / std, b = -mean / std;
    for (int64_t i = 0; i < count; i++) {
        int64_t k = indices[i];
        if (k < 0 || k >= n)
            return eng_error(ENG_EARG, "dataset: sample index %lld out of range [0,%lld)",
                             (long long)k, (long long)n);
        ly[i] = labels[k];
        const void *src = (const char *)eng_tensor_data(ds->x) +
                          (size_t)(k * sample) * eng_dtype_size(ds->x->dtype);
        for (int64_t j = 0; j < sample; j++) {
            double v;
            switch (ds->x->dtype) {
            case ENG_U8: v = ((const uint8_t *)src)[j]; break;
            case ENG_F32: v = ((const float *)src)[j]; break;
            default: v = ((const double *)src)[j]; break;
            }
            v = v * a + b;
            if (x_out->dtype == ENG_F32)
                ENG_F32_DATA(x_out)[i * sample + j] = (float)v;
            else
                ENG_F64_DATA(x_out)[i * sample + j] = v;
        }
    }
    return ENG_OK;
}
