-- engine.sweep's executors (compiled into the host after bindings/sweep.lua): where a sweep's
-- runs execute. Every executor runs each run in its own process: the host re-runs the same
-- script with ENGINE_SWEEP_CHILD set, and that process's sweep.run runs the one setting named
-- by ENGINE_SWEEP_KEY, writes its record to ENGINE_SWEEP_OUT and exits.
--   "local"   a pool of `workers` processes on this machine (the default)
--   "slurm"   a job array (sbatch); each task supervises its runs like "local" and writes its
--             own results file, merged into `results` when collected
--   "mpi"     the script started on every rank (mpirun, srun); runs shared out over the
--             ranks, rank 0 merges
--   "inline"  every run in this process, one after the other (no isolation; for debugging)
-- The work folder (`work_dir`, default results .. ".d") holds the per-run, per-task and
-- per-rank files while the sweep runs; it is shared by the processes of a cluster run.
local M = ...

-- whether this process was started by an executor (for one run, or as a Slurm task): a script
-- guards what must happen once (removing old results, writing other files) with it
function M.in_run()
  return os.getenv("ENGINE_SWEEP_CHILD") ~= nil or os.getenv("ENGINE_SWEEP_TASK") ~= nil
end

local EXECUTORS = {["local"] = true, slurm = true, mpi = true, inline = true}

function M._check_executor(spec, level)
  spec.executor = spec.executor or "local"
  if not EXECUTORS[spec.executor] then
    error(("sweep.run: executor '%s' (expected 'local', 'slurm', 'mpi' or 'inline')"):format(
      tostring(spec.executor)), level)
  end
  for _, k in ipairs({"workers", "chunk", "retries"}) do
    local v = spec[k]
    if v ~= nil and (math.type(v) ~= "integer" or v < (k == "retries" and 0 or 1)) then
      error(("sweep.run: setting '%s' must be a positive integer"):format(k), level)
    end
  end
  for _, k in ipairs({"time_limit", "memory_limit"}) do
    if spec[k] ~= nil and not (type(spec[k]) == "number" and spec[k] > 0) then
      error(("sweep.run: setting '%s' must be a positive number"):format(k), level)
    end
  end
  if spec.slurm ~= nil and type(spec.slurm) ~= "table" then
    error("sweep.run: setting 'slurm' must list sbatch options ({\"--time=10\", ...})", level)
  end
end

local function work_dir(spec)
  local dir = spec.work_dir or (spec.results .. ".d")
  assert(os.execute("mkdir -p '" .. dir:gsub("'", "'\\''") .. "'"), "cannot create " .. dir)
  return dir
