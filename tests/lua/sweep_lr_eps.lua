-- The 6-run lr x eps sweep of the isolation and cluster tests (tests/lua/test_sweep_isolation.lua,
-- tests/cluster/): Adam on a small least-squares problem whose data and initial weights come
-- from the run's derived seed. lr = 1e200 diverges (the loss overflows to inf); the run
-- lr = 0.1, eps = 1e-4 puts the "segv" test plugin's layer in the model and crashes with
-- SIGSEGV.
--   engine sweep_lr_eps.lua results=PATH [executor=local] [workers=1] [plugin_dir=DIR]
--                           [kill_parent_at=KEY] [wait=1] [chunk=1]
local engine = require("engine")
local nn, optim = engine.nn, engine.optim

local config = {results = "sweep_lr_eps.h5", executor = "local", workers = 1,
                plugin_dir = os.getenv("PLUGIN_DIR") or "build/tests/plugins",
                kill_parent_at = "", wait = 1, chunk = 1}
for _, a in ipairs(arg) do
  local key, value = a:match("^([%a_][%w_]*)=(.*)$")
  if not key or config[key] == nil then error(("unknown setting '%s'"):format(a), 0) end
  config[key] = type(config[key]) == "number" and assert(math.tointeger(tonumber(value))) or value
end

local function parent_pid()
  local f = assert(io.open("/proc/self/stat"))
  local stat = f:read("a")
  f:close()
  return stat:match("^%d+ %b() %S+ (%d+)")
end

return engine.sweep.run{
  results = config.results, executor = config.executor, workers = config.workers,
  wait = config.wait == 1, chunk = config.chunk, seed = 17, time_limit = 120,
  grid = {lr = {1e-3, 0.1, 1e200}, eps = {1e-8, 1e-4}},
  metric = "loss", goal = "min", quiet = os.getenv("SWEEP_QUIET") ~= nil,
  run = function(s, log)
    if engine.sweep.key(s) == config.kill_parent_at then
      os.execute("kill -9 " .. parent_pid()) -- the sweep is killed while this run is going
      engine.sweep.sleep(5)
    end
    local x = engine.randn({32, 6}, "f64")
    local y = engine.randn({32, 2}, "f64")
    local layers = {nn.Linear(6, 8, {dtype = "f64"}), nn.Tanh(), nn.Linear(8, 2, {dtype = "f64"})}
    if s.lr == 0.1 and s.eps == 1e-4 then
      engine.plugin.load(config.plugin_dir .. "/libplugin_segv.so")
      table.insert(layers, 2, nn.new("segv", {}))
    end
    local model, crit = nn.Sequential(layers), nn.MSELoss()
    local opt = optim.Adam(model, {lr = s.lr, eps = s.eps})
    local loss
    for step = 1, 40 do
      opt:zero_grad()
      loss = crit:forward(model:forward(x), y)
      log(step, {loss = loss})
      model:backward(crit:backward())
      opt:step()
    end
    return {loss = loss}
  end,
}
