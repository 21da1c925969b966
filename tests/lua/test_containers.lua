-- nn.Residual, nn.Concat and nested Sequentials: the results against the same computation
-- done by hand from their parts, parameter names, printing, checkpoints of nested models,
-- thread splitting, the training mode, and the errors. (Values against PyTorch:
-- test_containers_torch.lua.)
local H = dofile((arg[0]:match("(.*/)") or "") .. "helpers.lua")
local engine = require("engine")
local nn = engine.nn
local check_error = H.check_error

local function max_diff(a, b)
  local m = (a - b):abs():max()
  return type(m) == "number" and m or m:item()
end

H.section("residual: y = block(x) + shortcut(x), gradients summed")
do
  local conv = nn.Conv2d(3, 3, 3, {padding = 1, dtype = "f64"})
  local res = nn.Residual(nn.Sequential{conv, nn.Tanh()})
  local x = engine.randn({2, 3, 5, 5}, "f64")
  local y = res:forward(x)
  local alone = nn.Sequential{conv, nn.Tanh()}
  local expected = alone:forward(x) + x
  assert(max_diff(y, expected) == 0, "residual forward")
  local dy = engine.randn({2, 3, 5, 5}, "f64")
  res:zero_grad()
  local dx = res:backward(x, dy)
  local g_res = conv:parameters()[1].grad:clone()
  conv:zero_grad()
  local dx_block = alone:backward(dy, true)
  assert(max_diff(dx, dx_block + dy) < 1e-15, "residual input gradient")
  assert(max_diff(g_res, conv:parameters()[1].grad) < 1e-15, "residual weight gradient")
  local names = {}
  for _, p in ipairs(res:parameters()) do names[#names + 1] = p.name end
  assert(table.concat(names, " ") == "conv2d_1.weight conv2d_1.bias", table.concat(names, " "))
end

H.section("residual with a projection shortcut; concat; names through nesting")
do
  local block = nn.Sequential{nn.Conv2d(2, 4, 3, {stride = 2, padding = 1}), nn.BatchNorm2d(4),
    nn.ReLU()}
  local proj = nn.Sequential{nn.Conv2d(2, 4, 1, {stride = 2, bias = false}), nn.BatchNorm2d(4)}
  local model = nn.Sequential{nn.Residual(block, proj),
    nn.Concat(2, nn.Conv2d(4, 3, 1), nn.Sequential{nn.ReLU(), nn.Conv2d(4, 5, 1)}),
    nn.Sequential{nn.Flatten(), nn.Linear(8 * 2 * 2, 3)}}
  local names = {}
  for _, p in ipairs(model:parameters()) do names[#names + 1] = p.name end
  local expected = {"residual_1.conv2d_1.weight", "residual_1.conv2d_1.bias",
    "residual_1.batchnorm2d_1.weight", "residual_1.batchnorm2d_1.bias",
    "residual_1.shortcut.conv2d_1.weight", "residual_1.shortcut.batchnorm2d_1.weight",
    "residual_1.shortcut.batchnorm2d_1.bias", "concat_1.branch_1.conv2d_1.weight",
    "concat_1.branch_1.conv2d_1.bias", "concat_1.branch_2.conv2d_1.weight",
    "concat_1.branch_2.conv2d_1.bias", "sequential_1.linear_1.weight",
    "sequential_1.linear_1.bias"}
  assert(table.concat(names, " ") == table.concat(expected, " "), table.concat(names, " "))
  assert(model:buffers()[1].name == "residual_1.batchnorm2d_1.running_mean")
  local text = tostring(model)
  assert(text:find("residual_1 +Residual%(%)") and text:find("shortcut:", 1, true) and
    text:find("branch_2:", 1, true), text)
  local x = engine.randn({3, 2, 4, 4})
  local y = model:forward(x)
  H.shape_is(y, {3, 3})
  -- concat joins the branches' outputs in order along dim 2
  local mid = model[1]:forward(x)
  local c = model[2]:forward(mid)
  local b1 = nn.Sequential{model[2]}  -- the same layers, run again as a nested model
  assert(max_diff(b1:forward(mid), c) == 0)
  -- a checkpoint rebuilds the nested structure in C and gives the same outputs bit for bit
  local path = os.tmpname()
  engine.save(path, {model = model})
  local loaded = engine.load(path).model
  model:eval(); loaded:eval()
  assert(max_diff(model:forward(x), loaded:forward(x)) == 0, "reloaded outputs")
  assert(tostring(loaded) == tostring(model))
  -- an optimizer's state for parameters inside containers saves and resumes
  local opt = engine.optim.Adam(model, {lr = 1e-3})
  model:train()
  local dy = engine.ones({3, 3})
  model:forward(x); model:backward(dy); opt:step()
  engine.save(path, {model = model, optimizer = opt})
  local again = engine.optim.Adam(loaded, {lr = 1e-3}):load(path)
  loaded:load(path)
  assert(again:steps() == 1)
  opt:zero_grad(); model:forward(x); model:backward(dy); opt:step()
  loaded:train()
  again:zero_grad(); loaded:forward(x); loaded:backward(dy); again:step()
  local a, b = model:parameters(), loaded:parameters()
  for i = 1, #a do assert(max_diff(a[i].value, b[i].value) == 0, "resumed " .. a[i].name) end
  os.remove(path)
end

H.section("a Dropout's generator inside a container is saved: a resumed run draws the same masks")
do
  local function build()
    return nn.Sequential{nn.Linear(6, 6), nn.Residual(nn.Sequential{nn.Dropout(0.5),
      nn.Concat(2, nn.Dropout(0.3), nn.Linear(6, 2))}, nn.Linear(6, 8))}
  end
  local model = build()
  local x = engine.randn({4, 6})
  model:forward(x)
  local path = os.tmpname()
  engine.save(path, {model = model})
  local again = build()
  again:load(path)
  local c = engine.load(path).model
  local y = model:forward(x)
  assert(max_diff(y, again:forward(x)) == 0 and max_diff(y, c:forward(x)) == 0, "masks")
  assert(max_diff(model:forward(x), y) > 0, "a new mask at each forward")
  os.remove(path)
end

H.section("training mode reaches the layers inside: batchnorm's statistics")
do
  local bn = nn.BatchNorm2d(2)
  local model = nn.Sequential{nn.Residual(nn.Sequential{bn})}
  local x = engine.randn({4, 2, 3, 3}) * 3 + 1
  model:train()
  model:forward(x)
  local after_train = bn:buffers()[1].value:clone()
  assert(max_diff(after_train, after_train * 0) > 0, "running mean updated in training")
  model:eval()
  model:forward(x)
  assert(max_diff(after_train, bn:buffers()[1].value) == 0, "eval leaves running stats")
  assert(not model:is_training())
end

H.section("a batch split between threads gives the one-thread results")
do
  local model = nn.Sequential{nn.Conv2d(1, 4, 3, {padding = 1, dtype = "f64"}),
    nn.Residual(nn.Sequential{nn.Conv2d(4, 4, 3, {padding = 1, dtype = "f64"}), nn.ReLU()}),
    nn.Concat(2, nn.ReLU(), nn.Tanh()), nn.Flatten(), nn.Linear(8 * 6 * 6, 2, {dtype = "f64"})}
  local x = engine.randn({6, 1, 6, 6}, "f64")
  local function run(threads)
    engine.threads(threads)
    model:zero_grad()
    local y = model:forward(x)
    local dx = model:backward(engine.ones({6, 2}, "f64"), true)
    local grads = {}
    for i, p in ipairs(model:parameters()) do grads[i] = p.grad:clone() end
    engine.threads(1)
    return y, dx, grads
  end
  local y1, dx1, g1 = run(1)
  local y2, dx2, g2 = run(3)
  assert(max_diff(y1, y2) == 0 and max_diff(dx1, dx2) == 0, "split forward/backward")
  for i = 1, #g1 do
    assert(max_diff(g1[i], g2[i]) < 1e-12, "split gradient " .. i)
  end
end

H.section("the checker: a whole model with containers PASSes; a bug inside one is localised")
do
  local gc = engine.gradcheck
  engine.seed(4)
  -- (no bias before a batchnorm in training: its true gradient is 0, below the noise floor)
  local block = nn.Sequential{nn.Conv2d(2, 3, 3, {stride = 2, padding = 1, bias = false}),
    nn.BatchNorm2d(3), nn.Tanh(), nn.Conv2d(3, 3, 3, {padding = 1, bias = false}),
    nn.BatchNorm2d(3)}
  local proj = nn.Sequential{nn.Conv2d(2, 3, 1, {stride = 2, bias = false}), nn.BatchNorm2d(3)}
  local model = nn.Sequential{nn.Residual(block, proj), nn.Tanh(),
    nn.Concat(2, nn.Conv2d(3, 2, 1), nn.Sigmoid()), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    nn.Linear(5, 3)}:to("f64")
  local x, y = engine.randn({4, 2, 6, 6}, "f64"), engine.tensor({0, 1, 2, 1}, "i64")
  local r = gc.check(model, nn.CrossEntropyLoss(), x, y, {input = true})
  assert(r.verdict == "PASS", r.summary)
  assert(r.tensors["concat_1.branch_1.conv2d_1.weight"] and r.tensors["input"])
  assert(gc.check_layers(model, x).verdict == "PASS")

  local half = nn.Lua{name = "half", params = {a = engine.tensor({2}, "f64")},
    forward = function(self, v) return v * self.params.a:get(1) end,
    output_shape = function(self, shape) return shape end,
    backward = function(self, v, _, dy)  -- planted: the input gradient halved
      return dy * self.params.a:get(1) * 0.5, {a = engine.tensor({(v * dy):sum()}, "f64")}
    end}
  local bad = nn.Sequential{nn.Linear(4, 4, {dtype = "f64"}),
    nn.Residual(nn.Sequential{nn.Linear(4, 4, {dtype = "f64"}), nn.Tanh(), half}),
    nn.Linear(4, 2, {dtype = "f64"})}
  local b = gc.check(bad, nn.CrossEntropyLoss(), engine.randn({5, 4}, "f64"),
    engine.tensor({0, 1, 0, 1, 1}, "i64"))
  -- the localisation descends into the container: the innermost layer whose backward is wrong
  assert(b.verdict == "FAIL" and b.culprit == "residual_1.half", tostring(b.culprit))
  assert(b.culprit_tensor == "residual_1.half.input", b.culprit_tensor)
  assert(b.localisation:find("residual_1.half: input gradient wrong", 1, true) and
    b.localisation:find("0.5", 1, true), b.localisation)
end

H.section("a container named by the user names its parameters: block_2.conv2d_1.weight")
do
  local model = nn.Sequential{nn.Conv2d(1, 2, 1),
    nn.Residual(nn.Sequential{nn.Conv2d(2, 2, 3, {padding = 1})}, {name = "block_2"}),
    nn.Concat(2, nn.ReLU(), nn.Tanh(), {name = "both"})}
  assert(model:parameters()[3].name == "block_2.conv2d_1.weight")
  assert(model[3]:name() == "both" and model:forward(engine.randn({1, 1, 3, 3})):size(2) == 4)
  check_error("Residual: unknown option 'nmae'", nn.Residual, nn.ReLU(), {nmae = "x"})
end

H.section("errors name the container")
do
  check_error("residual: a model with no layers", nn.Residual, nn.Sequential())
  check_error("must be an engine.Sequential or an engine.Layer, got number", nn.Residual, 3)
  check_error("concat: dim 1", nn.Concat, 1, nn.ReLU())
  check_error("Concat: 0 branches", nn.Concat, 2)
  local bad = nn.Residual(nn.Sequential{nn.Conv2d(2, 3, 1)})
  check_error("residual 'residual': for x [1,2,4,4] the block gives [1,3,4,4] but the " ..
    "identity shortcut gives [1,2,4,4]", function() return bad:forward(engine.randn({1, 2, 4, 4})) end)
  local cat = nn.Concat(2, nn.Conv2d(2, 3, 1), nn.MaxPool2d(2))
  check_error("concat 'concat': branch 2 gives [1,2,2,2], branch 1 gives [1,3,4,4]",
    function() return cat:forward(engine.randn({1, 2, 4, 4})) end)
end

print("test_containers: ok")
