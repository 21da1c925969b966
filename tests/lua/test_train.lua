-- engine.train: history and metrics against the hand-written loop, the run log (HDF5, read back
-- by h5py) and CSV, a run resumed from a checkpoint (with a schedule) equal to an uninterrupted
-- one, one plain line per epoch off a tty, and bad settings.
local H = dofile("helpers.lua")
local engine = require("engine")
local nn, optim, data = engine.nn, engine.optim, engine.data

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))

-- 200 points in 5-D, labelled by the sign pattern of two fixed directions (4 classes)
engine.seed(5)
local xs = engine.randn({200, 5})
local labels = {}
for i = 1, 200 do
  local a = xs:get(i, 1) + 0.5 * xs:get(i, 2) > 0 and 1 or 0
  local b = xs:get(i, 3) - xs:get(i, 4) > 0 and 2 or 0
  labels[i] = a + b
end
local ys = engine.tensor(labels, "i64")
local train_set = data.dataset(xs:narrow(1, 1, 160), ys:narrow(1, 1, 160))
local test_set = data.dataset(xs:narrow(1, 161, 40), ys:narrow(1, 161, 40))

local function make()
  engine.seed(9)
  local model = nn.Sequential{nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 4)}
  local opt = optim.SGD(model, {lr = 0.2, momentum = 0.9})
  local sched = optim.StepLR(opt, {step_size = 2, gamma = 0.5})
  return model, opt, sched
end

