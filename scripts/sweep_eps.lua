-- Epsilon sweep: the error of the plain central difference (L(x+h) - L(x-h)) / 2h against
-- the analytic gradient, for every tensor of the seed CNN, over steps 1e-1 .. 1e-12: the
-- V-shaped curve of truncation against round-off, with the checker's chosen step marked.
--
--   engine scripts/sweep_eps.lua [plot=eps_sweep.svg] [batch=4] [samples=8] [seed=1]
local engine = require("engine")
local nn, data, gc = engine.nn, engine.data, engine.gradcheck

local config = {
  plot = "eps_sweep.svg",
  batch = 4,
  samples = 8,
  seed = 1,
  data_dir = "/usr/share/datasets/fashion-mnist",
}
for _, a in ipairs(arg or {}) do
  local key, value = a:match("^([%a_][%w_]*)=(.*)$")
  if not key or config[key] == nil then error(("unknown setting '%s'"):format(a), 0) end
  config[key] = type(config[key]) == "number" and assert(tonumber(value)) or value
end
print("config (float64):")
for _, k in ipairs({"batch", "data_dir", "plot", "samples", "seed"}) do
  print(("  %-9s %s"):format(k, tostring(config[k])))
end

engine.seed(config.seed)
local x, y
for bx, by in data.fashion_mnist("test", config.data_dir):batches(config.batch,
    {dtype = "f64", scale = 1 / 255, mean = 0.2860, std = 0.3530}) do
  x, y = bx, by
  break
end
local model = nn.Sequential{
  nn.Conv2d(1, 16, 5, {padding = 2, dtype = "f64"}), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
  nn.Linear(16 * 14 * 14, 128, {dtype = "f64"}), nn.ReLU(), nn.Linear(128, 10, {dtype = "f64"}),
}
local steps = {}
for k = 1, 12 do steps[k] = 10.0 ^ -k end
local sweep = gc.sweep(model, nn.CrossEntropyLoss(), x, y, {steps = steps,
  samples = config.samples, seed = config.seed, plot = config.plot})

io.write(("%-16s"):format("step"))
for _, t in ipairs(sweep.tensors) do io.write(("%17s"):format(t.name)) end
io.write("\n")
for i, h in ipairs(sweep.steps) do
  io.write(("%-16.0e"):format(h))
  for _, t in ipairs(sweep.tensors) do io.write(("%17.2e"):format(t.errors[i])) end
  io.write("\n")
end
io.write(("%-16s"):format("chosen step"))
for _, t in ipairs(sweep.tensors) do io.write(("%17.1e"):format(t.chosen)) end
io.write("\n")
print(("median relative errors (float64) written to %s"):format(config.plot))
