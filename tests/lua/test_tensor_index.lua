-- engine.Tensor indexing (x[i], x[{...}], assignment through them, copy_, fill_, zero_),
-- creation functions and the refusals of issue 13 (overflowing narrow and reshape, out-of-range
-- conversions). Expected values are worked out by hand; PyTorch agreement is checked by
-- test_tensor_fixtures.lua.
local H = dofile((arg[0]:match("(.*/)") or "") .. "helpers.lua")
local engine = require("engine")
local check_error, check_tensor, shape_is = H.check_error, H.check_tensor, H.shape_is

H.section("x[i] reads along dimension 1")
do
  local x = engine.tensor({{1, 2, 3}, {4, 5, 6}})
  local row = x[2]
  shape_is(row, {3}, "x[2]")
  check_tensor(row, {4, 5, 6})
  assert(row[3] == 6 and x[2][1] == 4, "a 1-d tensor indexes to numbers")
  assert(x[-1][-1] == 6, "negative positions count from the end")
  row[1] = 40
  assert(x:get(2, 1) == 40, "x[i] is a view")
  local v = engine.tensor({7, 8}, "i64")
  assert(math.type(v[1]) == "integer" and v[2] == 8)
  check_error("index 3 out of range for dimension 1 of [2,3] (1..2)", function() return x[3] end)
  check_error("index 0 out of range for dimension 1 of [2,3]", function() return x[0] end)
  check_error("index -3 out of range", function() return x[-3] end)
  check_error("expected an integer", function() return x[1.5] end)
  check_error("tensor index must be a method name, an integer or a table (got boolean)",
    function() return x[true] end)
  check_error("no dimension 1", function() return engine.tensor(3)[1] end)
  assert(x.no_such_method == nil, "unknown names stay nil")
  assert(type(x.numel) == "function", "methods still resolve by name")
end

H.section("x[{...}] slices, Torch7 style")
do
  local x = engine.arange(1, 13, "f64"):view(3, 4) -- 1..12
  check_tensor(x[{{1, 2}, 3}], {3, 7})
  check_tensor(x[{{}, {2, 3}}], {{2, 3}, {6, 7}, {10, 11}})
  check_tensor(x[{{2}}], {{5, 6, 7, 8}})
  check_tensor(x[{-1, {-2, -1}}], {11, 12})
  assert(x[{2, 3}] == 7, "all dimensions selected: a number")
  shape_is(x[{{2, 1}}], {0, 4}, "an empty range")
  check_error("3 entries for a tensor of 2 dimensions [3,4]", function() return x[{1, 1, 1}] end)
  check_error("index 5 out of range for dimension 2 of [3,4] (1..4)",
    function() return x[{1, {2, 5}}] end)
  check_error("range 3..1 is reversed", function() return x[{{3, 1}}] end)
  check_error("entry 1 has 3 elements", function() return x[{{1, 2, 3}}] end)
  check_error("entry 2 is a string", function() return x[{1, "a"}] end)
end

H.section("assignment through indexing, copy_, fill_, zero_")
do
  local x = engine.zeros(3, 4)
  x[2] = 5
  check_tensor(x[2], {5, 5, 5, 5})
  x[{{}, 1}] = engine.tensor({1, 2, 3})
  check_tensor(x:select(2, 1), {1, 2, 3})
  x[{3, {2, 4}}] = engine.tensor({7}) -- broadcast
  check_tensor(x[3], {3, 7, 7, 7})
  x[{1, 4}] = -1
  assert(x:get(1, 4) == -1)
  x[{{1, 2}, {3, 4}}] = engine.tensor({{10, 11}, {12, 13}}, "f64") -- converts the dtype
  check_tensor(x, {{1, 0, 10, 11}, {2, 5, 12, 13}, {3, 7, 7, 7}})
  check_error("copy into [2] from [3]", function() x[{1, {1, 2}}] = engine.tensor({1, 2, 3}) end)
  check_error("value is a string", function() x[1] = "a" end)
  check_error("cannot set field 'foo'", function() x.foo = 1 end)
  local b = engine.zeros({2}, "u8")
  check_error("tensor assignment: value 300 out of range for u8", function() b[1] = 300 end)
  check_error("conversion to u8: value -1", function() b[{}] = engine.tensor({-1, 2}) end)

  local y = engine.zeros(2, 2)
  assert(y:copy_(engine.tensor({{1, 2}, {3, 4}})) == y, "copy_ returns its tensor")
  check_tensor(y, {{1, 2}, {3, 4}})
  y:copy_(engine.tensor({9, 8}))
  check_tensor(y, {{9, 8}, {9, 8}})
  assert(y:fill_(3) == y)
  check_tensor(y, {{3, 3}, {3, 3}})
  y[1]:zero_()
  check_tensor(y, {{0, 0}, {3, 3}})
  check_error("copy_: 3 arguments given, at most 2 expected", y.copy_, y, y, 1)
  check_error("fill: 3 arguments given", y.fill_, y, 1, 2)
end

