-- Test mapping: one individual loan draft per row, ids given directly (no lookups).
return {
  loan_draft = function(row)
    return {
      activity_id = 120,
      description_language_id = 1,
      currency = "PHP",
      disburse_time = "2026-10-01",
      client_waiver_signed = true,
      loanuse = "to buy stock for her shop",
      description = "Borrower " .. row.Name .. " runs a small shop.",
      entreps = { {
        client_id = row.Client, loan_id = row.Loan, first_name = row.Name, last_name = "Test",
        gender = "female", amount = tonumber(row.Amount),
      } },
      schedule = {
        { date = "2026-11-01", principal = tonumber(row.Amount) / 2, interest = 10 },
        { date = "2026-12-01", principal = tonumber(row.Amount) / 2, interest = 10 },
      },
    }
  end,
  journal = function(row)
    return { internal_loan_id = row.Loan, internal_client_id = row.Client,
      subject = "Update on " .. row.Name, body = row.Name .. " has expanded her shop." }
  end,
}
