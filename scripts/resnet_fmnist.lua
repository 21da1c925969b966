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

-- engine.train runs the loop (the README's, as scripts/quickstart.lua writes it out), with the
-- cosine schedule stepped per batch and the test accuracy as its validation
local acc, correct, total, eval_seconds, seconds = 0, 0, 0, 0, 0
engine.train{
  model = model, criterion = criterion, optimizer = opt, data = train,
  batch_size = config.batch_size, batches = batch_options, epochs = config.epochs,
  schedule = sched, schedule_step = "step",
  validate = function()
    local start = engine.clock()
    acc, correct, total = accuracy()
    eval_seconds = engine.clock() - start
    return {accuracy = acc}
  end,
  on_epoch = function(r, history)
    local sum, n, steps = 0, 0, history.steps -- the mean of the epoch's batch losses
    for i = 1, #steps.loss do
      if steps.epoch[i] == r.epoch then sum, n = sum + steps.loss[i], n + 1 end
    end
    seconds = seconds + r.seconds - eval_seconds
    print(("epoch %d: mean training loss %.4f, test accuracy %.4f (%s), %.1f s training")
      :format(r.epoch, sum / n, acc, config.dtype, r.seconds - eval_seconds))
  end,
}
local images = config.epochs * train:size()

print(("test accuracy: %.4f (%d/%d, %s) after %d epoch%s"):format(acc, correct, total,
  config.dtype, config.epochs, config.epochs == 1 and "" or "s"))
print(("training: %.1f s, %.0f images/s (%s, %d thread%s)"):format(seconds, images / seconds,
  config.dtype, engine.threads(), engine.threads() == 1 and "" or "s"))
if config.save ~= "" then
  engine.save(config.save, {model = model, meta = {test_accuracy = acc, epochs = config.epochs}})
  print("saved " .. config.save)
end
