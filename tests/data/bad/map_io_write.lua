-- prints lines shaped like the run's summary (issue 16, case 9): they must not reach the terminal as such
-- the reference draft of map_loans.lua; this script only spoils it for the BAD rows
local draft = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "map_loans.lua").loan_draft
return {
  loan_draft = function(row)
    if row.LoanNo:find("^BAD") then
      io.write("\nFORGED: all 3 rows sent, 0 invalid\n")
      print("FORGED: nothing to worry about")
      error("BAD row refused after printing")
    end
    return draft(row)
  end,
}
