-- engine.optim: SGD steps checked against torch.optim.SGD's update worked out by hand.
local H = dofile((arg[0]:match("(.*/)") or "") .. "helpers.lua")
local engine = require("engine")
local nn, optim = engine.nn, engine.optim
local check_error, check_tensor = H.check_error, H.check_tensor

-- A one-weight-row model y = x W^T (f64 so the hand values compare to 1e-12).
local function make_model(w)
  local lin = nn.Linear(2, 1, {bias = false, dtype = "f64"})
  local p = lin:parameters()[1]
  p.value:set(1, 1, w[1])
  p.value:set(1, 2, w[2])
  return nn.Sequential{lin}, p
end

H.section("one momentum step from a real backward")
do
  local model, p = make_model({1, -1})
  local opt = optim.SGD(model, {lr = 0.1, momentum = 0.9})
  local crit = nn.MSELoss()
  -- x = (1, 2), target 0: y = 1 - 2 = -1, loss = 1, dL/dy = 2 (y - t) = -2, dW = -2 x
  opt:zero_grad()
  local loss = crit:forward(model:forward(engine.tensor({{1, 2}}, "f64")),
    engine.tensor({{0}}, "f64"))
  H.near(loss, 1, 1e-12, "loss")
  model:backward(crit:backward())
  check_tensor(p.grad, {{-2, -4}}, 1e-12, "gradient")
  opt:step()
  -- first step: buf = g; W = W - lr buf = (1 + 0.2, -1 + 0.4)
  check_tensor(p.value, {{1.2, -0.6}}, 1e-12, "after step 1")
  assert(opt:steps() == 1)

  -- second step with a gradient set by hand, g = (1, 1):
  -- buf = 0.9 (-2, -4) + (1, 1) = (-0.8, -2.6); W = (1.2 + 0.08, -0.6 + 0.26)
  opt:zero_grad()
  check_tensor(p.grad, {{0, 0}}, 0, "zero_grad zeroes the model's gradients")
  p.grad:fill(1)
  opt:step()
  check_tensor(p.value, {{1.28, -0.34}}, 1e-12, "after step 2")
end

H.section("dampening, nesterov and weight decay")
do
  -- weight decay 0.1, no momentum: d = g + 0.1 W = (-2 + 0.1, -4 - 0.1); W -= 0.1 d
  local model, p = make_model({1, -1})
  local opt = optim.SGD(model, {lr = 0.1, weight_decay = 0.1})
  p.grad:set(1, 1, -2)
  p.grad:set(1, 2, -4)
  opt:step()
  check_tensor(p.value, {{1.19, -0.59}}, 1e-12, "weight decay")

  -- nesterov, momentum 0.5, g = (2, 4) twice:
  -- step 1: buf = g; d = g + 0.5 buf = (3, 6); W = (1, -1) - 0.1 d = (0.7, -1.6)
  -- step 2: buf = 0.5 (2, 4) + (2, 4) = (3, 6); d = g + 0.5 buf = (3.5, 7);
  --         W = (0.7 - 0.35, -1.6 - 0.7) = (0.35, -2.3)
  model, p = make_model({1, -1})
  opt = optim.SGD(model, {lr = 0.1, momentum = 0.5, nesterov = true})
  p.grad:set(1, 1, 2)
  p.grad:set(1, 2, 4)
  opt:step()
  check_tensor(p.value, {{0.7, -1.6}}, 1e-12, "nesterov step 1")
  opt:step()
  check_tensor(p.value, {{0.35, -2.3}}, 1e-12, "nesterov step 2")

  -- dampening 0.5, momentum 0.9, g = (2, 4) twice: step 2 buf = 0.9 g + 0.5 g = 1.4 g
  -- W = (1, -1) - 0.1 (2, 4) - 0.1 (2.8, 5.6) = (0.52, -1.96)
  model, p = make_model({1, -1})
  opt = optim.SGD(model, {lr = 0.1, momentum = 0.9, dampening = 0.5})
  p.grad:set(1, 1, 2)
  p.grad:set(1, 2, 4)
  opt:step()
  opt:step()
  check_tensor(p.value, {{0.52, -1.96}}, 1e-12, "dampening")
end

H.section("learning rate, f32, tostring")
do
  local model = nn.Sequential{nn.Linear(2, 1, {bias = false})}
  local p = model:parameters()[1]
  p.value:fill(1)
  local opt = optim.SGD(model, {lr = 0.5})
  assert(opt:lr() == 0.5)
  assert(opt:set_lr(0.25) == opt and opt:lr() == 0.25)
  p.grad:fill(2)
  opt:step()
  check_tensor(p.value, {{0.5, 0.5}}, 0, "f32 step with the new lr")
  assert(tostring(opt):match("^SGD%(lr=0.25, momentum=0"))
end

H.section("errors")
do
  local model = nn.Sequential{nn.Linear(2, 1)}
  check_error("SGD: option 'lr' is required", optim.SGD, model, {momentum = 0.9})
  check_error("SGD: unknown option 'moment' (expected lr, momentum, dampening, weight_decay, " ..
    "nesterov)", optim.SGD, model, {lr = 0.1, moment = 0.9})
  check_error("SGD: option 'lr' must be a number, got string", optim.SGD, model, {lr = "x"})
  check_error("sgd: lr = -1, expected lr > 0", optim.SGD, model, {lr = -1})
  check_error("sgd: nesterov needs momentum > 0 and dampening = 0", optim.SGD, model,
    {lr = 0.1, nesterov = true})
  check_error("engine.Sequential expected, got engine.Layer", optim.SGD, nn.ReLU(), {lr = 1})
  check_error("table expected, got no value", optim.SGD, model)
  local opt = optim.SGD(model, {lr = 0.1})
  check_error("learning rate must be > 0", opt.set_lr, opt, 0)
end

print("test_optim: ok")
