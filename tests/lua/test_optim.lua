-- engine.optim: SGD steps checked against torch.optim.SGD's update worked out by hand; the
-- adaptive optimizers, schedules, clipping and the NaN/Inf guard through their Lua surface
-- (their numbers against PyTorch are checked in tests/test_optim.c, test_schedule.c,
-- test_clip.c); error messages.
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

H.section("RMSprop, Adam, AdamW, Adagrad: defaults, one step by hand, state")
do
  local model = nn.Sequential{nn.Linear(2, 1, {bias = false, dtype = "f64"})}
  local p = model:parameters()[1]
  local expected_defaults = {
    RMSprop = "RMSprop(lr=0.01, alpha=0.99, eps=1e-08, weight_decay=0, momentum=0, " ..
      "centered=false; 1 tensors, 0 steps)",
    Adam = "Adam(lr=0.001, beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0, " ..
      "amsgrad=false; 1 tensors, 0 steps)",
    AdamW = "AdamW(lr=0.001, beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0.01, " ..
      "amsgrad=false; 1 tensors, 0 steps)",
    Adagrad = "Adagrad(lr=0.01, lr_decay=0, weight_decay=0, initial_accumulator_value=0, " ..
      "eps=1e-10; 1 tensors, 0 steps)",
  }
  for name, text in pairs(expected_defaults) do
    local opt = optim[name](model)
    assert(tostring(opt) == text, tostring(opt))
    assert(opt:kind() == name:lower())
  end

  -- Adam, lr 0.1, g = 0.5: the first step is lr / (1 + eps / 0.5) whatever g's size
  p.value:fill(1)
  local opt = optim.Adam(model, {lr = 0.1})
  p.grad:fill(0.5)
  opt:step()
  check_tensor(p.value, {{1 - 0.1 / (1 + 2e-8), 1 - 0.1 / (1 + 2e-8)}}, 1e-15, "Adam step 1")
  local st = opt:state()
  assert(st.step == 1)
  check_tensor(st["linear_1.weight"].exp_avg, {{0.05, 0.05}}, 1e-16, "exp_avg")
  check_tensor(st["linear_1.weight"].exp_avg_sq, {{0.00025, 0.00025}}, 1e-18, "exp_avg_sq")
  assert(st["linear_1.weight"].max_exp_avg_sq == nil, "max_exp_avg_sq only with amsgrad")
  local s = opt:settings()
  assert(s.lr == 0.1 and s.beta1 == 0.9 and s.beta2 == 0.999 and s.amsgrad == false)

  -- AdamW with a zero gradient only decays: p (1 - lr wd) per step
  p.value:fill(2)
  p.grad:fill(0)
  opt = optim.AdamW(model, {lr = 0.1, weight_decay = 0.5, betas = {0.8, 0.9}, amsgrad = true})
  opt:step()
  check_tensor(p.value, {{1.9, 1.9}}, 1e-15, "AdamW decoupled decay")
  assert(opt:state()["linear_1.weight"].max_exp_avg_sq, "amsgrad keeps max_exp_avg_sq")
  assert(opt:settings().beta1 == 0.8 and opt:settings().amsgrad == true)

  -- Adagrad, initial_accumulator_value 5, g = 2: sum = 9, p = 1 - 0.5 * 2 / 3
  p.value:fill(1)
  p.grad:fill(2)
  opt = optim.Adagrad(model, {lr = 0.5, initial_accumulator_value = 5, eps = 0})
  opt:step()
  check_tensor(p.value, {{2 / 3, 2 / 3}}, 1e-15, "Adagrad step")
  check_tensor(opt:state()["linear_1.weight"].sum, {{9, 9}}, 0, "Adagrad sum")

  -- RMSprop centered with momentum, alpha 0.75, g = 2: square_avg 1, grad_avg 0.5,
  -- avg = sqrt(0.75), buf = 2 / avg, p = 1 - 0.1 buf
  p.value:fill(1)
  opt = optim.RMSprop(model, {lr = 0.1, alpha = 0.75, eps = 0, centered = true, momentum = 0.9})
  opt:step()
  check_tensor(p.value, {{1 - 0.2 / math.sqrt(0.75), 1 - 0.2 / math.sqrt(0.75)}}, 1e-15,
    "RMSprop step")
  local names = {}
  for k in pairs(opt:state()["linear_1.weight"]) do names[#names + 1] = k end
  table.sort(names)
  assert(table.concat(names, ",") == "grad_avg,momentum_buffer,square_avg",
    table.concat(names, ","))

  -- by name
  opt = optim.new("adam", model, {lr = 0.01})
  assert(opt:kind() == "adam" and opt:lr() == 0.01)
  assert(optim.new("sgd", model, {lr = 1}):kind() == "sgd")
  assert(optim.new("adagrad", model):kind() == "adagrad")
end

H.section("schedules")
do
  local model = nn.Sequential{nn.Linear(2, 1)}
  local opt = optim.SGD(model, {lr = 0.1})
  local sched = optim.StepLR(opt, {step_size = 2, gamma = 0.5})
  local seen = {opt:lr()}
  for _ = 1, 5 do seen[#seen + 1] = sched:step() end
  local expected = {0.1, 0.1, 0.05, 0.05, 0.025, 0.025}
  for i = 1, #expected do H.near(seen[i], expected[i], 1e-17, "StepLR lr " .. i) end
  assert(opt:lr() == sched:lr() and sched:last_epoch() == 5)
  assert(tostring(sched) ==
    "StepLR(step_size=2, gamma=0.5; base_lr=0.1, last_epoch=5, lr=0.025)", tostring(sched))

  -- LinearLR warm-up scales the lr at once, then reaches the base lr after total_iters
  opt = optim.Adam(model, {lr = 0.01})
  sched = optim.LinearLR(opt, {start_factor = 0.25, total_iters = 3})
  H.near(opt:lr(), 0.0025, 1e-18, "warm-up start")
  sched:step(); sched:step(); sched:step()
  H.near(opt:lr(), 0.01, 1e-17, "warm-up end")
  sched:step()
  H.near(opt:lr(), 0.01, 1e-17, "after warm-up")

  -- CosineAnnealingLR reaches eta_min at T_max; ExponentialLR; by name
  opt = optim.SGD(model, {lr = 1})
  sched = optim.CosineAnnealingLR(opt, {T_max = 4, eta_min = 0.1})
  for _ = 1, 2 do sched:step() end
  H.near(opt:lr(), 0.55, 1e-15, "cosine half way")
  for _ = 1, 2 do sched:step() end
  H.near(opt:lr(), 0.1, 1e-15, "cosine at T_max")
  sched = optim.scheduler("exponential", opt, {gamma = 0.5})
  sched:step()
  H.near(opt:lr(), 0.05, 1e-16, "exponential")
  assert(tostring(optim.scheduler("cosine", opt, {T_max = 3})):match("^CosineAnnealingLR%(T_max=3"))
  assert(tostring(optim.scheduler("linear", opt)):match("^LinearLR%(start_factor=0.333333"))
  assert(tostring(optim.scheduler("step", opt, {step_size = 1})):match("^StepLR"))

  -- the schedule keeps its optimizer alive; a closed optimizer is refused
  sched = optim.ExponentialLR(optim.SGD(model, {lr = 1}), {gamma = 0.9})
  collectgarbage()
  H.near(sched:step(), 0.9, 1e-16, "optimizer kept alive")
  local o2 = optim.SGD(model, {lr = 1})
  local s2 = optim.StepLR(o2, {step_size = 1})
  getmetatable(o2).__close(o2)
  check_error("optimizer is closed", s2.step, s2)
end

H.section("gradient clipping")
do
  local model = nn.Sequential{nn.Linear(2, 2, {dtype = "f64"})}
  local w, b = model:parameters()[1], model:parameters()[2]
  w.grad:fill(1)   -- 4 elements
  b.grad:fill(-2)  -- 2 elements: total norm sqrt(4 + 8) = sqrt(12)
  local norm = optim.clip_grad_norm(model, 1)
  assert(norm == math.sqrt(12), norm)
  local coef = 1 / (math.sqrt(12) + 1e-6)
  check_tensor(w.grad, {{coef, coef}, {coef, coef}}, 1e-16, "clipped weight gradient")
  check_tensor(b.grad, {-2 * coef, -2 * coef}, 1e-16, "clipped bias gradient")
  H.near(optim.clip_grad_norm(model, 5, {norm_type = math.huge}), 2 * coef, 1e-16, "inf-norm")
  w.grad:fill(3)
  optim.clip_grad_value(model, 0.5)
  check_tensor(w.grad, {{0.5, 0.5}, {0.5, 0.5}}, 0, "clip_grad_value")
  b.grad:set(1, 0 / 0)
  check_error("clip_grad_norm: the total 2-norm of the gradients is nan (gradient of " ..
    "linear_1.bias has nan at flat index 0); nothing was clipped", optim.clip_grad_norm, model,
    1, {error_if_nonfinite = true})
  check_error("clip_grad_norm: max_norm = -1, expected max_norm >= 0", optim.clip_grad_norm,
    model, -1)
  check_error("clip_grad_norm: unknown option 'norm' (expected norm_type, error_if_nonfinite)",
    optim.clip_grad_norm, model, 1, {norm = 2})
  check_error("clip_grad_value: clip_value = -1, expected >= 0", optim.clip_grad_value, model,
    -1)
  check_error("bad argument #2 to '?' (number expected, got no value)", optim.clip_grad_value,
    model)
end

H.section("the NaN/Inf guard")
do
  local model = nn.Sequential{nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)}
  local crit = nn.MSELoss()
  local x, t = engine.tensor({{1, 2}}), engine.tensor({{0}})
  local loss = crit:forward(model:forward(x), t)
  model:backward(crit:backward())
  assert(model:check_finite(1, loss) == model)
  model[3]:parameters()[1].value:set(1, 2, 1 / 0)
  loss = crit:forward(model:forward(x), t)
  check_error("step 2 (loss ", model.check_finite, model, 2, loss)
  check_error("layer 3 'linear_2' (linear): parameter weight has inf at [0,1] of [1,3] " ..
    "(0-based)", model.check_finite, model, 2, loss)
  check_error("bad argument #2 to '?' (number expected, got no value)", model.check_finite,
    model)
end

H.section("errors of the new constructors and schedules")
do
  local model = nn.Sequential{nn.Linear(2, 1)}
  check_error("adam: lr = -0.001, expected lr > 0", optim.Adam, model, {lr = -1e-3})
  check_error("adamw: lr = 0, expected lr > 0", optim.AdamW, model, {lr = 0})
  check_error("rmsprop: lr = -1, expected lr > 0", optim.RMSprop, model, {lr = -1})
  check_error("adagrad: lr = -1, expected lr > 0", optim.Adagrad, model, {lr = -1})
  check_error("rmsprop: alpha = -0.5, expected alpha >= 0", optim.RMSprop, model, {alpha = -0.5})
  check_error("adam: beta1 (betas[1]) = 1, expected 0 <= beta1 < 1", optim.Adam, model,
    {betas = {1, 0.999}})
  check_error("adagrad: lr_decay = -1, expected lr_decay >= 0", optim.Adagrad, model,
    {lr_decay = -1})
  check_error("Adam: option 'betas' must be a table of two numbers {beta1, beta2}, got number",
    optim.Adam, model, {betas = 0.9})
  check_error("Adam: option 'betas' must be a table of two numbers", optim.Adam, model,
    {betas = {0.9}})
  check_error("AdamW: option 'amsgrad' must be a boolean, got number", optim.AdamW, model,
    {amsgrad = 1})
  check_error("Adam: unknown option 'beta1' (expected lr, betas, eps, weight_decay, amsgrad)",
    optim.Adam, model, {beta1 = 0.9})
  check_error("RMSprop: unknown option 'rho' (expected lr, alpha, eps, weight_decay, " ..
    "momentum, centered)", optim.RMSprop, model, {rho = 0.9})
  check_error("Adagrad: option 'eps' must be a number, got string", optim.Adagrad, model,
    {eps = "1e-10"})
  check_error("optim.new: unknown optimizer 'adamax' (expected sgd, rmsprop, adam, adamw, " ..
    "adagrad, or a kind of a loaded plugin)", optim.new, "adamax", model, {})
  check_error("engine.Sequential expected, got no value", optim.Adam)

  local opt = optim.SGD(model, {lr = 0.1})
  check_error("StepLR: option 'step_size' is required", optim.StepLR, opt, {gamma = 0.5})
  check_error("StepLR: option 'step_size' must be an integer, got number", optim.StepLR, opt,
    {step_size = 2.5})
  check_error("StepLR: step_size = 0, expected >= 1", optim.StepLR, opt, {step_size = 0})
  check_error("StepLR: unknown option 'step' (expected step_size, gamma)", optim.StepLR, opt,
    {step = 3})
  check_error("ExponentialLR: option 'gamma' is required", optim.ExponentialLR, opt, {})
  check_error("ExponentialLR: gamma = -1, expected gamma > 0", optim.ExponentialLR, opt,
    {gamma = -1})
  check_error("CosineAnnealingLR: unknown option 't_max' (expected T_max, eta_min)",
    optim.CosineAnnealingLR, opt, {t_max = 10})
  check_error("CosineAnnealingLR: option 'T_max' is required", optim.CosineAnnealingLR, opt,
    {eta_min = 0})
  check_error("LinearLR: start_factor = 0, expected 0 < start_factor <= 1", optim.LinearLR,
    opt, {start_factor = 0})
  check_error("optim.scheduler: unknown schedule 'cos' (expected step, exponential, cosine, " ..
    "linear)", optim.scheduler, "cos", opt, {})
  check_error("engine.Optimizer expected, got engine.Sequential", optim.StepLR, model,
    {step_size = 1})
  assert(opt:lr() == 0.1, "failed constructions leave the lr alone")
end

print("test_optim: ok")
