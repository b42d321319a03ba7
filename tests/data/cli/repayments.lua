-- Test mapping: one repayment per row of a plain CSV export.
return {
  repayment = function(row)
    return { loan_id = row.LoanNo, client_id = row.ClientNo, amount = tonumber(row.Paid) }
  end,
}
