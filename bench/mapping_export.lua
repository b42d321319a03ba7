-- Bench mapping for the export users measure (bench/gen.lua export): the same three
-- columns whatever the export's width.
local map = require "kiva.map"

return {
  repayment = function(row)
    return {
      loan_id = map.trim(row.LoanNo),
      client_id = map.trim(row.ClientNo),
      amount = map.amount(row.AmountPaid),
    }
  end,
}
