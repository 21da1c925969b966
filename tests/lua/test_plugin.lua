-- C plugins: the example plugin's layers inside Sequential, checked like built-ins (the
-- buggy variant fails with its diagnosis), and broken plugins refused with clear errors.
local H = dofile("helpers.lua")
local engine = require("engine")
local nn, gc = engine.nn, engine.gradcheck
local plugin_dir = assert(os.getenv("PLUGIN_DIR"), "PLUGIN_DIR is set by CTest")
local example_dir = assert(os.getenv("EXAMPLE_PLUGIN_DIR"), "EXAMPLE_PLUGIN_DIR is set by CTest")

-- loading: by path, and by name through ENGINE_PLUGIN_PATH (in a child process)
local info = engine.plugin.load(example_dir .. "/libswish.so")
assert(info.name == "swish" and info.layers[1] == "swish" and info.layers[2] == "scaled_linear")
assert(engine.plugin.load(example_dir .. "/libswish.so").path == info.path, "loaded once")
local p = assert(io.popen(("ENGINE_PLUGIN_PATH='%s' '%s' -e \"print(engine.plugin.load('swish').path)\" 2>&1")
  :format(example_dir, H.engine_bin)))
local out = p:read("a")
local _, _, code = p:close()
assert(code == 0 and out:find("libswish.so", 1, true), out)
engine.plugin.load(example_dir .. "/libswish_buggy.so")

-- forward by hand: swish(x) = x * sigmoid(beta x)
local act = nn.new("swish", {beta = 2.0, dtype = "f64"})
H.near(act:forward(engine.tensor({{1.5}}, "f64")):get(1, 1), 1.5 / (1 + math.exp(-3.0)), 1e-15,
  "swish(1.5)")

-- the checker: the correct kinds pass, the planted bugs fail with their diagnosis
engine.seed(3)
local x, y = engine.randn({4, 6}, "f64"), engine.tensor({0, 1, 2, 1}, "i64")
local function net(prefix)
  return nn.Sequential{
    nn.new(prefix .. "scaled_linear", {in_features = 6, out_features = 5, scale = 2,
                                       dtype = "f64"}),
    nn.new(prefix .. "swish", {beta = 1.2, dtype = "f64"}),
    nn.Linear(5, 3, {dtype = "f64"}),
  }
end
local r = gc.check(net(""), nn.CrossEntropyLoss(), x, y)
assert(r.verdict == "PASS", tostring(r))
r = gc.check(net("buggy_"), nn.CrossEntropyLoss(), x, y)
assert(r.verdict == "FAIL" and r.first_failing == "buggy_scaled_linear_1.weight", tostring(r))
assert(r.tensors["buggy_scaled_linear_1.weight"].diagnosis:find("scale 0.5", 1, true))
assert(r.tensors["buggy_swish_1.beta"].diagnosis:find("scale 2", 1, true))
r = gc.check_layers(net("buggy_"), x)
assert(r.summary:find("buggy_scaled_linear_1", 1, true), tostring(r))

-- and it trains inside a Sequential
local model = net("")
local opt = engine.optim.SGD(model, {lr = 0.5})
local crit = nn.CrossEntropyLoss()
local first, last
for step = 1, 30 do
  opt:zero_grad()
  last = crit:forward(model:forward(x), y)
  first = first or last
  model:backward(crit:backward())
  opt:step()
end
assert(last < 0.5 * first, ("training: loss %g -> %g"):format(first, last))

-- broken plugins
H.check_error("built for plugin ABI version 4, this engine has version 3",
  engine.plugin.load, plugin_dir .. "/libplugin_bad_abi.so")
H.check_error("no engine_plugin_init function", engine.plugin.load,
  plugin_dir .. "/libplugin_bad_no_init.so")
H.check_error("engine_plugin_init failed (ENG_EARG): init_error: the license file is missing",
  engine.plugin.load, plugin_dir .. "/libplugin_bad_init_error.so")
H.check_error("layer kind 'three' has no ops->forward (a required slot)", engine.plugin.load,
  plugin_dir .. "/libplugin_bad_null_slot.so")
H.check_error("no such file", engine.plugin.load, plugin_dir .. "/nothing.so")
H.check_error("cannot load", engine.plugin.load, arg[0]) -- not a shared library
engine.plugin.load(plugin_dir .. "/libplugin_good.so")
H.check_error("no layer kind 'nope'", nn.new, "nope")
local three = nn.new("three", {dtype = "f64"})
H.check_error("three: x [2,4], expected [N,3]", three.forward, three, engine.zeros({2, 4}, "f64"))
H.check_error("three: unknown setting 'flag' (its settings: none)", nn.new, "three", {flag = "yes"})

-- a plugin kind's settings are checked against its declaration, from Lua and from a file
H.check_error("scaled_linear: setting 'in_features' must be an integer, got 1.5", nn.new,
  "scaled_linear", {in_features = 1.5, out_features = 2})
H.check_error("swish: unknown setting 'bta' (its settings: beta)", nn.new, "swish", {bta = 1})
H.check_error("scaled_linear: setting 'out_features' (an integer) is required", nn.new,
  "scaled_linear", {in_features = 3})
do
  local path = os.tmpname()
  local saved = net("")
  engine.save(path, {model = saved})
  local back = engine.load(path).model
  assert(tostring(back) == tostring(saved), tostring(back))
  local x4 = engine.randn({2, 6}, "f64")
  H.near(back:forward(x4):get(2, 3), saved:forward(x4):get(2, 3), 0, "plugin model reloaded")
  -- a process that has not loaded the plugin is told what is missing, in one line, exit 1
  local pipe = assert(io.popen(("'%s' -e \"engine.load('%s')\" 2>&1"):format(H.engine_bin, path)))
  local out = pipe:read("a")
  local _, _, code = pipe:close()
  assert(code == 1 and out:find("model_config: layer 1: 'scaled_linear_1': unknown layer kind " ..
    "'scaled_linear' (a plugin's kind needs its plugin loaded first)", 1, true), out)
  os.remove(path)
end

-- a plugin's optimizer kind, through optim.new: p -= lr * g
local lin = nn.Linear(2, 1, {dtype = "f64", bias = false})
local m = nn.Sequential{lin}
local w = lin:parameters()[1].value
w:set(1, 1, 1.0)
w:set(1, 2, -2.0)
local opt = engine.optim.new("plain_sgd", m, {lr = 0.5})
opt:zero_grad()
local crit = nn.MSELoss()
crit:forward(m:forward(engine.tensor({{1.0, 1.0}}, "f64")), engine.tensor({{0.0}}, "f64"))
m:backward(crit:backward())
opt:step()
-- y = 1 - 2 = -1, dL/dy = 2y = -2, dL/dw = (-2, -2): w <- (1, -2) + 0.5 * (2, 2) = (2, -1)
H.near(w:get(1, 1), 2.0, 0, "plugin optimizer w1")
H.near(w:get(1, 2), -1.0, 0, "plugin optimizer w2")
print("test_plugin.lua: ok")
