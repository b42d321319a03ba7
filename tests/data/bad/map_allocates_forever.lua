-- allocates in a loop (issue 16, case 9: reached 4 GB): the memory cap must stop this row
-- the reference draft of map_loans.lua; this script only spoils it for the BAD rows
local draft = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "map_loans.lua").loan_draft
return {
  loan_draft = function(row)
    if row.LoanNo:find("^BAD") then
      local hoard = {}
      while true do hoard[#hoard + 1] = string.rep("x", 1000) .. #hoard end
    end
    return draft(row)
  end,
}
