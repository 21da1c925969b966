-- engine.train: the training loop of Keras' fit, in Lua (compiled into the host). The loop is
-- the README's hand-written one; around it: a progress bar per epoch, validation, a schedule,
-- checkpoints with resume, and a run log (HDF5, CSV on request).
--
--   local history = engine.train{
--     model = model, criterion = nn.CrossEntropyLoss(), optimizer = opt,
--     data = train_set,            -- a dataset (data:batches) or function(epoch) -> iterator
--     batch_size = 64, batches = {scale = 1 / 255},   -- options of data:batches
--     epochs = 5,
--     validate = test_set,         -- a dataset, or function(model) -> {loss =, accuracy =}
--     schedule = sched, schedule_step = "epoch",      -- or "step": sched:step() per batch
--     checkpoint = "run.ckpt.h5", checkpoint_every = 1,  -- epochs; resume = "run.ckpt.h5"
--     log = "run.h5", csv = "run.csv",                  -- per-step and per-epoch metrics
--     verbose = true,
--     on_epoch = function(record, history) end,         -- after each epoch, its record
--   }
-- history.epochs[e] = {epoch=, loss=, accuracy=, val_loss=, val_accuracy=, lr=, seconds=};
-- history.steps = {step = {...}, epoch = {...}, loss = {...}, lr = {...}} (columns).
local C = ... -- {runlog_write, runlog_read, clock} (bindings/l_train.c)

local known = {
  model = true, criterion = true, optimizer = true, data = true, epochs = true,
  batch_size = true, batches = true, validate = true, schedule = true, schedule_step = true,
  checkpoint = true, checkpoint_every = true, resume = true, log = true, csv = true,
  verbose = true, steps_per_epoch = true, clip_grad_norm = true, on_epoch = true,
}

local function fail(fmt, ...)
  error("train: " .. fmt:format(...), 3)
end

