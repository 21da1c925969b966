-- Learning rates x optimizers on a Fashion-MNIST subset, through engine.sweep: every run is
-- recorded in an HDF5 results file as it finishes (a restart skips finished runs), diverging
-- runs are recorded as such, and the sweep ends with a table and two plots.
--
--   engine scripts/sweep_lr.lua [results=sweep_lr.h5] [plot=sweep_lr.svg] [train=2000] ...
local engine = require("engine")
local nn, optim, data = engine.nn, engine.optim, engine.data

local config = {
  results = "sweep_lr.h5",
  plot = "sweep_lr.svg",
  curves = "sweep_lr_curves.svg",
  train = 2000,     -- training images (one epoch)
  test = 1000,      -- test images for the accuracy
  batch = 64,
  dtype = "f32",
  seed = 1,
  data_dir = "/usr/share/datasets/fashion-mnist",
}
engine.config(config, arg)

local normalise = {dtype = config.dtype, scale = 1 / 255, mean = 0.2860, std = 0.3530}
local function first(dataset, n, batch)
  local xs, ys = {}, {}
  for x, y in dataset:batches(batch, normalise) do
    xs[#xs + 1], ys[#ys + 1] = x, y
    if #xs * batch >= n then break end
  end
  return xs, ys
end
local train_x, train_y = first(data.fashion_mnist("train", config.data_dir), config.train,
                               config.batch)
local test_x, test_y = first(data.fashion_mnist("test", config.data_dir), config.test, 1000)

local function run(settings, log)
  engine.seed(config.seed)
  local d = config.dtype
  local model = nn.Sequential{
    nn.Conv2d(1, 16, 5, {padding = 2, dtype = d}), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
    nn.Linear(16 * 14 * 14, 128, {dtype = d}), nn.ReLU(), nn.Linear(128, 10, {dtype = d}),
  }
  local crit = nn.CrossEntropyLoss()
  local opt = optim.new(settings.optimizer, model, {lr = settings.lr})
  for step = 1, #train_x do
    opt:zero_grad()
    local loss = crit:forward(model:forward(train_x[step]), train_y[step])
    log(step, {loss = loss})
    model:backward(crit:backward())
    opt:step()
  end
  model:eval()
  local correct, total = 0, 0
  for i = 1, #test_x do
    correct = correct + (model:forward(test_x[i]):argmax(2) - 1):eq(test_y[i]):sum()
    total = total + test_y[i]:size(1)
  end
  return {accuracy = correct / total}
end

local records = engine.sweep.run{
  results = config.results,
  grid = {lr = {1e-4, 1e-3, 1e-2, 1e-1, 1, 10}, optimizer = {"sgd", "adam"}},
  metric = "accuracy", goal = "max",
  run = run,
  plot = config.plot, curves = config.curves,
}
local best
for _, r in ipairs(records) do
  if r.status == "completed" and (not best or r.final.accuracy > best.final.accuracy) then
    best = r
  end
end
print(("best: %s, test accuracy %.4f (%s); plots: %s, %s"):format(best.key,
  best.final.accuracy, config.dtype, config.plot, config.curves))
