-- The layer kinds of issue 15 from Lua: constructors with PyTorch's defaults and options,
-- printing, training/evaluation modes, buffers, and checkpoints that resume bit for bit.
local H = dofile((arg[0]:match("(.*/)") or "") .. "helpers.lua")
local engine = require("engine")
local nn, optim = engine.nn, engine.optim
local check_error = H.check_error

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))

-- Every parameter and buffer, element by element, as exact hexadecimal floats.
local function dump(model)
  local out = {}
  local function add(list)
    for _, p in ipairs(list) do
      local flat = p.value:reshape({p.value:numel()}):totable()
      for i = 1, #flat do flat[i] = ("%a"):format(flat[i]) end
      out[#out + 1] = p.name .. " " .. table.concat(flat, " ")
    end
  end
  add(model:parameters())
  add(model:buffers())
  return table.concat(out, "\n")
end

H.section("BatchNorm: defaults, options, printing, buffers")
do
  local bn = nn.BatchNorm2d(3)
  assert(tostring(bn) == "BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=true)", tostring(bn))
  local cfg = bn:config()
  assert(cfg.kind == "batchnorm2d" and cfg.num_features == 3 and cfg.eps == 1e-5 and
         cfg.momentum == 0.1 and cfg.affine == true)
  assert(#bn:parameters() == 2 and bn:parameters()[1].name == "weight")
  local bufs = bn:buffers()
  assert(#bufs == 2 and bufs[1].name == "running_mean" and bufs[2].name == "running_var")
  H.check_tensor(bufs[2].value, {1, 1, 1}, 0, "running_var starts at 1")
  local b1 = nn.BatchNorm1d(4, {eps = 1e-3, momentum = 0.3, affine = false, dtype = "f64"})
  assert(tostring(b1) == "BatchNorm1d(4, eps=0.001, momentum=0.3, affine=false)", tostring(b1))
  assert(#b1:parameters() == 0 and #b1:buffers() == 2)
  check_error("BatchNorm2d: unknown option 'affin'", nn.BatchNorm2d, 3, {affin = false})
  check_error("batchnorm2d: setting 'momentum' must be between 0 and 1, got 2", nn.BatchNorm2d, 3,
    {momentum = 2})
end

H.section("training uses batch statistics and updates the running ones; evaluation uses them")
do
  local model = nn.Sequential{nn.BatchNorm1d(2, {dtype = "f64", momentum = 0.5})}
  assert(model:is_training())
  local x = engine.tensor({{1, 10}, {3, 30}}, "f64")
  local y = model:forward(x)
  -- batch mean (2, 20), biased var (1, 100): y = +-1/sqrt(var + eps)
  H.near(y:get(1, 1), -1 / math.sqrt(1 + 1e-5), 1e-15, "y[1][1]")
  H.near(y:get(2, 2), 10 / math.sqrt(100 + 1e-5), 1e-15, "y[2][2]")
  local b = model:buffers()
  assert(b[1].name == "batchnorm1d_1.running_mean")
  -- running: 0.5 * old + 0.5 * batch, the variance unbiased (n / (n - 1) = 2)
  H.check_tensor(b[1].value, {1, 10}, 1e-15, "running_mean")
  H.check_tensor(b[2].value, {0.5 + 0.5 * 2, 0.5 + 0.5 * 200}, 1e-15, "running_var")
  model:evaluate()
  assert(not model:is_training())
  y = model:forward(x)
  H.near(y:get(1, 2), (10 - 10) / math.sqrt(100.5 + 1e-5), 1e-15, "eval y[1][2]")
  H.near(y:get(2, 1), (3 - 1) / math.sqrt(1.5 + 1e-5), 1e-15, "eval y[2][1]")
  H.check_tensor(b[1].value, {1, 10}, 0, "evaluation leaves the running mean alone")
  model:training()
  assert(model:is_training())
end

H.section("checkpoints: buffers saved, rebuilt, and a resumed run matches bit for bit")
do
  for _, dtype in ipairs({"f32", "f64"}) do
    engine.seed(3)
    local function make()
      return nn.Sequential{nn.Conv2d(1, 4, 3, {padding = 1, dtype = dtype}),
        nn.BatchNorm2d(4, {dtype = dtype}), nn.ReLU(), nn.Flatten(),
        nn.Linear(4 * 6 * 6, 8, {dtype = dtype}), nn.BatchNorm1d(8, {dtype = dtype}),
        nn.Tanh(), nn.Linear(8, 3, {dtype = dtype})}
    end
    local model = make()
    local batches = {}
    for i = 1, 7 do
      local labels = {}
      for k = 1, 6 do labels[k] = (i + k) % 3 + 1 end
      batches[i] = {engine.randn({6, 1, 6, 6}):to(dtype), labels}
    end
    local crit = nn.CrossEntropyLoss()
    local function train(m, opt, from, to)
      for i = from, to do
        opt:zero_grad()
        crit:forward(m:forward(batches[i][1]), batches[i][2])
        m:backward(crit:backward())
        opt:step()
      end
    end
    local opt = optim.SGD(model, {lr = 0.05, momentum = 0.9})
    train(model, opt, 1, 3)
    local path = ("%s/bn_%s.h5"):format(dir, dtype)
    engine.save(path, {model = model, optimizer = opt})
    local saved = dump(model)
    local ckpt = engine.load(path)
    assert(dump(ckpt.model) == saved, dtype .. ": loaded parameters or buffers differ")
    assert(tostring(ckpt.model) == tostring(model), tostring(ckpt.model))
    local opt2 = optim.SGD(ckpt.model, {lr = 0.05, momentum = 0.9})
    opt2:load(path)
    train(model, opt, 4, 7)
    train(ckpt.model, opt2, 4, 7)
    assert(dump(ckpt.model) == dump(model), dtype .. ": resumed run differs")
    assert(dump(model) ~= saved)
    -- the optimizer never sees the buffers: only parameters have state
    assert(#model:parameters() == 10, #model:parameters())
    -- a buffer missing from the file is named
    local other = nn.Sequential{nn.Conv2d(1, 4, 3, {padding = 1, dtype = dtype}),
      nn.BatchNorm2d(5, {dtype = dtype})}
    check_error("batchnorm2d_1.weight", function() other:load(path) end)
    io.write(("  ok   %s\n"):format(dtype))
  end
end
H.section("LayerNorm, GELU, Softmax, LogSoftmax + NLLLoss, Embedding, AdaptiveAvgPool2d")
do
  assert(tostring(nn.LayerNorm({3, 4})) == "LayerNorm((3, 4), eps=1e-05, elementwise_affine=true)")
  assert(tostring(nn.GELU{approximate = "tanh"}) == "GELU(approximate=tanh)")
  assert(tostring(nn.Softmax{dim = 2}) == "Softmax(dim=2)")
  assert(tostring(nn.LogSoftmax()) == "LogSoftmax()")   -- PyTorch's dim=None
  assert(tostring(nn.Embedding(10, 4, {padding_idx = 0})) == "Embedding(10, 4, padding_idx=0)")
  assert(tostring(nn.AdaptiveAvgPool2d(1)) == "AdaptiveAvgPool2d(output_size=(1, 1))")
  check_error("gelu: approximate 'fast' (expected 'none' or 'tanh')", nn.GELU,
    {approximate = "fast"})
  check_error("softmax: setting 'dim' must be between -8 and 8, got 9", nn.Softmax, {dim = 9})
  check_error("NLLLoss: reduction 'none'", nn.NLLLoss, {reduction = "none"})
  -- Softmax{dim = 2} of [N,C] rows sum to 1 (dimensions are 1-based in Lua, as t:size(2))
  local p = nn.Softmax{dim = 2}:forward(engine.tensor({{1, 2, 3}, {0, 0, 0}}, "f64"))
  H.near(p:get(1, 1) + p:get(1, 2) + p:get(1, 3), 1, 1e-15, "row sum")
  H.near(p:get(2, 1), 1 / 3, 1e-15, "uniform row")
  -- LogSoftmax + NLLLoss is CrossEntropyLoss, labels given as 1-based lists as for it
  local logits = engine.randn({4, 5}):to("f64")
  local labels = {2, 5, 1, 3}
  local ls, nll, ce = nn.LogSoftmax{dim = 2}, nn.NLLLoss(), nn.CrossEntropyLoss()
  H.near(nll:forward(ls:forward(logits), labels), ce:forward(logits, labels), 1e-14, "nll")
  local d1, d2 = ls:backward(logits, nll:backward()), ce:backward()
  for i = 1, 4 do
    for j = 1, 5 do H.near(d1:get(i, j), d2:get(i, j), 1e-15, "dlogits") end
  end
  -- Embedding: 0-based indices as floats of the layer's dtype
  local emb = nn.Embedding(10, 3, {dtype = "f64"})
  local y = emb:forward(engine.tensor({{0, 9}}, "f64"))
  H.shape_is(y, {1, 2, 3})
  H.near(y:get(1, 2, 3), emb:parameters()[1].value:get(10, 3), 0, "row 9")
  check_error("is not an index in [0, 10)", function() emb:forward(engine.tensor({{10}}, "f64")) end)
end

H.section("every new kind rebuilt from a checkpoint: same printing, same bits, same outputs")
do
  engine.seed(5)
  local image = nn.Sequential{nn.Conv2d(1, 4, 3, {padding = 1, dtype = "f64"}),
    nn.BatchNorm2d(4, {dtype = "f64", momentum = 0.2, eps = 1e-4}), nn.GELU{approximate = "tanh"},
    nn.Conv2d(4, 4, 3, {groups = 4, dilation = 2, padding = 2, dtype = "f64"}),
    nn.AdaptiveAvgPool2d({2, 1}), nn.Flatten(),
    nn.LayerNorm(8, {dtype = "f64", eps = 1e-6}), nn.Linear(8, 3, {dtype = "f64"}),
    nn.LogSoftmax{dim = -1}}
  local tokens = nn.Sequential{nn.Embedding(10, 4, {padding_idx = 2}), nn.Flatten(),
    nn.Linear(12, 5), nn.GELU(), nn.Softmax{dim = 2}}
  local cases = {{image, engine.randn({3, 1, 5, 5}):to("f64")},
                 {tokens, engine.tensor({{1, 2, 3}, {9, 0, 2}})}}
  for k, c in ipairs(cases) do
    local model, x = c[1], c[2]
    model:forward(x) -- moves the running statistics away from their start
    model:evaluate()
    local path = ("%s/kinds_%d.h5"):format(dir, k)
    engine.save(path, {model = model})
    local loaded = engine.load(path).model
    loaded:evaluate()
    assert(tostring(loaded) == tostring(model), tostring(loaded) .. "\n" .. tostring(model))
    assert(dump(loaded) == dump(model), "parameters or buffers differ")
    local a, b = model:forward(x), loaded:forward(x)
    local ta, tb = a:reshape({a:numel()}):totable(), b:reshape({b:numel()}):totable()
    for i = 1, #ta do assert(ta[i] == tb[i], "outputs differ at " .. i) end
  end
end
print("test_layers: ok")
