-- engine.Tensor: constructors, shape, dtype, element access, views, arithmetic, reductions,
-- tostring, __len, __close and error messages. Expected values are worked out by hand.
local H = dofile((arg[0]:match("(.*/)") or "") .. "helpers.lua")
local engine = require("engine")
local check_error, check_tensor, shape_is, near = H.check_error, H.check_tensor, H.shape_is,
  H.near

H.section("module")
assert(engine == _G.engine, "require('engine') and the global engine differ")
assert(engine.version == "0.1.0")

H.section("constructors")
do
  local z = engine.zeros({2, 3})
  shape_is(z, {2, 3}, "zeros")
  assert(z:dtype() == "f32" and z:dim() == 2 and z:numel() == 6)
  check_tensor(z, {{0, 0, 0}, {0, 0, 0}})
  check_tensor(engine.ones({2}, "f64"), {1, 1})
  assert(engine.ones({2}, "f64"):dtype() == "f64")
  local f = engine.full({2, 2}, 7, "i32")
  assert(f:dtype() == "i32")
  check_tensor(f, {{7, 7}, {7, 7}})
  assert(math.type(f:get(1, 1)) == "integer", "integer dtypes give Lua integers")

  local t = engine.tensor({{1, 2, 3}, {4, 5, 6}})
  shape_is(t, {2, 3})
  assert(t:dtype() == "f32")
  check_tensor(t, {{1, 2, 3}, {4, 5, 6}})
  local s = engine.tensor(2.5)
  assert(s:dim() == 0 and s:numel() == 1 and s:sum() == 2.5)
  assert(engine.tensor({1, 2}, "i64"):dtype() == "i64")
  assert(engine.tensor({}, "f64"):numel() == 0)
  assert(engine.tensor({1, 2}, "float64"):dtype() == "f64", "long dtype names accepted")

  engine.seed(42)
  local r = engine.rand({1000})
  assert(r:min() >= 0 and r:max() < 1, "rand is in [0,1)")
  engine.seed(42)
  local r2 = engine.rand({1000})
  assert(r2:get(17) == r:get(17) and r2:get(999) == r:get(999), "seed makes rand repeatable")
  local n = engine.randn({10000}, "f64")
  near(n:mean(), 0, 0.05, "randn mean")
  local var = ((n * n):sum()) / 10000
  near(var, 1, 0.05, "randn variance")
end

