-- Loan drafts read straight from the MIS database with SQL. The query returns
-- one row per installment; group_by gathers a loan's rows, so loan_draft gets
-- the loan's details on every row and its schedule from the rows together.
-- (group_by groups any rows: here a "group" is one borrower's loan.)
local map = require "kiva.map"

return {
  source = {
    driver = "sqlite3",
    query = [[
      SELECT l.loan_no, l.client_no, c.first_name, c.last_name, c.sex, l.amount, l.currency,
             l.disbursed_on, l.activity, l.town, l.purpose, l.story,
             i.due_on, i.principal, i.interest
      FROM loans l
      JOIN clients c ON c.client_no = l.client_no
      JOIN installments i ON i.loan_no = l.loan_no
      WHERE l.status = 'approved'
      ORDER BY l.loan_no, i.due_on]],
  },
  group_by = "loan_no",

  loan_draft = function(rows, ctx)
    local loan = rows[1]
    local schedule = {}
    for i, r in ipairs(rows) do
      schedule[i] = { date = map.date(r.due_on), principal = map.amount(r.principal),
                      interest = map.amount(r.interest) }
    end
    return {
      activity_id = ctx.activity(loan.activity),
      description_language_id = ctx.language("Spanish"),
      location = ctx.location(loan.town),
      currency = loan.currency,
      disburse_time = map.date(loan.disbursed_on, "yyyy-mm-dd"),
      client_waiver_signed = true,
      loanuse = map.trim(loan.purpose),
      description = map.trim(loan.story),
      entreps = { {
        client_id = loan.client_no,
        loan_id = loan.loan_no,
        first_name = loan.first_name,
        last_name = loan.last_name,
        gender = map.gender(loan.sex),
        amount = map.amount(loan.amount),
      } },
      schedule = schedule,
    }
  end,
}
