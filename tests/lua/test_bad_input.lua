-- The bad-input catalogue (issue 13): what a careful user and an attacker would try, across the
-- command line, tensors, layers, checkpoints, datasets, optimizers, sweeps and plugins. Every
-- case runs the engine host as a new process and expects either
--   * exit status 1 with a one-line message (the first line, then only the traceback) that
--     contains every expected piece: the file, field or setting it is about; or
--   * exit status 0 and the correct output (ok = ...).
-- A crash, a hang (each case has 60 s), another status or a second line of message fails.
-- It runs under ASan + UBSan in CI (scripts/dev test --sanitize).
local H = dofile("helpers.lua")
local engine = require("engine")

local bin = H.engine_bin
local bindir = bin:match("(.*)/") or "."
local D = os.tmpname()
os.remove(D)
assert(os.execute("mkdir -p '" .. D .. "'"))

-- ---- fixtures, made here with the engine itself ----
local nn = engine.nn
local function write(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
end
local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end
local model = nn.Sequential{nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)}
local opt = engine.optim.SGD(model, {lr = 0.1, momentum = 0.9})
engine.save(D .. "/good.h5", {model = model, optimizer = opt, meta = {epoch = 3, note = "hi"}})
local good = read(D .. "/good.h5")
local function variant(name, bytes) write(D .. "/" .. name, bytes) end
variant("cut100.h5", good:sub(1, 100))
variant("cut511.h5", good:sub(1, 511))
variant("cut600.h5", good:sub(1, 600))
variant("cut_half.h5", good:sub(1, #good // 2))
variant("cut_last.h5", good:sub(1, #good - 1))
variant("longer.h5", good .. "\0")
variant("empty.h5", "")
for _, at in ipairs{1, 20, 600, #good // 2, #good - 10} do
  local b = good:byte(at)
  variant(("flip%d.h5"):format(at), good:sub(1, at - 1) .. string.char(b ~ 0x20) .. good:sub(at + 1))
end
variant("hdf5_only.h5", good:sub(513)) -- an HDF5 file without the engine's header
local images = {}
for i = 0, 159 do images[#images + 1] = string.char(i) end
local idx = string.char(0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 4, 0, 0, 0, 4) .. table.concat(images)
variant("images.idx", idx)
variant("cut.idx", idx:sub(1, 100))
variant("magic.idx", string.char(0, 0, 9, 3) .. idx:sub(5))
variant("zero_dims.idx", string.char(0, 0, 8, 0))
variant("nine_dims.idx", string.char(0, 0, 8, 9) .. string.rep("\0\0\0\1", 9))
variant("claims.idx", string.char(0, 0, 8, 2, 0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0))
assert(os.execute(("gzip -kn9 '%s/images.idx'"):format(D)))
local gz = read(D .. "/images.idx.gz")
variant("cut1.gz", gz:sub(1, #gz - 1))
variant("cut8.gz", gz:sub(1, #gz - 8))
variant("cut_deep.gz", gz:sub(1, #gz // 2))
variant("garbage.gz", "\31\139\8\0" .. string.rep("x", 40))
engine.data.write(D .. "/data.h5", {train = {x = engine.zeros({6, 1, 2, 2}, "u8"),
  y = engine.tensor({0, 1, 2, 0, 1, 2}, "i64")}}, {classes = {"a", "b", "c"}})
local data = read(D .. "/data.h5")
variant("data_cut.h5", data:sub(1, #data // 2))
variant("data_flip.h5", data:sub(1, 700) .. string.char(data:byte(701) ~ 1) .. data:sub(702))
engine.sweep.append(D .. "/results.h5", "lr=0.1", {status = "completed"})
local results = read(D .. "/results.h5")
variant("results_flip.h5", results:sub(1, 900) .. string.char(results:byte(901) ~ 4) ..
  results:sub(902))
-- format 1 results files (tests/fixtures/legacy_results): no checksums, and the older kind keeps
-- its strings in HDF5's global heap, whose object sizes HDF5 trusts
local function le_put(s, at, n, v)
  local bytes = {}
  for i = 1, n do bytes[i], v = string.char(v & 0xff), v >> 8 end
  return s:sub(1, at - 1) .. table.concat(bytes) .. s:sub(at + n)
end
local legacy = read("../fixtures/legacy_results/v1_1b0e256.h5")
variant("legacy.h5", legacy)
local gcol = assert(legacy:find("GCOL", 1, true))
local obj = assert(legacy:find("completed", gcol, true)) - 16 -- its heap object's header
variant("legacy_heap_len.h5", le_put(legacy, obj + 8, 8, 15)) -- 9 bytes claimed as 15
variant("legacy_heap_huge.h5", le_put(legacy, obj + 8, 8, 1 << 40))
variant("legacy_heap_index.h5", le_put(legacy, obj, 2, 900)) -- the object renumbered
variant("legacy_gcol_size.h5", le_put(legacy, gcol + 8, 8, 1 << 40))
variant("legacy_gcol_magic.h5", le_put(legacy, gcol, 4, 0x4c4f4358))
variant("legacy_cut.h5", legacy:sub(1, #legacy // 2))
local legacy2 = read("../fixtures/legacy_results/v1_133b663.h5")
variant("legacy2.h5", legacy2)
variant("legacy2_flip.h5", legacy2:sub(1, 1000) .. string.char(legacy2:byte(1001) ~ 4) ..
  legacy2:sub(1002))
write(D .. "/syntax.lua", "local x = = 1\n")
-- saved gradient-check reports (engine/gradcheck/report_load.c): a good one, cut, and forged
-- ones, each with one field of /meta/gradcheck changed (written with a valid checksum)
engine.seed(7)
engine.gradcheck.check(model, nn.CrossEntropyLoss(), engine.randn({2, 4}),
  engine.tensor({0, 1}, "i64"), {samples = 2, exclude = "linear_1.bias", loss_scale = 2})
  :save(D .. "/report.h5")
local report = read(D .. "/report.h5")
variant("report_cut.h5", report:sub(1, #report // 2))
local function forge(name, edit)
  local meta = engine.load(D .. "/report.h5").meta
  edit(meta.gradcheck, meta.gradcheck.tensors["linear_2.weight"], meta)
  engine.save(D .. "/" .. name .. ".h5", {model = model, meta = meta})
end
local huge = string.rep("z", 100000)
local forged = { -- name, edit(g = meta.gradcheck, t = its tensors["linear_2.weight"]), expected
  {"no_gradcheck", function(_, _, m) m.gradcheck = 5 end, "not a saved gradient-check report"},
  {"x_missing", function(g) g.x = nil end, "meta.gradcheck.x is missing"},
  {"x_string", function(g) g.x = "1,2" end, "meta.gradcheck.x is a string, expected a list"},
  {"x_shape_absurd", function(g) g.x_shape = {1e15, 1e15} end,
   "meta.gradcheck.x holds 8 values, not the more"},
  {"x_shape_nan", function(g) g.x_shape = {0 / 0, 4} end, "meta.gradcheck.x_shape[1] is"},
  {"x_shape_inf", function(g) g.x_shape = {2, math.huge} end,
   "meta.gradcheck.x_shape[2] is inf, not a size"},
  {"x_shape_9d", function(g) g.x_shape = {1, 1, 1, 1, 1, 1, 1, 2, 4} end,
   "meta.gradcheck.x_shape has 9 dimensions"},
  {"x_dtype", function(g) g.x_dtype = "f128" end, "meta.gradcheck.x_dtype is 'f128'"},
  {"x_width", function(g) g.x_shape = {4, 2} end, "replaying the saved check"},
  {"y_count", function(g) g.y, g.y_shape = {0, 1, 1}, {3} end, "replaying the saved check"},
  {"y_missing", function(g) g.y = nil end, "meta.gradcheck.y is missing"},
  {"loss_missing", function(g) g.loss = nil end, "meta.gradcheck.loss is missing"},
  {"loss_string", function(g) g.loss = "low" end, "meta.gradcheck.loss is a string"},
  {"verdict", function(g) g.verdict = "MAYBE" end, "meta.gradcheck.verdict is 'MAYBE'"},
  {"dtype", function(g) g.dtype = "" end, "meta.gradcheck.dtype is ''"},
  {"mode_huge", function(g) g.mode = huge end, "meta.gradcheck.mode is too long"},
  {"criterion_huge", function(g) g.criterion = huge end, "meta.gradcheck.criterion is too long"},
  {"criterion_unknown", function(g) g.criterion = "HingeLoss" end,
   "meta.gradcheck.criterion: unknown criterion 'HingeLoss'"},
  {"criterion_lua", function(g) g.criterion = "lua" end, "meta.gradcheck.criterion is 'lua'"},
  {"criterion_settings_number", function(g) g.criterion_settings = 3 end,
   "meta.gradcheck.criterion_settings is not a table"},
  {"criterion_settings_unknown", function(g) g.criterion_settings = {delta = 1} end,
   "meta.gradcheck.criterion_settings: cross_entropy: unknown setting 'delta'"},
  {"criterion_settings_bound", function(g)
     g.criterion, g.criterion_settings = "HuberLoss", {delta = -1}
   end, "meta.gradcheck.criterion_settings: huber: setting 'delta'"},
  {"criterion_settings_type", function(g)
     g.criterion, g.criterion_settings = "NLLLoss", {reduction = 2}
   end, "meta.gradcheck.criterion_settings: nll: setting 'reduction'"},
  {"criterion_settings_lua", function(g) g.criterion, g.criterion_settings = "lua", {} end,
   "criterion_settings given for criterion 'lua', which is not a loss kind"},
  {"options_number", function(g) g.options = 3 end, "meta.gradcheck.options is a"},
  {"samples_nan", function(g) g.options.samples = 0 / 0 end, "options.samples must be an integer"},
  {"samples_negative", function(g) g.options.samples = -1 end, "options.samples must be an"},
  {"seed_inf", function(g) g.options.seed = math.huge end, "options.seed must be an integer"},
  {"worst_fraction", function(g) g.options.worst = 2.5 end, "options.worst must be an integer"},
  {"directions_huge", function(g) g.options.mode, g.options.directions = "directional", 1e12 end,
   "options.directions must be an integer in [1, 1048576]"},
  {"directions_zero", function(g) g.options.directions = 0 end, "options.directions must be"},
  {"step_negative", function(g) g.options.step = -1 end, "options.step must be a number >= 0"},
  {"rtol_nan", function(g) g.options.rtol = 0 / 0 end, "options.rtol must be a number >= 0"},
  {"loss_scale_zero", function(g) g.options.loss_scale = 0 end, "options.loss_scale must be a"},
  {"loss_scale_inf", function(g) g.options.loss_scale = -math.huge end, "options.loss_scale"},
  {"exclude_number", function(g) g.options.exclude = 5 end, "options.exclude must be a string"},
  {"exclude_unknown", function(g) g.options.exclude = "linear_9" end, "linear_9"},
  {"full_string", function(g) g.options.full = "yes" end, "options.full must be a boolean"},
  {"mode_both", function(g) g.options.mode = "both" end, "options.mode is 'both'"},
  {"option_unknown", function(g) g.options.bogus = 1 end, "options.bogus is not an option"},
  {"tensors_missing", function(g) g.tensors = nil end, "meta.gradcheck.tensors is missing"},
  {"tensor_number", function(g) g.tensors.w = 1 end, "meta.gradcheck.tensors.w is not a tensor"},
  {"index_nan", function(_, t) t.index[1] = 0 / 0 end, "linear_2.weight.index[1] is"},
  {"index_zero", function(_, t) t.index[2] = 0 end, "not a 1-based coordinate"},
  {"lists_differ", function(_, t) t.numerical = {1} end, "do not make a list of elements"},
  {"tensor_verdict", function(_, t) t.verdict = nil end, "linear_2.weight.verdict is missing"},
  {"tensor_step", function(_, t) t.step = {1, 2} end, "linear_2.weight.step is a list"},
  {"diagnosis_huge", function(_, t) t.diagnosis = huge end, "diagnosis is too long"},
}
for _, f in ipairs(forged) do forge("rep_" .. f[1], f[2]) end

-- ---- the cases ----
local P = ("local D = %q\nlocal nn, optim, data, sweep = engine.nn, engine.optim, engine.data, " ..
  "engine.sweep\nlocal m = nn.Sequential{nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)}\n"):format(D)
local plugins = bindir .. "/plugins"
local bad_plugins = bindir .. "/tests/plugins"
local cases = {}
local function case(area, name, src, expected) cases[#cases + 1] = {area, name, src, expected} end
local function cli(name, args, expected, env)
  cases[#cases + 1] = {"command line", name, nil, expected, args = args, env = env}
end

-- command line
cli("--threads abc", "--threads abc -e 'print(1)'", {"'--threads' needs a count in 1..64"})
cli("--threads 0", "--threads 0 -e 'print(1)'", {"'--threads' needs a count in 1..64"})
cli("--threads 65", "--threads 65 -e 'print(1)'", {"'--threads' needs a count in 1..64"})
cli("--threads missing", "--threads", {"'--threads' needs a count"})
cli("--threads -2", "--threads -2 -e 'print(1)'", {"'--threads' needs a count"})
cli("--seed -1", "--seed -1 -e 'print(1)'", {"'--seed' needs an integer in 0..18446744073709551615"})
cli("--seed 2^64", "--seed 18446744073709551616 -e 'print(1)'", {"'--seed' needs an integer"})
cli("--seed 1e3", "--seed 1e3 -e 'print(1)'", {"'--seed' needs an integer"})
cli("--seed ''", "--seed '' -e 'print(1)'", {"'--seed' needs an integer"})
cli("--seed +5", "--seed +5 -e 'print(1)'", {"'--seed' needs an integer"})
cli("--seed 2^64-1", "--seed 18446744073709551615 -e 'print(42)'", {ok = "42\n"})
cli("an unknown option", "--bogus x.lua", {"unrecognized option '--bogus'"})
cli("-e without its argument", "-e", {"'-e' needs an argument"})
cli("ENGINE_THREADS=abc", "-e 'print(1)'", {"ENGINE_THREADS='abc' needs a count in 1..64"},
  "ENGINE_THREADS=abc")
cli("ENGINE_THREADS=0", "-e 'print(1)'", {"ENGINE_THREADS='0' needs a count"}, "ENGINE_THREADS=0")
cli("ENGINE_THREADS=-3", "-e 'print(1)'", {"ENGINE_THREADS='-3' needs a count"}, "ENGINE_THREADS=-3")
cli("ENGINE_THREADS=1e9", "-e 'print(1)'", {"ENGINE_THREADS='1e9' needs a count"},
  "ENGINE_THREADS=1e9")
cli("ENGINE_THREADS=3", "-e 'print(engine.threads())'", {ok = "3\n"}, "ENGINE_THREADS=3")
cli("a missing script", "'" .. D .. "/none.lua'", {D .. "/none.lua", "No such file"})
cli("a script with a syntax error", "'" .. D .. "/syntax.lua'", {D .. "/syntax.lua:1:"})

-- tensors
case("tensors", "a string among numbers", P .. "engine.tensor({1, 'a'})", {"tensor", "number"})
case("tensors", "a ragged nested table", P .. "engine.tensor({{1, 2}, {3}})", {"tensor"})
case("tensors", "a negative size", P .. "engine.zeros({-1})", {"size 1 is not a non-negative integer"})
case("tensors", "a size past memory", P .. "engine.zeros({2^40, 2^40})", {"too large"})
case("tensors", "sizes whose product overflows", P .. "engine.zeros({2^62, 2^62, 4})",
  {"too large"})
case("tensors", "an unknown dtype", P .. "engine.zeros({2}, 'f16')", {"f16"})
case("tensors", "randn of an unknown dtype", P .. "engine.randn({2}, 'x')", {"'x'"})
case("tensors", "reshape to another count", P .. "engine.zeros({6}):reshape({4})",
  {"[6]", "[4]"})
case("tensors", "reshape with a negative size", P .. "engine.zeros({4}):reshape({-2, -2})",
  {"reshape"})
case("tensors", "add of mismatched shapes",
  P .. "local _ = engine.zeros({2, 3}) + engine.zeros({3, 2})", {"[2,3]", "[3,2]"})
case("tensors", "matmul of mismatched shapes",
  P .. "engine.zeros({2, 3}):matmul(engine.zeros({2, 3}))", {"[2,3]"})
case("tensors", "tensor(nil)", P .. "engine.tensor(nil)", {"bad argument #1"})
case("tensors", "a dimension out of range in sum", P .. "engine.zeros({2, 3}):sum(9)", {"9"})
case("tensors", "transpose of a missing dimension", P .. "engine.zeros({2, 3}):transpose(5, 1)",
  {"5"})
case("tensors", "exact f64 values survive", P ..
  "print(string.format('%.17g', engine.tensor({0.1}, 'f64'):totable()[1]))",
  {ok = "0.10000000000000001\n"})

-- layers
case("layers", "Linear with 0 inputs", P .. "nn.Linear(0, 2)", {"linear", "in_features"})
case("layers", "Linear with 1.5 inputs", P .. "nn.Linear(1.5, 2)", {"in_features", "integer"})
case("layers", "Linear with a negative output", P .. "nn.Linear(2, -1)", {"out_features"})
case("layers", "Linear with an unknown option", P .. "nn.Linear(2, 2, {bogus = 1})",
  {"Linear: unknown option 'bogus'"})
case("layers", "Linear with dtype f16", P .. "nn.Linear(2, 2, {dtype = 'f16'})", {"f16"})
case("layers", "Conv2d with kernel 0", P .. "nn.Conv2d(1, 1, 0)", {"conv2d", "kernel_size"})
case("layers", "Conv2d with stride 0", P .. "nn.Conv2d(1, 1, 3, {stride = 0})",
  {"conv2d", "stride"})
case("layers", "Conv2d with padding -1", P .. "nn.Conv2d(1, 1, 3, {padding = -1})",
  {"conv2d", "padding"})
case("layers", "MaxPool2d with kernel 0", P .. "nn.MaxPool2d(0)", {"maxpool2d", "kernel_size"})
case("layers", "Dropout p = 1.5", P .. "nn.Dropout(1.5)", {"dropout", "'p'"})
case("layers", "Dropout p = -0.1", P .. "nn.Dropout(-0.1)", {"dropout", "'p'"})
case("layers", "Dropout p = NaN", P .. "nn.Dropout(0/0)", {"dropout", "'p'"})
case("layers", "LeakyReLU slope NaN", P .. "nn.LeakyReLU(0/0)",
  {"leaky_relu", "negative_slope", "finite"})
case("layers", "LeakyReLU slope inf", P .. "nn.LeakyReLU(1/0)", {"negative_slope", "finite"})
case("layers", "an unknown kind", P .. "nn.new('nosuch')", {"nosuch"})
case("layers", "Linear forward of a wrong shape",
  P .. "nn.Linear(4, 2):forward(engine.zeros({3, 5}))", {"linear 'linear': x [3,5], expected [N,4]"})
case("layers", "Conv2d forward of wrong channels",
  P .. "nn.Conv2d(3, 2, 3):forward(engine.zeros({1, 1, 8, 8}))", {"[1,1,8,8]"})
case("layers", "forward of nil", P .. "m:forward(nil)", {"bad argument #1"})
case("layers", "Sequential of a number", P .. "nn.Sequential{1}", {"Sequential"})
case("layers", "ReLU keeps NaN", P .. "print(nn.ReLU():forward(engine.tensor({0/0})):totable()[1])",
  {ok = "-nan\n", ok_either = "nan\n"})
case("layers", "a 23-digit in_features", P .. "nn.Linear(12345678901234567890123, 2)",
  {"in_features"})

-- checkpoints
local function load(name) return P .. ("engine.load(D .. %q)"):format("/" .. name) end
case("checkpoints", "a missing file", load("none.h5"), {"none.h5", "No such file"})
case("checkpoints", "a directory", P .. "engine.load(D)", {D, "is a directory"})
case("checkpoints", "an empty file", load("empty.h5"), {"empty.h5", "not an engine checkpoint"})
case("checkpoints", "README.md", P .. "engine.load(D .. '/syntax.lua')",
  {"syntax.lua", "not an engine checkpoint"})
for _, n in ipairs{"cut100", "cut511", "cut600", "cut_half", "cut_last"} do
  case("checkpoints", "cut: " .. n, load(n .. ".h5"), {n .. ".h5", "truncated"})
end
case("checkpoints", "one byte longer", load("longer.h5"), {"longer.h5", "its header says"})
for _, at in ipairs{1, 20, 600, #good // 2, #good - 10} do
  case("checkpoints", "a flipped bit at byte " .. at, load(("flip%d.h5"):format(at)),
    {("flip%d.h5"):format(at)})
end
case("checkpoints", "an HDF5 file without the header", load("hdf5_only.h5"),
  {"hdf5_only.h5", "without the engine's header"})
case("checkpoints", "a dataset file as a checkpoint", load("data.h5"),
  {"data.h5", "not an engine checkpoint: attribute 'format' is 'engine-dataset'"})
case("checkpoints", "a results file as a checkpoint", load("results.h5"),
  {"results.h5", "not an engine checkpoint: attribute 'format' is 'engine-sweep'"})
case("checkpoints", "save to ''", P .. "engine.save('', {model = m})", {"the path is empty"})
case("checkpoints", "save to a directory", P .. "engine.save(D, {model = m})",
  {D, "is a directory"})
case("checkpoints", "save under a missing directory", P .. "engine.save(D .. '/no/x.h5', {model = m})",
  {"/no/x.h5", "No such file or directory"})
case("checkpoints", "save a function in meta", P .. "engine.save(D .. '/x.h5', {meta = {f = print}})",
  {"meta.f is a function"})
case("checkpoints", "save a number key in meta", P .. "engine.save(D .. '/x.h5', {meta = {[1.5] = 1}})",
  {"meta has a number key"})
case("checkpoints", "save meta nested 17 deep", P ..
  "local t = {} for i = 1, 17 do t = {a = t} end engine.save(D .. '/x.h5', {meta = t})",
  {"is nested deeper than 16 tables"})
case("checkpoints", "save meta holding itself", P ..
  "local t = {} t.t = t engine.save(D .. '/x.h5', {meta = t})", {"meta.t contains itself"})
case("checkpoints", "save a model that is a string", P .. "engine.save(D .. '/x.h5', {model = 'm'})",
  {"'model' must be"})
case("checkpoints", "load into a model of another shape", P ..
  "nn.Sequential{nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2)}:load(D .. '/good.h5')",
  {"good.h5", "linear_1", "[3,4]"})
case("checkpoints", "an optimizer of another kind", P ..
  "local mm = engine.load(D .. '/good.h5').model optim.Adam(mm):load(D .. '/good.h5')",
  {"good.h5", "sgd", "adam"})
case("checkpoints", "a round trip is exact", P ..
  "local c = engine.load(D .. '/good.h5') print(c.meta.epoch, c.meta.note)", {ok = "3\thi\n"})

-- datasets
case("datasets", "open a missing file", P .. "data.open(D .. '/none.h5', 'train')",
  {"none.h5", "No such file"})
case("datasets", "open a text file", P .. "data.open(D .. '/syntax.lua', 'train')",
  {"syntax.lua"})
case("datasets", "a missing split", P .. "data.open(D .. '/data.h5', 'test')",
  {"data.h5", "test"})
case("datasets", "a cut dataset file", P .. "data.open(D .. '/data_cut.h5', 'train')",
  {"data_cut.h5", "truncated"})
case("datasets", "a flipped bit in a dataset file", P .. "data.open(D .. '/data_flip.h5', 'train')",
  {"data_flip.h5", "corrupt"})
case("datasets", "a checkpoint as a dataset", P .. "data.open(D .. '/good.h5', 'train')",
  {"good.h5", "train"})
case("datasets", "IDX: a missing file", P .. "data.read_idx(D .. '/none.idx')", {"none.idx"})
case("datasets", "IDX: a bad magic number", P .. "data.read_idx(D .. '/magic.idx')",
  {"magic.idx", "bad IDX magic number"})
case("datasets", "IDX: 0 dimensions", P .. "data.read_idx(D .. '/zero_dims.idx')",
  {"zero_dims.idx", "bad IDX magic number"})
case("datasets", "IDX: 9 dimensions", P .. "data.read_idx(D .. '/nine_dims.idx')",
  {"nine_dims.idx", "bad IDX magic number"})
case("datasets", "IDX: cut", P .. "data.read_idx(D .. '/cut.idx')",
  {"cut.idx", "claims [10,4,4] (160 bytes), more than the file can hold (100 bytes)"})
case("datasets", "IDX: a header claiming 10 GB", P .. "data.read_idx(D .. '/claims.idx')",
  {"claims.idx", "more than the file can hold"})
case("datasets", "IDX.gz: no trailer (1 byte cut)", P .. "data.read_idx(D .. '/cut1.gz')",
  {"cut1.gz", "truncated gzip stream"})
case("datasets", "IDX.gz: 8 bytes cut", P .. "data.read_idx(D .. '/cut8.gz')",
  {"cut8.gz", "truncated"})
case("datasets", "IDX.gz: cut in half", P .. "data.read_idx(D .. '/cut_deep.gz')",
  {"cut_deep.gz"})
case("datasets", "IDX.gz: garbage after a gzip header", P .. "data.read_idx(D .. '/garbage.gz')",
  {"garbage.gz"})
case("datasets", "IDX.gz reads right", P ..
  "local t = data.read_idx(D .. '/images.idx.gz') print(t:size(1), t:totable()[10][4][4])",
  {ok = "10\t159\n"})
case("datasets", "write mismatched x and y", P ..
  "data.write(D .. '/w.h5', {train = {x = engine.zeros({3, 1, 2, 2}, 'u8'), " ..
  "y = engine.zeros({4}, 'i64')}})", {"train"})

-- optimizers
case("optimizers", "SGD without lr", P .. "optim.SGD(m, {})", {"'lr' is required"})
case("optimizers", "SGD lr 0", P .. "optim.SGD(m, {lr = 0})", {"sgd: lr = 0"})
case("optimizers", "SGD lr -1", P .. "optim.SGD(m, {lr = -1})", {"sgd: lr = -1"})
case("optimizers", "SGD lr inf", P .. "optim.SGD(m, {lr = 1/0})", {"sgd: lr = inf", "finite"})
case("optimizers", "SGD lr NaN", P .. "optim.SGD(m, {lr = 0/0})", {"sgd: lr = "})
case("optimizers", "SGD momentum -1", P .. "optim.SGD(m, {lr = 1, momentum = -1})",
  {"momentum"})
case("optimizers", "SGD momentum inf", P .. "optim.SGD(m, {lr = 1, momentum = 1/0})",
  {"momentum = inf"})
case("optimizers", "SGD nesterov without momentum", P .. "optim.SGD(m, {lr = 1, nesterov = true})",
  {"nesterov"})
case("optimizers", "SGD an unknown option", P .. "optim.SGD(m, {lr = 1, lrr = 2})", {"lrr"})
case("optimizers", "Adam beta1 = 1", P .. "optim.Adam(m, {betas = {1, 0.9}})", {"beta1"})
case("optimizers", "Adam betas a string", P .. "optim.Adam(m, {betas = 'x'})", {"betas"})
case("optimizers", "Adam eps -1", P .. "optim.Adam(m, {eps = -1})", {"eps"})
case("optimizers", "Adam eps inf", P .. "optim.Adam(m, {eps = 1/0})", {"eps = inf"})
case("optimizers", "RMSprop alpha inf", P .. "optim.RMSprop(m, {alpha = 1/0})", {"alpha = inf"})
case("optimizers", "Adagrad lr_decay -1", P .. "optim.Adagrad(m, {lr_decay = -1})",
  {"lr_decay"})
case("optimizers", "optim.new of an unknown kind", P .. "optim.new('nosuch', m)",
  {"unknown optimizer 'nosuch'"})
case("optimizers", "optim.new('sgd', 'x')", P .. "optim.new('sgd', 'x')",
  {"optim.new: argument 2 must be a model"})
case("optimizers", "optim.new with options 3", P .. "optim.new('sgd', m, 3)",
  {"argument 3 must be a table"})
case("optimizers", "set_lr(0)", P .. "optim.SGD(m, {lr = 1}):set_lr(0)", {"learning rate"})
case("optimizers", "set_lr(inf)", P .. "optim.SGD(m, {lr = 1}):set_lr(1/0)",
  {"learning rate must be > 0 and finite"})
case("optimizers", "SGD of a string", P .. "optim.SGD('m', {lr = 1})", {"bad argument #1"})

-- sweeps
local S = P .. "local function run() return {loss = 1} end\n"
case("sweeps", "sweep.run of a number", S .. "sweep.run(3)", {"expected a table"})
case("sweeps", "no run function", S .. "sweep.run{results = D .. '/s.h5', grid = {a = {1}}, " ..
  "metric = 'loss'}", {"'run' must be a function"})
case("sweeps", "no results path", S .. "sweep.run{run = run, grid = {a = {1}}, metric = 'loss'}",
  {"'results'"})
case("sweeps", "an unknown setting", S .. "sweep.run{run = run, results = D .. '/s.h5', " ..
  "grid = {a = {1}}, metric = 'loss', bogus = 1}", {"unknown setting 'bogus'"})
case("sweeps", "grid values not a list", S .. "sweep.run{run = run, results = D .. '/s.h5', " ..
  "grid = {a = 1}, metric = 'loss'}", {"setting 'a' must list its values"})
case("sweeps", "a function as a grid value", S .. "sweep.run{run = run, results = D .. '/s.h5', " ..
  "grid = {a = {print}}, metric = 'loss'}", {"setting 'a' value 1 is a function"})
case("sweeps", "log_uniform with low 0", S .. "sweep.run{run = run, results = D .. '/s.h5', " ..
  "random = {n = 2, lr = {log_uniform = {0, 1}}}, metric = 'loss'}", {"lr.log_uniform"})
case("sweeps", "goal 'up'", S .. "sweep.run{run = run, results = D .. '/s.h5', grid = {a = {1}}, " ..
  "metric = 'loss', goal = 'up'}", {"'goal' is 'up'"})
case("sweeps", "results file is a directory", S .. "sweep.run{run = run, results = D, " ..
  "grid = {a = {1}}, metric = 'loss', quiet = true}", {D})
case("sweeps", "results file is a checkpoint", S .. "sweep.read(D .. '/good.h5')",
  {"good.h5", "not a sweep results file"})
case("sweeps", "results file with a flipped bit", S .. "sweep.read(D .. '/results_flip.h5')",
  {"results_flip.h5", "corrupt"})
local warning = "engine.sweep: warning: %s/%s is a sweep results file of format 1 (written " ..
  "before 30 Nov 2026): it passed the structural audit, but its runs carry no checksums%s; the " ..
  "next append rewrites it in format 2\n"
case("sweeps", "a format 1 results file reads, with a warning", S ..
  "local r, k, f = sweep.read(D .. '/legacy.h5') print(#k, f.version, f.checksummed)",
  {ok = warning:format(D, "legacy.h5", ", nor does the file") .. "6\t1\tfalse\n"})
case("sweeps", "a format 1 results file with its header reads", S ..
  "local r, k, f = sweep.read(D .. '/legacy2.h5') print(#k, f.version, f.file_crc)",
  {ok = warning:format(D, "legacy2.h5", " (the CRC-32 of the whole file matched)") ..
   "6\t1\ttrue\n"})
case("sweeps", "format 1: a heap string longer than its stored length",
  S .. "sweep.read(D .. '/legacy_heap_len.h5')",
  {"legacy_heap_len.h5", "attribute 'status'", "a string of 9 bytes is stored as a heap object of 15"})
case("sweeps", "format 1: a heap object of 2^40 bytes", S .. "sweep.read(D .. '/legacy_heap_huge.h5')",
  {"legacy_heap_huge.h5", "is corrupt"})
case("sweeps", "format 1: a heap object renumbered", S .. "sweep.read(D .. '/legacy_heap_index.h5')",
  {"legacy_heap_index.h5", "does not hold"})
case("sweeps", "format 1: a heap collection of 2^40 bytes",
  S .. "sweep.read(D .. '/legacy_gcol_size.h5')", {"legacy_gcol_size.h5", "claims 1099511627776 bytes"})
case("sweeps", "format 1: no heap collection where one is named",
  S .. "sweep.read(D .. '/legacy_gcol_magic.h5')", {"legacy_gcol_magic.h5", "holds no heap collection"})
case("sweeps", "format 1: cut in half", S .. "sweep.read(D .. '/legacy_cut.h5')",
  {"legacy_cut.h5"})
case("sweeps", "format 1 with its header: a flipped bit", S .. "sweep.read(D .. '/legacy2_flip.h5')",
  {"legacy2_flip.h5", "CRC"})
case("sweeps", "format 1: appended to, it becomes format 2", S ..
  "os.execute('cp ' .. D .. '/legacy.h5 ' .. D .. '/legacy_app.h5') " ..
  "sweep.append(D .. '/legacy_app.h5', 'x=1', {status = 'completed'}) " ..
  "local r, k, f = sweep.read(D .. '/legacy_app.h5') print(#k, f.version, f.checksummed)",
  {ok = "7\t2\ttrue\n"})
case("sweeps", "append a key with '/'", S .. "sweep.append(D .. '/s2.h5', 'a/b', {})",
  {"s2.h5", "run key 'a/b'"})
case("sweeps", "append an empty key", S .. "sweep.append(D .. '/s2.h5', '', {})", {"run key ''"})
case("sweeps", "append a key twice", S .. "sweep.append(D .. '/s3.h5', 'k', {}) " ..
  "sweep.append(D .. '/s3.h5', 'k', {})", {"s3.h5", "a run 'k' is already recorded"})
case("sweeps", "keys are exact", S ..
  "print(sweep.key{lr = 0.0010000001}, sweep.key{lr = 0.001}, sweep.key{x = 'b/c'})",
  {ok = "lr=0.0010000001\tlr=0.001\tx=b%2Fc\n"})

-- gradient-check reports
local G = P .. "local gc = engine.gradcheck\n"
case("gradcheck reports", "cut in half", G .. "gc.replay(D .. '/report_cut.h5')",
  {"report_cut.h5", "truncated"})
case("gradcheck reports", "a checkpoint", G .. "gc.replay(D .. '/good.h5')",
  {"good.h5", "not a saved gradient-check report"})
for _, f in ipairs(forged) do
  case("gradcheck reports", f[1], G .. ("gc.replay(D .. '/rep_%s.h5')"):format(f[1]),
    {"rep_" .. f[1] .. ".h5", f[3]})
end
case("gradcheck reports", "a Lua criterion given to the replay", G ..
  "local c = {forward = function(_, i) return (i * i):sum() end, backward = function(_, i) " ..
  "return i * 2 end}\nprint(gc.replay(D .. '/rep_criterion_lua.h5', nil, c).replay.stored_verdict)",
  {ok = "PASS\n"})
case("gradcheck reports", "the good one", G ..
  "local r = gc.replay(D .. '/report.h5') print(r.verdict, r.replay.same_verdict)",
  {ok = "PASS\ttrue\n"})

-- plugins
local L = P .. ("local plugins, bad = %q, %q\n"):format(plugins, bad_plugins)
case("plugins", "a missing library", L .. "engine.plugin.load(plugins .. '/none.so')",
  {"none.so"})
case("plugins", "a text file", L .. "engine.plugin.load(D .. '/syntax.lua')", {"syntax.lua"})
case("plugins", "an empty name", L .. "engine.plugin.load('')", {"plugin"})
case("plugins", "a wrong ABI", L .. "engine.plugin.load(bad .. '/libplugin_bad_abi.so')",
  {"libplugin_bad_abi.so", "ABI"})
case("plugins", "no init function", L .. "engine.plugin.load(bad .. '/libplugin_bad_no_init.so')",
  {"libplugin_bad_no_init.so"})
case("plugins", "an init that fails", L ..
  "engine.plugin.load(bad .. '/libplugin_bad_init_error.so')", {"libplugin_bad_init_error.so"})
case("plugins", "swish: an unknown option", L .. "engine.plugin.load(plugins .. '/libswish.so') " ..
  "nn.new('swish', {betta = 2})", {"swish: unknown setting 'betta'"})
case("plugins", "swish: beta a string", L .. "engine.plugin.load(plugins .. '/libswish.so') " ..
  "nn.new('swish', {beta = 'x'})", {"swish", "beta"})
case("plugins", "scaled_linear: an unknown option", L ..
  "engine.plugin.load(plugins .. '/libswish.so') " ..
  "nn.new('scaled_linear', {in_features = 2, out_features = 2, bogus = 1})",
  {"scaled_linear: unknown setting 'bogus'"})
case("plugins", "scaled_linear: in_features 0", L ..
  "engine.plugin.load(plugins .. '/libswish.so') " ..
  "nn.new('scaled_linear', {in_features = 0, out_features = 2})", {"scaled_linear", "in_features"})
case("plugins", "swish works", L .. "engine.plugin.load(plugins .. '/libswish.so') " ..
  "print(nn.new('swish', {beta = 1}):forward(engine.tensor({0})):totable()[1])", {ok = "0.0\n"})

-- ---- running them ----
local counts, failures = {}, {}
for i, c in ipairs(cases) do
  local area, name, src, expected = c[1], c[2], c[3], c[4]
  local cmd
  if src then
    local path = ("%s/case%03d.lua"):format(D, i)
    write(path, src .. "\n")
    cmd = ("timeout 60 '%s' '%s' 2>&1"):format(bin, path)
  else
    cmd = ("%s timeout 60 '%s' %s 2>&1"):format(c.env and ("env " .. c.env) or "", bin, c.args)
  end
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  local _, how, code = p:close()
  local problem
  if expected.ok then
    if how ~= "exit" or code ~= 0 then
      problem = ("exit %s %s"):format(how, tostring(code))
    elseif out ~= expected.ok and out ~= expected.ok_either then
      problem = ("output %q, expected %q"):format(out, expected.ok)
    end
  else
    local first, second = out:match("^([^\n]*)\n?([^\n]*)")
    if how ~= "exit" or code ~= 1 then
      problem = ("exit %s %s (expected status 1)"):format(how, tostring(code))
    elseif not first:find("^engine: ") then
      problem = "the first line is not the engine's message"
    elseif second ~= "" and second ~= "stack traceback:" and not second:find("^usage") and
        not second:find("^Usage") then
      problem = "the message takes more than one line"
    else
      for _, piece in ipairs(expected) do
        if not first:find(piece, 1, true) then problem = ("missing %q"):format(piece) end
      end
    end
  end
  counts[area] = (counts[area] or 0) + 1
  if problem then
    failures[#failures + 1] = ("  FAIL %s / %s: %s\n-- output:\n%s"):format(area, name, problem, out)
  end
end
local areas = {}
for area, n in pairs(counts) do areas[#areas + 1] = ("%s %d"):format(area, n) end
table.sort(areas)
print(("test_bad_input: %d cases (%s)"):format(#cases, table.concat(areas, ", ")))
if #failures > 0 then
  io.write(table.concat(failures, "\n"), "\n")
  error(("%d of %d cases failed"):format(#failures, #cases))
end
assert(#cases >= 120, "the catalogue needs at least 120 cases")
assert(os.execute("rm -rf '" .. D .. "'"))
