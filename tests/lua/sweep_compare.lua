-- Compares two sweeps' records run by run, bit for bit, leaving out what may differ between
-- executions (wall time, the log of a crashed run): local C = dofile("sweep_compare.lua")
local C = {}
local SKIP = {seconds = true, log = true, skipped = true}

local function text(v)
  if math.type(v) == "float" then return ("%a"):format(v) end
  return tostring(v)
end

local function same(a, b, path)
  if type(a) ~= type(b) then return false, path .. ": " .. type(a) .. " against " .. type(b) end
  if type(a) ~= "table" then
    if text(a) == text(b) then return true end
    return false, ("%s: %s against %s"):format(path, text(a), text(b))
  end
  for k, v in pairs(a) do
    if not SKIP[k] then
      local ok, why = same(v, b[k], path .. "." .. tostring(k))
      if not ok then return false, why end
    end
  end
  for k in pairs(b) do
    if not SKIP[k] and a[k] == nil then return false, path .. "." .. tostring(k) .. " added" end
  end
  return true
end

function C.keys(records)
  local keys = {}
  for k in pairs(records) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

function C.assert_same(a, b, what)
  local ka, kb = C.keys(a), C.keys(b)
  assert(#ka == #kb, ("%s: %d runs against %d"):format(what, #ka, #kb))
  for _, k in ipairs(ka) do
    local ok, why = same(a[k], b[k], k)
    assert(ok, what .. ": " .. tostring(why))
  end
end

return C
