--- kiva.report: what a run did, for the operator (text), for machines (JSON) and for
-- Excel (a problems CSV). Builds strings and writes files; printing is the CLI's job.
local cjson = require "cjson"

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
  return (table.concat(parts, " "):gsub("%s+$", ""))
end
M.message_of = message_of

--- The JSON report of interface.md: { command, counts, items = [ {key, where, status, errors|response} ] },
-- plus `kind`, `period`, `recovered` (keys a killed run left unknown), `notes` and
-- `warnings` ([ {where, message} ]: what the readers warned about, such as a file read
-- as Windows-1252).
function M.to_table(result)
  local counts = {}
  for _, k in ipairs(COUNT_NAMES) do counts[k] = result.counts[k] or 0 end
  for k, v in pairs(result.counts) do counts[k] = v end
  local items = setmetatable({}, cjson.array_mt)
  for _, e in ipairs(result.items or {}) do
    local o = { key = e.key, where = e.where, status = e.status, note = e.note, file = e.file }
    if e.errors then
      o.errors = setmetatable({}, cjson.array_mt)
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
    t.warnings = setmetatable({}, cjson.array_mt)
    for i, w in ipairs(result.warnings) do
      t.warnings[i] = type(w) == "table" and { where = w.where, message = w.message } or { message = tostring(w) }
    end
  end
  if result.fatal then t.error = { kind = result.fatal.kind, message = result.fatal.message } end
  if result.findings then t.findings = result.findings end
  return t
end

local function write(path, data)
  local f, err = io.open(path, "wb")
  if not f then return nil, require("kiva.errors").config("cannot write " .. path .. ": " .. tostring(err)) end
  f:write(data)
  f:close()
  return true
end

--- Writes the JSON report to `path`. @return true | nil, err
function M.write_json(path, result)
  return write(path, cjson.encode(M.to_table(result)) .. "\n")
end

--- A cell Excel will not evaluate: a leading = + - @ (or tab/CR, which Excel strips
-- before looking) is prefixed with a quote, then RFC 4180 quoting.
function M.csv_cell(v)
  local s = v == nil and "" or tostring(v)
  if s:match("^[=+%-@\t\r]") then s = "'" .. s end
  if s:find('[",\r\n]') then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

--- Writes one CSV line per problem: where, key, status, field, code, message.
function M.write_problems(path, result)
  local lines = { "where,key,status,field,code,message" }
  local function add(e, p)
    local row = { e.where, e.key, e.status, type(p) == "table" and (p.path or p.field) or nil,
      type(p) == "table" and (p.code or p.kind) or nil,
      type(p) == "table" and (p.message or p.details or p.detail) or tostring(p) }
    for i = 1, 6 do row[i] = M.csv_cell(row[i]) end
    lines[#lines + 1] = table.concat(row, ",")
  end
  for _, e in ipairs(result.items or {}) do
    if e.errors and #e.errors > 0 then
      for _, p in ipairs(e.errors) do add(e, p) end
    elseif e.status == "changed" or e.status == "pending" then
      add(e, { message = e.note })
    end
    for _, w in ipairs(e.warnings or {}) do add(e, w) end
  end
  return write(path, table.concat(lines, "\r\n") .. "\r\n")
end

local NEXT = {
  loans = "Review the new drafts in PA2 (Loans > Drafts) and publish them.",
  repayments = "Ask the Kiva coordinator to review and finalise the repayment upload in PA2.",
  journals = "Open each confirm_url above to publish the journal.",
}

--- The human summary printed at the end of a run.
function M.summary(result)
  local out = {}
  local function say(fmt, ...) out[#out + 1] = string.format(fmt, ...) end
  local c = result.counts
  local label = result.command .. (result.kind and (" " .. result.kind) or "")
    .. (result.dry_run and " (dry run)" or "") .. (result.period and (" for " .. result.period) or "")
  say("%s: read %d, valid %d, invalid %d, sent %d, skipped %d, rejected %d, unknown %d", label,
    c.read or 0, c.valid or 0, c.invalid or 0, c.sent or 0, c.skipped or 0, c.rejected or 0, c.unknown or 0)
  for _, w in ipairs(result.warnings or {}) do
    say("Warning: %s", type(w) == "table" and tostring(w.message) or tostring(w))
  end
  if (c.changed or 0) > 0 then say("  %d changed since sent (not resent; --resend-changed resends them)", c.changed) end
  if (c.pending or 0) > 0 then say("  %d not sent this run (they will be sent by the next run)", c.pending) end
  local groups = { invalid = {}, rejected = {}, unknown = {}, changed = {}, pending = {} }
  local journals = {}
  for _, e in ipairs(result.items or {}) do
    if groups[e.status] then table.insert(groups[e.status], e) end
    if e.status == "sent" and e.response and e.response.confirm_url then journals[#journals + 1] = e end
  end
  local titles = {
    { "invalid", "Invalid (fix the export or the mapping):" },
    { "rejected", "Rejected by Kiva:" },
    { "unknown", "Outcome unknown (check PA2, then `kiva ledger resolve KEY sent|unsent`):" },
    { "changed", "Changed since sent:" },
    { "pending", "Not sent:" },
  }
  for _, t in ipairs(titles) do
    local list = groups[t[1]]
    if #list > 0 then
      say("%s", t[2])
      for n, e in ipairs(list) do
        if n > M.LIST_LIMIT then
          say("  ... and %d more (all of them in --report / --problems)", #list - M.LIST_LIMIT)
          break
        end
        local msgs = {}
        local prefix = e.where and (e.where .. ": ")
        for _, p in ipairs(e.errors or {}) do
          local m = message_of(p)
          -- readers put the file:line in their messages too: say it once
          if prefix and m:sub(1, #prefix) == prefix then m = m:sub(#prefix + 1) end
          msgs[#msgs + 1] = m
        end
        if #msgs == 0 and e.note then msgs[1] = e.note end
        say("  %s%s: %s", e.where or "?", e.key and (" " .. e.key) or "", table.concat(msgs, "; "))
      end
    end
  end
  if result.recovered and #result.recovered > 0 then
    say("A previous run was interrupted; %d item(s) are now of unknown outcome.", #result.recovered)
  end
  if #journals > 0 then
    say("Journals to confirm:")
    for _, e in ipairs(journals) do say("  %s %s", e.key, e.response.confirm_url) end
  end
  if result.files and #result.files > 0 then
    say("Payloads written: %d file(s) under %s", #result.files, result.files[1]:match("^(.*)/") or ".")
  end
  if result.fatal then
    say("Stopped: %s", message_of(result.fatal))
  end
  if result.command == "push" and not result.dry_run and (c.sent or 0) > 0 and NEXT[result.kind] then
    say("Next: %s", NEXT[result.kind])
  end
  return table.concat(out, "\n") .. "\n"
end

return M
