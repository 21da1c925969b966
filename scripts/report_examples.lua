-- Writes one HTML report of each kind into a directory: a training run (run.html), a sweep
-- with diverged and crashed runs (sweep.html) and a gradient check that fails in one layer
-- (gradcheck.html), and expected.txt: what each page must contain, derived from the data that
-- went in (tables and plot paths), for tests/browser_reports.sh.
--
--   build/engine scripts/report_examples.lua out_dir
local engine = require("engine")
local nn, optim, data, gc = engine.nn, engine.optim, engine.data, engine.gradcheck

local config = {dir = arg[1] or "reports", seed = 7}
assert(os.execute("mkdir -p '" .. config.dir .. "'"))
print(("config: dir %s, seed %d"):format(config.dir, config.seed))
engine.progress.verbose(false)
local expected = {}

-- a training run: 4 classes in 8-D, 6 epochs, StepLR, validation
engine.seed(config.seed)
local n = 600
local xs = engine.randn({n, 8})
local labels = {}
for i = 1, n do
  labels[i] = (xs:get(i, 1) + xs:get(i, 2) > 0 and 1 or 0) + (xs:get(i, 3) > 0.3 and 2 or 0)
end
local ys = engine.tensor(labels, "i64")
local train_set = data.dataset(xs:narrow(1, 1, 480), ys:narrow(1, 1, 480))
local val_set = data.dataset(xs:narrow(1, 481, 120), ys:narrow(1, 481, 120))
local model = nn.Sequential{nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4)}
local opt = optim.SGD(model, {lr = 0.1, momentum = 0.9})
local history = engine.train{model = model, criterion = nn.CrossEntropyLoss(), optimizer = opt,
  data = train_set, batch_size = 32, epochs = 6, validate = val_set,
  schedule = optim.StepLR(opt, {step_size = 2, gamma = 0.5}),
  log = config.dir .. "/run_log.h5"}
engine.report.html(config.dir .. "/run.html", config.dir .. "/run_log.h5")
-- loss (3 series: per step, epoch mean, validation), accuracy (2), lr (1), time (1);
-- tables: summary, epochs
expected.run = {tables = 2, series = 3 + 2 + 1 + 1, rows = #history.epochs}

-- a sweep: lr x optimizer on a least-squares problem; large lrs diverge under SGD, and one
-- setting raises an error (a crashed run)
local results = config.dir .. "/sweep_results.h5"
os.remove(results)
local x = engine.randn({64, 6})
local w_true = engine.randn({6, 1})
-- (inline: in this process; the default executor would start each run in a process of its own
-- that runs this script again up to here, training above and removing the results file included)
local records = engine.sweep.run{
  results = results, quiet = true, metric = "loss", goal = "min", executor = "inline",
  grid = {lr = {1e-3, 1e-2, 1e-1, 1, 10}, optimizer = {"sgd", "adam"}},
  run = function(s, log)
    if s.optimizer == "adam" and s.lr == 10 then error("simulated crash: out of memory") end
    engine.seed(1)
    local m = nn.Sequential{nn.Linear(6, 1)}
    local o = optim.new(s.optimizer, m, {lr = s.lr})
    local crit = nn.MSELoss()
    local target = x:narrow(2, 1, 1) * 2 - x:narrow(2, 2, 1)
    local loss
    for step = 1, 40 do
      o:zero_grad()
      loss = crit:forward(m:forward(x), target)
      m:backward(crit:backward())
      o:step()
      log(step, {loss = loss})
    end
    return {loss = loss}
  end,
}
engine.sweep.html(config.dir .. "/sweep.html", records)
local curves = 0
for _, r in ipairs(records) do
  if r.curves and r.curves.loss and #r.curves.loss > 0 then curves = curves + 1 end
end
-- tables: runs; plots: the loss curves (one path per run with a curve); heat map 5 x 2 cells
expected.sweep = {tables = 1, series = curves, cells = 10, rows = #records}

-- a gradient check that fails: a Lua layer whose backward returns 0.8 of the true gradient
local scale = nn.Lua{
  name = "scale_bug",
  params = {a = engine.tensor({1.3}, "f64")},
  forward = function(self, input) return input * self.params.a:get(1) end,
  backward = function(self, input, y, dy)
    local a, da = self.params.a:get(1), (input * dy):sum()
    return dy * a, {a = engine.tensor({0.8 * da}, "f64")} -- the planted bug: 0.8 times
  end,
}
engine.seed(config.seed)
local cnet = nn.Sequential{nn.Linear(5, 6, {dtype = "f64"}), nn.Tanh(), scale,
                           nn.Linear(6, 3, {dtype = "f64"})}
local cx = engine.randn({4, 5}, "f64")
local cy = engine.tensor({0, 2, 1, 2}, "i64")
local report = gc.check(cnet, nn.CrossEntropyLoss(), cx, cy, {samples = 6})
report:html(config.dir .. "/gradcheck.html")
-- tables: facts, tensors, layers, and per tensor its facts and worst elements
local per_tensor = 0
for _, t in ipairs(report.tensors) do per_tensor = per_tensor + 1 + (#t.worst > 0 and 1 or 0) end
-- scatter: one path per tensor with worst elements; V-curves: one per tensor
local with_worst = 0
for _, t in ipairs(report.tensors) do if #t.worst > 0 then with_worst = with_worst + 1 end end
expected.gradcheck = {tables = 3 + per_tensor, series = with_worst + #report.tensors,
                      verdict = report.verdict, failing = "scale_bug"}

local f = assert(io.open(config.dir .. "/expected.txt", "w"))
for _, kind in ipairs({"run", "sweep", "gradcheck"}) do
  local e = expected[kind]
  f:write(("%s tables=%d series=%d rows=%d cells=%d verdict=%s failing=%s\n"):format(kind,
    e.tables, e.series, e.rows or 0, e.cells or 0, e.verdict or "-", e.failing or "-"))
end
f:close()
print(("wrote run.html, sweep.html, gradcheck.html (verdict %s) in %s"):format(report.verdict,
  config.dir))
