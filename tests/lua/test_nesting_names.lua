-- Containers nested the 16 levels they may, with default names: every parameter's full name
-- (234 bytes for the deepest buffer here) is kept whole, and the model, its optimizer state and
-- a gradient check's saved report go to a file and come back under those names. Past the
-- limits a container is refused when it is made, in one line: never a model that saves but
-- does not load (16 default-named Sequentials used to fail on load, later at construction).
local H = dofile("helpers.lua")
local engine = require("engine")
local nn, optim, gc = engine.nn, engine.optim, engine.gradcheck
local path = os.tmpname()

engine.seed(4)
-- containers nested `depth` deep (the model's own layer and those inside it)
local function nested(depth)
  local m = nn.Sequential{nn.Linear(3, 4, {bias = false, dtype = "f64"}), -- (BatchNorm after it)
                          nn.BatchNorm1d(4, {dtype = "f64"}),
                          nn.Tanh(), nn.Linear(4, 2, {dtype = "f64"})}
  for _ = 1, depth - 1 do m = nn.Sequential{m} end
  return nn.Sequential{m}
end
local model = nested(16)
local prefix = ("sequential_1."):rep(16)
local names = {}
for i, p in ipairs(model:parameters()) do names[i] = p.name end
assert(#names == 5 and names[1] == prefix .. "linear_1.weight", names[1])
assert(names[5] == prefix .. "linear_2.bias", names[5])
local buffer = model:buffers()[1].name
assert(buffer == prefix .. "batchnorm1d_1.running_mean" and #buffer == 234, buffer)

local x, y = engine.randn({6, 3}, "f64"), engine.tensor({0, 1, 1, 0, 1, 0}, "i64")
local crit = nn.CrossEntropyLoss()
local opt = optim.Adam(model, {lr = 1e-2})
for _ = 1, 2 do
  opt:zero_grad()
  crit:forward(model:forward(x), y)
  model:backward(crit:backward())
  opt:step()
end
engine.save(path, {model = model, optimizer = opt})
local back = engine.load(path).model
local params = model:parameters()
for i, p in ipairs(back:parameters()) do
  assert(p.name == names[i], ("parameter %d came back as %s"):format(i, p.name))
  H.check_tensor(p.value, params[i].value:totable(), 0, p.name)
end
H.check_tensor(back:buffers()[2].value, model:buffers()[2].value:totable(), 0, "running_var")
local opt2 = optim.Adam(back, {lr = 1e-2}):load(path)
assert(opt2:steps() == 2)
H.check_tensor(opt2:state()[names[1]].exp_avg_sq, opt:state()[names[1]].exp_avg_sq:totable(), 0,
               "exp_avg_sq of " .. names[1])
model:eval()
back:eval()
H.check_tensor(back:forward(x), model:forward(x):totable(), 0, "the reloaded model's output")

local r = gc.check(model, crit, x, y)
assert(r.verdict == "PASS" and r.tensors[names[1]], tostring(r))
r:save(path)
local again = gc.replay(path)
assert(again.replay.same_verdict and again.tensors[names[1]].verdict == "PASS", tostring(again))

-- past the limits: one more level, or names too long to keep whole
H.check_error("containers nested more than 16 deep", nested, 17)
local long = ("r"):rep(63)
H.check_error("is longer than 447 bytes (nest less deeply or use shorter names)", function()
  local m = nn.Linear(2, 2)
  for _ = 1, 8 do m = nn.Residual(m, {name = long}) end
  return m
end)
os.remove(path)
print(("test_nesting_names: 16 nested containers save and load, names up to %d bytes"):format(
  #buffer))
