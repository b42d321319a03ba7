--- kiva.reconcile: does the MIS repayment export cover every loan Kiva expects?
-- Kiva expects a repayment line for every loan in `payingBack` or `defaulted`; a
-- line for any other loan is refused. This compares the two sides before sending:
-- loans Kiva expects that the export lacks, repayments for loans Kiva does not
-- expect, and amounts above the loan's local price. No printing; the CLI renders.
local push = require "kiva.push"

local M = {}

M.EXPECTED = { "payingBack", "defaulted" }

--- Runs the comparison. opts: mapping, input, client, csv_format, items (optional,
-- already mapped). @return result (kiva.push's result shape plus `findings`
-- = [ {problem, loan_id, client_id, where, status, amount, loan_local_price, message} ])
function M.run(opts)
  local result = push.run({ kind = "repayments", mapping = opts.mapping, input = opts.input, client = opts.client,
    csv_format = opts.csv_format, validate_only = true, items = opts.items, partner_id = opts.partner_id,
    period = opts.period, command = "reconcile" })
  result.findings = {}
  if result.fatal then return result end

  local expected, order = {}, {}
  for _, status in ipairs(M.EXPECTED) do
    -- Driven by hand rather than by `for`, so a failed page (the pager's `err`,
    -- or an error the iterator yields) is seen instead of silently ending the loop.
    local f, s, c = opts.client:loans({ status = status })
    while true do
      local loan, err = f(s, c)
      c = loan
      if not loan then
        err = err or (type(s) == "table" and s.err) or nil
        if err then
          result.fatal = err
          return result
        end
        break
      end
      local id = tostring(loan.internal_loan_id or loan.internalLoanId or "")
      if id ~= "" and not expected[id] then
        expected[id] = loan
        order[#order + 1] = id
      end
    end
  end
  result.expected = #order

  local function add(f)
    result.findings[#result.findings + 1] = f
  end
  local reported = {}
  for _, e in ipairs(result.items) do
    if e.status == "valid" then
      local r = e.value
      local id = tostring(r.loan_id)
      reported[id] = true
      local loan = expected[id]
      if not loan then
        add({ problem = "not_expected", loan_id = id, client_id = r.client_id, where = e.where, amount = r.amount,
          message = "Kiva does not expect repayments for this loan (not payingBack or defaulted): "
            .. "it would be refused" })
      else
        local price = tonumber(loan.loan_local_price or loan.loanLocalPrice)
        if price and tonumber(r.amount) and tonumber(r.amount) > price then
          add({ problem = "amount_above_price", loan_id = id, client_id = r.client_id, where = e.where,
            amount = r.amount, loan_local_price = price,
            message = string.format("amount %s is above the loan's local price %s",
              tostring(r.amount), tostring(price)) })
        end
        local kiva_client = loan.internal_client_id or loan.internalClientId
        if r.client_id and kiva_client and tostring(kiva_client) ~= tostring(r.client_id) then
          add({ problem = "client_mismatch", loan_id = id, client_id = r.client_id, where = e.where,
            message = "Kiva knows this loan under client " .. tostring(kiva_client) })
        end
      end
    end
  end
  for _, id in ipairs(order) do
    if not reported[id] then
      local loan = expected[id]
      add({ problem = "missing", loan_id = id, client_id = loan.internal_client_id or loan.internalClientId,
        status = loan.status, message = "Kiva expects a repayment line for this " .. tostring(loan.status)
          .. " loan; the export has none" })
    end
  end
  return result
end

--- Exit status: 0 when the export and Kiva agree, 1 on any finding or invalid row.
function M.exit_code(result)
  if result.fatal then return push.exit_code(result) end
  if #result.findings > 0 or result.counts.invalid > 0 then return 1 end
  return 0
end

--- The findings as an aligned text table.
function M.table(result)
  local rows = { { "problem", "loan_id", "client_id", "where", "amount", "detail" } }
  local printable = require("kiva.text").printable
  for _, f in ipairs(result.findings or {}) do
    rows[#rows + 1] = { f.problem, printable(f.loan_id), printable(f.client_id), printable(f.where),
      f.amount and tostring(f.amount) or "", printable(f.message) }
  end
  local widths = {}
  for _, r in ipairs(rows) do
    for i, c in ipairs(r) do widths[i] = math.max(widths[i] or 0, utf8.len(tostring(c)) or #tostring(c)) end
  end
  local out = {}
  for _, r in ipairs(rows) do
    local cells = {}
    for i, c in ipairs(r) do
      c = tostring(c)
      cells[i] = i < #r and (c .. string.rep(" ", widths[i] - (utf8.len(c) or #c))) or c
    end
    out[#out + 1] = table.concat(cells, "  ")
  end
  return table.concat(out, "\n") .. "\n"
end

return M
