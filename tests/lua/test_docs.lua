-- Every Lua block of the API reference (docs/api/*.md) runs as written, each in a fresh
-- environment over the host's globals, so that an example that no longer works fails here.
local dir = (arg[0]:match("(.*/)") or "./") .. "../../docs/api/"

local files = {}
local p = assert(io.popen("ls '" .. dir .. "'"))
for name in p:lines() do
  if name:match("%.md$") then files[#files + 1] = name end
end
p:close()
assert(#files > 0, "no docs/api/*.md found in " .. dir)

local ran, failures = 0, {}
for _, name in ipairs(files) do
  local n, block, start = 0, nil, 0
  for line in io.lines(dir .. name) do
    n = n + 1
    if not block and line:match("^```lua%s*$") then
      block, start = {}, n
    elseif block and line:match("^```%s*$") then
      local what = ("docs/api/%s:%d"):format(name, start)
      local env = setmetatable({}, {__index = _G})
      local chunk, err = load(table.concat(block, "\n"), "=" .. what, "t", env)
      local ok = chunk and true or false
      if chunk then ok, err = pcall(chunk) end
      if not ok then failures[#failures + 1] = what .. ": " .. tostring(err) end
      ran, block = ran + 1, nil
    elseif block then
      block[#block + 1] = line
    end
  end
  assert(not block, ("docs/api/%s: the block at line %d is never closed"):format(name, start))
end
if #failures > 0 then
  error(#failures .. " example(s) failed:\n" .. table.concat(failures, "\n"), 0)
end
print(("test_docs: %d examples in %d files ran"):format(ran, #files))
