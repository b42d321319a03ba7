-- removes the time limit's hook, then loops (issue 16, case 9): the limit must hold
-- the reference draft of map_loans.lua; this script only spoils it for the BAD rows
local draft = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "map_loans.lua").loan_draft
return {
  loan_draft = function(row)
    if row.LoanNo:find("^BAD") then
      for _, dbg in ipairs { debug, package and package.loaded and package.loaded.debug, pcall(require, "debug") and require "debug" } do
        if type(dbg) == "table" and dbg.sethook then pcall(dbg.sethook) end
      end
      while true do pcall(function() while true do end end) end
    end
    return draft(row)
  end,
}
