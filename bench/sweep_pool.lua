-- The local pool's benchmark (bench/cluster_bench.sh): a 12-run lr x eps sweep of Adam on a
-- small MLP, each run in its own process, with `workers` processes at a time.
--   engine bench/sweep_pool.lua results=PATH workers=N
local engine = require("engine")
local nn, optim = engine.nn, engine.optim
local config = {results = "sweep_pool.h5", workers = 1, steps = 300}
for _, a in ipairs(arg) do
  local key, value = a:match("^([%a_][%w_]*)=(.*)$")
  if not key or config[key] == nil then error(("unknown setting '%s'"):format(a), 0) end
  config[key] = type(config[key]) == "number" and assert(math.tointeger(tonumber(value))) or value
end
local t0 = engine.clock()
local records = engine.sweep.run{
  results = config.results, workers = config.workers, seed = 5, quiet = true,
  grid = {lr = {1e-4, 1e-3, 1e-2, 1e-1}, eps = {1e-8, 1e-6, 1e-4}},
  metric = "loss", goal = "min",
  run = function(s, log)
    local x, y = engine.randn({256, 32}, "f64"), engine.randn({256, 4}, "f64")
    local model = nn.Sequential{nn.Linear(32, 64, {dtype = "f64"}), nn.Tanh(),
                                nn.Linear(64, 4, {dtype = "f64"})}
    local crit, opt = nn.MSELoss(), optim.Adam(model, {lr = s.lr, eps = s.eps})
    local loss
    for step = 1, config.steps do
      opt:zero_grad()
      loss = crit:forward(model:forward(x), y)
      model:backward(crit:backward())
      opt:step()
    end
    return {loss = loss}
  end,
}
if not engine.sweep.in_run() then
  print(("12-run sweep, %d worker(s): %.2f s wall, %d runs recorded (f64)"):format(
    config.workers, engine.clock() - t0, #records))
end
