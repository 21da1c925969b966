-- engine.sweep: the orchestration of a sweep, in Lua (compiled into the host). The C part
-- (bindings/l_sweep.c) gives append/read of the HDF5 results file and plot.
--
--   local results = engine.sweep.run{
--     results = "sweep.h5",                 -- appended after every run; restarts skip done runs
--     grid = {lr = {1e-3, 1e-2, 1e-1}, optimizer = {"sgd", "adam"}},
--       -- or random = {n = 12, seed = 1, lr = {log_uniform = {1e-5, 1}}, optimizer = {"sgd"}}
--     metric = "accuracy", goal = "max",     -- what "best" means
--     setup = function() return data end,     -- optional: once per process that runs runs,
--                                            -- never in the supervisor; data is run's 3rd arg
--     run = function(settings, log, data)    -- one run; log(step, {loss = ...}) records curves
--       ...; return {accuracy = 0.87}        -- final metrics
--     end,
--     plot = "sweep.svg", curves = "curves.svg",   -- optional SVG plots (logy = true, false or
--                                                  -- "auto": log where values span decades)
--     executor = "local", workers = 2,       -- or "slurm", "mpi", "inline" (bindings/sweep_exec.lua)
--     seed = 1, time_limit = 600, memory_limit = 2^31,   -- per run
--   }
-- Each run is its own process, seeded from `seed` and its settings (never its order). A run
-- that raises is recorded with status "error" and its message; one whose logged or final
-- values become NaN or infinite is recorded as "diverged" (the log call stops it); one that
-- crashes as "crashed" with its signal, one past its time limit as "timeout", one out of
-- memory as "oom".
local M = ...

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- Floats in the shortest form that reads back as the same double (0.001, 0.0010000001), with
-- ".0" when that looks like an integer, so that 1.0 and the integer 1 stay apart.
local function value_text(v)
  if math.type(v) ~= "float" then return tostring(v) end
  if v ~= v or v == math.huge or v == -math.huge then return tostring(v) end
  for digits = 1, 17 do
    local s = ("%." .. digits .. "g"):format(v)
    if tonumber(s) == v then
      return s:find("[%.eEn]") and s or s .. ".0"
    end
  end
end

-- '%', '/', ',' and '=' percent-encoded: a key names one set of settings and no other
-- ("b/c" and "b_c" are two runs), and '/' cannot be in an HDF5 link name.
local function escape(s)
  return (tostring(s):gsub("[%%/,=]", function(c) return ("%%%02X"):format(c:byte()) end))
end

