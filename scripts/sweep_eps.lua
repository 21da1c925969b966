-- Epsilon sweep: the error of the plain central difference (L(x+h) - L(x-h)) / 2h against
-- the analytic gradient, for every tensor of the seed CNN, over steps 1e-1 .. 1e-12: the
-- V-shaped curve of truncation against round-off, with the checker's chosen step marked.
-- Each step is one run of engine.sweep (recorded in an HDF5 results file, skipped when the
-- script is run again with the same file).
--
--   engine scripts/sweep_eps.lua [plot=eps_sweep.svg] [results=eps_sweep.h5] [batch=4] ...
local engine = require("engine")
local nn, data, gc = engine.nn, engine.data, engine.gradcheck

local config = {
  plot = "eps_sweep.svg",
  results = "eps_sweep.h5",
  sweep_plot = "eps_sweep_runs.svg",
  batch = 4,
  samples = 8,
  seed = 1,
  data_dir = "/usr/share/datasets/fashion-mnist",
}
engine.config(config, arg, "config (float64):")

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
local criterion = nn.CrossEntropyLoss()
local steps = {}
for k = 1, 12 do steps[k] = 10.0 ^ -k end

-- one run per step, through engine.sweep: metric "error" is the median over the tensors
local records = engine.sweep.run{
  results = config.results, grid = {eps = steps}, metric = "error", goal = "min",
  plot = config.sweep_plot, logy = true, quiet = true,
  run = function(settings)
    local one = gc.sweep(model, criterion, x, y, {steps = {settings.eps},
      samples = config.samples, seed = config.seed})
    local metrics, errors = {}, {}
    for _, t in ipairs(one.tensors) do
      metrics[t.name] = t.errors[1]
      errors[#errors + 1] = t.errors[1]
    end
    table.sort(errors)
    metrics.error = errors[(#errors + 1) // 2]
    return metrics
  end,
}

-- the V-curves of every tensor in one plot, with the checker's own choice of step marked
local sweep = gc.sweep(model, criterion, x, y, {steps = steps,
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
local best
for _, r in ipairs(records) do
  if r.status == "completed" and (not best or r.final.error < best.final.error) then best = r end
end
print(("median relative errors (float64); best step over the tensors: %s (median error %.2e)")
  :format(best.key, best.final.error))
print(("plots: %s (per tensor, chosen steps marked), %s (the sweep's runs); results: %s")
  :format(config.plot, config.sweep_plot, config.results))
