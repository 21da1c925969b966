-- engine.data: datasets from tensors, batches (coverage, shuffling, last partial batch,
-- normalisation) and Fashion-MNIST from the Debian package.
local H = dofile((arg[0]:match("(.*/)") or "") .. "helpers.lua")
local engine = require("engine")
local data = engine.data
local check_error, check_tensor, shape_is, near = H.check_error, H.check_tensor, H.shape_is,
  H.near

-- x [10,2] with x[i] = (i, 10 i) and y[i] = i - 1, so a batch's x tells which samples it has.
local N = 10
local xs, ys = {}, {}
for i = 1, N do
  xs[i] = {i, 10 * i}
  ys[i] = i - 1
end
local ds = data.dataset(engine.tensor(xs), engine.tensor(ys, "i64"))

-- Runs the loop and returns the sample order (1-based) and the batch sizes.
local function collect(d, size, opts)
  local order, sizes = {}, {}
  for x, y in d:batches(size, opts) do
    assert(x:dtype() == ((opts or {}).dtype or "f32") and y:dtype() == "i64")
    sizes[#sizes + 1] = x:size(1)
    assert(y:size(1) == x:size(1))
    for b = 1, x:size(1) do
      order[#order + 1] = y:get(b) + 1
      if not (opts and opts.scale) then
        assert(x:get(b, 1) == y:get(b) + 1 and x:get(b, 2) == 10 * (y:get(b) + 1),
          "x and y stay paired")
      end
    end
  end
  return order, sizes
end

H.section("size, shape, tostring")
assert(ds:size() == N and #ds == N)
assert(#ds:shape() == 1 and ds:shape()[1] == 2)
assert(tostring(ds) == "Dataset(10 samples of [2] f32)")

H.section("batches cover every sample once, in order without shuffle")
do
  local order, sizes = collect(ds, 4)
  assert(table.concat(sizes, ",") == "4,4,2", "last partial batch")
  assert(table.concat(order, ",") == "1,2,3,4,5,6,7,8,9,10")
  local _, dropped = collect(ds, 4, {drop_last = true})
  assert(table.concat(dropped, ",") == "4,4", "drop_last")
  local _, one = collect(ds, 64)
  assert(table.concat(one, ",") == "10", "a batch larger than the dataset")
end

H.section("shuffle: a permutation, not the identity, repeatable with a seed")
do
  engine.seed(7)
  local order, sizes = collect(ds, 3, {shuffle = true})
  assert(table.concat(sizes, ",") == "3,3,3,1")
  local seen = {}
  for _, k in ipairs(order) do
    assert(not seen[k], "sample " .. k .. " twice")
    seen[k] = true
  end
  for k = 1, N do assert(seen[k], "sample " .. k .. " missing") end
  assert(table.concat(order, ",") ~= "1,2,3,4,5,6,7,8,9,10", "shuffled order is the identity")
  engine.seed(7)
  local again = collect(ds, 3, {shuffle = true})
  assert(table.concat(again, ",") == table.concat(order, ","), "same seed, same order")
  local other = collect(ds, 3, {shuffle = true})
  assert(table.concat(other, ",") ~= table.concat(order, ","), "the next epoch differs")
end

H.section("dtype and normalisation (x * scale - mean) / std")
do
  local it = ds:batches(2, {dtype = "f64", scale = 2, mean = 1, std = 4})
  local x, y = it()
  assert(x:dtype() == "f64")
  shape_is(x, {2, 2})
  check_tensor(y, {0, 1})
  -- (2*1 - 1)/4, (2*10 - 1)/4; (2*2 - 1)/4, (2*20 - 1)/4
  check_tensor(x, {{0.25, 4.75}, {0.75, 9.75}}, 1e-12)
  -- u8 samples are scaled by 1/255 unless told otherwise
  local img = data.dataset(engine.tensor({{0, 255}, {51, 102}}, "u8"), engine.tensor({3, 4}, "i64"))
  local bx = img:batches(2)()
  check_tensor(bx, {{0, 1}, {0.2, 0.4}}, 1e-6)
  check_tensor(img:batches(2, {scale = 1})(), {{0, 255}, {51, 102}}, 0)
end

H.section("errors")
do
  check_error("dataset: samples [10,2] and labels [9], expected [N,...] and [N]", data.dataset,
    engine.zeros({10, 2}), engine.zeros({9}, "i64"))
  check_error("dataset: labels have dtype f32, expected i64", data.dataset, engine.zeros({2, 2}),
    engine.zeros({2}))
  check_error("batch size must be >= 1", ds.batches, ds, 0)
  check_error("batches: unknown option 'shufle'", ds.batches, ds, 2, {shufle = true})
  check_error("batches: dtype i32 (f32 or f64 expected)", ds.batches, ds, 2, {dtype = "i32"})
  check_error("batches: std = 0, expected std > 0", ds.batches, ds, 2, {std = 0})
  check_error("mnist: split 'valid' (expected 'train' or 'test')", data.fashion_mnist, "valid")
  check_error("/nonexistent/t10k-images-idx3-ubyte.gz", data.fashion_mnist, "test", "/nonexistent")
end

H.section("fashion_mnist")
do
  local dir = "/usr/share/datasets/fashion-mnist"
  local f = io.open(dir .. "/t10k-labels-idx1-ubyte.gz", "rb")
  if not f then
    print("  skipped: " .. dir .. " is not installed")
  else
    f:close()
    local test = data.fashion_mnist("test")
    assert(test:size() == 10000)
    local s = test:shape()
    assert(#s == 3 and s[1] == 1 and s[2] == 28 and s[3] == 28)
    -- read independently with Python's gzip: labels 9, 2, 1, 1, 6; image 0's pixels sum to
    -- 33456; every class has 1000 test images
    local x, y = test:batches(5, {scale = 1})()
    check_tensor(y, {9, 2, 1, 1, 6}, 0)
    near(x:select(1, 1):sum(), 33456, 0, "pixel sum of image 0")
    local counts = {}
    for _, by in test:batches(1000) do
      for i = 1, by:size(1) do counts[by:get(i)] = (counts[by:get(i)] or 0) + 1 end
    end
    for k = 0, 9 do assert(counts[k] == 1000, "class " .. k) end
  end
end

H.section("reuse: every full batch comes in the same two tensors")
do
  local seen_x, seen_y, sizes, order = {}, {}, {}, {}
  for x, y in ds:batches(4, {reuse = true}) do
    seen_x[#seen_x + 1], seen_y[#seen_y + 1], sizes[#sizes + 1] = x, y, x:size(1)
    for b = 1, x:size(1) do
      order[#order + 1] = y:get(b) + 1
      assert(x:get(b, 1) == y:get(b) + 1, "x and y stay paired")
    end
  end
  assert(#sizes == 3 and sizes[1] == 4 and sizes[2] == 4 and sizes[3] == 2)
  for i = 1, N do assert(order[i] == i) end
  assert(rawequal(seen_x[1], seen_x[2]) and rawequal(seen_y[1], seen_y[2]), "reused")
  assert(not rawequal(seen_x[2], seen_x[3]), "the short last batch needs its own tensors")
  -- the tensors hold the last batch of their size: samples 5..8
  check_tensor(seen_y[1], {4, 5, 6, 7}, 0)
  local a, b = {}, {}
  for x in ds:batches(4) do a[#a + 1] = x end
  assert(not rawequal(a[1], a[2]), "without reuse every batch is new")
  check_error("option 'reuse' must be a boolean", ds.batches, ds, 4, {reuse = 1})
end

print("test_data: ok")
