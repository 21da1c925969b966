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

-- the MLP's forward: z1 = x W1^T + b1 [N,H], a1 = relu(z1), logits = a1 W2^T + b2 [N,C] and
-- their log-sum-exp per sample [N,1]
local onehot = engine.tensor(labels, "i64"):one_hot(C):to("f64") -- [N,C]
local function forward(p)
  local z1 = x:matmul(p.W1:t()) + p.b1
  local a1 = z1:relu()
  local logits = a1:matmul(p.W2:t()) + p.b2
  return z1, a1, logits, logits:logsumexp(2, {keepdim = true})
end

-- loss and gradients of the MLP, with the named bug planted in the backward
local function objective(p, bug)
  return function()
    local z1, a1, logits, lse = forward(p)
    local loss = (lse:sum() - (logits * onehot):sum()) / N
    local scale = bug == "missing_mean" and 1 or 1 / N
    local dz2 = ((logits - lse):exp() - onehot) * scale -- dloss/dlogits [N,C]
    local db2 = dz2:sum(1)
    local dW2 = bug == "first_sample" and dz2:narrow(1, 1, 1):t():matmul(a1:narrow(1, 1, 1))
      or dz2:t():matmul(a1)
    if bug == "doubled" then dW2 = dW2 * 2 end
    local dz = engine.where(z1:gt(0), dz2:matmul(p.W2), 0) -- through the ReLU [N,H]
    local db1 = bug == "bias_not_summed" and dz:select(1, 1):clone() or dz:sum(1)
    local dW1 = dz:t():matmul(x)
    if bug == "sign" then dW1 = -dW1 end
    if bug == "scale_086" then dW1 = dW1 * 0.86 end
    if bug == "transposed" then
      -- dW1 computed as [D,H] and written into the [H,D] buffer row by row
      dW1 = dW1:t():contiguous():reshape({Hn, D})
    end
    return loss, {dW1, db1, dW2, db2}
  end
end

local names = {"W1", "b1", "W2", "b2"}

-- the loss of sample s alone, so that the checker can test "only one sample's gradient"
local function sample_loss(p)
  return function(s)
    local _, _, logits, lse = forward(p)
    return lse[{s, 1}] - logits[{s, labels[s]}]
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
