/* Constructors of the built-in layer kinds. Each returns a layer with refcount 1 owned by the
 * caller (release with eng_layer_release). Parameters are initialised as PyTorch does:
 * weights kaiming_uniform(a=sqrt(5)), bias uniform(+-1/sqrt(fan_in)), drawn from rng (NULL:
 * the global generator). Semantics and layouts follow torch.nn. */
#ifndef ENGINE_LAYERS_LAYERS_H
#define ENGINE_LAYERS_LAYERS_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include "layer.h"

typedef struct eng_conv2d_options {
    int stride_h, stride_w;     /* default 1 when 0 */
    int padding_h, padding_w;   /* zero padding */
    int dilation_h, dilation_w; /* default 1 when 0 */
    bool no_bias;
    int groups; /* default 1 when 0; divides in and out (in = out = groups: depthwise) */
} eng_conv2d_options;

/* x [N,in,H,W] -> y [N,out,oh,ow]; weight [out,in/groups,kh,kw], bias [out].
 * opts [optional] NULL: stride 1, no padding, dilation 1, with bias. */
ENG_MUST_CHECK eng_status eng_conv2d_new(int in_channels, int out_channels, int kh, int kw,
                                         const eng_conv2d_options *opts, eng_dtype dtype,
                                         eng_rng *rng, eng_layer **out);

/* x [N,in] -> y [N,out] = x @ weight^T + bias; weight [out,in], bias [out]. */
ENG_MUST_CHECK eng_status eng_linear_new(int in_features, int out_features, bool bias,
                                         eng_dtype dtype, eng_rng *rng, eng_layer **out);

/* x [N,C,H,W] -> y [N,C,oh,ow]. stride 0 means the kernel size; padding <= kernel/2. */
ENG_MUST_CHECK eng_status eng_maxpool2d_new(int kh, int kw, int stride_h, int stride_w,
                                            int padding_h, int padding_w, eng_layer **out);
ENG_MUST_CHECK eng_status eng_avgpool2d_new(int kh, int kw, int stride_h, int stride_w,
                                            int padding_h, int padding_w, eng_layer **out);

/* Pointwise activations, any shape. */
ENG_MUST_CHECK eng_status eng_relu_new(eng_layer **out);
ENG_MUST_CHECK eng_status eng_leaky_relu_new(double negative_slope, eng_layer **out);
ENG_MUST_CHECK eng_status eng_tanh_new(eng_layer **out);
ENG_MUST_CHECK eng_status eng_sigmoid_new(eng_layer **out);

/* x [N,...] -> y [N, prod(...)]. */
ENG_MUST_CHECK eng_status eng_flatten_new(eng_layer **out);

/* Zeroes each element with probability p in training and scales the rest by 1/(1-p);
 * the identity in evaluation. The mask comes from the layer's own generator, seeded from rng
 * at creation. 0 <= p < 1. */
ENG_MUST_CHECK eng_status eng_dropout_new(double p, eng_rng *rng, eng_layer **out);

/* Batch normalisation, torch.nn.BatchNorm1d (dims 1: x [N,C] or [N,C,L]) and BatchNorm2d
 * (dims 2: x [N,C,H,W]); y like x. weight [C] = 1, bias [C] = 0 when affine; buffers
 * running_mean [C] = 0, running_var [C] = 1. PyTorch's defaults: eps 1e-5, momentum 0.1.
 * The running variance is the unbiased one, as PyTorch's. */
ENG_MUST_CHECK eng_status eng_batchnorm_new(int dims, int num_features, double eps, double momentum,
                                            bool affine, eng_dtype dtype, eng_layer **out);

/* torch.nn.LayerNorm: normalises each sample over its trailing dimensions, which must equal
 * normalized_shape [ndim]; weight and bias of that shape (1 and 0) when affine. */
ENG_MUST_CHECK eng_status eng_layernorm_new(int ndim, const int64_t *shape, double eps, bool affine,
                                            eng_dtype dtype, eng_layer **out);

/* torch.nn.GELU: exact (erf) or, with tanh_approx, approximate='tanh'. Any shape. */
ENG_MUST_CHECK eng_status eng_gelu_new(bool tanh_approx, eng_layer **out);

/* torch.nn.Softmax(dim) and LogSoftmax(dim), any shape. dim [optional]: NULL is PyTorch's
 * implicit choice (0 for inputs of rank 0, 1 or 3, else 1); negative counts from the end. */
ENG_MUST_CHECK eng_status eng_softmax_new(const int *dim, eng_layer **out);
ENG_MUST_CHECK eng_status eng_log_softmax_new(const int *dim, eng_layer **out);

/* torch.nn.AdaptiveAvgPool2d((oh, ow)): x [N,C,H,W] -> y [N,C,oh,ow]. */
ENG_MUST_CHECK eng_status eng_adaptive_avgpool2d_new(int oh, int ow, eng_layer **out);

/* torch.nn.Embedding: x [*] of indices held as floats -> y [*, embedding_dim]; weight
 * [num_embeddings, embedding_dim] drawn from N(0, 1). padding_idx may be negative (counted
 * from the end) or ENG_EMBEDDING_NO_PADDING. */
#define ENG_EMBEDDING_NO_PADDING (-2147483647 - 1)
ENG_MUST_CHECK eng_status eng_embedding_new(int num_embeddings, int embedding_dim, int padding_idx,
                                            eng_dtype dtype, eng_rng *rng, eng_layer **out);

#pragma GCC visibility pop

#endif
