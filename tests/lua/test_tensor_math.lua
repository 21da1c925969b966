-- Tensor math from Lua: operators and broadcasting, dtype promotion, elementwise functions,
-- comparisons, where/masked_fill, reductions with dim/keepdim, matrix products, in-place
-- variants, {out=} destinations (no allocation), strided views and error messages. Expected
-- values are worked out by hand; the PyTorch comparison is tests/test_tensor_math.c.
local H = dofile((arg[0]:match("(.*/)") or "") .. "helpers.lua")
local engine = require("engine")
local check_error, check_tensor, shape_is, near = H.check_error, H.check_tensor, H.shape_is,
  H.near
local T = engine.tensor

H.section("broadcasting operators")
do
  local a = T({{1, 2, 3}, {4, 5, 6}}, "f64")
  check_tensor(a + T({10, 20, 30}, "f64"), {{11, 22, 33}, {14, 25, 36}}, 0)
  check_tensor(a * T({{2}, {-1}}, "f64"), {{2, 4, 6}, {-4, -5, -6}}, 0)
  check_tensor(T({{1}, {2}}, "f64") - T({1, 2, 3}, "f64"), {{0, -1, -2}, {1, 0, -1}}, 0)
  check_tensor(a ^ 2, {{1, 4, 9}, {16, 25, 36}}, 0)
  check_tensor(2 ^ T({1, 3}, "f64"), {2, 8}, 0)
  check_tensor(1 / T({4, 8}, "f64"), {0.25, 0.125}, 0)
  check_tensor(-a, {{-1, -2, -3}, {-4, -5, -6}}, 0)
  local s = T(3, "f64") -- 0-d broadcasts against anything
  shape_is(a * s, {2, 3})
  local c = engine.ones({2, 1, 3}, "f64") + engine.ones({4, 1}, "f64")
  shape_is(c, {2, 4, 3}, "[2,1,3] + [4,1]")
  assert(c:sum() == 48)
end

H.section("dtype promotion (PyTorch's rules)")
do
  local i = T({1, 2, 3}, "i64")
  assert((i + 1):dtype() == "i64" and (i + 1.5):dtype() == "f32", "a float scalar gives f32")
  assert((i / 2):dtype() == "f32", "integer division is true division")
  check_tensor(i / 2, {0.5, 1, 1.5}, 0)
  assert((T({1}, "f32") + T({1}, "f64")):dtype() == "f64")
  assert((T({1}, "i32") + T({1}, "i64")):dtype() == "i64")
  assert((T({1}, "u8") * T({1}, "f32")):dtype() == "f32")
  assert((T({1}, "f32") * 0.1):dtype() == "f32", "a scalar does not widen a float tensor")
  check_tensor(T({200}, "u8") + T({100}, "u8"), {44}, 0, "u8 wraps like PyTorch's")
  check_error("pow: integer operands (i64 ^ number) are not supported", function() return i ^ 2 end)
  check_error("add: destination dtype i64, result dtype f32", i.add_, i, 0.5)
  check_error("add: the number 300 does not fit u8", function() return T({1}, "u8") + 300 end)
end

H.section("elementwise functions")
do
  local x = T({-2, -0.5, 0, 0.5, 2}, "f64")
  check_tensor(x:abs(), {2, 0.5, 0, 0.5, 2}, 0)
  check_tensor(x:sign(), {-1, -1, 0, 1, 1}, 0)
  check_tensor(x:relu(), {0, 0, 0, 0.5, 2}, 0)
  check_tensor(x:clamp(-1, 1), {-1, -0.5, 0, 0.5, 1}, 0)
  check_tensor(x:clamp(nil, 0), {-2, -0.5, 0, 0, 0}, 0)
  check_tensor(x:clamp(0), {0, 0, 0, 0.5, 2}, 0)
  check_tensor(x:exp(), {math.exp(-2), math.exp(-0.5), 1, math.exp(0.5), math.exp(2)}, 0)
  check_tensor(x:tanh(), {math.tanh(-2), math.tanh(-0.5), 0, math.tanh(0.5), math.tanh(2)}, 1e-16)
  check_tensor(x:sigmoid(), {1 / (1 + math.exp(2)), 1 / (1 + math.exp(0.5)), 0.5,
    1 / (1 + math.exp(-0.5)), 1 / (1 + math.exp(-2))}, 0)
  local p = T({1, 4, 0.25}, "f64")
  check_tensor(p:sqrt(), {1, 2, 0.5}, 0)
  check_tensor(p:rsqrt(), {1, 0.5, 2}, 0)
  check_tensor(p:log(), {0, math.log(4), math.log(0.25)}, 0)
  check_tensor(p:log1p(), {math.log(2), math.log(5), math.log(1.25)}, 1e-16)
  check_tensor(T({0, 1}, "f64"):expm1(), {0, math.exp(1) - 1}, 1e-15)
  check_tensor(p:pow(0.5), {1, 2, 0.5}, 0)
  check_tensor(T({1, 5, 3}, "f64"):maximum(T({4, 2, 3}, "f64")), {4, 5, 3}, 0)
  check_tensor(T({1, 5, 3}, "f64"):minimum(T({4, 2, 3}, "f64")), {1, 2, 3}, 0)
  check_tensor(T({1, 5, 3}, "f64"):max(T({4, 2, 3}, "f64")), {4, 5, 3}, 0, "max(other)")
  local nan = T({0 / 0, 1}, "f64"):maximum(T({1, 0 / 0}, "f64")):totable()
  assert(nan[1] ~= nan[1] and nan[2] ~= nan[2], "maximum propagates NaN")
  assert(T({1, 2}, "i64"):exp():dtype() == "f32", "exp of integers gives f32, as torch.exp")
  check_tensor(T({-3, 4}, "i32"):abs(), {3, 4}, 0)
  assert(engine.exp(p):dtype() == "f64", "engine.exp(x) is x:exp()")
