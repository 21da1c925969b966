-- Every code block of README.md runs as written, in the README's order, in one scratch
-- directory (so files made by one block, such as run.h5, are there for the later ones, as for
-- a reader following along). A Lua block whose first line is "-- (continues the example
-- above)" runs in the same chunk as the block before it, as the reader is told.
-- `scripts/dev quickstart ...` runs as `build/engine scripts/quickstart.lua ...` (its install
-- and build steps are this suite's own). Not run, each for a stated reason: lines calling
-- `scripts/dev test`, `cmake` or `ctest` (they rebuild and rerun this very suite), the plugin C fragment (scripts/plugins/swish is
-- the complete, built example), the layout listing (not code); lines needing python3-torch
-- are skipped with a message when it is not installed. Blocks marked slow in SLOW below (a
-- whole epoch of training) and the quickstart are skipped in the sanitizer builds (ASan at -O0,
-- TSan), where an epoch takes many minutes; the plain build runs them.
local engine = require("engine")

local root = assert(os.getenv("REPO_ROOT"), "REPO_ROOT not set (run through ctest)")
local build = assert(os.getenv("BUILD_DIR"), "BUILD_DIR not set (run through ctest)")
local fast_build = os.getenv("BUILD_TYPE") ~= "Debug" and not os.getenv("README_SANITIZER_BUILD")
local SLOW = {"data.fashion_mnist(\"train\"):batches", "data = data.fashion_mnist(\"train\")"}

local function sh(cmd)
  local ok, how, code = os.execute(cmd)
  return ok, how, code
end

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- the blocks: {lang =, line =, text =}
local blocks, current = {}, nil
local n = 0
for line in io.lines(root .. "/README.md") do
  n = n + 1
  local fence = line:match("^```(%S*)")
  if fence and not current then
    current = {lang = fence, line = n, lines = {}}
  elseif line:match("^```%s*$") and current then
    current.text = table.concat(current.lines, "\n") .. "\n"
    blocks[#blocks + 1] = current
    current = nil
  elseif current then
    current.lines[#current.lines + 1] = line
  end
end
assert(not current, "README.md: a code block opened at line " .. (current and current.line or 0) ..
  " is never closed")
assert(#blocks >= 10, "README.md: only " .. #blocks .. " code blocks found")

-- every link to a section of this README (#anchor) leads to a heading: GitHub's anchors,
-- lower case, punctuation dropped, spaces as hyphens
do
  local anchors, text = {}, {}
  local in_code = false
  for line in io.lines(root .. "/README.md") do
    if line:match("^```") then in_code = not in_code end
    local heading = not in_code and line:match("^#+%s+(.-)%s*$")
    if heading then
      anchors[heading:lower():gsub("[^%w%s%-_]", ""):gsub("%s", "-")] = true
    end
    text[#text + 1] = line
  end
  local all, links = table.concat(text, "\n"), 0
  for anchor in all:gmatch("%]%(#([^)]+)%)") do
    links = links + 1
    assert(anchors[anchor], "README.md links to #" .. anchor .. ", which no heading makes")
  end
  assert(links >= 10, "README.md: only " .. links .. " links to its own sections")
end

local dir = os.tmpname()
os.remove(dir)
assert(sh("mkdir -p " .. quote(dir .. "/build")))
-- the reader's view of the repository: its scripts and datasets, and the build under test
for _, sub in ipairs({"scripts", "datasets", "tests", "bench"}) do
  assert(sh("ln -s " .. quote(root .. "/" .. sub) .. " " .. quote(dir .. "/" .. sub)))
end
assert(sh("ln -s " .. quote(os.getenv("ENGINE_BIN")) .. " " .. quote(dir .. "/build/engine")))
assert(sh("ln -s " .. quote(build .. "/plugins") .. " " .. quote(dir .. "/build/plugins")))

local has_torch = sh("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1")
local ran, skipped, failures = 0, 0, {}

-- Blocks whose printed reports must say PASS (the README says their check passes).
local MUST_PASS = {"check_layer(gate"}

local function run_file(path, what, text)
  local log = dir .. "/last.log"
  local ok = sh("cd " .. quote(dir) .. " && ENGINE_PLUGIN_PATH=" .. quote(dir .. "/build/plugins") ..
                " " .. quote(dir .. "/build/engine") .. " " .. quote(path) .. " >" .. quote(log) ..
                " 2>&1")
  if not ok then
    local f = io.open(log)
    local out = f and f:read("a") or ""
    if f then f:close() end
    failures[#failures + 1] = what .. " failed:\n" .. out:sub(-2000)
  end
  for _, needle in ipairs(MUST_PASS) do
    if ok and text:find(needle, 1, true) then
      local f = assert(io.open(log))
      local out = f:read("a")
      f:close()
      if not out:find("gradient check [^\n]*: PASS") or out:find("FAIL", 1, true) then
        failures[#failures + 1] = what .. ": its check does not PASS:\n" .. out:sub(1, 2000)
      end
    end
  end
  ran = ran + 1
end

local function is_slow(text)
  for _, s in ipairs(SLOW) do
    if text:find(s, 1, true) then return true end
  end
  return false
end

-- Lua blocks: group continuations into one chunk each
local chunks = {}
for _, b in ipairs(blocks) do
  if b.lang == "lua" then
    if b.text:match("^%-%- %(continues the example above%)") and #chunks > 0 then
      local c = chunks[#chunks]
      c.text = c.text .. b.text
      c.lines = c.lines .. "+" .. b.line
    else
      chunks[#chunks + 1] = {text = b.text, lines = tostring(b.line), order = b.line}
    end
  end
  b.chunk = b.lang == "lua" and chunks[#chunks] or nil
end
-- continuations must follow a Lua block directly (no other block between)
do
  local prev_lua
  for _, b in ipairs(blocks) do
    if b.lang == "lua" and b.text:match("^%-%- %(continues the example above%)") then
      assert(prev_lua, "README.md line " .. b.line .. ": continues no Lua example")
    end
    if b.lang == "lua" then prev_lua = b end
  end
end

-- run everything in README order
local done_chunks = {}
for _, b in ipairs(blocks) do
  if b.lang == "lua" then
    local c = b.chunk
    if not done_chunks[c] and c.order == b.line then
      -- a chunk runs once its last continuation is known: run at its first block, whole
      done_chunks[c] = true
      if is_slow(c.text) and not fast_build then
        print("README.md line " .. c.lines .. ": skipped in this sanitizer build (a whole epoch)")
        skipped = skipped + 1
      else
        local path = dir .. "/block_" .. b.line .. ".lua"
        local f = assert(io.open(path, "w"))
        f:write(c.text)
        f:close()
        run_file(path, "README.md Lua block at line " .. c.lines, c.text)
      end
    end
  elseif b.lang == "sh" then
    for cmd in b.text:gmatch("[^\n]+") do
      local bare = cmd:gsub("%s+#.*$", "")
      local quick = bare:match("^scripts/dev quickstart(.*)$")
      if quick then
        -- the build step is this suite's own; the rest is the quickstart script itself
        bare = "build/engine scripts/quickstart.lua" .. quick
      end
      if bare:match("^scripts/dev test") or bare:match("^cmake ") or bare:match("^ctest ") then
        skipped = skipped + 1
      elseif quick and not fast_build then
        print("README.md line " .. b.line .. ": skipped in this sanitizer build (a whole epoch)")
        skipped = skipped + 1
      elseif bare:find("torch_checkpoint.py", 1, true) and not has_torch then
        print("README.md line " .. b.line .. ": skipped without python3-torch: " .. bare)
        skipped = skipped + 1
      else
        local log = dir .. "/last.log"
        local ok = sh("cd " .. quote(dir) .. " && ( " .. bare .. " ) >" .. quote(log) .. " 2>&1")
        if not ok then
          local f = io.open(log)
          local out = f and f:read("a") or ""
          if f then f:close() end
          failures[#failures + 1] = ("README.md sh block at line %d: `%s` failed:\n%s")
            :format(b.line, bare, out:sub(-2000))
        end
        ran = ran + 1
      end
    end
  elseif b.lang ~= "c" and b.lang ~= "" then
    failures[#failures + 1] = ("README.md line %d: a %q block, which this test does not know how "
      .. "to run"):format(b.line, b.lang)
  end
end

sh("rm -rf " .. quote(dir))
if #failures > 0 then
  error(#failures .. " README block(s) failed:\n\n" .. table.concat(failures, "\n\n"), 0)
end
print(("test_readme: %d blocks or commands ran, %d skipped"):format(ran, skipped))
