local map = require "kiva.map"
return {
  journal = function(row)
    return { internal_loan_id = map.trim(row.LoanNo), internal_client_id = map.trim(row.ClientNo),
      subject = map.trim(row.Subject), body = map.trim(row.Body) }
  end,
}
