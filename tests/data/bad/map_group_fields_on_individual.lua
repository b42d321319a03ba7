-- puts group-only fields on an individual loan
-- the reference draft of map_loans.lua, spoiled for the BAD rows (spoil.lua)
local spoiled = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "spoil.lua")
return spoiled(function(d)
  d.group_name = "Group"
  d.not_pictured = { true, false }
  return d
end)
