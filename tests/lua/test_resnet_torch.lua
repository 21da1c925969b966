-- The ResNet of scripts/resnet_fmnist.lua (scripts/resnet.lua), after a few training steps (so
-- that its batchnorms' running statistics are not the initial ones): its checkpoint reloads
-- bit for bit (the nested model rebuilt in C), h5py reads it with no engine code, and PyTorch,
-- given the exported state_dict, gets the engine's loss (to 1e-6 in f32) both in the model
-- built from the checkpoint's config and in torch_checkpoint.resnet(), the twin benchmarks
-- use. Parts whose Python modules are missing are skipped with a message, not failed.
local H = dofile((arg[0]:match("(.*/)") or "") .. "helpers.lua")
local engine = require("engine")
local nn, data, optim = engine.nn, engine.data, engine.optim

local root = (arg[0]:match("(.*/)") or "./") .. "../../"
local python = "/usr/bin/python3"
local resnet = dofile(root .. "scripts/resnet.lua")

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

local function same(a, b)
  local d = (a - b):abs():max()
  return (type(d) == "number" and d or d:item()) == 0
end

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))

engine.seed(5)
local widths = {4, 8, 8}
local model = resnet.build{widths = widths}
local crit = nn.CrossEntropyLoss()
local opt = optim.SGD(model, {lr = 0.05, momentum = 0.9})
for step = 1, 3 do
  local labels = {}
  for i = 1, 16 do labels[i] = (i * step) % 10 end
  local x, y = engine.randn({16, 1, 28, 28}), engine.tensor(labels, "i64")
  opt:zero_grad()
  crit:forward(model:forward(x), y)
  model:backward(crit:backward())
  opt:step()
end
local ckpt = dir .. "/resnet.h5"
engine.save(ckpt, {model = model})

H.section("the checkpoint reloads bit for bit")
do
  local loaded = engine.load(ckpt).model
  local a, b = model:parameters(), loaded:parameters()
  assert(#a == #b and #a == 32, #a .. " " .. #b)
  for i = 1, #a do
    assert(a[i].name == b[i].name and same(a[i].value, b[i].value), a[i].name)
  end
  local ab, bb = model:buffers(), loaded:buffers()
  assert(#ab == #bb and #ab == 20)
  for i = 1, #ab do
    assert(ab[i].name == bb[i].name and same(ab[i].value, bb[i].value), ab[i].name)
  end
  model:eval(); loaded:eval()
  local x = engine.randn({4, 1, 28, 28})
  assert(same(model:forward(x), loaded:forward(x)), "reloaded outputs")
end

if not has_module("h5py") then
  print("test_resnet_torch: skipped: " .. python .. " cannot import h5py (Debian: python3-h5py)")
  assert(os.execute("rm -rf '" .. dir .. "'"))
  return
end

H.section("h5py reads the nested checkpoint")
do
  local out = run(("%s '%sscripts/checkpoint_info.py' '%s'"):format(python, root, ckpt))
  assert(out:find("residual_2 (residual): conv2d_1.weight [8, 4, 3, 3] float32", 1, true), out)
  assert(out:find("shortcut.batchnorm2d_1.running_var [8] float32", 1, true), out)
end

if not has_module("torch") then
  print("test_resnet_torch: torch part skipped: " .. python .. " cannot import torch")
  assert(os.execute("rm -rf '" .. dir .. "'"))
  return
end

H.section("PyTorch: the exported state_dict gives the engine's loss")
do
  engine.seed(9)
  local x = (engine.rand({200, 1, 28, 28}) * 255):to("u8")
  local labels = {}
  for i = 1, 200 do labels[i] = (i * 7) % 10 end
  local test_path = dir .. "/test.h5"
  data.write(test_path, {test = {x = x, y = engine.tensor(labels, "i64")}})
  local scale, mean, std = 1 / 255, 0.2860, 0.3530
  model:eval()
  local bx, by = data.open(test_path, "test"):batches(200, {scale = scale, mean = mean,
                                                             std = std})()
  local loss = crit:forward(model:forward(bx), by)

  local pt = dir .. "/resnet.pt"
  local script = dir .. "/resnet.py"
  local f = assert(io.open(script, "w"))
  f:write(([[
import sys
sys.path.insert(0, %q)
import h5py, torch
import torch_checkpoint as tc
tc.main(['export', %q, %q])
tc.main(['evaluate', %q, %q, %q, 'test', '--scale', '%.17g', '--mean', '%.17g', '--std', '%.17g'])
twin = tc.resnet(widths=(%d, %d, %d))
twin.load_state_dict(torch.load(%q))  # strict: every key of the twin, num_batches_tracked too
twin.eval()
with h5py.File(%q, "r") as f:
    x = torch.from_numpy(f["test"]["x"][()]).to(torch.float64)
    y = torch.from_numpy(f["test"]["y"][()]).long()
x = ((x * %.17g - %.17g) / %.17g).to(torch.float32)
with torch.no_grad():
    print("loss %%.17g (twin)" %% torch.nn.functional.cross_entropy(twin(x), y).item())
]]):format(root .. "scripts", ckpt, pt, pt, ckpt, test_path, scale, mean, std, widths[1],
    widths[2], widths[3], pt, test_path, scale, mean, std))
  f:close()
  local out = run(("%s '%s'"):format(python, script))
  assert(out:find("residual_2.shortcut.conv2d_1.weight -> residual_2.shortcut.conv2d_1.weight " ..
    "[8, 4, 1, 1] float32", 1, true), out)
  local n = 0
  for torch_loss in out:gmatch("loss (%S+)") do
    n = n + 1
    torch_loss = tonumber(torch_loss)
    io.write(("  engine %.9f  torch %.9f  difference %.2e (f32, %s)\n"):format(loss, torch_loss,
      math.abs(loss - torch_loss), n == 1 and "from the config" or "the twin"))
    assert(math.abs(loss - torch_loss) <= 1e-6, "the losses differ by more than 1e-6")
  end
  assert(n == 2, out)
end

assert(os.execute("rm -rf '" .. dir .. "'"))
print("test_resnet_torch: ok")
