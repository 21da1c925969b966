-- The seed's answer, reproduced honestly: the asker of the seed question (../shared/SEED.md)
-- tried Adam because training seemed stuck on a "gradient plateau", and reported that Adam made
-- the gradients explode even at a learning rate of 1e-5. This trains the seed CNN (conv 1->16
-- 5x5 pad 2, ReLU, max-pool 2, flatten, linear 3136->128, ReLU, linear 128->10, softmax
-- cross-entropy) on a Fashion-MNIST subset with SGD and Adam, at the seed's lr of 1e-5 and at
-- good learning rates, from two starts:
--   default  PyTorch's initialisation
--   seed     the same with both linear layers' weights shrunk by tail_scale, the vanishing
--            signal of the seed's epoch 0 (first-layer gradients ~1e-11, as in
--            scripts/seed_question.lua)
-- and prints, per configuration and with its dtype, the loss curve, the gradient norms (all
-- parameters, and the first layer's weight), the rms of the first linear layer's weight, the
-- growth of the gradient norms over the run, and the test accuracy. Every step goes through model:check_finite, so a diverging run
-- is stopped and named, not silently continued.
--
--   engine scripts/seed_adam.lua [key=value ...]     e.g. dtype=f64 train=5000 epochs=2
local engine = require("engine")
local nn, optim, data = engine.nn, engine.optim, engine.data

local config = {
  dtype = "f32",
  train = 20000,     -- training images (the first ones of the training set)
  test = 2000,       -- test images for the accuracy
  epochs = 1,
  batch_size = 64,
  seed = 1,
  tail_scale = 1.2e-4, -- the "seed" start: linear weights times this
  mean = 0.2860,     -- Fashion-MNIST's pixel mean and standard deviation (after / 255)
  std = 0.3530,
  data_dir = "/usr/share/datasets/fashion-mnist",
}
engine.config(config, arg)

-- name, start, optimizer, options
local runs = {
  {"SGD   lr 1e-5 (the seed's lr)", "default", "SGD", {lr = 1e-5}},
  {"Adam  lr 1e-5 (the seed's lr)", "default", "Adam", {lr = 1e-5}},
  {"SGD   lr 0.05 momentum 0.9", "default", "SGD", {lr = 0.05, momentum = 0.9}},
  {"Adam  lr 1e-3", "default", "Adam", {lr = 1e-3}},
  {"Adam  lr 1e-2", "default", "Adam", {lr = 1e-2}},
  {"SGD   lr 1e-5 (the seed's lr)", "seed", "SGD", {lr = 1e-5}},
  {"Adam  lr 1e-5 (the seed's lr)", "seed", "Adam", {lr = 1e-5}},
  {"SGD   lr 0.05 momentum 0.9", "seed", "SGD", {lr = 0.05, momentum = 0.9}},
  {"Adam  lr 1e-3", "seed", "Adam", {lr = 1e-3}},
}

-- The subsets, normalised once: x [N,1,28,28] in config.dtype, y [N] i64.
local function subset(split, n)
  local ds = data.fashion_mnist(split, config.data_dir)
  for x, y in ds:batches(math.min(n, ds:size()), {dtype = config.dtype, scale = 1 / 255,
                                                   mean = config.mean, std = config.std}) do
    return data.dataset(x, y)
  end
end
local train, test = subset("train", config.train), subset("test", config.test)

local function make_model(start)
  local dt = config.dtype
  local model = nn.Sequential{
    nn.Conv2d(1, 16, 5, {padding = 2, dtype = dt}), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
    nn.Linear(16 * 14 * 14, 128, {dtype = dt}), nn.ReLU(), nn.Linear(128, 10, {dtype = dt}),
  }
  if start == "seed" then
    for _, p in ipairs(model:parameters()) do
      if p.name:match("^linear_%d%.weight$") then
        p.value:copy_(p.value * config.tail_scale)
      end
    end
  end
  return model
end

-- sqrt(sum g^2) over all parameters, over the first layer's weight alone, and the rms of the
-- first linear layer's weight.
local function norms(model)
  local total, first, rms = 0, 0, 0
  for _, p in ipairs(model:parameters()) do
    local s = (p.grad * p.grad):sum()
    total = total + s
    if p.name == "conv2d_1.weight" then first = math.sqrt(s) end
    if p.name == "linear_1.weight" then rms = math.sqrt((p.value * p.value):mean()) end
  end
  return math.sqrt(total), first, rms
end

local function accuracy(model)
  model:eval()
  local correct = 0
  for x, y in test:batches(500, {dtype = config.dtype}) do
    correct = correct + (model:forward(x):argmax(2) - 1):eq(y):sum()
  end
  model:train()
  return correct / test:size()
end

local steps_per_epoch = math.ceil(train:size() / config.batch_size)
local total_steps = steps_per_epoch * config.epochs
local logged = {[1] = true, [10] = true, [total_steps] = true}
for s = 25, total_steps, 25 * math.max(1, total_steps // 200) do logged[s] = true end

local summary = {}
local start_clock = engine.clock()
for r, run in ipairs(runs) do
  local name, start, kind, options = run[1], run[2], run[3], run[4]
  engine.seed(config.seed) -- the same initial weights and batch order for every run
  local model = make_model(start)
  local criterion = nn.CrossEntropyLoss()
  local opt = optim[kind](model, options)
  print(("\n[%d] %s, %s start, %s"):format(r, name, start, config.dtype))
  print(("  %6s %10s %12s %14s %12s"):format("step", "loss", "|grad|", "|grad conv1.w|",
    "rms fc1.w"))
  local step, failure, window = 0, nil, {}
  local first, growth, first1, growth1 = nil, 1, nil, 1
  local clock = engine.clock()
  for _ = 1, config.epochs do
    for x, y in train:batches(config.batch_size, {shuffle = true, dtype = config.dtype}) do
      step = step + 1
      opt:zero_grad()
      local loss = criterion:forward(model:forward(x), y)
      model:backward(criterion:backward())
      local ok, err = pcall(model.check_finite, model, step, loss)
      if not ok then
        failure = err
        break
      end
      window[#window + 1] = loss
      if #window > 10 then table.remove(window, 1) end
      if logged[step] or step == 1 then
        local norm, norm1, rms = norms(model)
        first, first1 = first or norm, first1 or norm1
        growth, growth1 = math.max(growth, norm / first), math.max(growth1, norm1 / first1)
        local mean = 0
        for _, l in ipairs(window) do mean = mean + l end
        print(("  %6d %10.4f %12.3e %14.3e %12.3e"):format(step, mean / #window, norm, norm1,
          rms))
      end
      opt:step()
    end
    if failure then break end
  end
  local seconds = engine.clock() - clock
  local acc = failure and 0 / 0 or accuracy(model)
  if failure then print("  stopped: " .. failure) end
  print(("  test accuracy %.4f (%d images, %s), %.1f s"):format(acc, test:size(),
    config.dtype, seconds))
  summary[#summary + 1] = {name = name, start = start, acc = acc, growth = growth,
                           growth1 = growth1, failed = failure ~= nil}
end

print(("\nsummary (%s, %d training images, %d epoch%s, batch %d; growth = the largest " ..
  "gradient norm at the logged steps over the one at step 1):"):format(config.dtype,
  train:size(), config.epochs, config.epochs == 1 and "" or "s", config.batch_size))
print(("  %-31s %-8s %9s %14s %20s"):format("run", "start", "accuracy", "|grad| growth",
  "|grad conv1.w| growth"))
for _, s in ipairs(summary) do
  print(("  %-31s %-8s %9s %14.3g %20.3g"):format(s.name, s.start,
    s.failed and "diverged" or ("%.4f"):format(s.acc), s.growth, s.growth1))
end
print(("total %.1f s"):format(engine.clock() - start_clock))
