-- The small ResNet of scripts/resnet_fmnist.lua, as a function other scripts and benchmarks
-- reuse (its PyTorch twin: resnet() in scripts/torch_checkpoint.py, the same layers under the
-- same names). With the default widths {16, 32, 64} and strides {2, 2, 2}:
--
--   stem     conv3x3(1 -> 16) - BatchNorm - ReLU                            28x28
--   stage 1  residual block 16 -> 16, stride 2, projection shortcut         14x14
--   stage 2  residual block 16 -> 32, stride 2, projection shortcut          7x7
--   stage 3  residual block 32 -> 64, stride 2, projection shortcut          4x4
--   head     global average pooling - flatten - linear(64 -> classes)
--
-- A block is conv3x3(stride) - BN - ReLU - conv3x3 - BN, added to its shortcut (conv1x1(stride)
-- - BN where the shape changes, else the identity), then ReLU. Convolutions before a BatchNorm
-- have no bias (the BatchNorm's shift takes its place).
--
--   local resnet = dofile("scripts/resnet.lua")
--   local model = resnet.build{widths = {16, 32, 64}, strides = {2, 2, 2}, dtype = "f32"}
local M = {}

function M.block(nn, cin, cout, stride, dtype)
  local body = nn.Sequential{
    nn.Conv2d(cin, cout, 3, {stride = stride, padding = 1, bias = false, dtype = dtype}),
    nn.BatchNorm2d(cout, {dtype = dtype}),
    nn.ReLU(),
    nn.Conv2d(cout, cout, 3, {padding = 1, bias = false, dtype = dtype}),
    nn.BatchNorm2d(cout, {dtype = dtype}),
  }
  if stride == 1 and cin == cout then
    return nn.Residual(body)
  end
  return nn.Residual(body, nn.Sequential{
    nn.Conv2d(cin, cout, 1, {stride = stride, bias = false, dtype = dtype}),
    nn.BatchNorm2d(cout, {dtype = dtype}),
  })
end

-- options: widths {w1, w2, w3} ({16, 32, 64}), strides {s1, s2, s3} ({2, 2, 2}), in_channels
-- (1), classes (10), dtype ("f32").
function M.build(options)
  local nn = require("engine").nn
  options = options or {}
  local w = options.widths or {16, 32, 64}
  local s = options.strides or {2, 2, 2}
  local dtype = options.dtype or "f32"
  return nn.Sequential{
    nn.Conv2d(options.in_channels or 1, w[1], 3, {padding = 1, bias = false, dtype = dtype}),
    nn.BatchNorm2d(w[1], {dtype = dtype}),
    nn.ReLU(),
    M.block(nn, w[1], w[1], s[1], dtype), nn.ReLU(),
    M.block(nn, w[1], w[2], s[2], dtype), nn.ReLU(),
    M.block(nn, w[2], w[3], s[3], dtype), nn.ReLU(),
    nn.AdaptiveAvgPool2d(1),
    nn.Flatten(),
    nn.Linear(w[3], options.classes or 10, {dtype = dtype}),
  }
end

return M
