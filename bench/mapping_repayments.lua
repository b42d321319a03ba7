-- Bench mapping: repayment rows of the generated export (bench/gen.lua) to Kiva repayments.
-- Shaped like a partner's mapping script (see interface.md "Mapping scripts").
local map = require "kiva.map"

return {
  source = { delimiter = ";" },
  repayment = function(row)
    return {
      loan_id = map.trim(row.LoanNo),
      client_id = map.trim(row.ClientNo),
      amount = map.amount(row.Paid, { decimal = "," }),
    }
  end,
}
