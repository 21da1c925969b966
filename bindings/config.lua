-- engine.config(defaults [, args [, title]]): a script's settings, overridden by `key=value`
-- arguments (arg by default), each converted to the type of its default (number, boolean or
-- string); an unknown key or a value of the wrong type is an error naming the setting and the
-- known ones. Prints the settings, sorted, under title ("config:"), and returns the table.
--   local config = engine.config({epochs = 1, dtype = "f32"}, arg)
-- the known setting nearest to a mistyped one (edit distance at most 2), or nil
local function nearest(name, keys)
  local best, best_d = nil, 3
  for _, k in ipairs(keys) do
    local prev = {}
    for j = 0, #k do prev[j] = j end
    for i = 1, #name do
      local cur = {[0] = i}
      for j = 1, #k do
        local cost = name:byte(i) == k:byte(j) and 0 or 1
        cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
      end
      prev = cur
    end
    if prev[#k] < best_d then best, best_d = k, prev[#k] end
  end
  return best
end

return function(defaults, args, title)
  if type(defaults) ~= "table" then
    error(("engine.config: defaults must be a table, got %s"):format(type(defaults)), 2)
  end
  local keys = {}
  for k in pairs(defaults) do
    if type(k) ~= "string" then
      error(("engine.config: setting names must be strings, got %s"):format(type(k)), 2)
    end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  for _, a in ipairs(args or _G.arg or {}) do
    local key, value = tostring(a):match("^([%a_][%w_]*)=(.*)$")
    local known = table.concat(keys, ", ")
    if not key then
      error(("argument '%s' is not key=value (settings: %s)"):format(a, known), 0)
    elseif defaults[key] == nil then
      local guess = nearest(key, keys)
      error(("unknown setting '%s' in '%s' (%ssettings: %s)"):format(key, a,
        guess and ("did you mean '" .. guess .. "'? ") or "", known), 0)
    end
    local kind = type(defaults[key])
    if kind == "number" then
      local v = tonumber(value)
      if not v then error(("setting %s: '%s' is not a number"):format(key, value), 0) end
      defaults[key] = v
    elseif kind == "boolean" then
      if value ~= "true" and value ~= "false" then
        error(("setting %s: '%s' is not true or false"):format(key, value), 0)
      end
      defaults[key] = value == "true"
    else
      defaults[key] = value
    end
  end
  local width = 0
  for _, k in ipairs(keys) do width = math.max(width, #k) end
  print(title or "config:")
  for _, k in ipairs(keys) do
    print(("  %-" .. width .. "s %s"):format(k, tostring(defaults[k])))
  end
  return defaults
end
