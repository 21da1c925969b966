-- Every userdata box (bindings/l_box.c): a wrong argument names the expected type and the
-- argument, a closed box says so, and closing twice (__close, then __gc) is harmless.
local H = dofile("helpers.lua")
local engine = require("engine")
local nn, optim = engine.nn, engine.optim

H.section("a wrong argument names the metatable and the argument")
do
  local model = nn.Sequential(nn.Linear(2, 1))
  local crit = nn.MSELoss()
  local ds = engine.data.dataset(engine.zeros({4, 2}), engine.zeros({4}, "i64"))
  local opt = optim.SGD(model, {lr = 0.1})
  local sched = optim.StepLR(opt, {step_size = 1})
  local cases = {
    {"engine.Tensor", model.forward, model, nil},
    {"engine.Layer", model[1].forward, nil},
    {"engine.Sequential", model.forward, engine.zeros({1})},
    {"engine.Loss", crit.forward, model},
    {"engine.Optimizer", opt.step, crit},
    {"engine.Scheduler", sched.step, opt},
    {"engine.Dataset", ds.batches, 3, 2},
  }
  for _, c in ipairs(cases) do
    local want = c[1]
    local ok, err = pcall(c[2], table.unpack(c, 3, 4))
    assert(not ok, want)
    assert(err:find("bad argument #", 1, true) and err:find(want .. " expected", 1, true),
      ("%s: %s"):format(want, err))
  end
end

H.section("a closed box is refused with a clear message; closing twice is harmless")
do
  local function closed(make)
    local kept
    do
      local x <close> = make()
      kept = x
    end
    return kept
  end
  local t = closed(function() return engine.zeros({2}) end)
  H.check_error("(tensor is closed)", t.numel, t)
  local l = closed(function() return nn.ReLU() end)
  H.check_error("layer is closed", l.forward, l, engine.zeros({1}))
  local m = closed(function() return nn.Sequential(nn.ReLU()) end)
  H.check_error("model is closed", m.forward, m, engine.zeros({1}))
  local c = closed(function() return nn.MSELoss() end)
  H.check_error("loss is closed", c.forward, c, engine.zeros({1}), engine.zeros({1}))
  local d = closed(function()
    return engine.data.dataset(engine.zeros({4, 2}), engine.zeros({4}, "i64"))
  end)
  H.check_error("dataset is closed", d.batches, d, 2)
  local o = closed(function() return optim.SGD(nn.Sequential(nn.Linear(1, 1)), {lr = 1}) end)
  H.check_error("optimizer is closed", o.step, o)
  -- the tostring of a closed box, and the collector finding the already closed boxes
  assert(tostring(t) == "tensor(closed)", tostring(t))
  assert(tostring(l) == "Layer(closed)", tostring(l))
  t, l, m, c, d, o = nil, nil, nil, nil, nil, nil
  collectgarbage()
  collectgarbage()
end
print("test_boxes: ok")
