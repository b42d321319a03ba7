-- B1/B2 worker, one process per measurement (so its peak RSS is its own):
--   lua5.4 bench/pipeline.lua loans|repayments INPUT [--out FILE] [--mapping FILE]
-- read (kiva.source via kiva.mapping.items) → mapped (bench/mapping_*.lua) →
-- kiva.validate → kiva.encode → written to FILE (default /dev/null); repayments in
-- request bodies of 250, as kiva.client sends them. Prints one key=value line
-- (same keys as bench/peer_pipeline.py), or "skipped=<reason>".
-- BENCH_LUA_PATH puts a patched copy of a module first (to measure a proposed fix).
package.path = (os.getenv("BENCH_LUA_PATH") or "") .. "bench/?.lua;lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("KIVA_BUILD") or "build") .. "/?.so;" .. package.cpath

local util = require "util"

local kind, input = arg[1], arg[2]
local out_path, mapping_path = "/dev/null", nil
do
  local i = 3
  while arg[i] do
    if arg[i] == "--out" then out_path = arg[i + 1]
    elseif arg[i] == "--mapping" then mapping_path = arg[i + 1] end
    i = i + 2
  end
end
mapping_path = mapping_path or (kind == "loans" and "bench/mapping_loans.lua" or "bench/mapping_repayments.lua")

local function skip(reason)
  io.write("skipped=", tostring(reason):gsub("%s+", "_"):sub(1, 200), "\n")
  os.exit(0)
end

local ok_kiva, kiva = pcall(require, "kiva")
if not ok_kiva then skip("kiva: " .. tostring(kiva)) end
local ok_mapping, mapping = pcall(require, "kiva.mapping")
if not ok_mapping then skip("kiva.mapping: " .. tostring(mapping)) end
for _, name in ipairs({ "kiva.schema", "kiva.map", "kiva.source" }) do
  local ok, err = pcall(require, name)
  if not ok then skip(name .. ": " .. tostring(err)) end
end

-- The config lists a run would fetch once (bench/config.json, the same ones nginx serves).
local cjson = require "cjson"
local config = cjson.decode(assert(util.read("bench/config.json")))

local m, merr = mapping.load(mapping_path)
if not m then skip("mapping.load: " .. tostring(type(merr) == "table" and merr.message or merr)) end
-- ctx as a run builds it, its lists "fetched" from the canned answers (no network in B1).
local ctx, cerr = mapping.context({ fetch = function(name) return config[name] end })
if not ctx then skip("mapping.context: " .. tostring(type(cerr) == "table" and cerr.message or cerr)) end

local profile = os.getenv("BENCH_PROFILE")
if profile then require("luaprof").start() end
local started, cpu_started = util.clock(), os.clock()
local iter, ierr = mapping.items(m, kind, input, { ctx = ctx })
if not iter then skip("mapping.items: " .. tostring(type(ierr) == "table" and ierr.message or ierr)) end

local out = assert(io.open(out_path, "wb"))
local items, valid, invalid, nbytes, mapped_bad = 0, 0, 0, 0, 0
local first_error

local function emit(payload_kind, body)
  local ok, errs = kiva.validate(payload_kind, body)
  if not ok then
    invalid = invalid + 1
    if not first_error and type(errs) == "table" and errs[1] then
      first_error = (errs[1].path or "") .. ":" .. tostring(errs[1].message)
    end
    return
  end
  -- validated just above: the encoder need not validate again (kiva.schema.encode opts)
  local json = kiva.encode(payload_kind, body, { validate = false })
  if not json then invalid = invalid + 1 return end
  valid = valid + 1
  nbytes = nbytes + #json + 1
  out:write(json, "\n")
end

local batch, nbatch = {}, 0
for it in iter do
  items = items + 1
  if it.errors or it.skipped then
    mapped_bad = mapped_bad + 1
    if it.errors and not first_error then
      local e = it.errors[1] or {}
      first_error = tostring(e.path or "") .. ":" .. tostring(e.message or e)
    end
  elseif kind == "loans" then
    emit("loan_draft", it.payload)
  else
    nbatch = nbatch + 1
    batch[nbatch] = it.payload
    if nbatch == 250 then
      emit("repayments", { repayments = batch })
      batch, nbatch = {}, 0
    end
  end
end
if nbatch > 0 then emit("repayments", { repayments = batch }) end
out:close()
local seconds, cpu_seconds = util.clock() - started, os.clock() - cpu_started
if profile then require("luaprof").stop(profile) end

local rows = items
if kind == "loans" then
  -- rows read = lines of the export; count them outside the timed part.
  rows = 0
  for _ in io.lines(input) do rows = rows + 1 end
  rows = rows - 1
end

io.write(util.format_kv({
  rows = rows, items = items, valid = valid, invalid = invalid + mapped_bad, seconds = seconds,
  cpu_seconds = cpu_seconds,
  rss_kib = util.peak_rss_kib() or 0, bytes = nbytes,
  first_error = first_error and first_error:sub(1, 120) or nil,
}), "\n")