end

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- the command line that started this script, with this host's absolute path first (and
-- threads, when given, as the value of the host's own --threads option)
local function script_argv(threads)
  if type(arg) ~= "table" or type(arg[0]) ~= "string" then
    error("sweep.run: executors re-run the script, so the sweep must be started from a script "
          .. "file (or use executor = 'inline')", 0)
  end
  local lo = 0
  while arg[lo - 1] ~= nil do lo = lo - 1 end
  local argv = {M.executable() or arg[lo]}
  for i = lo + 1, #arg do
    argv[#argv + 1] = arg[i]
    if threads and i < 0 and arg[i - 1] == "--threads" then argv[#argv] = tostring(threads) end
  end
  return argv
end

-- The engine threads of each run of a pool of `workers`: this process's count, unless the
-- pool would then run more threads than there are cores; then cores // workers, at least 1
-- (2 workers of 2 threads on 2 cores only take turns, and each pays for the splits).
function M.run_threads(workers)
  local asked, cores = require("engine").threads(), M.cores()
  if workers * asked <= cores then return asked end
  return math.max(1, cores // workers)
end

local function tail(path, n)
  local f = io.open(path, "rb")
  if not f then return "" end
  local text = f:read("a")
  f:close()
  return #text > n and text:sub(-n) or text
end

-- records of this sweep's runs already in a results file, in the sweep's order
local function recorded(path, todo)
  local done = M.read(path)
  local out = {}
  for _, item in ipairs(todo) do
    if done[item.key] then out[#out + 1] = done[item.key] end
  end
  return out, done
end

-- the record of a run whose process ended without writing one
local function lost_record(item, how, value, name, rss_kb, log)
  local r = {index = item.index, key = item.key, settings = item.settings, seed = item.seed}
  if how == "timeout" then
    r.status, r.message = "timeout", ("stopped at the time limit of %g s"):format(value)
  elseif how == "signaled" then
    r.status, r.signal, r.signal_name = "crashed", value, name
    r.message = ("killed by signal %d (%s)"):format(value, name)
    if name == "SIGKILL" then
      r.status = "oom"
      r.message = r.message .. (", most likely out of memory (peak %d MB)"):format(rss_kb // 1024)
    end
  else
    r.status, r.exit_code = "error", value
    r.message = ("exited with status %d without a result"):format(value)
  end
  if log and log ~= "" then r.log = log end
  return r
end

-- progress (engine.progress, on stderr): runs done, running, failed and queued; a line on
-- stdout as each run ends. show(counts[, record][, finished])
local function progress_meter(spec, total)
  if spec.quiet then return function() end end
  local bar = require("engine").progress.new("sweep", total, {unit = "runs"})
  local last
  return function(c, record, finished)
    if record then
      bar:clear()
      print(("run %d: %s ... %s%s"):format(record.index or 0, record.key or "?", record.status,
        record.message and (": " .. record.message) or ""))
    end
    local state = ("%d running, %d failed, %d queued"):format(c.running, c.failed, c.queued)
    if state ~= last or record then
      bar:set(c.done)
      bar:note(state)
      last = state
    end
    if finished then bar:done() end
  end
end

local FAILED = {crashed = true, timeout = true, oom = true, error = true}

-- Runs todo in child processes, `workers` at a time, appending each record to `out` as the
-- run ends. The child writes its record to a file of its own; one that ends without one is
-- recorded from how it ended.
local function supervise(spec, todo, workers, out, show)
  local threads = M.run_threads(math.min(workers, math.max(#todo, 1)))
  local dir, argv = work_dir(spec), script_argv(threads)
  if threads ~= require("engine").threads() and not spec.quiet then
    io.stderr:write(("engine.sweep: %d workers on %d cores: each run at %d thread(s), not %d\n")
      :format(workers, M.cores(), threads, require("engine").threads()))
  end
  local running, next_item, serial = {}, 1, 0
  local counts = {done = 0, failed = 0, running = 0, queued = #todo}
  local function start(item)
    serial = serial + 1
    local base = ("%s/run-%d-%d"):format(dir, M.pid(), serial)
    local pid = M.spawn(argv, {log = base .. ".log", memory = spec.memory_limit and
      math.floor(spec.memory_limit) or nil, env = {"ENGINE_THREADS=" .. threads,
      "ENGINE_SWEEP_CHILD=" .. spec.results,
      "ENGINE_SWEEP_KEY=" .. item.key, "ENGINE_SWEEP_OUT=" .. base .. ".h5"}})
    running[#running + 1] = {item = item, pid = pid, base = base, start = M.clock()}
  end
  local function finish(r, how, value, name, rss_kb)
    local part = r.base .. ".h5"
    local record = exists(part) and M.read(part)[r.item.key]
    if not record then
      record = lost_record(r.item, how, value, name, rss_kb, tail(r.base .. ".log", 2000))
    end
    record.seconds = M.clock() - r.start
    M.append(out, r.item.key, record)
    os.remove(part)
    os.remove(r.base .. ".log")
    counts.done = counts.done + 1
    if FAILED[record.status] then counts.failed = counts.failed + 1 end
    return record
  end
  while next_item <= #todo or #running > 0 do
    while #running < workers and next_item <= #todo do
      start(todo[next_item])
      next_item = next_item + 1
    end
    local ended = false
    for i = #running, 1, -1 do
      local r = running[i]
      local how, value, name, rss_kb = M.poll(r.pid)
      if not how and spec.time_limit and M.clock() - r.start > spec.time_limit then
        M.kill(r.pid, "KILL")
        repeat M.sleep(0.005); how = M.poll(r.pid) until how
        how, value = "timeout", spec.time_limit
      end
      if how then
        table.remove(running, i)
        local record = finish(r, how, value, name, rss_kb)
        counts.running, counts.queued = #running, #todo - next_item + 1
        if show then show(counts, record) end
        ended = true
      end
    end
    counts.running, counts.queued = #running, #todo - next_item + 1
    if show then show(counts) end
    if not ended then M.sleep(0.01) end
  end
  if show then show(counts, nil, true) end
end

-- the process started by an executor for one run: run it, write its record, exit
local function child(spec, todo)
  local key, out = os.getenv("ENGINE_SWEEP_KEY"), os.getenv("ENGINE_SWEEP_OUT")
  for _, item in ipairs(todo) do
    if item.key == key then
      M.append(out, key, M._one_run(spec, item))
      os.exit(0, true)
    end
  end
  error(("sweep.run: no run '%s' in this sweep (was the script changed?)"):format(key), 0)
end

local function merge(into, from, todo)
  if not exists(from) then return 0 end
  local have, n = M.read(into), 0
  local got = M.read(from)
  for _, item in ipairs(todo) do
    if got[item.key] and not have[item.key] then
      M.append(into, item.key, got[item.key])
      n = n + 1
    end
  end
  return n
end

local function pending_of(spec, todo)
  local done, pending = M.read(spec.results), {}
  for _, item in ipairs(todo) do
    if not done[item.key] then pending[#pending + 1] = item end
  end
  return pending
end

-- ---- mpi: every rank runs the script; run i of the pending ones goes to rank i % size ----
local function rank_and_size()
  for _, v in ipairs({{"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"}, {"PMI_RANK", "PMI_SIZE"},
                      {"SLURM_PROCID", "SLURM_NTASKS"}}) do
    local r, s = tonumber(os.getenv(v[1])), tonumber(os.getenv(v[2]))
    if r and s then return math.tointeger(r), math.tointeger(s) end
  end
  return 0, 1
end

local function mpi(spec, todo)
  local rank, size = rank_and_size()
  local dir = work_dir(spec)
  local tag = os.getenv("OMPI_MCA_ess_base_jobid") or os.getenv("PMIX_NAMESPACE")
              or os.getenv("SLURM_STEP_ID") and (os.getenv("SLURM_JOB_ID") .. "."
                 .. os.getenv("SLURM_STEP_ID")) or "single"
  tag = tag:gsub("[^%w_.-]", "_")
  local pending, mine = pending_of(spec, todo), {}
  for i, item in ipairs(pending) do
    if (i - 1) % size == rank then mine[#mine + 1] = item end
  end
  local part = ("%s/mpi-%s-rank%d.h5"):format(dir, tag, rank)
  os.remove(part)
  supervise(spec, mine, spec.workers or 1, part, rank == 0 and progress_meter(spec, #mine))
  local marker = io.open(part .. ".done", "w")
  marker:close()
  if rank ~= 0 then
    local records = recorded(part, todo)
    records.partial = true
    return records
  end
  for r = 0, size - 1 do
    local p = ("%s/mpi-%s-rank%d.h5"):format(dir, tag, r)
    while not exists(p .. ".done") do M.sleep(0.05) end
    merge(spec.results, p, todo)
    os.remove(p)
    os.remove(p .. ".done")
  end
  os.remove(dir) -- when empty
  return (recorded(spec.results, todo))
end

M._slurm = {} -- filled by bindings/sweep_slurm.lua

function M._execute(spec, todo)
  local target = os.getenv("ENGINE_SWEEP_CHILD")
  if target == spec.results then return child(spec, todo) end
  local task = os.getenv("ENGINE_SWEEP_TASK")
  if target or (task and task ~= spec.results) then
    -- a process started for another sweep of the same script: this one is already done
    local records = recorded(spec.results, todo)
    records.partial = true
    return records
  end
  if task then return M._slurm.task(spec, todo) end
  if spec.executor == "inline" then
    local done = M.read(spec.results)
    local records = {}
    for _, item in ipairs(todo) do
      local r = done[item.key]
      if r then
        r.skipped = true
      else
        r = M._one_run(spec, item)
        M.append(spec.results, item.key, r)
      end
      records[#records + 1] = r
    end
    return records
  elseif spec.executor == "mpi" then
    return mpi(spec, todo)
  elseif spec.executor == "slurm" then
    return M._slurm.run(spec, todo)
  end
  local pending = pending_of(spec, todo)
  supervise(spec, pending, spec.workers or 1, spec.results, progress_meter(spec, #pending))
  os.remove(work_dir(spec)) -- when empty: nothing left of the runs but their records
  local records, done = {}, M.read(spec.results)
  local new = {}
  for _, item in ipairs(pending) do new[item.key] = true end
  for _, item in ipairs(todo) do
    local r = done[item.key]
    if r then
      r.skipped = not new[item.key] or nil
      records[#records + 1] = r
    end
  end
  return records
end

M._exec = {supervise = supervise, merge = merge, pending_of = pending_of, work_dir = work_dir,
           quote = quote, exists = exists, script_argv = script_argv, recorded = recorded,
           progress_meter = progress_meter, FAILED = FAILED}
