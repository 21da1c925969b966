-- Compares the parameters of two checkpoints: for each tensor max|a - b| / max|b|, and fails
-- above the tolerance.   engine compare_params.lua A.h5 B.h5 TOL
local engine = require("engine")
local a_path, b_path, tol = arg[1], arg[2], assert(tonumber(arg[3]), "a tolerance")
local a = engine.load(a_path).model:parameters()
local b = engine.load(b_path).model:parameters()
assert(#a == #b and #a > 0, ("%d against %d parameters"):format(#a, #b))
local worst, worst_name = 0, nil
for i = 1, #a do
  assert(a[i].name == b[i].name, a[i].name .. " against " .. b[i].name)
  local diff = (a[i].value - b[i].value):abs():max()
  local scale = b[i].value:abs():max()
  local rel = diff / scale
  if worst_name == nil or not (rel <= worst) then worst, worst_name = rel, a[i].name end
end
print(("%s against %s: largest relative difference %.3g (%s), tolerance %g"):format(a_path,
  b_path, worst, worst_name, tol))
if not (worst <= tol) then error(("parameters differ by %.3g > %g"):format(worst, tol), 0) end
