-- engine.config: a script's settings from key=value arguments, typed by their defaults.
local H = dofile("helpers.lua")
local engine = require("engine")

local c = engine.config({epochs = 1, lr = 0.05, dtype = "f32", quick = false, momentum = 0},
                        {"epochs=3", "lr=1e-3", "quick=true", "dtype=f64", "momentum=0.9"})
assert(c.epochs == 3 and math.type(c.epochs) == "integer", tostring(c.epochs))
assert(c.lr == 1e-3 and c.quick == true and c.dtype == "f64" and c.momentum == 0.9)
-- defaults stay without arguments; a value may contain '='
c = engine.config({path = "a", n = 2}, {"path=x=y"})
assert(c.path == "x=y" and c.n == 2)
H.check_error("unknown setting 'epoch' in 'epoch=2' (did you mean 'epochs'? settings: epochs, lr)",
              engine.config, {epochs = 1, lr = 0.1}, {"epoch=2"})
H.check_error("unknown setting 'batch' in 'batch=2' (settings: epochs, lr)", engine.config,
              {epochs = 1, lr = 0.1}, {"batch=2"})
H.check_error("unknown setting 'rl' in 'rl=2' (did you mean 'lr'? settings: epochs, lr)",
              engine.config, {epochs = 1, lr = 0.1}, {"rl=2"})
H.check_error("argument 'epochs' is not key=value (settings: epochs)", engine.config,
              {epochs = 1}, {"epochs"})
H.check_error("argument '--epochs=2' is not key=value (settings: epochs)", engine.config,
              {epochs = 1}, {"--epochs=2"})
H.check_error("setting epochs: 'three' is not a number", engine.config, {epochs = 1},
              {"epochs=three"})
H.check_error("setting quick: 'yes' is not true or false", engine.config, {quick = false},
              {"quick=yes"})
H.check_error("engine.config: defaults must be a table, got nil", engine.config, nil, {})
print("test_config: ok")
