-- engine.gradcheck from Lua: a hand-written MLP backward (x -> linear -> relu -> linear ->
-- softmax cross-entropy) with a zoo of planted bugs, each checked with check_function; and
-- the model, layer-wise, directional, Taylor and sweep entry points on built-in layers.
local H = dofile("helpers.lua")
local engine = require("engine")
local gc, nn = engine.gradcheck, engine.nn

local N, D, Hn, C = 4, 5, 6, 3

engine.seed(42)
local x = engine.randn({N, D}, "f64")
local labels = {1, 3, 2, 1} -- 1-based classes

local function new_params(tail)
  local p = {
    W1 = engine.randn({Hn, D}, "f64") * 0.5,
    b1 = engine.randn({Hn}, "f64") * 0.5 + 0.3,
    W2 = engine.randn({C, Hn}, "f64") * (0.5 * (tail or 1)),
    b2 = engine.randn({C}, "f64") * 0.1,
  }
  p.list = {p.W1, p.b1, p.W2, p.b2}
  return p
end

-- loss and gradients of the MLP, with the named bug planted in the backward
local function objective(p, bug)
  return function()
    local W1, b1, W2, b2 = p.W1, p.b1, p.W2, p.b2
    local z1, a1, probs, loss = {}, {}, {}, 0
    for n = 1, N do
      z1[n], a1[n] = {}, {}
      for h = 1, Hn do
        local s = b1:get(h)
        for d = 1, D do s = s + W1:get(h, d) * x:get(n, d) end
        z1[n][h], a1[n][h] = s, math.max(s, 0)
      end
      local logits, m = {}, -math.huge
      for c = 1, C do
        local s = b2:get(c)
        for h = 1, Hn do s = s + W2:get(c, h) * a1[n][h] end
        logits[c] = s
        m = math.max(m, s)
      end
      local sum = 0
      for c = 1, C do sum = sum + math.exp(logits[c] - m) end
      probs[n] = {}
      for c = 1, C do probs[n][c] = math.exp(logits[c] - m) / sum end
      loss = loss + (m + math.log(sum) - logits[labels[n]]) / N
    end
    local dW1, db1 = engine.zeros({Hn, D}, "f64"), engine.zeros({Hn}, "f64")
    local dW2, db2 = engine.zeros({C, Hn}, "f64"), engine.zeros({C}, "f64")
    local scale = bug == "missing_mean" and 1 or 1 / N
    for n = 1, N do
      local dz2 = {}
      for c = 1, C do dz2[c] = (probs[n][c] - (c == labels[n] and 1 or 0)) * scale end
      local times = bug == "doubled" and 2 or 1
      for c = 1, C do
        db2:set(c, db2:get(c) + dz2[c])
        if bug ~= "first_sample" or n == 1 then
          for h = 1, Hn do dW2:set(c, h, dW2:get(c, h) + times * dz2[c] * a1[n][h]) end
        end
      end
      for h = 1, Hn do
        local da = 0
        for c = 1, C do da = da + dz2[c] * W2:get(c, h) end
        local dz = z1[n][h] > 0 and da or 0
        if bug ~= "bias_not_summed" or n == 1 then db1:set(h, db1:get(h) + dz) end
        for d = 1, D do
          local g = dz * x:get(n, d)
          if bug == "sign" then g = -g end
          if bug == "scale_086" then g = 0.86 * g end
          if bug == "transposed" then
            -- dW1 computed as [D,H] and written into the [H,D] buffer row by row
            local flat = (d - 1) * Hn + (h - 1)
            local r, q = flat // D + 1, flat % D + 1
            dW1:set(r, q, dW1:get(r, q) + g)
          else
            dW1:set(h, d, dW1:get(h, d) + g)
          end
        end
      end
    end
    return loss, {dW1, db1, dW2, db2}
  end
end

local names = {"W1", "b1", "W2", "b2"}

-- the loss of sample s alone, so that the checker can test "only one sample's gradient"
local function sample_loss(p)
  return function(s)
    local logits, m = {}, -math.huge
    for c = 1, C do
      local v = p.b2:get(c)
      for h = 1, Hn do
        local z = p.b1:get(h)
        for d = 1, D do z = z + p.W1:get(h, d) * x:get(s, d) end
        v = v + p.W2:get(c, h) * math.max(z, 0)
      end
      logits[c] = v
      m = math.max(m, v)
    end
    local sum = 0
    for c = 1, C do sum = sum + math.exp(logits[c] - m) end
    return m + math.log(sum) - logits[labels[s]]
  end
end

local function check(bug, tail)
  local p = new_params(tail)
  return gc.check_function(objective(p, bug), p.list,
    {names = names, seed = 1, batch = N, sample_loss = sample_loss(p)})