end

H.section("comparisons, where, masked_fill")
do
  local a, b = T({1, 2, 3}, "f64"), T({3, 2, 1}, "f64")
  local m = a:lt(b)
  assert(m:dtype() == "u8")
  check_tensor(m, {1, 0, 0}, 0)
  check_tensor(a:le(b), {1, 1, 0}, 0)
  check_tensor(a:gt(2), {0, 0, 1}, 0)
  check_tensor(a:ge(2), {0, 1, 1}, 0)
  check_tensor(a:eq(b), {0, 1, 0}, 0)
  check_tensor(a:ne(b), {1, 0, 1}, 0)
  check_tensor(engine.where(a:gt(1), a, -1), {-1, 2, 3}, 0)
  check_tensor(a:where(a:gt(1), b), {3, 2, 3}, 0, "x:where(cond, y)")
  check_tensor(engine.where(T({{1}, {0}}, "u8"), a, 0), {{1, 2, 3}, {0, 0, 0}}, 0)
  check_tensor(a:masked_fill(a:eq(2), 9), {1, 9, 3}, 0)
  local c = a:clone()
  assert(c:masked_fill_(c:gt(1), 0) == c)
  check_tensor(c, {1, 0, 0}, 0)
  check_error("where: the condition must be a u8 mask", engine.where, a, a, b)
  check_error("masked_fill: value 0.5 does not fit i64",
    function() return T({1}, "i64"):masked_fill(T({1}, "u8"), 0.5) end)
  -- accuracy the tensor way: 1-based argmax against 0-based labels
  local scores = T({{0.1, 0.9}, {0.8, 0.2}, {0.3, 0.7}}, "f64")
  local labels = T({1, 0, 0}, "i64")
  assert((scores:argmax(2) - 1):eq(labels):sum() == 2)
end

H.section("reductions with dim and keepdim")
do
  local t = T({{1, 5, 2}, {7, 0, 7}}, "f64")
  assert(t:sum() == 22 and math.type(T({1, 2}, "i64"):sum()) == "integer")
  check_tensor(t:sum(1), {8, 5, 9}, 0)
  check_tensor(t:sum(2), {8, 14}, 0)
  check_tensor(t:sum(-1), {8, 14}, 0)
  shape_is(t:sum(2, {keepdim = true}), {2, 1})
  check_tensor(t:mean(1), {4, 2.5, 4.5}, 0)
  check_tensor(t:prod(2), {10, 0}, 0)
  check_tensor(t:var(1), {18, 12.5, 12.5}, 0)
  check_tensor(t:var(1, {unbiased = false}), {9, 6.25, 6.25}, 0)
  check_tensor(t:std(2, {unbiased = false}), {math.sqrt(26 / 9), math.sqrt(98 / 9)}, 1e-15)
  near(t:var(), 142 / 15, 1e-15, "var() unbiased: (128 - 22^2/6) / 5")
  check_tensor(t:norm(2, {p = 1}), {8, 14}, 0)
  check_tensor(t:norm(1), {math.sqrt(50), 5, math.sqrt(53)}, 1e-15)
  check_tensor(t:norm(2, {p = math.huge}), {5, 7}, 0)
  check_tensor(t:logsumexp(1), {7 + math.log(1 + math.exp(-6)), 5 + math.log(1 + math.exp(-5)),
    7 + math.log(1 + math.exp(-5))}, 1e-15)
  local v, i = t:max(2)
  check_tensor(v, {5, 7}, 0)
  check_tensor(i, {2, 1}, 0, "first maximum wins")
  v, i = t:min(1, {keepdim = true})
  shape_is(v, {1, 3})
  check_tensor(i, {{1, 2, 1}}, 0)
  check_tensor(t:argmin(2), {1, 2}, 0)
  assert(t:argmin() == 5 and t:max() == 7 and t:min() == 0)
  assert(T({1, 2, 3}, "u8"):sum(1):dtype() == "i64", "integer sums are i64")
  check_error("mean needs a float tensor (f32 or f64), got i64", function() return T({1}, "i64"):mean() end)
  check_error("sum: dimension 3 out of range for [2,3] (1..2 or -2..-1)", t.sum, t, 3)
  check_error("sum: dimension 0 out of range", t.sum, t, 0)
  check_error("sum: unknown option 'keepdims' (expected keepdim, out)", t.sum, t, 1, {keepdims = true})
  check_error("sum: too many arguments (4 given, at most 3 expected)", t.sum, t, 1, {}, 2)
  check_error("sum: options keepdim and out need a dimension", t.sum, t, {keepdim = true})
  check_error("max: dimension 1 of [0] is empty", function() return engine.zeros({0}):max(1) end)
