-- Every layer written in Lua (nn.Lua): the checker cannot freeze their branches, so kinks are
-- caught by its five-point test. A correct net, with exact zeros into its ReLU, never FAILs in
-- any mode (default, input, directional, layer-wise), also with a Lua loss and a scaled one;
-- a ReLU backward without its mask, written in Lua, is named in the first call.
local engine = require("engine")
local nn, gc = engine.nn, engine.gradcheck

local function lua_linear(name, nin, nout, dead_unit)
  local w = engine.randn({nout, nin}, "f64") * (1 / math.sqrt(nin))
  local b = engine.randn({nout}, "f64") * 0.1
  if dead_unit then -- unit 1 gives exactly 0 for every sample: its ReLU sits on the kink
    for j = 1, nin do w:set(1, j, 0) end
    b:set(1, 0)
  end
  return nn.Lua{name = name, params = {weight = w, bias = b},
    forward = function(self, x) return x:matmul(self.params.weight:t()) + self.params.bias end,
    backward = function(self, x, _, dy)
      return dy:matmul(self.params.weight), {weight = dy:t():matmul(x), bias = dy:sum(1)}
    end}
end

local function lua_relu(name, forget_mask)
  return nn.Lua{name = name,
    forward = function(_, x) return x:relu() end,
    backward = function(_, x, _, dy)
      if forget_mask then return dy, {} end
      return dy * x:gt(0), {}
    end}
end

local function net(forget_mask)
  engine.seed(7)
  return nn.Sequential{lua_linear("fc_a", 6, 8, true), lua_relu("relu_a", forget_mask),
                       lua_linear("fc_b", 8, 3)}
end

local x = engine.randn({5, 6}, "f64")
local y = engine.tensor({0, 1, 2, 1, 0}, "i64")
local goal = engine.randn({5, 3}, "f64") -- the Lua loss's own target (it ignores y)
local half_sq = {
  forward = function(_, input) local d = input - goal; return (d * d):sum() / 2 end,
  backward = function(_, input) return input - goal end,
}

local function every_mode(model, criterion, opts)
  local reports = {}
  for _, mode in ipairs({"default", "input", "directional"}) do
    local o = {}
    for k, v in pairs(opts or {}) do o[k] = v end
    if mode == "input" then o.input = true end
    if mode == "directional" then o.mode = "directional" end
    reports[mode] = gc.check(model, criterion, x, y, o)
  end
  reports["layer-wise"] = gc.check_layers(model, x)
  return reports
end

-- correct: no mode FAILs, at the chosen step or forced ones, with built-in, Lua and scaled losses
for _, case in ipairs({{nn.CrossEntropyLoss(), {}}, {half_sq, {}},
                       {nn.CrossEntropyLoss(), {loss_scale = 1e4}},
                       {nn.CrossEntropyLoss(), {loss_scale = 1e-8}},
                       {nn.CrossEntropyLoss(), {step = 1e-7}},
                       {nn.CrossEntropyLoss(), {step = 1e-2}}}) do
  for mode, r in pairs(every_mode(net(false), case[1], case[2])) do
    assert(r.verdict ~= "FAIL", mode .. " mode FAILed a correct all-Lua net:\n" .. r.text)
  end
end

-- a Lua ReLU without its mask: FAILs in the first call, the Lua layer named
for mode, r in pairs(every_mode(net(true), nn.CrossEntropyLoss())) do
  assert(r.verdict == "FAIL", mode .. ": " .. r.text)
  if mode == "layer-wise" then assert(r.first_failing == "relu_a.input", r.text) end
  assert(r.culprit == "relu_a" and r.localisation:find("input gradient", 1, true), r.text)
end
print("test_gradcheck_lua_layers.lua: ok")
