-- Proof that `kiva push` never loses or doubles an item (issue 8), run by `make check`:
--   lua5.4 tests/soak.lua [faults|crash|ttl|all] [--drafts N] [--repayments N] [--journals N]
--     [--seed N] [--kills N] [--ttl-seconds N]
-- faults: N drafts, repayments and journals pushed to `kiva sandbox --faults SPEC`, the
--   push re-run until only unknown items remain; then the invariants: every item is sent
--   (applied exactly once) or unknown; the sandbox saw no duplicate; every unknown item
--   is one the sandbox applied-then-failed or dropped, and each of those is unknown.
-- crash: kill -9 the push at seeded random moments, re-run after each; after each kill
--   every applied item is already recorded (sending/sent/unknown), so no re-run resends
--   it; at the end the same invariants, the unknown items being those killed in flight.
-- ttl: a 5-second token lifetime during a 60-second run; no item fails for expiry.
-- Prints `soak: N items, 0 lost, 0 duplicated, K unknown (listed)` and exits 1 on any
-- broken invariant. Also a module (`require "soak"`) for tests/reliability_spec.lua.
if ... ~= "soak" then
  -- run as a script (make check): the checkout's modules and core, as busted's .busted gives them
  package.path = "tests/?.lua;lua/?.lua;lua/?/init.lua;" .. package.path
  package.cpath = (os.getenv("KIVA_BUILD") or "build") .. "/?.so;" .. package.cpath
end
local cjson = require "cjson"
local helper = require "helper"

local M = {}

M.FAULTS = "503:0.1,429:0.05,500after:0.05,drop_before:0.05,drop_after:0.05,slow:0.02"
-- faults after which the client cannot know whether the item was applied
M.UNKNOWABLE = { ["500after"] = true, drop_after = true, drop_before = true }

