-- raises a non-string error value
local map = require "kiva.map"

local function draft(row)
  local amount = map.amount(row.Amount)
  return {
    activity_id = 61, description_language_id = 1, location = "Davao City, Davao del Sur, Philippines",
    currency = row.Currency, disburse_time = map.date(row.Disbursed, "dd/mm/yyyy"),
    client_waiver_signed = true, loanuse = row.Use, description = "A borrower who will " .. tostring(row.Use),
    entreps = { { client_id = map.trim(row.ClientNo), loan_id = map.trim(row.LoanNo), first_name = row.First,
      last_name = row.Last, gender = map.gender(row.Gender), amount = amount } },
    schedule = { { date = map.date(row.Due, "dd/mm/yyyy"), principal = amount, interest = 0 } },
  }
end
return {
  loan_draft = function(row)
    if row.LoanNo:find("^BAD") then
      error(setmetatable({}, { __tostring = function() error("tostring raises too") end }))
    end
    return draft(row)
  end,
}
