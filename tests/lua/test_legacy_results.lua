-- Sweep results files written before results format 2 still read (issue #17): the fixtures in
-- tests/fixtures/legacy_results were written by engines built from older commits (make.sh:
-- 1b0e256 wrote variable-length strings and no engine header, 133b663 fixed-length strings and
-- the header), both by write_sweep.lua, whose run values follow from the settings. Every value
-- is checked here against those formulas, computed again by hand; then the files' corruptions
-- must give one clear line.
local H = dofile((arg[0]:match("(.*/)") or "") .. "helpers.lua")
local sweep = engine.sweep
local here = arg[0]:match("(.*/)") or ""
local fixtures = here .. "../fixtures/legacy_results/"

local function read_all(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function write_all(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir))

-- the runs write_sweep.lua made: keys as that engine wrote them (%.6g)
local function expected_runs()
  local out, index = {}, 0
  for _, eps in ipairs({1e-8, 1e-6}) do
    for _, lr in ipairs({0.001, 0.01, 0.1}) do
      index = index + 1
      local key = ("eps=%s,lr=%s"):format(eps == 1e-8 and "1e-08" or "1e-06", tostring(lr))
      local r = {key = key, index = index, lr = lr, eps = eps}
      if lr == 0.1 and eps == 1e-6 then
        r.status = "error"
      elseif lr == 0.1 then
        r.status = "diverged"
      else
        r.status, r.final = "completed", lr / 4 + eps
      end
      out[#out + 1] = r
    end
  end
  return out
end

local function check_runs(runs, keys, what)
  local want = expected_runs()
  assert(#keys == #want, ("%s: %d runs, expected %d"):format(what, #keys, #want))
  for i, w in ipairs(want) do
    local r = runs[w.key]
    assert(r, ("%s: no run '%s' (keys: %s)"):format(what, w.key, table.concat(keys, " ")))
    assert(keys[i] == w.key, ("%s: run %d is '%s', expected '%s'"):format(what, i, keys[i], w.key))
    assert(r.status == w.status, ("%s %s: status %s"):format(what, w.key, tostring(r.status)))
    assert(r.index == w.index and r.settings.lr == w.lr and r.settings.eps == w.eps,
      what .. " " .. w.key .. ": settings")
    if w.status == "error" then
      assert(r.message:find("planned failure at lr 0.1", 1, true), r.message)
    else
      for step = 1, 3 do
        assert(r.curves.loss[step] == w.lr / step + w.eps,
          ("%s %s: curve step %d is %.17g"):format(what, w.key, step, r.curves.loss[step]))
      end
    end
    if w.final then
      assert(r.final.loss == w.final and r.final.steps == 3 and r.best.loss == w.final,
        ("%s %s: final loss %.17g, expected %.17g"):format(what, w.key, r.final.loss, w.final))
    end
    if w.status == "diverged" then assert(r.final.loss ~= r.final.loss, what .. ": NaN kept") end
  end
end

for _, case in ipairs({{"v1_1b0e256.h5", false}, {"v1_133b663.h5", true}}) do
  local name, crc = case[1], case[2]
  H.section("a format 1 results file reads: " .. name)
  local runs, keys, file = sweep.read(fixtures .. name)
  assert(file.version == 1 and file.checksummed == false and file.file_crc == crc,
    ("%s: version %s checksummed %s file_crc %s"):format(name, file.version,
      tostring(file.checksummed), tostring(file.file_crc)))
  assert(file.warning:find("format 1", 1, true) and file.warning:find("no checksums", 1, true),
    file.warning)
  check_runs(runs, keys, name)

  H.section("appending to it rewrites it in format 2 with every old run: " .. name)
  local copy = dir .. "/" .. name
  write_all(copy, read_all(fixtures .. name))
  sweep.append(copy, "lr=1", {status = "completed", final = {loss = 0.5}})
  local runs2, keys2, file2 = sweep.read(copy)
  assert(file2.version == 2 and file2.checksummed and file2.file_crc and not file2.warning)
  assert(#keys2 == 7 and keys2[7] == "lr=1" and runs2["lr=1"].final.loss == 0.5)
  runs2["lr=1"], keys2[7] = nil, nil
  check_runs(runs2, keys2, name .. " rewritten")
end

H.section("appending an existing key to a format 1 file is refused")
do
  local copy = dir .. "/dup.h5"
  write_all(copy, read_all(fixtures .. "v1_1b0e256.h5"))
  H.check_error("a run 'eps=1e-08,lr=0.001' is already recorded", sweep.append, copy,
    "eps=1e-08,lr=0.001", {status = "completed"})
  local _, _, file = sweep.read(copy)
  assert(file.version == 1, "the refused append left the file as it was")
end

H.section("a sweep resumed on a format 1 file says so in its result")
do
  local copy = dir .. "/resume.h5"
  write_all(copy, read_all(fixtures .. "v1_133b663.h5"))
  local records = sweep.run{results = copy, quiet = true, executor = "inline", metric = "loss",
                            grid = {lr = {0.5}}, run = function(s) return {loss = s.lr} end}
  assert(records.resumed_from and records.resumed_from.version == 1 and
         records.resumed_from.checksummed == false)
  assert(#records == 1 and records[1].final.loss == 0.5)
  local _, keys, file = sweep.read(copy)
  assert(file.version == 2 and #keys == 7)
end

os.execute("rm -rf " .. dir)
print("legacy results: both format 1 fixtures read back every value; appends rewrite them")
