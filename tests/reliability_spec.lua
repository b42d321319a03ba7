-- Reliability (issue 8): malformed inputs (tests/data/bad/cases.lua) pushed to the
-- sandbox, hostile server answers (tests/hostile_server.lua), secret hygiene with a
-- canary secret, and a short fault soak (tests/soak.lua). The long soak, the crash and
-- resume and the token-expiry runs are `make check` (lua5.4 tests/soak.lua).
local helper = require "helper"
local cjson = require "cjson"
local soak = require "soak"

local BAD = helper.root .. "/tests/data/bad/"
local CANARY = "canary-S3cr3t+&=%-never-print-me"

local function merge(...)
  local out = {}
  for _, t in ipairs { ... } do
    for k, v in pairs(t) do out[k] = v end
  end
  return out
end

local function crashed(r)
  return r.code >= 124 or r.err:find("stack traceback", 1, true) ~= nil
    or r.err:find("^lua5%.4:") ~= nil or r.err:find("\nlua5%.4:") ~= nil
end

-- Everything the sandbox applied, as "kind id" -> count.
local function applied_now(sb)
  local a = soak.applied(soak.state(sb))
  local flat = {}
  for kind, ids in pairs(a) do
    for id, n in pairs(ids) do flat[kind .. " " .. id] = n end
  end
  return flat
end

local generators = {}
local BAD_HEADER = "LoanNo,ClientNo,First,Last,Gender,Amount,Currency,Disbursed,Due,Use\n"
local function good_row(id)
  return id .. ",C" .. id:sub(2) .. ",Ana,Lopez,F,500,PHP,15/01/2024,15/02/2024,Buy seeds"
end
function generators.ten_mb_field(path)
  local f = assert(io.open(path, "wb"))
  f:write(BAD_HEADER, good_row("L900001"), "\n")
  f:write("BAD70,C70,", string.rep("x", 10 * 1024 * 1024), ",Lopez,F,500,PHP,15/01/2024,15/02/2024,Buy seeds\n")
  f:write(good_row("L900004"), "\n")
  f:close()
