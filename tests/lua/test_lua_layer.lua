-- nn.Lua: layers written in Lua inside Sequential, checked by the gradient checker, and their
-- error paths.
local H = dofile("helpers.lua")
local engine = require("engine")
local nn, gc = engine.nn, engine.gradcheck

local function sigmoid(v) return 1 / (1 + math.exp(-v)) end

-- swish(x) = x * sigmoid(beta * x) with a learnable beta; factor plants a bug in dbeta
local function swish(factor, dtype)
  return nn.Lua{
    name = "swish",
    params = {beta = engine.tensor({1.3}, dtype or "f64")},
    forward = function(self, x)
      local b = self.params.beta:get(1)
      return x * (x * b):sigmoid()
    end,
    backward = function(self, x, y, dy)
      local b = self.params.beta:get(1)
      local s = (x * b):sigmoid()
      local ds = s * (1 - s)
      local dx = dy * (s + x * ds * b)
      local db = (dy * x * x * ds):sum()
      return dx, {beta = engine.tensor({db * factor}, dtype or "f64")}
    end,
  }
end

engine.seed(5)
local x = engine.randn({3, 4}, "f64")
local y = engine.tensor({0, 2, 1}, "i64")

-- forward by hand: one element
local layer = swish(1)
local out = layer:forward(engine.tensor({{2.0}}, "f64"))
H.near(out:get(1, 1), 2.0 * sigmoid(2.6), 1e-15, "swish(2)")
assert(tostring(layer) == "Lua(swish)")
assert(layer:kind() == "lua")

-- correct: PASS inside a Sequential, element-wise and layer-wise
local model = nn.Sequential{nn.Linear(4, 5, {dtype = "f64"}), swish(1),
                            nn.Linear(5, 3, {dtype = "f64"})}
assert(tostring(model):find("swish%s+Lua%(swish%)"), tostring(model))
local r = gc.check(model, nn.CrossEntropyLoss(), x, y)
assert(r.verdict == "PASS", tostring(r))
r = gc.check_layers(model, x)
assert(r.verdict == "PASS", tostring(r))

-- a doubled parameter gradient: FAIL, named, diagnosed
model = nn.Sequential{nn.Linear(4, 5, {dtype = "f64"}), swish(2), nn.Linear(5, 3, {dtype = "f64"})}
r = gc.check(model, nn.CrossEntropyLoss(), x, y)
assert(r.verdict == "FAIL" and r.first_failing == "swish.beta", tostring(r))
assert(r.tensors["swish.beta"].diagnosis:find("scale 2", 1, true), tostring(r))
r = gc.check_layers(model, x)
assert(r.summary:find("swish", 1, true), tostring(r))

-- parameters are shared with the tensors given, and trained by an optimizer
local w = engine.tensor({0.5}, "f64")
local scale = nn.Lua{
  name = "scale", params = {w = w},
  forward = function(self, input) return input * self.params.w:get(1) end,
  backward = function(self, input, output, dout)
    local dw = (input * dout):sum()
    return dout * self.params.w:get(1), {w = engine.tensor({dw}, "f64")}
  end,
}
local m = nn.Sequential{scale}
local opt = engine.optim.SGD(m, {lr = 0.1})
opt:zero_grad()
local crit = nn.MSELoss()
crit:forward(m:forward(engine.tensor({{1.0, 2.0}}, "f64")), engine.tensor({{0.0, 0.0}}, "f64"))
m:backward(crit:backward())
opt:step()
-- L = mean((w x)^2) = (0.25 + 1)/2, dL/dw = w * (1 + 4) = 2.5, w <- 0.5 - 0.25
H.near(w:get(1), 0.25, 1e-15, "shared parameter after one SGD step")

-- With several threads a model holding a Lua layer is not split (Lua runs on one thread
-- only): the step still runs, on the plain path, with the one-thread results exactly.
do
  local function step(threads)
    engine.threads(threads)
    engine.seed(3)
    local lin = nn.Linear(4, 3, {dtype = "f64"})
    local sq = nn.Lua{name = "square", forward = function(self, input) return input * input end,
      backward = function(self, input, output, dout) return dout * input * 2 end}
    local model = nn.Sequential{lin, sq, nn.Linear(3, 2, {dtype = "f64"})}
    local xin = engine.randn({6, 4}, "f64")
    local c = nn.MSELoss()
    local loss = c:forward(model:forward(xin), engine.zeros({6, 2}, "f64"))
    model:backward(c:backward())
    local g = model:parameters()[1].grad:clone()
    engine.threads(1)
    return loss, g
  end
  local l1, g1 = step(1)
  local l2, g2 = step(2)
  assert(l1 == l2, "same loss with 2 threads")
  for i = 1, 3 do
    for j = 1, 4 do assert(g1:get(i, j) == g2:get(i, j), "same gradient with 2 threads") end
  end
end

-- errors
H.check_error("field 'forward' must be a function", nn.Lua, {backward = function() end})
H.check_error("params.w must be a contiguous f32 or f64", nn.Lua,
  {forward = function() end, backward = function() end, params = {w = 3}})
local bad = nn.Lua{name = "bad", forward = function() return 42 end, backward = function() end}
H.check_error("lua layer 'bad': forward returned number", bad.forward, bad, x)
local boom = nn.Lua{name = "boom", forward = function() error("kaput") end,
                    backward = function() end}
H.check_error("lua layer 'boom': forward failed: .*kaput", boom.forward, boom, x)
local nograd = nn.Lua{name = "nograd", params = {w = engine.tensor({1.0}, "f64")},
  forward = function(self, input) return input:clone() end,
  backward = function(self, input, output, dout) return dout:clone() end}
nograd:forward(x)
H.check_error("must return the parameter gradients", nograd.backward, nograd, x, x)
print("test_lua_layer.lua: ok")
