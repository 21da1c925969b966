-- The layer kinds of issue 15 against PyTorch end to end: a model with every new image kind
-- (BatchNorm2d after training steps, so its running statistics are not the initial ones;
-- depthwise and dilated Conv2d; GELU; AdaptiveAvgPool2d; LayerNorm; BatchNorm1d; LogSoftmax)
-- is saved, exported with scripts/torch_checkpoint.py, and evaluated by torch in eval mode:
-- the same loss in f64 to 1e-12 relative and in f32 to 1e-5; the state_dict imported back
-- loads bit for bit. Skipped with a message without python3-h5py and python3-torch.
local H = dofile((arg[0]:match("(.*/)") or "") .. "helpers.lua")
local engine = require("engine")
local nn, data, optim = engine.nn, engine.data, engine.optim

local root = (arg[0]:match("(.*/)") or "./") .. "../../"
local python = "/usr/bin/python3"
if os.execute(python .. " -c 'import h5py, torch' >/dev/null 2>&1") ~= true then
  print("test_layers_torch: skipped: " .. python .. " cannot import h5py and torch")
  return
end

local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  if not p:close() then error("command failed: " .. cmd .. "\n" .. out, 2) end
  return out
end

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))

engine.seed(4)
local x = (engine.rand({64, 1, 12, 12}) * 255):to("u8")
local labels = {}
for i = 1, 64 do labels[i] = (i * 7) % 5 end
local data_path = dir .. "/set.h5"
data.write(data_path, {test = {x = x, y = engine.tensor(labels, "i64")}})
local scale = 1 / 255

for _, dtype in ipairs({"f64", "f32"}) do
  H.section(dtype)
  local model = nn.Sequential{
    nn.Conv2d(1, 6, 3, {padding = 1, dtype = dtype}), nn.BatchNorm2d(6, {dtype = dtype}),
    nn.GELU(), nn.Conv2d(6, 6, 3, {groups = 6, padding = 2, dilation = 2, dtype = dtype}),
    nn.GELU{approximate = "tanh"}, nn.AdaptiveAvgPool2d({2, 3}), nn.Flatten(),
    nn.LayerNorm(36, {dtype = dtype}), nn.Linear(36, 8, {dtype = dtype}),
    nn.BatchNorm1d(8, {dtype = dtype, momentum = 0.3}), nn.Linear(8, 5, {dtype = dtype}),
    nn.LogSoftmax{dim = 2}}
  local ds = data.open(data_path, "test")
  local crit = nn.NLLLoss()
  local opt = optim.SGD(model, {lr = 0.1, momentum = 0.9})
  for _ = 1, 3 do
    for bx, by in ds:batches(16, {scale = scale, dtype = dtype}) do
      opt:zero_grad()
      crit:forward(model:forward(bx), by)
      model:backward(crit:backward())
      opt:step()
    end
  end
  model:evaluate()
  local bx, by = ds:batches(64, {scale = scale, dtype = dtype})()
  local loss = crit:forward(model:forward(bx), by)
  local ckpt = ("%s/%s.h5"):format(dir, dtype)
  engine.save(ckpt, {model = model})
  local pt, back = ("%s/%s.pt"):format(dir, dtype), ("%s/%s_back.h5"):format(dir, dtype)
  local script = ("%s/%s.py"):format(dir, dtype)
  local f = assert(io.open(script, "w"))
  f:write(("import sys\nsys.path.insert(0, %q)\nimport torch_checkpoint as tc\n"):format(
    root .. "scripts"))
  f:write(("tc.main(['export', %q, %q])\n"):format(ckpt, pt))
  f:write(("tc.main(['evaluate', %q, %q, %q, 'test', '--scale', '%.17g'])\n"):format(pt, ckpt,
    data_path, scale))
  f:write(("tc.main(['import', %q, %q, %q])\n"):format(pt, ckpt, back))
  f:close()
  local out = run(("%s '%s'"):format(python, script))
  assert(out:find("batchnorm2d_1.running_var -> batchnorm2d_1.running_var [6]", 1, true), out)
  local torch_loss = tonumber(out:match("loss (%S+)"))
  local rel = math.abs(loss - torch_loss) / math.abs(torch_loss)
  io.write(("  engine %.15g  torch %.15g  relative difference %.2e (%s)\n"):format(loss,
    torch_loss, rel, dtype))
  assert(rel <= (dtype == "f64" and 1e-12 or 1e-5), "the losses differ")
  local other = engine.load(back).model
  local a, b = model:buffers(), other:buffers()
  assert(#a == 4 and #b == 4)
  for i = 1, #a do
    local d = a[i].value - b[i].value
    assert(d:max() == 0 and d:min() == 0, a[i].name .. " differs after PyTorch")
  end
end

assert(os.execute("rm -rf '" .. dir .. "'"))
print("test_layers_torch: ok")
