-- returns an image that is not base64
-- the reference draft of map_loans.lua, spoiled for the BAD rows (spoil.lua)
local spoiled = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "spoil.lua")
return spoiled(function(d)
  d.image_encoded = "data:image/jpeg;base64,@@@not base64@@@"
  return d
end)
