-- Imports Fashion-MNIST's IDX .gz files (Debian's dataset-fashion-mnist) into the engine's HDF5
-- dataset layout: /train/x [60000,1,28,28] uint8, /train/y [60000] int64, the same for /test
-- (10000), chunked along N with shuffle + deflate; attributes classes and source.
--
--   engine datasets/fashion_mnist.lua out.h5 [idx_dir] [level=4]
--
-- Each IDX header is checked (magic number, dimensions) and the sizes too: images [N,28,28]
-- and labels [N] of the same N, the split sizes of Fashion-MNIST, labels in 0..9.
local engine = require("engine")
local data = engine.data

local config = {
  out = arg[1],
  dir = arg[2] or "/usr/share/datasets/fashion-mnist",
  level = 4,
}
for _, a in ipairs(arg) do
  local level = a:match("^level=(%d)$")
  if level then config.level = tonumber(level) end
end
if not config.out or config.out:match("^level=") then
  error("usage: engine datasets/fashion_mnist.lua out.h5 [idx_dir] [level=4]", 0)
end
if config.dir:match("^level=") then config.dir = "/usr/share/datasets/fashion-mnist" end

local classes = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot"}
local splits = {train = {prefix = "train", n = 60000}, test = {prefix = "t10k", n = 10000}}

print(("config: out %s, dir %s, deflate level %d"):format(config.out, config.dir, config.level))
local start = engine.clock()
local tables, raw_bytes = {}, 0
-- stderr: a bar with an ETA on a terminal, one line at the end otherwise
local bar = engine.progress.new("import Fashion-MNIST", 70000 * 2, {unit = "images"})
bar:note("reading IDX")
for _, name in ipairs({"train", "test"}) do
  local s = splits[name]
  local images_path = ("%s/%s-images-idx3-ubyte.gz"):format(config.dir, s.prefix)
  local labels_path = ("%s/%s-labels-idx1-ubyte.gz"):format(config.dir, s.prefix)
  local images = data.read_idx(images_path) -- checks the magic number and the payload size
  local labels = data.read_idx(labels_path)
  local shape = images:shape()
  if #shape ~= 3 or shape[2] ~= 28 or shape[3] ~= 28 then
    error(("%s: images [%s], expected [N,28,28]"):format(images_path, table.concat(shape, ",")), 0)
  end
  if labels:dim() ~= 1 or labels:size(1) ~= shape[1] then
    error(("%s: labels [%s] do not match the %d images of %s"):format(labels_path,
      table.concat(labels:shape(), ","), shape[1], images_path), 0)
  end
  if shape[1] ~= s.n then
    error(("%s: %d images, Fashion-MNIST's %s split has %d"):format(images_path, shape[1],
      name, s.n), 0)
  end
  if labels:max() > #classes - 1 then
    error(("%s: label %d, expected 0..%d"):format(labels_path, labels:max(), #classes - 1), 0)
  end
  -- IDX data as stored: the 4 bytes of magic, 4 per dimension, then the payload.
  raw_bytes = raw_bytes + 16 + images:numel() + 8 + labels:numel()
  tables[name] = {x = images:reshape({shape[1], 1, 28, 28}), y = labels:to("i64")}
  bar:clear()
  print(("%s: images %s, labels %s"):format(name, images_path, labels_path))
  bar:step(s.n) -- read; the second half of the count is the HDF5 write
end
bar:note("writing HDF5")
bar:set(70000)

data.write(config.out, tables, {classes = classes, level = config.level,
  source = "Fashion-MNIST (Xiao, Rasul and Vollgraf 2017), IDX files from " .. config.dir})
bar:set(140000)
bar:note("")
bar:done()
local seconds = engine.clock() - start

local f = assert(io.open(config.out, "rb"))
local size = f:seek("end")
f:close()
print(("wrote %s: %d bytes from %d bytes of IDX data (ratio %.2f) in %.2f s"):format(config.out,
  size, raw_bytes, raw_bytes / size, seconds))
