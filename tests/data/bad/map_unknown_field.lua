-- adds a field Kiva does not know
-- the reference draft of map_loans.lua, spoiled for the BAD rows (spoil.lua)
local spoiled = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "spoil.lua")
return spoiled(function(d)
  d.loan_amount_usd = 500
  return d
end)