end

H.section("strided views")
do
  local base = T({{1, 2, 3, 4}, {5, 6, 7, 8}, {9, 10, 11, 12}}, "f64")
  local v = base:narrow(2, 2, 2) -- {{2,3},{6,7},{10,11}}, not contiguous
  assert(not v:is_contiguous())
  check_tensor(v * 2, {{4, 6}, {12, 14}, {20, 22}}, 0)
  check_tensor(v:sum(1), {18, 21}, 0)
  check_tensor(v:sum(2), {5, 13, 21}, 0)
  assert(v:sum() == 39)
  check_tensor(v:matmul(T({1, -1}, "f64")), {-1, -1, -1}, 0)
  v:mul_(10)
  check_tensor(base, {{1, 20, 30, 4}, {5, 60, 70, 8}, {9, 100, 110, 12}}, 0, "in place on a view")
end

H.section("matrix products")
do
  local a = T({{1, 2}, {3, 4}, {5, 6}}, "f64")
  local b = T({{1, 0, -1}, {2, 1, 0}}, "f64")
  check_tensor(a:mm(b), {{5, 2, -1}, {11, 4, -3}, {17, 6, -5}}, 0)
  check_tensor(engine.matmul(a, T({1, 1}, "f64")), {3, 7, 11}, 0)
  check_tensor(T({1, 1, 1}, "f64"):matmul(a), {9, 12}, 0)
  assert(T({1, 2}, "f64"):dot(T({3, 4}, "f64")) == 11)
  check_tensor(T({1, 2}, "f64"):outer(T({3, 4, 5}, "f64")), {{3, 4, 5}, {6, 8, 10}}, 0)
  local ba = engine.ones({2, 3, 2}, "f64")
  check_tensor(ba:bmm(engine.ones({2, 2, 4}, "f64")):sum(3), {{8, 8, 8}, {8, 8, 8}}, 0)
  shape_is(engine.ones({5, 1, 3, 2}):matmul(engine.ones({4, 2, 7})), {5, 4, 3, 7}, "batch broadcast")
  check_error("matmul: [3,2] @ [3,2]: dimension 2 of the first (2) must equal dimension 1 of " ..
    "the second (3)", a.matmul, a, a)
  check_error("mm: needs two f32 or two f64 tensors, got f64 and f32", a.mm, a, b:to("f32"))
  check_error("bmm: needs [B,n,k] and [B,k,m], got [3,2] and [2,3]", a.bmm, a, b)
end

H.section("out destinations and in-place ops allocate nothing")
do
  local x = engine.randn({64, 32}, "f32")
  local s, y, m = engine.zeros({64, 32}), engine.zeros({64, 32}), engine.zeros({64, 1})
  local before = engine.allocated_bytes()
  for _ = 1, 10 do
    x:sigmoid({out = s})
    x:mul(s, {out = y})
    y:mean(2, {keepdim = true, out = m})
    y:sub_(m):mul_(2):add_(1):clamp_(-3, 3):div_(2):pow_(2)
    x:add(m, {out = y})
  end
  assert(engine.allocated_bytes() == before, "no tensor storage allocated in the loop")
  check_error("mul: destination [64,1] does not match the result [64,32]",
    x.mul, x, s, {out = m})
  check_error("mul: destination dtype f64, result dtype f32", x.mul, x, s,
    {out = engine.zeros({64, 32}, "f64")})
  check_error("add: unknown option 'dst' (expected out)", x.add, x, 1, {dst = y})
  check_error("sigmoid: too many arguments", x.sigmoid, x, {}, 1)
end

print("test_tensor_math: all passed")
