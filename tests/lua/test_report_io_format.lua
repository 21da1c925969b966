-- report:save, now in C (engine/gradcheck/report_io.c), writes the file the Lua writer that
-- preceded it wrote: for checks of every kind, the /meta tree of both files is compared value
-- for value and type for type (integer or float). The old writer is taken verbatim from
-- tests/fixtures/gradcheck_report_old.lua, the script that made the C tests' fixture.
local H = dofile("helpers.lua")
local engine = require("engine")
local gc, nn = engine.gradcheck, engine.nn

local f = assert(io.open("../fixtures/gradcheck_report_old.lua"))
local script = f:read("a")
f:close()
local writer = assert(script:match("%-%- %-%-%-%- the old writer.-\n%-%- %-%-%-%- end of the old writer"),
                      "the old writer is not in the fixture script")
local env = setmetatable({engine = engine}, {__index = _G})
local old_save = assert(load(writer .. "\nreturn old_save", "=old writer", "t", env))()

local function compare(path, a, b)
  assert(type(a) == type(b) and math.type(a) == math.type(b),
         ("%s: %s (%s) in the old file, %s (%s) in the new"):format(path, tostring(a),
           math.type(a) or type(a), tostring(b), math.type(b) or type(b)))
  if type(a) == "table" then
    for k, v in pairs(a) do compare(path .. "." .. k, v, b[k]) end
    for k in pairs(b) do assert(a[k] ~= nil, path .. "." .. k .. " is only in the new file") end
  else
    assert(a == b or (a ~= a and b ~= b), ("%s: %s in the old file, %s in the new"):format(
           path, tostring(a), tostring(b)))
  end
end

engine.seed(5)
local model = nn.Sequential{nn.Conv2d(1, 2, 3, {dtype = "f64"}), nn.ReLU(), nn.Flatten(),
                            nn.Linear(8, 3, {dtype = "f64"})}
local x, y = engine.randn({2, 1, 4, 4}, "f64"), engine.tensor({0, 2}, "i64")
local lua_criterion = {forward = function(_, i) return 0.5 * (i * i):sum() end,
                       backward = function(_, i) return i end}
local checks = {
  element = function() return gc.check(model, nn.CrossEntropyLoss(), x, y, {samples = 4, seed = 2}) end,
  options = function()
    return gc.check(model, nn.CrossEntropyLoss(), x, y, {only = "linear_1.weight", step = 1e-6,
                                                         rtol = 1e-5, nsigma = 3.5, worst = 2})
  end,
  directional = function()
    return gc.check(model, nn.MSELoss(), x, engine.randn({2, 3}, "f64"),
                    {mode = "directional", directions = 4, input = true, seed = 3})
  end,
  layer_wise = function() return gc.check_layers(model, x, {samples = 5}) end,
  lua_criterion = function() return gc.check(model, lua_criterion, x, y) end,
}
local old, new = os.tmpname(), os.tmpname()
local function old_file(r) -- as the Lua writer saw reports: a criterion written in Lua not kept
  local c = r._criterion
  if type(c) == "table" then r._criterion = nil end
  old_save(r, old)
  r._criterion = c
end
for _, name in ipairs{"lua_criterion", "options", "directional", "layer_wise", "element"} do
  local r = checks[name]()
  old_file(r)
  assert(r:save(new) == r)
  local new_meta = engine.load(new).meta
  if name == "lua_criterion" then -- the C writer records that the criterion was written in
    local g = new_meta.gradcheck -- Lua, and its target; the Lua writer left both out
    assert(g.criterion == "lua" and g.y_dtype == "i64" and #g.y == 2 and g.y_shape[1] == 2)
    g.criterion, g.y, g.y_shape, g.y_dtype = nil, nil, nil, nil
  end
  compare(name .. ": meta", engine.load(old).meta, new_meta)
  if name ~= "lua_criterion" then -- a criterion written in Lua cannot be rebuilt from the file
    local a, b = gc.replay(old), gc.replay(new)
    assert(a.verdict == b.verdict and a.replay.same_verdict and b.replay.same_verdict, name)
  end
end
old_file(checks.lua_criterion())
H.check_error("criterion and y are missing: unknown criterion and target", gc.replay, old)
H.check_error("meta.gradcheck.y is missing", gc.replay, old, nil, lua_criterion)
old_save(checks.element(), old)
-- a replayed report can be saved again, from the saved report it holds
local again = gc.replay(old)
again:save(new)
compare("saved again: meta", engine.load(old).meta, engine.load(new).meta)
os.remove(old)
os.remove(new)
print("test_report_io_format: the C writer writes what the Lua writer wrote")
