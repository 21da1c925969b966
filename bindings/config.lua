-- engine.config(defaults [, args [, title]]): a script's settings, overridden by `key=value`
-- arguments (arg by default), each converted to the type of its default (number, boolean or
-- string); an unknown key or a value of the wrong type is an error naming the setting and the
-- known ones. Prints the settings, sorted, under title ("config:"), and returns the table.
--   local config = engine.config({epochs = 1, dtype = "f32"}, arg)
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
    if not key or defaults[key] == nil then
      error(("unknown setting '%s' (settings: %s)"):format(a, table.concat(keys, ", ")), 0)
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
