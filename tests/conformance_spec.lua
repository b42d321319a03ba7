-- The conformance table: drafts, repayment reports and journals that Kiva accepts
-- ("ok"), accepts with warnings ("warning": what PA2 needs before publishing, what
-- looks wrong but may be right) or refuses ("error"), per ../shared/kiva-partner-api.md.
-- Each row runs against kiva.validate and, over HTTP, against the sandbox, which
-- judges with its own code (kiva.sandbox.judge): both must give the row's verdict.
local helper = require "helper"
local kiva = require "kiva"

-- A date `offset` days from today (UTC).
local function day(offset)
  return os.date("!%Y-%m-%d", os.time() + offset * 86400)
end

local function complete(changes)
  local d = {
    activity_id = 61, description_language_id = 3, location = "Thiès, Senegal", currency = "XOF",
    disburse_time = day(-10), client_waiver_signed = true, loanuse = "acheter des semences",
    description = "Aïssatou cultive l'arachide.", image_encoded = "data:image/gif;base64,R0lGODlhAQABAAAAACw=",
    entreps = { { client_id = "C-1", loan_id = "L-1", first_name = "Aïssatou", last_name = "Diop",
      gender = "female", amount = 150000 } },
    schedule = { { date = day(20), principal = 100000, interest = 3000 },
      { date = day(50), principal = 50000, interest = 1500 } },
  }
  for k, v in pairs(changes or {}) do
    if v == false then d[k] = nil else d[k] = v end
  end
  return d
end

local function borrower(i, amount, changes)
  local e = { client_id = "C-" .. i, loan_id = "L-" .. i, first_name = "Fatou", last_name = "Ndiaye",
    gender = "female", amount = amount }
  for k, v in pairs(changes or {}) do e[k] = v end
  return e
end

local function group(changes)
  local d = complete { group_name = "Groupe Bénkadi", internal_loan_id = "G-1", internal_client_id = "GC-1",
    entreps = { borrower(1, 100000), borrower(2, 50000) }, not_pictured = { false, true } }
  for k, v in pairs(changes or {}) do
    if v == false then d[k] = nil else d[k] = v end
  end
  return d
end

local DRAFTS = {
  { "a complete individual draft", "ok", complete() },
  { "a complete group draft", "ok", group() },
  { "only borrowers (PA2 fills the rest)", "warning", { entreps = complete().entreps } },
  { "no schedule", "warning", complete { schedule = false } },
  { "no image", "warning", complete { image_encoded = false } },
  { "no description", "warning", complete { description = false } },
  { "no activity", "warning", complete { activity_id = false } },
  { "no location", "warning", complete { location = false } },
  { "no loan use", "warning", complete { loanuse = false } },
  { "no currency", "warning", complete { currency = false } },
  { "no disbursal date", "warning", complete { disburse_time = false } },
  { "a group without group_name", "warning", group { group_name = false } },
  { "a disbursal three years ahead", "warning",
    complete { disburse_time = day(3 * 365), schedule = { { date = day(3 * 365 + 30), principal = 150000 } } } },
  { "a disbursal two years ago", "warning", complete { disburse_time = day(-2 * 365) } },
  { "a very large amount for the currency", "warning",
    complete { entreps = { borrower(1, 9000000) }, schedule = { { date = day(20), principal = 9000000 } } } },
  { "group-only fields on an individual loan", "error", complete { group_name = "Groupe" } },
  { "internal_loan_id on an individual loan", "error", complete { internal_loan_id = "X-1" } },
  { "not_pictured of the wrong length", "error", group { not_pictured = { false } } },
  { "an amount of 0", "error", complete { entreps = { borrower(1, 0) }, schedule = false } },
  { "a negative amount", "error", complete { entreps = { borrower(1, -5) }, schedule = false } },
  { "an amount as text", "error", complete { entreps = { borrower(1, "150000") }, schedule = false } },
  { "decimals the currency does not have (XOF)", "error",
    complete { entreps = { borrower(1, 150000.5) }, schedule = { { date = day(20), principal = 150000.5 } } } },
  { "a date that does not exist", "error", complete { disburse_time = "2026-02-30", schedule = false } },
  { "schedule dates not ascending", "error", complete { schedule = {
    { date = day(50), principal = 100000 }, { date = day(20), principal = 50000 } } } },
  { "an installment before disbursal", "error", complete { schedule = {
    { date = day(-20), principal = 100000 }, { date = day(20), principal = 50000 } } } },
  { "a schedule that does not total the amounts", "error", complete { schedule = {
    { date = day(20), principal = 100000 } } } },
  { "an empty schedule", "error", complete { schedule = {} } },
  { "an unknown gender", "error", complete { entreps = { borrower(1, 150000, { gender = "robot" }) } } },
  { "an empty first name", "error", complete { entreps = { borrower(1, 150000, { first_name = "" }) } } },
  { "no borrower", "error", complete { entreps = {} } },
  { "no entreps at all", "error", complete { entreps = false } },
  { "a currency code in lower case", "error", complete { currency = "xof" } },
  { "an activity id of 0", "error", complete { activity_id = 0 } },
  { "image bytes that are not the declared type", "error",
    complete { image_encoded = "data:image/png;base64,R0lGODlhAQABAAAAACw=" } },
  { "an image that is not a data URI", "error", complete { image_encoded = "https://example.org/a.jpg" } },
}

