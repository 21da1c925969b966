-- Checkpoints: a save read back in a new process gives the same bits; a run resumed from a
-- checkpoint at step k matches an uninterrupted run at step k + m bit for bit, for every
-- optimizer kind engine.optim offers, in f32 and f64; meta, rebuild and in-process errors.
local H = dofile((arg[0]:match("(.*/)") or "") .. "helpers.lua")
local engine = require("engine")
local nn, optim = engine.nn, engine.optim
local check_error = H.check_error

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))

-- The experiment, shared by this process (the uninterrupted run) and the subprocesses (saving
-- at step k, resuming from the file): a small CNN with dropout, a fresh shuffled batch drawn
-- from the global generator at every step, so that the generators' states matter too.
local experiment = [==[
local engine = require("engine")
local nn, optim = engine.nn, engine.optim
local E = {}

function E.data(dtype)
  engine.seed(7)
  local x = engine.randn({32, 1, 8, 8}):to(dtype)
  local labels = {}
  for i = 1, 32 do labels[i] = (i * 7) % 10 end
  return engine.data.dataset(x, engine.tensor(labels, "i64"))
end

function E.model(dtype)
  return nn.Sequential{nn.Conv2d(1, 4, 3, {padding = 1, dtype = dtype}), nn.ReLU(),
    nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.25), nn.Linear(64, 10, {dtype = dtype})}
end

function E.options(kind)
  local o = {lr = 0.01}
  if kind == "SGD" then o.lr, o.momentum = 0.05, 0.9 end
  return o
end

function E.train(model, opt, ds, steps, dtype)
  local crit = nn.CrossEntropyLoss()
  for _ = 1, steps do
    for x, y in ds:batches(8, {shuffle = true, dtype = dtype}) do
      opt:zero_grad()
      crit:forward(model:forward(x), y)
      model:backward(crit:backward())
      opt:step()
      break
    end
  end
end

-- Every parameter, element by element, as exact hexadecimal floats.
function E.dump(model)
  local out = {}
  for _, p in ipairs(model:parameters()) do
    local flat = p.value:reshape({p.value:numel()}):totable()
    for i = 1, #flat do flat[i] = ("%a"):format(flat[i]) end
    out[#out + 1] = p.name .. " " .. table.concat(flat, " ")
  end
  return table.concat(out, "\n")
end
return E
]==]
local experiment_path = dir .. "/experiment.lua"
do
  local f = assert(io.open(experiment_path, "w"))
  f:write(experiment)
  f:close()
end
local E = dofile(experiment_path)

-- Runs source in a new engine process with arguments; returns its stdout, failing on errors.
local function subprocess(source, ...)
  local args = {}
  for i, a in ipairs({...}) do args[i] = "'" .. tostring(a) .. "'" end
  local out, code = H.run_script(source, "2>&1", table.concat(args, " "))
  if code ~= 0 then error("subprocess failed:\n" .. out, 2) end
  return out
end

local save_at_k = ([==[
local E = dofile(%q)
local kind, dtype, k, path = ...
local ds, model = E.data(dtype), E.model(dtype)
local opt = engine.optim[kind](model, E.options(kind))
E.train(model, opt, ds, tonumber(k), dtype)
engine.save(path, {model = model, optimizer = opt, meta = {epoch = 1, kind = kind}})
io.write(E.dump(model))
]==]):format(experiment_path)

local resume = ([==[
local E = dofile(%q)
local kind, dtype, m, path = ...
local ds = E.data(dtype)
local ckpt = engine.load(path)             -- rebuilds the model, restores the generator
io.write(E.dump(ckpt.model), "\n--\n")
local opt = engine.optim[kind](ckpt.model, E.options(kind))
opt:load(path)
assert(opt:steps() == ckpt.meta.step, "steps restored")
E.train(ckpt.model, opt, ds, tonumber(m), dtype)
io.write(E.dump(ckpt.model))
]==]):format(experiment_path)

