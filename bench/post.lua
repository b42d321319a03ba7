-- B3/B4 worker: posts request bodies with kiva.client and reports what it took.
--   lua5.4 bench/post.lua loan_draft|repayments BODIES.jsonl COUNT CONCURRENCY [raw]
-- Settings (token URL, API URL, CA file, credentials) come from the KIVA_* environment.
-- Bodies are the canonical JSON lines bench/pipeline.lua wrote; they are decoded
-- before the clock starts, so the timed part is kiva.client's own work: validation,
-- encoding, the token, the requests. With `raw`, the JSON lines are sent as they are
-- (the bytes wrk sends): the client's transport alone, without validation/encoding.
-- COUNT counts drafts or repayments (in batches of 250). Prints one key=value line,
-- or "skipped=<reason>".
-- BENCH_LUA_PATH puts a patched copy of a module first (to measure a proposed fix).
package.path = (os.getenv("BENCH_LUA_PATH") or "") .. "bench/?.lua;lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("KIVA_BUILD") or "build") .. "/?.so;" .. package.cpath

local util = require "util"

local kind, path, count, concurrency = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4])
local raw = arg[5] == "raw"

local function skip(reason)
  io.write("skipped=", (tostring(reason):gsub("%s+", "_"):sub(1, 200)), "\n")
  os.exit(0)
end

local ok, kiva = pcall(require, "kiva")
if not ok then skip("kiva: " .. tostring(kiva)) end
local okc, client_mod = pcall(require, "kiva.client")
if not okc then skip("kiva.client: " .. tostring(client_mod)) end

local cjson = require "cjson"

-- cjson gives every number as a float; integral ones become integers so that ids
-- stay integers as the mapping made them.
local function integers(v)
  if type(v) == "table" then
    for k, x in pairs(v) do v[k] = integers(x) end
    return v
  elseif math.type(v) == "float" and v == math.floor(v) and v > -2^53 and v < 2^53 then
    return math.tointeger(v)
  end
  return v
end

local list = {}
local raw_lines, raw_items = {}, 0
for line in io.lines(raw and path or "/dev/null") do
  if raw_items >= count then break end
  raw_lines[#raw_lines + 1] = line
  if kind == "repayments" then
    local _, n = line:gsub('"loan_id"', "")
    raw_items = raw_items + n
  else
    raw_items = raw_items + 1
  end
end
for line in io.lines(raw and "/dev/null" or path) do
  local body = integers(cjson.decode(line))
  if kind == "repayments" then
    for _, r in ipairs(body.repayments) do list[#list + 1] = r end
    if #list >= count then break end
  else
    list[#list + 1] = body
    if #list >= count then break end
  end
end
for i = count + 1, #list do list[i] = nil end

local client, err = kiva.client {
  client_id = os.getenv("KIVA_CLIENT_ID") or "bench", client_secret = os.getenv("KIVA_CLIENT_SECRET"),
  auth_url = os.getenv("KIVA_AUTH_URL"), api_url = os.getenv("KIVA_API_URL"), ca_file = os.getenv("KIVA_CA_FILE"),
  concurrency = concurrency, token_cache = false,
}
if not client then skip("kiva.client: " .. tostring(err and err.message or err)) end

local profile = os.getenv("BENCH_PROFILE")
if profile then require("luaprof").start() end
local started = util.clock()
local requests, failures, first_err = 0, 0, nil
-- Counts the requests of a results array ({ res =, err = } each) and its failures.
local function tally(results)
  for _, r in ipairs(results) do
    requests = requests + 1
    if r.err or not r.res then
      failures = failures + 1
      first_err = first_err or (r.err and r.err.message)
    end
  end
end
if raw then
  -- pre-encoded bodies through the client's one sending path (client:send), as
  -- kiva push sends them: what post_* do after encoding
  local results = {}
  client:send(kind, raw_lines, { on_result = function(i, res, e) results[i] = { res = res, err = e } end })
  tally(results)
  list = { n = raw_items }
elseif kind == "loan_draft" then
  local results = client:post_loan_drafts(list)
  tally(results)
else
  local res, perr = client:post_repayments(list, { batch_size = 250 })
  if not res then
    failures, first_err = 1, perr and perr.message
  else
    for _, b in ipairs(res.batches) do
      requests = requests + 1
      if b.err then failures = failures + 1; first_err = first_err or b.err.message end
    end
  end
end
local seconds = util.clock() - started
if profile then require("luaprof").stop(profile) end
local stats = client:stats()
client:close()
io.write(util.format_kv({
  items = list.n or #list, requests = requests, failures = failures, seconds = seconds,
  connects = stats.connects, token_requests = stats.token_requests, retries = stats.retries,
  rss_kib = util.peak_rss_kib(), first_error = first_err and tostring(first_err):sub(1, 120) or nil,
}), "\n")
