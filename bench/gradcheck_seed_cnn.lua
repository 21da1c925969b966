-- Benchmark: a full element-wise gradient check of every parameter of the seed CNN (batch 4,
-- float64), and a directional check, in this engine.
--   engine bench/gradcheck_seed_cnn.lua [directions=16]
-- Prints "engine gradcheck full seconds=<s> cpu=<s> estimated=<s> elements=<n> verdict=<v>"
-- (wall-clock and CPU seconds of the check, and its own estimate of a full check made before
-- it starts) and the same for the directional mode.
local engine = require("engine")
local nn, gc = engine.nn, engine.gradcheck

local directions = tonumber(arg[1]) or 16
engine.seed(1)
local model = nn.Sequential{
  nn.Conv2d(1, 16, 5, {padding = 2, dtype = "f64"}), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
  nn.Linear(16 * 14 * 14, 128, {dtype = "f64"}), nn.ReLU(), nn.Linear(128, 10, {dtype = "f64"}),
}
local criterion = nn.CrossEntropyLoss()
local x = engine.randn({4, 1, 28, 28}, "f64")
local y = engine.tensor({1, 4, 7, 9}, "i64")

local start, cpu = engine.clock(), os.clock()
local report = gc.check(model, criterion, x, y, {full = true})
local seconds = engine.clock() - start
cpu = os.clock() - cpu
local elements = 0
for _, t in ipairs(report.tensors) do elements = elements + t.checked end
print(("engine gradcheck full seconds=%.2f cpu=%.2f estimated=%.2f elements=%d evaluations=%d "
       .. "verdict=%s"):format(seconds, cpu, report.estimated_seconds, elements,
                               report.evaluations, report.verdict))

start = engine.clock()
report = gc.check(model, criterion, x, y, {mode = "directional", directions = directions})
print(("engine gradcheck directional seconds=%.3f directions=%d verdict=%s"):format(
  engine.clock() - start, directions, report.verdict))
