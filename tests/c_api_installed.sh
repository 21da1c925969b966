#!/bin/sh
# The C API from the outside: install the engine into a temporary prefix, build a C program
# with no Lua against it twice (pkg-config; CMake's find_package(engine)), and check that it
# loads a checkpoint written from Lua and computes the same loss, bit for bit, as Lua did.
#   c_api_installed.sh <engine build dir> <engine source dir> <engine executable>
set -eu
build=$1 src=$2 engine=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
# only public headers are installed
for internal in kernels/conv_direct.h gradcheck/check_internal.h io/checkpoint_impl.h \
                model_split.h; do
  if [ -e "$tmp/prefix/include/engine/$internal" ]; then
    echo "internal header $internal was installed" >&2
    exit 1
  fi
done
"$engine" -e "
local nn = engine.nn
engine.seed(3)
local model = nn.Sequential{nn.Conv2d(1, 4, 3, {padding = 1, dtype = 'f64'}), nn.ReLU(),
                            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 10, {dtype = 'f64'}),
                            nn.Tanh(), nn.Linear(10, 3, {dtype = 'f64'})}
local x = engine.randn({5, 1, 8, 8}, 'f64')
local labels = {0, 2, 1, 1, 0}
local y = engine.tensor(labels, 'i64')
engine.save('$tmp/model.h5', {model = model})
local loss = nn.CrossEntropyLoss():forward(model:eval():forward(x), y)
local f = assert(io.open('$tmp/batch.bin', 'wb'))
for _, v in ipairs(x:reshape({x:numel()}):totable()) do f:write(string.pack('d', v)) end
for _, v in ipairs(labels) do f:write(string.pack('j', v)) end
f:close()
local out = assert(io.open('$tmp/lua_loss.txt', 'w'))
out:write(('%a\n'):format(loss))
out:close()
"
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
# EXTRA_CFLAGS: the sanitizer flags of the build under test (its libengine needs their runtime)
cc -std=c11 -Wall -Wextra ${EXTRA_CFLAGS:-} -o "$tmp/forward_loss_pc" "$src/tests/c_api/forward_loss.c" \
   $(pkg-config --cflags engine) $(pkg-config --libs engine)
cmake -S "$src/tests/c_api" -B "$tmp/cmake_build" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
      -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS="${EXTRA_CFLAGS:-}" >/dev/null
cmake --build "$tmp/cmake_build" >/dev/null
# neither program has any Lua in it
for program in "$tmp/forward_loss_pc" "$tmp/cmake_build/forward_loss"; do
  if nm -D "$program" | grep -q ' lua'; then
    echo "$program refers to Lua symbols" >&2
    exit 1
  fi
  got=$(LD_LIBRARY_PATH="$tmp/prefix/lib" "$program" "$tmp/model.h5" "$tmp/batch.bin" 5 1 8 8)
  want=$(cat "$tmp/lua_loss.txt")
  if [ "$got" != "$want" ]; then
    echo "$program: loss $got, Lua computed $want" >&2
    exit 1
  fi
  echo "$program: loss $got, bit-identical to Lua's"
done
