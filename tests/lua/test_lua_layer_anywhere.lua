-- A Lua layer gives the right outputs and gradients wherever it stands in a model (first, in
-- the middle, last), at 1 and 2 threads, on repeated calls with new inputs; and the checker,
-- whole-model and layer-wise, catches a planted bug in the built-in layer right after it.
-- Expected values are computed here directly, element by element, from the model's weights.
local H = dofile("helpers.lua")
local engine = require("engine")
local nn, gc = engine.nn, engine.gradcheck

local function square_layer(name)
  return nn.Lua{
    name = name,
    forward = function(self, x) return x * x end,
    backward = function(self, x, y, dy) return x * dy * 2, {} end,
  }
end

-- plain Lua matrices: rows of numbers
local function rows(t)
  local r = t:totable()
  if type(r[1]) ~= "table" then r = {r} end
  return r
end
local function linear(m, w, b)
  local out = {}
  for i = 1, #m do
    out[i] = {}
    for o = 1, #w do
      local s = b[o]
      for k = 1, #w[o] do s = s + m[i][k] * w[o][k] end
      out[i][o] = s
    end
  end
  return out
end
local function square(m)
  local out = {}
  for i = 1, #m do
    out[i] = {}
    for j = 1, #m[i] do out[i][j] = m[i][j] * m[i][j] end
  end
  return out
end
-- backward of linear: dx = dy @ w, dw = dy^T @ x, db = sum dy
local function linear_back(x, w, dy)
  local dx, dw, db = {}, {}, {}
  for i = 1, #x do
    dx[i] = {}
    for k = 1, #w[1] do
      local s = 0
      for o = 1, #w do s = s + dy[i][o] * w[o][k] end
      dx[i][k] = s
    end
  end
  for o = 1, #w do
    dw[o], db[o] = {}, 0
    for k = 1, #w[1] do
      local s = 0
      for i = 1, #x do s = s + dy[i][o] * x[i][k] end
      dw[o][k] = s
    end
    for i = 1, #x do db[o] = db[o] + dy[i][o] end
  end
  return dx, dw, db
end
local function square_back(x, dy)
  local dx = {}
  for i = 1, #x do
    dx[i] = {}
    for j = 1, #x[i] do dx[i][j] = 2 * x[i][j] * dy[i][j] end
  end
  return dx
end

local function close(t, expected, what)
  H.check_tensor(t, expected, 1e-12, what)
end

-- layers: a list of "lin" / "sq" specs; returns the model and the direct computation
local function build(kinds)
  engine.seed(11)
  local layers, sizes, width = {}, {}, 4
  for i, k in ipairs(kinds) do
    if k == "sq" then
      layers[i] = square_layer("square_" .. i)
    else
      local out = width == 4 and 5 or 3
      layers[i] = nn.Linear(width, out, {dtype = "f64"})
      width = out
    end
    sizes[i] = width
  end
  return nn.Sequential(layers)
end

local function direct(model, kinds, x, dy)
  local acts, m = {}, rows(x)
  local params = {}
  for i, k in ipairs(kinds) do
    acts[i] = m
    if k == "sq" then
      m = square(m)
    else
      local layer = model[i]
      local w = rows(layer:parameters()[1].value)
      local b = layer:parameters()[2].value:totable()
      params[i] = {w = w, b = b}
      m = linear(m, w, b)
    end
  end
  local y, g, grads = m, rows(dy), {}
  for i = #kinds, 1, -1 do
    if kinds[i] == "sq" then
      g = square_back(acts[i], g)
    else
      local dx, dw, db = linear_back(acts[i], params[i].w, g)
      grads[i] = {dw = dw, db = db}
      g = dx
    end
  end
  return y, g, grads
end

for _, threads in ipairs({1, 2}) do
  engine.threads(threads)
  for _, kinds in ipairs({{"sq", "lin", "lin"}, {"lin", "sq", "lin"}, {"lin", "lin", "sq"},
                          {"sq", "lin", "sq", "lin", "sq"}}) do
    local model = build(kinds)
    local what = table.concat(kinds, "-") .. " at " .. threads .. " thread(s)"
    -- several calls with new inputs: each output must be this call's, not the previous one's
    for call = 1, 3 do
      engine.seed(100 + call)
      local x = engine.randn({6, 4}, "f64")
      local y = model:forward(x)
      local dy = engine.randn(y:shape(), "f64")
      model:zero_grad()
      local dx = model:backward(dy, true)
      local ey, edx, egrads = direct(model, kinds, x, dy)
      close(y, ey, what .. ": output of call " .. call)
      close(dx, edx, what .. ": input gradient of call " .. call)
      for i, g in pairs(egrads) do
        local p = model[i]:parameters()
        close(p[1].grad, g.dw, what .. ": weight gradient of layer " .. i)
        close(p[2].grad, g.db, what .. ": bias gradient of layer " .. i)
      end
    end
  end
