-- kiva.runlog: a run log that stands alone the next morning (when, how long, against
-- what, which version, upload ids per batch, unknown batches in plain words), plain text.
local helper = require "helper"
local runlog = require "kiva.runlog"
local i18n = require "kiva.i18n"

-- A push of repayments as push.run reports it: 3 batches, the last of unknown outcome.
local function repayment_result()
  local items = {}
  for i = 1, 5 do
    items[#items + 1] = { key = "repayment/77/2026-10/L" .. i .. "/C" .. i, where = "r.csv:" .. (i + 1),
      status = i <= 4 and "sent" or "unknown", batch = i <= 2 and 1 or (i <= 4 and 2 or 3),
      upload_id = i <= 2 and "up-1" or (i <= 4 and "up-2" or nil),
      errors = i == 5 and { { message = "POST /v3/partner/77/repayments: data rewind wasn't possible\27[0m" } }
        or nil }
  end
  return {
    command = "push", kind = "repayments", period = "2026-10",
    counts = { read = 6, valid = 5, invalid = 0, sent = 4, skipped = 0, omitted = 1, rejected = 0, unknown = 1,
      pending = 0, changed = 0, warned = 0 },
    items = items,
    batches = {
      { index = 1, count = 2, upload_id = "up-1", status = "sent" },
      { index = 2, count = 2, upload_id = "up-2", status = "sent" },
      { index = 3, count = 1, status = "unknown", message = "necessary data rewind wasn't possible" },
    },
    target = { env = "stage", api_url = "https://partner-api-stage.dk1.kiva.org", partner_id = 77,
      ledger = "/var/lib/kiva/ledger.sqlite3" },
    started_at = os.time({ year = 2026, month = 11, day = 2, hour = 3, min = 0, sec = 0 }),
    finished_at = os.time({ year = 2026, month = 11, day = 2, hour = 3, min = 1, sec = 5 }),
    duration = 65.2,
  }
end

describe("kiva.runlog", function()
  after_each(helper.cleanup)

  it("opens and closes with date, time, duration, command, target, ledger and version", function()
    local lines = runlog.lines(repayment_result(), { version = "0.1.0", code = 1 })
    assert.matches("^== kiva 0%.1%.0: push repayments 2026%-10, started 2026%-11%-02 03:00:00 [+-]%d%d%d%d$",
      lines[1])
    assert.equal("Target: stage, https://partner-api-stage.dk1.kiva.org, partner 77; "
      .. "ledger /var/lib/kiva/ledger.sqlite3", lines[2])
    assert.matches("^== finished 2026%-11%-02 03:01:05 [+-]%d%d%d%d after 1m05s, exit 1: needs attention",
      lines[#lines])
  end)

  it("lists each repayment upload with its batch and count, and an unknown batch in plain words", function()
    local text = runlog.text(repayment_result(), { version = "0.1.0", code = 1 })
    assert.matches("\n  batch 1: upload up%-1, 2 repayment%(s%): received by Kiva; the coordinator reviews and "
      .. "finalises it in PA2\n", text)
    assert.matches("\n  batch 2: upload up%-2, 2 repayment%(s%)", text)
    assert.matches("\n  batch 3: 1 repayment%(s%), no upload id: outcome unknown: the request went out but no answer "
      .. "came back, so Kiva may or may not have recorded it%.", text)
    assert.matches("1 row%(s%) left out by the mapping", text)
    assert.matches("\nNext: Ask the Kiva coordinator", text)
  end)

  it("is plain text: no control characters, however the server's messages look", function()
    local text = runlog.text(repayment_result(), { version = "0.1.0", code = 1 })
    assert.is_nil(text:find("[%z\1-\9\11-\31\127]"))
    assert.matches("wasn't possible\\x1B[0m", text, 1, true)
  end)

  it("points at --report/--problems only when they were written", function()
    local text = runlog.text(repayment_result(), { version = "0.1.0" })
    assert.is_nil(text:find("--report", 1, true))
    assert.is_nil(text:find("Written:", 1, true))
    text = runlog.text(repayment_result(), { version = "0.1.0", report = "r.json", problems = "p.xlsx" })
    assert.matches("\nWritten: report r%.json, problems p%.xlsx\n", text)
  end)

  it("tells where the drafts are after a push of loans", function()
    local text = runlog.text({ command = "push", kind = "loans", counts = { read = 3, valid = 3, sent = 3 },
      items = {} }, { version = "0.1.0" })
    assert.matches("3 loan draft%(s%) created: find them in PA2 under Loans > Drafts", text)
    assert.matches("all done\n$", text)
  end)

  it("derives the batches from the items when the result has no batch list", function()
    local result = repayment_result()
    result.batches = nil
    for _, e in ipairs(result.items) do
      e.response = e.status == "sent" and { upload_id = e.upload_id, batch = e.batch } or nil
      e.upload_id, e.batch = nil, nil
    end
    result.items[3].response.batch = 1         -- old push counted batches per chunk of requests
    local batches = runlog.batches_of(result)
    assert.equal(2, #batches)
    assert.same({ index = 1, count = 2, upload_id = "up-1", status = "sent" }, batches[1])
    assert.same({ index = 2, count = 2, upload_id = "up-2", status = "sent" }, batches[2])
  end)

  it("needs a person for anything but sent, already sent, valid or omitted items", function()
    assert.is_false(runlog.needs_person({ counts = { sent = 3, skipped = 2 },
      items = { { status = "sent" }, { status = "skipped" } } }))
    assert.is_true(runlog.needs_person({ counts = { unknown = 1 }, items = {} }))
    assert.is_true(runlog.needs_person({ counts = {}, items = {}, fatal = { kind = "network", message = "x" } }))
    assert.is_true(runlog.needs_person({ counts = {}, items = { { status = "pending" } } }))
  end)

  it("speaks French when asked", function()
    local text = runlog.text(repayment_result(), { version = "0.1.0", code = 1, tr = i18n.translator("fr") })
    assert.matches("^== kiva 0%.1%.0 : push repayments 2026%-10, démarré le 2026%-11%-02", text)
    assert.matches("\nCible : stage, ", text)
    assert.matches("lot 1 : envoi up%-1, 2 remboursement%(s%)", text)
    assert.matches("issue inconnue : la requête est partie", text)
    assert.matches("== terminé le .* après 1m05s, code de sortie 1 : à traiter", text)
  end)

  it("appends the log to a file with the date and time on every line", function()
    local dir = helper.tmpdir()
    local at = os.time({ year = 2026, month = 11, day = 2, hour = 3, min = 1, sec = 5 })
    assert(runlog.append(dir .. "/kiva.log", { "one", "two" }, at))
    assert(runlog.append(dir .. "/kiva.log", { "three" }, at))
    local lines = {}
    for l in helper.read(dir .. "/kiva.log"):gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.equal(3, #lines)
    for _, l in ipairs(lines) do assert.matches("^2026%-11%-02T03:01:05[+-]%d%d%d%d %a+$", l) end
    local ok, err = runlog.append(dir .. "/no/such/dir/kiva.log", { "x" })
    assert.is_nil(ok)
    assert.equal("config", err.kind)
  end)
end)