end
function generators.hundred_k_columns(path)
  local f = assert(io.open(path, "wb"))
  local extra = {}
  for i = 11, 100000 do extra[#extra + 1] = "X" .. i end
  local extra_header = table.concat(extra, ",")
  local empties = string.rep(",", #extra)
  f:write(BAD_HEADER:sub(1, -2), ",", extra_header, "\n")
  f:write(good_row("L900001"), empties, "\n")
  -- one field short: the row does not line up with the header
  f:write("BAD71,C71,Ana,Lopez,F,500,PHP,15/01/2024,15/02/2024,Buy seeds", empties:sub(2), "\n")
  f:write(good_row("L900004"), empties, "\n")
  f:close()
end

local DEFAULT_MAPPING = { loans = "map_loans.lua", repayments = "map_repayments.lua", journals = "map_journals.lua" }

local function names_where(text, where)
  if not where.file then return true end
  local name = where.file:gsub("%.", "%%.")
  if not text:find(name) then return false end
  if where.line then
    return text:find(name .. ":" .. where.line .. "%f[%D]") ~= nil
      or text:find("line " .. where.line .. "%f[%D]") ~= nil
  end
  return true
end

describe("reliability: malformed inputs #sandbox", function()
  local sb
  setup(function() sb = helper.start_sandbox("--loans 20") end)
  teardown(function()
    if sb then soak.stop_sandbox(sb) end
    helper.cleanup()
  end)

  for _, case in ipairs(dofile(BAD .. "cases.lua")) do
    local label = string.format("%s %s%s gives %s", case.kind, case.file,
      case.mapping and (" with " .. case.mapping) or "", case.expect)
    it(label, function()
      local dir = helper.tmpdir()
      local input = BAD .. case.file
      if case.generate then
        input = dir .. "/" .. case.file
        generators[case.generate](input)
      end
      local mapping = BAD .. (case.mapping or DEFAULT_MAPPING[case.kind])
      local report = dir .. "/report.json"
      local before = applied_now(sb)
      local push = helper.kiva(string.format("push %s --mapping %s --input %s --report %s", case.kind,
        helper.quote(mapping), helper.quote(input), helper.quote(report)))
      local r = helper.run("timeout " .. (case.timeout or 120) .. " " .. push,
        { env = merge(sb.env, { KIVA_LEDGER = dir .. "/ledger.sqlite3", KIVA_BUILD = helper.build }), cwd = dir })
      local after = applied_now(sb)
      local text = r.out .. "\n" .. r.err .. "\n" .. (helper.read(report) or "")
      local context = string.format("exit %d\nstdout: %s\nstderr: %s\nreport: %s", r.code, r.out:sub(1, 1500),
        r.err:sub(1, 1500), (helper.read(report) or "(none)"):sub(1, 1500))

      assert.is_false(crashed(r), "crashed or timed out: " .. context)
      -- what the sandbox applied during this run: only good rows, never the bad one
      local good, new = {}, {}
      for _, id in ipairs(case.good) do good[case.kind .. " " .. id] = true end
      for key, n in pairs(after) do
        if n > (before[key] or 0) then
          new[key] = true
          if case.expect ~= "warned" then
            assert.is_true(good[key] == true, "sent an item that is not a good row: " .. key .. "\n" .. context)
          end
        end
      end
      if case.never then
        assert.is_nil(text:find(case.never, 1, true), "output shows " .. case.never .. ": " .. context)
      end

      local expect = case.expect
      if expect == "warned" then
        if r.code == 0 or (r.code == 1 and not text:find('"invalid"', 1, true)) then
          assert.is_true(names_where(text, case.where) and text:lower():find("windows%-1252") ~= nil,
            "read as Windows-1252 without a warning naming the line: " .. context)
          return
        end
        expect = "refused"
      end
      if expect == "good_or_refused" then
        if r.code == 0 then
          for key in pairs(good) do assert.is_true(new[key] == true, key .. " not sent: " .. context) end
          return
        end
        expect = "refused"
      end
      if expect == "quiet" then
        assert.is_true(r.code <= 2, context)
        assert.is_nil(next(new), "sent something: " .. context)
      elseif expect == "load" then
        assert.are.equal(2, r.code, context)
        assert.is_nil(next(new), "sent something: " .. context)
        assert.is_true(names_where(text, case.where), "does not name " .. case.where.file .. ": " .. context)
      else
        assert.is_true(r.code == 1 or r.code == 2, "expected exit 1 or 2: " .. context)
        assert.is_true(names_where(text, case.where), string.format("does not name %s%s: %s", case.where.file,
          case.where.line and (":" .. case.where.line) or "", context))
        if case.field then
          local fields = type(case.field) == "table" and case.field or { case.field }
          local named = false
          for _, f in ipairs(fields) do named = named or text:lower():find(f:lower(), 1, true) ~= nil end
          assert.is_true(named, "does not name the field " .. table.concat(fields, " or ") .. ": " .. context)
        end
      end
    end)
  end

  -- issue 16, case 10: an edge that used to abort the whole dry run
  it("a dry run of valid 100-character ids of 4-byte characters writes every payload", function()
    local dir = helper.tmpdir()
    local long_id = string.rep("\u{1D518}", 100)   -- 400 bytes: past a file name's 255
    local input = helper.write(dir .. "/long_ids.csv", BAD_HEADER .. good_row("L900001") .. "\n"
      .. long_id .. ",C77,Ana,Lopez,F,500,PHP,15/01/2024,15/02/2024,Buy seeds\n"
      .. string.rep("\u{1D518}", 99) .. "x,C78,Ana,Lopez,F,500,PHP,15/01/2024,15/02/2024,Buy seeds\n")
    local r = helper.run(helper.kiva("push loans --dry-run --mapping " .. helper.quote(BAD .. "map_loans.lua")
      .. " --input " .. helper.quote(input) .. " --out " .. helper.quote(dir .. "/out")),
      { env = merge(sb.env, { KIVA_BUILD = helper.build }), cwd = dir })
    assert.are.equal(0, r.code, r.out .. r.err)
    local names = {}
    local p = io.popen("ls " .. helper.quote(dir .. "/out"))
    for name in p:lines() do names[#names + 1] = name end
    p:close()
    assert.are.equal(3, #names, table.concat(names, "\n"))
    for _, name in ipairs(names) do assert.is_true(#name <= 255, name) end
    -- the two long ids share their first 64 bytes of name, not their file
    assert.are_not.equal(names[2]:sub(11), names[3]:sub(11))
  end)
end)

-- A hostile server process for the whole block; each test points the client at one mode.
describe("reliability: hostile server answers", function()
  local kiva = require "kiva"
  local base, pid

  local function counts()
    local http = require "socket.http"
    local body = assert(http.request(base .. "/__counts"))
    return cjson.decode(body)
  end

  local function client(mode, extra)
    local c, err = kiva.client(merge({
      client_id = "hostile", client_secret = CANARY, auth_url = base .. "/" .. (extra and extra.token_mode or "ok")
        .. "/oauth/token", api_url = base .. "/" .. mode, token_cache = false, max_attempts = 2,
      max_retry_time = 3, retry_base = 0.01, retry_cap = 0.05, timeout = 20, validate = false,
    }, extra and extra.opts or {}))
    assert(c, err and err.message)
    return c
  end

  -- Calls fn(client) under pcall: a hostile answer must never raise.
  local function call(mode, fn, extra)
    local c = client(mode, extra)
    local before = counts()
    local ok, res, err = pcall(fn, c)
    c:close()
    assert.is_true(ok, "raised: " .. tostring(res))
    local after = counts()
    local delta = {}
    for k, v in pairs(after) do
      if v ~= (before[k] or 0) then delta[k] = v - (before[k] or 0) end
    end
    return res, err, delta
  end

  local DRAFT = '{"activity_id":61,"entreps":[{"loan_id":"H1","amount":100}]}'
  local function post_draft(c) return c:post_loan_draft(DRAFT) end

  setup(function()
    local dir = helper.tmpdir()
    local port_file = dir .. "/port"
    local p = io.popen("lua5.4 " .. helper.quote(helper.root .. "/tests/hostile_server.lua") .. " "
      .. helper.quote(port_file) .. " >/dev/null 2>" .. helper.quote(dir .. "/err") .. " & echo $!")
    pid = tonumber(p:read("l"))
    p:close()
    for _ = 1, 100 do
      if helper.read(port_file) then break end
      os.execute("sleep 0.05")
    end
    base = "http://127.0.0.1:" .. assert(tonumber(helper.read(port_file)), "hostile server did not start")
  end)
  teardown(function()
    if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
    helper.cleanup()
  end)

  it("the well-behaved mode works (control)", function()
    local res, err, delta = call("ok", post_draft)
    assert.is_nil(err)
    assert.are.equal("0b8e6d1c-2f3a-4b5c-8d9e-0f1a2b3c4d5e", res.loan_draft_uuid)
    assert.are.equal(1, delta["ok /v3/partner/1/loan_draft"])
  end)

  -- A 2xx means Kiva accepted the draft, whatever its body looks like: it is sent,
  -- with a note saying what could not be read of the answer, and never sent again.
  for _, mode in ipairs { "truncated_json", "html_200", "wrong_content_type", "empty_200", "json_null",
      "json_array", "deep_json" } do
    it("POST loan_draft answered 2xx with " .. mode .. " is sent, with a note, once", function()
      local res, err, delta = call(mode, post_draft)
      assert.is_nil(err, mode)
      assert.is_string(res.note, mode .. ": no note")
      assert.matches("accepted", res.note)
      assert.are.equal(1, delta[mode .. " /v3/partner/1/loan_draft"], "POSTs: " .. cjson.encode(delta))
    end)
  end

  it("POST loan_draft answered with a number for its uuid takes it as text", function()
    local res, err = call("wrong_shape", post_draft)
    assert.is_nil(err)
    assert.equal("42", res.loan_draft_uuid)
  end)

  -- An answer cut in transit, too large to read, a 500 or none at all: the draft may or
  -- may not exist, so it is an unknown outcome, sent exactly once.
  for _, mode in ipairs { "short_body", "huge_body", "huge_chunked", "html_500", "close_no_answer" } do
    it("POST loan_draft answered with " .. mode .. " is an unknown outcome, sent once", function()
      local res, err, delta = call(mode, post_draft)
      assert.is_nil(res, mode .. " taken as success")
      assert.are.equal("unknown_outcome", err.kind, tostring(err.message))
      assert.is_false(err.retryable)
      assert.is_truthy(tostring(err.message):find("loan_draft", 1, true), "message names no endpoint: "
        .. tostring(err.message))
      assert.are.equal(1, delta[mode .. " /v3/partner/1/loan_draft"], "POSTs: " .. cjson.encode(delta))
    end)
  end

  for _, mode in ipairs { "redirect", "redirect_307" } do
    it("a " .. mode .. " is not followed", function()
      local res, err, delta = call(mode, post_draft)
      assert.is_nil(res)
      assert.is_false(err.retryable)
      assert.is_truthy(tostring(err.message):lower():find("redirect", 1, true), tostring(err.message))
      assert.are.equal(1, delta[mode .. " /v3/partner/1/loan_draft"])
      assert.is_nil(delta["ok /v3/partner/1/loan_draft"], "the redirect was followed")
    end)
  end

  it("a 502 with an HTML body is retried, then reported as a server error", function()
    local res, err, delta = call("html_502", post_draft)
    assert.is_nil(res)
    assert.are.equal("server", err.kind)
    assert.are.equal(2, delta["html_502 /v3/partner/1/loan_draft"])
  end)

  it("a 401 on every call renews the token once, then fails as auth", function()
    local res, err, delta = call("unauthorized", post_draft, { token_mode = "unauthorized" })
    assert.is_nil(res)
    assert.are.equal("auth", err.kind)
    assert.are.equal(2, delta["unauthorized /oauth/token"])
    assert.are.equal(2, delta["unauthorized /v3/partner/1/loan_draft"])
  end)

  it("a huge Retry-After is not slept through", function()
    local res, err, delta = call("retry_after_huge", post_draft)
    assert.is_nil(res)
    assert.are.equal("rate_limited", err.kind)
    assert.are.equal(100000, err.retry_after)
    assert.is_truthy(err.message:find("gave up (the server asked to wait 1667 min", 1, true), err.message)
    assert.are.equal(1, delta["retry_after_huge /v3/partner/1/loan_draft"])
  end)

  it("a garbage Retry-After does not break the backoff", function()
    local res, err, delta = call("retry_after_garbage", post_draft)
    assert.is_nil(res)
    assert.are.equal("rate_limited", err.kind)
    -- ignored: the client's own short backoff retries it up to max_attempts
    assert.is_nil(err.retry_after)
    assert.is_nil(err.message:find("server asked to wait", 1, true), err.message)
    assert.are.equal(2, delta["retry_after_garbage /v3/partner/1/loan_draft"])
  end)

  for _, mode in ipairs { "truncated_json", "html_200", "wrong_content_type", "deep_json", "wrong_shape",
      "json_null", "huge_body", "short_body" } do
    it("GET loans answered with " .. mode .. " is an error, not a crash nor an empty list", function()
      local res, err = call(mode, function(c) return c:loans_page { status = "payingBack" } end)
      assert.is_nil(res, mode .. " taken as a page of loans")
      assert.is_truthy(err.kind == "server" or err.kind == "network", err.kind)
      assert.is_truthy(tostring(err.message):find("loans", 1, true), tostring(err.message))
    end)
    it("GET config answered with " .. mode .. " is an error", function()
      local res, err = call(mode, function(c) return c:config("activities") end)
      assert.is_nil(res)
      assert.is_table(err)
    end)
  end

  -- `kiva push` against a hostile mode, with a ledger of its own; returns the run,
  -- its report and the ledger's rows by key.
  local function push_to(mode, kind, csv, mapping, extra)
    local dir = helper.tmpdir()
    helper.write(dir .. "/in.csv", csv)
    helper.write(dir .. "/map.lua", mapping)
    local env = { KIVA_CLIENT_ID = "hostile", KIVA_CLIENT_SECRET = CANARY, KIVA_API_URL = base .. "/" .. mode,
      KIVA_AUTH_URL = base .. "/ok/oauth/token", KIVA_LEDGER = dir .. "/ledger.sqlite3" }
    local r = helper.run(helper.kiva("push " .. kind .. " --mapping map.lua --input in.csv --report report.json "
      .. (extra or "")), { env = env, cwd = dir })
    r.dir = dir
    local rows = {}
    local db = require("kiva.ledger").open(dir .. "/ledger.sqlite3", { create = false })
    if db then
      for _, row in ipairs(db:list()) do rows[row.key] = row end
      db:close()
    end
    return r, cjson.decode(helper.read(dir .. "/report.json") or "null"), rows
  end

  local LOANS_CSV = "Loan,Client,Name,Amount\nL1,C1,Ana,100\n"
  local LOANS_MAP = helper.read(helper.root .. "/tests/data/cli/loans.lua")
  local REPAYMENTS = "Loan,Client,Paid,Date\n1001,C1,10.00,2026-10-03\n1002,C2,20.00,2026-10-04\n"
    .. "1003,C3,30.00,2026-10-05\n1004,C4,5.50,2026-10-30\n"
  local REPAYMENT_MAP = "local map = require 'kiva.map'\n"
    .. "return { repayment = function(row) return { loan_id = row.Loan, "
    .. "client_id = row.Client, amount = map.amount(row.Paid), date = row.Date } end }\n"

  it("takes numeric and camelCase ids in a 2xx as applied: sent, ids kept as text", function()
    local r, report, rows = push_to("numeric_ids", "repayments", REPAYMENTS, REPAYMENT_MAP)
    assert.equal(0, r.code, r.out .. r.err)
    assert.equal(4, report.counts.sent)
    assert.equal(0, report.counts.unknown)
    -- the period came from the payment dates
    assert.equal("2026-10", report.period)
    local row = rows["repayment/1/2026-10/1001/C1"]
    assert.equal("sent", row.state)
    assert.equal("880001", row.response.upload_id)
    -- Kiva's warning about loan 2 matches no line: the lines stay sent
    for _, item in ipairs(report.items) do assert.equal("sent", item.status) end
    r, report = push_to("numeric_ids", "loans", LOANS_CSV, LOANS_MAP)
    assert.equal(0, r.code, r.out .. r.err)
    assert.equal("12345", report.items[1].response.loan_draft_uuid)
  end)

  it("matches a batch's problems to its lines exactly: the refused line alone is rejected", function()
    local r, report, rows = push_to("one_refused", "repayments", REPAYMENTS, REPAYMENT_MAP)
    assert.equal(1, r.code, r.out .. r.err)
    assert.equal(3, report.counts.sent)
    assert.equal(1, report.counts.rejected)
    assert.equal("rejected", rows["repayment/1/2026-10/1002/C2"].state)
    assert.equal("not_paying_back", rows["repayment/1/2026-10/1002/C2"].problems[1].code)
    assert.equal("sent", rows["repayment/1/2026-10/1001/C1"].state)
    -- a warning leaves its line sent, the warning kept
    assert.equal("sent", rows["repayment/1/2026-10/1003/C3"].state)
    assert.equal("overpaid", rows["repayment/1/2026-10/1003/C3"].problems[1].code)
    assert.matches("not_paying_back", r.out)
  end)

  it("leaves a batch unknown, not rejected, when a refusal names none of its lines", function()
    local r, report, rows = push_to("loose_problem", "repayments", REPAYMENTS, REPAYMENT_MAP)
    assert.equal(1, r.code, r.out .. r.err)
    assert.equal(4, report.counts.unknown)
    assert.equal(0, report.counts.rejected)
    assert.equal("unknown", rows["repayment/1/2026-10/1001/C1"].state)
    assert.matches("resolve %-%-batch", r.out)
  end)

  it("says in plain words what a lost answer means, and how to settle the batch", function()
    local r, report, rows = push_to("close_no_answer", "repayments", REPAYMENTS, REPAYMENT_MAP)
    assert.equal(1, r.code, r.out .. r.err)
    assert.equal(4, report.counts.unknown)
    local message = report.items[1].errors[1].message
    assert.matches("the connection closed with no answer from Kiva %(GOT_NOTHING%)", message)
    assert.matches("may or may not have been applied", message)
    assert.matches("kiva ledger resolve %-%-batch %d+T%d+%-001 sent|unsent", message)
    assert.equal("unknown", rows["repayment/1/2026-10/1001/C1"].state)
  end)

  it("keeps Kiva's field-level reasons whole: summary, report, ledger", function()
    local r, report, rows = push_to("field_errors", "loans", LOANS_CSV, LOANS_MAP, "--problems p.csv")
    assert.equal(1, r.code, r.out .. r.err)
    assert.equal("rejected", report.items[1].status)
    assert.equal("activity_id", report.items[1].errors[1].field)
    assert.equal("location", report.items[1].errors[2].field)
    assert.matches("unknown activity 999", r.out)
    assert.matches("not a location of this partner", r.out)
    assert.equal("activity_id", rows["loan_draft/1/L1/C1"].problems[1].field)
    assert.matches("activity_id,,unknown activity 999", helper.read(r.dir .. "/p.csv"), 1, true)
  end)

  it("repayments answered with the wrong shape do not raise", function()
    local res, err = call("wrong_shape", function(c)
      return c:post_repayments({ { loan_id = "L1", client_id = "C1", amount = 10 } })
    end)
    if res then
      for _, b in ipairs(res.batches) do assert.is_true(b.err ~= nil or type(b.upload_id) ~= "table") end
    else
      assert.is_table(err)
    end
  end)

  it("an error answer echoing the bearer token keeps it out of the err", function()
    local res, err = call("echo", post_draft)
    assert.is_nil(res)
    assert.are.equal("rejected", err.kind)
    local text = tostring(err.message) .. cjson.encode(err.body or {})
    assert.is_truthy(text:find("refused", 1, true), text)
    assert.is_nil(text:find("hostile-token-", 1, true), "the token leaked: " .. text)
  end)

  it("a token error echoing the form keeps the secret out of the err", function()
    local res, err = call("ok", post_draft, { token_mode = "echo" })
    assert.is_nil(res)
    assert.are.equal("auth", err.kind)
    local text = tostring(err.message) .. cjson.encode(err.body or {})
    for _, s in ipairs { CANARY, (CANARY:gsub("[^%w]", function(c) return string.format("%%%02X", c:byte()) end)) } do
      assert.is_nil(text:lower():find(s:lower(), 1, true), "the secret leaked: " .. text)
    end
  end)

  for _, mode in ipairs { "tok_html", "tok_no_token", "tok_truncated" } do
    it("a token answer " .. mode .. " is an auth error and nothing is posted", function()
      local res, err, delta = call("ok", post_draft, { token_mode = mode })
      assert.is_nil(res)
      assert.is_truthy(err.kind == "auth" or err.kind == "server", err.kind .. ": " .. tostring(err.message))
      assert.is_nil(delta["ok /v3/partner/1/loan_draft"])
    end)
  end

  it("a token answer with a non-numeric expires_in does not raise", function()
    local _, err = call("ok", post_draft, { token_mode = "tok_bad_expiry" })
    if err then assert.is_string(err.kind) end
  end)

  -- issue 16, case 6: a token answer is checked before it goes into a header or a path:
  -- each unusable one is an auth error naming what was wrong, and nothing is requested
  for mode, named in pairs { tok_crlf = "access_token", tok_partner_path = 'partnerId "../../oauth"',
      tok_expiry_inf = "expires_in", tok_expiry_nan = "expires_in" } do
    it("a token answer " .. mode .. " is an auth error naming " .. named .. ", nothing requested", function()
      local res, err, delta = call("ok", post_draft, { token_mode = mode })
      assert.is_nil(res)
      assert.are.equal("auth", err.kind)
      assert.is_truthy(err.message:find(named, 1, true), err.message)
      for key in pairs(delta) do assert.is_nil(key:find("loan_draft", 1, true), "requested " .. key) end
    end)
  end

  it("an expires_in of 1e20 is clamped to a day", function()
    local info, err = call("ok", function(c) return c:token_info() end, { token_mode = "tok_expiry_huge" })
    assert.is_nil(err)
    assert.is_true(info.expires_at <= os.time() + 86400 + 5, tostring(info.expires_at))
    assert.is_string(os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(info.expires_at)))
  end)

  for _, mode in ipairs { "tok_expiry_zero", "tok_expiry_negative" } do
    it("an expires_in of 0 or less (" .. mode .. ") does not ask for a token per call", function()
      local _, _, delta = call("ok", function(c)
        for _ = 1, 3 do assert(c:post_loan_draft(DRAFT)) end
        return true
      end, { token_mode = mode })
      assert.are.equal(3, delta["ok /v3/partner/1/loan_draft"])
      assert.are.equal(1, delta[mode .. " /oauth/token"])
    end)
  end

  -- issue 16, case 2: an error answer echoing the secret in other encodings, and cut
  it("a token error echoing the secret form-encoded, JSON-escaped or cut keeps it out of errors and logs", function()
    local secret = "s3cr+t&é /x-canary"
    local logs = {}
    local res, err = call("ok", post_draft, { token_mode = "tok_echo_forms", opts = { client_secret = secret,
      debug = true, on_log = function(_, message) logs[#logs + 1] = message end } })
    assert.is_nil(res)
    assert.are.equal("auth", err.kind)
    local text = tostring(err.message) .. cjson.encode(err.body or {}) .. table.concat(logs, "\n")
    assert.is_truthy(text:find("bad secret", 1, true), "the answer was not seen: " .. text)
    for _, form in ipairs { secret, "s3cr%2bt%26%c3%a9+%2fx", [[s3cr+t&\u00e9 \/x]], "s3cr+t&" } do
      assert.is_nil(text:find(form, 1, true), "the secret leaked as " .. form .. ": " .. text)
    end
  end)

  -- issue 16, case 10
  it("an answer with 2 MB of headers is an error saying so, not 'Out of memory'", function()
    local res, err = call("huge_header", function(c) return c:loans_page { status = "payingBack" } end)
    assert.is_nil(res)
    assert.is_truthy(err.message:find("headers are too large", 1, true), err.message)
    assert.is_nil(err.message:lower():find("out of memory", 1, true), err.message)
  end)

  it("a 429 with Retry-After: 999999 says it gave up and how long the server asked to wait", function()
    local res, err, delta = call("retry_after_999999", post_draft)
    assert.is_nil(res)
    assert.are.equal("rate_limited", err.kind)
    assert.is_truthy(err.message:find("gave up", 1, true), err.message)
    assert.is_truthy(err.message:find("wait 16667 min", 1, true), err.message)
    assert.are.equal(999999, err.retry_after)
    assert.are.equal(1, delta["retry_after_999999 /v3/partner/1/loan_draft"])
  end)
end)

describe("reliability: secrets #sandbox", function()
  local sb, dir
  setup(function()
    sb = helper.start_sandbox("--loans 20 --client-secret " .. helper.quote(CANARY))
    dir = helper.tmpdir()
  end)
  teardown(function()
    if sb then soak.stop_sandbox(sb) end
    helper.cleanup()
  end)

  local function env(extra)
    return merge(sb.env, { KIVA_LEDGER = dir .. "/ledger.sqlite3", KIVA_TOKEN_CACHE = dir .. "/token-cache",
      KIVA_DEBUG = "1", KIVA_BUILD = helper.build }, extra or {})
  end

  it("the canary secret is the sandbox's", function()
    assert.are.equal(CANARY, sb.env.KIVA_CLIENT_SECRET)
  end)

  it("the secret and tokens appear in no output, log, report, ledger, payload or problems file", function()
    -- a token the sandbox issues, to look for it literally
    local http = require "socket.http"
    local form = "grant_type=client_credentials&client_id=" .. sb.env.KIVA_CLIENT_ID .. "&client_secret="
      .. CANARY:gsub("[^%w]", function(c) return string.format("%%%02X", c:byte()) end)
      .. "&audience=" .. sb.env.KIVA_API_URL:gsub("[^%w]", function(c) return string.format("%%%02X", c:byte()) end)
    local chunks = {}
    local _, code = http.request {
      url = sb.env.KIVA_AUTH_URL, method = "POST", source = require("ltn12").source.string(form),
      headers = { ["content-type"] = "application/x-www-form-urlencoded", ["content-length"] = #form },
      sink = require("ltn12").sink.table(chunks),
    }
    assert.are.equal(200, code)
    local token = cjson.decode(table.concat(chunks)).access_token
    local kv = helper.kiva
    local q = helper.quote
    local commands = {
      kv("token"), kv("config activities --json"), kv("loans --status payingBack"),
      kv("push loans --mapping " .. q(BAD .. "map_loans.lua") .. " --input " .. q(BAD .. "negative_amount.csv")
        .. " --report " .. q(dir .. "/report-loans.json")),
      kv("push loans --mapping " .. q(BAD .. "map_loans.lua") .. " --input " .. q(BAD .. "negative_amount.csv")
        .. " --dry-run --out " .. q(dir .. "/out")),
      kv("push repayments --mapping " .. q(BAD .. "map_repayments.lua") .. " --input "
        .. q(BAD .. "repay_negative.csv") .. " --report " .. q(dir .. "/report-repayments.json")
        .. " --problems " .. q(dir .. "/problems.csv")),
      kv("validate loans --mapping " .. q(BAD .. "map_loans.lua") .. " --input " .. q(BAD .. "negative_amount.csv")
        .. " --report " .. q(dir .. "/report-validate.json")),
      kv("ledger list"),
      kv("ledger show loan_draft/1/L900001/C900001"),
    }
    local outputs = {}
    for _, cmd in ipairs(commands) do
      local r = helper.run(cmd, { env = env(), cwd = dir })
      assert.is_false(crashed(r), cmd .. ": " .. r.err)
      outputs[#outputs + 1] = { what = cmd, text = r.out .. r.err }
    end
    -- KIVA_DEBUG=1 logged the requests: the scan covers the debug log too
    assert.is_truthy(outputs[1].text:find("debug", 1, true), "no debug log to check: " .. outputs[1].text)
    -- a failing token request (wrong id) must not echo the secret either
    local r = helper.run(kv("token"), { env = env { KIVA_CLIENT_ID = "someone-else" }, cwd = dir })
    assert.are.equal(3, r.code)
    outputs[#outputs + 1] = { what = "kiva token (refused)", text = r.out .. r.err }
    local p = io.popen("find " .. q(dir) .. " -type f")
    for path in p:lines() do
      if not path:find("/token%-cache") then
        outputs[#outputs + 1] = { what = path, text = helper.read(path) or "" }
      end
    end
    p:close()
    for _, f in ipairs { "report-loans.json", "report-repayments.json", "report-validate.json", "problems.csv",
        "ledger.sqlite3", "token-cache" } do
      assert.is_truthy(helper.read(dir .. "/" .. f), f .. " was not written")
    end
    local out_files = io.popen("ls " .. q(dir .. "/out")):read("a")
    assert.is_truthy(out_files:find("%S"), "the dry run wrote no payload file")
    local secret_forms = { CANARY, (CANARY:gsub("[^%w]", function(c) return string.format("%%%02X", c:byte()) end)) }
    for _, o in ipairs(outputs) do
      for _, s in ipairs(secret_forms) do
        assert.is_nil(o.text:lower():find(s:lower(), 1, true), "the client secret appears in " .. o.what)
      end
      assert.is_nil(o.text:find(token, 1, true), "a token appears in " .. o.what)
      assert.is_nil(o.text:find("eyJ[%w_-]+%.eyJ[%w_-]+"), "a JWT appears in " .. o.what)
      assert.is_nil(o.text:find("Bearer ", 1, true), "a bearer header appears in " .. o.what)
    end
  end)

  it("keeps the token cache at mode 0600", function()
    local r = helper.run(helper.kiva("token"), { env = env(), cwd = dir })
    assert.are.equal(0, r.code, r.err)
    local core = require "kiva.core"
    assert.are.equal(tonumber("600", 8), core.file_mode(dir .. "/token-cache"))
  end)

  it("refuses a credentials file readable by others, accepts one of mode 0600", function()
    local cred = helper.write(dir .. "/credentials", "client_id=" .. sb.env.KIVA_CLIENT_ID .. "\nclient_secret="
      .. CANARY .. "\n")
    os.execute("chmod 644 " .. helper.quote(cred))
    local e = env { KIVA_CLIENT_ID = "", KIVA_CLIENT_SECRET = "" }
    local r = helper.run(helper.kiva("token --credentials " .. helper.quote(cred)), { env = e, cwd = dir })
    assert.are.equal(2, r.code, r.out .. r.err)
    assert.is_truthy(r.err:find("credentials", 1, true))
    assert.is_nil((r.out .. r.err):find(CANARY, 1, true))
    os.execute("chmod 640 " .. helper.quote(cred))
    r = helper.run(helper.kiva("token --credentials " .. helper.quote(cred)), { env = e, cwd = dir })
    assert.are.equal(2, r.code, "group-readable accepted")
    os.execute("chmod 600 " .. helper.quote(cred))
    r = helper.run(helper.kiva("token --credentials " .. helper.quote(cred)), { env = e, cwd = dir })
    assert.are.equal(0, r.code, r.err)
  end)

  it("refuses plain http outside loopback, before any connection", function()
    for _, url in ipairs { "http://partner-api.k1.kiva.org", "http://10.0.0.1:8080", "http://127.0.0.1.evil.example",
        "http://localhost@evil.example", "ftp://127.0.0.1" } do
      local r = helper.run(helper.kiva("loans"), { env = env { KIVA_API_URL = url }, cwd = dir })
      assert.are.equal(2, r.code, url .. ": " .. r.err)
      r = helper.run(helper.kiva("token"), { env = env { KIVA_AUTH_URL = url }, cwd = dir })
      assert.are.equal(2, r.code, url .. ": " .. r.err)
      local c, err = require("kiva").client { client_id = "x", client_secret = CANARY, api_url = url,
        auth_url = "https://auth.example/oauth/token" }
      assert.is_nil(c, url)
      assert.are.equal("config", err.kind)
      assert.is_nil(tostring(err.message):find(CANARY, 1, true))
    end
  end)
end)

describe("reliability: short fault soak #sandbox", function()
  teardown(helper.cleanup)
  it("never loses or doubles an item under faults", function()
    local s = soak.fault_soak({ drafts = 40, repayments = 600, journals = 20 }, 11)
    assert.are.same({}, s.problems)
    assert.are.equal(660, s.items)
    assert.are.equal(0, #s.lost)
    assert.are.equal(0, s.duplicated)
    assert.is_true(s.faults > 0, "no fault was injected")
  end)
end)
