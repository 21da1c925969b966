-- Data-parallel training of the seed CNN over MPI (engine.dist): the same script runs as one
-- process or as N under mpirun, and gives the same parameters for the same global batch.
--
--   engine scripts/train_dist.lua [steps=50] [batch=64] [dtype=f64] [out=PATH] ...
--   mpirun -np 2 build/engine scripts/train_dist.lua out=np2.h5
--   ... checkpoint=ck.h5 checkpoint_at=25      rank 0 writes a checkpoint after step 25
--   ... resume=ck.h5                           every rank continues from it
local engine = require("engine")
local nn, optim, data, dist = engine.nn, engine.optim, engine.data, engine.dist

local config = {
  steps = 50, batch = 64, dtype = "f64", seed = 1, lr = 0.05, momentum = 0.9,
  out = "", checkpoint = "", checkpoint_at = 25, resume = "", bucket_mb = 4,
  data_dir = "/usr/share/datasets/fashion-mnist",
}
for _, a in ipairs(arg or {}) do
  local key, value = a:match("^([%a_][%w_]*)=(.*)$")
  if not key or config[key] == nil then error(("unknown setting '%s'"):format(a), 0) end
  config[key] = type(config[key]) == "number" and assert(tonumber(value)) or value
end
local rank, size = dist.init()
if rank == 0 then
  print(("config (%d process%s):"):format(size, size > 1 and "es" or ""))
  local keys = {}
  for k in pairs(config) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do print(("  %-13s %s"):format(k, tostring(config[k]))) end
end

-- the seed CNN; every process builds it from the same seed, and rank 0's copy is broadcast
engine.seed(config.seed)
local d = config.dtype
local model = nn.Sequential{
  nn.Conv2d(1, 16, 5, {padding = 2, dtype = d}), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
  nn.Linear(16 * 14 * 14, 128, {dtype = d}), nn.ReLU(), nn.Linear(128, 10, {dtype = d}),
}
local crit = nn.CrossEntropyLoss()
local opt = optim.SGD(model, {lr = config.lr, momentum = config.momentum})
local first = 1
if config.resume ~= "" then
  model:load(config.resume)
  opt:load(config.resume)
  first = engine.load(config.resume, {model = false}).meta.step + 1
else
  dist.broadcast(model)
end

-- the global batches, in file order; each process takes its rows of each
local train = data.fashion_mnist("train", config.data_dir)
local batches = dist.batches(train:batches(config.batch, {dtype = d, scale = 1 / 255}))
local step, loss = 0, nil
local compute, t0 = 0, engine.clock()
dist.stats(true)
for x, y in batches do
  step = step + 1
  if step > config.steps then break end
  if step >= first then
    local s0 = engine.clock()
    opt:zero_grad()
    loss = crit:forward(model:forward(x), y)
    model:backward(crit:backward())
    local s1 = engine.clock()
    dist.allreduce(model, {bucket_mb = config.bucket_mb})
    opt:step()
    compute = compute + (s1 - s0)
    if config.checkpoint ~= "" and step == config.checkpoint_at then
      if rank == 0 then
        engine.save(config.checkpoint, {model = model, optimizer = opt, meta = {step = step}})
      end
      dist.barrier() -- the file is complete before anyone may read it
    end
  end
end
local seconds, stats = engine.clock() - t0, dist.stats()
local steps = config.steps - first + 1
if rank == 0 then
  print(("%d steps of global batch %d over %d process(es), %s: last loss (rank 0's part) %.6f")
    :format(steps, config.batch, size, d, loss))
  print(("%.1f images/s, %.2f ms/step, allreduce %.1f%% of a step, %d bytes sent per step "
         .. "per process in %d bucket(s)"):format(steps * config.batch / seconds,
    1000 * seconds / steps, 100 * stats.allreduce_seconds / seconds,
    stats.allreduce_bytes // math.max(steps, 1), stats.allreduce_calls // math.max(steps, 1)))
  if config.out ~= "" then
    engine.save(config.out, {model = model, optimizer = opt, meta = {step = config.steps}})
  end
end