end
engine.threads(1)

-- the issue's own case: Linear(1, 1) with weight 1, bias 0, then x * x: 2, 3, 4 -> 4, 9, 16
do
  local lin = nn.Linear(1, 1, {dtype = "f64"})
  lin:parameters()[1].value:fill(1)
  lin:parameters()[2].value:fill(0)
  local model = nn.Sequential{lin, square_layer("sq")}
  for _, v in ipairs({2, 3, 4}) do
    local y = model:forward(engine.tensor({{v}}, "f64"))
    H.near(y:get(1, 1), v * v, 0, "square after linear of " .. v)
  end
end

-- a layer that changes the shape, without output_shape (learnt from forward on the real
-- input) and with one; a wrong output_shape is refused with both shapes named
local function first_two(with_shape_fn, claimed)
  return nn.Lua{
    name = "first_two",
    forward = function(self, x) return x:narrow(2, 1, 2):clone() end,
    backward = function(self, x, y, dy)
      local dx = engine.zeros(x:shape(), x:dtype())
      dx[{{}, {1, 2}}] = dy
      return dx, {}
    end,
    output_shape = with_shape_fn and function(self, shape) return claimed or {shape[1], 2} end
      or nil,
  }
end
for _, with_fn in ipairs({false, true}) do
  engine.seed(3)
  local model = nn.Sequential{nn.Linear(4, 5, {dtype = "f64"}), first_two(with_fn),
                              nn.Linear(2, 3, {dtype = "f64"})}
  local x = engine.randn({3, 4}, "f64")
  local y = model:forward(x)
  assert(y:size(1) == 3 and y:size(2) == 3, tostring(y))
  local r = gc.check(model, nn.CrossEntropyLoss(), x, engine.tensor({0, 1, 2}, "i64"))
  assert(r.verdict == "PASS", tostring(r))
end
do
  local model = nn.Sequential{nn.Linear(4, 5, {dtype = "f64"}), first_two(true, {3, 4})}
  H.check_error("forward returned [3,2] for x [3,5], but its output_shape said [3,4]",
                model.forward, model, engine.randn({3, 4}, "f64"))
end

-- the name given is the layer's name in models and reports
do
  local model = nn.Sequential{nn.Linear(4, 5, {dtype = "f64"}), square_layer("gate")}
  assert(tostring(model):find("gate%s+Lua%(gate%)"), tostring(model))
  assert(model[2]:name() == "gate", model[2]:name())
  local unnamed = nn.Sequential{nn.Linear(4, 5, {dtype = "f64"}), nn.Lua{
    forward = function(self, x) return x end, backward = function(self, x, y, dy) return dy, {} end}}
  assert(unnamed[2]:name() == "lua_1", unnamed[2]:name())
end

-- the checker: a built-in linear whose weight gradient is doubled, right after a Lua layer,
-- FAILs in the whole-model and in the layer-wise check, named; the correct one PASSes
engine.plugin.load(os.getenv("PLUGIN_DIR") .. "/libplugin_planted_bugs.so")
for _, planted in ipairs({false, true}) do
  engine.seed(21)
  local after = planted and nn.new("linear_dweight_x2", {in_features = 5, out_features = 3,
                                                         dtype = "f64"})
                        or nn.Linear(5, 3, {dtype = "f64"})
  local model = nn.Sequential{nn.Linear(4, 5, {dtype = "f64"}), square_layer("sq"), after}
  local name = model[3]:name()
  local x = engine.randn({4, 4}, "f64")
  local r = gc.check(model, nn.CrossEntropyLoss(), x, engine.tensor({0, 1, 2, 0}, "i64"))
  local rl = gc.check_layers(model, x)
  if planted then
    assert(r.verdict == "FAIL" and r.tensors[name .. ".weight"].verdict == "FAIL", tostring(r))
    assert(r.tensors[name .. ".weight"].diagnosis:find("scale 2", 1, true), tostring(r))
    assert(rl.verdict == "FAIL" and rl.summary:find(name, 1, true), tostring(rl))
  else
    assert(r.verdict == "PASS", tostring(r))
    assert(rl.verdict == "PASS", tostring(rl))
  end
end
print("test_lua_layer_anywhere: ok")