-- Repayments and journals go to generated sandbox loans in payingBack (i % 10 in 1..7).
local function paying_back(n)
  local ids, i = {}, 0
  while #ids < n do
    i = i + 1
    if i % 10 >= 1 and i % 10 <= 7 then ids[#ids + 1] = i end
  end
  return ids, i
end

local MAP_LOANS = [[
local map = require "kiva.map"
return {
  loan_draft = function(row)
    local amount = map.amount(row.Amount)
    return {
      activity_id = 61, description_language_id = 1, location = "Davao City, Davao del Sur, Philippines",
      currency = "PHP", disburse_time = map.date(row.Disbursed, "dd/mm/yyyy"), client_waiver_signed = true,
      loanuse = row.Use, description = "A borrower who will " .. row.Use,
      entreps = { { client_id = row.ClientNo, loan_id = row.LoanNo, first_name = row.First,
        last_name = row.Last, gender = map.gender(row.Gender), amount = amount } },
      schedule = { { date = map.date(row.Due, "dd/mm/yyyy"), principal = amount, interest = 0 } },
    }
  end,
}
]]
local MAP_REPAYMENTS = [[
local map = require "kiva.map"
return {
  repayment = function(row)
    return { loan_id = row.LoanNo, client_id = row.ClientNo, amount = map.amount(row.Paid) }
  end,
}
]]
local MAP_JOURNALS = [[
return {
  journal = function(row)
    return { internal_loan_id = row.LoanNo, internal_client_id = row.ClientNo, subject = row.Subject,
      body = row.Body }
  end,
}
]]

--- Writes the inputs and mappings under dir for counts { drafts, repayments, journals };
-- returns the plan: per kind the input, mapping and expected item ids, and the number of
-- generated loans the sandbox needs (`loans`).
function M.prepare(dir, counts)
  local plan = { dir = dir, kinds = {}, ledger = dir .. "/ledger.sqlite3" }
  local rows = { "LoanNo,ClientNo,First,Last,Gender,Amount,Disbursed,Due,Use" }
  local ids = {}
  for i = 1, counts.drafts do
    local id = string.format("D%06d", i)
    ids[i] = id
    rows[#rows + 1] = string.format("%s,CD%06d,Ana %d,Lopez,%s,%d,15/01/2024,15/02/2024,Buy seeds", id, i, i,
      i % 2 == 0 and "F" or "M", 100 + i % 400)
  end
  plan.kinds.loans = { input = helper.write(dir .. "/loans.csv", table.concat(rows, "\n") .. "\n"),
    mapping = helper.write(dir .. "/map_loans.lua", MAP_LOANS), ids = ids }

  local loan_numbers, last = paying_back(math.max(counts.repayments, counts.journals))
  plan.loans = math.max(last, 10)
  rows, ids = { "LoanNo,ClientNo,Paid" }, {}
  for k = 1, counts.repayments do
    local n = loan_numbers[k]
    ids[k] = string.format("L%06d", n)
    rows[#rows + 1] = string.format("L%06d,C%06d,%d.%02d", n, n, 10 + k % 90, k % 100)
  end
  plan.kinds.repayments = { input = helper.write(dir .. "/repayments.csv", table.concat(rows, "\n") .. "\n"),
    mapping = helper.write(dir .. "/map_repayments.lua", MAP_REPAYMENTS), ids = ids }

  rows, ids = { "LoanNo,ClientNo,Subject,Body" }, {}
  for k = 1, counts.journals do
    local n = loan_numbers[k]
    ids[k] = string.format("L%06d", n)
    rows[#rows + 1] = string.format("L%06d,C%06d,Update %d,The harvest of borrower %d went well", n, n, k, n)
  end
  plan.kinds.journals = { input = helper.write(dir .. "/journals.csv", table.concat(rows, "\n") .. "\n"),
    mapping = helper.write(dir .. "/map_journals.lua", MAP_JOURNALS), ids = ids }
  return plan
end

--- The sandbox's state (GET /__sandbox/state), decoded.
function M.state(sb)
  local http = require "socket.http"
  local base = sb.url:match("^(https?://[^/]+)")
  local body, code = http.request(base .. "/__sandbox/state")
  assert(code == 200, "GET /__sandbox/state: " .. tostring(code))
  return cjson.decode(body)
end

--- Applied counts per kind and item id, and the fault records, from a state.
function M.applied(state)
  local out = { loans = {}, repayments = {}, journals = {} }
  for _, d in ipairs(state.loan_drafts or {}) do out.loans[d.key] = (out.loans[d.key] or 0) + d.count end
  for _, r in ipairs(state.repayments or {}) do
    out.repayments[r.loan_id] = (out.repayments[r.loan_id] or 0) + r.count
  end
  for _, j in ipairs(state.journals or {}) do
    out.journals[j.internal_loan_id] = (out.journals[j.internal_loan_id] or 0) + j.count
  end
  return out
end

local function alive(pid)
  -- a killed child may linger as a zombie when nobody reaps it: read its state
  local f = io.open("/proc/" .. pid .. "/stat", "rb")
  if not f then return false end
  local stat = f:read("a")
  f:close()
  return stat:match("%) (%a)") ~= "Z"
end
M.alive = alive

--- Stops a sandbox with POST /__sandbox/shutdown over LuaSocket, then SIGTERM if
-- needed. (Not sb.stop(): it runs curl, which deadlocks under the LD_PRELOADed ASan
-- runtime of `make check`.)
function M.stop_sandbox(sb)
  local http = require "socket.http"
  local base = sb.url:match("^(https?://[^/]+)")
  if base:find("^http:") then pcall(http.request, base .. "/__sandbox/shutdown", "") end
  for i = 1, 100 do
    if not alive(sb.pid) then return end
    if i == 40 then os.execute("kill " .. sb.pid .. " 2>/dev/null") end
    os.execute("sleep 0.05")
  end
end

local KIND_OF_PATH = { loan_draft = "loans", repayments = "repayments", journals = "journals" }

--- Item ids (per kind) named by fault records whose fault is in `which`.
function M.faulted(state, which)
  local out = { loans = {}, repayments = {}, journals = {} }
  for _, f in ipairs(state.faults or {}) do
    local kind = KIND_OF_PATH[f.path:match("/([%w_]+)/*$") or ""]
    if kind and which[f.fault] then
      for _, k in ipairs(f.keys or {}) do out[kind][k] = f.fault end
    end
  end
  return out
end

local LEDGER_KIND = { loan_draft = "loans", repayment = "repayments", journal = "journals" }

--- The ledger's state per kind and item id (loan id), read with LuaSQL.
function M.ledger(path)
  local out = { loans = {}, repayments = {}, journals = {} }
  local f = io.open(path, "rb")
  if not f then return out end
  f:close()
  local driver = require("luasql.sqlite3").sqlite3()
  local conn = assert(driver:connect(path))
  local pragma = conn:execute("PRAGMA busy_timeout = 5000")
  if type(pragma) == "userdata" then pragma:close() end
  -- a push killed between creating the file and its table leaves no items yet, as
  -- no file does (the next push creates the table: kiva.ledger, IF NOT EXISTS)
  local tables = assert(conn:execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'items'"))
  local has_items = tables:fetch() ~= nil
  tables:close()
  if not has_items then
    conn:close()
    return out
  end
  local cur = assert(conn:execute("SELECT key, kind, state FROM items"))
  local row = cur:fetch({}, "a")
  while row do
    local kind = LEDGER_KIND[row.kind] or LEDGER_KIND[row.key:match("^([%w_]+)/")]
    local id = row.key:match("/([DL]%d%d%d%d%d%d)/")
    if kind and id then out[kind][id] = row.state end
    row = cur:fetch({}, "a")
  end
  cur:close()
  conn:close()
  driver:close()
  return out
end

local KINDS = { "loans", "repayments", "journals" }
M.KINDS = KINDS

--- The shell command of one push of `kind` (stdout/stderr to files under the plan dir).
function M.push_command(plan, kind)
  local k = plan.kinds[kind]
  return helper.kiva(string.format("push %s --mapping %s --input %s --report %s%s", kind, helper.quote(k.mapping),
    helper.quote(k.input), helper.quote(plan.dir .. "/report-" .. kind .. ".json"),
    kind == "repayments" and " --period 2026-10" or ""))
end

--- Environment of a push: the sandbox's variables plus the ledger.
function M.env(plan, sb, extra)
  local env = {}
  for k, v in pairs(sb.env) do env[k] = v end
  env.KIVA_LEDGER = plan.ledger
  env.KIVA_BUILD = helper.build
  for k, v in pairs(extra or {}) do env[k] = v end
  return env
end

--- Runs the push of every kind again and again until a run leaves nothing pending
-- (at most max_runs per kind). Returns the runs made and the last result per kind.
function M.settle(plan, sb, opts)
  opts = opts or {}
  local runs, last = 0, {}
  for _, kind in ipairs(opts.kinds or KINDS) do
    if #plan.kinds[kind].ids > 0 then
      for _ = 1, opts.max_runs or 30 do
        runs = runs + 1
        local r = helper.run(M.push_command(plan, kind), { env = M.env(plan, sb, opts.env) })
        last[kind] = r
        if r.code >= 128 or r.err:find("stack traceback", 1, true) then
          return nil, kind .. ": push crashed (exit " .. r.code .. "):\n" .. r.err
        end
        local states = M.ledger(plan.ledger)[kind]
        local open = 0
        for _, id in ipairs(plan.kinds[kind].ids) do
          local s = states[id]
          if s == nil or s == "pending" or s == "sending" then open = open + 1 end
        end
        if open == 0 then break end
      end
    end
  end
  return runs, last
end

--- Checks the invariants. `allowed_unknown` (kind → id → true) lists items that may be
-- unknown for another reason (killed in flight); `strict` also requires every item hit
-- by an applied-then-failed or dropped fault to be unknown.
-- Returns a summary { items, lost = {...}, duplicated = n, unknown = {...}, problems = {...} }.
function M.check(plan, state, opts)
  opts = opts or {}
  local applied = M.applied(state)
  local ledger = M.ledger(plan.ledger)
  local unknowable = M.faulted(state, M.UNKNOWABLE)
  local s = { items = 0, lost = {}, duplicated = state.duplicates or 0, unknown = {}, problems = {} }
  local function problem(fmt, ...) s.problems[#s.problems + 1] = string.format(fmt, ...) end
  for _, kind in ipairs(KINDS) do
    local expected = {}
    for _, id in ipairs(plan.kinds[kind].ids) do
      expected[id] = true
      s.items = s.items + 1
      local st, n = ledger[kind][id], applied[kind][id] or 0
      if n > 1 then problem("%s %s applied %d times", kind, id, n) end
      if st == "sent" then
        if n == 0 then
          s.lost[#s.lost + 1] = kind .. " " .. id
          problem("%s %s is sent in the ledger but the sandbox never applied it", kind, id)
        end
      elseif st == "unknown" then
        s.unknown[#s.unknown + 1] = kind .. " " .. id
        local allowed = opts.allowed_unknown and opts.allowed_unknown[kind][id]
        if not unknowable[kind][id] and not allowed then
          problem("%s %s is unknown but no fault or kill explains it", kind, id)
        end
      else
        s.lost[#s.lost + 1] = kind .. " " .. id
        problem("%s %s is %s in the ledger", kind, id, tostring(st or "absent"))
      end
      if opts.strict and unknowable[kind][id] and st ~= "unknown" then
        problem("%s %s met fault %s but the ledger says %s", kind, id, unknowable[kind][id], tostring(st))
      end
    end
    for id in pairs(applied[kind]) do
      if not expected[id] then problem("%s %s applied but not in the input", kind, id) end
    end
  end
  if s.duplicated ~= 0 then problem("the sandbox counted %d duplicates", s.duplicated) end
  table.sort(s.unknown)
  return s
end

--- The closing line, e.g. "soak: 12500 items, 0 lost, 0 duplicated, 812 unknown (listed)".
function M.summary_line(s)
  return string.format("soak: %d items, %d lost, %d duplicated, %d unknown (listed)", s.items, #s.lost,
    s.duplicated, #s.unknown)
end

local function sandbox_args(plan, extra)
  return string.format("--loans %d %s", plan.loans, extra or "")
end

--- The fault soak: returns summary, runs.
-- Settles the plan against `sb`, reads the sandbox's state and stops it, whatever
-- happened; raises what settling raised or returned. Returns runs, state.
local function settle_and_stop(plan, sb)
  local ok, runs, err = pcall(M.settle, plan, sb)
  local state = ok and runs and M.state(sb)
  M.stop_sandbox(sb)
  if not ok then error(runs, 0) end
  if not runs then error(err, 0) end
  return runs, state
end

function M.fault_soak(counts, seed)
  local dir = helper.tmpdir()
  local plan = M.prepare(dir, counts)
  local sb = helper.start_sandbox(sandbox_args(plan, "--faults " .. M.FAULTS .. " --seed " .. seed))
  local runs, state = settle_and_stop(plan, sb)
  local s = M.check(plan, state, { strict = true })
  s.runs, s.faults = runs, #state.faults
  return s
end

-- xorshift-free seeded generator: a 48-bit LCG, enough to place kill moments.
local function lcg(seed)
  local x = seed & 0xFFFFFFFFFFFF
  return function()
    x = (x * 25214903917 + 11) & 0xFFFFFFFFFFFF
    return (x >> 16) / 4294967296.0
  end
end

--- Crash and resume: kills pushes `kills` times at seeded moments in [0, max_delay] s.
function M.crash_soak(counts, seed, kills, max_delay)
  local dir = helper.tmpdir()
  local plan = M.prepare(dir, counts)
  -- some answers slowed, so that a push outlasts the kill moments and kills land mid-request
  local sb = helper.start_sandbox(sandbox_args(plan, "--faults slow:0.2 --slow-ms 400 --seed " .. seed))
  local rnd = lcg(seed)
  local allowed = { loans = {}, repayments = {}, journals = {} }
  local problems, killed, trace = {}, 0, {}
  local env = M.env(plan, sb)
  local parts = { "env" }
  for k, v in pairs(env) do parts[#parts + 1] = k .. "=" .. helper.quote(v) end
  local function open_kinds()
    local ledger, list = M.ledger(plan.ledger), {}
    for _, kd in ipairs(KINDS) do
      for _, id in ipairs(plan.kinds[kd].ids) do
        local st = ledger[kd][id]
        if st == nil or st == "pending" then list[#list + 1] = kd break end
      end
    end
    return list
  end
  local k = 0
  while killed < kills and k < 3 * kills do
    k = k + 1
    -- the kinds that still have items to send, in turn, so each kill lands in real work
    local kinds = open_kinds()
    if #kinds == 0 then break end
    local kind = kinds[(k - 1) % #kinds + 1]
    local delay = 0.05 + rnd() * (max_delay - 0.05)
    local p = io.popen(table.concat(parts, " ") .. " " .. M.push_command(plan, kind) .. " >>"
      .. helper.quote(dir .. "/crash.out") .. " 2>&1 & echo $!")
    local pid = tonumber(p:read("l"))
    p:close()
    os.execute(string.format("sleep %.3f", delay))
    local was_alive = alive(pid)
    if was_alive then
      os.execute("kill -9 " .. pid)
      killed = killed + 1
      for _ = 1, 200 do
        if not alive(pid) then break end
        os.execute("sleep 0.02")
      end
    end
    -- Right after the kill: whatever the sandbox applied is recorded as at least
    -- `sending`, so the next run reports it instead of sending it again.
    local ledger, applied = M.ledger(plan.ledger), M.applied(M.state(sb))
    local in_flight, done = 0, 0
    for _, st in pairs(ledger[kind]) do
      if st == "sending" then in_flight = in_flight + 1 elseif st == "sent" then done = done + 1 end
    end
    trace[#trace + 1] = string.format("%s %2d: push %-10s after %.2fs: %d sending, %d sent",
      was_alive and "kill" or "(done)", k, kind, delay, in_flight, done)
    for _, kd in ipairs(KINDS) do
      for id, n in pairs(applied[kd]) do
        local st = ledger[kd][id]
        if st ~= "sending" and st ~= "sent" and st ~= "unknown" then
          problems[#problems + 1] = string.format("kill %d: %s %s applied %d time(s) but the ledger says %s",
            k, kd, id, n, tostring(st or "absent"))
        end
      end
      for id, st in pairs(ledger[kd]) do
        if st == "sending" or st == "unknown" then allowed[kd][id] = true end
      end
    end
  end
  local runs, state = settle_and_stop(plan, sb)
  local s = M.check(plan, state, { allowed_unknown = allowed })
  for _, pr in ipairs(problems) do s.problems[#s.problems + 1] = pr end
  s.killed, s.runs, s.trace = killed, runs, trace
  return s
end

--- Token expiry: a `ttl`-second token during a run of about `seconds` s. Drafts are
-- pushed in rounds (with the token cache on, so a round starts with a cached token
-- close to expiry) and slowed by the sandbox until the time is up.
function M.ttl_soak(ttl, seconds, per_round)
  local dir = helper.tmpdir()
  local sb = helper.start_sandbox(string.format("--token-ttl %d --faults slow:0.5 --slow-ms 700", ttl))
  local started, round, problems, items = os.time(), 0, {}, 0
  local cache = dir .. "/token-cache"
  local last_plan
  while os.time() - started < seconds do
    round = round + 1
    local rdir = dir .. "/round" .. round
    os.execute("mkdir -p " .. helper.quote(rdir))
    local plan = M.prepare(rdir, { drafts = per_round, repayments = 0, journals = 0 })
    -- distinct draft ids per round
    local text = helper.read(plan.kinds.loans.input):gsub("D(%d%d%d%d%d%d)", function(n)
      return string.format("D%06d", round * 10000 + tonumber(n))
    end)
    helper.write(plan.kinds.loans.input, text)
    for i, id in ipairs(plan.kinds.loans.ids) do
      plan.kinds.loans.ids[i] = string.format("D%06d", round * 10000 + tonumber(id:sub(2)))
    end
    plan.ledger = dir .. "/ledger.sqlite3"
    local r = helper.run(M.push_command(plan, "loans"), { env = M.env(plan, sb, { KIVA_TOKEN_CACHE = cache }) })
    if r.code ~= 0 then
      problems[#problems + 1] = string.format("round %d: exit %d: %s", round, r.code, r.err:sub(1, 400))
    end
    items = items + per_round
    last_plan = plan
  end
  local state = M.state(sb)
  M.stop_sandbox(sb)
  local ledger = M.ledger(dir .. "/ledger.sqlite3")
  local sent = 0
  for _, st in pairs(ledger.loans) do if st == "sent" then sent = sent + 1 end end
  if sent ~= items then problems[#problems + 1] = string.format("%d of %d drafts sent", sent, items) end
  if state.duplicates ~= 0 then problems[#problems + 1] = state.duplicates .. " duplicates" end
  local elapsed = os.time() - started
  if state.token_requests < elapsed // ttl - 1 then
    problems[#problems + 1] = string.format("%d token requests in %d s: tokens were not renewed", state.token_requests,
      elapsed)
  end
  return { items = items, sent = sent, rounds = round, token_requests = state.token_requests,
    seconds = os.time() - started, problems = problems, plan = last_plan }
end

local function report(name, s, out)
  out:write(M.summary_line(s), "\n")
  if #s.unknown > 0 then
    local by = {}
    for _, u in ipairs(s.unknown) do
      local kind = u:match("^(%S+)")
      by[kind] = (by[kind] or 0) + 1
    end
    out:write(string.format("  unknown by kind: %d loans, %d repayments, %d journals\n", by.loans or 0,
      by.repayments or 0, by.journals or 0))
    local path = helper.build .. "/soak-" .. name .. "-unknown.txt"
    helper.write(path, table.concat(s.unknown, "\n") .. "\n")
    out:write(string.format("  unknown items: %s%s (all %d in %s)\n", table.concat(s.unknown, ", ", 1,
      math.min(10, #s.unknown)), #s.unknown > 10 and ", ..." or "", #s.unknown, path))
  end
  for i, p in ipairs(s.problems) do
    if i > 50 then out:write("  ... ", #s.problems - 50, " more\n") break end
    out:write("  FAIL: ", p, "\n")
  end
  return #s.problems == 0 and #s.lost == 0 and s.duplicated == 0
end

function M.main(argv)
  local what, o = "all", { drafts = 2000, repayments = 10000, journals = 500, seed = 8, kills = 20,
    ttl_seconds = 60 }
  local i = 1
  while i <= #argv do
    local a = argv[i]
    local name = a:match("^%-%-([%w-]+)$")
    if name then
      o[name:gsub("-", "_")] = tonumber(argv[i + 1])
      i = i + 2
    else
      what = a
      i = i + 1
    end
  end
  local out, ok = io.stdout, true
  local t0 = os.time()
  if what == "faults" or what == "all" then
    out:write(string.format("== fault soak: %d drafts, %d repayments, %d journals, --faults %s --seed %d\n",
      o.drafts, o.repayments, o.journals, M.FAULTS, o.seed))
    local s = M.fault_soak({ drafts = o.drafts, repayments = o.repayments, journals = o.journals }, o.seed)
    out:write(string.format("  %d push runs, %d faults injected, %ds\n", s.runs, s.faults, os.time() - t0))
    ok = report("faults", s, out) and ok
  end
  if what == "crash" or what == "all" then
    t0 = os.time()
    local counts = { drafts = o.drafts, repayments = o.repayments, journals = o.journals }
    out:write(string.format("== crash and resume: kill -9 at %d seeded moments (seed %d), "
      .. "%d drafts, %d repayments, %d journals\n", o.kills, o.seed, counts.drafts, counts.repayments, counts.journals))
    local s = M.crash_soak(counts, o.seed, o.kills, o.max_delay or 2)
    for _, line in ipairs(s.trace) do out:write("  ", line, "\n") end
    out:write(string.format("  %d pushes killed, %d runs to settle, %ds\n", s.killed, s.runs, os.time() - t0))
    ok = report("crash", s, out) and ok
  end
  if what == "ttl" or what == "all" then
    out:write(string.format("== token expiry: 5-second tokens during a %d-second run\n", o.ttl_seconds))
    local r = M.ttl_soak(5, o.ttl_seconds, 40)
    out:write(string.format("  %d drafts in %d runs over %ds, %d sent, %d token requests\n", r.items, r.rounds,
      r.seconds, r.sent, r.token_requests))
    for _, p in ipairs(r.problems) do out:write("  FAIL: ", p, "\n") end
    ok = ok and #r.problems == 0
  end
  helper.cleanup()
  out:write(ok and "soak: passed\n" or "soak: FAILED\n")
  return ok and 0 or 1
end

if ... == "soak" then return M end
os.exit(M.main(arg))
