-- engine.dist as one process (started without mpirun, in any build): rank 0 of 1, the
-- broadcast and the allreduce leave every value as it is, the sampler gives the whole global
-- batch, bad arguments are refused. The multi-process cases run under mpirun in
-- tests/cluster/run_cluster_tests.sh.
local H = dofile("helpers.lua")
local engine = require("engine")
local dist, nn = engine.dist, engine.nn

local rank, size = dist.init()
assert(rank == 0 and size == 1 and dist.rank() == 0 and dist.size() == 1 and dist.is_root())
assert(type(dist.compiled()) == "boolean")

engine.seed(3)
local model = nn.Sequential{nn.Linear(3, 2, {dtype = "f64"})}
local x = engine.randn({4, 3}, "f64")
local crit = nn.MSELoss()
crit:forward(model:forward(x), engine.zeros({4, 2}, "f64"))
model:backward(crit:backward())
local params = model:parameters()
local before_w, before_g = params[1].value:clone(), params[1].grad:clone()
dist.broadcast(model)
dist.allreduce(model, {bucket_mb = 1})
dist.barrier()
assert((params[1].value - before_w):abs():max() == 0, "broadcast changed the weights")
assert((params[1].grad - before_g):abs():max() == 0, "allreduce changed the gradients")
local st = dist.stats(true)
assert(st.allreduce_calls == 0 and st.allreduce_bytes == 0, "no traffic in one process")

-- the sampler: all rows of each global batch
local n = 0
local function three_batches(_, i)
  if i == 3 then return nil end
  return i + 1, engine.zeros({6, 2})
end
for i, b in dist.batches(three_batches, nil, 0) do
  n = n + 1
  assert(i == n and b:size(1) == 6)
end
assert(n == 3)
assert(dist.shard(x) == x)

H.check_error("tensor 1 is i64", dist.allreduce, {engine.zeros({2}, "i64")})
H.check_error("bucket_mb must be in", dist.allreduce, model, {bucket_mb = 0})
H.check_error("root 1 is not a rank of 0..0", dist.broadcast, model, 1)
print("test_dist.lua: ok")
