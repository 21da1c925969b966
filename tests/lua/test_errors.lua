-- Bad input never crashes the engine host: each case runs $ENGINE_BIN as a subprocess and
-- must exit with status 1 and a clear message (a crash would be a signal or another status).
local H = dofile((arg[0]:match("(.*/)") or "") .. "helpers.lua")

local failures = 0

-- Runs source as a script; checks exit status 1 and that the output contains every string of
-- expected (plain substrings).
local function expect_failure(what, source, expected, redirect)
  local out, code, path = H.run_script(source, redirect)
  local ok = code == 1
  local missing = {}
  for _, s in ipairs(expected) do
    s = s:gsub("<script>", path)
    if not out:find(s, 1, true) then
      ok = false
      missing[#missing + 1] = s
    end
  end
  if ok then
    io.write("  ok   ", what, "\n")
  else
    failures = failures + 1
    io.write(("  FAIL %s: exit %s, missing %s\n-- output:\n%s\n"):format(what, tostring(code),
      table.concat(missing, " | "), out))
  end
end

local prelude = "local nn = engine.nn\n"
local model = prelude .. [[
local model = nn.Sequential{nn.Conv2d(1, 16, 5, {padding = 2}), nn.ReLU(), nn.MaxPool2d(2),
  nn.Flatten(), nn.Linear(16 * 14 * 14, 10)}
]]

expect_failure("wrong input shape names both shapes",
  model .. "model:forward(engine.zeros({2, 3, 28, 28}))\n",
  {"engine: <script>:4: ", "[2,3,28,28]", "[N,1,H,W]", "conv2d_1", "stack traceback"})
expect_failure("wrong dtype names both dtypes",
  model .. "model:forward(engine.zeros({2, 1, 28, 28}, 'f64'))\n",
  {"<script>:4: ", "dtype f64", "parameters are f32"})
expect_failure("flattened size mismatch names the layer",
  model .. "model:forward(engine.zeros({2, 1, 20, 20}))\n",
  {"layer 5 of 5", "linear 'linear_1'", "[2,1600]", "expected [N,3136] (in_features 3136, x has 1600)"})
expect_failure("unflattened input to a linear layer names its in_features and the fix",
  prelude .. "nn.Sequential{nn.Linear(64, 10)}:forward(engine.zeros({2, 1, 8, 8}))\n",
  {"layer 1 of 1: linear 'linear_1': x [2,1,8,8], expected [N,64] (flatten the input first)"})
expect_failure("a Lua criterion whose forward fails is named with its method",
  prelude .. "engine.gradcheck.check(nn.Sequential{nn.Linear(2, 2, {dtype = 'f64'})}, " ..
  "{forward = function() error('kaput') end, backward = function(_, i) return i end}, " ..
  "engine.randn({2, 2}, 'f64'), engine.randn({2, 2}, 'f64'))\n",
  {"gradcheck: the criterion's forward failed: ", "kaput"})
expect_failure("wrong Lua type to a constructor",
  prelude .. "nn.Linear('a', 3)\n",
  {"<script>:2: bad argument #1 to 'Linear' (number expected, got string)"})
expect_failure("wrong Lua type to forward",
  model .. "model:forward(42)\n",
  {"<script>:4: bad argument #1 to 'forward' (engine.Tensor expected, got number)"})
expect_failure("nil to forward",
  prelude .. "local l = nn.ReLU()\nl:forward()\n",
  {"bad argument #1 to 'forward' (engine.Tensor expected, got no value)"})
expect_failure("loss with labels of the wrong length",
  prelude .. "nn.CrossEntropyLoss():forward(engine.zeros({4, 10}), {1, 2})\n",
  {"input [4,10] and target [2], expected [N,K] and [N]"})
expect_failure("backward before forward",
  prelude .. "nn.Sequential{nn.ReLU()}:backward(engine.zeros({1}))\n",
  {"sequential: backward without a successful forward"})
expect_failure("kernel larger than the input",
  prelude .. "nn.Conv2d(1, 1, 5):forward(engine.zeros({1, 1, 3, 3}))\n",
  {"[1,1,3,3] is smaller than the 5x5 kernel"})
expect_failure("bad index", "engine.zeros({2, 2}):get(3, 1)\n",
  {"index 3 out of range for dimension 1 of [2,2] (1..2)"})
expect_failure("ragged table", "engine.tensor({{1, 2}, {3}})\n",
  {"ragged nested table: [2] has 1 elements, expected 2"})
expect_failure("non-contiguous input to a model",
  prelude .. "nn.Sequential{nn.Flatten()}:forward(engine.zeros({2, 3}):narrow(2, 1, 2))\n",
  {"flatten 'flatten_1': x [2,2] is not contiguous (clone it first)"})
expect_failure("missing dataset directory", "engine.data.fashion_mnist('train', '/nonexistent')\n",
  {"/nonexistent/train-images-idx3-ubyte.gz"})

-- the host itself
expect_failure("syntax error has file:line", "local x = = 1\n",
  {"engine: <script>:1: unexpected symbol near '='"})
expect_failure("runtime error: message and traceback on stderr",
  "print = nil\nlocal x = 1\nerror('boom')\n",
  {"engine: <script>:3: boom\nstack traceback:\n"}, "2>&1 1>/dev/null")
do
  local out, code = H.run_script("error('boom')\n", "2>/dev/null")
  if code == 1 and out == "" then
    io.write("  ok   nothing on stdout after an error\n")
  else
    failures = failures + 1
    io.write(("  FAIL stdout after an error: exit %s, %q\n"):format(tostring(code), out))
  end
end
expect_failure("non-string error object", "error({})\n", {"(error object is a table value)"})

local function expect_host(what, args, code, expected)
  local out, got = H.run(args)
  if got == code and out:find(expected, 1, true) then
    io.write("  ok   ", what, "\n")
  else
    failures = failures + 1
    io.write(("  FAIL %s: exit %s, expected %d and %q\n-- output:\n%s\n"):format(what,
      tostring(got), code, expected, out))
  end
end

expect_host("missing script", "nosuch.lua", 1, "engine: cannot open nosuch.lua")
expect_host("error in -e", "-e \"error('x', 0)\"", 1, "engine: x")
expect_host("unknown option", "--bogus", 1, "engine: unrecognized option '--bogus'")
expect_host("bad thread count", "--threads zero", 1, "'--threads' needs a count")
expect_host("version", "--version", 0, "engine 0.1.0, Lua 5.4")
expect_host("help", "--help", 0, "usage: engine [options] [script [args]]")
expect_host("-e runs in order, then the script's args", "-e 'x = 2' -e 'print(x * 21)'", 0, "42")
expect_host("--seed and --threads", "--seed 5 --threads 2 -e 'print(engine.threads())'", 0, "2")

do -- arg and ... as in lua.c
  local out, code = H.run_script(
    "print(select('#', ...), table.concat({...}, ','), arg[0] ~= nil, arg[1], arg[2], arg[3])",
    "2>&1", "one two")
  if code == 0 and out == "2\tone,two\ttrue\tone\ttwo\tnil\n" then
    io.write("  ok   arg and ...\n")
  else
    failures = failures + 1
    io.write("  FAIL arg and ...: ", out, "\n")
  end
end

if failures > 0 then
  error(failures .. " error case(s) failed")
end
print("test_errors: ok")