local function check_spec(spec)
  if type(spec) ~= "table" then error("train: expected a table of settings", 3) end
  for k in pairs(spec) do
    if not known[k] then
      local names = {}
      for n in pairs(known) do names[#names + 1] = n end
      table.sort(names)
      fail("unknown setting '%s' (expected %s)", tostring(k), table.concat(names, ", "))
    end
  end
  for _, name in ipairs({"model", "criterion", "optimizer", "data"}) do
    if spec[name] == nil then fail("setting '%s' is required", name) end
  end
  if math.type(spec.epochs) ~= "integer" or spec.epochs < 1 then
    fail("setting 'epochs' must be a positive integer, got %s", tostring(spec.epochs))
  end
  local bs = spec.batch_size or 64
  if math.type(bs) ~= "integer" or bs < 1 then
    fail("setting 'batch_size' must be a positive integer, got %s", tostring(bs))
  end
  local every = spec.checkpoint_every
  if every ~= nil and (math.type(every) ~= "integer" or every < 1) then
    fail("setting 'checkpoint_every' must be a positive integer (epochs), got %s",
         tostring(every))
  end
  if every and type(spec.checkpoint) ~= "string" then
    fail("setting 'checkpoint_every' needs 'checkpoint', the checkpoint's path")
  end
  local ss = spec.schedule_step or "epoch"
  if ss ~= "epoch" and ss ~= "step" then
    fail("setting 'schedule_step' must be 'epoch' or 'step', got '%s'", tostring(ss))
  end
  if spec.on_epoch ~= nil and type(spec.on_epoch) ~= "function" then
    fail("setting 'on_epoch' must be a function(record, history), got %s", type(spec.on_epoch))
  end
  if type(spec.data) ~= "function" and type(spec.data) ~= "userdata" then
    fail("setting 'data' must be a dataset or a function(epoch) returning an iterator, got %s",
         type(spec.data))
  end
end

-- The number of correct predictions of out [N,classes] against 0-based labels y [N] (i64).
local function correct_count(out, y)
  if out:dim() ~= 2 or y:dim() ~= 1 or y:dtype() ~= "i64" then return nil end
  return (out:argmax(2) - 1):eq(y):sum() -- argmax is 1-based, labels 0-based
end

local function batches_of(spec, set, shuffle)
  local opts = {}
  for k, v in pairs(spec.batches or {}) do opts[k] = v end
  opts.shuffle = shuffle
  return set:batches(spec.batch_size or 64, opts)
end

-- Mean loss and accuracy of the model on a dataset, in eval mode.
local function evaluate(spec, set)
  if type(set) == "function" then return set(spec.model) end
  local model, crit = spec.model, spec.criterion
  model:eval()
  local loss_sum, n, correct, out = 0, 0, 0, nil
  for x, y in batches_of(spec, set, false) do
    out = model:forward(x, out)
    local b = x:size(1)
    loss_sum = loss_sum + crit:forward(out, y) * b
    n = n + b
    local c = correct_count(out, y)
    correct = c and correct and correct + c or nil
  end
  model:train()
  return {loss = loss_sum / n, accuracy = correct and correct / n or nil}
end

local function steps_per_epoch(spec)
  if spec.steps_per_epoch then return spec.steps_per_epoch end
  if type(spec.data) == "function" then return 0 end
  local n, bs = spec.data:size(), spec.batch_size or 64
  if spec.batches and spec.batches.drop_last then return n // bs end
  return (n + bs - 1) // bs
end

local epoch_metrics = {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"}

local function log_table(spec, history)
  local epochs = {}
  for _, name in ipairs(epoch_metrics) do
    local col, any = {}, false
    for i, r in ipairs(history.epochs) do
      col[i] = r[name] or 0 / 0
      any = any or r[name] ~= nil
    end
    if any then epochs[name] = col end
  end
  return {settings = history.settings, steps = history.steps, epochs = epochs}
end

local function write_csv(path, history)
  local f, err = io.open(path, "w")
  if not f then error("train: cannot write the CSV log: " .. tostring(err), 0) end
  f:write(table.concat(epoch_metrics, ","), "\n")
  for _, r in ipairs(history.epochs) do
    local row = {}
    for i, name in ipairs(epoch_metrics) do
      row[i] = r[name] == nil and "" or ("%.17g"):format(r[name])
    end
    f:write(table.concat(row, ","), "\n")
  end
  f:close()
  local steps_path = path:gsub("%.csv$", "") .. ".steps.csv"
  f = assert(io.open(steps_path, "w"))
  local s = history.steps
  f:write("step,epoch,loss,lr\n")
  for i = 1, #s.step do
    f:write(("%d,%d,%.17g,%.17g\n"):format(s.step[i], s.epoch[i], s.loss[i], s.lr[i]))
  end
  f:close()
end

local function note_of(r)
  local parts = {("loss %.4f"):format(r.loss)}
  if r.accuracy then parts[#parts + 1] = ("accuracy %.4f"):format(r.accuracy) end
  if r.val_loss then parts[#parts + 1] = ("val_loss %.4f"):format(r.val_loss) end
  if r.val_accuracy then parts[#parts + 1] = ("val_accuracy %.4f"):format(r.val_accuracy) end
  parts[#parts + 1] = ("lr %.4g"):format(r.lr)
  return table.concat(parts, ", ")
end

-- Continues from a checkpoint: model, optimizer, schedule, generator; the history up to the
-- checkpoint's epoch from the run log when there is one.
local function resume(spec, history)
  local engine = require("engine")
  local ck = engine.load(spec.resume, {model = false}) -- restores the generator
  spec.model:load(spec.resume)
  spec.optimizer:load(spec.resume)
  if spec.schedule then spec.schedule:load(spec.resume) end
  local epoch = ck.meta.epoch or 0
  local log_ok, log = false, nil
  if spec.log then log_ok, log = pcall(C.runlog_read, spec.log) end
  if log_ok and log.epochs and log.epochs.epoch then
    for i, e in ipairs(log.epochs.epoch) do
      if e <= epoch then
        local r = {}
        for name, col in pairs(log.epochs) do
          if col[i] == col[i] then r[name] = col[i] end
        end
        r.epoch = math.tointeger(r.epoch) or r.epoch
        history.epochs[#history.epochs + 1] = r
      end
    end
    local s = log.steps or {}
    for i = 1, #(s.step or {}) do
      if s.epoch[i] <= epoch then
        for _, name in ipairs({"step", "epoch", "loss", "lr"}) do
          history.steps[name][i] = math.tointeger(s[name][i]) or s[name][i]
        end
      end
    end
  end
  return epoch, math.tointeger(ck.meta.step) or 0
end

local function run_epoch(spec, history, epoch, step, total_steps)
  local model, crit, opt, sched = spec.model, spec.criterion, spec.optimizer, spec.schedule
  local bar = require("engine").progress.new(("epoch %d/%d"):format(epoch, spec.epochs), total_steps,
                             {unit = "steps", verbose = spec.verbose})
  local start = C.clock()
  local iter = type(spec.data) == "function" and spec.data(epoch) or batches_of(spec, spec.data,
                                                                                 true)
  local loss_sum, n, correct, out, dout = 0, 0, 0, nil, nil
  local s = history.steps
  model:train()
  for x, y in iter do
    opt:zero_grad()
    out = model:forward(x, out)
    local loss = crit:forward(out, y)
    dout = crit:backward(dout)
    model:backward(dout)
    if spec.clip_grad_norm then require("engine").optim.clip_grad_norm(model, spec.clip_grad_norm) end
    local lr = opt:lr()
    opt:step()
    if sched and spec.schedule_step == "step" then sched:step() end
    if loss ~= loss or loss == math.huge or loss == -math.huge then
      bar:done()
      error(("train: epoch %d step %d: the loss is %s (lr %g too high?)"):format(epoch,
        step + 1, tostring(loss), lr), 0)
    end
    step = step + 1
    local b = x:size(1)
    loss_sum, n = loss_sum + loss * b, n + b
    local c = correct and correct_count(out, y)
    correct = c and correct + c or nil
    local i = #s.step + 1
    s.step[i], s.epoch[i], s.loss[i], s.lr[i] = step, epoch, loss, lr
    bar:note(("loss %.4f"):format(loss_sum / n))
    bar:step()
  end
  if n == 0 then bar:done() error(("train: epoch %d had no batches"):format(epoch), 0) end
  local record = {epoch = epoch, loss = loss_sum / n, accuracy = correct and correct / n or nil,
                  lr = opt:lr()}
  if sched and spec.schedule_step ~= "step" then sched:step() end
  if spec.validate then
    bar:note("validating")
    bar:set(total_steps > 0 and total_steps or step)
    for k, v in pairs(evaluate(spec, spec.validate)) do record["val_" .. k] = v end
  end
  record.seconds = C.clock() - start
  bar:note(note_of(record))
  bar:done()
  return record, step
end

return function(spec)
  check_spec(spec)
  local engine = require("engine")
  local history = {epochs = {}, steps = {step = {}, epoch = {}, loss = {}, lr = {}},
                   settings = {epochs = spec.epochs, batch_size = spec.batch_size or 64,
                               optimizer = spec.optimizer:kind(), lr = spec.optimizer:lr()}}
  local first, step = 1, 0
  if spec.resume then
    local done_epochs
    done_epochs, step = resume(spec, history)
    first = done_epochs + 1
  end
  local total_steps = steps_per_epoch(spec)
  for epoch = first, spec.epochs do
    local record
    record, step = run_epoch(spec, history, epoch, step, total_steps)
    history.epochs[#history.epochs + 1] = record
    if spec.checkpoint_every and (epoch % spec.checkpoint_every == 0 or epoch == spec.epochs) then
      engine.save(spec.checkpoint, {model = spec.model, optimizer = spec.optimizer,
                                    schedule = spec.schedule,
                                    meta = {epoch = epoch, step = step}})
    end
    if spec.log then C.runlog_write(spec.log, log_table(spec, history)) end
    if spec.csv then write_csv(spec.csv, history) end
    if spec.on_epoch then spec.on_epoch(record, history) end
  end
  history.log = spec.log
  return history
end