-- The optimizer kinds: every constructor in engine.optim that makes an optimizer from a model.
local kinds = {}
do
  local probe = nn.Sequential{nn.Linear(2, 2)}
  for name, ctor in pairs(optim) do
    if type(ctor) == "function" and name:match("^%u") then
      local ok, opt = pcall(ctor, probe, E.options(name))
      if ok and type(opt) == "userdata" and pcall(function() return opt:steps() end) then
        kinds[#kinds + 1] = name
      end
    end
  end
  table.sort(kinds)
  assert(#kinds >= 1 and kinds[1], "no optimizer kinds found")
end
io.write("  optimizer kinds: ", table.concat(kinds, ", "), "\n")

H.section("save, load in a new process: identical bits; resume at k: identical bits at k + m")
local K, M = 3, 4
for _, kind in ipairs(kinds) do
  for _, dtype in ipairs({"f32", "f64"}) do
    local path = ("%s/%s_%s.h5"):format(dir, kind, dtype)
    local saved = subprocess(save_at_k, kind, dtype, K, path)
    local out = subprocess(resume, kind, dtype, M, path)
    local loaded, resumed = out:match("^(.-)\n%-%-\n(.*)$")
    assert(loaded == saved, kind .. " " .. dtype .. ": the loaded parameters differ from the saved")
    -- the uninterrupted run, here
    local ds, model = E.data(dtype), E.model(dtype)
    local opt = optim[kind](model, E.options(kind))
    E.train(model, opt, ds, K + M, dtype)
    local straight = E.dump(model)
    assert(resumed == straight, ("%s %s: resumed run differs from the uninterrupted one")
      :format(kind, dtype))
    assert(saved ~= straight, "the steps after k changed the parameters")
    io.write(("  ok   %s %s\n"):format(kind, dtype))
  end
end

H.section("engine.load: meta, optimizer info, rebuilt model with names, dtype and values")
do
  engine.seed(1)
  local model = nn.Sequential{nn.Conv2d(1, 2, 3, {name = "features", stride = 2, bias = false}),
    nn.LeakyReLU(0.2), nn.AvgPool2d(2), nn.Tanh(), nn.Sigmoid(), nn.Flatten(),
    nn.Linear(2, 3, {dtype = "f32", name = "head"})}
  local opt = optim.SGD(model, {lr = 0.1, momentum = 0.5, nesterov = true})
  local path = dir .. "/meta.h5"
  engine.save(path, {model = model, optimizer = opt, meta = {
    epoch = 3, note = "naïve ünïcode", flag = false, ratio = 0.25, losses = {1.5, 0.5},
    nested = {deeper = {x = 1}}}})
  local ckpt = engine.load(path)
  local meta = ckpt.meta
  assert(meta.step == 0 and math.type(meta.step) == "integer", "step defaults to opt:steps()")
  assert(meta.epoch == 3 and math.type(meta.epoch) == "integer")
  assert(meta.note == "naïve ünïcode" and meta.flag == false and meta.ratio == 0.25)
  assert(#meta.losses == 2 and meta.losses[1] == 1.5 and meta.losses[2] == 0.5)
  assert(meta.nested.deeper.x == 1)
  assert(ckpt.optimizer.kind == "sgd" and ckpt.optimizer.momentum == 0.5 and
         ckpt.optimizer.steps == 0)
  assert(ckpt.engine_version == engine.version and ckpt.created:match("^%d+%-%d+%-%d+T"))
  assert(tostring(ckpt.model) == tostring(model), "rebuilt:\n" .. tostring(ckpt.model))
  assert(ckpt.model[1]:name() == "features" and ckpt.model[7]:name() == "head")
  assert(E.dump(ckpt.model) == E.dump(model))
  local only = engine.load(path, {model = false})
  assert(only.model == nil and only.meta.epoch == 3)
end

H.section("load errors name the first mismatch (in process)")
do
  local function mlp(out, dtype, bias)
    return nn.Sequential{nn.Linear(4, out, {dtype = dtype, bias = bias}), nn.ReLU()}
  end
  local path = dir .. "/mlp.h5"
  engine.save(path, {model = mlp(3, "f32")})
  check_error("has shape [3,4] in the file, but the model's linear_1.weight is [2,4]",
    function() mlp(2, "f32"):load(path) end)
  check_error("/model/linear_1/weight is f32 in the file, but the model's linear_1.weight is f64",
    function() mlp(3, "f64"):load(path) end)
  check_error("/model/linear_1/bias is in the file, but the model's linear_1 (linear) has no " ..
    "parameter 'bias'", function() mlp(3, "f32", false):load(path) end)
  engine.save(path, {model = mlp(3, "f32", false)})
  check_error("missing dataset /model/linear_1/bias", function() mlp(3, "f32"):load(path) end)
  check_error("layer 2 'relu_1' is tanh in the model but relu in the file", function()
    nn.Sequential{nn.Linear(4, 3, {bias = false}), nn.Tanh({name = "relu_1"})}:load(path) end)
  check_error("the model has 1 layers, the file 2", function()
    nn.Sequential{nn.Linear(4, 3, {bias = false})}:load(path) end)
  check_error("no optimizer state in this checkpoint", function()
    optim.SGD(mlp(3, "f32", false), {lr = 1}):load(path) end)
  local m = mlp(3, "f32")
  engine.save(path, {model = m, optimizer = optim.SGD(m, {lr = 1, momentum = 0.9})})
  check_error("sgd's momentum is 0.90000000000000002 in the file but 0.5 in this optimizer",
    function() optim.SGD(m, {lr = 1, momentum = 0.5}):load(path) end)
  if optim.Adam then
    check_error("the checkpoint holds a sgd optimizer, this one is adam",
      function() optim.Adam(m, {lr = 1}):load(path) end)
  end
  check_error("save: meta.f is a function", function()
    engine.save(path, {model = m, meta = {f = print}}) end)
  check_error("nothing.h5: cannot open the checkpoint: No such file or directory",
    function() engine.load(dir .. "/nothing.h5") end)
end

assert(os.execute("rm -rf '" .. dir .. "'"))
print("test_checkpoint: ok")
