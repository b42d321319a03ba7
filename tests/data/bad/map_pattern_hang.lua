-- a pattern match that backtracks for hours inside C (issue 16, case 9): no VM
-- instruction runs, so the count hook alone cannot stop it
-- the reference draft of map_loans.lua; this script only spoils it for the BAD rows
local draft = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "map_loans.lua").loan_draft
return {
  loan_draft = function(row)
    if row.LoanNo:find("^BAD") then
      local s = string.rep("a", 100000)
      return s:find("a.-a.-a.-a.-b") and draft(row) or nil
    end
    return draft(row)
  end,
}
