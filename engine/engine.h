/* The whole public C API of libengine. */
#ifndef ENGINE_ENGINE_H
#define ENGINE_ENGINE_H

#define ENGINE_VERSION "0.1.0"

#include "data.h"
#include "error.h"
#include "io/checkpoint.h"
#include "io/h5dataset.h"
#include "io/idx.h"
#include "kernels/gemm.h"
#include "layers/layer.h"
#include "layers/layers.h"
#include "loss/loss.h"
#include "model.h"
#include "optim/clip.h"
#include "optim/optim.h"
#include "optim/schedule.h"
#include "parallel.h"
#include "registry.h"
#include "progress.h"
#include "rng.h"
#include "tensor.h"
#include "tensor_index.h"
#include "tensor_math.h"
#include "tensor_shape.h"

#endif
