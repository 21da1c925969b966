-- engine.sweep's isolation: every run in its own process, seeded from the sweep's seed and its
-- settings. The 6-run lr x eps sweep of sweep_lr_eps.lua (one run crashes with SIGSEGV in a
-- plugin, one diverges) gives the same records, bit for bit, through the local pool with 1
-- and 2 workers, and when the sweep is killed (SIGKILL) and resumed; time and memory limits
-- are recorded as such; results files of the in-process sweeps still read.
local H = dofile("helpers.lua")
local engine = require("engine")
local sweep = engine.sweep
local C = dofile("sweep_compare.lua")

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))
local script = assert(io.open("sweep_lr_eps.lua")) and "sweep_lr_eps.lua"

local function run(...)
  local args = table.concat({...}, " ")
  -- under the sanitizers the crash must stay a SIGSEGV, not become their report
  local asan = (os.getenv("ASAN_OPTIONS") and "ASAN_OPTIONS=$ASAN_OPTIONS:handle_segv=0 " or "")
    .. (os.getenv("TSAN_OPTIONS") and "TSAN_OPTIONS=$TSAN_OPTIONS:handle_segv=0 " or "")
  local p = assert(io.popen(("%sSWEEP_QUIET=1 '%s' '%s' %s 2>&1"):format(asan, H.engine_bin,
    script, args)))
  local out = p:read("a")
  local _, how, code = p:close()
  return out, how, code
end

-- local, 1 worker: the reference
local one = dir .. "/one.h5"
local out, how, code = run("results=" .. one, "workers=1")
assert(how == "exit" and code == 0, out)
local ref = sweep.read(one)
local crashed = ref[sweep.key{lr = 0.1, eps = 1e-4}]
assert(crashed.status == "crashed" and crashed.signal == 11 and crashed.signal_name == "SIGSEGV",
  ("crashed run: %s %s"):format(crashed.status, crashed.message))
assert(crashed.message:find("SIGSEGV", 1, true), crashed.message)
local diverged = ref[sweep.key{lr = 1e200, eps = 1e-8}]
assert(diverged.status == "diverged" and diverged.message:find("loss became inf", 1, true),
  diverged.message)
local completed = 0
for _, key in ipairs(C.keys(ref)) do
  if ref[key].status == "completed" then completed = completed + 1 end
end
assert(completed == 3, "3 runs complete, got " .. completed)
-- the seed is the run's own: two runs with different settings start from different data
local a, b = ref[sweep.key{lr = 1e-3, eps = 1e-8}], ref[sweep.key{lr = 1e-3, eps = 1e-4}]
assert(a.seed ~= b.seed and a.curves.loss[1] ~= b.curves.loss[1], "per-run seeds")
assert(a.seed == sweep.seed_of(17, {lr = 1e-3, eps = 1e-8}), "the seed comes from the settings")

-- local, 2 workers: the same records
local two = dir .. "/two.h5"
out, how, code = run("results=" .. two, "workers=2")
assert(how == "exit" and code == 0, out)
C.assert_same(ref, sweep.read(two), "2 workers against 1")

-- killed (SIGKILL) while its 4th run is going, then resumed: the same records
local killed = dir .. "/killed.h5"
out, how, code = run("results=" .. killed, "kill_parent_at=" .. sweep.key{lr = 1e-3, eps = 1e-4})
assert(how == "signal" and code == 9 or code == 137, ("expected SIGKILL: %s %s %s"):format(
  how, code, out))
local partial = C.keys(sweep.read(killed))
assert(#partial == 3, "3 runs recorded before the kill, got " .. #partial)
out, how, code = run("results=" .. killed)
assert(how == "exit" and code == 0, out)
C.assert_same(ref, sweep.read(killed), "killed and resumed against straight through")

-- no per-run files left behind: the work folder is gone
assert(not io.open(one .. ".d/"), "the work folder is left")

-- time and memory limits (not under the sanitizers: they reserve terabytes of address space).
-- The "ok" and "alloc" runs must end within the time limit, engine start included (0.1 s
-- here, 0.3 s on one core shared with 4 busy loops): 4 s leaves room for a slow machine.
local limits = dir .. "/limits.lua"
local f = assert(io.open(limits, "w"))
f:write([[
local engine = require("engine")
return engine.sweep.run{results = arg[1], quiet = true, time_limit = 4,
  memory_limit = 512 * 1024 * 1024, metric = "m", grid = {what = {"ok", "sleep", "alloc"}},
  run = function(s)
    if s.what == "sleep" then engine.sweep.sleep(60) end
    if s.what == "alloc" then engine.zeros({2^31}, "f64") end
    return {m = 1}
  end}
]])
f:close()
if not os.getenv("ASAN_OPTIONS") and not os.getenv("TSAN_OPTIONS") then
  local t0 = engine.clock()
  local lp = assert(io.popen(("'%s' '%s' '%s' 2>&1"):format(H.engine_bin, limits,
    dir .. "/limits.h5")))
  out = lp:read("a")
  assert(lp:close(), out)
  assert(engine.clock() - t0 < 30, "the sleeping run was stopped")
  local r = sweep.read(dir .. "/limits.h5")
  assert(r["what=ok"].status == "completed", r["what=ok"].status)
  assert(r["what=sleep"].status == "timeout" and
    r["what=sleep"].message:find("time limit of 4 s", 1, true),
    r["what=sleep"].message)
  assert(r["what=alloc"].status == "oom" and r["what=alloc"].message:find("out of memory", 1,
    true), r["what=alloc"].message)
end

-- bad executor settings
H.check_error("executor 'ssh'", sweep.run, {results = "x", metric = "m", run = print,
  grid = {lr = {1}}, executor = "ssh"})
H.check_error("'workers' must be a positive integer", sweep.run, {results = "x", metric = "m",
  run = print, grid = {lr = {1}}, workers = 0})
H.check_error("'time_limit' must be a positive number", sweep.run, {results = "x", metric = "m",
  run = print, grid = {lr = {1}}, time_limit = -1})

os.execute("rm -rf '" .. dir .. "'")
print("test_sweep_isolation.lua: ok")
