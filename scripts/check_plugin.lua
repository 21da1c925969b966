-- The first thing to do with a new layer: check it. Runs the gradient checker (float64) on
-- the example C plugin's layers, on its variant with planted bugs, and on a layer written in
-- Lua, alone (layer-wise) and inside a small network.
--
--   engine scripts/check_plugin.lua [plugin_dir=build/plugins]
local engine = require("engine")
local nn, gc = engine.nn, engine.gradcheck

local root = (arg and arg[0] or ""):match("^(.*)/scripts/[^/]*$") or "."
local config = {plugin_dir = root .. "/build/plugins", seed = 3, samples = 0}
engine.config(config, arg, "config (all checks in float64):")

engine.plugin.load(config.plugin_dir .. "/libswish.so")
engine.plugin.load(config.plugin_dir .. "/libswish_buggy.so")

-- a Lua layer: y = tanh(a) * x, a learnable scalar; bug: da has the wrong sign
local function gate(bug)
  return nn.Lua{
    name = bug and "buggy_gate" or "gate",
    params = {a = engine.tensor({0.7}, "f64")},
    forward = function(self, x) return x * math.tanh(self.params.a:get(1)) end,
    backward = function(self, x, y, dy)
      local t = math.tanh(self.params.a:get(1))
      local da = (x * dy):sum() * (1 - t * t)
      return dy * t, {a = engine.tensor({bug and -da or da}, "f64")}
    end,
  }
end

engine.seed(config.seed)
local x = engine.randn({4, 6}, "f64")
local y = engine.tensor({0, 1, 2, 1}, "i64")
local function network(prefix, bug)
  return nn.Sequential{
    nn.new(prefix .. "scaled_linear", {in_features = 6, out_features = 5, scale = 2,
                                       dtype = "f64"}),
    nn.new(prefix .. "swish", {beta = 1.2, dtype = "f64"}),
    gate(bug),
    nn.Linear(5, 3, {dtype = "f64"}),
  }
end

local failures = 0
for _, case in ipairs({{"correct layers", "", false, "PASS"},
                       {"planted bugs", "buggy_", true, "FAIL"}}) do
  local name, prefix, bug, expected = case[1], case[2], case[3], case[4]
  local model = network(prefix, bug)
  print(("\n== %s ==\n%s"):format(name, tostring(model)))
  local layers = gc.check_layers(model, x, {samples = config.samples, seed = config.seed})
  local whole = gc.check(model, nn.CrossEntropyLoss(), x, y,
                         {samples = config.samples, seed = config.seed})
  print(("layer-wise: %s%s"):format(layers.verdict,
    layers.summary and ("; " .. layers.summary) or ""))
  print(("whole network: %s"):format(whole.verdict))
  for _, t in ipairs(layers.tensors) do
    print(("  %-32s %-12s %s"):format(t.name, t.verdict, t.diagnosis or ""))
  end
  if layers.verdict ~= expected or whole.verdict ~= expected then failures = failures + 1 end
end
if failures > 0 then error("the checker's verdicts were not the expected ones") end
print("\nthe correct layers pass, every planted bug fails with its diagnosis")
