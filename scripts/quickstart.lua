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

local images, seconds = 0, 0
for epoch = 1, config.epochs do
  model:train()
  local loss_sum, step = 0, 0
  local start = engine.clock()
  -- stderr: on a terminal a bar with rate and ETA; otherwise one line when the epoch ends,
  -- with this epoch's time
  local bar = engine.progress.new(("epoch %d/%d"):format(epoch, config.epochs), steps_per_epoch,
                                  {unit = "steps"})
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
      bar:done()
      error(("epoch %d step %d: the loss is %s (lr %g too high?)"):format(epoch, step + 1,
        tostring(loss), config.lr))
    end
    step = step + 1
    loss_sum = loss_sum + loss
    images = images + x:size(1)
    bar:note(("loss %.4f"):format(loss_sum / step))
    bar:step()
  end
  bar:done()
  local epoch_seconds = engine.clock() - start
  seconds = seconds + epoch_seconds
  print(("epoch %d: mean training loss %.4f (%s), %.1f s this epoch, %.1f s in all"):format(
    epoch, loss_sum / step, config.dtype, epoch_seconds, seconds))
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
