-- Benchmark: the layer-wise check in its default call (sampled, coverage stated) on the seed
-- CNN (float64, batch 4).
--   engine bench/gradcheck_layers.lua
-- Prints "engine gradcheck layers seconds=<s> elements=<checked>/<total> verdict=<v>".
local engine = require("engine")
local nn, gc = engine.nn, engine.gradcheck

engine.seed(1)
local model = nn.Sequential{
  nn.Conv2d(1, 16, 5, {padding = 2, dtype = "f64"}), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
  nn.Linear(16 * 14 * 14, 128, {dtype = "f64"}), nn.ReLU(), nn.Linear(128, 10, {dtype = "f64"}),
}
local x = engine.randn({4, 1, 28, 28}, "f64")
local start = engine.clock()
local report = gc.check_layers(model, x)
local checked, total = 0, 0
for _, t in ipairs(report.tensors) do
  local n = 1
  for _, d in ipairs(t.shape) do n = n * d end
  checked, total = checked + t.checked, total + n
end
print(("engine gradcheck layers seconds=%.2f elements=%d/%d verdict=%s"):format(
  engine.clock() - start, checked, total, report.verdict))
if report.verdict == "FAIL" then error("a correct network FAILed layer-wise") end
