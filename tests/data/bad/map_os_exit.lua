-- ends the whole run from inside the mapping (issue 16, case 9): must be refused for this row only
-- the reference draft of map_loans.lua; this script only spoils it for the BAD rows
local draft = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "map_loans.lua").loan_draft
return {
  loan_draft = function(row)
    if row.LoanNo:find("^BAD") then os.exit(0) end
    return draft(row)
  end,
}
