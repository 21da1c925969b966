-- The smallest experiment script: what the host passes to a script, and the engine it runs.
--   build/engine scripts/hello.lua a b
local engine = require("engine")
print(("engine %s; arg[1] = %s, arg[2] = %s; %d thread(s)"):format(engine.version,
  tostring(arg[1]), tostring(arg[2]), engine.threads()))
print(engine.randn({2, 3}))
