-- Crash safety: an engine process saving checkpoints to one path is killed with SIGKILL at
-- random moments of its work (after a random number of saves, as it reports them, plus a random
-- part of a save: on any machine speed). Afterwards the path must hold a complete checkpoint,
-- the old or a new one, at least the last save reported done: it loads, and its parameters all
-- equal its meta.step (a half-written file would fail to load, and a mix of two saves would
-- disagree).
local H = dofile((arg[0]:match("(.*/)") or "") .. "helpers.lua")
local engine = require("engine")
local nn = engine.nn

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))
local path = dir .. "/run.h5"

-- Saves first .. last of a 1 MB model whose every parameter is i at save i.
local saver = dir .. "/saver.lua"
do
  local f = assert(io.open(saver, "w"))
  f:write([[
local path, first, last = arg[1], tonumber(arg[2]), tonumber(arg[3])
local nn = engine.nn
local model = nn.Sequential{nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)}
io.stdout:setvbuf("no")
print("ready")
for i = first, last do
  for _, p in ipairs(model:parameters()) do p.value:fill(i) end
  engine.save(path, {model = model, meta = {step = i}})
  print("step")
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

-- One uninterrupted run of 50 saves: it must leave its last save, and it times a save here.
local status, save_s = H.run_steps(saver, ("'%s' 0 49"):format(path))
assert(status == 0 and check_consistent("uninterrupted run") == 49, "a finished run's last save")
io.write(("  a save takes %.4f s here\n"):format(save_s))

math.randomseed(os.time())
local trials, killed, last = 12, 0, 49
for trial = 1, trials do
  -- killed within its first 50 saves (of 90: the kill comes before the end however late)
  local first = trial * 100
  local done, delay = math.random(0, 49), save_s * math.random()
  status = H.run_killed(saver, ("'%s' %d %d"):format(path, first, first + 89), done, delay)
  local step = check_consistent(("trial %d (killed %.4f s after save %d, status %s)"):format(trial,
    delay, done, tostring(status)))
  local from = math.max(first, first + done - 1) -- the last one reported done, or this run's first
  assert((done == 0 and step == last) or (step >= from and step <= first + 89),
    ("trial %d: step %d is neither the old %d nor one of this run's from save %d on"):format(trial,
      step, last, done))
  if status == 137 then
    killed = killed + 1
  else
    assert(status == 0 and step == first + 89, "a finished run left its last save")
  end
  last = step
  io.write(("  trial %2d: killed %.4f s after save %d (status %s): the file holds step %d\n")
    :format(trial, delay, done, tostring(status), step))
end
assert(killed > 0, "no run was killed")

assert(os.execute("rm -rf '" .. dir .. "'"))
print(("test_checkpoint_crash: ok (%d of %d runs killed mid-way)"):format(killed, trials))
