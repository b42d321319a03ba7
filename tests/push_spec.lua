-- `kiva push` end to end against the sandbox: idempotent, resumable, never double-sends.
local helper = require "helper"
local cjson = require "cjson"
local ledger = require "kiva.ledger"
local core = require "kiva.core"

local DATA = helper.root .. "/tests/data/cli/"
local CANARY = "canary-S3cret+&=%"

local function state_of(sb)
  local r = helper.run("curl -s " .. helper.quote(sb.url .. "/__sandbox/state"))
  return cjson.decode(r.out)
end

local function push(sb, dir, args)
  local env = {}
  for k, v in pairs(sb.env) do env[k] = v end
  env.KIVA_LEDGER = dir .. "/ledger.sqlite3"
  return helper.run(helper.kiva("push " .. args), { env = env, cwd = dir })
end

-- The environment of a push to sandbox `sb` with a ledger of its own in `dir`.
local function env_for(sb, dir)
  local env = {}
  for k, v in pairs(sb.env) do env[k] = v end
  env.KIVA_LEDGER = dir .. "/ledger.sqlite3"
  return env
end

-- Starts `kiva ARGS` in the background in `dir` (its output in out.txt and err.txt, its
-- exit status in rc.txt when it ends) and returns the pid of the kiva process itself.
local function start_kiva(dir, env, args)
  local prefix = { "env" }
  for k, v in pairs(env) do prefix[#prefix + 1] = k .. "=" .. helper.quote(v) end
  -- the inner shell writes its pid, then becomes kiva (exec)
  local inner = "echo $$ >pid.txt; exec " .. helper.kiva(args)
  os.execute("cd " .. helper.quote(dir) .. " && (" .. table.concat(prefix, " ") .. " sh -c " .. helper.quote(inner)
    .. " >out.txt 2>err.txt; echo $? >rc.txt) &")
  for _ = 1, 200 do
    if helper.read(dir .. "/pid.txt") then break end
    core.sleep(0.02)
  end
  return assert(tonumber(helper.read(dir .. "/pid.txt")), "kiva did not start")
end

-- The exit status of a kiva started by start_kiva, once it has ended.
local function exit_status(dir)
  for _ = 1, 400 do
    if helper.read(dir .. "/rc.txt") then break end
    core.sleep(0.05)
  end
  return tonumber(helper.read(dir .. "/rc.txt"))
end

-- Waits until the ledger at `path` counts at least `n` items in `state`.
local function wait_for_state(path, state, n)
  for _ = 1, 1500 do   -- up to 30 s: a loaded machine (CI) may be slow to get there
    local db = ledger.open(path, { create = false })
    local got = db and (db:counts()[state] or 0) or 0
    if db then db:close() end
    if got >= n then return true end
    core.sleep(0.02)
  end
  return false
end

local function no_secret_in(text, what)
  assert.is_nil(text:find(CANARY, 1, true), "client secret found in " .. what)
  assert.is_nil(text:find("eyJ[%w%-_]+%.[%w%-_]+%."), "a token found in " .. what)
end

describe("kiva push", function()
  local sb
  setup(function()
    sb = helper.start_sandbox("--loans 50 --client-secret " .. helper.quote(CANARY))
  end)
  teardown(function()
    if sb then sb.stop() end
    helper.cleanup()
  end)

  it("sends repayments once; a second run sends nothing and says so", function()
    local dir = helper.tmpdir()
    local args = "repayments --mapping " .. DATA .. "repayments.lua --input " .. DATA .. "repayments.csv"
      .. " --period 2026-01 --report " .. dir .. "/report.json"
    local before = state_of(sb)
    local r1 = push(sb, dir, args)
    assert.equal(0, r1.code, r1.out .. r1.err)
    assert.matches("sent 8", r1.out)
    local report = cjson.decode(helper.read(dir .. "/report.json"))
    assert.equal("push", report.command)
    assert.same({ read = 8, rows = 8, valid = 8, invalid = 0, sent = 8, skipped = 0, omitted = 0, rejected = 0,
      unknown = 0, changed = 0, pending = 0, warned = 0 }, report.counts)
    assert.equal("repayment/" .. report.items[1].key:match("^repayment/(%d+)/") .. "/2026-01/L000001/C000001",
      report.items[1].key)
    assert.equal(DATA .. "repayments.csv:2", report.items[1].where)
    assert.is_string(report.items[1].response.upload_id)
    local mid = state_of(sb)
    local r2 = push(sb, dir, args)
    assert.equal(0, r2.code, r2.out .. r2.err)
    assert.matches("sent 0, skipped 8", r2.out)
    local after = state_of(sb)
    assert.equal(mid.requests, after.requests)
    assert.equal(0, after.duplicates)
    assert.is_true(mid.requests > before.requests)
    no_secret_in(r1.out .. r1.err .. r2.out .. r2.err, "output")
    no_secret_in(helper.read(dir .. "/ledger.sqlite3") .. (helper.read(dir .. "/ledger.sqlite3-wal") or ""), "ledger")
    no_secret_in(helper.read(dir .. "/report.json"), "report")
  end)

  it("treats the same loan in two periods as two items, the same period twice as one", function()
    local dir = helper.tmpdir()
    local base = "repayments --mapping " .. DATA .. "repayments.lua --input " .. DATA .. "repayments.csv"
    assert.equal(0, push(sb, dir, base .. " --period 2026-02").code)
    local r = push(sb, dir, base .. " --period 2026-03")
    assert.matches("sent 8", r.out)
    r = push(sb, dir, base .. " --period 2026-03")
    assert.matches("sent 0, skipped 8", r.out)
  end)

  it("reports an item changed since it was sent and resends it only when asked", function()
    local dir = helper.tmpdir()
    local csv = helper.read(DATA .. "repayments.csv")
    helper.write(dir .. "/in.csv", csv)
    local args = "repayments --mapping " .. DATA .. "repayments.lua --input " .. dir .. "/in.csv --period 2026-04"
    assert.equal(0, push(sb, dir, args).code)
    helper.write(dir .. "/in.csv", (csv:gsub("L000002,C000002,80", "L000002,C000002,81")))
    local r = push(sb, dir, args .. " --report " .. dir .. "/r.json")
    assert.equal(0, r.code)
    assert.matches("1 changed since sent", r.out)
    local report = cjson.decode(helper.read(dir .. "/r.json"))
    local changed
    for _, it in ipairs(report.items) do if it.status == "changed" then changed = it end end
    assert.equal(dir .. "/in.csv:3", changed.where)
    assert.equal(0, report.counts.sent)
    r = push(sb, dir, args .. " --resend-changed")
    assert.matches("sent 1, skipped 7", r.out)
  end)

  it("lists rejected and invalid items with where they came from, exit 1, and writes a safe problems CSV", function()
    local dir = helper.tmpdir()
    local r = push(sb, dir, "repayments --mapping " .. DATA .. "repayments.lua --input " .. DATA
      .. "repayments-bad.csv --period 2026-05 --problems " .. dir .. "/p.csv --report " .. dir .. "/r.json")
    assert.equal(1, r.code, r.out .. r.err)
    assert.matches("Invalid", r.out)
    assert.matches("repayments%-bad%.csv:3", r.out)
    assert.matches("Rejected by Kiva", r.out)
    local report = cjson.decode(helper.read(dir .. "/r.json"))
    assert.equal(1, report.counts.invalid)
    assert.is_true(report.counts.rejected >= 1)
    local csv = helper.read(dir .. "/p.csv")
    assert.matches("^\239\187\191where,key,status,field,code,message", csv)
    assert.is_nil(csv:find("\n=", 1, true))
    assert.is_nil(csv:find(",=", 1, true))
    no_secret_in(csv, "problems CSV")
  end)

  it("sends loan drafts and journals once, with Kiva's uuid and confirm_url", function()
    local dir = helper.tmpdir()
    local dups = state_of(sb).duplicates
    local args = "loans --mapping " .. DATA .. "loans.lua --input " .. DATA .. "loans.csv --report " .. dir .. "/r.json"
    local r = push(sb, dir, args)
    assert.equal(0, r.code, r.out .. r.err)
    assert.matches("sent 40", r.out)
    assert.matches("Review the new drafts in PA2", r.out)
    local report = cjson.decode(helper.read(dir .. "/r.json"))
    assert.is_string(report.items[1].response.loan_draft_uuid)
    r = push(sb, dir, args)
    assert.matches("sent 0, skipped 40", r.out)
    r = push(sb, dir, "journals --mapping " .. DATA .. "loans.lua --input " .. DATA .. "loans.csv")
    assert.equal(0, r.code, r.out .. r.err)
    assert.matches("Journals to confirm:", r.out)
    assert.matches("http[%w:/._%-]+", r.out)
    assert.equal(dups, state_of(sb).duplicates)
  end)

  it("returns items to pending when the network gives up (exit 4), and the next run sends them", function()
    local down = helper.start_sandbox("--loans 20 --faults 503:1")
    local dir = helper.tmpdir()
    local args = "repayments --mapping " .. DATA .. "repayments.lua --input " .. DATA .. "repayments.csv"
      .. " --period 2026-10 --ledger " .. dir .. "/l.sqlite3"
    local r = helper.run(helper.kiva("push " .. args), { env = down.env })
    down.stop()
    assert.equal(4, r.code, r.out .. r.err)
    assert.matches("8 not sent this run", r.out)
    r = helper.run(helper.kiva("ledger list --state pending --ledger " .. dir .. "/l.sqlite3"))
    assert.matches("8 item%(s%)", r.out)
    r = helper.run(helper.kiva("push " .. args), { env = sb.env })
    assert.equal(0, r.code, r.out .. r.err)
    assert.matches("sent 8", r.out)
  end)

  it("writes the payloads of a dry run without credentials or a ledger", function()
    local dir = helper.tmpdir()
    local r = helper.run(helper.kiva("push repayments --dry-run --out " .. dir .. "/out --mapping " .. DATA
      .. "repayments.lua --input " .. DATA .. "repayments.csv --period 2026-06"),
      { cwd = dir, env = { KIVA_CLIENT_ID = "id", KIVA_CLIENT_SECRET = CANARY, KIVA_API_URL = "http://127.0.0.1:9",
        KIVA_AUTH_URL = "http://127.0.0.1:9/oauth/token" } })
    assert.equal(0, r.code, r.out .. r.err)
    local body = cjson.decode(helper.read(dir .. "/out/repayments-001.json"))
    assert.equal(8, #body.repayments)
    assert.equal("L000001", body.repayments[1].loan_id)
    assert.is_nil(helper.read(dir .. "/kiva-ledger.sqlite3"))
    no_secret_in(helper.read(dir .. "/out/repayments-001.json") .. r.out .. r.err, "payload file")
    r = helper.run(helper.kiva("push loans --dry-run --out " .. dir .. "/drafts --mapping " .. DATA
      .. "loans.lua --input " .. DATA .. "loans.csv"), { cwd = dir })
    assert.equal(0, r.code, r.out .. r.err)
    local draft = cjson.decode(helper.read(dir .. "/drafts/loan_draft-0001-D0001.json"))
    assert.equal("D0001", draft.entreps[1].loan_id)
    -- missing parents are made; a file in the way is a clear error, not a silent no-op
    r = helper.run(helper.kiva("push loans --dry-run --out " .. dir .. "/a/b/c --mapping " .. DATA
      .. "loans.lua --input " .. DATA .. "loans.csv"), { cwd = dir })
    assert.equal(0, r.code, r.out .. r.err)
    assert.truthy(helper.read(dir .. "/a/b/c/loan_draft-0001-D0001.json"))
    helper.write(dir .. "/blocker", "a file\n")
    r = helper.run(helper.kiva("push loans --dry-run --out " .. dir .. "/blocker/out --mapping " .. DATA
      .. "loans.lua --input " .. DATA .. "loans.csv"), { cwd = dir })
    assert.equal(2, r.code, r.out .. r.err)
    assert.truthy(r.err:find("cannot create the output directory " .. dir .. "/blocker/out", 1, true), r.err)
    assert.truthy(r.err:find("Not a directory", 1, true), r.err)
  end)

  it("sends drafts in a sliding window: one waiting to retry does not hold back the others", function()
    -- a seed whose first POST is refused with 429 (Retry-After: 1) and the next nine pass
    local faults = require "kiva.sandbox.faults"
    local seed
    for s = 1, 100000 do
      local d = faults.new({ { kind = "429", p = 0.2 } }, s)
      local fits = d.decide() == "429"
      for _ = 1, 9 do fits = fits and d.decide() == nil end
      if fits then seed = s break end
    end
    assert(seed, "no seed found")
    local held_sb = helper.start_sandbox("--loans 10 --faults 429:0.2 --seed " .. seed)
    local dir = helper.tmpdir()
    local lines = {}
    for line in helper.read(DATA .. "loans.csv"):gmatch("[^\n]+") do
      if #lines < 10 then lines[#lines + 1] = line end
    end
    helper.write(dir .. "/loans.csv", table.concat(lines, "\n") .. "\n")
    local r = push(held_sb, dir, "loans --concurrency 2 --mapping " .. DATA .. "loans.lua --input "
      .. dir .. "/loans.csv")
    local st = state_of(held_sb)
    held_sb.stop()
    assert.equal(0, r.code, r.out .. r.err)
    assert.equal(9, #st.loan_drafts)
    assert.equal(0, st.duplicates)
    assert.equal("429", st.faults[1].fault)
    local held = st.faults[1].keys[1]
    local position
    for i, d in ipairs(st.loan_drafts) do if d.key == held then position = i end end
    -- in waves of two, the held draft would be applied second: its wave waited for it
    assert.is_true(position > 2, "the draft refused with 429 was applied at position " .. tostring(position))
  end)

  it("after kill -9 at several points, a rerun applies each item once and lists unknowns", function()
    -- every answer takes 100 ms, applied first: a kill lands while a request is in flight
    local slow = helper.start_sandbox("--loans 10 --faults slow:1 --slow-ms 100")
    for round = 1, 3 do
      local dir = helper.tmpdir()
      local env = {}
      for k, v in pairs(slow.env) do env[k] = v end
      env.KIVA_LEDGER = dir .. "/ledger.sqlite3"
      -- each round has its own 20 loan ids, so the sandbox's counts are per round too
      local lines = {}
      for line in helper.read(DATA .. "loans.csv"):gmatch("[^\n]+") do
        if #lines <= 20 then lines[#lines + 1] = (line:gsub("^D(%d+),K", "R" .. round .. "%1,K")) end
      end
      helper.write(dir .. "/loans.csv", table.concat(lines, "\n") .. "\n")
      local args = "loans --concurrency 1 --mapping " .. DATA .. "loans.lua --input " .. dir .. "/loans.csv"
      -- start a push, wait until the ledger shows `target` drafts sent, then kill -9 it mid-flight
      local target = ({ 2, 6, 12 })[round]
      local prefix = { "env" }
      for k, v in pairs(env) do prefix[#prefix + 1] = k .. "=" .. helper.quote(v) end
      local p = io.popen("cd " .. helper.quote(dir) .. " && " .. table.concat(prefix, " ") .. " "
        .. helper.kiva("push " .. args) .. " >/dev/null 2>&1 & echo $!")
      local pid = p:read("l")
      p:close()
      -- the next draft marked `sending` too: the kill most likely lands while it is in flight
      for _ = 1, 400 do
        local db = ledger.open(env.KIVA_LEDGER)
        local counts = db and db:counts() or {}
        if db then db:close() end
        if (counts.sent or 0) >= target and (counts.sending or 0) >= 1 then break end
        core.sleep(0.01)
      end
      core.kill(tonumber(pid), 9)
      core.sleep(0.1)
      local r = helper.run(helper.kiva("push " .. args .. " --report " .. dir .. "/r.json"), { env = env, cwd = dir })
      local report = cjson.decode(helper.read(dir .. "/r.json"))
      assert.is_true(report.counts.unknown <= 1, r.out)
      assert.equal(20, report.counts.sent + report.counts.skipped + report.counts.unknown)
      assert.is_true(report.counts.skipped >= target)
      if report.counts.unknown == 1 then
        assert.equal(1, r.code, r.out .. r.err)
        assert.matches("Outcome unknown", r.out)
        assert.matches("A previous run was interrupted", r.out)
      end
      local applied = 0
      for _, d in ipairs(state_of(slow).loan_drafts) do
        if tostring(d.key):match("^R" .. round) then
          assert.equal(1, d.count, d.key)
          applied = applied + 1
        end
      end
      assert.is_true(applied >= 19 and applied <= 20, tostring(applied))
    end
    assert.equal(0, state_of(slow).duplicates)
    slow.stop()
  end)

  it("lets two runs share a ledger without double-sending: the second waits, then skips", function()
    local own = helper.start_sandbox("--loans 20")
    local dir = helper.tmpdir()
    local env = {}
    for k, v in pairs(own.env) do env[k] = v end
    env.KIVA_LEDGER = dir .. "/ledger.sqlite3"
    local args = "repayments --mapping " .. DATA .. "repayments.lua --input " .. DATA .. "repayments.csv"
      .. " --period 2026-07"
    local r = helper.run("(" .. helper.kiva("push " .. args) .. " >a.out 2>&1; echo $? >a.rc) & "
      .. "(" .. helper.kiva("push " .. args) .. " >b.out 2>&1; echo $? >b.rc) & wait", { env = env, cwd = dir })
    assert.equal(0, r.code)
    local a, b = helper.read(dir .. "/a.out"), helper.read(dir .. "/b.out")
    local sent = tonumber(a:match("sent (%d+)")) + tonumber(b:match("sent (%d+)"))
    assert.equal(8, sent, a .. b)
    assert.equal(0, state_of(own).duplicates)
    own.stop()
  end)

  it("refuses a second run after a bounded wait while the ledger is held", function()
    local dir = helper.tmpdir()
    local env = {}
    for k, v in pairs(sb.env) do env[k] = v end
    env.KIVA_LEDGER = dir .. "/ledger.sqlite3"
    -- another process holds the ledger for 3 s; this run opens it through a symbolic link
    env.KIVA_LEDGER = dir .. "/link.sqlite3"
    assert(os.execute("ln -s " .. helper.quote(dir .. "/ledger.sqlite3") .. " " .. helper.quote(env.KIVA_LEDGER)))
    local holder = "lua5.4 -e " .. helper.quote("package.cpath='" .. helper.root .. "/build/?.so;'..package.cpath;"
      .. "local l=require('kiva.core').lock('" .. dir .. "/ledger.sqlite3', 0); os.execute('sleep 3')")
    local r = helper.run(holder .. " & sleep 0.5; " .. helper.kiva("push repayments --lock-wait 1 --mapping "
      .. DATA .. "repayments.lua --input " .. DATA .. "repayments.csv --period 2026-08") .. "; rc=$?; wait; exit $rc",
      { env = env, cwd = dir })
    assert.equal(2, r.code, r.out .. r.err)
    assert.matches("in use by another kiva run", r.err)
  end)

  local REPAY_MAP = "local map = require 'kiva.map'\nreturn { repayment = function(row) return { loan_id = row.Loan, "
    .. "client_id = row.Client, amount = map.amount(row.Paid), date = row.Date } end }\n"

  it("refuses one loan given twice with different clients, naming both lines, and sends neither", function()
    local dir = helper.tmpdir()
    helper.write(dir .. "/map.lua", REPAY_MAP)
    helper.write(dir .. "/in.csv", "Loan,Client,Paid,Date\nL000001,C000001,10.00,2026-09-02\n"
      .. "L000001,C999999,20.00,2026-09-20\nL000002,C000002,5,2026-09-03\n")
    local before = state_of(sb)
    for _ = 1, 3 do
      local r = push(sb, dir, "repayments --mapping map.lua --input in.csv --report r.json --ledger l.sqlite3")
      assert.equal(1, r.code, r.out .. r.err)
      assert.matches("in%.csv:2 %(client C000001%), in%.csv:3 %(client C999999%)", r.out)
    end
    local report = cjson.decode(helper.read(dir .. "/r.json"))
    assert.equal(2, report.counts.invalid)
    assert.equal("2026-09", report.period)
    local after = state_of(sb)
    -- L000002 applied once over three runs; L000001 never
    assert.equal(#before.repayments + 1, #after.repayments)
    assert.equal(before.duplicates, after.duplicates)
  end)

  it("finds the ledger of the target from any working directory, and says when it makes a new one", function()
    local state = helper.tmpdir()
    local args = "repayments --mapping " .. DATA .. "repayments.lua --input " .. DATA .. "repayments.csv"
      .. " --period 2025-12"
    local env = {}
    for k, v in pairs(sb.env) do env[k] = v end
    env.XDG_STATE_HOME = state
    local r1 = helper.run(helper.kiva("push " .. args), { env = env, cwd = helper.tmpdir() })
    assert.equal(0, r1.code, r1.out .. r1.err)
    assert.matches("sent 8", r1.out)
    assert.matches("new ledger " .. state:gsub("%p", "%%%0") .. "/kiva/127%.0%.0%.1_%d+%-%d+%.sqlite3", r1.err)
    -- cron runs elsewhere: the same ledger, nothing sent twice
    local r2 = helper.run(helper.kiva("push " .. args), { env = env, cwd = helper.tmpdir() })
    assert.equal(0, r2.code, r2.out .. r2.err)
    assert.matches("sent 0, skipped 8", r2.out)
    assert.is_nil(r2.err:find("new ledger", 1, true))
  end)

  it("takes the period from the payment dates, never from the clock", function()
    local dir = helper.tmpdir()
    helper.write(dir .. "/map.lua", REPAY_MAP)
    helper.write(dir .. "/in.csv", "Loan,Client,Paid,Date\nL000003,C000003,10.00,2026-11-30\n"
      .. "L000004,C000004,20.00,2026-11-01\n")
    -- a run just before midnight at the end of the month and one just after, in two time zones
    local function env_with(tz)
      local env = { TZ = tz, KIVA_LEDGER = dir .. "/l.sqlite3" }
      for k, v in pairs(sb.env) do env[k] = v end
      return env
    end
    local r1 = helper.run(helper.kiva("push repayments --mapping map.lua --input in.csv"),
      { env = env_with("Pacific/Kiritimati"), cwd = dir })
    local r2 = helper.run(helper.kiva("push repayments --mapping map.lua --input in.csv"),
      { env = env_with("Pacific/Pago_Pago"), cwd = dir })
    assert.matches("push repayments for 2026%-11: read 2, valid 2, invalid 0, sent 2", r1.out)
    assert.matches("push repayments for 2026%-11: read 2, valid 2, invalid 0, sent 0, skipped 2", r2.out)
    -- dates over two months, or none: the operator says which period
    helper.write(dir .. "/two.csv", "Loan,Client,Paid,Date\nL000005,C000005,1,2026-10-31\n"
      .. "L000006,C000006,1,2026-11-01\n")
    local r = push(sb, dir, "repayments --mapping map.lua --input two.csv")
    assert.equal(2, r.code, r.out .. r.err)
    assert.matches("span 2026%-10, 2026%-11: give the period", r.err)
    r = push(sb, dir, "repayments --mapping " .. DATA .. "repayments.lua --input " .. DATA .. "repayments.csv")
    assert.equal(2, r.code, r.out .. r.err)
    assert.matches("%-%-period YYYY%-MM", r.err)
  end)

  it("keeps ids with slashes apart: A/B + C and A + B/C are two drafts", function()
    local dir = helper.tmpdir()
    local map = helper.read(DATA .. "loans.lua")
    helper.write(dir .. "/map.lua", map)
    helper.write(dir .. "/in.csv", "Loan,Client,Name,Amount\nZA/B,C,Ana,100\nZA,B/C,Eva,100\n")
    local r = push(sb, dir, "loans --mapping map.lua --input in.csv --report r.json")
    assert.equal(0, r.code, r.out .. r.err)
    assert.matches("sent 2", r.out)
    local report = cjson.decode(helper.read(dir .. "/r.json"))
    assert.matches("/ZA%%2FB/C$", report.items[1].key)
    assert.matches("/ZA/B%%2FC$", report.items[2].key)
  end)

  it("marks a sent item unsent only with --force, and settles unknowns per batch", function()
    local dir = helper.tmpdir()
    local args = "repayments --mapping " .. DATA .. "repayments.lua --input " .. DATA .. "repayments.csv"
      .. " --period 2025-11 --report " .. dir .. "/r.json"
    assert.equal(0, push(sb, dir, args).code)
    local key = cjson.decode(helper.read(dir .. "/r.json")).items[1].key
    local env = { KIVA_LEDGER = dir .. "/ledger.sqlite3" }
    local r = helper.run(helper.kiva("ledger resolve " .. key .. " unsent"), { env = env })
    assert.equal(2, r.code, r.out .. r.err)
    assert.matches("%-%-force", r.err)
    r = push(sb, dir, args)
    assert.matches("sent 0, skipped 8", r.out)
    r = helper.run(helper.kiva("ledger resolve " .. key .. " unsent --force"), { env = env })
    assert.equal(0, r.code, r.out .. r.err)
    assert.matches("will be sent by the next run", r.out)
  end)

  it("keeps a draft waiting out a backoff pending, not sending: a kill then leaves nothing unknown", function()
    local down = helper.start_sandbox("--loans 10 --faults 503:1")
    local dir = helper.tmpdir()
    local env = env_for(down, dir)
    local pid = start_kiva(dir, env, "push loans --concurrency 1 --mapping " .. DATA .. "loans.lua --input "
      .. DATA .. "loans.csv")
    assert.is_true(wait_for_state(env.KIVA_LEDGER, "pending", 1), "no draft went back to pending after a 503: "
      .. tostring(helper.read(dir .. "/out.txt")) .. tostring(helper.read(dir .. "/err.txt")))
    core.kill(pid, 9)
    core.sleep(0.1)
    down.stop()
    local db = assert(ledger.open(env.KIVA_LEDGER, { create = false }))
    local counts = db:counts()
    db:close()
    -- the one request in flight at the kill (if any) is the only one that can be sending
    assert.is_true((counts.sending or 0) <= 1, require("cjson").encode(counts))
    assert.is_nil(counts.unknown)
  end)

  it("stops while mapping on SIGINT: no row error, a summary, exit 130", function()
    local dir = helper.tmpdir()
    local lines = { "Loan,Client,Paid" }
    for i = 1, 3000 do lines[#lines + 1] = string.format("L%06d,C%06d,1", i, i) end
    helper.write(dir .. "/in.csv", table.concat(lines, "\n") .. "\n")
    -- a slow mapping: about a millisecond of CPU per row
    helper.write(dir .. "/slow.lua", "return { repayment = function(row) local t = os.clock() "
      .. "while os.clock() - t < 0.001 do end\n"
      .. "return { loan_id = row.Loan, client_id = row.Client, amount = 1 } end }\n")
    local pid = start_kiva(dir, {}, "validate repayments --mapping slow.lua --input in.csv")
    core.sleep(0.7)
    core.kill(pid, 2)   -- SIGINT
    local out = helper.read(dir .. "/out.txt") or ""
    assert.equal(130, exit_status(dir), out .. (helper.read(dir .. "/err.txt") or ""))
    out = helper.read(dir .. "/out.txt")
    assert.matches("Stopped: stopped by SIGINT", out)
    assert.is_nil(out:find("mapping error", 1, true))
    local read = tonumber(out:match("read (%d+)"))
    assert.is_true(read > 0 and read < 3000, tostring(read))
  end)

  it("lists the items sent with warnings by file:line, counts them, and keeps Kiva's in the ledger", function()
    local dir = helper.tmpdir()
    helper.write(dir .. "/in.csv", "Loan,Client\nW1,C1\n")
    helper.write(dir .. "/map.lua", "return { loan_draft = function(row) return { entreps = { { loan_id = row.Loan, "
      .. "client_id = row.Client, first_name = 'Ana', last_name = 'Diop', gender = 'female', amount = 100 } } } "
      .. "end }\n")
    local r = push(sb, dir, "loans --mapping map.lua --input in.csv --report r.json --problems p.csv")
    assert.equal(0, r.code, r.out .. r.err)
    assert.matches("With warnings", r.out)
    assert.matches("in%.csv:2 loan_draft/%d+/W1/C1: [^\n]*schedule", r.out)
    local report = cjson.decode(helper.read(dir .. "/r.json"))
    assert.equal(1, report.counts.warned)
    assert.matches(",warning\r\n", helper.read(dir .. "/p.csv"))
    -- a partial draft refused under --strict
    r = push(sb, dir, "loans --strict --mapping map.lua --input in.csv --ledger l2.sqlite3")
    assert.equal(1, r.code, r.out .. r.err)
    assert.matches("invalid 1", r.out)
  end)

  it("never says more was sent than the ledger recorded (a full disk)", function()
    local kiva_push = require "kiva.push"
    local calls = 0
    local full = setmetatable({
      recover = function() return {} end,
      get_many = function() return {} end,
      mark_sending = function() return true end,
      mark_pending = function() return true end,
      mark_sent = function() calls = calls + 1; return nil, require("kiva.errors").ledger("disk I/O error") end,
    }, { __index = function(_, k) error("unexpected ledger call " .. k) end })
    local fake_client = { send = function(_, _, bodies, cb)
      while true do
        local b = bodies()
        if not b then break end
        if cb.before_send(b.item) then cb.on_result(b.item, { loan_draft_uuid = "u" }, nil) end
      end
    end }
    local items = {}
    for i = 1, 3 do
      items[i] = { where = "x:" .. i, payload = { entreps = { { loan_id = "F" .. i, client_id = "C" .. i,
        first_name = "A", last_name = "B", gender = "female", amount = 100 } } } }
    end
    local result = kiva_push.run({ kind = "loans", items = items, client = fake_client, ledger = full,
      partner_id = "1" })
    assert.equal(0, result.counts.sent)
    assert.equal(1, result.counts.unknown)
    assert.equal(2, result.counts.pending)
    assert.equal("ledger", result.fatal.kind)
    assert.equal(1, calls)
    assert.equal(2, kiva_push.exit_code(result))
    kiva_push.close(result)
  end)

  it("stops on SIGTERM and SIGINT: in-flight answers settled, a summary, 143/130; a re-run completes", function()
    local slow = helper.start_sandbox("--loans 10 --faults slow:1 --slow-ms 150")
    for _, sig in ipairs({ "TERM", "INT" }) do
      local dir = helper.tmpdir()
      local lines = { "Loan,Client,Name,Amount" }
      for i = 1, 30 do lines[#lines + 1] = string.format("S%s%03d,K%03d,N%d,100", sig, i, i, i) end
      helper.write(dir .. "/loans.csv", table.concat(lines, "\n") .. "\n")
      local env = env_for(slow, dir)
      local args = "loans --concurrency 2 --mapping " .. DATA .. "loans.lua --input " .. dir .. "/loans.csv"
      local pid = start_kiva(dir, env, "push " .. args)
      wait_for_state(env.KIVA_LEDGER, "sent", 4)
      core.kill(pid, sig == "TERM" and 15 or 2)
      local code = exit_status(dir)
      local out = helper.read(dir .. "/out.txt")
      assert.equal(sig == "TERM" and 143 or 130, code, out .. helper.read(dir .. "/err.txt"))
      assert.matches("Stopped: stopped by SIG" .. sig, out)
      assert.matches("push loans: read 30", out)
      -- answers in flight were awaited: nothing is left sending, so nothing is unknown
      local db = assert(ledger.open(env.KIVA_LEDGER, { create = false }))
      assert.is_nil(db:counts().sending)
      assert.is_nil(db:counts().unknown)
      db:close()
      local r = helper.run(helper.kiva("push " .. args .. " --report r.json"), { env = env, cwd = dir })
      assert.equal(0, r.code, r.out .. r.err)
      local report = cjson.decode(helper.read(dir .. "/r.json"))
      assert.equal(30, report.counts.sent + report.counts.skipped)
      assert.is_true(report.counts.sent > 0)
    end
    assert.equal(0, state_of(slow).duplicates)
    slow.stop()
  end)
end)
