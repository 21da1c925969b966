-- engine.sweep's "slurm" executor (compiled into the host after bindings/sweep_exec.lua).
-- A sweep submits its pending runs as one job array (sbatch), `chunk` runs per task; each task
-- re-runs the script with ENGINE_SWEEP_TASK set, supervises its runs like the "local" executor
-- (each in its own process) and writes them to its own results file in the work folder.
-- Running the script again collects what finished (merging it into the one results file),
-- leaves running and queued tasks alone and resubmits runs whose task ended without them;
-- with wait = true one call does all of that until every run is recorded (or was retried
-- `retries` times, default 1). Job ids live in <work>/slurm-jobs.txt.
local M = ...
local E = M._exec
local S = M._slurm

local function read_lines(path)
  local t = {}
  local f = io.open(path)
  if not f then return t end
  for line in f:lines() do t[#t + 1] = line end
  f:close()
  return t
end

local function part_of(dir, job, task)
  return ("%s/slurm-part-%s_%d.h5"):format(dir, job, task)
end

-- the states of a job's array tasks ({} once it has left the queue)
local function job_states(id)
  local p = io.popen("squeue -h -r -j " .. id .. " -o '%i %t' 2>&1")
  local text = p:read("a")
  local ok = p:close()
  if not ok then
    if text:find("Invalid job id", 1, true) then return {} end
    error("sweep.run: squeue failed: " .. text:gsub("%s+$", ""), 0)
  end
  local states = {}
  for task, st in text:gmatch("(%S+)%s+(%S+)") do states[task] = st end
  return states
end

local function submit(spec, dir, items, jobs_path)
  local chunk = spec.chunk or 1
  local ntasks = (#items + chunk - 1) // chunk
  local tag = ("%d-%d-%d"):format(M.pid(), os.time(), math.floor(M.clock() * 1000) % 100000)
  local manifest, script = ("%s/slurm-%s.keys"):format(dir, tag), ("%s/slurm-%s.sh"):format(dir, tag)
  local f = assert(io.open(manifest, "w"))
  for _, item in ipairs(items) do
    if item.key:find("\n", 1, true) then error("sweep.run: a run key holds a newline", 0) end
    f:write(item.key, "\n")
  end
  f:close()
  local argv = {}
  for i, a in ipairs(E.script_argv()) do argv[i] = E.quote(a) end
  local lines = {"#!/bin/sh", "#SBATCH --job-name=engine-sweep",
                 ("#SBATCH --array=0-%d"):format(ntasks - 1),
                 ("#SBATCH --output=%s/slurm-%%A_%%a.log"):format(dir)}
  for _, opt in ipairs(spec.slurm or {}) do lines[#lines + 1] = "#SBATCH " .. opt end
  lines[#lines + 1] = ("export ENGINE_SWEEP_TASK=%s ENGINE_SWEEP_KEYS=%s ENGINE_SWEEP_CHUNK=%d")
    :format(E.quote(spec.results), E.quote(manifest), chunk)
  lines[#lines + 1] = ("export ENGINE_SWEEP_PART=%s/slurm-part-${SLURM_ARRAY_JOB_ID}_"
    .. "${SLURM_ARRAY_TASK_ID}.h5"):format(E.quote(dir))
  lines[#lines + 1] = "exec " .. table.concat(argv, " ")
  f = assert(io.open(script, "w"))
  f:write(table.concat(lines, "\n"), "\n")
  f:close()
  local p = io.popen("sbatch --parsable " .. E.quote(script) .. " 2>&1")
  local out = p:read("a")
  local ok = p:close()
  local id = out:match("^(%d+)")
  if not ok or not id then error("sweep.run: sbatch failed: " .. out:gsub("%s+$", ""), 0) end
  f = assert(io.open(jobs_path, "a"))
  f:write(("%s %d %s\n"):format(id, ntasks, manifest))
  f:close()
  if not spec.quiet then
    print(("sweep %s: submitted job array %s (%d tasks, %d runs)"):format(spec.results, id,
      ntasks, #items))
  end
end

-- one pass: collect ended jobs, count live ones; returns the keys in flight and counts
local function collect(spec, todo, dir, jobs_path)
  local live, inflight, counts = {}, {}, {running = 0, queued = 0}
  for _, line in ipairs(read_lines(jobs_path)) do
    local id, ntasks, manifest = line:match("^(%d+) (%d+) (.+)$")
    local states = job_states(id)
    if next(states) then
      live[#live + 1] = line
      for _, key in ipairs(read_lines(manifest)) do inflight[key] = true end
      for _, st in pairs(states) do
        if st == "R" or st == "CG" then counts.running = counts.running + 1
        else counts.queued = counts.queued + 1 end
      end
    else
      for t = 0, tonumber(ntasks) - 1 do
        E.merge(spec.results, part_of(dir, id, t), todo)
        os.remove(part_of(dir, id, t))
        local log = ("%s/slurm-%s_%d.log"):format(dir, id, t)
        local f = io.open(log)
        if f and f:seek("end") == 0 then os.remove(log) end -- kept when it says something
        if f then f:close() end
      end
      os.remove(manifest)
      os.remove((manifest:gsub("%.keys$", ".sh")))
    end
  end
  if #live > 0 then
    local f = assert(io.open(jobs_path, "w"))
    for _, line in ipairs(live) do f:write(line, "\n") end
    f:close()
  else
    os.remove(jobs_path)
  end
  return inflight, counts
end

function S.run(spec, todo)
  local dir = E.work_dir(spec)
  local jobs_path = dir .. "/slurm-jobs.txt"
  local tries, show = {}, E.progress_meter(spec, #todo)
  local retries = spec.retries or 1
  while true do
    local inflight, counts = collect(spec, todo, dir, jobs_path)
    local submit_now, lost = {}, 0
    local pending = E.pending_of(spec, todo)
    for _, item in ipairs(pending) do
      if not inflight[item.key] then
        if (tries[item.key] or 0) <= retries then
          submit_now[#submit_now + 1] = item
          tries[item.key] = (tries[item.key] or 0) + 1
        else
          lost = lost + 1
        end
      end
    end
    if #submit_now > 0 then submit(spec, dir, submit_now, jobs_path) end
    local records = E.recorded(spec.results, todo)
    local failed = 0
    for _, r in ipairs(records) do if E.FAILED[r.status] then failed = failed + 1 end end
    show({done = #records, running = counts.running, failed = failed,
          queued = counts.queued + #submit_now})
    if #pending == 0 or not spec.wait or (next(inflight) == nil and #submit_now == 0) then
      show({done = #records, running = counts.running, failed = failed, queued = counts.queued
            + #submit_now}, nil, true)
      if #records == #todo then os.remove(dir) end -- when empty
      if #records < #todo then
        records.partial = true
        if not spec.quiet then
          print(("sweep %s: %d of %d runs recorded%s; run the script again to collect the rest")
            :format(spec.results, #records, #todo, lost > 0
              and (", %d ended without a result %d times"):format(lost, retries + 1) or ""))
        end
      end
      return records
    end
    M.sleep(1)
  end
end

-- inside an array task: this task's runs, each in its own process, into its own file
function S.task(spec, todo)
  local keys = read_lines(os.getenv("ENGINE_SWEEP_KEYS"))
  local chunk = math.tointeger(tonumber(os.getenv("ENGINE_SWEEP_CHUNK"))) or 1
  local t = math.tointeger(tonumber(os.getenv("SLURM_ARRAY_TASK_ID") or "")) or 0
  local wanted, mine = {}, {}
  for i = t * chunk + 1, math.min(#keys, (t + 1) * chunk) do wanted[keys[i]] = true end
  for _, item in ipairs(todo) do
    if wanted[item.key] then mine[#mine + 1] = item end
  end
  local part = os.getenv("ENGINE_SWEEP_PART")
  os.remove(part)
  E.supervise(spec, mine, 1, part, nil)
  os.exit(0, true)
end