H.section("shape, size, #, dtype, to")
do
  local t = engine.zeros({4, 5, 6})
  assert(#t == 4 and t:size(1) == 4 and t:size(2) == 5 and t:size(3) == 6)
  shape_is(t, {4, 5, 6})
  check_error("dimension 4 out of range for [4,5,6] (1..3)", t.size, t, 4)
  local a = engine.tensor({{1.5, -2}, {3, 4}})
  local b = a:to("f64")
  assert(b:dtype() == "f64" and a:dtype() == "f32")
  check_tensor(b, {{1.5, -2}, {3, 4}})
  b:set(1, 1, 100)
  assert(a:get(1, 1) == 1.5, "to() copies")
  local i = engine.tensor({1.75, -2.5}):to("i32")
  check_tensor(i, {1, -2}) -- C conversion truncates toward zero
end

H.section("get/set (1-based), clone, fill, zero")
do
  local t = engine.tensor({{1, 2}, {3, 4}})
  assert(t:get(1, 1) == 1 and t:get(1, 2) == 2 and t:get(2, 1) == 3 and t:get(2, 2) == 4)
  assert(t:set(2, 1, -7) == t, "set returns the tensor")
  assert(t:get(2, 1) == -7)
  local c = t:clone()
  c:set(1, 1, 50)
  assert(t:get(1, 1) == 1, "clone copies")
  assert(t:fill(0.5) == t)
  check_tensor(t, {{0.5, 0.5}, {0.5, 0.5}})
  assert(t:zero() == t)
  check_tensor(t, {{0, 0}, {0, 0}})
  check_error("index 3 out of range for dimension 1 of [2,2] (1..2)", t.get, t, 3, 1)
  check_error("index 0 out of range for dimension 2 of [2,2] (1..2)", t.get, t, 1, 0)
  check_error("1 indices for a tensor of 2 dimensions [2,2]", t.get, t, 1)
  check_error("set: value 300 out of range for u8", engine.zeros({2}, "u8").set,
    engine.zeros({2}, "u8"), 1, 300)
  check_error("number expected, got string", t.set, t, 1, 1, "x")
end

H.section("views: reshape, view, narrow, select")
do
  local t = engine.tensor({{1, 2, 3}, {4, 5, 6}})
  local r = t:reshape({3, 2})
  check_tensor(r, {{1, 2}, {3, 4}, {5, 6}})
  check_tensor(t:view(6), {1, 2, 3, 4, 5, 6})
  shape_is(t:reshape(-1, 2), {3, 2})
  r:set(1, 1, 10)
  assert(t:get(1, 1) == 10, "reshape shares storage")
  local col = t:narrow(2, 2, 2)
  check_tensor(col, {{2, 3}, {5, 6}})
  assert(not col:is_contiguous())
  col:set(2, 2, 60)
  assert(t:get(2, 3) == 60, "narrow shares storage")
  check_tensor(t:select(1, 2), {4, 5, 60})
  check_tensor(t:select(2, 1), {10, 4})
  check_error("reshape [2,3] (6 elements) to [4] (4 elements)", t.reshape, t, {4})
  check_error("cannot be viewed as [4] without a copy", col.view, col, {4})
  local flat = col:reshape({4}) -- PyTorch's reshape: a copy when no view exists
  check_tensor(flat, {2, 3, 5, 60})
  flat:set(1, -1)
  assert(col:get(1, 1) == 2, "reshape of a non-viewable tensor copies")
  check_error("narrow: elements 2..4 out of range for dimension 2 of [2,3]", t.narrow, t, 2, 2, 3)
  check_error("select: index 3 out of range for dimension 1 of [2,3]", t.select, t, 1, 3)
end

H.section("arithmetic")
do
  local a = engine.tensor({{1, 2}, {3, 4}})
  local b = engine.tensor({{0.5, -1}, {2, 8}})
  check_tensor(a + b, {{1.5, 1}, {5, 12}})
  check_tensor(a - b, {{0.5, 3}, {1, -4}})
  check_tensor(a * b, {{0.5, -2}, {6, 32}})
  check_tensor(a / b, {{2, -2}, {1.5, 0.5}})
  check_tensor(a + 1, {{2, 3}, {4, 5}})
  check_tensor(a - 1, {{0, 1}, {2, 3}})
  check_tensor(a * 2, {{2, 4}, {6, 8}})
  check_tensor(a / 4, {{0.25, 0.5}, {0.75, 1}})
  check_tensor(1 + a, {{2, 3}, {4, 5}})
  check_tensor(10 - a, {{9, 8}, {7, 6}})
  check_tensor(3 * a, {{3, 6}, {9, 12}})
  check_tensor(12 / a, {{12, 6}, {4, 3}})
  check_tensor(-a, {{-1, -2}, {-3, -4}})
  local c = a + b
  assert(c ~= a and c ~= b, "arithmetic returns a new tensor")
  check_tensor(a, {{1, 2}, {3, 4}}, 0, "operands unchanged")
  assert((a:to("f64") + 1):dtype() == "f64")
  -- broadcasting and dtype promotion follow PyTorch (tests/lua/test_tensor_math.lua has more)
  check_error("add: shapes [2,2] and [3] do not broadcast: dimension 1 (from the end) has " ..
    "sizes 2 and 3", function() return a + engine.ones({3}) end)
  assert((a + a:to("f64")):dtype() == "f64", "f32 + f64 promotes to f64")
  check_tensor(engine.ones({2}, "i64") * 2, {2, 2})
  assert((engine.ones({2}, "i64") * 2):dtype() == "i64")
  check_error("argument #2 must be an engine.Tensor or a number, got string",
    function() return a + "x" end)
end

H.section("reductions")
do
  local t = engine.tensor({{1, 5, 2}, {7, 0, 7}})
  assert(t:sum() == 22 and t:max() == 7 and t:min() == 0)
  near(t:mean(), 22 / 6, 1e-12, "mean")
  local am = t:argmax(2)
  assert(am:dtype() == "i64")
  check_tensor(am, {2, 1}) -- 1-based; a tie goes to the first maximum
  assert(engine.tensor({3, 9, 1}):argmax() == 2)
  assert(t:argmax() == 4, "argmax without a dim is the flat position, as torch.argmax")
  check_error("argmax: dimension 3 out of range for [2,2]", function()
    return engine.zeros({2, 2}):argmax(3) end)
  check_error("mean of an empty tensor", function() return engine.zeros({0}):mean() end)
  local tt = engine.tensor({{1, 2}, {3, 4}}, "i64"):totable()
  assert(#tt == 2 and tt[2][1] == 3 and math.type(tt[2][1]) == "integer")
end

H.section("tostring")
do
  assert(tostring(engine.tensor({{1, 2}, {3, 4}})) ==
    "tensor([[1.0000, 2.0000],\n        [3.0000, 4.0000]], dtype=f32)")
  assert(tostring(engine.tensor({-1.5, 2}, "f64")) == "tensor([-1.5000,  2.0000], dtype=f64)")
  assert(tostring(engine.tensor({1, 20, 3}, "i64")) == "tensor([ 1, 20,  3], dtype=i64)")
  assert(tostring(engine.tensor(2.5)) == "tensor(2.5000, dtype=f32)")
  -- scientific notation when magnitudes span more than 1e3 (PyTorch's rule)
  assert(tostring(engine.tensor({1e-5, 1, 1000}, "f64")) ==
    "tensor([1.0000e-05, 1.0000e+00, 1.0000e+03], dtype=f64)")
  assert(tostring(engine.tensor({{{1, 2}}, {{3, 4}}})) ==
    "tensor([[[1.0000, 2.0000]],\n\n        [[3.0000, 4.0000]]], dtype=f32)")
  -- 80-column lines: 9 elements of width 6 per line after "tensor(["
  local row = "0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000"
  assert(tostring(engine.full({12}, 0.5)) ==
    "tensor([" .. row .. ",\n        0.5000, 0.5000, 0.5000], dtype=f32)")
  -- past 1000 elements: 3 edge items per dimension
  assert(tostring(engine.zeros({1001})) ==
    "tensor([0.0000, 0.0000, 0.0000,  ..., 0.0000, 0.0000, 0.0000], dtype=f32)")
  local line = "[0.0000, 0.0000, 0.0000,  ..., 0.0000, 0.0000, 0.0000]"
  local sep = ",\n        "
  assert(tostring(engine.zeros({40, 40})) == "tensor([" .. table.concat({line, line, line,
    "...", line, line, line}, sep) .. "], dtype=f32)")
  assert(tostring(engine.zeros({0, 3})) == "tensor([], size=(0, 3), dtype=f32)")
  assert(tostring(engine.tensor({0 / 0, 1 / 0, 1}, "f64")) ==
    "tensor([   nan,    inf, 1.0000], dtype=f64)")
end

H.section("__close and __gc")
do
  local saved
  do
    local t <close> = engine.zeros({3})
    saved = t
    assert(#t == 3)
  end
  check_error("tensor is closed", saved.numel, saved)
  assert(tostring(saved) == "tensor(closed)")
  -- a view outlives the tensor it came from (refcounted storage)
  local v
  do
    local base <close> = engine.tensor({1, 2, 3})
    v = base:narrow(1, 2, 2)
  end
  collectgarbage()
  check_tensor(v, {2, 3})
end

H.section("argument errors")
do
  check_error("unknown dtype 'f16'", engine.zeros, {2}, "f16")
  check_error("tensor: ragged nested table: [2] has 1 elements, expected 2", engine.tensor,
    {{1, 2}, {3}})
  check_error("tensor: element [2,2] is a string, expected a number", engine.tensor,
    {{1, 2}, {3, "a"}})
  check_error("ragged nested table: element [2] is a number, expected a table of 2",
    engine.tensor, {{1, 2}, 3})
  check_error("size 2 is not a non-negative integer", engine.zeros, {2, -1})
  check_error("engine.Tensor expected, got number", engine.zeros({2}).clone, 5)
  check_error("shape table expected, got string", engine.ones, "x")
  check_error("length of a 0-dimensional tensor", function() return #engine.tensor(1) end)
end

print("test_tensor: ok")
