-- Exercises the input side of kiva.core under valgrind (tests/valgrind.sh): the CSV
-- reader over every malformed input in tests/data/bad (both encodings, readers closed
-- and abandoned to the collector), the XLSX and JSON readers, and a validate+encode
-- loop over good and broken drafts with the schema compiler. Run from the checkout
-- root; exits 0 when every step behaved (failures are returned, never raised).
package.path = "tests/?.lua;lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("KIVA_BUILD") or "build") .. "/?.so;" .. package.cpath

local core = require "kiva.core"
local kiva = require "kiva"
local source = require "kiva.source"

local BAD = "tests/data/bad/"
-- 50 MB of XML whitespace, and a column index kiva.xlsx loops up to (a known hang):
-- minutes under valgrind, nothing more for memcheck to see
local SLOW = { ["whitespace_bomb.xlsx"] = true, ["cell_ref_beyond_xfd.xlsx"] = true }
local p = io.popen("ls " .. BAD)
local files = {}
for name in p:lines() do files[#files + 1] = name end
p:close()

local records = 0
for _, name in ipairs(files) do
  if name:find("%.csv$") then
    for _, opts in ipairs { {}, { encoding = "windows-1252" }, { delimiter = ";" } } do
      local r = core.csv_open(BAD .. name, opts)
      if r then
        for _ = 1, 10000 do
          local rec = r:next()
          if rec == nil then break end
          records = records + 1
        end
        if not opts.delimiter then r:close() end   -- the collector closes the other
      end
    end
  elseif name:find("%.xlsx$") and not SLOW[name] or name:find("%.jsonl?$") then
    local ok, it = pcall(source.rows, BAD .. name)
    if ok and it then
      for _ = 1, 10000 do
        local okr, row = pcall(it)
        if not okr or row == nil then break end
        records = records + 1
      end
    end
    local z = core.zip_open(BAD .. name)
    if z then
      for _, entry in ipairs(z:names()) do
        local e = z:open(entry)
        if e then repeat local chunk = e:read(4096) until not chunk end
      end
      -- entries and archive left to the collector
    end
  end
  collectgarbage()
end
assert(records > 100, "read only " .. records .. " records")

local function draft(i)
  return {
    activity_id = 61, description_language_id = 1, location = "Davao City, Davao del Sur, Philippines",
    currency = "PHP", disburse_time = "2024-01-15", client_waiver_signed = true, loanuse = "Buy seeds",
    description = "A borrower", entreps = { { client_id = "C" .. i, loan_id = "L" .. i, first_name = "Ana",
      last_name = "López", gender = "female", amount = 500 } },
    schedule = { { date = "2024-02-15", principal = 500, interest = 0 } },
  }
end
local valid, invalid = 0, 0
for i = 1, 300 do
  local d = draft(i)
  if i % 3 == 1 then d.entreps[1].amount = -1 end
  if i % 5 == 2 then d.disburse_time = "2024-02-30" end
  if i % 7 == 3 then d.entreps = {} end
  if i % 11 == 4 then d.schedule[1].date = 0 / 0 end
  local ok = kiva.validate("loan_draft", d)
  if ok then
    valid = valid + 1
    assert(kiva.encode("loan_draft", d))
  else
    invalid = invalid + 1
  end
  local rep = { repayments = { { loan_id = "L" .. i, client_id = "C" .. i, amount = i % 4 == 0 and -3 or 12.5 } } }
  if kiva.validate("repayments", rep) then assert(kiva.encode("repayments", rep)) end
end
assert(valid > 0 and invalid > 0, string.format("valid %d, invalid %d", valid, invalid))
for _ = 1, 20 do
  local s = core.schema_compile({ type = "object", properties = { a = { type = "string", maxLength = 3 } } })
  if s then s:validate({ a = "abcd" }) end
  core.schema_compile({ type = "object", bogus_keyword = true })
end
collectgarbage()
print(string.format("valgrind_inputs: %d records read, %d valid and %d invalid drafts", records, valid, invalid))
