-- returns a schedule whose principal differs from the amount
-- the reference draft of map_loans.lua, spoiled for the BAD rows (spoil.lua)
local spoiled = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "spoil.lua")
return spoiled(function(d)
  d.schedule[1].principal = 499
  return d
end)
