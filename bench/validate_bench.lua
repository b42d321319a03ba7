-- Validation and encoding throughput of loan drafts with a 12-installment schedule.
--   lua5.4 bench/validate_bench.lua [SECONDS]     (from the checkout, after `make`)
-- Prints "bench validate_drafts <n> drafts/s" and "bench encode_drafts <n> drafts/s".
local root = (arg and arg[0] or ""):match("^(.*)/bench/[^/]*$") or "."
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = root .. "/" .. (os.getenv("KIVA_BUILD") or "build") .. "/?.so;" .. package.cpath

local kiva = require "kiva"
local core = require "kiva.core"
local seconds = tonumber(arg and arg[1]) or 2

local function draft(i)
  local d = {
    activity_id = 120, description_language_id = 1, location = "Cebu City, Cebu",
    currency = "PHP", disburse_time = "2024-01-10", client_waiver_signed = true,
    loanuse = "to buy rice and canned goods to sell in her sari-sari store",
    description = "Maria runs a store.\nShe has three children.",
    entreps = { { client_id = "C-" .. i, loan_id = "L-" .. i, first_name = "María", last_name = "Santos",
                  gender = "female", amount = 12000.6 } },
    schedule = {},
  }
  for m = 1, 12 do
    d.schedule[m] = { date = ("2024-%02d-15"):format(m + 0 == 1 and 2 or m), principal = 1000.05, interest = 20.5 }
  end
  d.schedule[1].date = "2024-01-15"
  return d
end

local function rate(fn)
  local clock = core.monotonic or os.clock
  local drafts = {}
  for i = 1, 100 do drafts[i] = draft(i) end
  local n, start = 0, clock()
  repeat
    for i = 1, 100 do assert(fn(drafts[i])) end
    n = n + 100
  until clock() - start >= seconds
  return math.floor(n / (clock() - start))
end

assert(kiva.validate("loan_draft", draft(1)))
print(("bench validate_drafts %d drafts/s"):format(rate(function(d) return kiva.validate("loan_draft", d) end)))
print(("bench encode_drafts %d drafts/s"):format(
  rate(function(d) return kiva.encode("loan_draft", d, { validate = false }) end)))