-- "lr=0.001,optimizer=adam": the run's identity in the results file
local function key_of(settings)
  local parts = {}
  for _, k in ipairs(sorted_keys(settings)) do
    parts[#parts + 1] = escape(k) .. "=" .. escape(value_text(settings[k]))
  end
  return table.concat(parts, ",")
end

local function check_values(name, values)
  if type(values) ~= "table" or #values == 0 then
    error(("sweep: setting '%s' must list its values, got %s"):format(name, type(values)), 4)
  end
  for i, v in ipairs(values) do
    local t = type(v)
    if t ~= "number" and t ~= "string" and t ~= "boolean" then
      error(("sweep: setting '%s' value %d is a %s (numbers, strings or booleans)"):format(
        name, i, t), 4)
    end
  end
end

local function grid_runs(grid)
  local names, runs = sorted_keys(grid), {{}}
  for _, name in ipairs(names) do
    check_values(name, grid[name])
    local next_runs = {}
    for _, partial in ipairs(runs) do
      for _, v in ipairs(grid[name]) do
        local s = {}
        for k, x in pairs(partial) do s[k] = x end
        s[name] = v
        next_runs[#next_runs + 1] = s
      end
    end
    runs = next_runs
  end
  return runs
end

-- a tiny generator of our own, so that a random sweep draws the same settings on restart
local function lcg(seed)
  local state = seed % 2147483647
  if state <= 0 then state = state + 2147483646 end
  return function()
    state = state * 48271 % 2147483647
    return (state - 1) / 2147483646
  end
end

local function random_runs(random)
  local n = random.n
  if math.type(n) ~= "integer" or n < 1 then
    error("sweep: random.n must be a positive integer", 3)
  end
  local uniform = lcg(random.seed or 1)
  local names, runs = {}, {}
  for _, k in ipairs(sorted_keys(random)) do
    if k ~= "n" and k ~= "seed" then names[#names + 1] = k end
  end
  for i = 1, n do
    local s = {}
    for _, name in ipairs(names) do
      local spec = random[name]
      if type(spec) == "table" and spec.log_uniform then
        local a, b = spec.log_uniform[1], spec.log_uniform[2]
        if not (type(a) == "number" and type(b) == "number" and a > 0 and b > a) then
          error(("sweep: %s.log_uniform must be {low, high} with 0 < low < high"):format(name), 3)
        end
        s[name] = math.exp(math.log(a) + (math.log(b) - math.log(a)) * uniform())
      elseif type(spec) == "table" and spec.uniform then
        local a, b = spec.uniform[1], spec.uniform[2]
        if not (type(a) == "number" and type(b) == "number" and b > a) then
          error(("sweep: %s.uniform must be {low, high} with low < high"):format(name), 3)
        end
        s[name] = a + (b - a) * uniform()
      else
        check_values(name, spec)
        s[name] = spec[1 + math.floor(uniform() * #spec) % #spec]
      end
    end
    runs[i] = s
  end
  return runs
end

local function finite(v)
  return type(v) ~= "number" or (v == v and v ~= math.huge and v ~= -math.huge)
end

local DIVERGED = {}

local function one_run(spec, settings, index, key)
  local curves, best = {}, nil
  local better = spec.goal == "max" and function(a, b) return a > b end
                                     or function(a, b) return a < b end
  local function log(step, metrics)
    if type(metrics) ~= "table" then error("log(step, metrics): metrics must be a table", 2) end
    for name, v in pairs(metrics) do
      local c = curves[name] or {}
      curves[name] = c
      c[#c + 1] = v
      if not finite(v) then error({DIVERGED, name = name, value = v, step = step}) end
      if name == spec.metric and (best == nil or better(v, best)) then best = v end
    end
  end
  local start = M.clock()
  local ok, result
  if spec._setup and not spec._setup[1] then
    ok, result = false, "setup: " .. tostring(spec._setup[2])
  else
    ok, result = pcall(spec.run, settings, log, spec._setup and spec._setup[2])
  end
  local record = {index = index, key = key, settings = settings, curves = curves,
                  seconds = M.clock() - start}
  if ok then
    if type(result) ~= "table" then
      record.status, record.message = "error", "the run function returned no metrics table"
    else
      record.final = {}
      record.status = "completed"
      for name, v in pairs(result) do
        if type(v) == "number" then
          record.final[name] = v
          if not finite(v) then
            record.status = "diverged"
            record.message = ("final %s is %s"):format(name, tostring(v))
          end
        end
      end
      local final = record.final[spec.metric]
      if record.status == "completed" and final ~= nil and (best == nil or better(final, best)) then
        best = final
      end
    end
  elseif type(result) == "table" and result[1] == DIVERGED then
    record.status = "diverged"
    record.message = ("%s became %s at step %s"):format(result.name, tostring(result.value),
                                                        tostring(result.step))
  else
    record.status, record.message = "error", tostring(result)
    -- under a memory limit, an allocation that fails is the limit's doing
    if spec.memory_limit and (record.message:find("out of memory", 1, true)
                              or record.message:find("not enough memory", 1, true)) then
      record.status = "oom"
    end
  end
  if best ~= nil then record.best = {[spec.metric] = best} end
  return record
end

-- The run's seed: FNV-1a (64 bits) of the sweep's seed and the run's settings written exactly
-- (%q gives floats in hexadecimal), so it depends on what the run is, never on when it runs.
local function seed_of(sweep_seed, settings)
  local text = {tostring(sweep_seed)}
  for _, k in ipairs(sorted_keys(settings)) do
    text[#text + 1] = ("%s=%s:%q"):format(k, type(settings[k]), settings[k])
  end
  local h = -3750763034362895579 -- 0xcbf29ce484222325, the FNV offset basis
  for c in table.concat(text, "\0"):gmatch(".") do
    h = (h ~ c:byte()) * 1099511628211 -- the FNV prime; integer multiplication wraps
  end
  return h & 0x7fffffffffffffff
end

local function summary(spec, records)
  local width = 10
  for _, r in ipairs(records) do width = math.max(width, #r.key) end
  print(("%-" .. width .. "s  %-9s  %14s  %14s  %8s"):format("run", "status",
    "final " .. spec.metric, "best", "seconds"))
  for _, r in ipairs(records) do
    local final = r.final and r.final[spec.metric]
    local best = r.best and r.best[spec.metric]
    print(("%-" .. width .. "s  %-9s  %14s  %14s  %8.2f%s"):format(r.key, r.status,
      final and ("%.6g"):format(final) or "-", best and ("%.6g"):format(best) or "-",
      r.seconds or 0, r.skipped and "  (recorded earlier)" or ""))
  end
end

-- metric against the first numeric setting that varies; one line per value of the others
local function plot_metric(spec, records, path)
  local axis
  for _, r in ipairs(records) do
    for _, k in ipairs(sorted_keys(r.settings)) do
      if type(r.settings[k]) == "number" and r.settings[k] ~= records[1].settings[k] then
        axis = axis or k
      end
    end
  end
  if not axis then return end
  local groups, order, lo, hi = {}, {}, math.huge, -math.huge
  for _, r in ipairs(records) do
    local label = {}
    for _, k in ipairs(sorted_keys(r.settings)) do
      if k ~= axis then label[#label + 1] = k .. "=" .. value_text(r.settings[k]) end
    end
    label = #label > 0 and table.concat(label, ", ") or spec.metric
    if not groups[label] then
      groups[label] = {label = label, x = {}, y = {}}
      order[#order + 1] = label
    end
    local x = r.settings[axis]
    local y = r.status == "completed" and r.final and r.final[spec.metric] or 0 / 0
    local g = groups[label]
    g.x[#g.x + 1], g.y[#g.y + 1] = x, y
    lo, hi = math.min(lo, x), math.max(hi, x)
  end
  local series = {}
  for _, label in ipairs(order) do
    local g = groups[label]
    local idx = {}
    for i = 1, #g.x do idx[i] = i end
    table.sort(idx, function(a, b) return g.x[a] < g.x[b] end)
    local s = {label = label, x = {}, y = {}}
    for i, j in ipairs(idx) do s.x[i], s.y[i] = g.x[j], g.y[j] end
    series[#series + 1] = s
  end
  M.plot(path, {title = ("%s against %s (diverged runs left out)"):format(spec.metric, axis),
                xlabel = axis, ylabel = spec.metric, logx = lo > 0 and hi / lo >= 100,
                logy = spec.logy == nil and "auto" or spec.logy == true, series = series})
end

local function plot_curves(spec, records, path)
  local name = spec.curve or "loss"
  local series = {}
  for _, r in ipairs(records) do
    local c = r.curves and r.curves[name]
    if c and #c > 0 then
      local x = {}
      for i = 1, #c do x[i] = i end
      series[#series + 1] = {label = r.key .. " (" .. r.status .. ")", x = x, y = c}
    end
  end
  if #series > 0 then
    M.plot(path, {title = name .. " per logged step, one line per run", xlabel = "logged step",
                  ylabel = name, logy = "auto", series = series})
  end
end

local KNOWN = {"chunk", "curve", "curves", "executor", "goal", "grid", "logy", "memory_limit",
               "metric", "plot", "quiet", "random", "results", "retries", "run", "seed",
               "setup", "slurm", "time_limit", "wait", "work_dir", "workers"}

function M.run(spec)
  if type(spec) ~= "table" then error("sweep.run: expected a table of settings", 2) end
  local known = {}
  for _, k in ipairs(KNOWN) do known[k] = true end
  for k in pairs(spec) do
    if not known[k] then
      error(("sweep.run: unknown setting '%s' (expected %s)"):format(tostring(k),
        table.concat(KNOWN, ", ")), 2)
    end
  end
  if type(spec.run) ~= "function" then error("sweep.run: setting 'run' must be a function", 2) end
  if spec.setup ~= nil and type(spec.setup) ~= "function" then
    error("sweep.run: setting 'setup' must be a function", 2)
  end
  if type(spec.results) ~= "string" then
    error("sweep.run: setting 'results' must be the path of the HDF5 results file", 2)
  end
  if type(spec.metric) ~= "string" then
    error("sweep.run: setting 'metric' must name the metric to compare", 2)
  end
  if spec.goal ~= nil and spec.goal ~= "min" and spec.goal ~= "max" then
    error(("sweep.run: setting 'goal' is '%s' (expected 'min' or 'max')"):format(
      tostring(spec.goal)), 2)
  end
  spec.goal = spec.goal or "min"
  if (spec.grid == nil) == (spec.random == nil) then
    error("sweep.run: give exactly one of 'grid' and 'random'", 2)
  end
  M._check_executor(spec, 3)
  local todo = {}
  for i, settings in ipairs(spec.grid and grid_runs(spec.grid) or random_runs(spec.random)) do
    todo[i] = {index = i, key = key_of(settings), settings = settings,
               seed = seed_of(spec.seed or 0, settings)}
  end
  local found
  if not (os.getenv("ENGINE_SWEEP_CHILD") or os.getenv("ENGINE_SWEEP_TASK")) then
    found = select(3, M.read(spec.results))
  end
  local records = M._execute(spec, todo)
  if records.partial then return records end
  if found and found.version > 0 then records.resumed_from = found end
  if not spec.quiet then summary(spec, records) end
  if spec.plot then plot_metric(spec, records, spec.plot) end
  if spec.curves then plot_curves(spec, records, spec.curves) end
  return records
end

local warned = {}

-- sweep.read(path) -> {key = run}, {keys in order}, file: file.version is 2, or 1 for a file
-- written before results format 2 (30 Nov 2026). Such a file still reads, after the same audit
-- of structure, types and sizes, but its runs carry no checksums: file.checksummed is false,
-- file.warning says so, and so does one line on stderr (once per file). Appending rewrites it
-- in format 2.
function M.read(path)
  local runs, keys, file = M._read(path)
  if file.version == 1 then
    file.warning = ("%s is a sweep results file of format 1 (written before 30 Nov 2026): it "
      .. "passed the structural audit, but its runs carry no checksums%s; the next append "
      .. "rewrites it in format 2"):format(path, file.file_crc
        and " (the CRC-32 of the whole file matched)" or ", nor does the file")
    if not warned[path] then
      warned[path] = true
      io.stderr:write("engine.sweep: warning: ", file.warning, "\n")
    end
  end
  return runs, keys, file
end

-- one run in this process: setup once per process (seeded from the sweep's seed alone, so
-- that what it draws is the same in every process and on every executor), the generator
-- seeded from the run, then the protected call
function M._one_run(spec, item)
  if spec.setup and not spec._setup then
    require("engine").seed(seed_of(spec.seed or 0, {}))
    spec._setup = table.pack(pcall(spec.setup))
  end
  require("engine").seed(item.seed)
  local record = one_run(spec, item.settings, item.index, item.key)
  record.seed = item.seed
  return record
end

M.key = key_of
M.seed_of = seed_of
