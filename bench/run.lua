-- `make bench`: kiva's throughput and memory, each figure a ratio against a peer
-- measured in the same run (these machines are shared and noisy).
--   B1 mapping pipeline (no network)   kiva vs Python csv+json+jsonschema
--   B2 peak RSS at 10k/100k/1M rows     kiva vs the same Python peer
--   B3 HTTPS posts to a loopback nginx  kiva.client vs wrk, vs libcurl driven from C
--                                       (bench/curl_post.c) and vs a Python requests loop
--   B4 end to end against `kiva sandbox`, for the record
-- Prints `bench <name> <value> <unit>`, `ratio <name> <value>` and, at the end, a
-- Markdown table (also bench/out/table.md). A part that is missing prints
-- `bench <name> skipped (<reason>)` and the run goes on. Knobs: BENCH_SCALE (default 1)
-- multiplies every count (BENCH_SCALE=0.1 for a quick try); BENCH_BUDGET (default 285 s)
-- skips what would start after it; BENCH_LUA_PATH is passed to the workers (a patched
-- module first). See bench/README.md and docs/ARCHITECTURE.md.
package.path = "bench/?.lua;lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("KIVA_BUILD") or "build") .. "/?.so;" .. package.cpath

local util = require "util"

local OUT = "bench/out"
local LUA = os.getenv("LUA") or "lua5.4"
local PY = "/usr/bin/python3"              -- Debian's, with python3-jsonschema and -requests
local SCALE = tonumber(os.getenv("BENCH_SCALE") or "") or 1
local BUDGET = tonumber(os.getenv("BENCH_BUDGET") or "") or 285   -- seconds for the whole run
local q = util.quote

local function scaled(n) return math.max(1, math.floor(n * SCALE + 0.5)) end

