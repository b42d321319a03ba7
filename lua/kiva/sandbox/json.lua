-- JSON for the sandbox's answers and state: lua-cjson does the scalars and flat
-- records (fast, in C), this file only adds what Debian's cjson 2.1.0 lacks: an
-- empty list must encode as [] (problems, warnings, keys), so lists are marked.
local cjson = require "cjson.safe"

local M = {}

local ARRAY = { __name = "kiva.sandbox.json.array" }

--- Marks `t` (default a new table) as a JSON array, so that it encodes as [] when empty.
function M.array(t)
  return setmetatable(t or {}, ARRAY)
end

function M.is_array(t)
  return getmetatable(t) == ARRAY
end

local encode

local function has_table_field(t)
  for _, v in pairs(t) do
    if type(v) == "table" then return true end
  end
  return false
end

function encode(v, out)
  if type(v) ~= "table" then
    out[#out + 1] = assert(cjson.encode(v))
    return
  end
  local n = #v
  if n == 0 and next(v) == nil then
    out[#out + 1] = getmetatable(v) == ARRAY and "[]" or "{}"
    return
  end
  if not has_table_field(v) then
    -- flat record or list of scalars: one C call
    out[#out + 1] = assert(cjson.encode(v))
    return
  end
  if n > 0 or getmetatable(v) == ARRAY then
    out[#out + 1] = "["
    for i = 1, n do
      if i > 1 then out[#out + 1] = "," end
      encode(v[i], out)
    end
    out[#out + 1] = "]"
    return
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  out[#out + 1] = "{"
  for i, k in ipairs(keys) do
    if i > 1 then out[#out + 1] = "," end
    out[#out + 1] = cjson.encode(k)
    out[#out + 1] = ":"
    encode(v[k], out)
  end
  out[#out + 1] = "}"
end

--- Encodes a Lua value; tables marked by M.array are lists.
function M.encode(v)
  local out = {}
  encode(v, out)
  return table.concat(out)
end

--- Decodes JSON text: value | nil, message.
function M.decode(s)
  return cjson.decode(s)
end

M.null = cjson.null

return M
