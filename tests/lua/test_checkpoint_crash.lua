-- Crash safety: an engine process saving 50 checkpoints to one path is killed with SIGKILL at
-- random moments. Afterwards the path must hold a complete checkpoint, the old or a new one:
-- it loads, and its parameters all equal its meta.step (a half-written file would fail to
-- load, and a mix of two saves would disagree).
local H = dofile((arg[0]:match("(.*/)") or "") .. "helpers.lua")
local engine = require("engine")
local nn = engine.nn

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))
local path = dir .. "/run.h5"

-- 50 saves of a 1 MB model whose every parameter is i at save i.
local saver = dir .. "/saver.lua"
do
  local f = assert(io.open(saver, "w"))
  f:write([[
local path, first = arg[1], tonumber(arg[2])
local nn = engine.nn
local model = nn.Sequential{nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)}
for i = first, first + 49 do
  for _, p in ipairs(model:parameters()) do p.value:fill(i) end
  engine.save(path, {model = model, meta = {step = i}})
end
]])
  f:close()
end

-- The checkpoint at path must load and be consistent; returns its step.
local function check_consistent(what)
  local ok, ckpt = pcall(engine.load, path, {rng = false})
  if not ok then error(what .. ": the checkpoint does not load: " .. tostring(ckpt), 2) end
  local step = ckpt.meta.step
  for _, p in ipairs(ckpt.model:parameters()) do
    if p.value:min() ~= step or p.value:max() ~= step then
      error(("%s: %s holds %g..%g, meta.step is %d"):format(what, p.name, p.value:min(),
        p.value:max(), step), 2)
    end
  end
  return step
end

-- The old checkpoint: step 0.
do
  local model = nn.Sequential{nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)}
  for _, p in ipairs(model:parameters()) do p.value:fill(0) end
  engine.save(path, {model = model, meta = {step = 0}})
end

-- Runs the saver (saves first .. first + 49), killing it after delay seconds when delay is
-- given; returns its exit status (137 when killed) and the wall time.
local function run_saver(first, delay)
  local start = engine.clock()
  local cmd = ("exec 2>/dev/null; '%s' '%s' '%s' %d >/dev/null & pid=$!; %s wait $pid; echo $?")
    :format(H.engine_bin, saver, path, first, delay and ("sleep %.3f; kill -9 $pid;")
      :format(delay) or "")
  local p = assert(io.popen(cmd))
  local status = tonumber(p:read("a"))
  p:close()
  return status, engine.clock() - start
end

-- One uninterrupted run: it must leave its last save, and it times the 50 saves here.
local status, duration = run_saver(0)
assert(status == 0 and check_consistent("uninterrupted run") == 49, "a finished run's last save")
io.write(("  50 saves take %.3f s here\n"):format(duration))

math.randomseed(os.time())
local trials, killed, last = 12, 0, 49
for trial = 1, trials do
  local first = trial * 100
  local delay = 0.005 + 0.95 * duration * math.random()
  status = run_saver(first, delay)
  local step = check_consistent(("trial %d (killed after %.3f s, status %s)"):format(trial,
    delay, tostring(status)))
  assert(step == last or (step >= first and step <= first + 49),
    ("trial %d: step %d is neither the old %d nor one of this run's"):format(trial, step, last))
  if status == 137 then
    killed = killed + 1
  else
    assert(status == 0 and step == first + 49, "a finished run left its last save")
  end
  last = step
  io.write(("  trial %2d: killed after %.3f s (status %s): the file holds step %d\n"):format(trial,
    delay, tostring(status), step))
end
assert(killed > 0, "no run was killed")

assert(os.execute("rm -rf '" .. dir .. "'"))
print(("test_checkpoint_crash: ok (%d of %d runs killed mid-way)"):format(killed, trials))
