--- kiva.json: the one JSON writer for what kiva prints or stores (reports, ledger
-- and run store, CLI output, the sandbox's answers and state).
--
-- lua-cjson does the scalars (in C); this module adds what Debian's cjson 2.1.0
-- lacks: an empty list written as [] (cjson has no array_mt, so lists are marked
-- with M.array), "/" left as it is (cjson writes "\/", valid but it garbles paths
-- and URLs for a person reading them) and object keys in byte order, so equal
-- values give equal text in every run. Payloads sent to Kiva are encoded by the
-- schema-driven C encoder (kiva.encode), not here.
local cjson = require "cjson.safe"

local M = {}

local ARRAY = { __name = "kiva.json.array" }

--- Marks `t` (default a new table) as a JSON array, so that it is written [] when empty.
-- @return t
function M.array(t)
  return setmetatable(t or {}, ARRAY)
end

--- Whether `t` was marked by M.array.
function M.is_array(t)
  return getmetatable(t) == ARRAY
end

M.null = cjson.null

--- Decodes JSON text. @return value | nil, message
function M.decode(text)
  return cjson.decode(text)
end

-- A scalar as cjson writes it, "\/" put back to "/": in cjson's output "\/" can only
-- be that escape, since every "/" is escaped and a backslash is written "\\".
local function scalar(v)
  if math.type(v) == "integer" then return tostring(v) end
  local text, err = cjson.encode(v)
  if not text then error("kiva.json: cannot encode " .. tostring(v) .. ": " .. tostring(err), 0) end
  if type(v) == "string" and text:find("/", 1, true) then text = text:gsub("\\/", "/") end
  return text
end

-- Object keys as JSON text, `"key":` and `,"key":` ready: records repeat a few names
-- many times. Bounded, so that data used as keys cannot grow it without end.
local first_key, next_key, key_count = {}, {}, 0
local KEY_CACHE = 4096

local function key_of(k, first)
  local text = (first and first_key or next_key)[k]
  if text then return text end
  local bare = scalar(k) .. ":"
  if key_count < KEY_CACHE then
    first_key[k], next_key[k] = bare, "," .. bare
    key_count = key_count + 1
  end
  return first and bare or "," .. bare
end

-- n when `t` is a list (marked, or keys exactly 1..n with n > 0), else nil.
local function list_length(t)
  local n = #t
  if getmetatable(t) == ARRAY then return n end
  if n == 0 then return nil end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n and n or nil
end

local write

local function write_list(t, n, out, depth)
  out[#out + 1] = "["
  for i = 1, n do
    if i > 1 then out[#out + 1] = "," end
    write(t[i], out, depth)
  end
  out[#out + 1] = "]"
end

local function write_object(t, out, depth)
  local keys = {}
  for k in pairs(t) do
    local tk = type(k)
    if tk ~= "string" and tk ~= "number" then
      error("kiva.json: cannot encode a " .. tk .. " key", 0)
    end
    keys[#keys + 1] = tk == "string" and k or tostring(k)
  end
  table.sort(keys)
  out[#out + 1] = "{"
  for i, k in ipairs(keys) do
    out[#out + 1] = key_of(k, i == 1)
    local v = t[k]
    if v == nil then v = t[tonumber(k)] end
    if type(v) == "table" then write(v, out, depth) else out[#out + 1] = scalar(v) end
  end
  out[#out + 1] = "}"
end

-- Deeper than this is a cycle or a programming error, not data we write.
local MAX_DEPTH = 1000

function write(v, out, depth)
  if type(v) ~= "table" then
    out[#out + 1] = scalar(v)
    return
  end
  if depth >= MAX_DEPTH then error("kiva.json: nested deeper than " .. MAX_DEPTH .. " (a cycle?)", 0) end
  local n = list_length(v)
  if n then
    write_list(v, n, out, depth + 1)
  else
    write_object(v, out, depth + 1)
  end
end

--- `v` as JSON text: tables marked by M.array and tables keyed exactly 1..n are
-- lists, other tables objects (keys sorted), M.null is null. Raises for what JSON
-- cannot hold (a function, NaN, a cycle): that is a programming error, not input.
function M.encode(v)
  local out = {}
  write(v, out, 0)
  return table.concat(out)
end

return M
