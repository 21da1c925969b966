-- A small ResNet on Fashion-MNIST: conv-BN-ReLU stem, three residual stages with BatchNorm
-- and projection shortcuts, global average pooling, linear (scripts/resnet.lua builds it).
-- SGD with Nesterov momentum and weight decay, the lr annealed by a cosine over the steps;
-- the test accuracy after every epoch.
--
--   engine scripts/resnet_fmnist.lua [key=value ...]   e.g. epochs=1 threads=2 save=run.h5
--
-- save= writes a checkpoint at the end (the model only), which scripts/torch_checkpoint.py
-- loads into the same ResNet in PyTorch (resnet() there).
local engine = require("engine")
local nn, optim, data = engine.nn, engine.optim, engine.data
local resnet = dofile((arg and arg[0] and arg[0]:match("(.*/)") or "scripts/") .. "resnet.lua")

local config = {
  dtype = "f32",
  epochs = 3,
  batch_size = 128,
  lr = 0.1,
  momentum = 0.9,
  weight_decay = 5e-4,
  width1 = 16,
  width2 = 32,
  width3 = 64,
  stride1 = 2,
  stride2 = 2,
  stride3 = 2,
  threads = 1,
  seed = 1,
  -- Fashion-MNIST's training-set pixel mean and standard deviation (after scaling to [0,1]).
  mean = 0.2860,
  std = 0.3530,
  data_dir = "/usr/share/datasets/fashion-mnist",
  save = "",
}

engine.config(config, arg)
engine.seed(config.seed)
engine.threads(config.threads)

local train = data.fashion_mnist("train", config.data_dir)
local test = data.fashion_mnist("test", config.data_dir)
local model = resnet.build{widths = {config.width1, config.width2, config.width3},
                           strides = {config.stride1, config.stride2, config.stride3},
                           dtype = config.dtype}
print(model)
local criterion = nn.CrossEntropyLoss()
local opt = optim.SGD(model, {lr = config.lr, momentum = config.momentum, nesterov = true,
                              weight_decay = config.weight_decay})
local steps_per_epoch = math.ceil(train:size() / config.batch_size)
local sched = optim.CosineAnnealingLR(opt, {T_max = config.epochs * steps_per_epoch})
local batch_options = {shuffle = true, dtype = config.dtype, scale = 1 / 255,
                       mean = config.mean, std = config.std, reuse = true}

local function accuracy()
  model:eval()
  local correct, total, out = 0, 0, nil
  for x, y in test:batches(500, {shuffle = false, dtype = config.dtype, scale = 1 / 255,
                                   mean = config.mean, std = config.std, reuse = true}) do
    out = model:forward(x, out)
    correct = correct + (out:argmax(2) - 1):eq(y):sum() -- argmax is 1-based, labels 0-based
    total = total + y:size(1)
  end
  return correct / total, correct, total
end

local images, seconds, acc, correct, total = 0, 0, 0, 0, 0
for epoch = 1, config.epochs do
  model:train()
  local loss_sum, step, start = 0, 0, engine.clock()
  local bar = engine.progress.new(("epoch %d/%d"):format(epoch, config.epochs), steps_per_epoch,
                                  {unit = "steps"})
  local out, dout
  for x, y in train:batches(config.batch_size, batch_options) do
    opt:zero_grad()
    out = model:forward(x, out)
    local loss = criterion:forward(out, y)
    dout = criterion:backward(dout)
    model:backward(dout)
    opt:step()
    sched:step()
    if loss ~= loss or loss == math.huge then
      bar:done()
      error(("epoch %d step %d: the loss is %s"):format(epoch, step + 1, tostring(loss)))
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
  acc, correct, total = accuracy()
  print(("epoch %d: mean training loss %.4f, test accuracy %.4f (%s), %.1f s training"):format(
    epoch, loss_sum / step, acc, config.dtype, epoch_seconds))
end

print(("test accuracy: %.4f (%d/%d, %s) after %d epoch%s"):format(acc, correct, total,
  config.dtype, config.epochs, config.epochs == 1 and "" or "s"))
print(("training: %.1f s, %.0f images/s (%s, %d thread%s)"):format(seconds, images / seconds,
  config.dtype, engine.threads(), engine.threads() == 1 and "" or "s"))
if config.save ~= "" then
  engine.save(config.save, {model = model, meta = {test_accuracy = acc, epochs = config.epochs}})
  print("saved " .. config.save)
end
