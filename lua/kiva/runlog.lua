--- kiva.runlog: the run log of a push, validate or reconcile, written for the person
-- who reads a cron mail or a log file the next morning: when it ran and for how long,
-- against what (environment, API host, partner, ledger) with which version, what was
-- done, what a person must do now (upload ids to finalise, drafts to publish, batches of
-- unknown outcome in plain words), and where the complete lists are. Plain text only:
-- every piece of outside text goes through kiva.text.printable. Builds lines; the CLI
-- prints them and `append` writes them to a --log file.
local report = require "kiva.report"
local printable = require("kiva.text").printable

local M = {}

local function stamp(t)
  return os.date("%Y-%m-%d %H:%M:%S %z", math.floor(t))
end

local function duration_text(s)
  if not s then return "?" end
  if s < 60 then return string.format("%.1f s", s) end
  s = math.floor(s + 0.5)
  if s < 3600 then return string.format("%dm%02ds", s // 60, s % 60) end
  return string.format("%dh%02dm%02ds", s // 3600, (s % 3600) // 60, s % 60)
end
M.duration_text = duration_text

-- Repayment batches: the result's own list, else what the sent items say (a push that
-- predates result.batches records { upload_id, batch } in each sent item's response,
-- `batch` counted within a chunk of requests: so the upload id tells batches apart, and
-- they are numbered in the order they appear).
local function batches_of(result)
  if type(result.batches) == "table" and #result.batches > 0 then return result.batches end
  local by_upload, list = {}, {}
  for _, e in ipairs(result.items or {}) do
    local r = type(e.response) == "table" and e.response or {}
    local upload_id = e.upload_id or r.upload_id
    if upload_id and e.status == "sent" then
      local b = by_upload[upload_id]
      if not b then
        b = { index = #list + 1, count = 0, upload_id = upload_id, status = "sent" }
        by_upload[upload_id] = b
        list[#list + 1] = b
      end
      b.count = b.count + 1
    end
  end
  return list
end
M.batches_of = batches_of

--- True when a person has something to do after this run: an item that is neither
-- sent nor skipped as already sent (nor valid, in a validation), or a run that stopped.
function M.needs_person(result)
  if result.fatal then return true end
  local c = result.counts or {}
  for _, k in ipairs({ "invalid", "rejected", "unknown", "pending", "changed" }) do
    if (c[k] or 0) > 0 then return true end
  end
  -- a push counts every status: its items need no second look (there may be millions)
  if not result.select then
    for _, e in ipairs(result.items or {}) do
      local s = e.status
      if s ~= "sent" and s ~= "skipped" and s ~= "valid" and s ~= "omitted" then return true end
    end
  end
  if result.findings and #result.findings > 0 then return true end
  return false
end

local BATCH_WORDS = {
  sent = "received by Kiva; the coordinator reviews and finalises it in PA2",
  partial = "received by Kiva, some lines refused (listed above); finalise it in PA2",
  rejected = "refused by Kiva as a whole; nothing of it was recorded (reasons above)",
  unknown = "outcome unknown: the request went out but no answer came back, so Kiva may or may not "
    .. "have recorded it. Look in PA2 for an upload of this period with these loans, then run "
    .. "`kiva ledger resolve KEY sent` (found) or `unsent` (not found) for its items",
  pending = "not sent (nothing left this machine); the next run sends it",
}

M.BATCH_WORDS = BATCH_WORDS

--- The run log as an array of lines (no line breaks inside). `opts`: `tr` (kiva.i18n
-- translator), `version`, `code` (the exit status), `target` ({ env, api_url, partner_id,
-- ledger }: used where result.target lacks a field), `started_at`/`finished_at`/`duration`
-- (likewise), `report`/`problems` (files written), `json` (the report went to stdout),
-- `body` (lines to use instead of the push summary: reconcile's table).
function M.lines(result, opts)
  opts = opts or {}
  local tr = opts.tr or require("kiva.i18n").translator("en")
  local target = {}
  for k, v in pairs(opts.target or {}) do target[k] = v end
  for k, v in pairs(result.target or {}) do target[k] = v end
  local started = result.started_at or opts.started_at or os.time()
  local finished = result.finished_at or opts.finished_at or os.time()
  local duration = result.duration or opts.duration or (finished - started)
  local lines = {}
  local function add(s) lines[#lines + 1] = s end

  local what = result.command .. (result.kind and (" " .. result.kind) or "")
    .. (result.period and (" " .. result.period) or "") .. (result.dry_run and tr(" (dry run)") or "")
  add(tr("== kiva %s: %s, started %s", opts.version or "?", what, stamp(started)))
  local env = target.env or "stage"
  -- a validation or a dry run touches no ledger, and may not know the partner
  local ledger = (result.command ~= "push" or result.dry_run) and "-" or target.ledger
  add(tr("Target: %s, %s, partner %s; ledger %s", env, printable(target.api_url or "-"),
    printable(target.partner_id or "-"), printable(ledger or "-")))
  if opts.body then
    for _, line in ipairs(opts.body) do add(line) end
  else
    local sopts = setmetatable({ next = false }, { __index = opts })
    for line in report.summary(result, sopts):gmatch("[^\n]+") do add(line) end
  end

  if result.kind == "repayments" and not result.dry_run and result.command == "push" then
    local batches = batches_of(result)
    if #batches > 0 then
      add(tr("Repayment uploads of this run (one per batch):"))
      for _, b in ipairs(batches) do
        local words = BATCH_WORDS[b.status] and tr(BATCH_WORDS[b.status]) or printable(b.status)
        if b.upload_id then
          add(tr("  batch %s: upload %s, %d repayment(s): %s", tostring(b.index), printable(b.upload_id),
            b.count or 0, words))
        else
          add(tr("  batch %s: %d repayment(s), no upload id: %s", tostring(b.index), b.count or 0, words))
        end
        if b.message and b.status ~= "sent" then add(tr("    Kiva said: %s", printable(b.message))) end
      end
    end
  end
  if result.kind == "loans" and result.command == "push" and not result.dry_run and (result.counts.sent or 0) > 0 then
    add(tr("%d loan draft(s) created: find them in PA2 under Loans > Drafts (search by internal loan id).",
      result.counts.sent))
  end
  local next_step = not opts.body and report.next_step(result, tr)
  if next_step then add(next_step) end
  local written = {}
  if opts.report and opts.report ~= "-" then written[#written + 1] = tr("report %s", printable(opts.report)) end
  if opts.problems then written[#written + 1] = tr("problems %s", printable(opts.problems)) end
  if #written > 0 then add(tr("Written: %s", table.concat(written, ", "))) end
  local verdict
  if not M.needs_person(result) then
    verdict = tr("all done")
  else
    verdict = tr("needs attention (see above)")
  end
  add(tr("== finished %s after %s, exit %d: %s", stamp(finished), duration_text(duration), opts.code or 0, verdict))
  return lines
end

--- The run log as text (lines joined, ending with a line break).
function M.text(result, opts)
  return table.concat(M.lines(result, opts), "\n") .. "\n"
end

--- Appends `lines` to the file at `path`, each prefixed with the local date and time
-- `at` (os.time value, default now). @return true | nil, err (kind "config")
function M.append(path, lines, at)
  local f, err = io.open(path, "ab")
  if not f then return nil, { kind = "config", message = "cannot write the log " .. path .. ": " .. tostring(err) } end
  local prefix = os.date("%Y-%m-%dT%H:%M:%S%z ", math.floor(at or os.time()))
  for _, line in ipairs(lines) do f:write(prefix, line, "\n") end
  local ok, cerr = f:close()
  if not ok then
    return nil, { kind = "config", message = "cannot write the log " .. path .. ": " .. tostring(cerr) }
  end
  return true
end

return M
