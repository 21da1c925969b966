-- Crash safety beyond checkpoints (issue 13, acceptance 5): a process appending runs to a
-- sweep results file, and one writing a dataset file as the importers do (engine.data.write),
-- are killed with SIGKILL at random moments. Afterwards each file is the old one or a new
-- one, complete: the results hold runs 1..n with no gap and n never goes back; the dataset
-- loads and its samples all equal its labels' generation.
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

-- Runs the engine on a script with args, killed after delay seconds when given; returns its
-- exit status (137 when killed) and its wall time.
local function run(path, args, delay)
  local start = engine.clock()
  local cmd = ("exec 2>/dev/null; '%s' '%s' %s >/dev/null & pid=$!; %s wait $pid; echo $?")
    :format(H.engine_bin, path, args, delay and ("sleep %.3f; kill -9 $pid;"):format(delay) or "")
  local p = assert(io.popen(cmd))
  local status = tonumber(p:read("a"))
  p:close()
  return status, engine.clock() - start
end

math.randomseed(os.time())

H.section("sweep results: appends killed at random moments")
do
  local results = dir .. "/results.h5"
  local appender = script("append.lua", [[
local path, first, last = arg[1], tonumber(arg[2]), tonumber(arg[3])
for i = first, last do
  engine.sweep.append(path, ("run=%06d"):format(i), {i = i, curve = {i, i + 0.5}})
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
  local status, duration = run(appender, ("'%s' 1 20"):format(results))
  assert(status == 0 and check("uninterrupted") == 20)
  io.write(("  20 appends take %.3f s here\n"):format(duration))
  local n, killed = 20, 0
  for trial = 1, 10 do
    local delay = 0.005 + 0.95 * duration * math.random()
    status = run(appender, ("'%s' %d %d"):format(results, n + 1, n + 20), delay)
    local now = check(("trial %d (killed after %.3f s, status %s)"):format(trial, delay,
      tostring(status)))
    assert(now >= n and now <= n + 20, ("trial %d: %d runs after %d"):format(trial, now, n))
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
local path, first = arg[1], tonumber(arg[2])
for g = first, first + 19 do
  local x = engine.zeros({400, 1, 28, 28}, "u8")
  x:fill(g % 256)
  local y = engine.zeros({400}, "i64")
  y:fill(g)
  engine.data.write(path, {train = {x = x, y = y}}, {classes = {"a"}, source = "g" .. g})
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
  local status, duration = run(writer, ("'%s' 0"):format(data))
  assert(status == 0 and check("uninterrupted") == 19)
  io.write(("  20 dataset writes take %.3f s here\n"):format(duration))
  local last, killed = 19, 0
  for trial = 1, 10 do
    local first = trial * 100
    local delay = 0.005 + 0.95 * duration * math.random()
    status = run(writer, ("'%s' %d"):format(data, first), delay)
    local g = check(("trial %d (killed after %.3f s, status %s)"):format(trial, delay,
      tostring(status)))
    assert(g == last or (g >= first and g <= first + 19),
      ("trial %d: generation %d is neither the old %d nor this run's"):format(trial, g, last))
    last = g
    if status == 137 then killed = killed + 1 end
  end
  io.write(("  %d of 10 writers killed; the file always loaded whole\n"):format(killed))
  assert(killed >= 5, "most trials should kill the writer mid-run")
end

assert(os.execute("rm -rf '" .. dir .. "'"))
