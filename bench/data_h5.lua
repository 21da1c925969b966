-- Benchmark: reading one epoch of Fashion-MNIST's training split (60000 images) from the HDF5
-- dataset file, in memory and streamed, as batches of 64 normalised to f32 with shuffling.
--   engine bench/data_h5.lua fashion-mnist.h5 [mode=memory|stream|idx] [memory_limit_mib=64]
-- Prints one line "data <mode> open_s=<t> epoch_s=<t> total_s=<t> images_per_s=<x>
-- peak_rss_mib=<m>" (the process's peak resident memory, from /proc). Mode idx reads the IDX
-- .gz files instead (data.fashion_mnist), for comparison.
local engine = require("engine")
local data = engine.data

local config = {
  path = arg[1],
  mode = arg[2] or "memory",
  memory_limit_mib = tonumber(arg[3]) or 64,
  batch = 64,
  seed = 1,
}
assert(config.path, "usage: engine bench/data_h5.lua fashion-mnist.h5 [mode] [memory_limit_mib]")
engine.seed(config.seed)

local start = engine.clock()
local train
if config.mode == "idx" then
  train = data.fashion_mnist("train")
else
  train = data.open(config.path, "train", {mode = config.mode,
    memory_limit = config.memory_limit_mib * 1024 * 1024})
end
local opened = engine.clock()
local n = 0
for x in train:batches(config.batch, {shuffle = true, mean = 0.2860, std = 0.3530}) do
  n = n + x:size(1)
end
local done = engine.clock()
assert(n == 60000, "one epoch is 60000 images")
local status = io.open("/proc/self/status")
local peak = status and tonumber(status:read("a"):match("VmHWM:%s*(%d+)")) or 0
if status then status:close() end
print(("data %s open_s=%.3f epoch_s=%.3f total_s=%.3f images_per_s=%.0f peak_rss_mib=%.1f")
  :format(config.mode, opened - start, done - opened, done - start, n / (done - start),
    peak / 1024))
