-- Interop: h5py reads a checkpoint with no engine code (scripts/checkpoint_info.py prints the
-- layer names and shapes); PyTorch loads the exported state_dict into the same architecture
-- and gets the engine's test loss (to 1e-6 in f32); a state_dict imported back loads bit for
-- bit. Parts whose Python modules are missing (/usr/bin/python3 with python3-h5py,
-- python3-torch) are skipped with a message, not failed.
local H = dofile((arg[0]:match("(.*/)") or "") .. "helpers.lua")
local engine = require("engine")
local nn, data = engine.nn, engine.data

local root = (arg[0]:match("(.*/)") or "./") .. "../../"
local python = "/usr/bin/python3"

local function has_module(name)
  return os.execute(("%s -c 'import %s' >/dev/null 2>&1"):format(python, name)) == true
end

local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  if not ok then error("command failed: " .. cmd .. "\n" .. out, 2) end
  return out
end

if not has_module("h5py") then
  print("test_interop: skipped: " .. python .. " cannot import h5py (Debian: python3-h5py)")
  return
end

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))

engine.seed(3)
local model = nn.Sequential{nn.Conv2d(1, 4, 5, {padding = 2}), nn.ReLU(), nn.MaxPool2d(2),
  nn.Flatten(), nn.Linear(4 * 14 * 14, 32), nn.ReLU(), nn.Linear(32, 10)}
local ckpt = dir .. "/run.h5"
engine.save(ckpt, {model = model, meta = {epoch = 1}})

H.section("h5py reads the checkpoint with no engine code")
do
  local out = run(("%s '%sscripts/checkpoint_info.py' '%s'"):format(python, root, ckpt))
  io.write(out)
  assert(out:find("layer_names: conv2d_1, relu_1, maxpool2d_1, flatten_1, linear_1, relu_2, " ..
    "linear_2", 1, true), out)
  assert(out:find("conv2d_1 (conv2d): weight [4, 1, 5, 5] float32, bias [4] float32", 1, true))
  assert(out:find("linear_1 (linear): weight [32, 784] float32, bias [32] float32", 1, true))
  assert(out:find("format engine-checkpoint version 2", 1, true))
end

if not has_module("torch") then
  print("test_interop: torch part skipped: " .. python .. " cannot import torch " ..
    "(Debian: python3-torch)")
  assert(os.execute("rm -rf '" .. dir .. "'"))
  return
end

H.section("PyTorch: the exported state_dict gives the engine's test loss")
do
  -- a test set of 500 random 28x28 images in the dataset layout, read by both sides
  engine.seed(9)
  local x = (engine.rand({500, 1, 28, 28}) * 255):to("u8")
  local labels = {}
  for i = 1, 500 do labels[i] = (i * 3) % 10 end
  local test_path = dir .. "/test.h5"
  data.write(test_path, {test = {x = x, y = engine.tensor(labels, "i64")}})

  local scale, mean, std = 1 / 255, 0.2860, 0.3530
  local crit = nn.CrossEntropyLoss()
  model:eval()
  local bx, by = data.open(test_path, "test"):batches(500, {scale = scale, mean = mean,
                                                             std = std})()
  local loss = crit:forward(model:forward(bx), by)

  -- Every subcommand of scripts/torch_checkpoint.py, for both key styles, in one Python
  -- process (importing torch takes seconds).
  local commands = {}
  for _, keys in ipairs({"names", "index"}) do
    local pt, back = ("%s/%s.pt"):format(dir, keys), ("%s/%s_back.h5"):format(dir, keys)
    local flag = keys == "index" and ", '--index-keys'" or ""
    commands[#commands + 1] = ("tc.main(['export', %q, %q%s])"):format(ckpt, pt, flag)
    commands[#commands + 1] = ("tc.main(['evaluate', %q, %q, %q, 'test', '--scale', '%.17g', " ..
      "'--mean', '%.17g', '--std', '%.17g'])"):format(pt, ckpt, test_path, scale, mean, std)
    commands[#commands + 1] = ("tc.main(['import', %q, %q, %q])"):format(pt, ckpt, back)
  end
  local script = dir .. "/interop.py"
  local f = assert(io.open(script, "w"))
  f:write(("import sys\nsys.path.insert(0, %q)\nimport torch_checkpoint as tc\n%s\n")
    :format(root .. "scripts", table.concat(commands, "\n")))
  f:close()
  local out = run(("%s '%s'"):format(python, script))
  assert(out:find("conv2d_1.weight -> conv2d_1.weight [4, 1, 5, 5] float32", 1, true), out)
  assert(out:find("linear_2.bias -> 6.bias [10] float32", 1, true), out)
  local n = 0
  for torch_loss in out:gmatch("loss (%S+)") do
    n = n + 1
    torch_loss = tonumber(torch_loss)
    io.write(("  engine %.9f  torch %.9f  difference %.2e (f32, %s keys)\n"):format(loss,
      torch_loss, math.abs(loss - torch_loss), n == 1 and "named" or "index"))
    assert(math.abs(loss - torch_loss) <= 1e-6, "the losses differ by more than 1e-6")
  end
  assert(n == 2, out)

  H.section("a state_dict imported back loads bit for bit")
  for _, keys in ipairs({"names", "index"}) do
    local back = ("%s/%s_back.h5"):format(dir, keys)
    local other = nn.Sequential{nn.Conv2d(1, 4, 5, {padding = 2}), nn.ReLU(), nn.MaxPool2d(2),
      nn.Flatten(), nn.Linear(4 * 14 * 14, 32), nn.ReLU(), nn.Linear(32, 10)}
    other:load(back)
    local a, b = model:parameters(), other:parameters()
    for i = 1, #a do
      local d = a[i].value - b[i].value
      assert(d:max() == 0 and d:min() == 0, a[i].name .. " differs after PyTorch (" .. keys .. ")")
    end
    assert(engine.load(back).meta.epoch == 1)
  end
end

assert(os.execute("rm -rf '" .. dir .. "'"))
print("test_interop: ok")
