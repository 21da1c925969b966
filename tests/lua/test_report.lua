-- HTML reports without a browser (tests/browser_reports.sh loads them in chromium): a run
-- report from engine.train's history and from its run log hold the same epochs table; a
-- sweep report's heat map has one cell per pair of settings; labels are escaped; nothing is
-- fetched; bad arguments give one clear line.
local H = dofile("helpers.lua")
local engine = require("engine")
local nn, optim = engine.nn, engine.optim

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))
local function read(path)
  local f = assert(io.open(path))
  local s = f:read("a")
  f:close()
  return s
end
local function count(s, pattern)
  local n = 0
  for _ in s:gmatch(pattern) do n = n + 1 end
  return n
end

H.section("run report from the history and from the run log")
engine.seed(3)
local x, labels = engine.randn({48, 3}), {}
for i = 1, 48 do labels[i] = x:get(i, 2) > 0 and 1 or 0 end
local model = nn.Sequential{nn.Linear(3, 2)}
local history = engine.train{model = model, criterion = nn.CrossEntropyLoss(),
  optimizer = optim.SGD(model, {lr = 0.5}), batch_size = 16, epochs = 3, verbose = false,
  data = engine.data.dataset(x, engine.tensor(labels, "i64")), log = dir .. "/log.h5"}
engine.report.html(dir .. "/a.html", history)
engine.report.html(dir .. "/b.html", dir .. "/log.h5")
local a, b = read(dir .. "/a.html"), read(dir .. "/b.html")
local function epochs_table(s) return s:match("<h2>Epochs</h2>\n(<table.-</table>)") end
assert(epochs_table(a) and epochs_table(a) == epochs_table(b), "the same epochs either way")
assert(count(epochs_table(a), "<tr>") == 1 + 3)
-- the loss of epoch 2 as printed, against the history
assert(epochs_table(a):find(("<td>%.4g</td>"):format(history.epochs[2].loss), 1, true))
-- loss per step and per epoch (no validation), accuracy, lr, time per epoch
assert(count(a, '<path class="series"') == 2 + 1 + 1 + 1)
assert(not a:find("<script", 1, true) and not a:find("src=", 1, true))
local log = engine.report.read_log(dir .. "/log.h5")
assert(#log.steps.loss == 9 and log.epochs.epoch[3] == 3)

H.section("sweep report: heat map cells, escaping")
local records = {}
for i, lr in ipairs({0.1, 1}) do
  for j, opt in ipairs({"sgd", "<adam>"}) do
    records[#records + 1] = {key = ("lr=%g,optimizer=%s"):format(lr, opt), status =
      (i == 2 and j == 1) and "diverged" or "completed", settings = {lr = lr, optimizer = opt},
      final = (i == 2 and j == 1) and {} or {loss = i + j / 10}, curves = {loss = {3, 2, 1}},
      seconds = 0.5}
  end
end
engine.sweep.html(dir .. "/s.html", records, {metric = "loss"})
local s = read(dir .. "/s.html")
assert(count(s, '<rect class="cell"') == 4)
assert(s:find(">diverged</text>", 1, true))
assert(s:find("&lt;adam&gt;", 1, true) and not s:find("<adam>", 1, true))
assert(s:find(">1.2</text>", 1, true), "the finished run lr=0.1,<adam>: 1 + 2/10")

H.section("plot marks and options through engine.sweep.svg")
local svg = engine.sweep.svg{title = "v", logx = true, logy = "auto",
  series = {{label = "w", x = {1e-6, 1e-4, 1e-2}, y = {1e-3, 1e-8, 1e-4}},
            {label = "b", x = {1e-6, 1e-4, 1e-2}, y = {1e-4, 1e-9, 1e-5}}},
  marks = {{x = 1e-4, label = "chosen step 1.0e-04"}, {x = 1e-5, label = "other"}}}
assert(count(svg, 'stroke%-dasharray="5,4"') == 2, "one dashed line per mark")
assert(svg:find(">chosen step 1.0e-04</text>", 1, true) and svg:find(">other</text>", 1, true))
assert(svg:find(">1e-9</text>", 1, true) or svg:find(">1e-10</text>", 1, true), "log y axis")
H.check_error("logy' must be true, false or \"auto\"", engine.sweep.svg,
              {logy = "yes", series = {}})
H.check_error("marks%[1%] must be a table", engine.sweep.svg,
              {series = {{label = "a", x = {1}, y = {1}}}, marks = {3}})

H.section("errors")
H.check_error("run log", engine.report.html, dir .. "/x.html", dir .. "/missing.h5")
H.check_error("run_log must be a run log's path or engine.train's history",
              engine.report.html, dir .. "/x.html", 42)
H.check_error("s.html: cannot open the run log: not an HDF5 file", engine.report.html,
              dir .. "/x.html", dir .. "/s.html")
engine.save(dir .. "/ck.h5", {model = model})
H.check_error("ck.h5: not a run log: 'format' is 'engine%-checkpoint'", engine.report.html,
              dir .. "/x.html", dir .. "/ck.h5")
H.check_error("results must be a results file's path or sweep.run's records", engine.sweep.html,
              dir .. "/x.html", {})
H.check_error("expected a gradient%-check report", engine.gradcheck.check(
  nn.Sequential{nn.Linear(2, 2, {dtype = "f64"})}, nn.MSELoss(), engine.randn({3, 2}, "f64"),
  engine.randn({3, 2}, "f64"), {samples = 2}).html, {}, dir .. "/x.html")
os.execute("rm -rf '" .. dir .. "'")
print("ok")
