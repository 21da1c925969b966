#!/bin/sh
# Acceptance test of the progress display on a real terminal: engine.train run under `script`
# (a pseudo-terminal) shows a bar whose count and ETA update; the same run with stderr in a file
# writes one plain line per epoch and no carriage return. The same for a gradient check (the
# seed CNN, every element: a check planned to take over a second shows its bar), which
# `verbose = false` silences.
#   tests/tty_progress.sh <engine binary>
set -eu
engine=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/train.lua" <<'LUA'
local engine = require("engine")
local nn, optim = engine.nn, engine.optim
engine.seed(1)
local x = engine.randn({2048, 32})
local labels = {}
for i = 1, 2048 do labels[i] = i % 4 end
local y = engine.tensor(labels, "i64")
local model = nn.Sequential{nn.Linear(32, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                            nn.Linear(256, 4)}
local busy = engine.clock()
engine.train{model = model, criterion = nn.CrossEntropyLoss(),
  optimizer = optim.SGD(model, {lr = 0.01}), batch_size = 8, epochs = 2,
  -- each batch takes at least 2 ms, so an epoch of 256 steps lasts over half a second
  data = function()
    local it = engine.data.dataset(x, y):batches(8)
    return function()
      local t = engine.clock()
      while engine.clock() - t < 0.002 do end
      return it()
    end
  end, steps_per_epoch = 256}
LUA
# on a pseudo-terminal
TERM=xterm script -qec "'$engine' '$dir/train.lua'" /dev/null > "$dir/tty.txt"
# \r-separated redraws; keep those of epoch 1 that show an ETA
tr '\r' '\n' < "$dir/tty.txt" | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' > "$dir/lines.txt"
redraws=$(grep -c '^epoch 1/2 \[.*ETA [0-9]*:[0-9][0-9]' "$dir/lines.txt" || true)
counts=$(grep '^epoch 1/2 \[.*ETA [0-9]' "$dir/lines.txt" | sed 's/.*  \([0-9]*\)\/256 .*/\1/' |
         sort -u | wc -l)
etas=$(grep '^epoch 1/2 \[.*ETA [0-9]' "$dir/lines.txt" | sed 's/.*ETA //' | sort -u | wc -l)
echo "tty: $redraws redraws of epoch 1 with an ETA, $counts distinct counts, $etas distinct ETAs"
if [ "$redraws" -lt 3 ] || [ "$counts" -lt 3 ]; then
    echo "FAIL: expected a bar redrawn with changing counts and an ETA"; cat "$dir/lines.txt"
    exit 1
fi
grep -q '^epoch 2/2 \[=*\] 100%  256/256 ' "$dir/lines.txt" || {
    echo "FAIL: no final line of epoch 2"; cat "$dir/lines.txt"; exit 1; }
# at most 10 redraws a second: an epoch of at least 0.5 s gives no more than 10 per second + 2
secs=$(grep '^epoch 1/2 \[=*\] 100%' "$dir/lines.txt" | sed 's/.*steps\/s  \([0-9]*\):\([0-9]*\).*/\1 \2/' |
       awk '{print $1 * 60 + $2}' | tail -n 1)
[ "$redraws" -le $(( (secs + 1) * 10 + 2 )) ] || {
    echo "FAIL: $redraws redraws in about $secs s"; exit 1; }
# off a terminal
"$engine" "$dir/train.lua" 2> "$dir/plain.txt" > /dev/null
if grep -q "$(printf '\r')" "$dir/plain.txt"; then
    echo "FAIL: carriage return off a tty"; cat -A "$dir/plain.txt"; exit 1
fi
lines=$(wc -l < "$dir/plain.txt")
epochs=$(grep -c '^epoch [12]/2: 256/256 steps in ' "$dir/plain.txt" || true)
echo "plain: $lines lines, $epochs epoch lines"
[ "$lines" -eq 2 ] && [ "$epochs" -eq 2 ] || { echo "FAIL"; cat "$dir/plain.txt"; exit 1; }

# a gradient check: on a terminal a bar with an ETA that updates; off one, no carriage return
cat > "$dir/check.lua" <<'LUA'
local engine = require("engine")
local nn, gc = engine.nn, engine.gradcheck
engine.seed(1)
local model = nn.Sequential{
  nn.Conv2d(1, 16, 5, {padding = 2, dtype = "f64"}), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
  nn.Linear(16 * 14 * 14, 128, {dtype = "f64"}), nn.ReLU(), nn.Linear(128, 10, {dtype = "f64"}),
}
local x, y = engine.randn({4, 1, 28, 28}, "f64"), engine.tensor({1, 4, 7, 9}, "i64")
-- a budget of 4 s keeps the sanitizer builds short (a sample there); the plain build is full
local report = gc.check(model, nn.CrossEntropyLoss(), x, y,
                        {budget = 4, verbose = arg[1] ~= "quiet"})
print(report.verdict, report.estimated_seconds)
LUA
TERM=xterm script -qec "'$engine' '$dir/check.lua'" /dev/null > "$dir/gc_tty.txt"
tr '\r' '\n' < "$dir/gc_tty.txt" | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' > "$dir/gc_lines.txt"
gc_redraws=$(grep -c '^gradcheck \[.*ETA [0-9]*:[0-9][0-9]' "$dir/gc_lines.txt" || true)
gc_counts=$(grep '^gradcheck \[.*ETA [0-9]' "$dir/gc_lines.txt" | sed 's/.*%  \([0-9]*\)\/.*/\1/' |
            sort -u | wc -l)
echo "gradcheck tty: $gc_redraws redraws with an ETA, $gc_counts distinct counts"
if [ "$gc_redraws" -lt 3 ] || [ "$gc_counts" -lt 3 ]; then
    echo "FAIL: expected the check's bar redrawn with changing counts and an ETA"
    cat "$dir/gc_lines.txt"; exit 1
fi
grep -q '^gradcheck \[=*\] 100%' "$dir/gc_lines.txt" || {
    echo "FAIL: no final line of the check"; cat "$dir/gc_lines.txt"; exit 1; }
grep -q '^PASS' "$dir/gc_lines.txt" || { echo "FAIL: the check did not PASS"; exit 1; }
"$engine" "$dir/check.lua" 2> "$dir/gc_plain.txt" > /dev/null
if grep -q "$(printf '\r')" "$dir/gc_plain.txt"; then
    echo "FAIL: carriage return off a tty (gradcheck)"; cat -A "$dir/gc_plain.txt"; exit 1
fi
grep -q '^gradcheck: [0-9]*/[0-9]* ms of work (est.) in ' "$dir/gc_plain.txt" || {
    echo "FAIL: no plain final line of the check"; cat "$dir/gc_plain.txt"; exit 1; }
echo "gradcheck plain: $(wc -l < "$dir/gc_plain.txt") lines"
TERM=xterm script -qec "'$engine' '$dir/check.lua' quiet" /dev/null > "$dir/gc_quiet.txt"
if grep -q 'gradcheck' "$dir/gc_quiet.txt"; then
    echo "FAIL: verbose = false still shows the check's progress"; cat -A "$dir/gc_quiet.txt"
    exit 1
fi
echo "ok"
