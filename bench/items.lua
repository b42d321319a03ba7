-- kiva.mapping.items against its floor, in one process (issue 12, the read + map stage):
--   lua5.4 bench/items.lua repayments|loans INPUT [rows|fn|items]
-- rows: kiva.source.rows alone; fn: rows and the mapping's repayment function called
-- directly (repayments only); items: kiva.mapping.items (the default). Prints the
-- stage, the items and the CPU seconds of the loop. Mappings: bench/mapping_export.lua
-- (repayments, bench/gen.lua export) and bench/mapping_loans.lua (bench/gen.lua loans).
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("KIVA_BUILD") or "build") .. "/?.so;" .. package.cpath
local mapping = require "kiva.mapping"
local source = require "kiva.source"
local cjson = require "cjson"

local kind, input, stage = arg[1], arg[2], arg[3] or "items"
local mapping_path = kind == "loans" and "bench/mapping_loans.lua" or "bench/mapping_export.lua"
local f = assert(io.open("bench/config.json"))
local config = cjson.decode(f:read("a"))
f:close()
local m = assert(mapping.load(mapping_path))
local ctx = mapping.context({ fetch = function(name) return config[name] end })
collectgarbage()
local t0 = os.clock()
local n = 0
if stage == "rows" then
  for row in source.rows(input, m.source) do if row then n = n + 1 end end
elseif stage == "fn" then
  local fn = assert(m.repayment, "fn: repayments only")
  for row in source.rows(input, m.source) do
    if row and fn(row, ctx) then n = n + 1 end
  end
else
  for item in assert(mapping.items(m, kind, input, { ctx = ctx })) do
    if item.payload then n = n + 1 end
  end
end
io.write(string.format("stage=%s items=%d cpu_seconds=%.3f\n", stage, n, os.clock() - t0))
