-- engine.data.open / write / read_idx: HDF5 datasets in memory and streamed (same samples,
-- same batch options), the memory bound, a user's own dataset paths, and the Fashion-MNIST
-- importer on the Debian package's files (skipped when they are not installed).
local H = dofile((arg[0]:match("(.*/)") or "") .. "helpers.lua")
local engine = require("engine")
local data = engine.data
local check_error, near = H.check_error, H.near

local root = (arg[0]:match("(.*/)") or "./") .. "../../"
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))

-- x [N,1,2,3] u8 with x[i] = i % 200 + k, y[i] = i - 1: a batch row tells its sample.
local N = 500
local xs, ys = {}, {}
for i = 1, N do
  local img = {}
  for r = 1, 2 do
    img[r] = {}
    for c = 1, 3 do img[r][c] = (i % 200) + (r - 1) * 3 + c end
  end
  xs[i] = {img}
  ys[i] = i - 1
end
local path = dir .. "/numbered.h5"
data.write(path, {train = {x = engine.tensor(xs, "u8"), y = engine.tensor(ys, "i64")},
                  test = {x = engine.tensor({xs[1], xs[2]}, "u8"),
                          y = engine.tensor({0, 1}, "i64")}},
  {classes = {"a", "b"}, source = "test_h5data", chunk_rows = 32})

-- One epoch: per-sample counts, checking each row against its label; and the batch sizes.
local function epoch(ds, size, opts)
  local counts, sizes, order = {}, {}, {}
  for x, y in ds:batches(size, opts) do
    sizes[#sizes + 1] = x:size(1)
    for b = 1, y:size(1) do
      local i = y:get(b) + 1
      counts[i] = (counts[i] or 0) + 1
      order[#order + 1] = i
      local expected = ((i % 200) + 1) * ((opts and opts.scale) or 1 / 255)
      near(x:get(b, 1, 1, 1), expected, 1e-6, "sample " .. i)
    end
  end
  for i = 1, N do
    local got = counts[i] or 0
    assert(got == 1 or (got == 0 and opts and opts.drop_last),
      "sample " .. i .. " came " .. got .. " times")
  end
  return sizes, order
end

H.section("in memory and streamed give the same samples")
do
  local mem = data.open(path, "train")
  assert(tostring(mem) == "Dataset(500 samples of [1,2,3] u8)", tostring(mem))
  local stream = data.open(path, "train", {mode = "stream", memory_limit = 4 * 32 * 14})
  assert(tostring(stream):match("^StreamDataset%(500 samples of %[1,2,3%] u8, chunks of 32"),
    tostring(stream))
  assert(stream:size() == N and #stream == N and stream:shape()[3] == 3)
  local sizes = epoch(mem, 64)
  assert(table.concat(sizes, ",") == "64,64,64,64,64,64,64,52")
  sizes = epoch(stream, 64)
  assert(table.concat(sizes, ",") == "64,64,64,64,64,64,64,52")
  local _, in_order = epoch(stream, 100)
  for i = 1, N do assert(in_order[i] == i, "unshuffled stream is in order") end
  local _, shuffled = epoch(stream, 100, {shuffle = true})
  local same = 0
  for i = 1, N do same = same + (shuffled[i] == i and 1 or 0) end
  assert(same < 50, "the shuffled stream is shuffled")
  sizes = epoch(stream, 64, {drop_last = true, scale = 2, dtype = "f64"})
  assert(#sizes == 7)
  for x in stream:batches(8, {dtype = "f64", scale = 1, mean = 1, std = 2}) do
    assert(x:dtype() == "f64")
    near(x:get(1, 1, 1, 1), ((1 % 200 + 1) - 1) / 2, 1e-12, "normalised")
    break
  end
  -- the stream takes the in-memory dataset's options, reuse included: every full batch in
  -- the same two tensors; non-finite normalisation refused for both kinds
  local seen_x, seen_y = {}, {}
  for x, y in stream:batches(100, {reuse = true, shuffle = true}) do
    seen_x[#seen_x + 1], seen_y[#seen_y + 1] = x, y
  end
  assert(rawequal(seen_x[1], seen_x[2]) and rawequal(seen_y[1], seen_y[2]), "stream reuses")
  check_error("expected a finite number", stream.batches, stream, 4, {mean = 0 / 0})
  check_error("batches: scale = inf", mem.batches, mem, 4, {scale = math.huge})
  -- auto mode streams when the split is larger than the bound
  local auto = data.open(path, "train", {memory_limit = 4000})
  assert(tostring(auto):match("^StreamDataset"), "auto streams above memory_limit")
  assert(tostring(data.open(path, "test")) == "Dataset(2 samples of [1,2,3] u8)")
  check_error("memory_limit 100 bytes is less than one chunk of /train/x",
    function() stream = data.open(path, "train", {mode = "stream", memory_limit = 100})
      for _ in stream:batches(4, {shuffle = true}) do end end)
  check_error("open: give a split", function() data.open(path) end)
  check_error("open: unknown option 'bogus'", function() data.open(path, "train", {bogus = 1}) end)
  check_error("mode 'fast'", function() data.open(path, "train", {mode = "fast"}) end)
end

H.section("a user's own file: the script names the datasets")
do
  -- a checkpoint is an HDF5 file too: its rng state [4] as labels of a [4,...] tensor
  local x = engine.tensor({{1, 2}, {3, 4}, {5, 6}, {7, 8}})
  local own = dir .. "/own.h5"
  data.write(own, {features = {x = x, y = engine.tensor({3, 2, 1, 0}, "i32")}})
  local ds = data.open(own, {x = "/features/x", y = "/features/y"})
  local got = {}
  for bx, by in ds:batches(4) do
    for b = 1, 4 do got[#got + 1] = ("%g:%d"):format(bx:get(b, 2), by:get(b)) end
  end
  assert(table.concat(got, " ") == "2:3 4:2 6:1 8:0", table.concat(got, " "))
end

H.section("data.read_idx and the Fashion-MNIST importer")
local idx_dir = "/usr/share/datasets/fashion-mnist"
local f = io.open(idx_dir .. "/t10k-labels-idx1-ubyte.gz", "rb")
if not f then
  io.write("  skip: dataset-fashion-mnist is not installed (", idx_dir, ")\n")
else
  f:close()
  local labels = data.read_idx(idx_dir .. "/t10k-labels-idx1-ubyte.gz")
  assert(labels:dtype() == "u8" and labels:size(1) == 10000)
  local out_path = dir .. "/fashion-mnist.h5"
  local out, code = H.run(("'%sdatasets/fashion_mnist.lua' '%s'"):format(root, out_path))
  assert(code == 0, out)
  assert(out:match("ratio %d"), out)
  -- off a tty the progress display writes one plain line when the import ends, no \r
  assert(out:match("import Fashion%-MNIST: 140000/140000 images in %d+:%d%d"), out)
  assert(not out:find("\r", 1, true), out)
  local test = data.open(out_path, "test")
  local reference = data.fashion_mnist("test")
  assert(test:size() == 10000 and test:shape()[1] == 1 and test:shape()[2] == 28)
  local a = test:batches(10000)()
  local b = reference:batches(10000)()
  assert(a:sum() == b:sum(), "the imported test images are the IDX file's")
  local train = data.open(out_path, "train", {mode = "stream", memory_limit = 16 << 20})
  assert(train:size() == 60000)
  local n = 0
  for x, y in train:batches(1000, {shuffle = true}) do
    n = n + x:size(1)
    assert(y:max() <= 9)
  end
  assert(n == 60000)
end

assert(os.execute("rm -rf '" .. dir .. "'"))
print("test_h5data: ok")