local function params(model)
  local out = {}
  for _, p in ipairs(model:parameters()) do
    for _, row in ipairs(p.value:totable()) do
      if type(row) == "table" then
        for _, v in ipairs(row) do out[#out + 1] = v end
      else
        out[#out + 1] = row
      end
    end
  end
  return out
end

H.section("history, log and CSV of a 4-epoch run")
local model, opt, sched = make()
local log, csv = dir .. "/run.h5", dir .. "/run.csv"
local history = engine.train{model = model, criterion = nn.CrossEntropyLoss(), optimizer = opt,
  data = train_set, batch_size = 32, epochs = 4, validate = test_set, schedule = sched,
  log = log, csv = csv, verbose = false}
assert(#history.epochs == 4 and #history.steps.loss == 4 * 5, #history.steps.loss)
local e1, e4 = history.epochs[1], history.epochs[4]
assert(e4.loss < e1.loss, ("loss went from %g to %g"):format(e1.loss, e4.loss))
assert(e4.accuracy > 0.6 and e4.accuracy <= 1, e4.accuracy)
assert(e4.val_accuracy >= 0 and e4.val_accuracy <= 1 and e4.val_loss > 0)
-- the lr used in each epoch follows StepLR(2, 0.5) per epoch: 0.2, 0.2, 0.1, 0.1
local want = {0.2, 0.2, 0.1, 0.1}
for e = 1, 4 do H.near(history.epochs[e].lr, want[e], 1e-12, "lr of epoch " .. e) end
H.near(history.steps.lr[11], 0.1, 1e-12, "lr of step 11 (epoch 3)")
-- the epoch's loss is the mean of its steps' losses weighted by batch size (all 32 here)
local sum = 0
for i = 1, 5 do sum = sum + history.steps.loss[i] end
H.near(e1.loss, sum / 5, 1e-12, "epoch 1 loss")
-- validation against a second computation by hand on the final model
model:eval()
local out = model:forward(xs:narrow(1, 161, 40))
local crit = nn.CrossEntropyLoss()
H.near(e4.val_loss, crit:forward(out, ys:narrow(1, 161, 40)), 1e-6, "val_loss")
local predicted, correct = out:argmax(2), 0
for i = 1, 40 do
  if predicted:get(i) - 1 == labels[160 + i] then correct = correct + 1 end
end
H.near(e4.val_accuracy, correct / 40, 1e-12, "val_accuracy")
model:train()
-- h5py reads the run log with no engine code
local py = ([[/usr/bin/python3 -c "
import h5py
f = h5py.File('%s', 'r')
assert f.attrs['format'] == b'engine-runlog', f.attrs['format']  # fixed-length: bytes
e = f['log/epochs'].attrs
s = f['log/steps'].attrs
print(len(s['loss']), ' '.join('%%.17g' %% v for v in e['val_accuracy']))
"]]):format(log)
local p = assert(io.popen(py .. " 2>&1"))
local got = p:read("a")
p:close()
local nsteps, accs = got:match("^(%d+) (.*)\n$")
assert(nsteps == "20", got)
local i = 0
for v in accs:gmatch("%S+") do
  i = i + 1
  assert(tonumber(v) == history.epochs[i].val_accuracy, got)
end
assert(i == 4, got)
-- CSV: a header and one row per epoch; the steps beside it
local f = assert(io.open(csv))
local header = f:read("l")
assert(header == "epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds", header)
local rows = 0
for line in f:lines() do
  rows = rows + 1
  assert(tonumber(line:match("^(%d+),")) == rows, line)
end
f:close()
assert(rows == 4)
f = assert(io.open(dir .. "/run.steps.csv"))
assert(f:read("l") == "step,epoch,loss,lr")
rows = 0
for _ in f:lines() do rows = rows + 1 end
f:close()
assert(rows == 20)

H.section("on_epoch: called after each epoch with its record, the history so far")
do
  local m, o = make()
  local seen = {}
  local h = engine.train{model = m, criterion = nn.CrossEntropyLoss(), optimizer = o,
    data = train_set, batch_size = 32, epochs = 3, validate = test_set, verbose = false,
    on_epoch = function(record, so_far)
      seen[#seen + 1] = {epoch = record.epoch, val_accuracy = record.val_accuracy,
                         epochs = #so_far.epochs, steps = #so_far.steps.loss}
    end}
  assert(#seen == 3, #seen)
  for e = 1, 3 do
    assert(seen[e].epoch == e and seen[e].epochs == e and seen[e].steps == 5 * e)
    assert(seen[e].val_accuracy == h.epochs[e].val_accuracy)
  end
  H.check_error("setting 'on_epoch' must be a function(record, history), got number",
    engine.train, {model = m, criterion = nn.CrossEntropyLoss(), optimizer = o,
                   data = train_set, epochs = 1, on_epoch = 3})
end

H.section("resume from the checkpoint of epoch 2 equals the uninterrupted run")
local ref = params(model)
local m2, o2, s2 = make()
local ckpt, log2 = dir .. "/ckpt.h5", dir .. "/run2.h5"
engine.train{model = m2, criterion = nn.CrossEntropyLoss(), optimizer = o2, data = train_set,
  batch_size = 32, epochs = 2, validate = test_set, schedule = s2, checkpoint = ckpt,
  checkpoint_every = 1, log = log2, verbose = false}
engine.seed(1234) -- the resumed run must not depend on the generator's state now
local m3, o3, s3 = make()
local h3 = engine.train{model = m3, criterion = nn.CrossEntropyLoss(), optimizer = o3,
  data = train_set, batch_size = 32, epochs = 4, validate = test_set, schedule = s3,
  checkpoint = ckpt, checkpoint_every = 1, resume = ckpt, log = log2, verbose = false}
local got_params = params(m3)
assert(#got_params == #ref)
for k = 1, #ref do
  assert(got_params[k] == ref[k], ("parameter %d: %.17g resumed, %.17g uninterrupted"):format(
    k, got_params[k], ref[k]))
end
assert(#h3.epochs == 4 and #h3.steps.loss == 20, "history continues the run log")
for e = 1, 4 do
  assert(h3.epochs[e].loss == history.epochs[e].loss, "epoch " .. e .. " loss")
  assert(h3.epochs[e].lr == history.epochs[e].lr, "epoch " .. e .. " lr")
end
assert(s3:last_epoch() == sched:last_epoch() and o3:lr() == opt:lr())

H.section("off a tty: one plain line per epoch on stderr, no carriage return")
local out_text, code = H.run_script(([[
local engine = require("engine")
local nn, optim = engine.nn, engine.optim
engine.seed(1)
local x = engine.randn({64, 3})
local y = engine.tensor((function() local t = {} for i = 1, 64 do t[i] = i %% 2 end return t end)(), "i64")
local model = nn.Sequential{nn.Linear(3, 2)}
engine.train{model = model, criterion = nn.CrossEntropyLoss(),
  optimizer = optim.SGD(model, {lr = 0.1}), data = engine.data.dataset(x, y), batch_size = 16,
  epochs = 3}
]]):format(), "2>&1 >/dev/null")
assert(code == 0, out_text)
assert(not out_text:find("\r", 1, true), out_text)
local n = 0
for line in out_text:gmatch("[^\n]+") do
  n = n + 1
  assert(line:match(("^epoch %d/3: 4/4 steps in %%d+:%%d%%d %%(.*%%), loss %%d%%.%%d+, "
                     .. "accuracy [%%d.]+, lr 0%%.1$"):format(n)), line)
end
assert(n == 3, out_text)

H.section("bad settings")
local base = {model = model, criterion = nn.CrossEntropyLoss(), optimizer = opt,
              data = train_set, epochs = 1}
local function with(k, v)
  local t = {}
  for a, b in pairs(base) do t[a] = b end
  t[k] = v
  return t
end
H.check_error("train: unknown setting 'epoch'", engine.train, with("epoch", 3))
H.check_error("train: setting 'model' is required", engine.train, with("model", nil))
H.check_error("setting 'epochs' must be a positive integer, got 0", engine.train,
              with("epochs", 0))
H.check_error("'checkpoint_every' needs 'checkpoint'", engine.train, with("checkpoint_every", 1))
H.check_error("'schedule_step' must be 'epoch' or 'step'", engine.train,
              with("schedule_step", "batch"))
os.execute("rm -rf '" .. dir .. "'")
print("ok")
