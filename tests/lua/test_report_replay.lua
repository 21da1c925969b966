-- Replay fidelity: every option that changes a check's result is saved with the report and
-- restored by gc.replay (exclude, full, localise and loss_scale as well as samples, seed, step,
-- rtol, nsigma, worst, only, input, mode and directions), a criterion with settings (NLLLoss,
-- HuberLoss) is saved with them and rebuilt with them, and a criterion written in Lua is
-- recorded as such: the replay asks for it by name, and runs with it when it is given.
local H = dofile("helpers.lua")
local engine = require("engine")
local gc, nn = engine.gradcheck, engine.nn
local path = os.tmpname()

engine.seed(11)
local model = nn.Sequential{nn.Linear(4, 3, {dtype = "f64"}), nn.ReLU(),
                            nn.Linear(3, 2, {dtype = "f64"})}
local x, y = engine.randn({3, 4}, "f64"), engine.tensor({0, 1, 1}, "i64")

-- exclude and loss_scale: the replay checks the same tensors with the same scaled loss
local plain = nn.CrossEntropyLoss():forward(model:forward(x), y)
local r = gc.check(model, nn.CrossEntropyLoss(), x, y, {exclude = "linear_1", loss_scale = 8})
assert(#r.tensors == 2 and not r.tensors["linear_1.weight"], tostring(r))
H.near(r.loss, 8 * plain, 1e-12, "the checked loss")
r:save(path)
local again = gc.replay(path)
assert(#again.tensors == 2 and not again.tensors["linear_1.weight"] and
       not again.tensors["linear_1.bias"], "exclude was lost on replay: " .. tostring(again))
H.near(again.loss, 8 * plain, 1e-12, "the replayed loss (loss_scale)")
assert(again.replay.same_verdict and again.replay.stored.options.exclude == "linear_1" and
       again.replay.stored.options.loss_scale == 8)

-- full: a layer-wise check of every element, not the default sample
local wide = nn.Sequential{nn.Linear(64, 32, {dtype = "f64"}), nn.ReLU(),
                           nn.Linear(32, 4, {dtype = "f64"})}
local xw = engine.randn({2, 64}, "f64")
local function checked(report) return report.tensors["linear_1.weight"].checked end
assert(checked(gc.check_layers(wide, xw)) < 64 * 32, "the default already checks every element")
r = gc.check_layers(wide, xw, {full = true})
assert(checked(r) == 64 * 32, tostring(r))
r:save(path)
again = gc.replay(path)
assert(checked(again) == 64 * 32 and again.replay.same_verdict,
       ("full was lost on replay: %d of %d elements"):format(checked(again), 64 * 32))

-- localise = false: a failure is not localised, on replay either
local function gated() -- a Lua layer whose backward doubles its parameter's gradient
  return nn.Sequential{nn.Linear(4, 3, {dtype = "f64"}), nn.Lua{name = "gate",
    params = {a = engine.tensor({0.5}, "f64")},
    forward = function(self, xx) return xx * self.params.a:get(1) end,
    backward = function(self, xx, _, dy)
      return dy * self.params.a:get(1), {a = engine.tensor({2 * (xx * dy):sum()}, "f64")}
    end}}
end
local xg, yg = engine.randn({5, 4}, "f64"), engine.tensor({0, 1, 2, 1, 0}, "i64")
local localised = gc.check(gated(), nn.CrossEntropyLoss(), xg, yg)
assert(localised.verdict == "FAIL" and localised.localisation, tostring(localised))
r = gc.check(gated(), nn.CrossEntropyLoss(), xg, yg, {localise = false})
assert(r.verdict == "FAIL" and not r.localisation, tostring(r))
r:save(path)
again = gc.replay(path, gated())
assert(again.verdict == "FAIL" and not again.localisation,
       "localise = false was lost on replay: " .. tostring(again.localisation))

-- a criterion written in Lua: recorded as "lua", required by the replay, used when given
local half_sq = {forward = function(_, i) return 0.5 * (i * i):sum() end,
                 backward = function(_, i) return i end}
local out = model:forward(x)
local expected = 0.5 * (out * out):sum()
r = gc.check(model, half_sq, x, y, {loss_scale = 2})
H.near(r.loss, 2 * expected, 1e-12, "the Lua criterion's loss")
r:save(path)
assert(engine.load(path).meta.gradcheck.criterion == "lua")
H.check_error("criterion is 'lua'", gc.replay, path)
H.check_error("gradcheck.replay(path, model or nil, criterion)", gc.replay, path)
again = gc.replay(path, nil, half_sq)
assert(again.verdict == r.verdict and again.replay.same_verdict, tostring(again))
H.near(again.loss, 2 * expected, 1e-12, "the replayed Lua criterion's loss")
again:save(path) -- saved again from the saved report it holds: still a Lua criterion
assert(engine.load(path).meta.gradcheck.criterion == "lua")
H.check_error("no function 'backward'", gc.replay, path, nil, {forward = half_sq.forward})

-- criteria with settings: printed with them, saved with them (meta.gradcheck.criterion_settings)
-- and rebuilt with them by the replay. NLLLoss{reduction = "sum", ignore_index = 1} on
-- targets {0, 1, 1} is -out[1][1] (the samples of class 1 ignored, no mean)
local nll = nn.NLLLoss{reduction = "sum", ignore_index = 1}
assert(tostring(nll) == "NLLLoss(reduction=sum, ignore_index=1)", tostring(nll))
assert(tostring(nn.NLLLoss()) == "NLLLoss()" and tostring(nn.HuberLoss(1)) == "HuberLoss()")
r = gc.check(model, nll, x, y)
H.near(r.loss, -out:get(1, 1), 1e-12, "NLLLoss{reduction = 'sum', ignore_index = 1}")
r:save(path)
local g = engine.load(path).meta.gradcheck
assert(g.criterion == "NLLLoss" and g.criterion_settings.reduction == "sum" and
       g.criterion_settings.ignore_index == 1, "the settings are not in the file")
again = gc.replay(path)
assert(again.replay.same_verdict, tostring(again))
H.near(again.loss, r.loss, 0, "NLLLoss{reduction = 'sum', ignore_index = 1} replayed")
again:save(path) -- saved again from the saved report it holds: the settings stay
assert(engine.load(path).meta.gradcheck.criterion_settings.ignore_index == 1)
-- a file saved before the settings were stored: loads, and replays with the defaults (the
-- mean of -out[i][y_i] over the three samples)
local meta = engine.load(path).meta
meta.gradcheck.criterion_settings = nil
engine.save(path, {model = model, meta = meta})
again = gc.replay(path)
H.near(again.loss, -(out:get(1, 1) + out:get(2, 2) + out:get(3, 2)) / 3, 1e-12,
       "an old file's NLLLoss replayed with its defaults")

-- HuberLoss(0.5): the mean over elements of d^2/2 where |d| < 0.5, else 0.5 (|d| - 0.25)
local huber, target = nn.HuberLoss(0.5), engine.randn({3, 2}, "f64")
assert(tostring(huber) == "HuberLoss(delta=0.5)", tostring(huber))
local sum = 0
for i = 1, 3 do
  for j = 1, 2 do
    local d = math.abs(out:get(i, j) - target:get(i, j))
    sum = sum + (d < 0.5 and d * d / 2 or 0.5 * (d - 0.25))
  end
end
r = gc.check(model, huber, x, target)
H.near(r.loss, sum / 6, 1e-12, "HuberLoss(0.5)")
r:save(path)
assert(engine.load(path).meta.gradcheck.criterion_settings.delta == 0.5)
again = gc.replay(path)
assert(again.replay.same_verdict, tostring(again))
H.near(again.loss, r.loss, 0, "HuberLoss(0.5) replayed")
-- a criterion given to the replay still replaces the saved one
again = gc.replay(path, nil, nn.HuberLoss(2))
assert(again.loss ~= r.loss, "the given criterion was not used")
os.remove(path)
print("test_report_replay: exclude, full, localise, loss_scale, criteria with settings and Lua criteria replay")
