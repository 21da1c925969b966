#!/bin/sh
# The plugin contract from the outside: install the engine into a temporary prefix, build the
# example plugin as a separate CMake project with find_package(engine), load it in the host
# and train a Sequential that uses it.
#   plugin_out_of_tree.sh <engine build dir> <engine source dir> <engine executable>
set -eu
build=$1 src=$2 engine=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cmake -S "$src/scripts/plugins/swish" -B "$tmp/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
      -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tmp/build" >/dev/null
test -f "$tmp/build/libswish.so"
# the plugin takes every engine symbol from the host: none may be defined in it
if nm -D --defined-only "$tmp/build/libswish.so" | grep -q ' T eng_'; then
  echo "libswish.so defines engine symbols of its own" >&2
  exit 1
fi
"$engine" -e "
local nn = engine.nn
local info = engine.plugin.load('$tmp/build/libswish.so')
engine.seed(1)
local model = nn.Sequential{nn.new('scaled_linear', {in_features = 4, out_features = 3,
                                                     scale = 0.5}),
                            nn.new('swish'), nn.Linear(3, 2)}
local opt = engine.optim.SGD(model, {lr = 0.5})
local crit = nn.CrossEntropyLoss()
local x, y = engine.randn({8, 4}), engine.tensor({0, 1, 0, 1, 1, 0, 1, 0}, 'i64')
local first, last
for step = 1, 40 do
  opt:zero_grad()
  last = crit:forward(model:forward(x), y)
  first = first or last
  model:backward(crit:backward())
  opt:step()
end
assert(last < first, ('loss %g -> %g'):format(first, last))
print(('out-of-tree plugin %s: loss %.4f -> %.4f (f32)'):format(info.path, first, last))
engine.save('$tmp/trained.h5', {model = model})
local out = io.open('$tmp/expected.txt', 'w')
for _, p in ipairs(model:parameters()) do
  for _, v in ipairs(p.value:reshape({p.value:numel()}):totable()) do out:write(('%a\\n'):format(v)) end
end
out:close()
"
# the checkpoint round-trips in a new process: the model is rebuilt from the file alone
"$engine" -e "
engine.plugin.load('$tmp/build/libswish.so')
local model = engine.load('$tmp/trained.h5').model
local expected = io.open('$tmp/expected.txt')
for _, p in ipairs(model:parameters()) do
  for _, v in ipairs(p.value:reshape({p.value:numel()}):totable()) do
    assert(('%a'):format(v) == expected:read('l'), p.name .. ' differs after the round trip')
  end
end
assert(expected:read('l') == nil)
print('checkpoint of the plugin model round-trips bit for bit: ' .. tostring(model[1]))
"
