-- returns a fractional activity id
-- the reference draft of map_loans.lua, spoiled for the BAD rows (spoil.lua)
local spoiled = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "spoil.lua")
return spoiled(function(d)
  d.activity_id = 61.5
  return d
end)
