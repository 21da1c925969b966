-- Benchmark: training steps of the seed CNN on Fashion-MNIST in this engine.
--   engine bench/train_seed_cnn.lua [steps] [batch] [dtype]
-- Prints one line "engine <dtype> threads=<n> batch=<b> steps=<s> images_per_s=<x>".
local engine = require("engine")
local nn, optim, data = engine.nn, engine.optim, engine.data

local config = {
  steps = tonumber(arg[1]) or 300,
  batch = tonumber(arg[2]) or 64,
  dtype = arg[3] or "f32",
  warmup = 20,
  seed = 1,
}

engine.seed(config.seed)
local train = data.fashion_mnist("train")
local model = nn.Sequential{
  nn.Conv2d(1, 16, 5, {padding = 2, dtype = config.dtype}),
  nn.ReLU(),
  nn.MaxPool2d(2),
  nn.Flatten(),
  nn.Linear(16 * 14 * 14, 128, {dtype = config.dtype}),
  nn.ReLU(),
  nn.Linear(128, 10, {dtype = config.dtype}),
}
local criterion = nn.CrossEntropyLoss()
local opt = optim.SGD(model, {lr = 0.05, momentum = 0.9})
local options = {shuffle = true, dtype = config.dtype, scale = 1 / 255, mean = 0.2860,
                 std = 0.3530}

local done, start = 0, nil
while done < config.steps + config.warmup do
  for x, y in train:batches(config.batch, options) do
    if done == config.warmup then start = engine.clock() end
    opt:zero_grad()
    criterion:forward(model:forward(x), y)
    model:backward(criterion:backward())
    opt:step()
    done = done + 1
    if done == config.steps + config.warmup then break end
  end
end
local seconds = engine.clock() - start
print(("engine %s threads=%d batch=%d steps=%d images_per_s=%.1f"):format(config.dtype,
  engine.threads(), config.batch, config.steps, config.steps * config.batch / seconds))
