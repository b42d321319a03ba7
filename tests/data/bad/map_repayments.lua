local map = require "kiva.map"
return {
  repayment = function(row)
    return { loan_id = map.trim(row.LoanNo), client_id = map.trim(row.ClientNo), amount = map.amount(row.Paid) }
  end,
}
