-- Lua layers written with tensor ops against the same layers in C (issue 11, acceptance 4).
--
-- swish (y = x * sigmoid(beta x), learnable beta) as a Lua layer against the swish plugin
-- (scripts/plugins/swish), and layer norm over the last dimension (with weight and bias) as a
-- Lua layer against the built-in nn.LayerNorm. Each Lua layer keeps its buffers between steps
-- and writes every result into them with {out = ...} or in place, so a step allocates no
-- tensor storage; the script measures that with engine.allocated_bytes().
--
-- A step is model:forward(x, y) and model:backward(dy) of nn.Sequential{nn.Flatten(), layer}
-- at batch 64: the Flatten (a copy, the same for both) makes the measured layer compute its
-- input gradient, as it would inside a model. Each configuration runs `runs` times of `steps`
-- steps (after `warmup` steps), the layers taking turns; the median time per step is reported.
--
--   build/engine bench/lua_layer.lua [plugin_path [features [dtype]]]
--   (defaults: build/plugins/libswish.so, 1024, f32)
local engine = require("engine")
local nn = engine.nn

local config = {
  batch = 64, features = tonumber(arg[2]) or 1024, dtype = arg[3] or "f32", steps = 200,
  warmup = 20, runs = 7,
  plugin = arg[1] or "build/plugins/libswish.so", max_ratio = 1.5,
}
print(("config: batch %d, features %d, dtype %s, %d runs of %d steps, plugin %s"):format(
  config.batch, config.features, config.dtype, config.runs, config.steps, config.plugin))

-- ---- swish in Lua ----

local function lua_swish(dtype)
  local layer = {name = "lua_swish", params = {beta = engine.tensor({1.0}, dtype)}}
  local B -- buffers, made at the first call (and again if the shape changes)
  local function buffers(x)
    if not B or B.n ~= x:numel() then
      local shape = x:shape()
      B = {n = x:numel(), bx = engine.zeros(shape, dtype), s = engine.zeros(shape, dtype),
           y = engine.zeros(shape, dtype), t = engine.zeros(shape, dtype),
           u = engine.zeros(shape, dtype), dx = engine.zeros(shape, dtype),
           dbeta = engine.zeros({1}, dtype)}
    end
    return B
  end
  function layer.forward(self, x)
    local b, beta = buffers(x), self.params.beta:get(1)
    x:mul(beta, {out = b.bx})
    b.bx:sigmoid({out = b.s})           -- s = sigmoid(beta x), kept for backward
    return x:mul(b.s, {out = b.y})
  end
  function layer.backward(self, x, y, dy)
    -- ds = s (1 - s); dx = dy (s + beta x ds); dbeta = sum(dy x^2 ds)
    local b, beta = buffers(x), self.params.beta:get(1)
    b.s:mul(b.s, {out = b.t})
    b.s:sub(b.t, {out = b.t})            -- t = s - s^2
    b.t:mul_(x)                          -- t = x ds
    b.t:mul(x, {out = b.u}):mul_(dy)     -- u = dy x^2 ds
    b.dbeta:fill(b.u:sum())
    b.t:mul(beta, {out = b.dx}):add_(b.s):mul_(dy)
    return b.dx, {beta = b.dbeta}
  end
  return nn.Lua(layer)
end

-- ---- layer norm over the last dimension in Lua (torch.nn.LayerNorm(features)) ----

local function lua_layernorm(features, dtype)
  local eps = 1e-5
  local layer = {name = "lua_layernorm",
                 params = {weight = engine.ones({features}, dtype),
                           bias = engine.zeros({features}, dtype)}}
  local B
  local function buffers(x)
    if not B or B.n ~= x:numel() then
      local n, shape = x:size(1), x:shape()
      local col = {n, 1}
      B = {n = x:numel(), mu = engine.zeros(col, dtype), rstd = engine.zeros(col, dtype),
           m1 = engine.zeros(col, dtype), m2 = engine.zeros(col, dtype),
           xc = engine.zeros(shape, dtype), xhat = engine.zeros(shape, dtype),
           y = engine.zeros(shape, dtype), g = engine.zeros(shape, dtype),
           tmp = engine.zeros(shape, dtype), dx = engine.zeros(shape, dtype),
           dw = engine.zeros({features}, dtype), db = engine.zeros({features}, dtype)}
    end
    return B
  end
  function layer.forward(self, x)
    local b, p = buffers(x), self.params
    x:mean(-1, {keepdim = true, out = b.mu})
    x:sub(b.mu, {out = b.xc})
    b.xc:mul(b.xc, {out = b.tmp}):mean(-1, {keepdim = true, out = b.rstd})
    b.rstd:add_(eps):rsqrt_()                                  -- 1 / sqrt(var + eps)
    b.xc:mul(b.rstd, {out = b.xhat})
    return b.xhat:mul(p.weight, {out = b.y}):add_(p.bias)
  end
  function layer.backward(self, x, y, dy)
    -- g = dy w; dx = rstd (g - mean(g) - xhat mean(g xhat)); dw = sum_n dy xhat; db = sum_n dy
    local b, p = buffers(x), self.params
    dy:mul(p.weight, {out = b.g})
    b.g:mean(-1, {keepdim = true, out = b.m1})
    b.g:mul(b.xhat, {out = b.tmp}):mean(-1, {keepdim = true, out = b.m2})
    b.g:sub(b.m1, {out = b.dx})
    b.xhat:mul(b.m2, {out = b.tmp})
    b.dx:sub_(b.tmp):mul_(b.rstd)
    dy:mul(b.xhat, {out = b.tmp}):sum(1, {out = b.dw})
    dy:sum(1, {out = b.db})
    return b.dx, {weight = b.dw, bias = b.db}
  end
  return nn.Lua(layer)
