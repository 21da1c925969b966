-- sweep.run's `setup` (issue #17): the set-up a run needs runs once in each process that runs
-- runs, never in the process that supervises the sweep; it is seeded from the sweep's seed
-- alone, so what it draws is the same on every executor; a setup that fails records each run
-- as an error naming it. And a pool gives each run no more engine threads than the cores allow.
local H = dofile((arg[0]:match("(.*/)") or "") .. "helpers.lua")

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir))

local function script(executor, results, fail)
  return ([[
local dir, executor, results, fail = %q, %q, %q, %s
local log = io.open(dir .. "/prelude.txt", "a")
log:write(engine.sweep.in_run() and "run\n" or "supervisor\n")
log:close()
local records = engine.sweep.run{
  results = results, quiet = true, executor = executor, workers = 2, seed = 7,
  grid = {a = {1, 2}, b = {10, 20}}, metric = "m",
  setup = function()
    local f = io.open(dir .. "/setup.txt", "a")
    f:write(engine.sweep.in_run() and "run\n" or "supervisor\n")
    f:close()
    if fail then error("no data here") end
    return {x = engine.randn({4}, "f64"):totable()}
  end,
  run = function(s, log, data)
    local sum = 0
    for _, v in ipairs(data.x) do sum = sum + v end
    return {m = s.a * sum + s.b + engine.randn({1}, "f64"):totable()[1]}
  end,
}
if not engine.sweep.in_run() then
  for _, r in ipairs(records) do
    print(r.key, r.status, r.final and ("%%.17g"):format(r.final.m) or r.message)
  end
end
]]):format(dir, executor, results, tostring(fail))
end

local function lines(path)
  local out = {}
  local f = io.open(path)
  if not f then return out end
  for l in f:lines() do out[#out + 1] = l end
  f:close()
  os.remove(path)
  return out
end

local function count(list, what)
  local n = 0
  for _, v in ipairs(list) do if v == what then n = n + 1 end end
  return n
end

H.section("setup runs once per run process, never in the supervisor (local, 2 workers)")
local out, code = H.run_script(script("local", dir .. "/local.h5", false))
assert(code == 0, out)
local setups, preludes = lines(dir .. "/setup.txt"), lines(dir .. "/prelude.txt")
assert(#setups == 4 and count(setups, "run") == 4, table.concat(setups, ","))
assert(count(preludes, "supervisor") == 1 and count(preludes, "run") == 4,
  table.concat(preludes, ","))

H.section("what setup draws is the same inline (one process) as in the pool")
local out_inline, code_inline = H.run_script(script("inline", dir .. "/inline.h5", false))
assert(code_inline == 0, out_inline)
assert(#lines(dir .. "/setup.txt") == 1, "inline: setup runs once in the one process")
lines(dir .. "/prelude.txt")
assert(out_inline == out and select(2, out:gsub("completed", "")) == 4,
  ("inline:\n%s\nlocal:\n%s"):format(out_inline, out))

H.section("a setup that fails records every run as an error naming it")
local out_fail, code_fail = H.run_script(script("local", dir .. "/fail.h5", true))
assert(code_fail == 0, out_fail)
assert(select(2, out_fail:gsub("error\t[^\n]*setup: [^\n]*no data here", "")) == 4, out_fail)
lines(dir .. "/setup.txt")
lines(dir .. "/prelude.txt")

H.section("setup must be a function")
H.check_error("setting 'setup' must be a function", engine.sweep.run, {
  results = dir .. "/x.h5", grid = {a = {1}}, metric = "m", setup = 3,
  run = function() return {m = 1} end})

H.section("a pool never runs more engine threads than cores: --threads 2 with 1 and 2 workers")
do
  local path = dir .. "/threads.lua"
  local f = assert(io.open(path, "w"))
  f:write(([[
local workers = tonumber(arg[1])
local records = engine.sweep.run{results = %q .. workers .. ".h5", quiet = true,
  workers = workers, grid = {a = {1, 2}}, metric = "m",
  run = function() return {m = engine.threads()} end}
if not engine.sweep.in_run() then print(records[1].final.m, records[2].final.m) end
]]):format(dir .. "/threads"))
  f:close()
  local cores = engine.sweep.cores()
  for _, workers in ipairs({1, 2}) do
    local want = workers * 2 <= cores and 2 or math.max(1, cores // workers)
    local got = H.run(("--threads 2 '%s' %d"):format(path, workers))
    assert(got == ("%d\t%d\n"):format(want, want),
      ("%d workers on %d cores: runs at %q threads, expected %d"):format(workers, cores, got, want))
  end
end

os.execute("rm -rf " .. dir)
print("sweep setup: once per run process, none in the supervisor, the same on every executor")
