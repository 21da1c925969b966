-- Loss kinds made from their declared settings (engine/loss/loss.h) against PyTorch:
-- nn.HuberLoss against torch.nn.HuberLoss and torch.nn.SmoothL1Loss(beta=1)
-- (tests/fixtures/losses.lua, from make_loss_fixtures.py): the loss and d(loss)/d(input) in
-- f64 to 1e-12 relative and in f32 to 1e-5; a float64 gradient check of a model under it; the
-- generated constructor's arguments and every error path.
local H = dofile((arg[0]:match("(.*/)") or "") .. "helpers.lua")
local engine = require("engine")
local nn = engine.nn

local cases = dofile((arg[0]:match("(.*/)") or "") .. "../fixtures/losses.lua")

local function make(data, shape, dtype)
  return engine.tensor(data, dtype):reshape(shape)
end

local function rel_err(a, b)
  return math.abs(a - b) / math.max(math.abs(b), 1e-300)
end

H.section("HuberLoss against PyTorch (" .. #cases .. " cases)")
for i, c in ipairs(cases) do
  local tol = c.dtype == "f64" and 1e-12 or 1e-5
  local what = ("case %d (%s %s delta %g %s)"):format(i, c.loss, c.dtype, c.options.delta,
    c.options.reduction)
  local crit = nn.HuberLoss(c.options)
  local x, y = make(c.input, c.shape, c.dtype), make(c.target, c.shape, c.dtype)
  local value = crit:forward(x, y)
  assert(rel_err(value, c.value) <= tol,
    ("%s: loss %.17g, PyTorch %.17g"):format(what, value, c.value))
  local dx = crit:backward():reshape({#c.grad}):totable()
  local scale = 0
  for _, g in ipairs(c.grad) do scale = math.max(scale, math.abs(g)) end
  for k, g in ipairs(c.grad) do
    assert(math.abs(dx[k] - g) <= tol * scale,
      ("%s: grad[%d] %.17g, PyTorch %.17g"):format(what, k, dx[k], g))
  end
end

H.section("the constructor derives from the declaration: positional delta, options, printing")
do
  local x = engine.tensor({0.1, 3.0, -2.0}, "f64")
  local y = engine.zeros({3}, "f64")
  -- by hand, delta 0.5: 0.005, 0.5 * (3 - 0.25) = 1.375, 0.5 * (2 - 0.25) = 0.875
  H.near(nn.HuberLoss(0.5):forward(x, y), (0.005 + 1.375 + 0.875) / 3, 1e-15, "positional")
  H.near(nn.HuberLoss(0.5, {reduction = "sum"}):forward(x, y), 0.005 + 1.375 + 0.875, 1e-15,
    "sum")
  H.near(nn.HuberLoss():forward(x, y), (0.005 + 2.5 + 1.5) / 3, 1e-15, "default delta 1")
  assert(tostring(nn.HuberLoss()) == "HuberLoss()", tostring(nn.HuberLoss()))
  assert(nn.CrossEntropy == nn.CrossEntropyLoss)
end

H.section("error paths name the loss, the setting and the value")
do
  H.check_error("huber: setting 'delta' must be", nn.HuberLoss, 0)
  H.check_error("huber: setting 'delta' must be", nn.HuberLoss, {delta = -1})
  H.check_error("HuberLoss: reduction 'none' (expected 'mean' or 'sum')", nn.HuberLoss,
    {reduction = "none"})
  H.check_error("HuberLoss: unknown option 'beta'", nn.HuberLoss, {beta = 1})
  H.check_error("HuberLoss: too many arguments", nn.HuberLoss, 1, {}, 3)
  H.check_error("NLLLoss: reduction 'none'", nn.NLLLoss, {reduction = "none"})
  H.check_error("MSELoss: unknown option 'reduction'", nn.MSELoss, {reduction = "sum"})
  local crit = nn.HuberLoss()
  H.check_error("huber: input [2,3] and target [3,2] differ in shape", crit.forward, crit,
    engine.zeros({2, 3}), engine.zeros({3, 2}))
  H.check_error("huber: input has dtype f64 and target f32", crit.forward, crit,
    engine.zeros({2}, "f64"), engine.zeros({2}, "f32"))
  H.check_error("HuberLoss: backward before forward", crit.backward, crit)
end

H.section("a float64 gradient check of a model under HuberLoss passes")
do
  engine.seed(3)
  local model = nn.Sequential{nn.Linear(4, 3, {dtype = "f64"}), nn.Tanh(),
                              nn.Linear(3, 2, {dtype = "f64"})}
  local x, y = engine.randn({6, 4}, "f64"), engine.randn({6, 2}, "f64")
  local report = engine.gradcheck.check(model, nn.HuberLoss(0.3), x, y)
  assert(report.ok and report.verdict == "PASS", tostring(report))
end
print("test_losses: ok")
