-- Tensor creation, shape, indexing and label operations against PyTorch 1.13
-- (tests/fixtures/tensor_shape.lua, from make_tensor_shape_fixtures.py): every case must agree
-- exactly in shape, dtype and every element, in f32, f64 and the integer dtypes (float linspace
-- within the tolerance its case carries: see the generator).
local H = dofile((arg[0]:match("(.*/)") or "") .. "helpers.lua")
local engine = require("engine")
local cases = dofile((arg[0]:match("(.*/)") or "") .. "../fixtures/tensor_shape.lua")

-- A fixture tensor {shape, dtype, data} as an engine tensor.
local function make(f)
  local flat = engine.tensor(#f.data > 0 and f.data or {}, f.dtype)
  return flat:reshape(f.shape)
end

-- The flat data as a nested table of that shape (for engine.tensor).
local function nest(data, shape, d, at)
  d, at = d or 1, at or 0
  if d > #shape then return data[at + 1] end
  local stride = 1
  for k = d + 1, #shape do stride = stride * shape[k] end
  local t = {}
  for i = 1, shape[d] do t[i] = nest(data, shape, d + 1, at + (i - 1) * stride) end
  return t
end

local function index_key(src)
  return assert(load("return " .. src))()
end

local unpack = table.unpack
-- op(inputs, args, dtype, case) -> a tensor or a list of tensors
local ops = {
  zeros = function(_, a, dt) return engine.zeros(a[1], dt) end,
  ones = function(_, a, dt) return engine.ones(a[1], dt) end,
  full = function(_, a, dt) return engine.full(a[1], a[2], dt) end,
  eye = function(_, a, dt) return engine.eye(a[1], a[2], dt) end,
  arange = function(_, a, dt) return engine.arange(a[1], a[2], a[3], dt) end,
  linspace = function(_, a, dt) return engine.linspace(a[1], a[2], a[3], dt) end,
  tensor = function(_, _, dt, c)
    local f = c.inputs[1]
    return engine.tensor(nest(f.data, f.shape), dt)
  end,
  zeros_like = function(x) return engine.zeros_like(x[1]) end,
  ones_like = function(x) return engine.ones_like(x[1]) end,
  full_like = function(x, a) return engine.full_like(x[1], a[1]) end,
  clone = function(x) return x[1]:clone() end,
  contiguous = function(x) return x[1]:contiguous() end,
  transpose = function(x, a) return x[1]:transpose(a[1], a[2]) end,
  t = function(x) return x[1]:t() end,
  permute = function(x, a) return x[1]:permute(a[1]) end,
  reshape = function(x, a) return x[1]:reshape(a[1]) end,
  view = function(x, a) return x[1]:view(unpack(a[1])) end,
  flatten = function(x, a) return x[1]:flatten(a[1], a[2]) end,
  squeeze = function(x, a) return x[1]:squeeze(a[1]) end,
  unsqueeze = function(x, a) return x[1]:unsqueeze(a[1]) end,
  narrow = function(x, a) return x[1]:narrow(a[1], a[2], a[3]) end,
  select = function(x, a) return x[1]:select(a[1], a[2]) end,
  expand = function(x, a) return x[1]:expand(a[1]) end,
  cat = function(x, a) return engine.cat(x, a[1]) end,
  stack = function(x, a) return engine.stack(x, a[1]) end,
  split = function(x, a) return x[1]:split(a[1], a[2]) end,
  chunk = function(x, a) return x[1]:chunk(a[1], a[2]) end,
  index = function(x, a) return x[1][index_key(a[1])] end,
  assign_number = function(x, a)
    x[1][index_key(a[1])] = a[2]
    return x[1]
  end,
  assign_tensor = function(x, a)
    x[1][index_key(a[1])] = x[2]
    return x[1]
  end,
  copy_ = function(x) return x[1]:copy_(x[2]) end,
  fill_ = function(x, a) return x[1]:fill_(a[1]) end,
  zero_ = function(x) return x[1]:zero_() end,
  index_select = function(x, a) return x[1]:index_select(a[1], x[2]) end,
  gather = function(x, a) return x[1]:gather(a[1], x[2]) end,
  scatter_add = function(x, a) return x[1]:scatter_add(a[1], x[2], x[3]) end,
  one_hot = function(x, a, dt)
    if a[1] then return engine.one_hot(x[1], a[1], dt) end
    return engine.one_hot(x[1], dt)
  end,
  to = function(x, a) return x[1]:to(a[1]) end,
}

local function describe(c)
  local shapes = {}
  for _, f in ipairs(c.inputs) do shapes[#shapes + 1] = "{" .. table.concat(f.shape, ",") .. "}" end
  local args = {}
  for _, v in ipairs(c.args) do
    args[#args + 1] = type(v) == "table" and "{" .. table.concat(v, ",") .. "}" or tostring(v)
  end
  return ("%s %s (%s)%s on %s"):format(c.op, c.dtype, table.concat(args, ", "),
    c.pre and " transposed" or "", table.concat(shapes, " "))
end

local function compare(got, want, what, tol)
  assert(type(got) == "number" or getmetatable(got) == getmetatable(engine.zeros(1)),
    what .. ": result is a " .. type(got))
  if type(got) == "number" then
    assert(#want.shape == 0 and got == want.data[1], what .. ": got the number " .. got)
    return
  end
  local shape = got:shape()
  assert(table.concat(shape, ",") == table.concat(want.shape, ","),
    ("%s: shape {%s}, PyTorch {%s}"):format(what, table.concat(shape, ","),
      table.concat(want.shape, ",")))
  assert(got:dtype() == want.dtype, ("%s: dtype %s, PyTorch %s"):format(what, got:dtype(),
    want.dtype))
  local flat = got:reshape(-1)
  for i = 1, #want.data do
    local g, w = flat[i], want.data[i]
    if not (g == w or (g ~= g and w ~= w) or (tol and math.abs(g - w) <= tol)) then
      error(("%s: element %d is %.17g, PyTorch %.17g"):format(what, i, g, w), 0)
    end
  end
end

local counts, total = {}, 0
for _, c in ipairs(cases) do
  local what = describe(c)
  if os.getenv("FIXTURE_TRACE") then io.stderr:write(what, "\n") end
  local op = assert(ops[c.op], "no runner for op " .. c.op)
  local inputs = {}
  for k, f in ipairs(c.inputs) do
    inputs[k] = make(f)
    if c.pre == "t" then inputs[k] = inputs[k]:transpose(1, inputs[k]:dim()) end
  end
  local ok, got = pcall(op, inputs, c.args, c.dtype, c)
  if not ok then error(what .. ": " .. tostring(got), 0) end
  if #c.outputs == 1 and not (type(got) == "table" and getmetatable(got) == nil) then
    compare(got, c.outputs[1], what, c.tol)
  else
    assert(#got == #c.outputs, ("%s: %d pieces, PyTorch %d"):format(what, #got, #c.outputs))
    for k = 1, #got do compare(got[k], c.outputs[k], what .. " piece " .. k) end
  end
  counts[c.dtype] = (counts[c.dtype] or 0) + 1
  total = total + 1
end
local parts = {}
for dt, n in pairs(counts) do parts[#parts + 1] = dt .. " " .. n end
table.sort(parts)
print(("tensor fixtures: %d cases agree exactly with PyTorch (%s)"):format(total,
  table.concat(parts, ", ")))
