-- Loan drafts from Apache Fineract (Mifos X): the "Active Loans - Details" report
-- run as CSV, plus the "Loan Repayment Schedule" report in loan_schedule.csv.
-- Fineract writes UTF-8, "," between cells, ISO dates and "15,000.00" amounts;
-- the client name comes as "Last, First". The Kiva activity and location are
-- data-table fields the MFI added to its Fineract loans.
local map = require "kiva.map"

return {
  loan_draft = function(row, ctx)
    local first, last = map.split_name(row["Client Name"])
    local schedule = {}
    for _, s in ipairs(ctx.join("loan_schedule.csv", "Loan Account No")(row["Loan Account No"])) do
      schedule[#schedule + 1] = {
        date = map.date(s["Due Date"], "yyyy-mm-dd"),
        principal = map.amount(s["Principal Due"]),
        interest = map.amount(s["Interest Due"]),
      }
    end
    return {
      activity_id = ctx.activity(row["Kiva Activity"]),
      description_language_id = ctx.language("en"),
      location = ctx.location(row.Location),
      currency = row.Currency,
      disburse_time = map.date(row["Disbursed On Date"], "yyyy-mm-dd"),
      client_waiver_signed = true,
      loanuse = map.trim(row["Loan Purpose"]),
      description = map.trim(row["Client Story"]),
      entreps = { {
        client_id = row["Client Account No"],
        loan_id = row["Loan Account No"],
        first_name = first,
        last_name = last,
        gender = map.gender(row.Gender),
        amount = map.amount(row["Principal Amount"]),
      } },
      schedule = schedule,
    }
  end,
}
