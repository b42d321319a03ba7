-- The month's repayments from the same MIS (Windows-1252, ";", decimal commas).
-- A line with nothing paid is skipped on purpose (Kiva wants amounts above 0).
local map = require "kiva.map"

return {
  source = { delimiter = ";", encoding = "windows-1252" },

  repayment = function(row)
    local amount = map.amount(row["Montant payé"])
    if amount == 0 then return nil end
    return { loan_id = row["N° Prêt"], client_id = row["N° Client"], amount = amount,
      date = map.date(row["Date paiement"], "jj/mm/aaaa") }
  end,
}
