-- Issue 13 from Lua: each problem found with bad input has its case here (the C side, crafted
-- checkpoints, is tests/test_untrusted.c; the catalogue of one-line errors is
-- test_bad_input.lua).
local H = dofile("helpers.lua")
local engine = require("engine")
local nn, optim, sweep = engine.nn, engine.optim, engine.sweep

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))
local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

local function nest(n)
  local t = {v = 1}
  for _ = 1, n do t = {a = t} end
  return t
end

H.section("meta nested up to the limit saves and loads; deeper or self-referencing is refused")
do
  -- 8 and 9 deep crashed (no luaL_checkstack); 16 is the limit
  local path = dir .. "/meta.h5"
  for _, n in ipairs{8, 9, 16} do
    engine.save(path, {meta = nest(n)})
    local t = engine.load(path).meta
    for _ = 1, n do t = t.a end
    assert(t.v == 1, n)
  end
  H.check_error("meta.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a is nested deeper than 16 tables",
    engine.save, path, {meta = nest(17)})
  local loop = {}
  loop.me = loop
  H.check_error("save: meta.me contains itself", engine.save, path, {meta = loop})
  local deeper = {x = {}}
  deeper.x.y = {back = deeper}
  H.check_error("save: meta.x.y.back contains itself", engine.save, path, {meta = deeper})
  -- the same table twice side by side is no cycle
  local shared = {n = 3}
  engine.save(path, {meta = {a = shared, b = shared}})
  assert(engine.load(path).meta.b.n == 3)
end

H.section("engine.save('') names the problem")
H.check_error("cannot write the checkpoint: the path is empty", engine.save, "", {meta = {}})

H.section("a save failing with EFBIG exits with status 1 and keeps the old file")
do
  local path = dir .. "/big.h5"
  local script = dir .. "/big.lua"
  local f = assert(io.open(script, "w"))
  f:write(("local nn = engine.nn\nengine.save(%q, {model = nn.Sequential{nn.Linear(200, 200)}})\n")
    :format(path))
  f:close()
  engine.save(path, {meta = {old = true}})
  local out, code = run(("ulimit -f 64; trap '' XFSZ; '%s' '%s'"):format(H.engine_bin, script))
  assert(code == 1, ("exit %s (a crash at exit is 139): %s"):format(tostring(code), out))
  assert(out:find("File too large", 1, true), out)
  assert(engine.load(path).meta.old == true)
end

H.section("ReLU propagates NaN, as PyTorch and the other activations do")
do
  local x = engine.tensor({0 / 0, -1, 2, 0 / 0})
  for _, layer in ipairs{nn.ReLU(), nn.LeakyReLU(0.1), nn.Tanh(), nn.Sigmoid()} do
    local y = layer:forward(x):totable()
    assert(y[1] ~= y[1] and y[4] ~= y[4], tostring(layer))
  end
  local y = nn.ReLU():forward(x):totable()
  assert(y[2] == 0 and y[3] == 2)
end

H.section("optimizer settings must be finite; optim.new checks its model")
do
  local m = nn.Sequential{nn.Linear(2, 2)}
  H.check_error("sgd: lr = inf, expected a finite number", optim.SGD, m, {lr = math.huge})
  H.check_error("sgd: momentum = inf, expected a finite number", optim.SGD, m,
    {lr = 0.1, momentum = math.huge})
  H.check_error("adam: lr = inf", optim.Adam, m, {lr = math.huge})
  H.check_error("rmsprop: alpha = inf", optim.RMSprop, m, {alpha = math.huge})
  H.check_error("adagrad: lr_decay = inf", optim.Adagrad, m, {lr_decay = math.huge})
  H.check_error("learning rate must be > 0 and finite", optim.SGD(m, {lr = 0.1}).set_lr,
    optim.SGD(m, {lr = 0.1}), math.huge)
  H.check_error("optim.new: argument 2 must be a model (engine.Sequential), got string",
    optim.new, "sgd", "x")
  H.check_error("optim.new: argument 3 must be a table of options, got number",
    optim.new, "sgd", m, 3)
  H.check_error("must be finite", nn.LeakyReLU, 0 / 0)
end

