-- engine.nn: layers against hand-computed values, Sequential, losses.
local H = dofile((arg[0]:match("(.*/)") or "") .. "helpers.lua")
local engine = require("engine")
local nn = engine.nn
local check_error, check_tensor, shape_is, near = H.check_error, H.check_tensor, H.shape_is,
  H.near

-- Copies a nested table of numbers into a parameter tensor (a view into the layer).
local function set_param(layer, name, values)
  for _, p in ipairs(layer:parameters()) do
    if p.name == name then
      local src = engine.tensor(values, p.value:dtype())
      assert(src:numel() == p.value:numel(), "set_param: wrong size for " .. name)
      p.value:view(-1):copy_(src:view(-1))
      return p
    end
  end
  error("no parameter " .. name)
end

local function grad_of(layer, name)
  for _, p in ipairs(layer:parameters()) do
    if p.name == name then return p.grad end
  end
end

H.section("Linear with set weights")
do
  local lin = nn.Linear(3, 2)
  assert(lin:kind() == "linear" and lin:name() == nil)
  assert(tostring(lin) == "Linear(3, 2)")
  local params = lin:parameters()
  assert(#params == 2 and params[1].name == "weight" and params[2].name == "bias")
  shape_is(params[1].value, {2, 3})
  shape_is(params[2].grad, {2})
  set_param(lin, "weight", {{1, 2, 3}, {4, 5, 6}})
  set_param(lin, "bias", {0.5, -1})
  local x = engine.tensor({{1, 0, -1}, {2, 1, 0}})
  -- y = x W^T + b: row 1: (1-3+0.5, 4-6-1), row 2: (2+2+0.5, 8+5-1)
  check_tensor(lin:forward(x), {{-1.5, -3}, {4.5, 12}})
  local dy = engine.ones({2, 2})
  -- dx = dy W = column sums of W; dW = dy^T x = column sums of x in every row; db = 2
  check_tensor(lin:backward(x, dy), {{5, 7, 9}, {5, 7, 9}})
  check_tensor(grad_of(lin, "weight"), {{3, 1, -1}, {3, 1, -1}})
  check_tensor(grad_of(lin, "bias"), {2, 2})
  lin:backward(x, dy)
  check_tensor(grad_of(lin, "weight"), {{6, 2, -2}, {6, 2, -2}}, 1e-6, "gradients accumulate")
  lin:zero_grad()
  check_tensor(grad_of(lin, "bias"), {0, 0})
  -- parameters share storage with the layer
  params[2].value:set(1, 10)
  check_tensor(lin:forward(x), {{8, -3}, {14, 12}})
  assert(tostring(nn.Linear(3, 4, {bias = false})) == "Linear(3, 4, bias=false)")
  assert(#nn.Linear(3, 4, {bias = false}):parameters() == 1)
  -- to("f64") converts a copy
  local lin64 = lin:to("f64")
  assert(lin64:parameters()[1].value:dtype() == "f64")
  check_tensor(lin64:forward(x:to("f64")), {{8, -3}, {14, 12}})
end

H.section("activations")
do
  local x = engine.tensor({{-1, 2}, {0.5, -3}}, "f64")
  local relu = nn.ReLU()
  check_tensor(relu:forward(x), {{0, 2}, {0.5, 0}})
  check_tensor(relu:backward(x, engine.ones({2, 2}, "f64")), {{0, 1}, {1, 0}})
  check_tensor(nn.LeakyReLU(0.1):forward(x), {{-0.1, 2}, {0.5, -0.3}}, 1e-12)
  check_tensor(nn.LeakyReLU():forward(x), {{-0.01, 2}, {0.5, -0.03}}, 1e-12)
  local function tanh(v) return (math.exp(2 * v) - 1) / (math.exp(2 * v) + 1) end
  local function sigmoid(v) return 1 / (1 + math.exp(-v)) end
  check_tensor(nn.Tanh():forward(x), {{tanh(-1), tanh(2)}, {tanh(0.5), tanh(-3)}}, 1e-12)
  local sig = nn.Sigmoid()
  local s = sigmoid(2)
  check_tensor(sig:forward(x), {{sigmoid(-1), s}, {sigmoid(0.5), sigmoid(-3)}}, 1e-12)
  -- d sigmoid = s (1 - s)
  near(sig:backward(x, engine.ones({2, 2}, "f64")):get(1, 2), s * (1 - s), 1e-12, "dsigmoid")
  assert(tostring(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)")
  assert(tostring(nn.ReLU()) == "ReLU()" and tostring(nn.Sigmoid()) == "Sigmoid()")
  assert(nn.ReLU({name = "act"}):name() == "act")
  assert(nn.LeakyReLU(0.3, {name = "lr"}):name() == "lr")
  -- backward with an input other than the last forward's re-runs forward first
  local x2 = engine.tensor({{1, -2}, {-0.5, 3}}, "f64")
  relu:forward(x)
  check_tensor(relu:backward(x2, engine.ones({2, 2}, "f64")), {{1, 0}, {0, 1}})
end

H.section("pooling, conv2d, flatten, dropout")
do
  -- x [1,1,4,4] = 1..16 row-major
  local rows = {}
  for i = 0, 3 do rows[i + 1] = {4 * i + 1, 4 * i + 2, 4 * i + 3, 4 * i + 4} end
  local x = engine.tensor({{rows}})
  local mp = nn.MaxPool2d(2)
  assert(tostring(mp) == "MaxPool2d(kernel_size=(2, 2), stride=(2, 2))")
  check_tensor(mp:forward(x), {{{{6, 8}, {14, 16}}}})
  local dx = mp:backward(x, engine.ones({1, 1, 2, 2}))
  check_tensor(dx, {{{{0, 0, 0, 0}, {0, 1, 0, 1}, {0, 0, 0, 0}, {0, 1, 0, 1}}}})
  check_tensor(nn.AvgPool2d(2):forward(x), {{{{3.5, 5.5}, {11.5, 13.5}}}})
  check_tensor(nn.MaxPool2d(2, {stride = 1}):forward(x),
    {{{{6, 7, 8}, {10, 11, 12}, {14, 15, 16}}}})

  -- conv2d 2x2 kernel {{1,0},{0,-1}}: y[i][j] = x[i][j] - x[i+1][j+1] = -5 on this input
  local conv = nn.Conv2d(1, 1, 2, {bias = false})
  set_param(conv, "weight", {{{{1, 0}, {0, -1}}}})
  check_tensor(conv:forward(x), {{{{-5, -5, -5}, {-5, -5, -5}, {-5, -5, -5}}}})
  -- stride 2, padding 1, bias 0.5: windows at rows/cols -1, 1, 3 (zero outside)
  local c2 = nn.Conv2d(1, 1, 2, {stride = 2, padding = 1})
  set_param(c2, "weight", {{{{1, 0}, {0, -1}}}})
  set_param(c2, "bias", {0.5})
  -- window (a,b) covers rows 2a-2..2a-1 and columns 2b-2..2b-1 (1-based, 0 outside), so
  -- y[a][b] = x[2a-2][2b-2] - x[2a-1][2b-1] + 0.5, e.g. y[2][2] = 6 - 11 + 0.5
  check_tensor(c2:forward(x), {{{{-0.5, -2.5, 0.5}, {-8.5, -4.5, 8.5}, {0.5, 14.5, 16.5}}}})
  assert(tostring(nn.Conv2d(1, 16, 5, {padding = 2})) ==
    "Conv2d(1, 16, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))")
  assert(tostring(nn.Conv2d(3, 4, {3, 1}, {bias = false, dilation = 2})) ==
    "Conv2d(3, 4, kernel_size=(3, 1), stride=(1, 1), dilation=(2, 2), bias=false)")
  local cfg = nn.Conv2d(1, 2, 3, {stride = {1, 2}}):config()
  assert(cfg.kind == "conv2d" and cfg.stride[2] == 2 and cfg.bias == true)

  local flat = nn.Flatten()
  local y = flat:forward(engine.zeros({2, 3, 2, 2}))
  shape_is(y, {2, 12})

  local drop = nn.Dropout(0.5)
  assert(tostring(drop) == "Dropout(p=0.5)")
  local ones = engine.ones({1000})
  local kept = drop:forward(ones)
  local zeros, twos = kept:eq(0):sum(), kept:eq(2):sum()
  assert(zeros + twos == 1000 and zeros > 400 and zeros < 600, "dropout keeps 0 or 1/(1-p)")
  drop:eval()
  check_tensor(drop:forward(engine.tensor({1, 2})), {1, 2}, 0, "dropout in eval")
end

H.section("Sequential")
do
  local conv, relu, flat, lin = nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3)
  local model = nn.Sequential{conv, relu, flat, lin}
  assert(#model == 4 and rawequal(model[1], conv) and rawequal(model[4], lin))
  assert(model[5] == nil)
  assert(conv:name() == "conv2d_1" and lin:name() == "linear_1" and relu:name() == "relu_1")
  local names = {}
  for _, p in ipairs(model:parameters()) do names[#names + 1] = p.name end
  assert(table.concat(names, " ") ==
    "conv2d_1.weight conv2d_1.bias linear_1.weight linear_1.bias")
  -- 2*1*3*3 + 2 + 3*8 + 3
  assert(model:num_parameters() == 47)
  assert(model:dtype() == "f32")
  assert(tostring(model) == table.concat({
    "Sequential (4 layers, 47 parameters, f32)",
    "\u{251c}\u{2500} conv2d_1   Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1))   " ..
      "weight [2,1,3,3]  bias [2]",
    "\u{251c}\u{2500} relu_1     ReLU()",
    "\u{251c}\u{2500} flatten_1  Flatten()",
    "\u{2514}\u{2500} linear_1   Linear(8, 3)   weight [3,8]  bias [3]",
  }, "\n"))
  local big = nn.Sequential(nn.Linear(1000, 1000, {name = "fc"}))
  assert(tostring(big):match("^Sequential %(1 layer, 1,001,000 parameters, f32%)"))
  assert(big[1]:name() == "fc")

  local x = engine.randn({2, 1, 4, 4})
  local y = model:forward(x)
  shape_is(y, {2, 3})
  local dx = model:backward(engine.ones({2, 3}), true)
  shape_is(dx, {2, 1, 4, 4})
  assert(model:backward(engine.ones({2, 3})) == nil)
  assert(model:add(nn.ReLU()) == model and #model == 5 and model[5]:name() == "relu_2")
  check_error("already in this model", model.add, model, relu)
end

H.section("Sequential forward/backward by hand")
do
  -- y = relu(x W^T + b), W = {{1,-1},{2,1}}, b = {0,-10}
  local lin = nn.Linear(2, 2, {dtype = "f64"})
  set_param(lin, "weight", {{1, -1}, {2, 1}})
  set_param(lin, "bias", {0, -10})
  local model = nn.Sequential(lin, nn.ReLU())
  local x = engine.tensor({{3, 1}, {1, 2}}, "f64")
  -- pre-activation rows: (2, -3), (-1, -6) -> relu (2, 0), (0, 0)
  check_tensor(model:forward(x), {{2, 0}, {0, 0}})
  local dy = engine.tensor({{1, 5}, {7, 9}}, "f64")
  -- relu passes dy only where the pre-activation was positive: d = {{1,0},{0,0}}
  -- dx = d W = {{1,-1},{0,0}}; dW = d^T x = {{3,1},{0,0}}; db = {1,0}
  check_tensor(model:backward(dy, true), {{1, -1}, {0, 0}})
  check_tensor(grad_of(lin, "weight"), {{3, 1}, {0, 0}})
  check_tensor(grad_of(lin, "bias"), {1, 0})
  model:zero_grad()
  check_tensor(grad_of(lin, "weight"), {{0, 0}, {0, 0}})
  -- a lone forward of one of its layers invalidates the model's forward state
  lin:forward(x)
  check_error("ran another forward since this model's forward", model.backward, model, dy)
  model:forward(x)
  model:backward(dy)
end

H.section("destinations: model:forward(x, out), crit:backward(out)")
do
  local lin = nn.Linear(2, 2, {dtype = "f64"})
  set_param(lin, "weight", {{1, -1}, {2, 1}})
  set_param(lin, "bias", {0, -10})
  local model = nn.Sequential(lin, nn.ReLU())
  local x = engine.tensor({{3, 1}, {1, 2}}, "f64")
  local out = engine.tensor({{7, 7}, {7, 7}}, "f64")
  local y = model:forward(x, out)
  assert(rawequal(y, out), "a matching out is written and returned")
  check_tensor(out, {{2, 0}, {0, 0}})
  local wrong = engine.tensor({7, 7, 7}, "f64")
  y = model:forward(x, wrong)
  assert(not rawequal(y, wrong), "an out of another shape is left alone")
  check_tensor(y, {{2, 0}, {0, 0}})
  check_tensor(wrong, {7, 7, 7})
  y = model:forward(x, engine.tensor({{7, 7}, {7, 7}}, "f32"))
  assert(y:dtype() == "f64", "an out of another dtype is left alone")
  -- out may not be the input itself: backward still needs x
  local x2 = engine.tensor({{3, 1}, {1, 2}}, "f64")
  y = model:forward(x2, x2)
  assert(not rawequal(y, x2))
  check_tensor(x2, {{3, 1}, {1, 2}})

  local crit = nn.MSELoss()
  crit:forward(engine.tensor({1, 3}, "f64"), engine.tensor({0, 0}, "f64"))
  local dout = engine.tensor({0, 0}, "f64")
  local d = crit:backward(dout)
  -- d/dp mean((p - t)^2) = 2 (p - t) / 2
  assert(rawequal(d, dout))
  check_tensor(dout, {1, 3})
  check_tensor(crit:backward(), {1, 3})
end

H.section("a batch split between threads gives the one-thread results")
do
  local function run(threads)
    engine.threads(threads)
    engine.seed(5)
    local model = nn.Sequential(nn.Conv2d(1, 2, 3, {padding = 1, dtype = "f64"}), nn.ReLU(),
      nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 3, {dtype = "f64"}))
    local x = engine.randn({5, 1, 4, 4}, "f64")
    local crit = nn.CrossEntropyLoss()
    local loss = crit:forward(model:forward(x), {1, 2, 3, 1, 2})
    local dx = model:backward(crit:backward(), true)
    local grads = {}
    for _, p in ipairs(model:parameters()) do grads[#grads + 1] = p.grad:clone() end
    engine.threads(1)
    return loss, dx, grads
  end
  local loss1, dx1, g1 = run(1)
  local loss3, dx3, g3 = run(3)
  near(loss3, loss1, 1e-14, "loss")
  local function maxdiff(a, b) return math.max((a - b):max(), (b - a):max()) end
  assert(maxdiff(dx3, dx1) <= 1e-14, "dx")
  for i = 1, #g1 do assert(maxdiff(g3[i], g1[i]) <= 1e-14, "gradient " .. i) end
end

H.section("train/eval and to('f64')")
do
  local model = nn.Sequential{nn.Linear(4, 4), nn.Dropout(0.5)}
  local x = engine.ones({1, 4})
  model:eval()
  local a, b = model:forward(x), model:forward(x)
  check_tensor(a, b:totable(), 0, "eval is deterministic")
  model:train()
  local saw_zero = false
  for _ = 1, 20 do
    local y = model:forward(x)
    saw_zero = saw_zero or y:select(1, 1):eq(0):sum() > 0
  end
  assert(saw_zero, "dropout active in train mode")

  local m = nn.Sequential{nn.Linear(3, 2), nn.Tanh()}
  local m64 = m:to("f64")
  assert(m64:dtype() == "f64" and m:dtype() == "f32" and #m64 == 2)
  assert(m64[1]:name() == "linear_1" and m64[1] ~= m[1])
  local x32 = engine.tensor({{0.25, -0.5, 1}})
  local y32, y64 = m:forward(x32), m64:forward(x32:to("f64"))
  near(y32:get(1, 1), y64:get(1, 1), 1e-6, "f32 vs f64 model")
  m64:parameters()[1].value:fill(0)
  assert(m:parameters()[1].value:max() ~= 0, "to() copies the parameters")
end

H.section("losses")
do
  local crit = nn.CrossEntropyLoss()
  assert(tostring(crit) == "CrossEntropyLoss()" and tostring(nn.CrossEntropy()) ==
    "CrossEntropyLoss()")
  local logits = engine.tensor({{1, 2, 3}, {1, 1, 1}}, "f64")
  -- row 1: log(e^1+e^2+e^3) - 3; row 2: log 3; mean over the batch
  local r1 = math.log(math.exp(1) + math.exp(2) + math.exp(3)) - 3
  local expected = (r1 + math.log(3)) / 2
  near(crit:forward(logits, engine.tensor({2, 0}, "i64")), expected, 1e-12, "cross-entropy")
  local d = crit:backward()
  -- (softmax - onehot) / N
  local z = math.exp(1) + math.exp(2) + math.exp(3)
  check_tensor(d, {{math.exp(1) / z / 2, math.exp(2) / z / 2, (math.exp(3) / z - 1) / 2},
    {(1 / 3 - 1) / 2, 1 / 6, 1 / 6}}, 1e-12)
  -- a Lua table of 1-based class numbers is the same target
  near(crit:forward(logits, {3, 1}), expected, 1e-12, "cross-entropy with 1-based table")
  near(crit:forward(logits:to("f32"), {3, 1}), expected, 1e-6, "cross-entropy f32")
  check_error("labels[2] is 0, expected a 1-based class number", crit.forward, crit, logits,
    {1, 0})
  check_error("target[1] = 3 is not a class in [0,3)", crit.forward, crit, logits,
    engine.tensor({0, 3}, "i64"))
  check_error("CrossEntropyLoss: backward before forward", nn.CrossEntropyLoss().backward,
    nn.CrossEntropyLoss())

  local mse = nn.MSELoss()
  near(mse:forward(engine.tensor({1, 2}), engine.tensor({0, 4})), 2.5, 1e-12, "mse")
  check_tensor(mse:backward(), {1, -2})
  check_error("engine.Tensor expected, got table", mse.forward, mse, engine.tensor({1}), {1})
end

H.section("constructor errors")
do
  check_error("Conv2d: unknown option 'strid' (expected stride, padding, dilation, groups, bias, " ..
    "dtype, name)", nn.Conv2d, 1, 2, 3, {strid = 2})
  check_error("Conv2d: kernel_size must be an integer or a list of 2 integers, got string",
    nn.Conv2d, 1, 2, "x")
  check_error("conv2d: setting 'stride' must be between 1 and 1048576, got 0", nn.Conv2d, 1, 2,
    3, {stride = 0})
  check_error("linear: setting 'bias' must be a boolean, got a number", nn.Linear, 2, 3,
    {bias = 1})
  check_error("number expected, got string", nn.Linear, "a", 3)
  check_error("linear: setting 'in_features' must be between 1 and 2147483647, got 0", nn.Linear,
    0, 3)
  check_error("Linear: unknown dtype 'f16'", nn.Linear, 2, 3, {dtype = "f16"})
  check_error("linear: dtype i64 (f32 or f64 expected)", nn.Linear, 2, 3, {dtype = "i64"})
  check_error("dropout: setting 'p' must be between 0 and 0.99999999999999989, got 1.5",
    nn.Dropout, 1.5)
  check_error("may not contain '.'", nn.ReLU, {name = "a.b"})
  check_error("Sequential: element 2: engine.Layer expected, got engine.Tensor",
    nn.Sequential, {nn.ReLU(), engine.zeros({1})})
  check_error("two layers named 'x'", nn.Sequential, nn.ReLU({name = "x"}), nn.Tanh({name = "x"}))
  local l
  do
    local closed <close> = nn.ReLU()
    l = closed
  end
  check_error("layer is closed", l.forward, l, engine.zeros({1}))
end

H.section("constructors, nn.new and printing derive from each kind's declared settings")
do
  check_error("linear: setting 'in_features' must be an integer, got 1.5", nn.Linear, 1.5, 2)
  check_error("linear: setting 'in_features' must be between 1 and 2147483647, got 1e+22",
    nn.Linear, 1e22, 2)
  check_error("linear: setting 'out_features' (an integer) is required", nn.Linear, 3)
  check_error("Linear: too many arguments", nn.Linear, 3, 2, {}, 5)
  check_error("ReLU: unknown option 'dtype' (expected name)", nn.ReLU, {dtype = "f64"})
  check_error("leaky_relu: setting 'negative_slope' must be finite", nn.LeakyReLU, 0 / 0)
  check_error("linear: unknown setting 'bais' (its settings: in_features, out_features, bias)",
    nn.new, "linear", {in_features = 3, out_features = 2, bais = false})
  check_error("nn.new: layer kind 'relu' has no parameters, so no dtype", nn.new, "relu",
    {dtype = "f64"})
  local lin = nn.new("linear", {in_features = 3, out_features = 2, bias = false, dtype = "f64",
                                name = "head"})
  assert(tostring(lin) == "Linear(3, 2, bias=false)" and lin:name() == "head", tostring(lin))
  assert(lin:parameters()[1].value:dtype() == "f64")
  local cfg = lin:config()
  assert(cfg.kind == "linear" and cfg.in_features == 3 and math.type(cfg.in_features) ==
    "integer" and cfg.out_features == 2 and cfg.bias == false)
  local a = nn.Conv2d(2, 3, {3, 1}, {padding = 1, dilation = {2, 1}})
  local b = nn.new("conv2d", {in_channels = 2, out_channels = 3, kernel_size = {3, 1},
                              padding = 1, dilation = {2, 1}})
  assert(tostring(a) == tostring(b), tostring(b))
  assert(tostring(a) == "Conv2d(2, 3, kernel_size=(3, 1), stride=(1, 1), padding=(1, 1), " ..
    "dilation=(2, 1))", tostring(a))
  assert(tostring(nn.LeakyReLU{negative_slope = 0.3}) == "LeakyReLU(negative_slope=0.3)")
  assert(tostring(nn.Dropout{p = 0.1}) == "Dropout(p=0.1)")
  assert(nn.Dropout(nil, {name = "d"}):name() == "d", "options after a nil positional")
  assert(nn.MaxPool2d(2):config().stride[2] == 2, "stride 0 means the kernel size")
  assert(tostring(nn.AvgPool2d({3, 2}, {stride = 1, padding = 1})) ==
    "AvgPool2d(kernel_size=(3, 2), stride=(1, 1), padding=(1, 1))")
end

print("test_nn: ok")
