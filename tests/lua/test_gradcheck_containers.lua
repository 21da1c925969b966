-- The checker on models holding containers (nn.Residual, nn.Concat): the ReLUs and max-pools
-- inside freeze their branches through the container (forward_frozen), a Lua layer inside
-- keeps the container from claiming it (no mode may then treat the model as smooth). A correct model
-- with exact zeros inside a residual block never FAILs (default, input, directional,
-- layer-wise, forced steps, the Taylor test); a model in training mode with BatchNorm inside a
-- residual block gets its running statistics back after every check; a bug planted inside
-- nested containers is pinned on the innermost layer, named by its path.
local engine = require("engine")
local nn, gc = engine.nn, engine.gradcheck

engine.seed(5)
local function zero_bias(layer)
  for _, p in ipairs(layer:parameters()) do
    if p.name:find("bias") then p.value:zero_() end
  end
  return layer
end
local model = nn.Sequential{
  zero_bias(nn.Conv2d(1, 3, 3, {padding = 1, dtype = "f64"})), nn.ReLU(),
  nn.Residual(nn.Sequential{zero_bias(nn.Conv2d(3, 3, 3, {padding = 1, dtype = "f64"})),
                            nn.ReLU()}),
  nn.Concat(2, nn.ReLU(), nn.Tanh()), nn.MaxPool2d(2), nn.Flatten(),
  nn.Linear(6 * 3 * 3, 4, {dtype = "f64"})}
local x = engine.randn({4, 1, 6, 6}, "f64")
for n = 1, 4 do for i = 1, 6 do for j = 1, 3 do x:set(n, 1, i, j, 0) end end end
local y = engine.tensor({0, 1, 2, 3}, "i64")
local ce = nn.CrossEntropyLoss()

for _, step in ipairs({0, 1e-7, 1e-5, 1e-3, 1e-2}) do
  local opts = step > 0 and {step = step} or {}
  for _, mode in ipairs({"default", "input", "directional"}) do
    local o = {step = opts.step, seed = 3}
    if mode == "input" then o.input = true end
    if mode == "directional" then o.mode = "directional" end
    local r = gc.check(model, ce, x, y, o)
    assert(r.verdict ~= "FAIL", ("%s mode, step %g FAILed a correct model:\n%s"):format(
      mode, step, r.text))
  end
  local r = gc.check_layers(model, x, {step = opts.step})
  assert(r.verdict ~= "FAIL", "layer-wise FAILed a correct model:\n" .. r.text)
end
for _, name in ipairs({"conv2d_1.weight", "linear_1.weight"}) do
  local _, _, t = gc.taylor(model, ce, x, y, {tensor = name})
  assert(t.verdict ~= "FAIL", name .. ": " .. t.conclusion)
end

-- BatchNorm inside a residual block, in training mode: the running statistics come back
local bn_model = nn.Sequential{nn.Conv2d(1, 3, 3, {padding = 1, dtype = "f64"}),
  nn.Residual(nn.Sequential{nn.BatchNorm2d(3, {dtype = "f64"}), nn.ReLU()}), nn.Flatten(),
  nn.Linear(3 * 6 * 6, 4, {dtype = "f64"})}