H.section("creation")
do
  shape_is(engine.zeros(2, 3), {2, 3})
  assert(engine.zeros(2, 3, "f64"):dtype() == "f64")
  check_tensor(engine.ones({2}, "i32"), {1, 1})
  check_tensor(engine.full({2}, 2.5), {2.5, 2.5})
  check_error("zeros: 3 arguments given, at most 2 expected", engine.zeros, {2}, "f64", 1)
  check_error("full: 4 arguments given", engine.full, {2}, 1, "f32", "x")
  check_error("size is not a non-negative integer", engine.zeros, 2, -1)

  local a = engine.arange(5)
  assert(a:dtype() == "i64", "arange over integers is i64, as in PyTorch")
  check_tensor(a, {0, 1, 2, 3, 4})
  check_tensor(engine.arange(1, 2, 0.25), {1, 1.25, 1.5, 1.75})
  assert(engine.arange(1, 2, 0.25):dtype() == "f32")
  check_tensor(engine.arange(5, 1, -2, "f64"), {5, 3})
  assert(engine.arange(0):numel() == 0)
  check_error("step 1 does not lead from start 3 to end 1", engine.arange, 3, 1)
  check_error("step 0 must be", engine.arange, 0, 1, 0)
  check_error("arange: value 300 is out of range for u8", engine.arange, 0, 301, 1, "u8")

  check_tensor(engine.linspace(0, 1, 5), {0, 0.25, 0.5, 0.75, 1})
  check_tensor(engine.linspace(2, 2, 1, "f64"), {2})
  assert(engine.linspace(0, 1, 0):numel() == 0)
  check_error("number of steps -1", engine.linspace, 0, 1, -1)

  check_tensor(engine.eye(2), {{1, 0}, {0, 1}})
  check_tensor(engine.eye(2, 3, "i64"), {{1, 0, 0}, {0, 1, 0}})
  check_error("eye: 4 arguments given", engine.eye, 2, 3, "f32", 1)

  local t = engine.tensor({{1, 2}, {3, 4}}, "f64")
  local z = engine.zeros_like(t)
  assert(z:dtype() == "f64")
  shape_is(z, {2, 2})
  check_tensor(engine.ones_like(t, "i32"), {{1, 1}, {1, 1}})
  check_tensor(engine.full_like(t, 7), {{7, 7}, {7, 7}})
  engine.seed(3)
  local r = engine.rand_like(t)
  assert(r:dtype() == "f64" and r:min() >= 0 and r:max() < 1)
  local n = engine.randn_like(engine.zeros(10000))
  assert(math.abs(n:mean()) < 0.05, "randn_like has mean 0")
  check_error("rand_like: 3 arguments given", engine.rand_like, t, "f32", 1)

  local c = t:clone()
  c[1] = 0
  assert(t:get(1, 1) == 1, "clone copies")
end

H.section("extra arguments are errors; negative positions in narrow and select")
do
  local x = engine.arange(6, "f64"):view(2, 3)
  check_error("numel: 2 arguments given, at most 1 expected", x.numel, x, 1)
  check_error("size: 3 arguments given", x.size, x, 1, 2)
  check_error("to: 3 arguments given", x.to, x, "f32", 1)
  check_error("clone: 2 arguments given", x.clone, x, true)
  check_error("tensor: 3 arguments given", engine.tensor, {1}, "f32", 1)
  check_error("narrow: 5 arguments given", x.narrow, x, 1, 1, 1, 1)
  check_error("unsqueeze: 3 arguments given", x.unsqueeze, x, 1, 1)
  check_tensor(x:narrow(2, -2, 2), {{1, 2}, {4, 5}})
  check_tensor(x:select(2, -1), {2, 5})
  assert(x:size(-1) == 3 and x:size(-2) == 2)
  check_error("dimension -3 out of range for [2,3] (1..2)", x.size, x, -3)
  assert(#x:split(math.maxinteger, 2) == 1, "a piece larger than the dimension")
  check_error("split: size 2 in the list is not a non-negative integer", x.split, x, {1, -1}, 2)
  check_error("split: sizes add up to 2, not 3", x.split, x, {1, 1}, 2)
end

H.section("issue 13: overflowing sizes and positions, out-of-range conversions")
do
  local t = engine.zeros(4)
  check_error("narrow: start " .. math.maxinteger .. ", length 2 out of range", t.narrow, t, 1,
    math.maxinteger, 2)
  check_error("out of range", t.narrow, t, 1, math.mininteger, 2)
  check_error("overflow", t.reshape, t, {2 ^ 62 + 1 | 0, 4})
  check_error("overflow", t.view, t, 2 ^ 62 | 0, 4)
  check_error("overflow", engine.zeros(0).reshape, engine.zeros(0), {2 ^ 62 | 0, 2 ^ 62 | 0, 0})
  local e = engine.zeros(0):reshape(2 ^ 40 | 0, 0)
  assert(tostring(e):find("size=(1099511627776, 0)", 1, true), "an empty tensor prints at once")
  check_error("conversion to i32: value 1e+40", engine.tensor({1e40}, "f64").to,
    engine.tensor({1e40}, "f64"), "i32")
  check_error("nan (element 1 of f64 [1]) is out of range for i64", engine.tensor({0 / 0}, "f64").to, engine.tensor({0 / 0}, "f64"), "i64")
  check_error("out of range for u8", engine.tensor({256}).to, engine.tensor({256}), "u8")
  check_tensor(engine.tensor({2.9, -2.9}):to("i32"), {2, -2})
end

print("tensor indexing: all checks passed")
