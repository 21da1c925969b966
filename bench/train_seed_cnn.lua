-- Benchmark: training steps (or inference) of the seed CNN, the LeNet-style net or a small
-- ResNet on Fashion-MNIST in this engine.
--   engine bench/train_seed_cnn.lua [steps] [batch] [dtype] [net=seed|lenet|resnet]
--                                   [mode=train|infer]
-- Prints one line "engine <net> <mode> <dtype> threads=<n> batch=<b> steps=<s>
-- images_per_s=<x> cpu_images_per_s=<y> ...": y counts the process's CPU time (os.clock)
-- instead of wall time, the fairer figure while other jobs share the cores.
local engine = require("engine")
local nn, optim, data = engine.nn, engine.optim, engine.data

local config = {
  steps = tonumber(arg[1]) or 300,
  batch = tonumber(arg[2]) or 64,
  dtype = arg[3] or "f32",
  net = arg[4] or "seed",
  mode = arg[5] or "train",
  warmup = 20,
  seed = 1,
}

engine.seed(config.seed)
assert(config.mode == "train" or config.mode == "infer", "mode must be train or infer")
local train = data.fashion_mnist("train")
local nets = {
  -- conv 1->16 5x5 pad 2, ReLU, max-pool 2, linear 3136->128, ReLU, linear 128->10
  seed = function(d)
    return nn.Sequential{
      nn.Conv2d(1, 16, 5, {padding = 2, dtype = d}), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
      nn.Linear(16 * 14 * 14, 128, {dtype = d}), nn.ReLU(), nn.Linear(128, 10, {dtype = d}),
    }
  end,
  -- conv 1->32 3x3 pad 1, pool, conv 32->64 3x3 pad 1, pool, linear 3136->128, linear 128->10
  -- (issue 7's LeNet-style net, with ReLUs after the convolutions and the first linear)
  lenet = function(d)
    return nn.Sequential{
      nn.Conv2d(1, 32, 3, {padding = 1, dtype = d}), nn.ReLU(), nn.MaxPool2d(2),
      nn.Conv2d(32, 64, 3, {padding = 1, dtype = d}), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
      nn.Linear(64 * 7 * 7, 128, {dtype = d}), nn.ReLU(), nn.Linear(128, 10, {dtype = d}),
    }
  end,
  -- conv-BN-ReLU stem (1->16), three residual stages of one basic block each (16 at 28x28,
  -- 32 at 14x14, 64 at 7x7; the first convolution of a stage strides, a 1x1 convolution with
  -- BatchNorm projects the shortcut), global average pooling, linear 64->10
  resnet = function(d)
    local function stage(cin, cout, stride)
      local block = nn.Sequential{
        nn.Conv2d(cin, cout, 3, {stride = stride, padding = 1, bias = false, dtype = d}),
        nn.BatchNorm2d(cout, {dtype = d}), nn.ReLU(),
        nn.Conv2d(cout, cout, 3, {padding = 1, bias = false, dtype = d}),
        nn.BatchNorm2d(cout, {dtype = d}),
      }
      local shortcut = nn.Sequential{
        nn.Conv2d(cin, cout, 1, {stride = stride, bias = false, dtype = d}),
        nn.BatchNorm2d(cout, {dtype = d}),
      }
      return nn.Residual(block, shortcut)
    end
    return nn.Sequential{
      nn.Conv2d(1, 16, 3, {padding = 1, bias = false, dtype = d}),
      nn.BatchNorm2d(16, {dtype = d}), nn.ReLU(),
      stage(16, 16, 1), nn.ReLU(), stage(16, 32, 2), nn.ReLU(), stage(32, 64, 2), nn.ReLU(),
      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10, {dtype = d}),
    }
  end,
}
local model = assert(nets[config.net], "net must be seed, lenet or resnet")(config.dtype)
if config.mode == "infer" then model:evaluate() end
local criterion = nn.CrossEntropyLoss()
local opt = optim.SGD(model, {lr = 0.05, momentum = 0.9})
-- reuse: the batches come in the same two tensors every step (no allocation per step).
local options = {shuffle = true, dtype = config.dtype, scale = 1 / 255, mean = 0.2860,
                 std = 0.3530, reuse = true}

-- out and dout are overwritten at every step: no tensor is allocated per step.
local done, start, cpu_start, allocated, out, dout = 0, nil, nil, 0, nil, nil
while done < config.steps + config.warmup do
  for x, y in train:batches(config.batch, options) do
    if done == config.warmup then
      start, cpu_start = engine.clock(), os.clock()
      allocated = engine.allocated_bytes()
    end
    if config.mode == "infer" then
      out = model:forward(x, out)
    else
      opt:zero_grad()
      out = model:forward(x, out)
      criterion:forward(out, y)
      dout = criterion:backward(dout)
      model:backward(dout)
      opt:step()
    end
    done = done + 1
    if done == config.steps + config.warmup then break end
  end
end
local seconds, cpu_seconds = engine.clock() - start, os.clock() - cpu_start
print(("engine %s %s %s threads=%d batch=%d steps=%d images_per_s=%.1f cpu_images_per_s=%.1f "
  .. "bytes_per_step=%.0f")
  :format(config.net, config.mode, config.dtype, engine.threads(), config.batch, config.steps,
          config.steps * config.batch / seconds, config.steps * config.batch / cpu_seconds,
          (engine.allocated_bytes() - allocated) / config.steps))
