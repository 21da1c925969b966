-- Resuming with a learning-rate schedule: a run checkpointed at step k (model, optimizer and
-- schedule) and resumed in fresh objects gives, at every step up to k+m, the same learning
-- rate and at k+m the same parameters, to the bit, as the uninterrupted run; for StepLR,
-- cosine annealing and linear warm-up. Without sched:load the resumed run goes wrong (the
-- control: the test can fail). Also the schedule errors of sched:load.
local H = dofile("helpers.lua")
local engine = require("engine")
local nn, optim = engine.nn, engine.optim

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))

engine.seed(11)
local x = engine.randn({16, 5})
local y = engine.randn({16, 3})

local function make(kind, settings)
  engine.seed(3) -- same initial weights every time; the resumed run overwrites them anyway
  local model = nn.Sequential{nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)}
  local opt = optim.SGD(model, {lr = 0.1, momentum = 0.9})
  local sched = optim.scheduler(kind, opt, settings)
  return model, opt, sched
end

local function train(model, opt, sched, steps, lrs)
  local crit = nn.MSELoss()
  for _ = 1, steps do
    opt:zero_grad()
    crit:forward(model:forward(x), y)
    model:backward(crit:backward())
    opt:step()
    lrs[#lrs + 1] = sched:step()
  end
end

local function params(model)
  local out = {}
  for _, p in ipairs(model:parameters()) do out[#out + 1] = p.value:totable() end
  return out
end

local function same(a, b)
  if type(a) ~= "table" then return a == b end
  if #a ~= #b then return false end
  for i = 1, #a do
    if not same(a[i], b[i]) then return false end
  end
  return true
end

local cases = {
  {kind = "step", settings = {step_size = 5, gamma = 0.5}, k = 7, m = 13},
  {kind = "cosine", settings = {T_max = 10, eta_min = 0.001}, k = 7, m = 13}, -- past T_max
  {kind = "linear", settings = {start_factor = 0.1, total_iters = 10}, k = 4, m = 16},
}
for _, c in ipairs(cases) do
  H.section(("%s: checkpoint at step %d, resume for %d steps"):format(c.kind, c.k, c.m))
  local ref_lrs = {}
  local model, opt, sched = make(c.kind, c.settings)
  train(model, opt, sched, c.k + c.m, ref_lrs)
  local ref_params = params(model)

  local lrs = {}
  model, opt, sched = make(c.kind, c.settings)
  train(model, opt, sched, c.k, lrs)
  local path = ("%s/%s.h5"):format(dir, c.kind)
  engine.save(path, {model = model, optimizer = opt, schedule = sched})
  assert(engine.load(path).meta.schedule.last_epoch == c.k)

  local m2, o2, s2 = make(c.kind, c.settings)
  m2:load(path)
  o2:load(path)
  assert(s2:load(path) == s2)
  assert(s2:last_epoch() == c.k and s2:lr() == lrs[c.k])
  train(m2, o2, s2, c.m, lrs)
  for i = 1, c.k + c.m do
    assert(lrs[i] == ref_lrs[i], ("%s: lr at step %d is %.17g, uninterrupted %.17g"):format(
      c.kind, i, lrs[i], ref_lrs[i]))
  end
  assert(same(params(m2), ref_params), c.kind .. ": parameters differ at step k+m")

  -- the control: the same resume without the schedule's counters goes astray
  local wrong = {}
  local m3, o3, s3 = make(c.kind, c.settings)
  m3:load(path)
  o3:load(path)
  train(m3, o3, s3, c.m, wrong)
  local differs = false
  for i = 1, c.m do differs = differs or wrong[i] ~= ref_lrs[c.k + i] end
  assert(differs, c.kind .. ": a fresh schedule should not reproduce the resumed lrs")
end

H.section("errors")
local model, opt, sched = make("step", {step_size = 5, gamma = 0.5})
local plain = dir .. "/plain.h5"
engine.save(plain, {model = model, optimizer = opt})
H.check_error("holds no schedule", sched.load, sched, plain)
local cos = dir .. "/cosine.h5"
H.check_error("the checkpoint's schedule is CosineAnnealingLR, this one is StepLR", sched.load,
              sched, cos)
local _, _, other = make("step", {step_size = 4, gamma = 0.5})
H.check_error("StepLR step_size = 5 in the checkpoint, 4 here", other.load, other,
              dir .. "/step.h5")
H.check_error("meta.schedule is taken", engine.save, dir .. "/x.h5",
              {model = model, schedule = sched, meta = {schedule = 1}})
os.execute("rm -rf '" .. dir .. "'")
print("ok")