local N = {
  drafts = scaled(20000), repayments = scaled(200000),
  b2 = { scaled(10000), scaled(100000), scaled(1000000) },
  b3_drafts = scaled(20000), b3_repayments = scaled(100000),
  py_fraction = 10,                        -- the requests loop posts 1/10 of B3's counts
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

--- Runs a worker command; returns its last key=value line as a table, or nil, reason.
local log_count = 0
local function worker(label, cmd)
  log_count = log_count + 1
  local err_file = string.format("%s/logs/%02d-%s.err", OUT, log_count, label)
  local out = util.capture(cmd .. " 2>" .. q(err_file))
  local last
  for line in out:gmatch("[^\n]+") do
    if line:find("=") then last = line end
  end
  if not last then
    local err = (util.read(err_file) or ""):gsub("%s+", " "):sub(1, 160)
    return nil, "no result" .. (err ~= "" and (": " .. err) or "")
  end
  local t = util.parse_kv(last)
  if t.skipped then return nil, tostring(t.skipped):gsub("_", " ") end
  return t
end

local function rate(n, seconds) return (seconds and seconds > 0) and n / seconds or 0 end
local function mib(kib) return kib / 1024 end

--- Generated inputs, kept between runs and remade when bench/gen.lua changes.
local function input(what, n)
  local path = string.format("%s/data/%s_%d.csv", OUT, what, n)
  if not util.sh("test -s " .. q(path) .. " && test " .. q(path) .. " -nt bench/gen.lua") then
    if not util.sh(LUA .. " bench/gen.lua " .. what .. " " .. n .. " " .. q(path) .. " >/dev/null") then
      return nil, "bench/gen.lua failed"
    end
  end
  return path
end

local function over_budget(name)
  if elapsed() > BUDGET then
    skipped(name, string.format("over the %ds budget after %.0fs", BUDGET, elapsed()))
    return true
  end
  return false
end

---------------------------------------------------------------------------- B1
local bodies = {}        -- kind -> JSONL file of request bodies, for B3

-- B1 rates are rows per CPU-second of the worker (os.clock, time.process_time): both
-- are single-threaded and CPU-bound, and CPU time is what other load on a shared
-- machine disturbs least. The wall-clock rates are printed too (_wall).
local function b1()
  note("B1 rates are rows per CPU-second of each worker (wall-clock rates: _wall)")
  local loans = assert(input("loans", N.drafts))
  local reps = assert(input("repayments", N.repayments))
  local sets = {
    { name = "loans", file = loans, unit_rows = "export rows" },
    { name = "repayments", file = reps },
  }
  local total = { lua_rows = 0, lua_s = 0, py_rows = 0, py_s = 0 }
  for _, set in ipairs(sets) do
    local lua, lerr = worker("b1-lua-" .. set.name,
      string.format("%s bench/pipeline.lua %s %s", LUA, set.name, q(set.file)))
    local py, perr = worker("b1-py-" .. set.name,
      string.format("%s bench/peer_pipeline.py %s %s", PY, set.name, q(set.file)))
    local tag = "b1_" .. set.name
    if lua then
      bench(tag .. "_kiva", rate(lua.rows, lua.cpu_seconds), "rows/s")
      bench(tag .. "_kiva_wall", rate(lua.rows, lua.seconds), "rows/s")
      bench(tag .. "_kiva_rss", mib(lua.rss_kib), "MiB")
      if (lua.invalid or 0) > 0 then
        note(string.format("%s: kiva found %d invalid of %d items (first: %s)", tag, lua.invalid,
          lua.items, tostring(lua.first_error)))
      end
      total.lua_rows, total.lua_s = total.lua_rows + lua.rows, total.lua_s + lua.cpu_seconds
    else
      skipped(tag .. "_kiva", lerr)
    end
    if py then
      bench(tag .. "_python", rate(py.rows, py.cpu_seconds), "rows/s")
      bench(tag .. "_python_wall", rate(py.rows, py.seconds), "rows/s")
      bench(tag .. "_python_rss", mib(py.rss_kib), "MiB")
      if py.schema ~= "project" then
        note(tag .. ": the Python peer validated against bench/peer_pipeline.py's transcription "
          .. "of the API contract (lua/kiva/schemas/ not plain JSON Schema or absent)")
      end
      total.py_rows, total.py_s = total.py_rows + py.rows, total.py_s + py.cpu_seconds
    else
      skipped(tag .. "_python", perr)
    end
    if lua and py then
      ratio(tag .. "_kiva_vs_python", rate(lua.rows, lua.cpu_seconds) / rate(py.rows, py.cpu_seconds))
      -- The ceiling of that ratio today: kiva.source.rows alone (no mapping, validation
      -- or encoding) against the whole Python pipeline.
      local rd = worker("b1-read-" .. set.name, string.format("%s bench/stages.lua %s %s read", LUA, set.name,
        q(set.file)))
      if rd and rd.items then
        bench(tag .. "_kiva_read_only", rate(rd.items, rd.cpu_seconds), "rows/s")
        ratio(tag .. "_kiva_read_only_vs_python", rate(rd.items, rd.cpu_seconds) / rate(py.rows, py.cpu_seconds))
      end
    end
  end
  if total.lua_s > 0 and total.py_s > 0 then
    bench("b1_all_kiva", rate(total.lua_rows, total.lua_s), "rows/s")
    bench("b1_all_python", rate(total.py_rows, total.py_s), "rows/s")
    ratio("b1_all_kiva_vs_python", rate(total.lua_rows, total.lua_s) / rate(total.py_rows, total.py_s))
  end

  -- Request bodies for B3's peers (wrk, Python) and for kiva.client: the same payloads.
  for _, k in ipairs({ { "loan_draft", "loans", loans }, { "repayments", "repayments", reps } }) do
    local file = string.format("%s/data/bodies_%s.jsonl", OUT, k[1])
    local ok = worker("bodies-lua-" .. k[1], string.format("%s bench/pipeline.lua %s %s --out %s",
      LUA, k[2], q(k[3]), q(file)))
    if not ok then
      ok = worker("bodies-py-" .. k[1], string.format("%s bench/peer_pipeline.py %s %s --out %s",
        PY, k[2], q(k[3]), q(file)))
      if ok then note("B3 bodies for " .. k[1] .. " written by the Python peer (kiva pipeline missing)") end
    end
    if ok and util.sh("test -s " .. q(file)) then bodies[k[1]] = file end
  end
end

---------------------------------------------------------------------------- B2
local deferred = {}      -- long peer runs kept for the end: { name, need (s), run }
local function b2()
  local big = assert(input("repayments", N.b2[3]))
  local labels = { "10k", "100k", "1M" }
  local lua_rss, py_rss = {}, {}
  for i, n in ipairs(N.b2) do
    local file = big
    if n ~= N.b2[3] then
      -- The generator is a stream: the first n rows of the big file are the n-row file.
      file = string.format("%s/data/repayments_head_%d.csv", OUT, n)
      util.sh(string.format("head -n %d %s > %s", n + 1, q(big), q(file)))
    end
    local label = labels[i]
    if SCALE ~= 1 then label = tostring(n) end
    local lua, lerr = worker("b2-lua-" .. label, string.format("%s bench/pipeline.lua repayments %s",
      LUA, q(file)))
    if lua then
      lua_rss[i] = lua.rss_kib
      bench("b2_rss_" .. label .. "_kiva", mib(lua.rss_kib), "MiB")
    else
      skipped("b2_rss_" .. label .. "_kiva", lerr)
    end
    local function peer()
      local py, perr = worker("b2-py-" .. label, string.format("%s bench/peer_pipeline.py repayments %s",
        PY, q(file)))
      if py then
        py_rss[i] = py.rss_kib
        bench("b2_rss_" .. label .. "_python", mib(py.rss_kib), "MiB")
        if lua then ratio("b2_rss_" .. label .. "_kiva_vs_python", lua.rss_kib / py.rss_kib) end
        if i == 3 and py_rss[2] then ratio("b2_growth_100k_to_1M_python", py_rss[3] / py_rss[2]) end
      else
        skipped("b2_rss_" .. label .. "_python", perr)
      end
    end
    -- The peer takes ~45 s at 1M rows: it runs last, if the budget still allows.
    if i < 3 then
      if not over_budget("b2_rss_" .. label .. "_python") then peer() end
    else
      deferred[#deferred + 1] = { name = "b2_rss_" .. label .. "_python", need = 70, run = peer }
    end
  end
  if lua_rss[2] and lua_rss[3] then
    ratio("b2_growth_100k_to_1M_kiva", lua_rss[3] / lua_rss[2])
  end
end

---------------------------------------------------------------------------- B3
local function wrk(h, path, file, c)
  local cmd = string.format("WRK_BODIES=%s WRK_TOKEN=%s wrk -t1 -c%d -d%ds -s bench/wrk_post.lua %s",
    q(file), q(h.token), c, N.wrk_seconds, q(h.base .. path))
  return worker("wrk-c" .. c, cmd)
end

-- The canned nginx checks no credential; the workers still send one, made per run so
-- that no secret-looking literal lives in the tree.
local function throwaway_secret()
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(12) or tostring(os.time())
  if f then f:close() end
  return (bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function b3()
  if not util.sh("command -v wrk >/dev/null 2>&1") then note("wrk not installed: no wrk peer") end
  local cjson = require "cjson"
  local config = cjson.decode(assert(util.read("bench/config.json")))
  local served = {}
  for k, v in pairs(config) do served[k] = cjson.encode(v) end
  local nginx = require "nginx"
  local h, err = nginx.start(OUT, served)
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
  local ok, perr = pcall(function()
    local env = string.format("KIVA_AUTH_URL=%s KIVA_API_URL=%s KIVA_CA_FILE=%s KIVA_CLIENT_ID=bench "
      .. "KIVA_CLIENT_SECRET=%s ", q(h.auth_url), q(h.api_url), q(h.ca_file), throwaway_secret())
    local kinds = {
      { kind = "loan_draft", tag = "drafts", count = N.b3_drafts, path = "/v3/partner/1/loan_draft" },
      { kind = "repayments", tag = "repayments", count = N.b3_repayments, path = "/v3/partner/1/repayments" },
    }
    local client_rps = {}
    for _, c in ipairs({ 1, 4, 16 }) do
      for _, k in ipairs(kinds) do
        local name = string.format("b3_%s_c%d", k.tag, c)
        if not bodies[k.kind] then
          skipped(name, "no request bodies (B1 pipeline and peer both missing)")
        elseif not over_budget(name) then
          local mark = h.mark()
          local r, rerr = worker(name, string.format("%s%s bench/post.lua %s %s %d %d", env, LUA, k.kind,
            q(bodies[k.kind]), k.count, c))
          local seen = h.since(mark)
          if r then
            local rps = rate(r.requests, r.seconds)
            client_rps[name] = rps
            bench(name .. "_kiva", rps, "req/s")
            bench(name .. "_kiva_items", rate(r.items, r.seconds), "items/s")
            bench(name .. "_kiva_connections", seen.api_connections, "connections")
            bench(name .. "_kiva_token_requests", seen.token_requests, "requests")
            ratio(name .. "_connections_per_concurrency", seen.api_connections / c)
            if (r.failures or 0) > 0 or seen.errors > 0 then
              note(string.format("%s: %d failures (%s), nginx non-2xx %d", name, r.failures or 0,
                tostring(r.first_error), seen.errors))
            end
            if r.connects then
              note(string.format("%s: client:stats() connects=%d (API and token sessions), nginx saw %d "
                .. "connections (%d for API requests), %d requests", name, r.connects, seen.connections,
                seen.api_connections, seen.requests))
            end
          else
            skipped(name .. "_kiva", rerr)
          end
          -- The same bytes without validation/encoding: the client's transport alone.
          local raw, rawerr
          if not over_budget(name .. "_kiva_raw") then
            raw, rawerr = worker(name .. "-raw", string.format("%s%s bench/post.lua %s %s %d %d raw", env, LUA,
              k.kind, q(bodies[k.kind]), k.count, c))
            if raw then
              bench(name .. "_kiva_raw", rate(raw.requests, raw.seconds), "req/s")
            else
              skipped(name .. "_kiva_raw", rawerr)
            end
          end
          local cpeer, cerr
          if curl_peer and not over_budget(name .. "_curl") then
            local requests = k.kind == "repayments" and math.max(1, k.count // 250) or k.count
            cpeer, cerr = worker(name .. "-curl", string.format("%s %s %s %s %s %d %d", q(curl_peer),
              q(h.base .. k.path), q(h.ca_file), q(h.token), q(bodies[k.kind]), requests, c))
            if cpeer then
              bench(name .. "_curl", rate(cpeer.requests, cpeer.seconds), "req/s")
              if raw then
                ratio(name .. "_kiva_raw_vs_curl",
                  rate(raw.requests, raw.seconds) / rate(cpeer.requests, cpeer.seconds))
              end
            else
              skipped(name .. "_curl", cerr)
            end
          end
          local w, werr = wrk(h, k.path, bodies[k.kind], c)
          if w then
            local wrps = rate(w.wrk_requests, w.wrk_seconds)
            bench(name .. "_wrk", wrps, "req/s")
            if r then ratio(name .. "_kiva_vs_wrk", rate(r.requests, r.seconds) / wrps) end
            if raw then ratio(name .. "_kiva_raw_vs_wrk", rate(raw.requests, raw.seconds) / wrps) end
            if cpeer then ratio(name .. "_curl_vs_wrk", rate(cpeer.requests, cpeer.seconds) / wrps) end
          else
            skipped(name .. "_wrk", werr)
          end
        end
      end
    end
    -- The pattern of Kiva's samples: one token, then requests.post one at a time.
    for _, k in ipairs(kinds) do
      local name = "b3_" .. k.tag .. "_python"
      if bodies[k.kind] and not over_budget(name) then
        local count = math.max(1, k.count // N.py_fraction)
        if k.kind == "repayments" then count = math.max(1, count // 250) end
        local mark = h.mark()
        local py, pyerr = worker(name, string.format("%s%s bench/peer_post.py %s %s %d", env, PY, k.kind,
          q(bodies[k.kind]), count))
        local seen = h.since(mark)
        if py then
          local prps = rate(py.requests, py.seconds)
          bench(name, prps, "req/s")
          bench(name .. "_connections", seen.api_connections, "connections")
          note(string.format("%s: posted 1/%d of the count (%d requests) and compares rates", name,
            N.py_fraction, py.requests))
          for _, c in ipairs({ 1, 16 }) do
            local crps = client_rps[string.format("b3_%s_c%d", k.tag, c)]
            if crps then ratio(string.format("b3_%s_c%d_kiva_vs_python", k.tag, c), crps / prps) end
          end
        else
          skipped(name, pyerr)
        end
      end
    end
  end)
  h.stop()
  if not ok then skipped("b3", "error: " .. tostring(perr)) end
end

---------------------------------------------------------------------------- B4
local function start_sandbox()
  local dir = OUT .. "/sandbox"
  util.stop_stale(OUT .. "/sandbox.pid", "kiva sandbox")
  util.sh("rm -rf " .. q(dir) .. " && mkdir -p " .. q(dir))
  local out = dir .. "/sandbox.out"
  -- In the background of popen's shell, $! is the sandbox's own pid (sh execs a simple command).
  -- 50,000 loans: every loan the generated repayments name exists (L000001..L050000).
  local pid = util.capture(string.format("%s ./kiva sandbox --port 0 --loans 50000 >%s 2>%s </dev/null & echo $!",
    LUA, q(out), q(dir .. "/sandbox.err"))):match("%d+")
  if pid then util.write(OUT .. "/sandbox.pid", pid .. "\n") end
  local env = {}
  for _ = 1, 100 do
    local s = util.read(out) or ""
    for k, v in s:gmatch("export (KIVA_[%w_]+)=(%S+)") do env[k] = v:gsub("^'(.*)'$", "%1") end
    if env.KIVA_API_URL and env.KIVA_CLIENT_SECRET then break end
    util.sleep(0.1)
  end
  if not env.KIVA_API_URL then
    if pid then util.sh("kill " .. pid .. " 2>/dev/null") end
    return nil, "no export lines: " .. (util.read(dir .. "/sandbox.err") or ""):gsub("%s+", " "):sub(1, 160)
  end
  return { pid = tonumber(pid), env = env, dir = dir }
end

local function b4()
  if not util.exists("lua/kiva/sandbox/cli.lua") then
    skipped("b4", "kiva.sandbox.cli not there")
    return
  end
  if not bodies.loan_draft then
    skipped("b4", "no request bodies")
    return
  end
  local sb, err = start_sandbox()
  if not sb then
    skipped("b4", err)
    return
  end
  local ok, perr = pcall(function()
    local env = ""
    for k, v in pairs(sb.env) do env = env .. k .. "=" .. q(v) .. " " end
    local runs = {
      { kind = "loan_draft", tag = "drafts", count = scaled(2000) },
      { kind = "repayments", tag = "repayments", count = scaled(20000) },
    }
    for _, k in ipairs(runs) do
      local name = "b4_sandbox_" .. k.tag .. "_c4"
      if not over_budget(name) then
        local r, rerr = worker(name, string.format("%s%s bench/post.lua %s %s %d 4", env, LUA, k.kind,
          q(bodies[k.kind]), k.count))
        if r then
          bench(name, rate(r.requests, r.seconds), "req/s")
          bench(name .. "_items", rate(r.items, r.seconds), "items/s")
          bench(name .. "_connections", r.connects, "connections")
          if (r.failures or 0) > 0 then
            note(string.format("%s: %d failures (%s)", name, r.failures, tostring(r.first_error)))
          end
          local on_nginx = figures["b3_" .. k.tag .. "_c4_kiva"]
          if on_nginx and on_nginx.value then
            ratio(name .. "_vs_nginx", rate(r.requests, r.seconds) / on_nginx.value)
          end
        else
          skipped(name, rerr)
        end
      end
    end
    -- The CLI end to end: map, validate, ledger, send, report.
    local name = "b4_push_repayments"
    if util.exists("lua/kiva/push.lua") and not over_budget(name) then
      local n = scaled(20000)
      local file = string.format("%s/data/repayments_head_%d.csv", OUT, n)
      util.sh(string.format("head -n %d %s > %s", n + 1, q(assert(input("repayments", N.repayments))), q(file)))
      local t0 = util.clock()
      local root = os.getenv("PWD") or "."
      local code = util.sh(string.format("cd %s && %s%s %s/kiva push repayments "
        .. "--mapping %s/bench/mapping_repayments.lua --input %s/%s --ledger ledger.sqlite3 "
        .. "--report report.json >push.out 2>push.err",
        q(sb.dir), env, LUA, q(root), q(root), q(root), file))
      local seconds = util.clock() - t0
      local report = util.read(sb.dir .. "/report.json")
      local sent = report and tonumber(report:match('"sent"%s*:%s*(%d+)'))
      if sent then
        bench(name, rate(n, seconds), "rows/s")
        note(string.format("%s: %d rows, %s sent items, exit %s, %.1fs", name, n, sent, tostring(code), seconds))
      else
        skipped(name, "no report: " .. (util.read(sb.dir .. "/push.err") or ""):gsub("%s+", " "):sub(1, 160))
      end
    end
  end)
  if sb.pid then util.sh("kill " .. sb.pid .. " 2>/dev/null") end
  os.remove(OUT .. "/sandbox.pid")
  if not ok then skipped("b4", "error: " .. tostring(perr)) end
end

---------------------------------------------------------------------------- parts
-- The component benches of the schema and source engineers, passed through as they
-- print them (single figures, no peer: context for B1's profile).
local function parts()
  for _, p in ipairs({ { "bench/validate_bench.lua", "1" }, { "bench/read_bench.lua", tostring(scaled(200000)) } }) do
    if util.exists(p[1]) and not over_budget(p[1]) then
      local out = util.capture(string.format("%s %s %s 2>/dev/null", LUA, p[1], p[2]))
      local any = false
      for line in out:gmatch("[^\n]+") do
        local name, value, unit = line:match("^bench (%S+) (%S+) (.+)$")
        if name and tonumber(value) then
          bench("part_" .. name, tonumber(value), unit)
          any = true
        end
      end
      if not any then skipped("part " .. p[1], "printed no bench line") end
    end
  end
end

---------------------------------------------------------------------------- table
local T = "≥ 20×"
local W = "≥ 0.8"
local ROWS = {
  { "B1 loan drafts: read→map→validate→encode", "b1_loans_kiva", "b1_loans_python", "b1_loans_kiva_vs_python", T },
  { "B1 repayments", "b1_repayments_kiva", "b1_repayments_python", "b1_repayments_kiva_vs_python", T },
  { "B1 both", "b1_all_kiva", "b1_all_python", "b1_all_kiva_vs_python", T },
  { "B1 repayments, reading alone (ceiling)", "b1_repayments_kiva_read_only", "b1_repayments_python",
    "b1_repayments_kiva_read_only_vs_python", "" },
  { "B1 peak RSS, loan drafts", "b1_loans_kiva_rss", "b1_loans_python_rss", nil, "" },
  { "B2 peak RSS, 100k repayments", "b2_rss_100k_kiva", "b2_rss_100k_python", "b2_rss_100k_kiva_vs_python", "" },
  { "B2 peak RSS, 1M repayments", "b2_rss_1M_kiva", "b2_rss_1M_python", "b2_rss_1M_kiva_vs_python", "≤ 64 MiB" },
  { "B2 RSS growth 100k→1M", nil, nil, "b2_growth_100k_to_1M_kiva", "< 1.10" },
  { "B3 connections opened, drafts c=16", "b3_drafts_c16_kiva_connections", "b3_drafts_python_connections", nil,
    "≤ 16" },
  { "B3 token requests, drafts c=16", "b3_drafts_c16_kiva_token_requests", nil, nil, "1" },
  { "B4 sandbox drafts, c=4", "b4_sandbox_drafts_c4", nil, "b4_sandbox_drafts_c4_vs_nginx", "record" },
  { "B4 sandbox repayments, c=4", "b4_sandbox_repayments_c4", nil, "b4_sandbox_repayments_c4_vs_nginx", "record" },
  { "B4 `kiva push repayments` to the sandbox", "b4_push_repayments", nil, nil, "record" },
}

-- B3 rows after B2's: each kind and concurrency against wrk, the transport alone
-- (pre-encoded) at c=16, then against the Python loop. All figures are in the lines above.
do
  local at = 9
  local function add(row)
    table.insert(ROWS, at, row)
    at = at + 1
  end
  for _, tag in ipairs({ "drafts", "repayments" }) do
    for _, c in ipairs({ 1, 4, 16 }) do
      local name = string.format("b3_%s_c%d", tag, c)
      add({ string.format("B3 %s, c=%d (vs wrk)", tag, c), name .. "_kiva", name .. "_wrk",
        name .. "_kiva_vs_wrk", W })
    end
    local name = string.format("b3_%s_c16", tag)
    add({ string.format("B3 %s, c=16, pre-encoded: transport alone (vs wrk)", tag), name .. "_kiva_raw",
      name .. "_wrk", name .. "_kiva_raw_vs_wrk", W })
    -- The floor: libcurl driven from C with the client's options, no Lua at all.
    add({ string.format("B3 %s, c=16, bare libcurl in C (vs wrk)", tag), name .. "_curl",
      name .. "_wrk", name .. "_curl_vs_wrk", "" })
    add({ string.format("B3 %s, c=16, transport alone (vs bare libcurl)", tag), name .. "_kiva_raw",
      name .. "_curl", name .. "_kiva_raw_vs_curl", "" })
  end
  for _, v in ipairs({ { "drafts", 1 }, { "drafts", 16 }, { "repayments", 1 } }) do
    local name = string.format("b3_%s_c%d", v[1], v[2])
    add({ string.format("B3 %s, c=%d (vs Python requests loop)", v[1], v[2]), name .. "_kiva",
      "b3_" .. v[1] .. "_python", name .. "_kiva_vs_python", "" })
  end
end

local function cell(name)
  if not name then return "" end
  local f = figures[name]
  if not f then return "—" end
  if f.skipped then return "skipped" end
  return fmt(f.value) .. " " .. f.unit
end

local function table_md()
  local lines = {
    "| figure | kiva | peer | ratio | target |",
    "| --- | ---: | ---: | ---: | --- |",
  }
  for _, row in ipairs(ROWS) do
    local r = row[4] and ratios[row[4]]
    lines[#lines + 1] = string.format("| %s | %s | %s | %s | %s |", row[1], cell(row[2]), cell(row[3]),
      r and (fmt(r) .. (row[4]:find("growth") and "" or "×")) or (row[4] and "—" or ""), row[5])
  end
  return table.concat(lines, "\n") .. "\n"
end

---------------------------------------------------------------------------- main
util.sh("mkdir -p " .. q(OUT .. "/data") .. " " .. q(OUT .. "/logs") .. " && rm -f " .. q(OUT .. "/logs") .. "/*")
note(string.format("kiva bench, %s cores, %s, scale %g", util.capture("nproc"):gsub("%s", ""),
  os.date("!%Y-%m-%d %H:%M UTC"), SCALE))

for _, part in ipairs({ { "b1", b1 }, { "b2", b2 }, { "b3", b3 }, { "b4", b4 }, { "parts", parts } }) do
  if not over_budget(part[1]) then
    local t0 = elapsed()
    local ok, err = pcall(part[2])
    if not ok then skipped(part[1], "error: " .. tostring(err):gsub("\n", " ")) end
    note(string.format("%s took %.0fs", part[1], elapsed() - t0))
  end
end

for _, d in ipairs(deferred) do
  if elapsed() + d.need > BUDGET then
    skipped(d.name, string.format("needs ~%ds, over the %ds budget after %.0fs", d.need, BUDGET, elapsed()))
  else
    local ok, err = pcall(d.run)
    if not ok then skipped(d.name, "error: " .. tostring(err)) end
  end
end

local md = table_md()
util.write(OUT .. "/table.md", md)
io.write("\n", md)
io.write(string.format("# bench done in %.0fs\n", elapsed()))
