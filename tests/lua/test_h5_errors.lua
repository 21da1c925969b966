-- Bad files never crash the engine: each case runs $ENGINE_BIN on a script (or the Fashion-MNIST
-- importer) and must exit with status 1 and one clear line naming the file and the problem.
local H = dofile((arg[0]:match("(.*/)") or "") .. "helpers.lua")
local engine = require("engine")
local nn = engine.nn

local root = (arg[0]:match("(.*/)") or "./") .. "../../"
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))
local failures = 0

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function write_file(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
end

-- Runs the engine (a script's source, or a command line when args is given) and checks exit
-- status 1, no crash, and every expected fragment in the error's line ("engine: ...").
local function expect_failure(what, source, expected, args)
  local out, code
  if args then
    out, code = H.run(args)
  else
    out, code = H.run_script(source)
  end
  local line = out:match("engine: [^\n]*") or out:match("^[^\n]*") or ""
  local ok, missing = code == 1, {}
  for _, s in ipairs(expected) do
    if not line:find(s, 1, true) then
      ok = false
      missing[#missing + 1] = s
    end
  end
  if ok then
    io.write("  ok   ", what, ": ", line, "\n")
  else
    failures = failures + 1
    io.write(("  FAIL %s: exit %s, missing %s\n-- output:\n%s\n"):format(what, tostring(code),
      table.concat(missing, " | "), out))
  end
end

local function mlp(out, dtype, bias)
  return nn.Sequential{nn.Linear(4, out, {dtype = dtype, bias = bias}), nn.ReLU()}
end
local good = dir .. "/good.h5"
engine.save(good, {model = mlp(3, "f32"), meta = {epoch = 1}})
local bytes = read_file(good)

local load_script = "engine.load(%q)\n"
local model_script = "engine.nn.Sequential{engine.nn.Linear(4, %d, {dtype = %q, bias = %s}), " ..
  "engine.nn.ReLU()}:load(%q)\n"

H.section("checkpoints")
do
  local path = dir .. "/truncated.h5"
  write_file(path, bytes:sub(1, #bytes // 2))
  expect_failure("a truncated checkpoint", load_script:format(path),
    {path, "cannot open the checkpoint: truncated file", "bytes"})
end
do
  local path = dir .. "/format.h5"
  local patched, n = bytes:gsub("engine%-checkpoint", "engine-checkpoinX", 1)
  assert(n == 1, "the format string is in the file")
  write_file(path, patched)
  -- format 2: the header's CRC-32 of the whole file (format 1 kept strings in HDF5's global
  -- heap, which has no checksum: this change went unnoticed)
  expect_failure("a changed byte in the format attribute", load_script:format(path),
    {path, "the checkpoint is corrupt: its bytes have CRC-32"})
end
do
  local path = dir .. "/nobias.h5"
  engine.save(path, {model = mlp(3, "f32", false)})
  expect_failure("a missing dataset", model_script:format(3, "f32", "true", path),
    {path, "missing dataset /model/linear_1/bias"})
end
expect_failure("a wrong shape", model_script:format(2, "f32", "true", good),
  {good, "/model/linear_1/weight has shape [3,4] in the file, but the model's " ..
   "linear_1.weight is [2,4]"})
expect_failure("a wrong dtype", model_script:format(3, "f64", "true", good),
  {good, "/model/linear_1/weight is f32 in the file, but the model's linear_1.weight is f64"})
expect_failure("a directory instead of a file (load)", load_script:format(dir),
  {dir, "cannot open the checkpoint: is a directory"})
expect_failure("a directory instead of a file (save)",
  ("engine.save(%q, {model = engine.nn.Sequential{engine.nn.ReLU()}})\n"):format(dir),
  {dir, "cannot write the checkpoint: is a directory"})
expect_failure("not an HDF5 file", load_script:format(root .. "README.md"),
  {"README.md: not an engine checkpoint: it does not start with the engine's header"})
expect_failure("a missing file", load_script:format(dir .. "/none.h5"),
  {"none.h5: cannot open the checkpoint: No such file or directory"})
expect_failure("an unwritable path (no such directory)",
  ("engine.save(%q, {model = engine.nn.Sequential{engine.nn.ReLU()}})\n")
    :format(dir .. "/no/such/dir/run.h5"),
  {"run.h5: cannot create the checkpoint (writing", "run.h5.tmp): No such file or directory"})
expect_failure("an unwritable path (a file as directory)",
  ("engine.save(%q, {model = engine.nn.Sequential{engine.nn.ReLU()}})\n")
    :format(good .. "/run.h5"),
  {"cannot create the checkpoint", "Not a directory"})
local uid = io.popen("id -u"):read("a"):match("%d+")
if uid ~= "0" then
  local ro = dir .. "/readonly"
  assert(os.execute("mkdir '" .. ro .. "' && chmod 500 '" .. ro .. "'"))
  expect_failure("an unwritable path (no permission)",
    ("engine.save(%q, {model = engine.nn.Sequential{engine.nn.ReLU()}})\n"):format(ro .. "/r.h5"),
    {"cannot create the checkpoint", "Permission denied"})
else
  io.write("  skip an unwritable path (no permission): running as root\n")
end
if os.execute("command -v flock >/dev/null 2>&1") then
  -- flock(1) takes the lock HDF5 takes (flock(2)) on a descriptor of a shell, which then says
  -- so (the file ready) and becomes `sleep` holding it until killed: the engine tries to open
  -- the file only once the lock is held, and the lock lasts however slow the machine is.
  local lock, ready = dir .. "/locked.h5", dir .. "/locked.ready"
  engine.save(lock, {model = mlp(3, "f32")})
  local p = io.popen(("sh -c 'exec 9<\"$1\"; flock -x 9 && : > \"$2\" && exec sleep 600' sh " ..
    "'%s' '%s' >/dev/null 2>&1 & echo $!"):format(lock, ready))
  local pid = p:read("a"):match("%d+")
  p:close()
  local held = false
  for _ = 1, 1200 do -- up to a minute: only a guard against a lock never taken
    local f = io.open(ready)
    if f then
      f:close()
      held = true
      break
    end
    os.execute("sleep 0.05")
  end
  if held then
    expect_failure("a file locked by another process", load_script:format(lock),
      {lock, "the file is locked", "HDF5_USE_FILE_LOCKING=FALSE"})
  end
  os.execute("kill " .. pid)
  assert(held, "flock never took the lock of " .. lock)
end

H.section("datasets")
do
  local path = dir .. "/data.h5"
  engine.data.write(path, {train = {x = engine.zeros({4, 2}, "u8"),
                                   y = engine.tensor({0, 1, 2, 3}, "i64")}})
  expect_failure("a missing split", ("engine.data.open(%q, 'test')\n"):format(path),
    {path, "missing dataset /test/x (the samples)"})
  expect_failure("samples of a wrong dtype",
    ("engine.data.open(%q, {x = '/rng/global', y = '/rng/global'})\n"):format(good),
    {good, "samples /rng/global are uint64, expected uint8, float32 or float64"})
  expect_failure("labels of a wrong shape",
    ("engine.data.open(%q, {x = '/model/linear_1/weight', y = '/rng/global'})\n"):format(good),
    {good, "labels /rng/global [4] do not fit samples /model/linear_1/weight [3,4]"})
  local truncated = dir .. "/data_truncated.h5"
  local b = read_file(path)
  write_file(truncated, b:sub(1, #b - 100))
  expect_failure("a truncated dataset file", ("engine.data.open(%q, 'train')\n"):format(truncated),
    {truncated, "cannot open the dataset file: truncated file"})
end

H.section("IDX import")
do
  local importer = ("'%sdatasets/fashion_mnist.lua'"):format(root)
  -- A labels file: magic 00 00 08 01, N = 4 (big-endian), then 4 labels.
  local labels = "\0\0\8\1\0\0\0\4\0\1\2\3"
  local bad = dir .. "/bad_magic"
  assert(os.execute("mkdir -p '" .. bad .. "'"))
  write_file(bad .. "/train-images-idx3-ubyte.gz", "\0\0\9\3\0\0\0\4" .. ("\0"):rep(64))
  write_file(bad .. "/train-labels-idx1-ubyte.gz", labels)
  expect_failure("an IDX file with a bad magic number", nil,
    {"train-images-idx3-ubyte.gz: bad IDX magic number 00 00 09 03"},
    ("%s '%s/out.h5' '%s'"):format(importer, dir, bad))
  local cut = dir .. "/truncated_gz"
  assert(os.execute("mkdir -p '" .. cut .. "'"))
  -- a real gzip stream of an IDX file, cut in the middle
  local idx = "\0\0\8\3\0\0\0\100\0\0\0\28\0\0\0\28"
  local rows = {}
  for i = 1, 100 * 28 * 28 do rows[i] = string.char((i * 37) % 251) end
  write_file(cut .. "/train-images-idx3-ubyte", idx .. table.concat(rows))
  assert(os.execute(("gzip -9 '%s/train-images-idx3-ubyte'"):format(cut)))
  local gz = read_file(cut .. "/train-images-idx3-ubyte.gz")
  write_file(cut .. "/train-images-idx3-ubyte.gz", gz:sub(1, #gz // 2))
  expect_failure("a truncated .gz", nil,
    {"train-images-idx3-ubyte.gz: truncated: the [100,28,28] needs 78400 bytes"},
    ("%s '%s/out.h5' '%s'"):format(importer, dir, cut))
  -- no half-written output either
  local f = io.open(dir .. "/out.h5", "rb")
  assert(not f, "a failed import leaves no output file")
end

assert(os.execute("rm -rf '" .. dir .. "'"))
if failures > 0 then
  error(failures .. " bad-file case(s) failed")
end
print("test_h5_errors: ok")
