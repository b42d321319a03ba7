-- never returns on the bad row: a per-row time limit must stop it
-- the reference draft of map_loans.lua; this script only spoils it for the BAD rows
local draft = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "map_loans.lua").loan_draft
return {
  loan_draft = function(row)
    if row.LoanNo:find("^BAD") then
      while true do end
    end
    return draft(row)
  end,
}
