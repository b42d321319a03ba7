-- Reading throughput of kiva.source.rows on a generated CSV (a French ';' export
-- with quoted fields and decimal commas). Prints one line for bench/run.lua:
--   bench csv_rows <n> rows/s
-- usage: lua5.4 bench/read_bench.lua [ROWS]   (from the checkout, after make)
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("KIVA_BUILD") or "build") .. "/?.so;" .. package.cpath
local source = require "kiva.source"
local core = require "kiva.core"

local rows = tonumber(arg[1]) or 200000
local path = os.tmpname()
local f = assert(io.open(path, "wb"))
f:write("N° Prêt;Nom;Sexe;Montant;Date;Objet\r\n")
local chunk = {}
for i = 1, rows do
  chunk[#chunk + 1] = string.format('P-%06d;Awa Traoré %d;F;%d %03d,50;05/03/2024;"Acheter du riz; et de l\'huile"\r\n',
    i, i, i % 900 + 1, i % 1000)
  if #chunk == 1000 then f:write(table.concat(chunk)) chunk = {} end
end
f:write(table.concat(chunk))
f:close()

local n = 0
local t0 = core.monotonic()
for row in assert(source.rows(path, { format = "csv" })) do
  if row then n = n + 1 end
end
local elapsed = core.monotonic() - t0
os.remove(path)
assert(n == rows, "read " .. n .. " rows of " .. rows)
print(string.format("bench csv_rows %d rows/s", math.floor(n / elapsed)))
