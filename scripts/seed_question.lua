-- The seed question, reproduced: a hand-checked CNN (conv -> ReLU -> pool -> FC -> ReLU -> FC ->
-- softmax) whose first-layer gradients are about 1e-11 at epoch 0, and a backward whose
-- first-layer weight gradient is off by a factor 0.86. What the asker saw, and what the
-- checker says about it, in float64.
--
--   engine scripts/seed_question.lua [key=value ...]
local engine = require("engine")
local nn, data, gc = engine.nn, engine.data, engine.gradcheck

local config = {
  seed = 1,
  batch = 8,            -- Fashion-MNIST test images in the batch
  tail_scale = 1.2e-4,  -- the FC weights are shrunk by this: first-layer gradients ~1e-11
  logit_bias = 1.2,     -- spread of the last layer's bias: a loss near the seed's 2.86
  user_eps = 1e-3,      -- the asker's step
  factor = 0.86,        -- the planted bug in the first layer's weight gradient
  samples = 16,         -- elements the checker samples per tensor
  data_dir = "/usr/share/datasets/fashion-mnist",
}
for _, a in ipairs(arg or {}) do
  local key, value = a:match("^([%a_][%w_]*)=(.*)$")
  if not key or config[key] == nil then error(("unknown setting '%s'"):format(a), 0) end
  config[key] = type(config[key]) == "number" and assert(tonumber(value)) or value
end
local keys = {}
for k in pairs(config) do keys[#keys + 1] = k end
table.sort(keys)
print("config (all figures float64):")
for _, k in ipairs(keys) do print(("  %-11s %s"):format(k, tostring(config[k]))) end

engine.seed(config.seed)
local test = data.fashion_mnist("test", config.data_dir)
local x, y
for bx, by in test:batches(config.batch, {dtype = "f64", scale = 1 / 255, mean = 0.2860,
                                          std = 0.3530}) do
  x, y = bx, by
  break
end

local model = nn.Sequential{
  nn.Conv2d(1, 16, 5, {padding = 2, dtype = "f64"}), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
  nn.Linear(16 * 14 * 14, 128, {dtype = "f64"}), nn.ReLU(), nn.Linear(128, 10, {dtype = "f64"}),
}
local criterion = nn.CrossEntropyLoss()
local params = model:parameters()
local by_name = {}
for _, p in ipairs(params) do by_name[p.name] = p end
-- Tiny FC weights (biases untouched, so the ReLUs keep their pattern) make the signal that
-- reaches the first layer vanish: the seed's situation at epoch 0.
for _, name in ipairs({"linear_1.weight", "linear_2.weight"}) do
  local w = by_name[name].value
  local scaled = w * config.tail_scale
  for i = 1, w:size(1) do
    for j = 1, w:size(2) do w:set(i, j, scaled:get(i, j)) end
  end
end
local b = by_name["linear_2.bias"].value
local spread = engine.randn({10}, "f64") * config.logit_bias
for i = 1, 10 do b:set(i, spread:get(i)) end

local function loss_and_gradients(factor)
  return function()
    model:zero_grad()
    local loss = criterion:forward(model:forward(x), y)
    model:backward(criterion:backward())
    local grads = {}
    for i, p in ipairs(params) do
      grads[i] = p.name == "conv2d_1.weight" and p.grad * factor or p.grad:clone()
    end
    return loss, grads
  end
end

-- 1. What the asker printed: the first 10 weights of the first layer, perturbed by +-eps.
local weight = by_name["conv2d_1.weight"].value
local buggy = loss_and_gradients(config.factor)
local loss, grads = buggy()
print(("\n1. The asker's check: cost %.16g at epoch 0, eps = %g"):format(loss, config.user_eps))
print(("   %-12s %22s %22s %9s %7s"):format("weight", "numerical", "computed", "rel err",
  "ratio"))
for k = 1, 10 do
  local i, j = (k - 1) // 5 + 1, (k - 1) % 5 + 1
  local w0 = weight:get(1, 1, i, j)
  weight:set(1, 1, i, j, w0 + config.user_eps)
  local plus = criterion:forward(model:forward(x), y)
  weight:set(1, 1, i, j, w0 - config.user_eps)
  local minus = criterion:forward(model:forward(x), y)
  weight:set(1, 1, i, j, w0)
  local n = (plus - minus) / (2 * config.user_eps)
  local a = grads[1]:get(1, 1, i, j)
  print(("   (1,1,%d,%d)    %22.15e %22.15e %9.3f %7.3f"):format(i, j, n, a,
    math.abs(a - n) / (math.abs(a) + math.abs(n)), a / n))
end
local u = 2.0 ^ -53
local plus_minus = math.abs(grads[1]:get(1, 1, 1, 1) / config.factor) * 2 * config.user_eps
print(("   the cost moves by about %.1e over 2 eps: %.0f units of round-off of the cost"):format(
  plus_minus, plus_minus / (u * loss)))

-- 2. The checker on that backward.
local report = gc.check_function(buggy, (function()
  local list = {}
  for i, p in ipairs(params) do list[i] = p.value end
  return list
end)(), {names = (function()
  local list = {}
  for i, p in ipairs(params) do list[i] = p.name end
  return list
end)(), batch = config.batch, samples = config.samples, seed = config.seed})
print("\n2. engine.gradcheck on the asker's backward (objective written in Lua):")
print(report)

-- 3. The checker on the correct backward, through the model itself.
local correct = gc.check(model, criterion, x, y, {samples = config.samples, seed = config.seed})
print("3. engine.gradcheck on the correct backward:")
print(correct)

local first = report.tensors["conv2d_1.weight"]
print(("verdict: the planted bug is %s in conv2d_1.weight with diagnosis \"%s\";")
  :format(first.verdict, first.diagnosis or ""))
print(("the correct backward is %s; its first-layer gradients have rms %.2e (float64)."):format(
  correct.verdict, correct.tensors["conv2d_1.weight"].grad_rms))
if first.verdict ~= "FAIL" or correct.verdict == "FAIL" then
  error("the checker did not tell the two backward passes apart")
end
