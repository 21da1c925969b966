-- engine.progress from Lua: plain lines off a tty (no carriage returns), the forced tty line
-- with an ETA, verbose = false and engine.progress.verbose(false) silencing it, bad options.
local H = dofile("helpers.lua")
local engine = require("engine")
local progress = engine.progress

H.section("plain output off a tty: one final line, on stderr")
local out, code = H.run_script([[
local p = engine.progress.new("count", 5, {unit = "items"})
for i = 1, 5 do p:step() end
p:note("last 5")
p:done()
io.stdout:write("stdout done\n")
]], "2>&1 >/dev/null")
assert(code == 0, out)
-- 5 steps take microseconds; a loaded machine may still pause the process past 0.5 s (0:01)
assert(out:match("^count: 5/5 items in 0:0%d %(.- items/s%), last 5\n$"), out)
assert(not out:find("\r", 1, true), out)

H.section("forced tty mode: redrawn line with count, ETA, then the final line")
out, code = H.run_script([[
local p = engine.progress.new("work", 4, {mode = "tty"})
p:step(1)
local t = engine.clock()
while engine.clock() - t < 0.25 do end -- past the 0.1 s redraw limit
p:step(1)
p:done()
]], "2>&1 >/dev/null")
assert(code == 0, out)
local lines = {}
-- colour escapes (on: a forced tty with NO_COLOR unset) and the clear-to-end-of-line removed
for l in out:gmatch("\r([^\r]*)") do lines[#lines + 1] = l:gsub("\27%[[%d;]*%a", "") end
assert(#lines >= 2, out)
assert(lines[#lines - 1]:match("work %[.*%]%s+50%%%s+2/4 .*ETA %d+:%d%d"), lines[#lines - 1])
assert(lines[#lines]:match("100%%") == nil and lines[#lines]:match(" 50%%"), out)
assert(out:sub(-1) == "\n", "the final line ends with a newline")

H.section("verbose = false and engine.progress.verbose(false) silence it")
out, code = H.run_script([[
local p = engine.progress.new("quiet", 3, {verbose = false})
p:step(3) p:done()
engine.progress.verbose(false)
local q = engine.progress.new("quiet too", 3)
q:step(3) q:done()
local r = engine.progress.new("asked for", 3, {verbose = true})
r:step(3) r:done()
]], "2>&1 >/dev/null")
assert(code == 0, out)
assert(not out:find("quiet"), out)
assert(out:match("^asked for: 3/3 it in"), out)

H.section("a <close> variable ends the display with its final line")
out, code = H.run_script([[
do
  local p <close> = engine.progress.new("scoped", 2, {mode = "plain"})
  p:step(2)
end
]], "2>&1 >/dev/null")
assert(code == 0 and out:match("^scoped: 2/2 it in"), out)

H.section("errors")
H.check_error("unknown option 'colour'", progress.new, "x", 1, {colour = true})
H.check_error("option 'mode' must be auto, tty or plain", progress.new, "x", 1, {mode = "fancy"})
local p = progress.new("x", 1, {verbose = false})
p:done()
H.check_error("already finished", p.step, p)
H.check_error("must be >= 0", progress.new("y", 1, {verbose = false}).step,
              progress.new("z", 1, {verbose = false}), -1)
assert(progress.format_time(3723) == "1:02:03")
print("ok")