local function repayment(changes)
  local r = { loan_id = "L000001", client_id = "C000001", amount = 480 }
  for k, v in pairs(changes or {}) do
    if v == false then r[k] = nil else r[k] = v end
  end
  return r
end

local many = {}
for i = 1, 301 do many[i] = repayment { amount = i } end

local REPAYMENTS = {
  { "one repayment of a payingBack loan", "ok", { repayments = { repayment() } } },
  { "two loans in one report", "ok", { repayments = { repayment(), repayment { loan_id = "L000002",
    client_id = "C000002" } } } },
  { "an amount of 0", "error", { repayments = { repayment { amount = 0 } } } },
  { "a negative amount", "error", { repayments = { repayment { amount = -1 } } } },
  { "no loan_id", "error", { repayments = { repayment { loan_id = false } } } },
  { "no client_id (three-column partner)", "error", { repayments = { repayment { client_id = false } } } },
  { "an empty report", "error", { repayments = {} } },
  { "more than 300 loans in one call", "error", { repayments = many } },
}

local function journal(changes)
  local j = { internal_loan_id = "L000001", internal_client_id = "C000001", subject = "Nouvelles d'Aïssatou",
    body = "Elle a agrandi son étal.\nMerci !" }
  for k, v in pairs(changes or {}) do
    if v == false then j[k] = nil else j[k] = v end
  end
  return j
end

local JOURNALS = {
  { "one journal", "ok", { journals = { journal() } } },
  { "no subject", "error", { journals = { journal { subject = false } } } },
  { "an empty body", "error", { journals = { journal { body = "" } } } },
  { "no internal_client_id (three-column partner)", "error",
    { journals = { journal { internal_client_id = false } } } },
  { "an empty list", "error", { journals = {} } },
}

local TABLE = { loan_draft = DRAFTS, repayments = REPAYMENTS, journals = JOURNALS }
local ENDPOINT = { loan_draft = "loan_draft", repayments = "repayments", journals = "journals" }

local function client_verdict(kind, body)
  local ok, errors, warnings = kiva.validate(kind, body)
  if not ok then return "error", errors end
  return #warnings > 0 and "warning" or "ok", warnings
end

-- The sandbox's verdict: a 400 refuses; a 200 warns through `warnings` (drafts) or
-- problems of severity "warning" (reports), and refuses lines through problems of
-- severity "error".
local function sandbox_verdict(sb, token, kind, body)
  local text = assert(kiva.encode(kind, body, { validate = false }))   -- arrays stay arrays, even empty
  local status, answer, _, raw = helper.http("POST", sb.url .. "/v3/partner/1/" .. ENDPOINT[kind], {
    token = token, body = text, headers = { ["Content-Type"] = "application/json" } })
  if status == 400 then return "error", raw end
  assert(status == 200, "sandbox answered " .. tostring(status) .. ": " .. tostring(raw))
  local verdict = "ok"
  if answer.warnings and #answer.warnings > 0 then verdict = "warning" end
  for _, p in ipairs(answer.problems or {}) do
    if p.severity == "error" then return "error", raw end
    verdict = "warning"
  end
  return verdict, raw
