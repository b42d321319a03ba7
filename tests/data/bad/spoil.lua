-- The mapping of the map_*.lua scripts of this directory that spoil one field: the
-- reference draft of map_loans.lua for every row, passed through spoil(draft, row)
-- for the BAD rows (their loan id starts with BAD), whose result is sent.
local draft = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "map_loans.lua").loan_draft
return function(spoil)
  return {
    loan_draft = function(row)
      if row.LoanNo:find("^BAD") then return spoil(draft(row), row) end
      return draft(row)
    end,
  }
end
