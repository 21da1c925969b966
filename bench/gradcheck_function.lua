-- Benchmark: gc.check_function over the seed CNN's loss (the function a user writes: forward,
-- loss, backward) against gc.check on the same network, in the same run (float64, batch 4).
--   engine bench/gradcheck_function.lua
-- Prints "engine gradcheck check seconds=<s>" (every element) and
-- "engine gradcheck check_function seconds=<s> elements=<checked>/<total> ratio=<f/c>".
local engine = require("engine")
local nn, gc = engine.nn, engine.gradcheck

engine.seed(1)
local model = nn.Sequential{
  nn.Conv2d(1, 16, 5, {padding = 2, dtype = "f64"}), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
  nn.Linear(16 * 14 * 14, 128, {dtype = "f64"}), nn.ReLU(), nn.Linear(128, 10, {dtype = "f64"}),
}
local criterion = nn.CrossEntropyLoss()
local x = engine.randn({4, 1, 28, 28}, "f64")
local y = engine.tensor({1, 4, 7, 9}, "i64")

local start = engine.clock()
local full = gc.check(model, criterion, x, y)
local check_seconds = engine.clock() - start
print(("engine gradcheck check seconds=%.2f verdict=%s"):format(check_seconds, full.verdict))

local params = model:parameters()
local values, grads, names = {}, {}, {}
for i, p in ipairs(params) do values[i], grads[i], names[i] = p.value, p.grad, p.name end
local function f()
  model:zero_grad()
  local loss = criterion:forward(model:forward(x), y)
  model:backward(criterion:backward())
  return loss, grads
end
start = engine.clock()
local report = gc.check_function(f, values, {names = names, batch = 4})
local function_seconds = engine.clock() - start
print(("engine gradcheck check_function seconds=%.2f elements=%d/%d verdict=%s ratio=%.2f"):format(
  function_seconds, report.elements_checked, report.elements_total, report.verdict,
  function_seconds / check_seconds))
if report.verdict == "FAIL" or full.verdict == "FAIL" then error("a correct network FAILed") end
