-- engine.dist's sampler (compiled into the host after bindings/l_dist.c): every process sees
-- the same global batches (the same data, the same shuffling seed) and takes its contiguous
-- part of each, rank r of P getting rows r*B/P+1 .. (r+1)*B/P of a global batch of B rows.
--
--   for x, y in dist.batches(train:batches(64, {shuffle = true})) do ... end
local M = ...

-- this process's rows of a global batch x (dim 1); its size must divide by the process count
function M.shard(x)
  local rank, size = M.init()
  local n = x:size(1)
  if n % size ~= 0 then
    error(("dist.shard: a global batch of %d rows does not split over %d processes (make it a "
           .. "multiple)"):format(n, size), 2)
  end
  if size == 1 then return x end
  local part = n // size
  return x:narrow(1, rank * part + 1, part)
end

-- wraps a generic-for iterator of global batches (x, y, ...) into one of this process's parts
function M.batches(f, s, c)
  return function()
    local batch = table.pack(f(s, c))
    c = batch[1]
    if c == nil then return nil end
    for i = 1, batch.n do
      if type(batch[i]) == "userdata" then batch[i] = M.shard(batch[i]) end
    end
    return table.unpack(batch, 1, batch.n)
  end
end

function M.is_root() return M.rank() == 0 end