end

-- a correct backward passes
local report = check(nil)
assert(report.ok and report.verdict == "PASS", tostring(report))
assert(report.tensors.W1.checked == Hn * D)
assert(tostring(report):find("gradient check %(element%-wise%): PASS"))

local zoo = {
  {bug = "missing_mean", tensor = "W1", diagnosis = "batch size 4", summary = "missing 1/N"},
  {bug = "doubled", tensor = "W2", diagnosis = "scale 2"},
  {bug = "sign", tensor = "W1", diagnosis = "sign"},
  {bug = "transposed", tensor = "W1", diagnosis = "transpose"},
  {bug = "bias_not_summed", tensor = "b1", diagnosis = "sample 1's gradient alone"},
  {bug = "first_sample", tensor = "W2", diagnosis = "sample 1's gradient alone"},
  {bug = "scale_086", tensor = "W1", diagnosis = "scale 0.86", tail = 1e-9},
}
for _, case in ipairs(zoo) do
  local r = check(case.bug, case.tail)
  local t = r.tensors[case.tensor]
  local context = case.bug .. ":\n" .. tostring(r)
  assert(r.verdict == "FAIL" and not r.ok, context)
  assert(r.first_failing == case.tensor, context)
  assert(t.verdict == "FAIL", context)
  assert(t.diagnosis and t.diagnosis:find(case.diagnosis, 1, true), context)
  if case.summary then assert(r.summary:find(case.summary, 1, true), context) end
  if case.tail then
    -- the seed question's magnitudes: gradients around 1e-10 and below
    assert(t.grad_rms < 1e-8, context)
    assert(t.diagnosis:find("vanishing", 1, true), context)
  end
  -- the worst elements carry 1-based multi-indices inside the tensor's shape
  local w = t.worst[1]
  assert(w.verdict == "FAIL" and #w.index == #t.shape, context)
  for d = 1, #w.index do assert(w.index[d] >= 1 and w.index[d] <= t.shape[d], context) end
end

-- built-in layers through the model entry points
engine.seed(3)
local model = nn.Sequential{
  nn.Conv2d(1, 3, 3, {padding = 1, dtype = "f64"}), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
  nn.Linear(3 * 3 * 3, 4, {dtype = "f64"}),
}
local xs = engine.randn({2, 1, 6, 6}, "f64")
local ys = engine.tensor({0, 3}, "i64")
local crit = nn.CrossEntropyLoss()
local r = gc.check(model, crit, xs, ys, {samples = 6, input = true})
assert(r.verdict == "PASS", tostring(r))
assert(r.tensors.input and r.tensors["conv2d_1.weight"].layer == "conv2d_1")
r = gc.check(model, crit, xs, ys, {mode = "directional", directions = 4})
assert(r.verdict == "PASS" and r.directions >= 4, tostring(r))
r = gc.check_layers(model, xs, {samples = 6})
assert(r.verdict == "PASS" and r.mode == "layer-wise", tostring(r))
assert(r.tensors["maxpool2d_1.input"], "layer-wise reports name each layer's input")
r = gc.check_layer(model[1], xs, {samples = 6})
assert(r.verdict == "PASS", tostring(r))
local slope = gc.taylor(model, crit, xs, ys, {tensor = "linear_1.weight"})
H.near(slope, 2, 0.1, "Taylor slope")
local plot = os.tmpname()
local sweep = gc.sweep(model, crit, xs, ys, {plot = plot, samples = 3})
assert(#sweep.steps == 12 and #sweep.tensors == 4 and sweep.tensors[1].chosen > 0)
local f = assert(io.open(plot))
local svg = f:read("a")
f:close()
os.remove(plot)
assert(svg:find("<svg", 1, true) and svg:find("conv2d_1.weight", 1, true) and svg:find("chosen step", 1, true))

-- a report saved to HDF5 (weights, batch, options, stored results) and replayed
local saved = os.tmpname()
r = gc.check(model, crit, xs, ys, {samples = 6, seed = 4})
r:save(saved)
local again = gc.replay(saved)
assert(again.verdict == r.verdict and again.replay.same_verdict, tostring(again))
local stored = again.replay.stored.tensors["conv2d_1.weight"]
assert(stored.verdict == "PASS" and #stored.numerical == #r.tensors["conv2d_1.weight"].worst)
H.near(stored.analytic[1], r.tensors["conv2d_1.weight"].worst[1].analytic, 0, "stored analytic")
-- a failing model with a layer written in Lua: replayed into a model of the same architecture
local function doubled_gate()
  return nn.Lua{name = "gate", params = {a = engine.tensor({0.5}, "f64")},
    forward = function(self, x) return x * self.params.a:get(1) end,
    backward = function(self, x, y, dy)
      local da = (x * dy):sum()
      return dy * self.params.a:get(1), {a = engine.tensor({2 * da}, "f64")}
    end}
end
local function gated() return nn.Sequential{nn.Linear(4, 3, {dtype = "f64"}), doubled_gate()} end
local xg, yg = engine.randn({5, 4}, "f64"), engine.tensor({0, 1, 2, 1, 0}, "i64")
r = gc.check(gated(), nn.CrossEntropyLoss(), xg, yg)
assert(r.verdict == "FAIL", tostring(r))
r:save(saved)
again = gc.replay(saved, gated())
assert(again.verdict == "FAIL" and again.replay.same_verdict and
       again.tensors["gate.a"].diagnosis:find("scale 2", 1, true), tostring(again))
H.check_error("only the reports of gradcheck.check", report.save, report, saved)
engine.save(saved, {model = model})
H.check_error("not a saved gradient-check report", gc.replay, saved)
os.remove(saved)
H.check_error("cannot open", gc.replay, saved)

-- dropout in training mode is nondeterministic, not a bug
local dropped = nn.Sequential{nn.Linear(4, 3, {dtype = "f64"}), nn.Dropout(0.5)}
r = gc.check(dropped, nn.MSELoss(), engine.randn({2, 4}, "f64"), engine.randn({2, 3}, "f64"))
assert(r.nondeterministic and r.verdict == "INCONCLUSIVE" and r.warning:find("eval"))

-- an f32 model gets a warning pointing at f64
local m32 = nn.Sequential{nn.Linear(4, 3)}
r = gc.check(m32, nn.MSELoss(), engine.randn({2, 4}), engine.randn({2, 3}))
assert(r.verdict ~= "FAIL" and r.warning:find("float32", 1, true), tostring(r))

-- bad input: clear errors
H.check_error("unknown option 'sample'", gc.check, model, crit, xs, ys, {sample = 3})
H.check_error("'samples' must be >= 0", gc.check, model, crit, xs, ys, {samples = -1})
H.check_error("x [2,2,6,6], expected [N,1,H,W]", gc.check, model, crit,
  engine.randn({2, 2, 6, 6}, "f64"), ys)
H.check_error("engine.Tensor expected", gc.check, model, crit, "x", ys)
H.check_error("no tensor named 'nope'", gc.check, model, crit, xs, ys, {only = "nope"})
H.check_error("the objective function failed", gc.check_function,
  function() error("boom") end, {engine.zeros({2}, "f64")})
H.check_error("expected a list of gradient tensors", gc.check_function,
  function() return 1.0, 5 end, {engine.zeros({2}, "f64")})

-- Any criterion: a Lua table with forward and backward, and loss scaling; only / exclude.
do
  engine.seed(3)
  local net = nn.Sequential{nn.Linear(6, 5, {dtype = "f64"}), nn.ReLU(),
                            nn.Linear(5, 3, {dtype = "f64"})}
  local xin = engine.randn({4, 6}, "f64")
  local tgt = engine.randn({4, 3}, "f64")
  local half_sq = {
    forward = function(_, input, target) local d = input - target; return (d * d):sum() / 2 end,
    backward = function(_, input, target) return input - target end,
  }
  local ok_report = gc.check(net, half_sq, xin, tgt)
  assert(ok_report.verdict == "PASS" and ok_report.kink_free, ok_report.text)
  local doubled = {forward = half_sq.forward,
                   backward = function(_, input, target) return (input - target) * 2 end}
  local bad = gc.check(net, doubled, xin, tgt)
  assert(bad.verdict == "FAIL" and bad.culprit == "loss", bad.text)
  assert(bad.localisation:find("scale 2", 1, true), bad.localisation)
  for _, s in ipairs({1e4, 1e-8}) do
    local scaled = gc.check(net, nn.MSELoss(), xin, tgt, {loss_scale = s})
    assert(scaled.verdict == "PASS", scaled.text)
  end
  local some = gc.check(net, nn.MSELoss(), xin, tgt, {exclude = "linear_2"})
  assert(some.tensors["linear_2.weight"] == nil and some.tensors["linear_1.weight"], some.text)
  local one = gc.check(net, nn.MSELoss(), xin, tgt, {only = "linear_2.bias, linear_1.weight"})
  assert(one.tensors["linear_2.bias"] and one.tensors["linear_1.weight"]
         and not one.tensors["linear_1.bias"], one.text)
  H.check_error("the criterion table has no function 'backward'", gc.check, net,
              {forward = half_sq.forward}, xin, tgt)
end
print("test_gradcheck.lua: ok")
