-- Shared helpers of the Lua tests: local H = dofile(dir .. "helpers.lua")
local H = {}

-- The engine executable: CTest sets ENGINE_BIN; run by hand, the interpreter running us.
H.engine_bin = os.getenv("ENGINE_BIN") or arg[-1]

-- Calls f(...) and checks that it raises an error whose message contains expected, taken
-- first as a plain substring, then as a Lua pattern. Returns the message.
function H.check_error(expected, f, ...)
  local ok, err = pcall(f, ...)
  if ok then
    error(("expected an error containing %q, but the call succeeded"):format(expected), 2)
  end
  err = tostring(err)
  local found = err:find(expected, 1, true)
  if not found then
    local valid, match = pcall(string.find, err, expected)
    found = valid and match
  end
  if not found then
    error(("expected an error containing %q, got %q"):format(expected, err), 2)
  end
  return err
end

-- |a - b| <= tol, with a message naming what is compared.
function H.near(a, b, tol, what)
  tol = tol or 1e-6
  if not (math.abs(a - b) <= tol) then
    error(("%s: got %.17g, expected %.17g (tolerance %g)"):format(what or "value", a, b, tol), 2)
  end
end

-- Compares a tensor's elements with a nested table of expected numbers.
function H.check_tensor(t, expected, tol, what)
  tol = tol or 1e-6
  what = what or "tensor"
  local got = t:totable()
  local function walk(g, e, pos)
    if type(e) == "table" then
      if type(g) ~= "table" or #g ~= #e then
        error(("%s%s: got %d elements, expected %d"):format(what, pos,
          type(g) == "table" and #g or -1, #e), 3)
      end
      for i = 1, #e do walk(g[i], e[i], pos .. "[" .. i .. "]") end
    elseif not (math.abs(g - e) <= tol) then
      error(("%s%s: got %.17g, expected %.17g"):format(what, pos, g, e), 3)
    end
  end
  walk(got, expected, "")
end

function H.shape_is(t, expected, what)
  local s = t:shape()
  local ok = #s == #expected
  for i = 1, #expected do ok = ok and s[i] == expected[i] end
  if not ok then
    error(("%s: shape {%s}, expected {%s}"):format(what or "tensor", table.concat(s, ","),
      table.concat(expected, ",")), 2)
  end
end

-- Writes source to a temporary script and runs the engine on it (extra: more arguments,
-- redirect: "2>&1" by default). Returns the output, the exit code and the script's path.
function H.run_script(source, redirect, extra)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(source)
  f:close()
  local out, code = H.run(("'%s' %s"):format(path, extra or ""), redirect)
  os.remove(path)
  return out, code, path
end

-- Runs the engine with a command line (already quoted); returns its output and exit code.
function H.run(args, redirect)
  local p = assert(io.popen(("'%s' %s %s"):format(H.engine_bin, args, redirect or "2>&1")))
  local out = p:read("a")
  local _, how, code = p:close()
  assert(how == "exit", "the engine was killed by signal " .. tostring(code))
  return out, code
end

-- Crash tests kill a worker at a point of its observed progress, not after a guessed time (a
-- slow or loaded machine would move a timed kill past the end of the work). The worker is an
-- engine script (args already quoted) that prints, unbuffered, "ready" as its work begins and
-- "step" after each step of it.
-- H.run_steps(script, args): runs it to the end; returns its exit status and the mean seconds
-- of a step (wall time between "ready" and the last "step", over the steps).
function H.run_steps(script, args)
  local clock = require("engine").clock
  local p = assert(io.popen(("exec 2>/dev/null; '%s' '%s' %s; echo \"exit $?\"")
    :format(H.engine_bin, script, args)))
  local ready, last, steps, status
  for line in p:lines() do
    if line == "ready" then
      ready = clock()
    elseif line == "step" then
      last, steps = clock(), (steps or 0) + 1
    elseif line:match("^exit %d+$") then
      status = tonumber(line:match("%d+"))
    end
  end
  p:close()
  assert(ready and steps, script .. ": no progress lines")
  return status, (last - ready) / steps
end

-- H.run_killed(script, args, steps, delay): kills it with SIGKILL delay seconds after its
-- steps-th "step" line (after "ready" when steps is 0); returns its exit status (137 when the
-- kill came before its end).
function H.run_killed(script, args, steps, delay)
  local fifo = os.tmpname()
  os.remove(fifo)
  local cmd = ([[exec 2>/dev/null; mkfifo '%s' || exit 1
'%s' '%s' %s > '%s' & pid=$!
exec 3< '%s'
n=0; while [ $n -le %d ] && read -r _ <&3; do n=$((n+1)); done
sleep %.4f; kill -9 $pid; wait $pid; s=$?
exec 3<&-; rm -f '%s'; echo $s]]):format(fifo, H.engine_bin, script, args, fifo, fifo, steps,
    delay, fifo)
  local p = assert(io.popen(cmd))
  local status = tonumber(p:read("a"))
  p:close()
  return status
end

-- Counts and reports the checks of one test file.
function H.section(name)
  io.write("  ", name, "\n")
end

return H
