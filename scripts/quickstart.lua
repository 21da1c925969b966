-- Quick start: the seed question's CNN (conv -> ReLU -> pool -> FC -> ReLU -> FC -> softmax)
-- trained for one epoch on Fashion-MNIST with SGD + momentum, then evaluated on the test set.
--
--   engine scripts/quickstart.lua [key=value ...]     e.g. epochs=2 dtype=f64 lr=0.01
local engine = require("engine")
local nn, optim, data = engine.nn, engine.optim, engine.data

local config = {
  dtype = "f32",
  epochs = 1,
  batch_size = 64,
  lr = 0.05,
  momentum = 0.9,
  seed = 1,
  -- Fashion-MNIST's training-set pixel mean and standard deviation (after scaling to [0,1]).
  mean = 0.2860,
  std = 0.3530,
  data_dir = "/usr/share/datasets/fashion-mnist",
}

engine.config(config, arg)

engine.seed(config.seed)
local train = data.fashion_mnist("train", config.data_dir)
local test = data.fashion_mnist("test", config.data_dir)

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
local opt = optim.SGD(model, {lr = config.lr, momentum = config.momentum})
print(model)

local batch_options = {shuffle = true, dtype = config.dtype, scale = 1 / 255,
                       mean = config.mean, std = config.std, reuse = true}
local steps_per_epoch = math.ceil(train:size() / config.batch_size)
local interactive = engine.isatty()

local function progress(epoch, step, loss, rate)
  local width = 30
  local filled = math.floor(width * step / steps_per_epoch)
  io.write(("\repoch %d [%s%s] %d/%d  loss %.4f  %.0f img/s "):format(epoch,
    ("#"):rep(filled), ("."):rep(width - filled), step, steps_per_epoch, loss, rate))
  io.flush()
end

local images, seconds = 0, 0
for epoch = 1, config.epochs do
  model:train()
  local loss_sum, step = 0, 0
  local start = engine.clock()
  -- out and dout are overwritten at every step (as are x and y: batch_options.reuse), so a
  -- step allocates no tensor.
  local out, dout
  for x, y in train:batches(config.batch_size, batch_options) do
    opt:zero_grad()
    out = model:forward(x, out)
    local loss = criterion:forward(out, y)
    dout = criterion:backward(dout)
    model:backward(dout)
    opt:step()
    if loss ~= loss or loss == math.huge then
      error(("epoch %d step %d: the loss is %s (lr %g too high?)"):format(epoch, step + 1,
        tostring(loss), config.lr))
    end
    step = step + 1
    loss_sum = loss_sum + loss
    images = images + x:size(1)
    if interactive and (step % 10 == 0 or step == steps_per_epoch) then
      progress(epoch, step, loss_sum / step, images / (seconds + engine.clock() - start))
    end
  end
  seconds = seconds + engine.clock() - start
  if interactive then io.write("\n") end
  print(("epoch %d: mean training loss %.4f (%s), %.1f s"):format(epoch, loss_sum / step,
    config.dtype, seconds))
end

model:eval()
local correct, total, out = 0, 0, nil
for x, y in test:batches(250, {shuffle = false, dtype = config.dtype, scale = 1 / 255,
                                 mean = config.mean, std = config.std, reuse = true}) do
  out = model:forward(x, out)
  -- argmax is 1-based, labels are 0-based class indices
  correct = correct + (out:argmax(2) - 1):eq(y):sum()
  total = total + y:size(1)
end

print(("test accuracy: %.4f (%d/%d, %s)"):format(correct / total, correct, total, config.dtype))
print(("training speed: %.0f images/s (%s, %d thread%s)"):format(images / seconds,
  config.dtype, engine.threads(), engine.threads() == 1 and "" or "s"))