end

describe("conformance table #sandbox", function()
  local sb, token

  setup(function()
    sb = helper.start_sandbox("--loans 20")
    local _, answer = helper.http("POST", sb.env.KIVA_AUTH_URL, {
      headers = { ["Content-Type"] = "application/x-www-form-urlencoded" },
      body = helper.form { grant_type = "client_credentials", client_id = sb.env.KIVA_CLIENT_ID,
        client_secret = sb.env.KIVA_CLIENT_SECRET, audience = sb.env.KIVA_API_URL } })
    token = answer.access_token
  end)

  teardown(function()
    if sb then sb.stop() end
  end)

  for _, kind in ipairs { "loan_draft", "repayments", "journals" } do
    it(kind .. ": every verdict is represented", function()
      local seen = {}
      for _, row in ipairs(TABLE[kind]) do seen[row[2]] = true end
      assert.is_true(seen.ok and seen.error)
      if kind == "loan_draft" then assert.is_true(seen.warning) end
    end)
    for _, row in ipairs(TABLE[kind]) do
      local name, verdict, body = row[1], row[2], row[3]
      it(("%s: %s is %s for kiva.validate"):format(kind, name, verdict), function()
        local got, findings = client_verdict(kind, body)
        assert.are.equal(verdict, got, require("cjson").encode(findings or {}))
      end)
      it(("%s: %s is %s for the sandbox"):format(kind, name, verdict), function()
        local got, raw = sandbox_verdict(sb, token, kind, body)
        assert.are.equal(verdict, got, raw)
      end)
    end
  end
end)

describe("the minimal draft of issue 14, end to end #sandbox", function()
  local dir, sb
  setup(function()
    dir = helper.tmpdir()
    helper.write(dir .. "/minimal.json", '{"entreps":[{"client_id":"CL-5502","loan_id":"PR-2024-0102",'
      .. '"first_name":"François","last_name":"Ndiaye","gender":"male","amount":75000}]}')
    helper.write(dir .. "/minimal-rows.json", '[{"client":"CL-5502","loan":"PR-2024-0102","first":"François",'
      .. '"last":"Ndiaye","gender":"M","amount":"75000"}]')
    helper.write(dir .. "/minimal.lua", [[
      local map = require "kiva.map"
      return { loan_draft = function(row) return { entreps = { { client_id = row.client, loan_id = row.loan,
        first_name = row.first, last_name = row.last, gender = map.gender(row.gender),
        amount = map.amount(row.amount) } } } end }
    ]])
  end)
  teardown(function()
    if sb then sb.stop() end
  end)

  it("kiva validate --json: valid with its warnings listed, exit 0", function()
    local r = helper.run(helper.kiva("validate loan_draft --json " .. dir .. "/minimal.json"))
    assert.are.equal(0, r.code, r.out .. r.err)
    assert.matches("minimal.json: warning: schedule: publish: PA2 needs schedule", r.out)
    assert.matches("minimal.json: valid loan_draft %(8 warning%(s%)%)", r.out)
  end)

  it("kiva validate --json --strict: refused, exit 1", function()
    local r = helper.run(helper.kiva("validate loan_draft --strict --json " .. dir .. "/minimal.json"))
    assert.are.equal(1, r.code, r.out .. r.err)
    assert.matches("minimal.json: currency: publish: PA2 needs currency", r.out)
    assert.matches("8 error%(s%)", r.out)
  end)

  it("kiva push loans sends it to the sandbox, which keeps it", function()
    sb = helper.start_sandbox("")
    local r = helper.run(helper.kiva("push loans --ledger " .. dir .. "/ledger.sqlite3 --mapping " .. dir
      .. "/minimal.lua --input " .. dir .. "/minimal-rows.json"), { env = sb.env })
    assert.are.equal(0, r.code, r.out .. r.err)
    local drafts = sb.state().loan_drafts
    assert.are.equal(1, #drafts)
    assert.are.equal("PR-2024-0102", drafts[1].key)
  end)
end)
