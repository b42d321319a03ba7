-- Where B1's time goes, stage by stage (for the profile in docs/ARCHITECTURE.md):
--   lua5.4 bench/stages.lua loans|repayments INPUT [STAGE]
-- Times, on the same input: reading rows (kiva.source.rows), reading + mapping
-- (kiva.mapping.items), then + kiva.validate, then + kiva.encode. Differences between
-- lines are each stage's cost. BENCH_LUA_PATH puts a patched copy of a module first.
-- With STAGE (read, map, validate, encode), runs that one and prints key=value.
package.path = (os.getenv("BENCH_LUA_PATH") or "") .. "bench/?.lua;lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("KIVA_BUILD") or "build") .. "/?.so;" .. package.cpath

local util = require "util"
local kiva = require "kiva"
local mapping = require "kiva.mapping"
local source = require "kiva.source"
local cjson = require "cjson"

local kind, input, only = arg[1], arg[2], arg[3]
local mapping_path = kind == "loans" and "bench/mapping_loans.lua" or "bench/mapping_repayments.lua"
local config = cjson.decode(assert(util.read("bench/config.json")))
local m = assert(mapping.load(mapping_path))
local payload_kind = kind == "loans" and "loan_draft" or "repayments"

local function run(stage)
  collectgarbage()
  local t0 = os.clock()
  local n = 0
  if stage == "read" then
    for row in source.rows(input, m.source) do if row then n = n + 1 end end
  else
    local ctx = mapping.context({ fetch = function(name) return config[name] end })
    local batch = {}
    local function body(p)
      if kind == "loans" then return p end
      batch[#batch + 1] = p
      if #batch < 250 then return nil end
      local b = { repayments = batch }
      batch = {}
      return b
    end
    for it in mapping.items(m, kind, input, { ctx = ctx }) do
      n = n + 1
      if stage ~= "map" and it.payload then
        local b = body(it.payload)
        if b then
          assert(kiva.validate(payload_kind, b))
          if stage == "encode" then assert(kiva.encode(payload_kind, b, { validate = false })) end
        end
      end
    end
  end
  local s = os.clock() - t0
  if only then
    io.write(string.format("stage=%s items=%d cpu_seconds=%.4f\n", stage, n, s))
  else
    io.write(string.format("%-8s %8d items %7.3f s cpu %9.0f /s\n", stage, n, s, n / s))
  end
end

for _, stage in ipairs(only and { only } or { "read", "map", "validate", "encode" }) do run(stage) end