end

-- ---- measurement ----

local function median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

-- A model around the layer, its input, upstream gradient and output buffer, warmed up.
local function setup(layer)
  local m = {model = nn.Sequential{nn.Flatten(), layer},
             x = engine.randn({config.batch, config.features}, config.dtype),
             dy = engine.randn({config.batch, config.features}, config.dtype)}
  for _ = 1, config.warmup do
    m.y = m.model:forward(m.x, m.y)
    m.model:backward(m.dy)
  end
  return m
end

-- Seconds per step over config.steps steps, and tensor bytes allocated per step.
local function time_steps(m)
  local bytes, t0 = engine.allocated_bytes(), engine.clock()
  for _ = 1, config.steps do
    m.y = m.model:forward(m.x, m.y)
    m.model:backward(m.dy)
  end
  local t = (engine.clock() - t0) / config.steps
  return t, (engine.allocated_bytes() - bytes) / config.steps
end

-- The two implementations agree (the comparison would mean nothing otherwise).
local function check_same(a, b, what, tol)
  local x = engine.randn({config.batch, config.features}, config.dtype)
  local dy = engine.randn({config.batch, config.features}, config.dtype)
  local ma, mb = nn.Sequential{nn.Flatten(), a}, nn.Sequential{nn.Flatten(), b}
  local ya, yb = ma:forward(x), mb:forward(x)
  local dxa, dxb = ma:backward(dy, true), mb:backward(dy, true)
  local ey = (ya - yb):abs():max() / yb:abs():max()
  local edx = (dxa - dxb):abs():max() / dxb:abs():max()
  local grads, eg, names = {}, 0, {}
  for _, p in ipairs(b:parameters()) do grads[p.name:match("[^.]+$")] = p.grad end
  for _, p in ipairs(a:parameters()) do
    local name = p.name:match("[^.]+$")
    local gb = assert(grads[name], "no C gradient for " .. name)
    eg = math.max(eg, (p.grad - gb):abs():max() / gb:abs():max())
    names[#names + 1] = "d" .. name
  end
  print(("%s: Lua vs C relative difference: y %.1e, dx %.1e, %s %.1e (%s)"):format(what, ey, edx,
    table.concat(names, "/"), eg, config.dtype))
  if not (ey <= tol and edx <= tol and eg <= tol) then
    error(what .. ": the Lua layer and the C layer disagree", 0)
  end
end

engine.plugin.load(config.plugin)
check_same(lua_swish(config.dtype), nn.new("swish", {beta = 1.0, dtype = config.dtype}),
  "swish", 1e-4)
check_same(lua_layernorm(config.features, config.dtype),
  nn.LayerNorm(config.features, {dtype = config.dtype}), "layernorm", 1e-4)

local rows = {
  {"swish (C plugin)", nn.new("swish", {beta = 1.0, dtype = config.dtype})},
  {"swish (Lua, tensor ops)", lua_swish(config.dtype)},
  {"layernorm (C built-in)", nn.LayerNorm(config.features, {dtype = config.dtype})},
  {"layernorm (Lua, tensor ops)", lua_layernorm(config.features, config.dtype)},
}
-- Runs interleave the layers, so that a slower moment of a shared machine hits them alike.
local models, times, bytes = {}, {}, {}
for i, row in ipairs(rows) do
  models[i], times[i], bytes[i] = setup(row[2]), {}, 0
end
for r = 1, config.runs do
  for i in ipairs(rows) do
    local t, b = time_steps(models[i])
    times[i][r], bytes[i] = t, math.max(bytes[i], b)
  end
end
local results = {}
print(("%-28s %12s %12s   %s"):format("layer", "median us", "bytes/step", "runs (us)"))
for i, row in ipairs(rows) do
  results[i] = {t = median(times[i]), b = bytes[i]}
  local each = {}
  for k, v in ipairs(times[i]) do each[k] = ("%.0f"):format(v * 1e6) end
  print(("%-28s %12.1f %12.0f   %s"):format(row[1], results[i].t * 1e6, bytes[i],
    table.concat(each, " ")))
end
local swish_ratio = results[2].t / results[1].t
local ln_ratio = results[4].t / results[3].t
print(("swish: Lua / C = %.2f (limit %.1f); layernorm: Lua / C = %.2f; %s, batch %d x %d"):format(
  swish_ratio, config.max_ratio, ln_ratio, config.dtype, config.batch, config.features))
if results[2].b ~= 0 or results[4].b ~= 0 then
  error(("the Lua layers allocated %.0f and %.0f bytes of tensor storage per step"):format(
    results[2].b, results[4].b), 0)
end
if swish_ratio > config.max_ratio then
  error(("swish in Lua takes %.2fx the C plugin's time (limit %.1f)"):format(swish_ratio,
    config.max_ratio), 0)
end
