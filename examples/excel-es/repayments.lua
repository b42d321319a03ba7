-- Repayments from pagos.xlsx: a title above the header, a loan paid in two rows
-- (one repayment, the amounts summed exactly) and a TOTAL row (not a repayment).
local map = require "kiva.map"

return {
  group_by = "N° Préstamo",

  repayment = function(rows)
    local first = rows[1]
    if first["N° Préstamo"] == "TOTAL" then return nil end
    local amounts, paid_on = {}, nil
    for i, row in ipairs(rows) do
      amounts[i] = row["Monto pagado"]
      paid_on = map.date(row["Fecha de pago"], "dd/mm/aaaa")
    end
    return { loan_id = first["N° Préstamo"], client_id = first["N° Cliente"], amount = map.sum(amounts, 2),
      date = paid_on }
  end,
}
