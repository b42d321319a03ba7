--- kiva.report: what a run did, for the operator (text), for machines (JSON) and for
-- Excel (a problems CSV). Builds strings and writes files; printing is the CLI's job.
local json = require "kiva.json"
local printable = require("kiva.text").printable

local M = {}

-- Items listed per group on screen; the report and the problems CSV have them all.
M.LIST_LIMIT = 20

local COUNT_NAMES = { "read", "valid", "invalid", "sent", "skipped", "rejected", "unknown" }
M.COUNT_NAMES = COUNT_NAMES

local function message_of(e)
  if type(e) ~= "table" then return tostring(e) end
  local parts = {}
  local field = e.path ~= "" and e.path or e.field   -- ours name a path, Kiva's a field
  if type(field) == "string" and field ~= "" then parts[#parts + 1] = field .. ":" end
  if e.code then parts[#parts + 1] = "[" .. tostring(e.code) .. "]" end
  parts[#parts + 1] = tostring(e.message or e.details or e.detail or "")
  return printable((table.concat(parts, " "):gsub("%s+$", "")))
end
M.message_of = message_of

--- The JSON report of interface.md: { command, counts, items = [ {key, where, status, errors|response} ] },
-- plus `kind`, `period`, `recovered` (keys a killed run left unknown), `notes` and
-- `warnings` ([ {where, message} ]: what the readers warned about, such as a file read
-- as Windows-1252), and, when known, `version`, `target` ({env, api_url, auth_url,
-- partner_id, ledger}), `started_at`/`finished_at` (UTC, ISO 8601), `duration` (s) and
-- `batches` (repayments: {index, count, upload_id, status, message}).
function M.to_table(result)
  local counts = {}
  for _, k in ipairs(COUNT_NAMES) do counts[k] = result.counts[k] or 0 end
  for k, v in pairs(result.counts) do counts[k] = v end
  local items = json.array()
  for _, e in ipairs(result.items or {}) do
    local o = { key = e.key, where = e.where, status = e.status, note = e.note, file = e.file }
    if e.errors then
      o.errors = json.array()
      for i, x in ipairs(e.errors) do o.errors[i] = type(x) == "table" and x or { message = tostring(x) } end
    end
    if e.response then o.response = e.response end
    if e.warnings then o.warnings = e.warnings end
    items[#items + 1] = o
  end
  local t = { command = result.command, kind = result.kind, period = result.period, counts = counts,
    items = items, dry_run = result.dry_run }
  if result.recovered and #result.recovered > 0 then t.recovered = result.recovered end
  if result.warnings and #result.warnings > 0 then
    t.warnings = json.array()
    for i, w in ipairs(result.warnings) do
      t.warnings[i] = type(w) == "table" and { where = w.where, message = w.message } or { message = tostring(w) }
    end
  end
  if result.fatal then t.error = { kind = result.fatal.kind, message = result.fatal.message } end
  if result.findings then t.findings = result.findings end
  -- the run itself, as the run log tells it (each when known)
  t.version = require("kiva")._VERSION
  t.target = result.target
  if result.started_at then t.started_at = os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(result.started_at)) end
  if result.finished_at then t.finished_at = os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(result.finished_at)) end
  t.duration = result.duration
  if type(result.batches) == "table" and #result.batches > 0 then t.batches = result.batches end
  return t
end

local function write(path, data)
  local ok, err = require("kiva.files").write(path, data)
  if not ok then return nil, require("kiva.errors").config("cannot write " .. path .. ": " .. tostring(err)) end
  return true
end

--- Writes the JSON report to `path`. @return true | nil, err
function M.write_json(path, result)
  return write(path, json.encode(M.to_table(result)) .. "\n")
end

--- A cell Excel will not evaluate: a leading = + - @ (or tab/CR, which Excel strips
-- before looking) is prefixed with a quote, then RFC 4180 quoting for `delimiter`
-- (default ",").
function M.csv_cell(v, delimiter)
  local s = v == nil and "" or tostring(v)
  if s:match("^[=+%-@\t\r]") then s = "'" .. s end
  if s:find('[",\r\n]') or (delimiter and s:find(delimiter, 1, true)) then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

M.PROBLEM_COLUMNS = { "where", "key", "status", "field", "code", "message", "severity" }

--- One row per problem of a result (where, key, status, field, code, message,
-- severity), as printable text: an invalid item's errors, a rejected or unknown
-- item's answer (severity "error"), a changed or pending item's note ("note"), and
-- every item's warnings ("warning": what PA2 needs before publishing, or Kiva's own
-- warnings on an accepted line).
function M.problem_rows(result)
  local rows = {}
  local function add(e, p, severity)
    local t = type(p) == "table"
    local row = { e.where, e.key, e.status, t and (p.path or p.field) or nil, t and (p.code or p.kind) or nil,
      t and (p.message or p.details or p.detail) or p, severity }
    for i = 1, 7 do row[i] = printable(row[i]) end
    rows[#rows + 1] = row
  end
  for _, e in ipairs(result.items or {}) do
    if e.errors and #e.errors > 0 then
      for _, p in ipairs(e.errors) do add(e, p, "error") end
    elseif e.status == "changed" or e.status == "pending" then
      add(e, { message = e.note }, "note")
    end
    for _, w in ipairs(e.warnings or {}) do add(e, w, "warning") end
  end
  return rows
end

--- Writes the problems of a result for Excel: a workbook when `path` ends in .xlsx
-- (opens alike in every Excel locale), else CSV in UTF-8 with a byte order mark (so
-- Excel reads accents right), `opts.delimiter` between cells (default ","; ";" is
-- what French- and Spanish-locale Excel splits on).
-- @return true | nil, err (kind "config")
function M.write_problems(path, result, opts)
  opts = opts or {}
  local rows = M.problem_rows(result)
  if path:lower():match("%.xlsx$") then
    table.insert(rows, 1, M.PROBLEM_COLUMNS)
    local ok, err = require("kiva.workbook").write(path, rows, { sheet = "problems" })
    if not ok then return nil, { kind = "config", message = err } end
    return true
  end
  local d = opts.delimiter or ","
  local lines = { table.concat(M.PROBLEM_COLUMNS, d) }
  for _, row in ipairs(rows) do
    for i = 1, 7 do row[i] = M.csv_cell(row[i], d) end
    lines[#lines + 1] = table.concat(row, d)
  end
  return write(path, "\239\187\191" .. table.concat(lines, "\r\n") .. "\r\n")
end

local LEDGER_FIELDS = { "key", "kind", "state", "source", "batch", "sent_at", "updated_at", "hash", "sent_hash" }

local function nested_lines(out, v, indent)
  if type(v) ~= "table" then
    out[#out + 1] = indent .. printable(v)
    return
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local x = v[k]
    if type(x) == "table" then
      out[#out + 1] = indent .. printable(k) .. ":"
      nested_lines(out, x, indent .. "  ")
    elseif x ~= json.null then
      if math.type(x) == "float" and math.tointeger(x) then x = math.tointeger(x) end
      out[#out + 1] = indent .. printable(k) .. ": " .. printable(x)
    end
  end
end

--- One ledger item (a row of kiva.ledger) as readable text: its fields one a line,
-- then Kiva's answer and the problems, nested tables indented.
function M.ledger_item_text(row)
  local out = {}
  for _, f in ipairs(LEDGER_FIELDS) do
    if row[f] ~= nil and row[f] ~= "" and row[f] ~= json.null then
      out[#out + 1] = string.format("%-11s %s", f .. ":", printable(row[f]))
    end
  end
  for _, f in ipairs({ "response", "problems" }) do
    if type(row[f]) == "table" and next(row[f]) ~= nil then
      out[#out + 1] = f .. ":"
      nested_lines(out, row[f], "  ")
    elseif type(row[f]) == "string" and row[f] ~= "" then
      out[#out + 1] = string.format("%-11s %s", f .. ":", printable(row[f]))
    end
  end
  return table.concat(out, "\n") .. "\n"
end

local NEXT = {
  loans = "Review the new drafts in PA2 (Loans > Drafts) and publish them.",
  repayments = "Ask the Kiva coordinator to review and finalise the repayment upload in PA2.",
  journals = "Open each confirm_url above to publish the journal.",
}

local TITLES = {
  { "invalid", "Invalid (fix the export or the mapping):" },
  { "rejected", "Rejected by Kiva:" },
  { "unknown", "Outcome unknown (check PA2, then `kiva ledger resolve KEY sent|unsent`):" },
  { "changed", "Changed since sent:" },
  { "pending", "Not sent:" },
}

--- "Next: ..." after a push that sent something, or nil.
function M.next_step(result, tr)
  tr = tr or require("kiva.i18n").translator("en")
  local sent = (result.counts or {}).sent or 0
  if result.command == "push" and not result.dry_run and sent > 0 and NEXT[result.kind] then
    return tr("Next: %s", tr(NEXT[result.kind]))
  end
end

-- The messages above, for kiva.i18n's catalogue check.
M.MESSAGES = {}
for _, v in pairs(NEXT) do M.MESSAGES[#M.MESSAGES + 1] = v end
for _, t in ipairs(TITLES) do M.MESSAGES[#M.MESSAGES + 1] = t[2] end

-- Where the rest of a cut list is: the files this run wrote, or how to get them.
local function rest_of_list(n, opts, tr)
  local files = {}
  for _, f in ipairs({ opts.problems, opts.report }) do
    if f and f ~= "-" then files[#files + 1] = f end
  end
  if opts.report == "-" or opts.json then files[#files + 1] = "the JSON on stdout" end
  if #files > 0 then return tr("  ... and %d more (all of them in %s)", n, table.concat(files, ", ")) end
  return tr("  ... and %d more (run again with --problems FILE.xlsx to list them all)", n)
end

-- The items of each listed status, and the sent journals to confirm: asked of a
-- push's on-disk store (only the few listed) or taken from the result's items.
local function grouped_items(result)
  local groups, journals = {}, {}
  if result.select then
    -- a push's items are on disk: ask for the few listed here, not every item
    for _, t in ipairs(TITLES) do
      local list, total = result.select({ t[1] }, M.LIST_LIMIT + 1)
      list.total = total
      groups[t[1]] = list
    end
    if result.kind == "journals" then
      for _, e in ipairs((result.select({ "sent" }))) do
        if e.response and e.response.confirm_url then journals[#journals + 1] = e end
      end
    end
  else
    for _, t in ipairs(TITLES) do groups[t[1]] = {} end
    for _, e in ipairs(result.items or {}) do
      if groups[e.status] then table.insert(groups[e.status], e) end
      if e.status == "sent" and e.response and e.response.confirm_url then journals[#journals + 1] = e end
    end
  end
  return groups, journals
end

-- One summary line per listed item, under its status's title, cut at LIST_LIMIT.
local function say_groups(out, groups, opts, tr)
  for _, t in ipairs(TITLES) do
    local list = groups[t[1]]
    if #list > 0 then
      out[#out + 1] = tr(t[2])
      for n, e in ipairs(list) do
        if n > M.LIST_LIMIT then
          out[#out + 1] = rest_of_list((list.total or #list) - M.LIST_LIMIT, opts, tr)
          break
        end
        local msgs = {}
        local where = printable(e.where or "?")
        local prefix = e.where and (where .. ": ")
        for _, p in ipairs(e.errors or {}) do
          local m = message_of(p)
          -- readers put the file:line in their messages too: say it once
          if prefix and m:sub(1, #prefix) == prefix then m = m:sub(#prefix + 1) end
          msgs[#msgs + 1] = m
        end
        if #msgs == 0 and e.note then msgs[1] = printable(e.note) end
        out[#out + 1] = string.format("  %s%s: %s", where, e.key and (" " .. printable(e.key)) or "",
          table.concat(msgs, "; "))
      end
    end
  end
end

-- Items sent (or valid) with warnings: what PA2 will need before publishing.
local function say_warned(out, result, opts, tr)
  local warned, warned_total
  if result.warned then
    warned, warned_total = result.warned(M.LIST_LIMIT + 1)
  else
    warned = {}
    for _, e in ipairs(result.items or {}) do
      if e.warnings and #e.warnings > 0 then warned[#warned + 1] = e end
    end
    warned_total = #warned
  end
  if warned_total > 0 then
    out[#out + 1] = tr("With warnings (what PA2 needs before publishing, or what looks wrong but may be right):")
    for n, e in ipairs(warned) do
      if n > M.LIST_LIMIT then
        out[#out + 1] = rest_of_list(warned_total - M.LIST_LIMIT, opts, tr)
        break
      end
      local msgs = {}
      for _, w in ipairs(e.warnings) do msgs[#msgs + 1] = message_of(w) end
      out[#out + 1] = string.format("  %s%s: %s", printable(e.where or "?"),
        e.key and (" " .. printable(e.key)) or "", table.concat(msgs, "; "))
    end
  end
end

--- The human summary printed at the end of a run. `opts` (all optional): `tr` (a
-- kiva.i18n translator; English without), `report`/`problems` (the files this run
-- wrote, named where a list is cut), `json` (the report went to stdout).
function M.summary(result, opts)
  opts = opts or {}
  local tr = opts.tr or require("kiva.i18n").translator("en")
  local out = {}
  local function say(line) out[#out + 1] = line end
  local c = result.counts
  local label = result.command .. (result.kind and (" " .. result.kind) or "")
    .. (result.dry_run and tr(" (dry run)") or "") .. (result.period and tr(" for %s", result.period) or "")
  say(tr("%s: read %d, valid %d, invalid %d, sent %d, skipped %d, rejected %d, unknown %d", label,
    c.read or 0, c.valid or 0, c.invalid or 0, c.sent or 0, c.skipped or 0, c.rejected or 0, c.unknown or 0))
  if (c.omitted or 0) > 0 then say(tr("  %d row(s) left out by the mapping (it returned nil)", c.omitted)) end
  if (c.warned or 0) > 0 then say(tr("  %d valid item(s) carry warnings (see the report)", c.warned)) end
  for _, w in ipairs(result.warnings or {}) do
    say(tr("Warning: %s", printable(type(w) == "table" and w.message or w)))
  end
  if (c.changed or 0) > 0 then
    say(tr("  %d changed since sent (not resent; --resend-changed resends them)", c.changed))
  end
  if (c.pending or 0) > 0 then say(tr("  %d not sent this run (they will be sent by the next run)", c.pending)) end
  local groups, journals = grouped_items(result)
  say_groups(out, groups, opts, tr)
  say_warned(out, result, opts, tr)
  if result.recovered and #result.recovered > 0 then
    say(tr("A previous run was interrupted; %d item(s) are now of unknown outcome.", #result.recovered))
  end
  if #journals > 0 then
    say(tr("Journals to confirm:"))
    for _, e in ipairs(journals) do
      say(string.format("  %s %s", printable(e.key), printable(e.response.confirm_url)))
    end
  end
  if result.files and result.files.count > 0 then
    say(tr("Payloads written: %d file(s) under %s", result.files.count, result.files.dir))
  end
  if result.fatal then
    say(tr("Stopped: %s", message_of(result.fatal)))
  end
  if opts.next ~= false then
    local next_step = M.next_step(result, tr)
    if next_step then say(next_step) end
  end
  return table.concat(out, "\n") .. "\n"
end

return M
