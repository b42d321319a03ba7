-- The period's repayments, summed per loan by SQL (Kiva wants one line per loan).
local map = require "kiva.map"

return {
  source = {
    driver = "sqlite3",
    query = [[
      SELECT p.loan_no, l.client_no, SUM(p.amount) AS paid
      FROM payments p JOIN loans l ON l.loan_no = p.loan_no
      WHERE p.paid_on BETWEEN '2024-02-01' AND '2024-02-29'
      GROUP BY p.loan_no, l.client_no
      ORDER BY p.loan_no]],
  },

  repayment = function(row)
    return { loan_id = row.loan_no, client_id = row.client_no, amount = map.amount(row.paid) }
  end,
}
