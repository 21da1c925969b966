-- What a directional check covered: its directions, the tensors they spanned and their
-- elements, and the elements then checked one by one (only in tensors whose directions
-- failed). It used to say coverage 1.0 with 0 of 0 elements.
local engine = require("engine")
local gc, nn = engine.gradcheck, engine.nn

engine.seed(3)
-- linear_1.weight [3,4], linear_1.bias [3], linear_2.weight [2,3], linear_2.bias [2]: 23
local model = nn.Sequential{nn.Linear(4, 3, {dtype = "f64"}), nn.Tanh(),
                            nn.Linear(3, 2, {dtype = "f64"})}
local x, y = engine.randn({5, 4}, "f64"), engine.tensor({0, 1, 1, 0, 1}, "i64")
local r = gc.check(model, nn.CrossEntropyLoss(), x, y, {mode = "directional", directions = 4})
assert(r.verdict == "PASS", tostring(r))
assert(r.directions == 8 and r.directions_tensors == 4, -- 2 directions per tensor at least
       ("directions %s over %s tensors"):format(r.directions, r.directions_tensors))
assert(r.elements_total == 23 and r.elements_checked == 0 and r.coverage == 0,
       ("elements %s of %s, coverage %s"):format(r.elements_checked, r.elements_total, r.coverage))
local text = tostring(r)
assert(text:find("coverage: 8 random directions over 4 tensors (each moves every element of " ..
                 "its tensor: 23 in all); 0 elements checked one by one", 1, true), text)

-- a wrong gradient (twice the true one) in a Lua layer's parameter: its directions fail, its
-- one element is checked, and the coverage counts it
local gate = nn.Lua{name = "gate", params = {a = engine.tensor({0.5}, "f64")},
  forward = function(self, xx) return xx * self.params.a:get(1) end,
  backward = function(self, xx, _, dy)
    return dy * self.params.a:get(1), {a = engine.tensor({2 * (xx * dy):sum()}, "f64")}
  end}
local bad = nn.Sequential{nn.Linear(4, 3, {dtype = "f64"}), gate}
y = engine.tensor({0, 1, 2, 1, 0}, "i64")
r = gc.check(bad, nn.CrossEntropyLoss(), x, y, {mode = "directional", directions = 6,
                                                localise = false})
assert(r.verdict == "FAIL" and r.tensors["gate.a"], tostring(r))
local checked = 0
for _, t in ipairs(r.tensors) do checked = checked + t.checked end
assert(r.tensors["gate.a"].checked == 1 and checked >= 1, tostring(r))
assert(r.elements_total == 16 and r.elements_checked == checked and
       r.coverage == checked / 16, ("elements %s of %s, coverage %s"):format(r.elements_checked,
       r.elements_total, r.coverage))
assert(tostring(r):find(("tensor: 16 in all); %d elements checked one by one"):format(checked),
                        1, true), tostring(r))
print(("test_gradcheck_coverage: directional coverage stated (%d of 16 checked one by one)")
      :format(checked))