bn_model:train()
local before = {}
for _, b in ipairs(bn_model:buffers()) do before[#before + 1] = b.value:clone() end
assert(#before == 2, "the residual block's BatchNorm has two buffers")
local r = gc.check(bn_model, ce, x, y, {samples = 8})
assert(r.verdict ~= "FAIL", r.text)
r = gc.check_layers(bn_model, x)
assert(r.verdict ~= "FAIL", r.text)
for i, b in ipairs(bn_model:buffers()) do
  assert((b.value - before[i]):abs():max() == 0, "running statistics moved: " .. b.name)
end
-- Kinks only inside containers (ReLU and max-pool in a residual block and a nested sequential):
-- every mode and the Taylor test difference them frozen (kink_free), and PASS.
local function kinked_inside(lua_relu)
  local relu = lua_relu and nn.Lua{name = "relu_lua",
    forward = function(_, v) return v:relu() end,
    output_shape = function(_, shape) return shape end,
    backward = function(_, v, _, dy) return dy * v:gt(0):to("f64") end} or nn.ReLU()
  return nn.Sequential{nn.Conv2d(1, 3, 3, {padding = 1, dtype = "f64"}),
    nn.Residual(nn.Sequential{relu, nn.Conv2d(3, 3, 3, {padding = 1, dtype = "f64"})},
                nn.Sequential{nn.Conv2d(3, 3, 1, {dtype = "f64"})}),
    nn.Sequential{nn.MaxPool2d(2), nn.ReLU()}, nn.Flatten(),
    nn.Linear(3 * 3 * 3, 4, {dtype = "f64"})}
end
for _, lua_relu in ipairs({false, true}) do
  local net = kinked_inside(lua_relu)
  for _, mode in ipairs({"default", "directional"}) do
    local r = gc.check(net, ce, x, y, {mode = mode ~= "default" and mode or nil, seed = 1})
    assert(r.verdict == "PASS", mode .. ": " .. r.text)
    -- the max-pool's sequential freezes either way; with the Lua ReLU the residual cannot
    assert(r.kink_free == true, mode .. ": " .. r.text)
  end
  local _, _, t = gc.taylor(net, ce, x, y, {tensor = "residual_1.conv2d_1.weight"})
  assert(t.verdict == "PASS" and t.frozen, t.conclusion)
end
do -- the Lua ReLU's residual has no forward_frozen: alone in a model, nothing freezes
  local net = nn.Sequential{nn.Conv2d(1, 3, 3, {padding = 1, dtype = "f64"}),
    kinked_inside(true)[2], nn.Flatten(), nn.Linear(3 * 6 * 6, 4, {dtype = "f64"})}
  local r = gc.check(net, ce, x, y, {seed = 1})
  assert(r.verdict ~= "FAIL" and r.kink_free == false, r.text)
  net = nn.Sequential{nn.Conv2d(1, 3, 3, {padding = 1, dtype = "f64"}),
    kinked_inside(false)[2], nn.Flatten(), nn.Linear(3 * 6 * 6, 4, {dtype = "f64"})}
  r = gc.check(net, ce, x, y, {seed = 1})
  assert(r.verdict == "PASS" and r.kink_free == true, r.text)
end

-- A bug planted inside nested containers: every mode's verdict names the innermost layer whose
-- backward is wrong, by its path (as its parameters are named), not the container around it.
local function half(bug)  -- y = a * v; with the bug the input gradient it returns is halved
  local f = bug and 0.5 or 1
  return nn.Lua{name = "half", params = {a = engine.tensor({2}, "f64")},
    forward = function(self, v) return v * self.params.a:get(1) end,
    output_shape = function(_, shape) return shape end,
    backward = function(self, v, _, dy)
      return dy * self.params.a:get(1) * f, {a = engine.tensor({(v * dy):sum()}, "f64")}
    end}
end
local function lin() return nn.Linear(4, 4, {dtype = "f64"}) end
local xs, ys = engine.randn({6, 4}, "f64"), engine.tensor({0, 1, 0, 1, 1, 0}, "i64")
local cases = {
  -- inside a residual block inside a residual block
  {function(bug) return nn.Sequential{lin(), nn.Residual(nn.Sequential{lin(),
     nn.Residual(nn.Sequential{nn.Tanh(), half(bug)}, nn.Sequential{lin()})}),
     nn.Linear(4, 2, {dtype = "f64"})} end, "residual_1.residual_1.half"},
  -- in a projection shortcut
  {function(bug) return nn.Sequential{lin(), nn.Residual(nn.Sequential{lin(), nn.Tanh()},
     nn.Sequential{lin(), half(bug)}), nn.Linear(4, 2, {dtype = "f64"})} end,
   "residual_1.shortcut.half"},
  -- in the second branch of a concat inside two nested sequentials
  {function(bug) return nn.Sequential{lin(), nn.Sequential{nn.Sequential{nn.Concat(2,
     nn.Sequential{nn.Tanh()}, nn.Sequential{lin(), half(bug)})}},
     nn.Linear(8, 2, {dtype = "f64"})} end, "sequential_1.sequential_1.concat_1.branch_2.half"},
}
for _, case in ipairs(cases) do
  local path = case[2]
  for _, bug in ipairs({true, false}) do
    local net = case[1](bug)
    local reports = {["layer-wise"] = gc.check_layers(net, xs),
      default = gc.check(net, ce, xs, ys, {seed = 2}),
      directional = gc.check(net, ce, xs, ys, {mode = "directional", seed = 2})}
    for mode, r in pairs(reports) do
      if bug then
        assert(r.verdict == "FAIL", mode .. ": " .. r.text)
        assert(r.culprit == path, ("%s: culprit %s, expected %s"):format(mode, r.culprit, path))
        assert(r.culprit_tensor == path .. ".input", mode .. ": " .. r.culprit_tensor)
        assert(r.localisation:find(path .. ": input gradient wrong", 1, true) and
               r.localisation:find("0.5", 1, true), mode .. ": " .. r.localisation)
      else
        assert(r.verdict ~= "FAIL", mode .. " FAILed a correct model: " .. r.text)
      end
    end
  end
end

print("test_gradcheck_containers.lua: ok")
