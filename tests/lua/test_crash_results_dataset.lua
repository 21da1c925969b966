-- Crash safety beyond checkpoints (issue 13, acceptance 5): a process appending runs to a
-- sweep results file, and one writing a dataset file as the importers do (engine.data.write),
-- are killed with SIGKILL at random moments of their work (after a random number of steps,
-- as they report them, plus a random part of a step: on any machine speed). Afterwards each
-- file is the old one or a new one, complete: the results hold runs 1..n with no gap, n never
-- goes back and keeps every append reported done; the dataset loads, its samples all equal its
-- labels' generation, at least that of the last write reported done.
local H = dofile((arg[0]:match("(.*/)") or "") .. "helpers.lua")
local engine = require("engine")

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))

local function script(name, source)
  local path = dir .. "/" .. name
  local f = assert(io.open(path, "w"))
  f:write(source)
  f:close()
  return path
end

math.randomseed(os.time())

H.section("sweep results: appends killed at random moments")
do
  local results = dir .. "/results.h5"
  local appender = script("append.lua", [[
local path, first, last = arg[1], tonumber(arg[2]), tonumber(arg[3])
io.stdout:setvbuf("no")
print("ready")
for i = first, last do
  engine.sweep.append(path, ("run=%06d"):format(i), {i = i, curve = {i, i + 0.5}})
  print("step")
end
]])
  -- runs 1..n, in order, each whole; returns n
  local function check(what)
    local ok, runs, order = pcall(engine.sweep.read, results)
    if not ok then error(what .. ": the results file does not read: " .. tostring(runs), 2) end
    for k, key in ipairs(order) do
      local r = runs[key]
      if key ~= ("run=%06d"):format(k) or r.i ~= k or r.curve[2] ~= k + 0.5 then
        error(("%s: run %d is %s"):format(what, k, key), 2)
      end
    end
    return #order
  end
  local status, step = H.run_steps(appender, ("'%s' 1 20"):format(results))
  assert(status == 0 and check("uninterrupted") == 20)
  io.write(("  an append takes %.4f s here\n"):format(step))
  local n, killed = 20, 0
  for trial = 1, 10 do
    -- killed within its first 20 appends (of 60: the kill comes before the end however late)
    local done, delay = math.random(0, 19), step * math.random()
    status = H.run_killed(appender, ("'%s' %d %d"):format(results, n + 1, n + 60), done, delay)
    local now = check(("trial %d (killed %.4f s after append %d, status %s)"):format(trial, delay,
      done, tostring(status)))
    assert(now >= n + done and now <= n + 60,
      ("trial %d: %d runs after %d and %d appends reported done"):format(trial, now, n, done))
    n = now
    if status == 137 then killed = killed + 1 end
  end
  io.write(("  %d of 10 appenders killed; the file always read, %d runs in order\n")
    :format(killed, n))
  assert(killed >= 5, "most trials should kill the appender mid-run")
end

H.section("dataset files: writes killed at random moments")
do
  local data = dir .. "/data.h5"
  local writer = script("write.lua", [[
local path, first, last = arg[1], tonumber(arg[2]), tonumber(arg[3])
io.stdout:setvbuf("no")
print("ready")
for g = first, last do
  local x = engine.zeros({400, 1, 28, 28}, "u8")
  x:fill(g % 256)
  local y = engine.zeros({400}, "i64")
  y:fill(g)
  engine.data.write(path, {train = {x = x, y = y}}, {classes = {"a"}, source = "g" .. g})
  print("step")
end
]])
  -- loads, and every sample and label agree; returns the generation
  local function check(what)
    local ok, ds = pcall(engine.data.open, data, "train")
    if not ok then error(what .. ": the dataset does not load: " .. tostring(ds), 2) end
    if ds:size() ~= 400 then error(("%s: %d samples"):format(what, ds:size()), 2) end
    local g
    for x, y in ds:batches(400, {shuffle = false, scale = 1}) do
      g = y:max()
      if y:min() ~= g or x:min() ~= g % 256 or x:max() ~= g % 256 then
        error(("%s: a mixed file (labels %g..%g, samples %g..%g)"):format(what, y:min(),
          y:max(), x:min(), x:max()), 2)
      end
    end
    return g
  end
  local status, step = H.run_steps(writer, ("'%s' 0 19"):format(data))
  assert(status == 0 and check("uninterrupted") == 19)
  io.write(("  a dataset write takes %.4f s here\n"):format(step))
  local last, killed = 19, 0
  for trial = 1, 10 do
    -- killed within its first 20 writes (of 60)
    local first = trial * 100
    local done, delay = math.random(0, 19), step * math.random()
    status = H.run_killed(writer, ("'%s' %d %d"):format(data, first, first + 59), done, delay)
    local g = check(("trial %d (killed %.4f s after write %d, status %s)"):format(trial, delay,
      done, tostring(status)))
    local from = math.max(first, first + done - 1) -- the last one reported done, or this run's first
    assert((done == 0 and g == last) or (g >= from and g <= first + 59),
      ("trial %d: generation %d is neither the old %d nor this run's, from write %d on")
        :format(trial, g, last, done))
    last = g
    if status == 137 then killed = killed + 1 end
  end
  io.write(("  %d of 10 writers killed; the file always loaded whole\n"):format(killed))
  assert(killed >= 5, "most trials should kill the writer mid-run")
end

assert(os.execute("rm -rf '" .. dir .. "'"))