H.section("an images .gz cut by 1 to 10 bytes is refused; a header's claim is checked first")
do
  -- [10,4,4] bytes 0..159, gzipped by zlib through engine.data? No: written here by gzip(1)
  local raw = dir .. "/images.idx"
  local f = assert(io.open(raw, "wb"))
  f:write(string.char(0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 4, 0, 0, 0, 4))
  for i = 0, 159 do f:write(string.char(i)) end
  f:close()
  assert(os.execute(("gzip -kn9 '%s'"):format(raw)))
  local gz = assert(io.open(raw .. ".gz", "rb")):read("a")
  assert(engine.data.read_idx(raw .. ".gz"):size(1) == 10)
  for cut = 1, 10 do
    local path = ("%s/cut%d.gz"):format(dir, cut)
    local c = assert(io.open(path, "wb"))
    c:write(gz:sub(1, #gz - cut))
    c:close()
    H.check_error(path .. ": truncated", engine.data.read_idx, path)
  end
  local huge = dir .. "/huge.idx"
  f = assert(io.open(huge, "wb"))
  f:write(string.char(0, 0, 8, 2, 0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0))
  f:close()
  H.check_error("the header claims [100000,100000] (10000000000 bytes), more than the file can " ..
    "hold (12 bytes)", engine.data.read_idx, huge)
end

H.section("--seed above 2^64-1 and a bad ENGINE_THREADS are refused, as --threads is")
do
  local out, code = run(("'%s' --seed 18446744073709551616 -e 'print(1)'"):format(H.engine_bin))
  assert(code == 1 and out:find("'--seed' needs an integer in 0..18446744073709551615", 1, true),
    out)
  out, code = run(("'%s' --seed 18446744073709551615 -e 'print(7)'"):format(H.engine_bin))
  assert(code == 0 and out == "7\n", out)
  for _, bad in ipairs{"abc", "0", "-1", " 2", "99999999999999999999"} do
    out, code = run(("ENGINE_THREADS='%s' '%s' -e 'print(1)'"):format(bad, H.engine_bin))
    assert(code == 1 and out:find("ENGINE_THREADS='" .. bad .. "' needs a count in 1..", 1, true),
      bad .. ": " .. out)
  end
  out, code = run(("ENGINE_THREADS=2 '%s' -e 'print(engine.threads())'"):format(H.engine_bin))
  assert(code == 0, out)
end

H.section("sweep keys are exact: 0.0010000001 is not 0.001, b/c is not b_c")
do
  assert(sweep.key{lr = 0.0010000001} ~= sweep.key{lr = 0.001})
  assert(sweep.key{lr = 0.001} == "lr=0.001", sweep.key{lr = 0.001})
  assert(sweep.key{x = "b/c"} ~= sweep.key{x = "b_c"})
  assert(sweep.key{x = 1} ~= sweep.key{x = 1.0})
  assert(sweep.key{x = "a,b=c"} ~= sweep.key{x = "a", b = "c"})
  for _, v in ipairs{0.1, 1 / 3, 1e-300, 123456789.123, 2 ^ 60 + 0.0} do
    local text = sweep.key{v = v}:match("^v=(.*)$")
    assert(tonumber(text) == v, text)
  end
  local results = dir .. "/sweep.h5"
  local seen = {}
  -- executor "inline": the runs count themselves in this process (the default executor starts
  -- each run in a process of its own)
  sweep.run{
    results = results, quiet = true, metric = "m", goal = "min", executor = "inline",
    grid = {x = {"b/c", "b_c"}, lr = {0.001, 0.0010000001}},
    run = function(s) seen[#seen + 1] = s.x .. " " .. s.lr return {m = 1} end,
  }
  assert(#seen == 4, #seen)
  local runs, order = sweep.read(results)
  assert(#order == 4, #order)
  -- a restart skips the four, and only them
  local again = 0
  sweep.run{
    results = results, quiet = true, metric = "m", goal = "min", executor = "inline",
    grid = {x = {"b/c", "b_c"}, lr = {0.001, 0.0010000001, 0.002}},
    run = function() again = again + 1 return {m = 1} end,
  }
  assert(again == 2, again)
  assert(runs[order[1]].settings.x == "b/c" or runs[order[1]].settings.x == "b_c")
end

assert(os.execute("rm -rf '" .. dir .. "'"))
print("test_untrusted: ok")
