-- Writes the seed corpora of the harnesses (fuzz/corpus/<harness>/): small valid files of each
-- kind, made by the engine itself. Run from the repository root:
--   build/engine fuzz/make_corpus.lua
local nn, optim = engine.nn, engine.optim
local root = "fuzz/corpus/"
for _, d in ipairs{"checkpoint", "h5dataset", "idx", "config", "results"} do
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
engine.sweep.append(root .. "results/two.h5", "lr=0.1", {status = "completed",
  settings = {lr = 0.1}, final = {loss = 0.5}, curves = {loss = {1, 0.7, 0.5}}})
engine.sweep.append(root .. "results/two.h5", "lr=1", {status = "diverged", message = "nan"})
-- format 1 results files, as the engine wrote them before format 2 (tests/fixtures/legacy_results)
for _, pair in ipairs{{"v1_1b0e256.h5", "legacy_vlen.h5"}, {"v1_133b663.h5", "legacy_header.h5"}} do
  local f = assert(io.open("tests/fixtures/legacy_results/" .. pair[1], "rb"))
  write("results/" .. pair[2], f:read("a"))
  f:close()
end
print("corpus written under " .. root)
