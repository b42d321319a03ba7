-- The `kiva` command's surface: help, exit codes, validation, production safety,
-- the ledger commands, and what it writes for Excel.
local helper = require "helper"
local cjson = require "cjson"

local DATA = helper.root .. "/tests/data/cli/"
local CANARY = "canary-S3cret+&=%"

describe("kiva (cli)", function()
  after_each(helper.cleanup)

  it("lists an empty ledger as [] with --json, as jq reads a list", function()
    local dir = helper.tmpdir()
    local path = dir .. "/empty.sqlite3"
    assert(require("kiva.ledger").open(path)):close()
    local r = helper.run(helper.kiva("ledger list --json --ledger " .. helper.quote(path)))
    assert.equal(0, r.code, r.err)
    assert.equal("[]\n", r.out)
  end)

  it("prints help with a worked example for each command, exit 0", function()
    local r = helper.run(helper.kiva("--help"))
    assert.equal(0, r.code)
    assert.matches("push", r.out)
    for _, cmd in ipairs({ "token", "config", "loans", "push", "validate", "reconcile", "ledger" }) do
      r = helper.run(helper.kiva(cmd .. " --help"))
      assert.equal(0, r.code, cmd)
      assert.matches("Usage: kiva " .. cmd, r.out)
      assert.matches("Example", r.out)
      assert.matches("kiva " .. cmd, r.out:match("Example.*$"))
    end
  end)

  it("prints the versions of kiva, Lua, libcurl, OpenSSL and SQLite (--version)", function()
    local r = helper.run(helper.kiva("--version"))
    assert.equal(0, r.code, r.err)
    assert.matches("^kiva " .. require("kiva")._VERSION:gsub("%p", "%%%0") .. "\n", r.out)
    assert.matches("\nLua 5%.4%.%d+\n", r.out)
    assert.matches("\nlibcurl %d+%.%d+", r.out)
    assert.matches("\nOpenSSL %d+%.%d+", r.out)
    assert.matches("\nSQLite 3%.%d+", r.out)
  end)

  it("lists in each command's help only the options that apply to it", function()
    local function help(cmd) return helper.run(helper.kiva(cmd .. " --help")).out end
    for _, cmd in ipairs({ "token", "config", "loans" }) do
      local text = help(cmd)
      for _, opt in ipairs({ "--ledger", "--yes", "--csv-format", "--lock-wait", "--quiet", "--report" }) do
        assert.is_nil(text:find(opt, 1, true), cmd .. " lists " .. opt)
      end
      assert.truthy(text:find("--api-url", 1, true))
    end
    local push = help("push")
    for _, opt in ipairs({ "--ledger", "--yes", "--csv-format", "--quiet", "--log", "--json", "--report" }) do
      assert.truthy(push:find(opt, 1, true), "push lacks " .. opt)
    end
    local ledger = help("ledger")
    assert.is_nil(ledger:find("--yes", 1, true))
    assert.truthy(ledger:find("--ledger", 1, true))
  end)

  it("prints shell completion for bash, zsh and fish", function()
    for shell, mark in pairs({ bash = "complete %-F", zsh = "#compdef kiva", fish = "complete %-c kiva" }) do
      local r = helper.run(helper.kiva("completion " .. shell))
      assert.equal(0, r.code, r.err)
      assert.matches(mark, r.out)
      assert.truthy(r.out:find("reconcile", 1, true), shell)
    end
    local dir = helper.tmpdir()
    helper.write(dir .. "/kiva.bash", helper.run(helper.kiva("completion bash")).out)
    assert.equal(0, helper.run("bash -n " .. helper.quote(dir .. "/kiva.bash")).code)
  end)

  it("prints the JSON report on stdout with --json or --report -, the run log on stderr", function()
    local dir = helper.tmpdir()
    for _, opt in ipairs({ "--json", "--report -" }) do
      local r = helper.run(helper.kiva("validate repayments --mapping " .. DATA .. "repayments.lua --input "
        .. DATA .. "repayments-bad.csv " .. opt) .. " | jq -c '{counts, version, target, started_at}'", { cwd = dir })
      assert.equal(0, r.code, r.err)   -- jq's status: the output parsed
      local doc = cjson.decode(r.out)
      assert.equal(4, doc.counts.read)
      assert.equal(1, doc.counts.invalid)
      assert.equal(require("kiva")._VERSION, doc.version)
      assert.equal("stage", doc.target.env)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", doc.started_at)
      assert.matches("== kiva ", r.err)
      assert.is_nil(helper.read(dir .. "/-"))
    end
  end)

  it("exits 2 on a usage error, naming the problem", function()
    local r = helper.run(helper.kiva("push loans --input x.csv"))
    assert.equal(2, r.code)
    assert.matches("missing option '%-%-mapping'", r.err)
    r = helper.run(helper.kiva("push parcels --mapping m.lua --input x.csv"))
    assert.equal(2, r.code)
    r = helper.run(helper.kiva("push repayments --mapping m.lua --input x.csv --period 2026-13"))
    assert.equal(2, r.code)
    assert.matches("YYYY%-MM", r.err)
  end)

  -- issue 16, case 10: numbers a user may mistype end with a clear message, exit 2
  it("refuses --concurrency outside 1..64 and a --lock-wait that is not seconds, exit 2", function()
    for _, opt in ipairs { { "--concurrency", "65" }, { "--concurrency", "0" }, { "--concurrency", "2.5" },
        { "--concurrency", "abc" }, { "--lock-wait", "abc" }, { "--lock-wait", "-1" }, { "--lock-wait", "nan" } } do
      local name, value = opt[1], opt[2]
      local r = helper.run(helper.kiva("push loans --mapping m.lua --input x.csv " .. name .. "=" .. value))
      assert.equal(2, r.code, name .. " " .. value)
      assert.matches(name:gsub("%-", "%%-") .. " must be a .* got '" .. value:gsub("%p", "%%%0") .. "'", r.err)
      assert.is_nil(r.err:find("internal error", 1, true), r.err)
    end
  end)

  it("exits 2 when a push has no credentials, saying so, and in the --log history too", function()
    local dir = helper.tmpdir()
    local r = helper.run(helper.kiva("push repayments --mapping " .. DATA .. "repayments.lua --input "
      .. DATA .. "repayments.csv --quiet --log " .. dir .. "/kiva.log"), { cwd = dir, env = {
      KIVA_API_URL = "http://127.0.0.1:9", KIVA_AUTH_URL = "http://127.0.0.1:9/t" } })
    assert.equal(2, r.code, r.err)
    assert.matches("client id", r.err)
    assert.matches("^[%dT:+-]+ == kiva [%d.]+: push repayments stopped before the run, exit 2 ",
      helper.read(dir .. "/kiva.log"))
    assert.is_nil(helper.read(dir .. "/kiva-ledger.sqlite3"))
  end)

  it("exits 4 when the network gives up", function()
    local r = helper.run(helper.kiva("token"), { env = { KIVA_CLIENT_ID = "id", KIVA_CLIENT_SECRET = CANARY,
      KIVA_AUTH_URL = "http://127.0.0.1:9/oauth/token", KIVA_API_URL = "http://127.0.0.1:9" } })
    assert.equal(4, r.code, r.err)
    assert.is_nil((r.out .. r.err):find(CANARY, 1, true))
  end)

  it("refuses production from a non-terminal without --yes, saying where it would go", function()
    local r = helper.run(helper.kiva("push repayments --env production --mapping " .. DATA
      .. "repayments.lua --input " .. DATA .. "repayments.csv"),
      { env = { KIVA_CLIENT_ID = "id", KIVA_CLIENT_SECRET = CANARY } })
    assert.equal(2, r.code)
    assert.matches("target: PRODUCTION https://partner%-api%.k1%.kiva%.org", r.err)
    assert.matches("%-%-yes", r.err)
  end)

  it("guards Kiva's production hosts whatever --env says, and refuses a mixed target", function()
    local base = "push repayments --mapping " .. DATA .. "repayments.lua --input " .. DATA .. "repayments.csv"
    -- production URLs left in the environment, KIVA_ENV unset (a cron job): no --yes, nothing leaves
    local r = helper.run(helper.kiva(base), { env = { KIVA_CLIENT_ID = "id", KIVA_CLIENT_SECRET = CANARY,
      KIVA_API_URL = "https://partner-api.k1.kiva.org", KIVA_AUTH_URL = "https://auth.k1.kiva.org/oauth/token" } })
    assert.equal(2, r.code, r.out .. r.err)
    assert.matches("target: PRODUCTION https://partner%-api%.k1%.kiva%.org", r.err)
    assert.matches("without %-%-yes", r.err)
    -- only the token URL on production is production too
    r = helper.run(helper.kiva(base), { env = { KIVA_CLIENT_ID = "id", KIVA_CLIENT_SECRET = CANARY,
      KIVA_AUTH_URL = "https://auth.k1.kiva.org/oauth/token" } })
    assert.equal(2, r.code, r.out .. r.err)
    assert.matches("without %-%-yes", r.err)
    -- --env production with a sandbox URL left in the environment: refused, not sent to the sandbox
    r = helper.run(helper.kiva(base .. " --env production --yes"), { env = { KIVA_CLIENT_ID = "id",
      KIVA_CLIENT_SECRET = CANARY, KIVA_API_URL = "http://127.0.0.1:9" } })
    assert.equal(2, r.code, r.out .. r.err)
    assert.matches("KIVA_API_URL is http://127%.0%.0%.1:9 but the production environment was asked for", r.err)
    -- and an explicit non-production URL with --env production is a mixed target
    r = helper.run(helper.kiva(base .. " --env production --yes --api-url http://127.0.0.1:9"),
      { env = { KIVA_CLIENT_ID = "id", KIVA_CLIENT_SECRET = CANARY } })
    assert.equal(2, r.code, r.out .. r.err)
    assert.matches("not one of Kiva's production hosts", r.err)
    assert.is_nil((r.out .. r.err):find(CANARY, 1, true))
  end)

  it("validates a JSON body, listing every error (exit 1) or none (exit 0)", function()
    local dir = helper.tmpdir()
    helper.write(dir .. "/bad.json", cjson.encode({ repayments = { { loan_id = "L1", amount = -3 },
      { amount = 5, client_id = "C2" } } }))
    local r = helper.run(helper.kiva("validate repayments --json " .. dir .. "/bad.json"))
    assert.equal(1, r.code, r.out .. r.err)
    assert.matches("repayments%[1%]%.amount", r.out)
    assert.matches("repayments%[2%]", r.out)
    helper.write(dir .. "/ok.json", cjson.encode({ repayments = { { loan_id = "L1", client_id = "C1", amount = 3 } } }))
    r = helper.run(helper.kiva("validate repayments --json " .. dir .. "/ok.json"))
    assert.equal(0, r.code, r.out .. r.err)
  end)

  it("validates an export through a mapping without sending, with a report", function()
    local dir = helper.tmpdir()
    local r = helper.run(helper.kiva("validate repayments --mapping " .. DATA .. "repayments.lua --input "
      .. DATA .. "repayments-bad.csv --report " .. dir .. "/r.json"), { cwd = dir })
    assert.equal(1, r.code, r.out .. r.err)
    local report = cjson.decode(helper.read(dir .. "/r.json"))
    assert.equal("validate", report.command)
    assert.equal(4, report.counts.read)
    assert.equal(1, report.counts.invalid)
    assert.equal(0, report.counts.sent)
    assert.equal(DATA .. "repayments-bad.csv:3", report.items[2].where)
    assert.equal("invalid", report.items[2].status)
    assert.is_table(report.items[2].errors)
  end)

  it("shows a reader's Windows-1252 warning with file:line, in the summary and the report", function()
    local dir = helper.tmpdir()
    local mapping = dir .. "/map.lua"
    helper.write(mapping, [[
local map = require "kiva.map"
return { loan_draft = function(row)
  local amount = map.amount(row.Amount)
  return { activity_id = 61, description_language_id = 1, location = "Davao City", currency = "PHP",
    disburse_time = map.date(row.Disbursed, "dd/mm/yyyy"), client_waiver_signed = true, loanuse = "Buy seeds",
    description = "A borrower", group_name = row.Group ~= "" and row.Group or nil,
    entreps = { { client_id = "C" .. row.Loan, loan_id = row.Loan, first_name = row.First, last_name = row.Last,
      gender = "female", amount = amount } },
    schedule = { { date = map.date(row.Due, "dd/mm/yyyy"), principal = amount, interest = 0 } } }
end }
]])
    local input = dir .. "/loans.csv"
    helper.write(input, "Loan,First,Last,Amount,Disbursed,Due,Group\n"
      .. "L1,Ana,Lopez,500,15/01/2024,15/02/2024,\n"
      .. "L2,Ren\233e,Lopez,500,15/01/2024,15/02/2024,\n"             -- Windows-1252 e-acute
      .. "L3,=HYPERLINK(\"http://x\"),Lopez,500,15/01/2024,15/02/2024,\n"
      .. "L4,Ana,@SUM(1),500,15/01/2024,15/02/2024,\n"
      .. "L5,Ana,Lopez,500,15/01/0000,15/02/2024,\n")
    local r = helper.run(helper.kiva("validate loans --mapping " .. mapping .. " --input " .. input
      .. " --report " .. dir .. "/r.json"), { cwd = dir })
    assert.equal(1, r.code, r.out .. r.err)
    assert.matches("loans.csv:3: not valid UTF%-8; reading the file as Windows%-1252", r.out)
    local report = cjson.decode(helper.read(dir .. "/r.json"))
    assert.equal(1, #report.warnings)
    assert.equal(input .. ":3", report.warnings[1].where)
    assert.matches("Windows%-1252", report.warnings[1].message)
    assert.equal(5, report.counts.read)
    assert.equal(3, report.counts.invalid)
    assert.equal("valid", report.items[2].status)                       -- read as Renée
    assert.equal("entreps[1].first_name", report.items[3].errors[1].path)
    assert.matches("^formula:", report.items[3].errors[1].message)
    assert.equal("entreps[1].last_name", report.items[4].errors[1].path)
    assert.equal("Disbursed", report.items[5].errors[1].path)           -- year 0000 is no date
    assert.matches("year 0000", report.items[5].errors[1].message)
  end)

  it("names an input it cannot read, and what is wrong with it", function()
    local dir = helper.tmpdir()
    for name, body in pairs({ ["cut.json"] = '[{"Loan": "L1"', ["obj.json"] = '{"Loan": "L1"}',
        ["deep.json"] = string.rep("[", 2000) }) do
      local input = helper.write(dir .. "/" .. name, body)
      local r = helper.run(helper.kiva("validate loans --mapping " .. DATA .. "loans.lua --input " .. input),
        { cwd = dir })
      assert.equal(2, r.code, r.out .. r.err)
      assert.matches(dir:gsub("%p", "%%%0") .. "/" .. name:gsub("%.", "%%.") .. ": ", r.err)
    end
  end)

  describe("against the sandbox", function()
    local sb
    setup(function() sb = helper.start_sandbox("--loans 20 --client-secret " .. helper.quote(CANARY)) end)
    teardown(function() if sb then sb.stop() end end)

    it("checks credentials (token), exit 0, never printing the secret or token", function()
      local r = helper.run(helper.kiva("token"), { env = sb.env })
      assert.equal(0, r.code, r.err)
      assert.matches("partner id %d+", r.out)
      r = helper.run(helper.kiva("token --json"), { env = sb.env })
      assert.is_string(cjson.decode(r.out).partner_id and tostring(cjson.decode(r.out).partner_id))
      assert.is_nil(r.out:find(CANARY, 1, true))
      assert.is_nil(r.out:find("eyJ", 1, true))
    end)

    it("exits 3 when authentication fails, and KIVA_DEBUG traces stay redacted", function()
      local env = {}
      for k, v in pairs(sb.env) do env[k] = v end
      env.KIVA_CLIENT_SECRET = CANARY .. "-wrong"
      env.KIVA_DEBUG = "1"
      local r = helper.run(helper.kiva("token"), { env = env })
      assert.equal(3, r.code, r.err)
      assert.is_nil((r.out .. r.err):find(CANARY, 1, true))
    end)

    it("lists loans and config as text and JSON", function()
      local r = helper.run(helper.kiva("loans --status payingBack --json"), { env = sb.env })
      assert.equal(0, r.code, r.err)
      local loans = cjson.decode(r.out)
      assert.is_true(#loans > 0)
      for _, l in ipairs(loans) do assert.equal("payingBack", l.status) end
      r = helper.run(helper.kiva("loans --status defaulted"), { env = sb.env })
      assert.equal(0, r.code)
      assert.matches("L000008", r.out)
      r = helper.run(helper.kiva("config activities"), { env = sb.env })
      assert.equal(0, r.code, r.err)
      assert.matches("^%d+\t", r.out)
    end)

    it("prints Kiva's text (a loan's name) with its control characters escaped", function()
      local dir = helper.tmpdir()
      helper.write(dir .. "/portfolio.json", cjson.encode({ { internal_loan_id = "LX1", internal_client_id = "CX1",
        status = "payingBack", name = "Ana\27]0;owned\7 L\27[2Jopez" } }))
      local own = helper.start_sandbox("--loans 1 --portfolio " .. dir .. "/portfolio.json")
      local r = helper.run(helper.kiva("loans --query LX1"), { env = own.env })
      own.stop()
      assert.equal(0, r.code, r.err)
      assert.is_nil(r.out:find("\27", 1, true))
      assert.truthy(r.out:find("Ana\\x1B]0;owned\\x07 L\\x1B[2Jopez", 1, true), r.out)
    end)

    it("draws a progress bar on a terminal's stderr (through script(1)'s pty)", function()
      local dir = helper.tmpdir()
      local env = {}
      for k, v in pairs(sb.env) do env[k] = v end
      env.KIVA_LEDGER = dir .. "/l.sqlite3"
      local r = helper.run("script -qec " .. helper.quote(helper.kiva("push repayments --period 2026-11 --mapping "
        .. DATA .. "repayments.lua --input " .. DATA .. "repayments.csv")) .. " /dev/null", { env = env })
      assert.equal(0, r.code, r.out)
      assert.matches("\rsending repayments [^\r\n]*8/8[^\r\n]*\27%[K", r.out)
      assert.matches("\r\27%[K== kiva ", r.out)                 -- the bar is erased before the run log
    end)

    it("says why a push stopped once on a terminal, and on stderr too when output is kept apart", function()
      local down = helper.start_sandbox("--loans 20 --faults 503:1")   -- every report refused: 503
      local dir = helper.tmpdir()
      local env = {}
      for k, v in pairs(down.env) do env[k] = v end
      env.KIVA_LEDGER = dir .. "/l.sqlite3"
      local cmd = helper.kiva("push repayments --period 2026-11 --mapping " .. DATA .. "repayments.lua --input "
        .. DATA .. "repayments.csv")
      local r = helper.run(cmd, { env = env })
      local piped = helper.run("script -qec " .. helper.quote(cmd) .. " /dev/null", { env = env })
      down.stop()
      assert.equal(4, r.code, r.out .. r.err)
      assert.matches("Stopped: [^\n]*HTTP 503", r.out)
      assert.matches("kiva: [^\n]*HTTP 503", r.err)
      assert.equal(4, piped.code, piped.out)
      local _, times = piped.out:gsub("Stopped: [^\n]*HTTP 503", "")
      local _, again = piped.out:gsub("kiva: [^\n]*HTTP 503", "")
      assert.equal(1, times, piped.out)
      assert.equal(0, again, piped.out)
    end)

    it("writes a cron run log that stands alone: date, duration, target, ledger, version, upload ids", function()
      local fresh = helper.start_sandbox("--loans 20")   -- its only upload is this run's
      local dir = helper.tmpdir()
      local env = {}
      for k, v in pairs(fresh.env) do env[k] = v end
      env.KIVA_LEDGER = dir .. "/l.sqlite3"
      local log = dir .. "/cron.log"
      local r = helper.run(helper.kiva("push repayments --period 2026-08 --mapping " .. DATA .. "repayments.lua "
        .. "--input " .. DATA .. "repayments.csv") .. " >" .. log .. " 2>&1", { env = env })
      assert.equal(0, r.code)
      local text = helper.read(log)
      assert.is_nil(text:find("[\r\27]"), text)
      assert.matches("== kiva " .. require("kiva")._VERSION:gsub("%p", "%%%0")
        .. ": push repayments 2026%-08, started %d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d", text)
      local port = fresh.url:match(":(%d+)$")
      assert.matches("\nTarget: stage, http://127%.0%.0%.1:" .. port .. ", partner %d+; ledger "
        .. (dir .. "/l.sqlite3"):gsub("%p", "%%%0") .. "\n", text)
      local upload_id = fresh.state().repayments[1].upload_id
      fresh.stop()
      assert.is_string(upload_id)
      assert.matches("\n  batch 1: upload " .. upload_id:gsub("%p", "%%%0") .. ", 8 repayment%(s%)", text)
      assert.matches("\n== finished %d%d%d%d%-%d%d%-%d%d [%d:]+ [+-]%d+ after [%d.]+ s, exit 0: all done\n$", text)
      assert.is_nil(text:find("--report", 1, true))
      assert.is_nil(text:find("--problems", 1, true))
    end)

    it("is quiet (--quiet) when all went through, appends to --log, and speaks when a person is needed", function()
      local dir = helper.tmpdir()
      local env = {}
      for k, v in pairs(sb.env) do env[k] = v end
      env.KIVA_LEDGER = dir .. "/l.sqlite3"
      local cmd = helper.kiva("push repayments --period 2026-07 --mapping " .. DATA .. "repayments.lua --input "
        .. DATA .. "repayments.csv --quiet --log " .. dir .. "/kiva.log")
      for run = 1, 2 do                                  -- sent, then skipped as already sent
        local r = helper.run(cmd, { env = env })
        assert.equal(0, r.code, r.err)
        assert.equal("", r.out, "run " .. run)
        if run == 1 then
          -- a ledger made anew is said even under --quiet: a lost ledger must never resend in silence
          assert.matches("^kiva: new ledger [^\n]*\n$", r.err)
        else
          assert.equal("", r.err, "run " .. run)
        end
      end
      local logged = helper.read(dir .. "/kiva.log")
      local _, starts = logged:gsub("%d%d%d%d%-%d%d%-%d%dT[%d:]+[+-]%d+ == kiva ", "")
      assert.equal(2, starts)
      assert.matches("sent 8, skipped 0", logged)
      assert.matches("sent 0, skipped 8", logged)
      for line in logged:gmatch("[^\n]+") do assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d[+-]%d+ ", line) end

      local faulty = helper.start_sandbox("--loans 20 --faults 500after:1")
      local fenv = {}
      for k, v in pairs(faulty.env) do fenv[k] = v end
      fenv.KIVA_LEDGER = dir .. "/f.sqlite3"
      fenv.LANG = "fr_FR.UTF-8"
      local r = helper.run(helper.kiva("push repayments --period 2026-07 --mapping " .. DATA .. "repayments.lua "
        .. "--input " .. DATA .. "repayments.csv --quiet"), { env = fenv })
      faulty.stop()
      assert.equal(1, r.code, r.err)
      assert.matches("issue inconnue 8", r.out)
      assert.matches("\nIssue inconnue %(vérifiez dans PA2", r.out)
      assert.matches("code de sortie 1 : à traiter", r.out)
    end)

    it("shows and settles unknown items with kiva ledger", function()
      local faulty = helper.start_sandbox("--loans 20 --faults 500after:1")
      local dir = helper.tmpdir()
      local env = {}
      for k, v in pairs(faulty.env) do env[k] = v end
      env.KIVA_LEDGER = dir .. "/l.sqlite3"
      local r = helper.run(helper.kiva("push repayments --period 2026-09 --mapping " .. DATA
        .. "repayments.lua --input " .. DATA .. "repayments.csv"), { env = env })
      faulty.stop()
      assert.equal(1, r.code, r.out .. r.err)
      assert.matches("unknown 8", r.out)
      assert.matches("Outcome unknown", r.out)
      r = helper.run(helper.kiva("ledger list --state unknown"), { env = env })
      assert.equal(0, r.code)
      local key = r.out:match("(repayment/%S+)")
      assert.is_string(key)
      r = helper.run(helper.kiva("ledger resolve " .. key .. " sent"), { env = env })
      assert.equal(0, r.code, r.err)
      assert.matches("unknown %-> sent", r.out)
      r = helper.run(helper.kiva("ledger show " .. key .. " --json"), { env = env })
      assert.equal("sent", cjson.decode(r.out).state)
      assert.is_nil(r.out:find("\\/", 1, true))
      r = helper.run(helper.kiva("ledger show " .. key), { env = env })
      assert.matches("^key:%s+" .. key:gsub("%p", "%%%0") .. "\n", r.out)
      assert.matches("\nstate:%s+sent\n", r.out)
      r = helper.run(helper.kiva("ledger resolve nope/1 sent"), { env = env })
      assert.equal(1, r.code)
    end)
  end)
end)
