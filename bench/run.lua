-- `make bench`: the commands users run, each as a child process measured by
-- /usr/bin/time (CPU = user + sys seconds, peak RSS of that process), against a
-- Python peer doing the same work in the same run (shared machines are noisy: a
-- ratio from one run is worth more than an absolute figure).
--   B1       `kiva push repayments --dry-run` (200,000 rows, 5 columns) and
--            `kiva push loans --dry-run` (20,000 drafts): rows per CPU-second vs
--            bench/peer_pipeline.py (csv + jsonschema + json, one file per body written)
--   B1-wide  the same repayments in 40 columns (the mapping reads the same 3): vs 5 columns
--   B2       peak RSS of the dry run at 10k/100k/1M rows, and of a real
--            `kiva push repayments` of 200,000 rows to `kiva sandbox`
--   B3       kiva.client (post_loan_drafts, post_repayments) at concurrency 16 on a
--            loopback nginx vs bare libcurl from C (bench/curl_post.c), wrk for
--            reference; and the client against latency: the sandbox answering every
--            POST 50 ms late, at concurrency 4 and 16, vs 0.9 × concurrency / 50 ms
--   breakdown bench/pipeline.lua in-process (read → map → validate → encode), not a
--            command: where the command's time goes; bench/items.lua: reading + the
--            mapping alone, the floor of B1; the client's transport given bytes
-- Prints `bench <name> <value> <unit>`, `ratio <name> <value>` and, at the end, two
-- Markdown tables: the figures (bench/out/table.md, the README's) and the breakdown
-- (bench/out/breakdown.md). A part that cannot run prints
-- `bench <name> skipped (<reason>)` and the run goes on. Knobs: BENCH_QUICK=1 (every
-- count ×0.1) or BENCH_SCALE (a factor); BENCH_BUDGET (default 540 s) skips what
-- would start after it. See bench/README.md.
package.path = "bench/?.lua;lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("KIVA_BUILD") or "build") .. "/?.so;" .. package.cpath

local util = require "util"

local OUT = "bench/out"
local LUA = os.getenv("LUA") or "lua5.4"
local PY = "/usr/bin/python3"              -- Debian's, with python3-jsonschema
local SCALE = tonumber(os.getenv("BENCH_SCALE") or "") or (os.getenv("BENCH_QUICK") == "1" and 0.1 or 1)
local BUDGET = tonumber(os.getenv("BENCH_BUDGET") or "") or 540   -- seconds for the whole run
local PERIOD = "2026-10"                   -- every push names its period (the generated dates)
local q = util.quote
local ROOT = util.capture("pwd"):gsub("%s+$", "")

local function scaled(n) return math.max(1, math.floor(n * SCALE + 0.5)) end

local N = {
  repayments = scaled(200000), drafts = scaled(20000),
  b2 = { scaled(10000), scaled(100000), scaled(1000000) },
  push = scaled(200000),
  b3_drafts = scaled(20000), b3_repayments = scaled(100000),
  latency_seconds = 4,                     -- each latency run lasts about this long
  repeat_b1 = tonumber(os.getenv("BENCH_REPEAT") or "") or 3,   -- B1 keeps each command's fastest run
  wrk_seconds = 3,
}

local started = util.clock()
local figures = {}      -- name -> { value, unit }
local ratios = {}       -- name -> value
local notes = {}

local function elapsed() return util.clock() - started end

local function fmt(v)
  if type(v) ~= "number" then return tostring(v) end
  if math.type(v) == "integer" or v == math.floor(v) and math.abs(v) < 1e15 then
    return string.format("%d", math.floor(v))
  end
  if math.abs(v) >= 100 then return string.format("%.0f", v) end
  if math.abs(v) >= 10 then return string.format("%.1f", v) end
  return string.format("%.3g", v)
end

local function bench(name, value, unit)
  figures[name] = { value = value, unit = unit }
  io.write(string.format("bench %s %s %s\n", name, fmt(value), unit))
  io.flush()
end

local function ratio(name, value)
  ratios[name] = value
  io.write(string.format("ratio %s %s\n", name, fmt(value)))
  io.flush()
end

local function skipped(name, reason)
  figures[name] = { skipped = reason }
  io.write(string.format("bench %s skipped (%s)\n", name, reason))
  io.flush()
end

local function note(s)
  notes[#notes + 1] = s
  io.write("# ", s, "\n")
  io.flush()
end

local log_count = 0
local function log_file(label)
  log_count = log_count + 1
  return string.format("%s/logs/%02d-%s.err", OUT, log_count, label)
end

local function first_line(path)
  return (util.read(path) or ""):gsub("%s+", " "):sub(1, 160)
end

--- Runs an in-process worker (bench/pipeline.lua, post.lua, curl_post); returns its
-- last key=value line as a table, or nil, reason.
local function worker(label, cmd)
  local err_file = log_file(label)
  local out = util.capture(cmd .. " 2>" .. q(err_file))
  local last
  for line in out:gmatch("[^\n]+") do
    if line:find("=") then last = line end
  end
  if not last then
    local err = first_line(err_file)
    return nil, "no result" .. (err ~= "" and (": " .. err) or "")
  end
  local t = util.parse_kv(last)
  if t.skipped then return nil, tostring(t.skipped):gsub("_", " ") end
  return t
end

local function rate(n, seconds) return (seconds and seconds > 0) and n / seconds or 0 end
local function mib(kib) return kib / 1024 end

local function over_budget(name)
  if elapsed() > BUDGET then
    skipped(name, string.format("over the %ds budget after %.0fs", BUDGET, elapsed()))
    return true
  end
  return false
end

--- Generated inputs, kept between runs and remade when bench/gen.lua changes.
local function generated(what, n, columns)
  local path = string.format("%s/data/%s_%d%s.csv", OUT, what, n, columns and ("_" .. columns) or "")
  if not util.sh("test -s " .. q(path) .. " && test " .. q(path) .. " -nt bench/gen.lua") then
    if not util.sh(string.format("%s bench/gen.lua %s %d %s %s >/dev/null", LUA, what, n, q(path),
        columns or "")) then
      error("bench/gen.lua " .. what .. " failed")
    end
  end
  return ROOT .. "/" .. path
end

local function data_rows(path)
  return tonumber(util.capture("wc -l < " .. q(path)):match("%d+")) - 1
end

--- A fresh scratch directory for one run of the command.
local function scratch(label)
  local dir = string.format("%s/%s/runs/%s", ROOT, OUT, label)
  util.sh("rm -rf " .. q(dir) .. " && mkdir -p " .. q(dir))
  return dir
end

-- The command runs in a clean environment: no KIVA_* settings or credentials of whoever
-- runs the bench (a dry run must not find any), HOME its scratch directory.
local function in_clean_env(dir, env, program)
  local vars = {}
  local build = os.getenv("KIVA_BUILD")    -- which build of the core to measure
  if build then vars[1] = "KIVA_BUILD=" .. q(build:sub(1, 1) == "/" and build or ROOT .. "/" .. build) end
  for k, v in pairs(env or {}) do vars[#vars + 1] = k .. "=" .. q(v) end
  table.sort(vars)
  return string.format("cd %s && exec env -i PATH=%s HOME=%s LANG=C.UTF-8 %s %s", q(dir), q(os.getenv("PATH")),
    q(dir), table.concat(vars, " "), program)
end

local function kiva(args) return string.format("%s %s %s", LUA, q(ROOT .. "/kiva"), args) end

--- The counts of the command's summary line ("read 200000, valid 200000, invalid 0, ...").
local function counts_of(out)
  local c = {}
  for name, n in (out or ""):gmatch("(%a+) (%d+)") do c[name] = c[name] or tonumber(n) end
  return c
end

-- Kiva's config lists as a day-old cache where the CLI keeps them (beside the target's
-- ledger in the state directory; HOME is the scratch directory), so the loans
-- mapping's ctx.activity and the like find them without a connection, as a dry run
-- after a push does.
local function write_config_cache(dir)
  local cjson = require "cjson"
  local config = cjson.decode(assert(util.read("bench/config.json")))
  local cache = {}
  for name, answer in pairs(config) do cache[name] = { fetched_at = os.time(), list = answer[name] } end
  local state = dir .. "/.local/state/kiva"
  assert(os.execute("mkdir -p " .. q(state)))
  -- kiva.ledger.target_name(stage's API URL, "any"): a dry run's target with no partner id
  util.write(state .. "/partner-api-stage.dk1.kiva.org-any.config.json", cjson.encode(cache))
end

--- One `kiva push <what> --dry-run` measured; returns the measure with .counts, or nil.
local function dry_run(label, what, mapping, input)
  local dir = scratch(label)
  if what == "loans" then write_config_cache(dir) end
  local err_file = log_file(label)
  local r, err = util.measure(in_clean_env(dir, nil, kiva(string.format(
    "push %s --dry-run --period %s --mapping %s --input %s --out out", what, PERIOD, q(ROOT .. "/" .. mapping),
    q(input)))), err_file)
  if not r then
    skipped(label, err)
    return nil
  end
  r.counts = counts_of(r.out)
  -- invalid items are neither encoded nor written: a rate over them would flatter the command
  if r.code ~= 0 or (r.counts.invalid or 0) > 0 then
    local why = string.format("exit %s, %s invalid: %s", tostring(r.code), tostring(r.counts.invalid),
      first_line(err_file))
    skipped(label, why)
    return nil, why
  end
  return r
end

--- The Python peer on the same input, as a child process, writing one file per body.
local function peer_run(label, what, input)
  local dir = scratch(label)
  local err_file = log_file(label)
  local r, err = util.measure(in_clean_env(dir, nil, string.format("%s %s %s %s --out-dir out", PY,
    q(ROOT .. "/bench/peer_pipeline.py"), what, q(input))), err_file)
  if not r then return nil, err end
  local t = util.parse_kv(r.out:match("[^\n]*=[^\n]*") or "")
  if t.skipped then return nil, tostring(t.skipped):gsub("_", " ") end
  if not t.rows then return nil, "no result: " .. first_line(err_file) end
  if (t.invalid or 0) > 0 then note(string.format("%s: the peer found %d invalid bodies", label, t.invalid)) end
  r.peer = t
  return r
end

---------------------------------------------------------------------------- B1
--- The run of `fn` (a result or nil, reason) with the least `field` (default cpu),
-- over N.repeat_b1 runs: the one least disturbed by the other load of a shared machine.
local function fastest(fn, field)
  field = field or "cpu"
  local best, err
  for _ = 1, N.repeat_b1 do
    local r, e = fn()
    if r and (not best or r[field] < best[field]) then best = r end
    err = err or e
  end
  if best then return best end
  return nil, err
end

local inputs = setmetatable({}, { __index = function(t, k)
  local made = ({ five = function() return generated("export", N.repayments, 5) end,
    wide = function() return generated("export", N.repayments, 40) end,
    loans = function() return generated("loans", N.drafts) end })[k]()
  rawset(t, k, made)
  return made
end })

local function b1()
  note("B1/B2: each figure is one child process under /usr/bin/time; rows/s = export rows / (user + sys) "
    .. "CPU seconds of that process, interpreter start included; B1 keeps the fastest of "
    .. N.repeat_b1 .. " runs (BENCH_REPEAT)")
  local sets = {
    { tag = "b1_repayments", what = "repayments", mapping = "bench/mapping_export.lua", input = inputs.five,
      peer = "export" },
    { tag = "b1_loans", what = "loans", mapping = "bench/mapping_loans.lua", input = inputs.loans, peer = "loans" },
  }
  for _, set in ipairs(sets) do
    local rows = data_rows(set.input)
    local k = fastest(function() return dry_run(set.tag .. "_kiva", set.what, set.mapping, set.input) end)
    if k then
      bench(set.tag .. "_kiva", rate(rows, k.cpu), "rows/s")
      bench(set.tag .. "_kiva_cpu", k.cpu, "s")
      bench(set.tag .. "_kiva_rss", mib(k.rss_kib), "MiB")
    end
    local p, perr = fastest(function() return peer_run(set.tag .. "_python", set.peer, set.input) end)
    if p then
      bench(set.tag .. "_python", rate(rows, p.cpu), "rows/s")
      bench(set.tag .. "_python_cpu", p.cpu, "s")
      bench(set.tag .. "_python_rss", mib(p.rss_kib), "MiB")
      if k then ratio(set.tag .. "_kiva_vs_python", p.cpu / k.cpu) end
    else
      skipped(set.tag .. "_python", perr)
    end
  end
  -- B1-wide: the same rows with 35 more columns the mapping never reads.
  local rows = data_rows(inputs.wide)
  local w = fastest(function() return dry_run("b1_wide_kiva", "repayments", "bench/mapping_export.lua",
    inputs.wide) end)
  if w then
    bench("b1_wide_kiva", rate(rows, w.cpu), "rows/s")
    bench("b1_wide_kiva_cpu", w.cpu, "s")
    local five = figures.b1_repayments_kiva
    if five and five.value then ratio("b1_wide_vs_5_columns", rate(rows, w.cpu) / five.value) end
  end
end

---------------------------------------------------------------------------- B2
local function start_sandbox(label, args)
  local dir = scratch(label)
  local pid_file = OUT .. "/sandbox.pid"
  util.stop_stale(pid_file, "kiva sandbox")
  local out = dir .. "/sandbox.out"
  -- In the background of popen's shell, $! is the sandbox's own pid (sh execs a simple command).
  local pid = util.capture(string.format("%s %s sandbox --port 0 %s >%s 2>%s </dev/null & echo $!",
    LUA, q(ROOT .. "/kiva"), args, q(out), q(dir .. "/sandbox.err"))):match("%d+")
  if pid then util.write(pid_file, pid .. "\n") end
  local env = {}
  for _ = 1, 600 do      -- a big portfolio takes a few seconds to load
    local s = util.read(out) or ""
    for k, v in s:gmatch("export (KIVA_[%w_]+)=(%S+)") do env[k] = v:gsub("^'(.*)'$", "%1") end
    if env.KIVA_API_URL and env.KIVA_CLIENT_SECRET then break end
    util.sleep(0.1)
  end
  local function stop()
    if pid then util.sh("kill " .. pid .. " 2>/dev/null") end
    os.remove(pid_file)
  end
  if not env.KIVA_API_URL then
    stop()
    return nil, "no export lines: " .. first_line(dir .. "/sandbox.err")
  end
  return { env = env, dir = dir, stop = stop }
end

--- A portfolio where every loan of the export exists and repays (L-0000001 ...).
local function portfolio(n)
  local path = string.format("%s/%s/data/portfolio_%d.json", ROOT, OUT, n)
  if util.exists(path) then return path end
  local f = assert(io.open(path, "wb"))
  f:write("[")
  for i = 1, n do
    f:write(string.format('%s{"internal_loan_id":"L-%07d","internal_client_id":"C-%07d","status":"payingBack"}',
      i > 1 and "," or "", i, i))
  end
  f:write("]\n")
  f:close()
  return path
end

local function b2()
  local big = generated("export", N.b2[3], 5)
  local labels = { "10k", "100k", "1M" }
  local rss = {}
  if SCALE ~= 1 then
    note(string.format("B2 at scale %g: 10k/100k/1M stand for %d/%d/%d rows", SCALE, N.b2[1], N.b2[2], N.b2[3]))
  end
  for i, n in ipairs(N.b2) do
    local label = labels[i]
    local file = big
    if n ~= N.b2[3] then
      -- The generator is a stream: the first n rows of the big file are the n-row file.
      file = string.format("%s/%s/data/export_head_%d_5.csv", ROOT, OUT, n)
      util.sh(string.format("head -n %d %s > %s", n + 1, q(big), q(file)))
    end
    local name = "b2_rss_" .. label .. "_kiva"
    if not over_budget(name) then
      local k = dry_run(name, "repayments", "bench/mapping_export.lua", file)
      if k then
        rss[i] = k.rss_kib
        bench(name, mib(k.rss_kib), "MiB")
        bench("b2_dry_" .. label .. "_kiva_rows", rate(n, k.cpu), "rows/s")
      end
    end
  end
  if rss[2] and rss[3] then ratio("b2_growth_100k_to_1M_kiva", rss[3] / rss[2]) end

  -- A real push of N.push rows to the sandbox, its loans all repaying.
  local name = "b2_push_kiva"
  if over_budget(name) then return end
  local sb, err = start_sandbox("b2-sandbox", "--loans 0 --portfolio " .. q(portfolio(N.push)))
  if not sb then
    skipped(name, err)
    return
  end
  local ok, perr = pcall(function()
    local dir = scratch("b2_push")
    local err_file = log_file(name)
    local input = N.push == N.repayments and inputs.five or generated("export", N.push, 5)
    local r, merr = util.measure(in_clean_env(dir, sb.env, kiva(string.format(
      "push repayments --period %s --mapping %s --input %s --ledger ledger.sqlite3",
      PERIOD, q(ROOT .. "/bench/mapping_export.lua"), q(input)))), err_file)
    if not r then
      skipped(name, merr)
      return
    end
    local c = counts_of(r.out)
    bench(name .. "_rss", mib(r.rss_kib), "MiB")
    bench(name .. "_wall", r.wall, "s")
    bench(name .. "_rows", rate(N.push, r.wall), "rows/s (wall)")
    note(string.format("%s: %d rows, sent %s, rejected %s, unknown %s, exit %s, %.1f s wall, %.1f s CPU", name,
      N.push, tostring(c.sent), tostring(c.rejected), tostring(c.unknown), tostring(r.code), r.wall, r.cpu))
    if c.sent ~= N.push then note(name .. ": not every row was sent: " .. first_line(err_file)) end
  end)
  sb.stop()
  if not ok then skipped(name, "error: " .. tostring(perr)) end
end

---------------------------------------------------------------------------- breakdown
local bodies = {}        -- kind -> JSONL file of request bodies, for B3

-- bench/pipeline.lua in one process (read → map → validate → encode, no ledger, no
-- files per body): where the command's time goes. It also writes B3's request bodies.
local function breakdown()
  local sets = {
    { kind = "loan_draft", what = "loans", input = inputs.loans, mapping = "bench/mapping_loans.lua" },
    { kind = "repayments", what = "repayments", input = inputs.five, mapping = "bench/mapping_export.lua" },
  }
  for _, s in ipairs(sets) do
    local file = string.format("%s/data/bodies_%s.jsonl", OUT, s.kind)
    local name = "breakdown_" .. s.what .. "_pipeline"
    local r, err = worker(name, string.format("%s bench/pipeline.lua %s %s --mapping %s --out %s", LUA, s.what,
      q(s.input), q(s.mapping), q(file)))
    if r then
      bench(name, rate(r.rows, r.cpu_seconds), "rows/s")
      local cmd = figures["b1_" .. s.what .. "_kiva"]
      if cmd and cmd.value then ratio(name .. "_vs_command", rate(r.rows, r.cpu_seconds) / cmd.value) end
      if util.sh("test -s " .. q(file)) then bodies[s.kind] = file end
    else
      skipped(name, err)
    end
  end
  -- The floor B1 stands on: the export read and the partner's mapping run (in its
  -- box, then called bare), nothing checked, stored or written (bench/items.lua).
  local peer = figures.b1_repayments_python
  for _, stage in ipairs({ "items", "fn" }) do
    local name = "breakdown_repayments_" .. stage
    local r, err = worker(name, string.format("%s bench/items.lua repayments %s %s", LUA, q(inputs.five), stage))
    if r then
      bench(name, rate(r.items, r.cpu_seconds), "rows/s")
      if peer and peer.value then ratio(name .. "_vs_python", rate(r.items, r.cpu_seconds) / peer.value) end
    else
      skipped(name, err)
    end
  end
end

---------------------------------------------------------------------------- B3
-- The canned nginx checks no credential; the workers still send one, made per run so
-- that no secret-looking literal lives in the tree.
local function throwaway_secret()
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(12) or tostring(os.time())
  if f then f:close() end
  return (bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function env_prefix(env)
  local s = ""
  for k, v in pairs(env) do s = s .. k .. "=" .. q(v) .. " " end
  return s
end

-- One kind of POST against the nginx peer: the client, its bare transport, and the
-- libcurl and wrk floors when available.
local function b3_nginx_kind(h, env, k, c, curl_peer, has_wrk)
  local name = string.format("b3_%s_c%d", k.tag, c)
  if not bodies[k.kind] then
    skipped(name, "no request bodies (bench/pipeline.lua failed)")
  elseif not over_budget(name) then
    local mark = h.mark()
    local r, rerr = fastest(function() return worker(name, string.format("%s%s bench/post.lua %s %s %d %d", env, LUA,
      k.kind, q(bodies[k.kind]), k.count, c)) end, "seconds")
    local seen = h.since(mark)
    if r then
      bench(name .. "_kiva", rate(r.requests, r.seconds), "req/s")
      bench(name .. "_kiva_connections", seen.api_connections, "connections")
      if (r.failures or 0) > 0 or seen.errors > 0 then
        note(string.format("%s: %d failures (%s), nginx non-2xx %d", name, r.failures or 0,
          tostring(r.first_error), seen.errors))
      end
    else
      skipped(name .. "_kiva", rerr)
    end
    -- The same bytes through the client's transport alone (no validation, no encoding).
    local raw, rawerr = fastest(function() return worker(name .. "-raw", string.format(
      "%s%s bench/post.lua %s %s %d %d raw", env, LUA, k.kind, q(bodies[k.kind]), k.count, c)) end, "seconds")
    if raw then bench(name .. "_kiva_raw", rate(raw.requests, raw.seconds), "req/s")
    else skipped(name .. "_kiva_raw", rawerr) end
    if curl_peer then
      local requests = k.kind == "repayments" and math.max(1, k.count // 250) or k.count
      local cp, cerr = fastest(function() return worker(name .. "-curl", string.format("%s %s %s %s %s %d %d",
        q(curl_peer), q(h.base .. k.path), q(h.ca_file), q(h.token), q(bodies[k.kind]), requests, c)) end, "seconds")
      if cp then
        local crps = rate(cp.requests, cp.seconds)
        bench(name .. "_curl", crps, "req/s")
        if r then ratio(name .. "_kiva_vs_curl", rate(r.requests, r.seconds) / crps) end
        if raw then ratio(name .. "_kiva_raw_vs_curl", rate(raw.requests, raw.seconds) / crps) end
      else
        skipped(name .. "_curl", cerr)
      end
    end
    if has_wrk then
      local w, werr = worker(name .. "-wrk", string.format(
        "WRK_BODIES=%s WRK_TOKEN=%s wrk -t1 -c%d -d%ds -s bench/wrk_post.lua %s", q(bodies[k.kind]),
        q(h.token), c, N.wrk_seconds, q(h.base .. k.path)))
      if w then
        bench(name .. "_wrk", rate(w.wrk_requests, w.wrk_seconds), "req/s")
        local wrps = rate(w.wrk_requests, w.wrk_seconds)
        if r then ratio(name .. "_kiva_vs_wrk", rate(r.requests, r.seconds) / wrps) end
      else
        skipped(name .. "_wrk", werr)
      end
    end
  end
end

local function b3_nginx()
  local cjson = require "cjson"
  local config = cjson.decode(assert(util.read("bench/config.json")))
  local served = {}
  for k, v in pairs(config) do served[k] = cjson.encode(v) end
  local h, err = require("nginx").start(OUT, served)
  if not h then
    skipped("b3", err)
    return
  end
  -- The floor of libcurl itself (bench/curl_post.c): the client's library driven from C.
  local curl_peer = OUT .. "/curl_post"
  if not util.sh(string.format("cc -O2 -Wall -Wextra -Werror -o %s bench/curl_post.c -lcurl >%s 2>&1",
      q(curl_peer), q(OUT .. "/logs/curl_post-build.err"))) then
    note("bench/curl_post.c did not build (see bench/out/logs/curl_post-build.err): no bare-libcurl peer")
    curl_peer = nil
  end
  local has_wrk = util.sh("command -v wrk >/dev/null 2>&1")
  if not has_wrk then note("wrk not installed: no wrk reference row") end
  local ok, perr = pcall(function()
    local env = env_prefix({ KIVA_AUTH_URL = h.auth_url, KIVA_API_URL = h.api_url, KIVA_CA_FILE = h.ca_file,
      KIVA_CLIENT_ID = "bench", KIVA_CLIENT_SECRET = throwaway_secret() })
    local c = 16
    for _, k in ipairs({
      { kind = "loan_draft", tag = "drafts", count = N.b3_drafts, path = "/v3/partner/1/loan_draft" },
      { kind = "repayments", tag = "repayments", count = N.b3_repayments, path = "/v3/partner/1/repayments" },
    }) do
      b3_nginx_kind(h, env, k, c, curl_peer, has_wrk)
    end
  end)
  h.stop()
  if not ok then skipped("b3", "error: " .. tostring(perr)) end
end

-- Against latency: every POST answered 50 ms late. With c requests in flight the
-- ceiling is c / 50 ms; the target is 90% of it.
local function b3_latency()
  if not bodies.loan_draft then
    skipped("b3_latency", "no request bodies")
    return
  end
  local slow_ms = 50
  local sb, err = start_sandbox("b3-sandbox", string.format("--loans 1000 --faults slow:1.0 --slow-ms %d", slow_ms))
  if not sb then
    skipped("b3_latency", err)
    return
  end
  local ok, perr = pcall(function()
    for _, c in ipairs({ 4, 16 }) do
      local name = string.format("b3_latency_drafts_c%d", c)
      if not over_budget(name) then
        local ceiling = c / (slow_ms / 1000)
        local count = math.max(c * 4, math.floor(ceiling * N.latency_seconds * math.min(1, SCALE * 4)))
        local r, rerr = worker(name, string.format("%s%s bench/post.lua loan_draft %s %d %d",
          env_prefix(sb.env), LUA, q(bodies.loan_draft), count, c))
        if r then
          local rps = rate(r.requests, r.seconds)
          bench(name .. "_kiva", rps, "req/s")
          bench(name .. "_target", 0.9 * ceiling, "req/s")
          ratio(name .. "_vs_ceiling", rps / ceiling)
          if (r.failures or 0) > 0 then
            note(string.format("%s: %d of %d drafts answered with an error (%s); they count, as the wait is the same",
              name, r.failures, r.requests, tostring(r.first_error)))
          end
        else
          skipped(name .. "_kiva", rerr)
        end
      end
    end
  end)
  sb.stop()
  if not ok then skipped("b3_latency", "error: " .. tostring(perr)) end
end

---------------------------------------------------------------------------- table
local function count_label(n)
  if n >= 1000000 and n % 1000000 == 0 then return (n // 1000000) .. "M" end
  if n >= 1000 and n % 1000 == 0 then return (n // 1000) .. "k" end
  return tostring(n)
end
local R, D, B2, P = count_label(N.repayments), count_label(N.drafts), {}, count_label(N.push)
for i, n in ipairs(N.b2) do B2[i] = count_label(n) end

local ROWS = {
  { "B1 `kiva push repayments --dry-run`, " .. R .. " rows (rows per CPU-second)", "b1_repayments_kiva",
    "b1_repayments_python", "b1_repayments_kiva_vs_python", "≥ 10×" },
  { "B1 `kiva push loans --dry-run`, " .. D .. " drafts (export rows per CPU-second)", "b1_loans_kiva",
    "b1_loans_python", "b1_loans_kiva_vs_python", "≥ 10×" },
  { "B1-wide: the repayments in 40 columns (vs 5 columns)", "b1_wide_kiva", "b1_repayments_kiva",
    "b1_wide_vs_5_columns", "≥ 0.8" },
  { "B1 peak RSS, repayments dry run " .. R, "b1_repayments_kiva_rss", "b1_repayments_python_rss", nil,
    "≤ 64 MiB" },
  { "B1 peak RSS, loans dry run " .. D, "b1_loans_kiva_rss", "b1_loans_python_rss", nil, "≤ 64 MiB" },
  { "B2 peak RSS, repayments dry run " .. B2[1], "b2_rss_10k_kiva", nil, nil, "≤ 64 MiB" },
  { "B2 peak RSS, repayments dry run " .. B2[2], "b2_rss_100k_kiva", nil, nil, "≤ 64 MiB" },
  { "B2 peak RSS, repayments dry run " .. B2[3], "b2_rss_1M_kiva", nil, nil, "≤ 64 MiB" },
  { "B2 RSS growth " .. B2[2] .. "→" .. B2[3], nil, nil, "b2_growth_100k_to_1M_kiva", "< 1.10" },
  { "B2 peak RSS, `kiva push repayments` " .. P .. " to the sandbox", "b2_push_kiva_rss", nil, nil, "≤ 64 MiB" },
  { "B2 `kiva push repayments` " .. P .. " to the sandbox (wall)", "b2_push_kiva_rows", nil, nil, "record" },
  { "B3 client drafts, c=16 on nginx (vs bare libcurl)", "b3_drafts_c16_kiva", "b3_drafts_c16_curl",
    "b3_drafts_c16_kiva_vs_curl", "≥ 0.8×" },
  { "B3 client repayments, c=16 on nginx (vs bare libcurl)", "b3_repayments_c16_kiva", "b3_repayments_c16_curl",
    "b3_repayments_c16_kiva_vs_curl", "≥ 0.8×" },
  { "B3 drafts, c=16, wrk (reference)", "b3_drafts_c16_wrk", nil, nil, "" },
  { "B3 repayments, c=16, wrk (reference)", "b3_repayments_c16_wrk", nil, nil, "" },
  { "B3 drafts, 50 ms latency, c=4 (vs 0.9 × c / 50 ms)", "b3_latency_drafts_c4_kiva",
    "b3_latency_drafts_c4_target", "b3_latency_drafts_c4_vs_ceiling", "≥ 0.9 of c/50ms" },
  { "B3 drafts, 50 ms latency, c=16 (vs 0.9 × c / 50 ms)", "b3_latency_drafts_c16_kiva",
    "b3_latency_drafts_c16_target", "b3_latency_drafts_c16_vs_ceiling", "≥ 0.9 of c/50ms" },
  { "breakdown: bench/pipeline.lua loans in-process (vs the command)", "breakdown_loans_pipeline",
    "b1_loans_kiva", "breakdown_loans_pipeline_vs_command", "" },
  { "breakdown: bench/pipeline.lua repayments in-process (vs the command)", "breakdown_repayments_pipeline",
    "b1_repayments_kiva", "breakdown_repayments_pipeline_vs_command", "" },
  { "breakdown: reading + the mapping in its box, " .. R .. " repayment rows (no check, no store, no files; vs the "
    .. "peer)", "breakdown_repayments_items", "b1_repayments_python", "breakdown_repayments_items_vs_python", "" },
  { "breakdown: reading + the mapping function called bare (the floor of B1; vs the peer)",
    "breakdown_repayments_fn", "b1_repayments_python", "breakdown_repayments_fn_vs_python", "" },
  { "breakdown: B3 drafts c=16, transport alone (vs bare libcurl)", "b3_drafts_c16_kiva_raw", "b3_drafts_c16_curl",
    "b3_drafts_c16_kiva_raw_vs_curl", "" },
  { "breakdown: B3 repayments c=16, transport alone (vs bare libcurl)", "b3_repayments_c16_kiva_raw",
    "b3_repayments_c16_curl", "b3_repayments_c16_kiva_raw_vs_curl", "" },
}

local function cell(name)
  if not name then return "" end
  local f = figures[name]
  if not f then return "—" end
  if f.skipped then return "skipped" end
  return fmt(f.value) .. " " .. f.unit
end

-- The rows whose label starts with `breakdown` (breakdown_rows true) or the others, as a
-- Markdown table: the README shows the figures users' commands reach; the breakdown
-- (where the time goes) is printed and kept in bench/out/breakdown.md.
local function table_md(breakdown_rows)
  local lines = {
    "| figure | kiva | peer | ratio | target |",
    "| --- | ---: | ---: | ---: | --- |",
  }
  for _, row in ipairs(ROWS) do
    if (row[1]:find("^breakdown") ~= nil) == breakdown_rows then
      local r = row[4] and ratios[row[4]]
      lines[#lines + 1] = string.format("| %s | %s | %s | %s | %s |", row[1], cell(row[2]), cell(row[3]),
        r and (fmt(r) .. ((row[4]:find("growth") or row[4]:find("ceiling") or row[4]:find("columns")) and "" or "×"))
          or (row[4] and "—" or ""), row[5])
    end
  end
  return table.concat(lines, "\n") .. "\n"
end

---------------------------------------------------------------------------- main
util.sh("mkdir -p " .. q(OUT .. "/data") .. " " .. q(OUT .. "/logs") .. " && rm -f " .. q(OUT .. "/logs") .. "/*")
note(string.format("kiva bench, %s cores, %s, scale %g", util.capture("nproc"):gsub("%s", ""),
  os.date("!%Y-%m-%d %H:%M UTC"), SCALE))

for _, part in ipairs({ { "b1", b1 }, { "b2", b2 }, { "breakdown", breakdown }, { "b3", b3_nginx },
    { "b3_latency", b3_latency } }) do
  if not over_budget(part[1]) then
    local t0 = elapsed()
    local ok, err = pcall(part[2])
    if not ok then skipped(part[1], "error: " .. tostring(err):gsub("\n", " ")) end
    note(string.format("%s took %.0fs", part[1], elapsed() - t0))
  end
end

local md, breakdown_md = table_md(false), table_md(true)
util.write(OUT .. "/table.md", md)
util.write(OUT .. "/breakdown.md", breakdown_md)
io.write("\n", md, "\n", breakdown_md)
io.write(string.format("# bench done in %.0fs\n", elapsed()))
