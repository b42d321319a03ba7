-- The check of one item (kiva.push's Run:check): ns per item of compiled:checker's
-- check against compiled:validate + compiled:encode + the item cut out + core.sha256_hex,
-- on items mapped from bench/gen.lua inputs (mapping done first, not timed), and a
-- check that both give the same bytes, hash and findings.
--   lua5.4 bench/check_bench.lua repayments|loans INPUT [ROUNDS]   (after `make`)
-- e.g. lua5.4 bench/gen.lua export 200000 /tmp/X/exp.csv 5; lua5.4 bench/check_bench.lua repayments /tmp/X/exp.csv
package.path = "bench/?.lua;lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("KIVA_BUILD") or "build") .. "/?.so;" .. package.cpath

local util = require "util"
local core = require "kiva.core"
local cjson = require "cjson"
local mapping = require "kiva.mapping"
local schema = require "kiva.schema"

local kind, input, rounds = arg[1], arg[2], tonumber(arg[3]) or 3
local loans = kind == "loans"
local m = assert(mapping.load(loans and "bench/mapping_loans.lua" or "bench/mapping_export.lua"))
local config = cjson.decode(assert(util.read("bench/config.json")))
local ctx = mapping.context({ fetch = function(name) return config[name] end })
-- a sample of the items, checked over and over: a heap of 200k live items would time
-- the collector's walks over it, which the command (a few items alive) does not have
local SAMPLE = 1000
local items, calls = {}, 0
for it in mapping.items(m, kind, input, { ctx = ctx }) do
  calls = calls + 1
  if #items < SAMPLE then items[#items + 1] = assert(it.payload) end
end

local payload = loans and "loan_draft" or "repayments"
local wrap = not loans and "repayments" or nil
local compiled = schema.compiled(payload)
local vopts = { kind = payload, csv_format = "three" }
local checker = compiled:checker({ kind = payload, csv_format = "three", wrap = wrap })
local head = wrap and '{"' .. wrap .. '":[' or nil

-- What Run:check did before the checker (its findings' paths left as they are).
local function before(value)
  local body = wrap and { [wrap] = { value } } or value
  local ok, errs, warnings = compiled:validate(body, vopts)
  if not ok then return nil, errs, warnings end
  local json = assert(compiled:encode(body))
  if wrap then json = json:sub(#head + 1, -3) end
  return json, core.sha256_hex(json), #warnings > 0 and warnings or nil
end

local function after(value) return checker:check(value) end

for i, v in ipairs(items) do
  local j1, h1, w1 = before(v)
  local j2, h2, w2 = after(v)
  assert(j1 and j1 == j2 and h1 == h2 and (w1 == nil) == (w2 == nil), "item " .. i .. " differs")
end

local function time(fn)
  local best = math.huge
  for _ = 1, rounds do
    collectgarbage()
    local t0 = os.clock()
    for i = 1, calls do fn(items[(i - 1) % SAMPLE + 1]) end
    best = math.min(best, os.clock() - t0)
  end
  return best * 1e9 / calls
end

local old, new = time(before), time(after)
io.write(string.format("bench check_%s_before %.0f ns/item\nbench check_%s_checker %.0f ns/item\n"
  .. "ratio check_%s %.1f (%d calls over %d items, best of %d)\n", kind, old, kind, new, kind, old / new, calls, #items,
  rounds))
