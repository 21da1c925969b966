-- engine.sweep: a 12-run grid with diverging runs recorded as such, every run in the HDF5
-- results file, a sweep killed (SIGKILL) and restarted without redoing finished runs, plots,
-- and bad settings.
local H = dofile("helpers.lua")
local engine = require("engine")
local sweep, nn, optim = engine.sweep, engine.nn, engine.optim

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))

-- the experiment: linear least squares on a fixed synthetic batch; with SGD, learning rates
-- beyond 2 / (the largest curvature) make the iterates grow geometrically until they overflow
local script = dir .. "/sweep_script.lua"
local f = assert(io.open(script, "w"))
f:write([[
local engine = require("engine")
local nn, optim = engine.nn, engine.optim
local results, calls, kill_at = ...
-- each run is its own process: the sweep is the run's parent
local function parent_pid()
  local f = assert(io.open("/proc/self/stat"))
  local stat = f:read("a")
  f:close()
  return stat:match("^%d+ %b() %S+ (%d+)")
end
return engine.sweep.run{
  results = results,
  grid = {lr = {1e-3, 1e-2, 1e-1, 1, 1e3, 1e6}, optimizer = {"sgd", "adam"}},
  metric = "loss", goal = "min", quiet = true,
  run = function(settings, log)
    local c = assert(io.open(calls, "a"))
    c:write(engine.sweep.key(settings), "\n")
    c:close()
    local count = 0
    for _ in io.lines(calls) do count = count + 1 end
    if kill_at and count == tonumber(kill_at) then
      os.execute("kill -9 " .. parent_pid())
      engine.sweep.sleep(5) -- ended by its parent's death
    end
    engine.seed(7)
    local x = engine.randn({16, 5}, "f64") * 3
    local y = engine.randn({16, 3}, "f64")
    local model = nn.Sequential{nn.Linear(5, 3, {dtype = "f64"})}
    local crit = nn.MSELoss()
    local opt = optim.new(settings.optimizer, model, {lr = settings.lr})
    local loss
    for step = 1, 100 do
      opt:zero_grad()
      loss = crit:forward(model:forward(x), y)
      log(step, {loss = loss})
      model:backward(crit:backward())
      opt:step()
    end
    return {loss = loss}
  end,
}
]])
f:close()

local results, calls = dir .. "/results.h5", dir .. "/calls.txt"
local function run_child(kill_at)
  local p = assert(io.popen(("'%s' '%s' '%s' '%s' %s 2>&1"):format(H.engine_bin, script, results,
    calls, kill_at or "")))
  local out = p:read("a")
  local _, how, code = p:close()
  return out, how, code
end
local function lines(path)
  local t = {}
  for line in io.lines(path) do t[#t + 1] = line end
  return t
end

-- killed by SIGKILL during its 5th run: 4 runs are recorded, none half-written
local out, how, code = run_child(5)
assert(how == "signal" and code == 9 or code == 137, ("expected SIGKILL, got %s %s: %s"):format(
  how, code, out))
local recorded, order = sweep.read(results)
assert(#order == 4, "4 finished runs recorded, got " .. #order)
-- restarted: finishes the 8 others without redoing the 4
out, how, code = run_child(nil)
assert(how == "exit" and code == 0, out)
recorded, order = sweep.read(results)
assert(#order == 12, "12 runs recorded, got " .. #order)
local called = lines(calls)
assert(#called == 13, "4 + 1 killed + 8 = 13 run starts, got " .. #called)
local seen = {}
for i, key in ipairs(called) do
  if i ~= 5 then
    assert(not seen[key], "run " .. key .. " was redone")
    seen[key] = true
  end
end
assert(called[5] == called[6], "the killed run is the first one redone")

-- statuses: the huge learning rates diverge (recorded as such), the others complete
local diverged, completed = 0, 0
for _, key in ipairs(order) do
  local r = recorded[key]
  assert(r.key == key and r.settings and r.seconds and r.curves.loss, key)
  if r.status == "diverged" then
    diverged = diverged + 1
    assert(r.message:find("loss became", 1, true), r.message)
  else
    assert(r.status == "completed" and r.final.loss and r.best.loss <= r.final.loss + 1e-12, key)
    completed = completed + 1
  end
end
assert(recorded[sweep.key{lr = 1e6, optimizer = "sgd"}].status == "diverged")
assert(recorded[sweep.key{lr = 1e-2, optimizer = "sgd"}].status == "completed")
assert(diverged >= 2 and completed >= 6, ("%d diverged, %d completed"):format(diverged, completed))

-- in-process (executor "inline": the other executors re-run the script, this test): every run
-- skipped now, plots written; errors in a run are recorded, not raised
local plot, curves = dir .. "/sweep.svg", dir .. "/curves.svg"
local again = sweep.run{results = results, metric = "loss", quiet = true, plot = plot,
  executor = "inline",
  curves = curves, grid = {lr = {1e-3, 1e-2, 1e-1, 1, 1e3, 1e6}, optimizer = {"sgd", "adam"}},
  run = function() error("must not run") end}
assert(#again == 12 and again[1].skipped)
for _, path in ipairs({plot, curves}) do
  local svg = assert(io.open(path)):read("a")
  assert(svg:find("<svg", 1, true) and svg:find("optimizer=adam", 1, true), path)
end
local errs = sweep.run{results = dir .. "/errors.h5", metric = "loss", quiet = true,
  executor = "inline",
  grid = {lr = {-1, 0.1}},
  run = function(s)
    optim.SGD(nn.Sequential{nn.Linear(2, 2)}, {lr = s.lr})
    return {loss = 1}
  end}
assert(errs[1].status == "error" and errs[1].message:find("lr = -1", 1, true), errs[1].message)
assert(errs[2].status == "completed")

-- bad settings
H.check_error("unknown setting 'metrics'", sweep.run, {metrics = "x"})
H.check_error("setting 'run' must be a function", sweep.run, {results = "x", metric = "m"})
H.check_error("give exactly one of 'grid' and 'random'", sweep.run,
  {results = "x", metric = "m", run = print})
H.check_error("setting 'lr' must list its values", sweep.run,
  {results = "x", metric = "m", run = print, grid = {lr = 0.1}})
H.check_error("'goal' is 'best'", sweep.run,
  {results = "x", metric = "m", run = print, grid = {lr = {1}}, goal = "best"})
H.check_error("random.n must be a positive integer", sweep.run,
  {results = "x", metric = "m", run = print, random = {n = 0}})
H.check_error("not a sweep results file", sweep.read, (function()
  local p = dir .. "/ck.h5"
  engine.save(p, {model = nn.Sequential{nn.ReLU()}})
  return p
end)())

-- random search draws the same settings again
local a = sweep.run{results = dir .. "/r1.h5", metric = "m", quiet = true, executor = "inline",
  random = {n = 4, seed = 3, lr = {log_uniform = {1e-4, 1}}, opt = {"sgd", "adam"}},
  run = function() return {m = 1} end}
local b = sweep.run{results = dir .. "/r2.h5", metric = "m", quiet = true, executor = "inline",
  random = {n = 4, seed = 3, lr = {log_uniform = {1e-4, 1}}, opt = {"sgd", "adam"}},
  run = function() return {m = 1} end}
for i = 1, 4 do
  assert(a[i].key == b[i].key and a[i].settings.lr >= 1e-4 and a[i].settings.lr <= 1)
end

os.execute("rm -rf '" .. dir .. "'")
print("test_sweep.lua: ok")
