-- Bench mapping: borrower rows of the generated export (bench/gen.lua) to Kiva loan drafts.
-- One row per borrower; rows sharing GroupNo form a group loan. The 12-installment
-- schedule is computed here, in whole cents, as for an MIS export without a schedule table.
local map = require "kiva.map"

local function cents(s)
  local v = map.amount(s, { decimal = "," })
  return v and math.floor(v * 100 + 0.5)
end

--- n monthly installments from the month after `disbursed` ("YYYY-MM-DD"; days in the
-- export are at most 28): equal principal, flat interest, the remainder on the last.
local function schedule(total, rate_cents, n, disbursed)
  local y, m, d = disbursed:match("^(%d+)-(%d+)-(%d+)$")
  y, m = tonumber(y), tonumber(m) - 1
  local out = {}
  local each = total // n
  local interest = (total * rate_cents) // (100 * 100 * n)
  for k = 1, n do
    local months = m + k
    local principal = (k == n) and (total - each * (n - 1)) or each
    out[k] = {
      date = string.format("%04d-%02d-%s", y + months // 12, months % 12 + 1, d),
      principal = principal / 100,
      interest = interest / 100,
    }
  end
  return out
end

return {
  source = { delimiter = ";" },
  group_by = "GroupNo",
  loan_draft = function(rows, ctx)
    local first = rows[1]
    local entreps, total = {}, 0
    for i, row in ipairs(rows) do
      local amount = cents(row.Amount)
      total = total + (amount or 0)
      local first_name = map.trim(row.FirstName)
      entreps[i] = {
        client_id = map.trim(row.ClientNo),
        loan_id = map.trim(row.LoanNo),
        first_name = first_name,
        last_name = map.trim(row.LastName),
        gender = map.gender(row.Gender),
        amount = amount and amount / 100,
      }
    end
    local disbursed = map.date(first.Disbursed, "dd/mm/yyyy")
    local rate = cents(first.Rate)
    local theme = map.trim(first.Theme)
    local draft = {
      activity_id = ctx.activity(first.Activity),
      description_language_id = ctx.language(first.Language),
      theme_type_id = theme and ctx.theme(theme) or nil,
      location = ctx.location(first.Location),
      currency = map.trim(first.Currency),
      disburse_time = disbursed,
      client_waiver_signed = map.trim(first.Waiver) == "oui",
      loanuse = map.trim(first.Use),
      description = map.trim(first.Story),
      entreps = entreps,
      schedule = (disbursed and rate) and schedule(total, rate, tonumber(first.Installments) or 12, disbursed) or nil,
    }
    if map.trim(first.GroupNo) then
      draft.group_name = map.trim(first.GroupName)
      draft.internal_loan_id = first.GroupNo
      draft.internal_client_id = "GC" .. first.GroupNo:sub(2)
      local not_pictured = {}
      for i = 1, #rows do not_pictured[i] = false end
      draft.not_pictured = not_pictured
    end
    return draft
  end,
}
