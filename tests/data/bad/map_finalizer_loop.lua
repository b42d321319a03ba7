-- a finalizer that never returns (issue 16, case 9): Lua runs __gc with hooks off
-- the reference draft of map_loans.lua; this script only spoils it for the BAD rows
local draft = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "map_loans.lua").loan_draft
return {
  loan_draft = function(row)
    if row.LoanNo:find("^BAD") then
      setmetatable({}, { __gc = function() while true do end end })
      collectgarbage()
    end
    return draft(row)
  end,
}
