-- HTML reports, each one self-contained file: inline CSS and SVG (engine/io/plot.c draws the
-- plots), no script, nothing fetched. Page assembly is text templating over the tables that
-- engine.train, engine.sweep.run and the gradient checker already return, so it is Lua; the
-- numbers on the axes (ticks, log scales, colours) are computed in C.
--
--   engine.report.html(path, run_log)          -- a training run: run log path or history
--   engine.sweep.html(path, results [, opts])  -- a sweep: results file path or records
--   report:html(path [, opts])                 -- a gradient check (gradcheck.check's report)
local engine, runlog_read = ...
local M = {}

local CSS = [[
body{font-family:sans-serif;margin:24px auto;max-width:1180px;color:#222;line-height:1.4}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}
td.l,th.l{text-align:left}.pass{color:#176b2c;font-weight:bold}.fail{color:#b00020;font-weight:bold}
.inconclusive{color:#8a6d00;font-weight:bold}tr.marked td{background:#fde8ea}
.verdict{font-size:20px;padding:8px 12px;border-radius:4px;display:inline-block;margin:6px 0}
.verdict.pass{background:#e3f4e7}.verdict.fail{background:#fde8ea}.verdict.inconclusive{background:#fff4d6}
.plots{display:flex;flex-wrap:wrap;gap:12px}.note{color:#555;font-size:13px}
pre{background:#f7f7f7;padding:8px;font-size:12px;overflow-x:auto}
]]

local function esc(s)
  return (tostring(s):gsub("[&<>\"]", {["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
                                       ['"'] = "&quot;"}))
end

local function num(v, fmt)
  if v == nil then return "" end
  if type(v) == "boolean" then return v and "yes" or "no" end
  if type(v) ~= "number" then return esc(v) end
  if v ~= v then return "nan" end
  if math.type(v) == "integer" then return tostring(v) end
  return (fmt or "%.4g"):format(v)
end

local function page(title, body)
  return table.concat({"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
    "<title>", esc(title), "</title><style>", CSS, "</style></head><body>\n<h1>", esc(title),
    "</h1>\n<p class=\"note\">engine ", esc(engine.version), ", ", os.date("!%Y-%m-%d %H:%M UTC"),
    "</p>\n", body, "\n</body></html>\n"})
end

local function write(path, text)
  if type(path) ~= "string" then error("report: the path must be a string", 3) end
  local f, err = io.open(path, "w")
  if not f then error("report: cannot write " .. tostring(err), 3) end
  f:write(text)
  f:close()
end

-- A table from a header list and rows (lists of cell HTML); left = set of left-aligned columns.
local function html_table(header, rows, opts)
  opts = opts or {}
  local out = {"<table", opts.class and (" class=\"" .. opts.class .. "\"") or "", "><tr>"}
  for i, h in ipairs(header) do
    out[#out + 1] = ("<th%s>%s</th>"):format(opts.left and opts.left[i] and " class=\"l\"" or "",
                                             esc(h))
  end
  out[#out + 1] = "</tr>\n"
  for r, row in ipairs(rows) do
    out[#out + 1] = opts.marked and opts.marked[r] and "<tr class=\"marked\">" or "<tr>"
    for i, cell in ipairs(row) do
      out[#out + 1] = ("<td%s>%s</td>"):format(opts.left and opts.left[i] and " class=\"l\"" or "",
                                               cell)
    end
    out[#out + 1] = "</tr>\n"
  end
  out[#out + 1] = "</table>\n"
  return table.concat(out)
end

-- An SVG plot, or a note when there is nothing to draw.
local function plot(spec)
  local ok, svg = pcall(engine.sweep.svg, spec)
  if ok then return svg end
  return ("<p class=\"note\">%s: no plot (%s)</p>"):format(esc(spec.title or ""), esc(svg))
end

local function verdict_cell(v)
  if v == nil then return "" end
  local class = tostring(v):lower()
  return ("<span class=\"%s\">%s</span>"):format(esc(class), esc(v))
end

local function seq(n)
  local t = {}
  for i = 1, n do t[i] = i end
  return t
end

---------------------------------------------------------------------------- training run

local function run_log_of(log)
  if type(log) == "string" then
    local t = runlog_read(log)
    return t, log
  end
  if type(log) ~= "table" then
    error("report.html: run_log must be a run log's path or engine.train's history", 3)
  end
  local epochs = {}
  for _, name in ipairs({"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr",
                         "seconds"}) do
    local col, any = {}, false
    for i, r in ipairs(log.epochs or {}) do
      col[i] = r[name] or 0 / 0
      any = any or r[name] ~= nil
    end
    if any then epochs[name] = col end
  end
  return {settings = log.settings, steps = log.steps or {}, epochs = epochs}, log.log
end

function M.run_html(path, run_log, opts)
  opts = opts or {}
  local log, source = run_log_of(run_log)
  local e, s = log.epochs or {}, log.steps or {}
  local n = e.epoch and #e.epoch or 0
  if n == 0 then error("report.html: the run log has no epoch", 2) end
  local body = {}
  local last = {}
  for k, col in pairs(e) do last[k] = col[n] end
  local summary = {{"epochs", num(n)}, {"steps", num(s.step and #s.step or 0)}}
  for _, k in ipairs({"loss", "accuracy", "val_loss", "val_accuracy", "lr"}) do
    if last[k] then summary[#summary + 1] = {"final " .. k, num(last[k])} end
  end
  local total = 0
  for i = 1, n do total = total + (e.seconds and e.seconds[i] or 0) end
  summary[#summary + 1] = {"training time", ("%.1f s"):format(total)}
  for k, v in pairs(log.settings or {}) do summary[#summary + 1] = {k, num(v)} end
  if source then summary[#summary + 1] = {"run log", esc(source)} end
  body[#body + 1] = "<h2>Summary</h2>\n" .. html_table({"run", "value"}, summary, {left = {true}})
  -- loss: per step (thin) and per epoch (train, validation); x in epochs for both
  local per_step_x = {}
  local steps_per_epoch = s.step and #s.step > 0 and #s.step / n or 1
  for i = 1, s.step and #s.step or 0 do per_step_x[i] = i / steps_per_epoch end
  local loss_series = {}
  if s.loss and #s.loss > 0 then
    loss_series[#loss_series + 1] = {label = "loss per step", x = per_step_x, y = s.loss}
  end
  loss_series[#loss_series + 1] = {label = "training loss (epoch mean)", x = e.epoch, y = e.loss}
  if e.val_loss then
    loss_series[#loss_series + 1] = {label = "validation loss", x = e.epoch, y = e.val_loss}
  end
  local plots = {plot{title = "Loss", xlabel = "epoch", ylabel = "loss", logy = "auto",
                      series = loss_series}}
  if e.accuracy or e.val_accuracy then
    local acc = {}
    if e.accuracy then acc[#acc + 1] = {label = "training accuracy", x = e.epoch, y = e.accuracy} end
    if e.val_accuracy then
      acc[#acc + 1] = {label = "validation accuracy", x = e.epoch, y = e.val_accuracy}
    end
    plots[#plots + 1] = plot{title = "Accuracy", xlabel = "epoch", ylabel = "accuracy",
                             series = acc}
  end
  if s.lr and #s.lr > 0 then
    plots[#plots + 1] = plot{title = "Learning rate", xlabel = "epoch", ylabel = "lr",
                             logy = "auto", series = {{label = "lr per step", x = per_step_x,
                                                       y = s.lr}}}
  end
  if e.seconds then
    plots[#plots + 1] = plot{title = "Time per epoch", xlabel = "epoch", ylabel = "seconds",
                             series = {{label = "seconds", x = e.epoch, y = e.seconds}}}
  end
  body[#body + 1] = "<h2>Curves</h2>\n<div class=\"plots\">" .. table.concat(plots) .. "</div>"
  local header, cols = {}, {}
  for _, k in ipairs({"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"}) do
    if e[k] then header[#header + 1], cols[#cols + 1] = k, e[k] end
  end
  local rows = {}
  for i = 1, n do
    local row = {}
    for j, col in ipairs(cols) do row[j] = num(header[j] == "epoch" and math.tointeger(col[i])
                                               or col[i]) end
    rows[i] = row
  end
  body[#body + 1] = "<h2>Epochs</h2>\n" .. html_table(header, rows)
  write(path, page(opts.title or "Training run", table.concat(body, "\n")))
  return path
end

---------------------------------------------------------------------------- sweep

local function value_text(v)
  if math.type(v) == "float" then return ("%.6g"):format(v) end
  return tostring(v)
end

local function sorted_values(records, key)
  local seen, list = {}, {}
  for _, r in ipairs(records) do
    local v = r.settings[key]
    if v ~= nil and not seen[v] then seen[v] = true; list[#list + 1] = v end
  end
  table.sort(list, function(a, b)
    if type(a) == type(b) and type(a) ~= "boolean" then return a < b end
    return tostring(a) < tostring(b)
  end)
  return list
end

-- The heat map of the final metric over settings xk (columns) and yk (rows, optional); with
-- more varying settings a cell holds the best of its runs. Cells without a finished run show
-- the status of one of them (diverged, error).
local function sweep_heatmap(records, metric, goal, xk, yk, extra)
  local xs = sorted_values(records, xk)
  local ys = yk and sorted_values(records, yk) or {"all runs"}
  local better = goal == "max" and function(a, b) return a > b end
                                or function(a, b) return a < b end
  local values, status, cell = {}, {}, {}
  for j, y in ipairs(ys) do
    for i, x in ipairs(xs) do
      local c = (j - 1) * #xs + i
      values[c], status[c] = 0 / 0, ""
      cell[value_text(x) .. "\0" .. value_text(y)] = c
    end
  end
  for _, r in ipairs(records) do
    local c = cell[value_text(r.settings[xk]) .. "\0" ..
                   (yk and value_text(r.settings[yk]) or "all runs")]
    local v = r.status == "completed" and r.final and r.final[metric]
    if c and v and (values[c] ~= values[c] or better(v, values[c])) then
      values[c], status[c] = v, ""
    elseif c and not v and values[c] ~= values[c] then
      status[c] = r.status
    end
  end
  local xt, yt = {}, {}
  for i, v in ipairs(xs) do xt[i] = value_text(v) end
  for j, v in ipairs(ys) do yt[j] = value_text(v) end
  return engine.sweep.heatmap{title = "final " .. metric .. extra, xlabel = xk, ylabel = yk or "",
    value_label = metric, x = xt, y = yt, values = values, status = status,
    low_is_good = goal ~= "max"}
end

local function sweep_records(results)
  local records = results
  if type(results) == "string" then
    local runs, keys = engine.sweep.read(results)
    records = {}
    for _, k in ipairs(keys) do records[#records + 1] = runs[k] end
  end
  if type(records) ~= "table" or #records == 0 then
    error("sweep.html: results must be a results file's path or sweep.run's records (none)", 3)
  end
  return records
end

function M.sweep_html(path, results, opts)
  opts = opts or {}
  local records = sweep_records(results)
  local metric = opts.metric
  for _, r in ipairs(records) do
    if not metric and r.best then metric = next(r.best) end
  end
  metric = metric or "loss"
  local goal = opts.goal or (metric:find("acc") and "max" or "min")
  -- the settings that vary, in order
  local varying, keys = {}, {}
  for k in pairs(records[1].settings) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    if #sorted_values(records, k) > 1 then varying[#varying + 1] = k end
  end
  local xk, yk = opts.x or varying[1] or keys[1], opts.y or varying[2]
  local counts = {}
  for _, r in ipairs(records) do counts[r.status] = (counts[r.status] or 0) + 1 end
  local body = {}
  body[#body + 1] = ("<h2>Summary</h2>\n<p>%d runs: %d completed, %d diverged, %d crashed "
    .. "(error). Metric <b>%s</b>, %s is best.</p>"):format(#records, counts.completed or 0,
    counts.diverged or 0, counts.error or 0, esc(metric), goal == "max" and "higher" or "lower")
  local extra = #varying > 2 and (" (best over " .. table.concat(varying, ", ", 3) .. ")") or ""
  body[#body + 1] = "<h2>Final " .. esc(metric) .. " over " .. esc(xk) ..
    (yk and (" and " .. esc(yk)) or "") .. esc(extra) .. "</h2>\n" ..
    sweep_heatmap(records, metric, goal, xk, yk, extra)
  -- curves per run (opts.curve, loss by default); a diverged run's curve ends where it blew up
  local curve = opts.curve or "loss"
  local series = {}
  for _, r in ipairs(records) do
    local c = r.curves and r.curves[curve]
    if c and #c > 0 then
      series[#series + 1] = {label = r.key .. " (" .. r.status .. ")", x = seq(#c), y = c}
    end
  end
  if #series > 0 then
    body[#body + 1] = "<h2>" .. esc(curve) .. " per run</h2>\n" .. plot{title = curve ..
      " per logged step (diverged runs end where they blew up)", xlabel = "logged step",
      ylabel = curve, logy = "auto", series = series}
  end
  local rows, marked = {}, {}
  for i, r in ipairs(records) do
    local final = r.final and r.final[metric]
    local class = r.status == "completed" and "pass" or "fail"
    rows[i] = {esc(r.key), ("<span class=\"%s\">%s</span>"):format(class, esc(r.status)),
               num(final), num(r.best and r.best[metric]), num(r.seconds, "%.2f"),
               esc(r.message or "")}
    marked[i] = r.status ~= "completed"
  end
  body[#body + 1] = "<h2>Runs</h2>\n" .. html_table({"run", "status", "final " .. metric,
    "best " .. metric, "seconds", "message"}, rows, {left = {true, true, [6] = true},
    marked = marked})
  write(path, page(opts.title or "Sweep", table.concat(body, "\n")))
  return path
end

---------------------------------------------------------------------------- gradient check

-- The epsilon sweep (V-curves) for a report that holds its model and batch.
local function v_curves(report, opts)
  local sweep = opts.sweep
  if sweep == nil and report._model and report._criterion and report._x then
    local ok, result = pcall(engine.gradcheck.sweep, report._model, report._criterion,
                             report._x, report._y, {samples = opts.sweep_samples or 2})
    sweep = ok and result or nil
  end
  if type(sweep) ~= "table" then return nil end
  local series, marks = {}, {}
  for k, t in ipairs(sweep.tensors) do
    series[k] = {label = t.name, x = sweep.steps, y = t.errors}
    marks[k] = {x = t.chosen, label = ("chosen step %.1e (dashed)"):format(t.chosen or 0 / 0)}
  end
  return plot{title = "Central-difference error against the step (V-curves)", xlabel = "step h",
              ylabel = "median relative error", logx = true, logy = true, series = series,
              marks = marks}
end

local function layers_table(report)
  local failing = report.failing_layer or report.bisected_layer or report.first_failing
  local by_layer, order = {}, {}
  for _, t in ipairs(report.tensors or {}) do
    local name = t.layer or (t.name or ""):match("^(.*)%.") or t.name
    if not by_layer[name] then
      by_layer[name] = {index = t.layer_index, verdicts = {}}
      order[#order + 1] = name
    end
    local l = by_layer[name]
    l.verdicts[#l.verdicts + 1] = t.verdict
    if t.verdict == "FAIL" then l.fail = true end
    l.ratio = l.ratio or t.ratio
  end
  local rows, marked = {}, {}
  local model = report._model
  local names = {}
  if model and pcall(function() return #model end) then
    for i = 1, #model do
      local ok, layer = pcall(function() return model[i] end)
      if ok and layer then names[#names + 1] = {name = layer:name(), kind = layer:kind()} end
    end
  end
  if #names == 0 then
    for _, n in ipairs(order) do names[#names + 1] = {name = n, kind = ""} end
  end
  for i, l in ipairs(names) do
    local info = by_layer[l.name]
    local is_failing = (failing and (l.name == failing or tostring(failing):find(l.name, 1, true) == 1))
                       or (info and info.fail)
    rows[i] = {num(i), esc(l.name), esc(l.kind), info and table.concat(info.verdicts, ", ") or
               "(no parameters)", is_failing and "<span class=\"fail\">&#9664; failing</span>" or ""}
    marked[i] = is_failing and true or false
  end
  local note = failing and ("<p>Layer named at fault: <b>" .. esc(failing) .. "</b></p>") or ""
  return note .. html_table({"#", "layer", "kind", "verdicts of its tensors", ""}, rows,
                            {left = {false, true, true, true, true}, marked = marked})
end

-- The plain (number, string, boolean) fields of t not in known and not hidden (_x), sorted.
local function other_fields(t, known)
  local keys = {}
  for k, v in pairs(t) do
    local kind = type(v)
    if type(k) == "string" and not known[k] and k:sub(1, 1) ~= "_" and
       (kind == "number" or kind == "string" or kind == "boolean") then
      keys[#keys + 1] = k
    end
  end
  table.sort(keys)
  return keys
end

local function tensor_section(t)
  local out = {}
  out[#out + 1] = ("<h3>%s %s</h3>\n"):format(esc(t.name), verdict_cell(t.verdict))
  local facts = {
    {"shape", esc(table.concat(t.shape or {}, "x"))}, {"checked", num(t.checked)},
    {"passed / failed / inconclusive", ("%s / %s / %s"):format(num(t.passed), num(t.failed),
                                                               num(t.inconclusive))},
    {"kinks (not counted)", num(t.kinks)}, {"step h", num(t.step, "%.2e")},
    {"noise floor", num(t.noise_floor, "%.2e")}, {"max relative error", num(t.max_rel, "%.3e")},
    {"median relative error", num(t.median_rel, "%.3e")},
    {"ratio analytic / numerical", t.ratio and (num(t.ratio, "%.6g") .. (t.ratio_error and
      (" &plusmn; " .. num(t.ratio_error, "%.2g")) or "")) or ""},
  }
  if t.chi2 then facts[#facts + 1] = {"chi-square (limit)", ("%s (%s), dof %s"):format(
    num(t.chi2), num(t.chi2_limit), num(t.dof))} end
  for _, k in ipairs(other_fields(t, {name = true, verdict = true, shape = true, checked = true,
      passed = true, failed = true, inconclusive = true, kinks = true, step = true,
      noise_floor = true, max_rel = true, median_rel = true, ratio = true, ratio_error = true,
      chi2 = true, chi2_limit = true, dof = true, diagnosis = true, advice = true,
      layer_index = true})) do
    facts[#facts + 1] = {esc((k:gsub("_", " "))), num(t[k])}
  end
  if t.diagnosis then facts[#facts + 1] = {"diagnosis", "<b>" .. esc(t.diagnosis) .. "</b>"} end
  if t.advice then facts[#facts + 1] = {"advice", esc(t.advice)} end
  out[#out + 1] = html_table({"property", "value"}, facts, {left = {true, true}})
  local rows = {}
  for i, w in ipairs(t.worst or {}) do
    rows[i] = {esc(table.concat(w.index or {}, ",")), num(w.numerical, "%.6e"),
               "&plusmn; " .. num(w.error, "%.1e"), num(w.analytic, "%.6e"),
               num(w.rel_error, "%.2e"), verdict_cell(w.verdict)}
  end
  if #rows > 0 then
    out[#out + 1] = html_table({"index", "numerical", "error bar", "analytic", "rel. error",
                                "verdict"}, rows, {left = {true}})
  end
  return table.concat(out)
end

-- analytic against numerical (|values|, log axes) with the numerical error bars, per tensor
local function scatter(report)
  local series = {}
  for _, t in ipairs(report.tensors or {}) do
    local x, y, err = {}, {}, {}
    for _, w in ipairs(t.worst or {}) do
      if w.numerical and w.analytic then
        x[#x + 1], y[#y + 1] = math.abs(w.numerical), math.abs(w.analytic)
        err[#err + 1] = w.error or 0
      end
    end
    if #x > 0 then
      series[#series + 1] = {label = t.name, x = x, y = y, yerr = err, points = true}
    end
  end
  if #series == 0 then return "" end
  return plot{title = "|analytic| against |numerical| (error bars: the numerical estimate's)",
              xlabel = "|numerical|", ylabel = "|analytic|", logx = true, logy = true,
              diagonal = true, series = series}
end

function M.gradcheck_html(report, path, opts)
  opts = opts or {}
  if type(report) ~= "table" or not report.tensors then
    error("report:html: expected a gradient-check report", 2)
  end
  local body = {}
  local v = report.verdict or (report.ok and "PASS" or "FAIL")
  body[#body + 1] = ("<div class=\"verdict %s\">%s</div>"):format(esc(v:lower()), esc(v))
  if report.summary then body[#body + 1] = "<p>" .. esc(report.summary) .. "</p>" end
  if report.warning then body[#body + 1] = "<p class=\"fail\">" .. esc(report.warning) .. "</p>" end
  local facts = {{"mode", esc(report.mode or "")}, {"dtype", esc(report.dtype or "")},
                 {"loss", num(report.loss, "%.6g")}, {"loss noise", num(report.loss_noise, "%.2e")},
                 {"evaluations", num(report.evaluations)}, {"seconds", num(report.seconds, "%.2f")}}
  -- every other plain field the checker sets (coverage of a sample, estimated time, the layer
  -- named by bisection, ...) is shown too, so new fields appear without a change here
  for _, k in ipairs(other_fields(report, {ok = true, verdict = true, mode = true, dtype = true,
      loss = true, loss_noise = true, evaluations = true, seconds = true, summary = true,
      warning = true, text = true})) do
    facts[#facts + 1] = {esc((k:gsub("_", " "))), num(report[k])}
  end
  body[#body + 1] = html_table({"check", "value"}, facts, {left = {true, true}})
  local rows = {}
  for i, t in ipairs(report.tensors) do
    rows[i] = {esc(t.name), verdict_cell(t.verdict), num(t.checked), num(t.failed),
               num(t.kinks), num(t.median_rel, "%.2e"), num(t.max_rel, "%.2e"),
               t.ratio and (num(t.ratio, "%.4g") .. (t.ratio_error and (" &plusmn; " ..
                 num(t.ratio_error, "%.1g")) or "")) or "", esc(t.diagnosis or "")}
  end
  body[#body + 1] = "<h2>Tensors</h2>\n" .. html_table({"tensor", "verdict", "checked",
    "failed", "kinks", "median rel.", "max rel.", "ratio a/n", "diagnosis"}, rows,
    {left = {true, true, [9] = true}})
  body[#body + 1] = "<h2>Layers</h2>\n" .. layers_table(report)
  local plots = {scatter(report), v_curves(report, opts) or ""}
  body[#body + 1] = "<h2>Plots</h2>\n<div class=\"plots\">" .. table.concat(plots) .. "</div>"
  body[#body + 1] = "<h2>Each tensor</h2>\n"
  for _, t in ipairs(report.tensors) do body[#body + 1] = tensor_section(t) end
  if report.text then body[#body + 1] = "<h2>Text report</h2>\n<pre>" .. esc(report.text) .. "</pre>" end
  write(path, page(opts.title or "Gradient check", table.concat(body, "\n")))
  return report
end

return M
