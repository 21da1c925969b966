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

-- Counts and reports the checks of one test file.
function H.section(name)
  io.write("  ", name, "\n")
end

return H
