-- nn.SiLU, a built-in kind declared in one file (engine/layers/silu.c) and made by name through
-- the kind registry: forward and input gradient against torch.nn.SiLU (tests/fixtures/silu.lua,
-- from make_silu_fixtures.py) in f64 to 1e-12 and f32 to 1e-6 relative to the largest value,
-- with inputs up to +-100; a float64 gradient check of a model with it; nn.new, printing,
-- a checkpoint round trip, and the constructor's refusals.
local H = dofile((arg[0]:match("(.*/)") or "") .. "helpers.lua")
local engine = require("engine")
local nn = engine.nn

local cases = dofile((arg[0]:match("(.*/)") or "") .. "../fixtures/silu.lua")

local function check_close(got, want, tol, what)
  local g = got:reshape({#want}):totable()
  local scale = 0
  for _, v in ipairs(want) do scale = math.max(scale, math.abs(v)) end
  for k, v in ipairs(want) do
    assert(math.abs(g[k] - v) <= tol * scale,
      ("%s[%d]: %.17g, PyTorch %.17g"):format(what, k, g[k], v))
  end
end

H.section("SiLU against PyTorch (" .. #cases .. " cases)")
for i, c in ipairs(cases) do
  local tol = c.dtype == "f64" and 1e-12 or 1e-6
  local layer = nn.SiLU()
  local x = engine.tensor(c.x, c.dtype):reshape(c.shape)
  local dy = engine.tensor(c.dy, c.dtype):reshape(c.shape)
  local y = layer:forward(x)
  check_close(y, c.y, tol, ("case %d %s y"):format(i, c.dtype))
  check_close(layer:backward(x, dy), c.dx, tol, ("case %d %s dx"):format(i, c.dtype))
end

H.section("a float64 gradient check of a model with SiLU passes")
do
  engine.seed(5)
  local model = nn.Sequential{nn.Linear(4, 5, {dtype = "f64"}), nn.SiLU(),
                              nn.Linear(5, 3, {dtype = "f64"})}
  local report = engine.gradcheck.check(model, nn.CrossEntropyLoss(), engine.randn({6, 4}, "f64"),
                                        engine.tensor({0, 1, 2, 0, 1, 2}, "i64"))
  assert(report.ok and report.verdict == "PASS", tostring(report))
end

H.section("by name, printing, a checkpoint round trip, refusals")
do
  local l = nn.new("silu", {name = "act"})
  assert(l:kind() == "silu" and l:name() == "act" and tostring(l) == "SiLU()", tostring(l))
  local model = nn.Sequential{nn.Linear(3, 2, {dtype = "f64"}), nn.SiLU()}
  local path = os.tmpname()
  engine.save(path, {model = model})
  local back = engine.load(path).model
  os.remove(path)
  assert(back[2]:kind() == "silu", back[2]:kind())
  local x = engine.randn({4, 3}, "f64")
  local a, b = model:forward(x):totable(), back:forward(x):totable()
  for r = 1, 4 do
    for k = 1, 2 do assert(a[r][k] == b[r][k], "reloaded model differs") end
  end
  H.check_error("table expected, got number", nn.SiLU, 1)
  H.check_error("SiLU: unknown option 'inplace' (expected name)", nn.SiLU, {inplace = true})
  H.check_error("silu '", nn.SiLU().forward, nn.SiLU(), engine.zeros({2}, "i64"))
end
print("test_silu: ok")
