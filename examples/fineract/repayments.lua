-- Repayments from Fineract's "Loan Transactions Summary" report (CSV): one line
-- per loan for the period. Waivers and other non-repayment transactions are
-- skipped on purpose.
local map = require "kiva.map"

return {
  repayment = function(row)
    if row["Transaction Type"] ~= "Repayment" then return nil end
    return {
      loan_id = row["Loan Account No"],
      client_id = row["Client Account No"],
      amount = map.amount(row["Total Repaid In Period"]),
      date = map.date(row["Transaction Date"], "yyyy-mm-dd"),
    }
  end,
}
