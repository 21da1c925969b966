-- Writes the seed corpora of the harnesses (fuzz/corpus/<harness>/): small valid files of each
-- kind, made by the engine itself. Run from the repository root:
--   build/engine fuzz/make_corpus.lua
local nn, optim = engine.nn, engine.optim
local root = "fuzz/corpus/"
for _, d in ipairs{"checkpoint", "h5dataset", "idx", "config", "results", "report"} do
  assert(os.execute("mkdir -p " .. root .. d))
end
local function write(path, s)
  local f = assert(io.open(root .. path, "wb"))
  f:write(s)
  f:close()
end
engine.seed(1)
local m = nn.Sequential{nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 2)}
engine.save(root .. "checkpoint/mlp.h5", {model = m, optimizer = optim.SGD(m, {lr = 0.1,
  momentum = 0.9}), meta = {epoch = 2, note = "seed", nested = {a = {1, 2}, ok = true}}})
local c = nn.Sequential{nn.Conv2d(1, 2, 3), nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5),
  nn.Linear(2, 2)}
engine.save(root .. "checkpoint/cnn_adam.h5", {model = c, optimizer = optim.Adam(c)})
engine.save(root .. "checkpoint/meta_only.h5", {meta = {x = 1.5, s = "text", t = {u = {v = 1}}}})
engine.data.write(root .. "h5dataset/tiny.h5", {
  train = {x = engine.tensor({{{{1, 2}, {3, 4}}}, {{{5, 6}, {7, 8}}}, {{{9, 10}, {11, 12}}}}, "u8"),
           y = engine.tensor({0, 1, 2}, "i64")}}, {classes = {"a", "b", "c"}})
engine.data.write(root .. "h5dataset/f32.h5", {
  train = {x = engine.randn({4, 1, 2, 2}), y = engine.tensor({1, 0, 1, 0}, "i64")}})
local idx = string.char(0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2) ..
  string.char(0, 1, 2, 3, 4, 5, 6, 7)
write("idx/images.idx", idx)
write("idx/labels.idx", string.char(0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9))
assert(os.execute(("gzip -cn9 %sidx/images.idx > %sidx/images.idx.gz"):format(root, root)))
write("config/mlp.json", '{"kind": "sequential", "dtype": "f32", "layers": [' ..
  '{"name": "linear_1", "config": {"kind": "linear", "in_features": 3, "out_features": 2, ' ..
  '"bias": true}}, {"name": "relu_1", "config": {"kind": "relu"}}]}')
write("config/cnn.json", '{"kind": "sequential", "dtype": "f64", "layers": [' ..
  '{"name": "conv2d_1", "config": {"kind": "conv2d", "in_channels": 1, "out_channels": 2, ' ..
  '"kernel_size": [3, 3], "stride": [1, 1], "padding": [0, 0], "dilation": [1, 1], ' ..
  '"bias": true}}, {"name": "dropout_1", "config": {"kind": "dropout", "p": 0.5}}, ' ..
  '{"name": "leaky_relu_1", "config": {"kind": "leaky_relu", "negative_slope": 0.01}}]}')
os.remove(root .. "results/two.h5") -- appended to: made anew
engine.sweep.append(root .. "results/two.h5", "lr=0.1", {status = "completed",
  settings = {lr = 0.1}, final = {loss = 0.5}, curves = {loss = {1, 0.7, 0.5}}})
engine.sweep.append(root .. "results/two.h5", "lr=1", {status = "diverged", message = "nan"})
-- format 1 results files, as the engine wrote them before format 2 (tests/fixtures/legacy_results)
for _, pair in ipairs{{"v1_1b0e256.h5", "legacy_vlen.h5"}, {"v1_133b663.h5", "legacy_header.h5"}} do
  local f = assert(io.open("tests/fixtures/legacy_results/" .. pair[1], "rb"))
  write("results/" .. pair[2], f:read("a"))
  f:close()
end
-- saved gradient-check reports: each kind of check, each option saved, a Lua criterion; as
-- files, and their /meta trees as JSON (fuzz_report.c writes those beside the same model)
local gc = engine.gradcheck
local g = nn.Sequential{nn.Linear(4, 3, {dtype = "f64"}), nn.ReLU(), nn.Linear(3, 2, {dtype = "f64"})}
local gx, gy = engine.randn({2, 4}, "f64"), engine.tensor({0, 1}, "i64")
local reports = {
  element = gc.check(g, nn.CrossEntropyLoss(), gx, gy, {samples = 2, seed = 3, worst = 2,
    only = "linear_2", step = 1e-6, rtol = 1e-5, nsigma = 4}),
  directional = gc.check(g, nn.MSELoss(), gx, engine.randn({2, 2}, "f64"), {mode = "directional",
    directions = 3, input = true, exclude = "linear_1.bias", loss_scale = 4, localise = false}),
  layers = gc.check_layers(g, gx, {full = true}),
  lua = gc.check(g, {forward = function(_, i) return (i * i):sum() end,
                     backward = function(_, i) return i * 2 end}, gx, gy),
}
local function json(v)
  if type(v) == "table" then
    local parts = {}
    if #v > 0 then
      for _, e in ipairs(v) do parts[#parts + 1] = json(e) end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do parts[#parts + 1] = ("%q:%s"):format(k, json(v[k])) end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif type(v) == "string" then
    return ("%q"):format(v)
  elseif math.type(v) == "integer" then
    return ("%d"):format(v)
  elseif type(v) == "number" then
    return ("%.17g"):format(v)
  end
  return tostring(v)
end
for name, r in pairs(reports) do
  r:save(root .. "report/" .. name .. ".h5")
  write("report/" .. name .. ".json", json(engine.load(root .. "report/" .. name .. ".h5").meta))
end
-- nested containers: a residual inside a concat inside a sequential layer
local block = nn.Sequential{nn.Linear(2, 2), nn.ReLU()}
local nested = nn.Sequential{nn.Linear(3, 2), nn.Sequential{nn.Concat(2, nn.Residual(block),
  nn.Linear(2, 2))}, nn.Linear(4, 2)}
engine.save(root .. "checkpoint/nested.h5", {model = nested})
write("config/nested.json", '{"kind": "sequential", "dtype": "f32", "layers": [' ..
  '{"name": "sequential_1", "config": {"kind": "sequential"}, "children": [[' ..
  '{"name": "residual_1", "config": {"kind": "residual"}, "children": [[' ..
  '{"name": "linear_1", "config": {"kind": "linear", "in_features": 2, "out_features": 2, ' ..
  '"bias": true}}], [{"name": "relu_1", "config": {"kind": "relu"}}]]}]]}]}')
-- too deep: containers one level past the limit (16), and JSON arrays 30000 deep
local function nest(k, n)
  if k > n then return '{"name": "relu_1", "config": {"kind": "relu"}}' end
  return ('{"name": "s%d", "config": {"kind": "sequential"}, "children": [[%s]]}'):format(k,
    nest(k + 1, n))
end
write("config/deep17.json", '{"kind": "sequential", "dtype": "f32", "layers": [' .. nest(1, 17) ..
  ']}')
write("config/deep_arrays.json", '{"kind": "sequential", "dtype": "f32", "layers": ' ..
  string.rep("[", 30000) .. string.rep("]", 30000) .. '}')
print("corpus written under " .. root)
