--- kiva.map: helpers for mapping scripts, for what MIS exports really hold.
-- Each helper takes a string (or nil) and returns the value Kiva wants, or
-- `nil, message` when it cannot read a non-empty value. An empty or missing value
-- gives plain `nil` (no message): absence is for the validator to judge.
--
-- While kiva.mapping runs a row, a helper's failure is also recorded against the
-- row, so the row is reported and not sent even when the script wrote
-- `map.amount(x) or 0`: kiva.mapping gives each script its own set of helpers,
-- map.for_run(run), whose failures go to run.on_failure(helper, value, message)
-- and whose relative image paths resolve against run.image_base. The module's
-- own functions record nothing.
local core = require "kiva.core"

local M = {}

-- A helper's failure: the message. for_run's wrappers record it against the row.
local function fail(_, _, message)
  return nil, message
end

local function quote(s)
  s = tostring(s)
  if #s > 60 then s = s:sub(1, 57) .. "..." end
  return "'" .. s .. "'"
end

--- Trims spaces: ASCII ones and the no-break (U+00A0), narrow no-break (U+202F) and
-- thin (U+2009) spaces that spreadsheet exports put around values (inside a value
-- they become plain spaces); "" and nil give nil.
-- @return string | nil
function M.trim(s)
  if s == nil then return nil end
  if type(s) ~= "string" then s = tostring(s) end
  return core.map_trim(s)   -- in C: it runs on nearly every value of every row
end

---------------------------------------------------------------- dates

local dates = require "kiva.dates"
local days_in_month = dates.days_in_month

--- An Excel serial date as "YYYY-MM-DD" (" HH:MM:SS" added when the time is not
-- midnight). opts.date1904: the workbook uses the 1904 date system. Serial 60 of
-- the 1900 system (Excel's fictitious 1900-02-29) reads as 1900-02-28.
-- @return string | nil, message
function M.from_excel(serial, opts)
  local s = dates.from_excel(serial, opts and opts.date1904)
  if not s then return fail("from_excel", serial, "date " .. quote(serial) .. " is not an Excel serial date") end
  return s
end

local format_cache = {}

-- Format letters as partners write them: French jj/aaaa (jour, année), Spanish
-- and Portuguese dd/aaaa (día, año, ano), in either case.
local function canonical_format(fmt)
  return (fmt:lower():gsub("j", "d"):gsub("a", "y"))
end

-- Compiles "dd/mm/yyyy" into a Lua pattern and the order of its captures.
local function compile_format(fmt)
  local cached = format_cache[fmt]
  if cached then return cached end
  local canonical = canonical_format(fmt)
  local pattern, order, i = { "^" }, {}, 1
  while i <= #canonical do
    local tok = canonical:match("^yyyy", i) or canonical:match("^yy", i) or canonical:match("^mm", i)
      or canonical:match("^m", i) or canonical:match("^dd", i) or canonical:match("^d", i)
    if tok then
      local kind = tok:sub(1, 1)
      order[#order + 1] = { kind = kind, width = #tok }
      if tok == "yyyy" then pattern[#pattern + 1] = "(%d%d%d%d)"
      elseif tok == "yy" then pattern[#pattern + 1] = "(%d%d)"
      else pattern[#pattern + 1] = "(%d%d?)" end
      i = i + #tok
    else
      local c = canonical:sub(i, i)
      if c:find("%a") then return nil end
      pattern[#pattern + 1] = c:find("%p") and ("%" .. c) or c
      i = i + 1
    end
  end
  pattern[#pattern + 1] = "$"
  cached = { pattern = table.concat(pattern), order = order }
  format_cache[fmt] = cached
  return cached
end

-- Kiva's dates are days of loans: a year outside 1900-2999 is a typo or a
-- placeholder ("00/00/0000"), never a date to send.
local function check_date(y, m, d, s, fmt)
  if y < 1900 or y > 2999 then
    return fail("date", s, "date " .. quote(s) .. ": year " .. string.format("%04d", y)
      .. " is not a plausible year (1900-2999; format " .. fmt .. ")")
  end
  if m < 1 or m > 12 then
    return fail("date", s, "date " .. quote(s) .. ": " .. m .. " is not a month (format " .. fmt .. ")")
  end
  if d < 1 or d > days_in_month(y, m) then
    return fail("date", s, "date " .. quote(s) .. ": " .. string.format("%04d-%02d", y, m)
      .. " has no day " .. d .. " (format " .. fmt .. ")")
  end
  return string.format("%04d-%02d-%02d", y, m, d)
end

--- A date as "YYYY-MM-DD". fmt: "dd/mm/yyyy", "mm/dd/yyyy", "yyyy-mm-dd", "d.m.yy"
-- ... (tokens yyyy yy mm m dd d, any separators; also jj and aaaa as French,
-- Spanish and Portuguese partners write them: "jj/mm/aaaa", "dd/mm/aaaa";
-- letters in either case), or "excel" for a serial number
-- (opts.date1904 for the 1904 system). A value already in ISO form (as .xlsx date
-- cells are read) is accepted whatever fmt says; a time after the date (" 00:00")
-- is ignored. Two-digit years are 2000-2069 or 1970-1999; years outside 1900-2999
-- are refused.
-- @return string | nil, message
function M.date(s, fmt, opts)
  s = M.trim(s)
  if s == nil then return nil end
  fmt = fmt or "yyyy-mm-dd"
  if fmt == "excel" then
    local n = tonumber((s:gsub(",", ".")))
    local iso = n and M.from_excel(n, opts)
    if not iso then return fail("date", s, "date " .. quote(s) .. " is not an Excel serial number") end
    return (iso:sub(1, 10))
  end
  -- the format is checked first, so a mapping that reads xlsx dates (ISO already)
  -- fails the same way on the CSV export of the same sheet
  local compiled = compile_format(fmt)
  if not compiled then error("kiva.map.date: unsupported format '" .. tostring(fmt) .. "'", 2) end
  local y, m, d = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[T ]?[%d:%.]*Z?$")
  if y then return check_date(tonumber(y), tonumber(m), tonumber(d), s, fmt) end
  local date_part = s:match("^(%S+)%s+%d%d?:%d%d[:%d%.]*%s*[AaPp]?[Mm]?$") or s
  local caps = { date_part:match(compiled.pattern) }
  if #caps == 0 then
    return fail("date", s, "date " .. quote(s) .. " does not match the format " .. fmt)
  end
  local parts, year_width = {}, 4
  for i, o in ipairs(compiled.order) do
    parts[o.kind] = tonumber(caps[i])
    if o.kind == "y" then year_width = o.width end
  end
  local year = parts.y
  -- only a two-digit year (yy) is expanded: "0000" under yyyy stays year 0
  if year and year_width == 2 then year = year < 70 and 2000 + year or 1900 + year end
  return check_date(year or 0, parts.m or 0, parts.d or 0, s, fmt)
end

---------------------------------------------------------------- amounts

--- An amount read exactly: "1 250,50", "1,250.50", "1.250,50", "480", "-12.5".
-- Grouping by spaces (also U+00A0, U+202F), commas, dots or apostrophes; the last
-- of "." and "," is the decimal mark when both appear. A single separator followed
-- by exactly three digits ("1,250") is ambiguous: opts.decimal ("." by default)
-- settles it. At most opts.decimals (default 2) digits after the mark.
-- Result: an integer when the amount is whole, else the float nearest to the
-- decimal, which prints back exactly (%.14g, cjson) — 1250.5, never 1250.4999.
-- @return number | nil, message
function M.amount(s, opts)
  if type(s) == "number" then s = string.format("%.15g", s) end
  s = M.trim(s)
  if s == nil then return nil end
  local max_decimals = opts and opts.decimals or 2
  -- the reading itself is in C (src/amount.c); the messages are built only on failure
  local value, why = core.map_amount(s, opts and opts.decimal or ".", max_decimals)
  if value ~= nil then return value end
  if why == "not_number" then return fail("amount", s, "amount " .. quote(s) .. " is not a number") end
  if why == "too_long" then return fail("amount", s, "amount " .. quote(s) .. " is too long to be an amount") end
  if why == "decimals" then
    return fail("amount", s, "amount " .. quote(s) .. " has more than " .. max_decimals .. " decimals")
  end
  return fail("amount", s, "amount " .. quote(s) .. " has misplaced separators")
end

---------------------------------------------------------------- gender

local GENDERS = {}
for word in ([[m male man men boy mr h homme masculin masc garcon garçon monsieur hombre masculino varon varón
  sr señor senor]]):gmatch("%S+") do GENDERS[word] = "male" end
for word in ([[f female woman women girl mrs ms miss w femme feminin féminin fem fille madame mme mlle
  mujer femenino señora senora sra]]):gmatch("%S+") do GENDERS[word] = "female" end
for word in ([[x nb nonbinary non-binary non_binary enby non-binaire nonbinaire no-binario nobinario
  no_binario]]):gmatch("%S+") do GENDERS[word] = "nonbinary" end
for word in ([[u unknown ? n/a na inconnu inconnue nc nr desconocido desconocida nd]]):gmatch("%S+") do
  GENDERS[word] = "unknown"
end

--- Gender words and letters in English, French and Spanish → "male", "female",
-- "nonbinary" or "unknown" ("F", "Femme", "Mujer", "H", "Homme", "M", "non binaire" ...).
-- @return string | nil, message
function M.gender(s)
  s = M.trim(s)
  if s == nil then return nil end
  local key = s:lower():gsub("%.$", ""):gsub("%s+", "-")
  key = key:gsub("\195\137", "\195\169")   -- É → é
  local g = GENDERS[key] or GENDERS[key:gsub("%-", "")]
  if not g then
    return fail("gender", s, "gender " .. quote(s) .. " is not a gender word (M, F, Homme, Femme, Mujer ...)")
  end
  return g
end

---------------------------------------------------------------- names

local function is_upper_word(w)
  return w:find("%u") ~= nil and not w:find("%l") and not w:find("\195[\160-\191]")
end

--- Splits a full name into first and last name. "Traoré, Awa" → "Awa", "Traoré";
-- "DIALLO Awa" (surname in capitals first) → "Awa", "DIALLO"; otherwise the first
-- word is the first name and the rest the last name. One word → word, nil.
-- @return first, last | nil
function M.split_name(s)
  s = M.trim(s)
  if s == nil then return nil end
  s = s:gsub("%s+", " ")
  local last, first = s:match("^([^,]+),%s*(.+)$")
  if last then return M.trim(first), M.trim(last) end
  local words = {}
  for w in s:gmatch("%S+") do words[#words + 1] = w end
  if #words == 1 then return words[1], nil end
  local n = 0
  while n < #words - 1 and is_upper_word(words[n + 1]) do n = n + 1 end
  if n > 0 and not is_upper_word(words[#words]) then
    return table.concat(words, " ", n + 1), table.concat(words, " ", 1, n)
  end
  return words[1], table.concat(words, " ", 2)
end

---------------------------------------------------------------- images

M.max_image_bytes = 10 * 1024 * 1024

local MAGIC = {
  { "^\255\216\255", "image/jpeg" },
  { "^\137PNG\r\n\26\n", "image/png" },
  { "^GIF8[79]a", "image/gif" },
}

--- An image file as a data URI "data:image/jpeg;base64,..." (JPEG, PNG or GIF,
-- told by the file's bytes, not its name). A relative path is looked up next to
-- the input file first (in a mapping run), then from the working directory.
-- @return string | nil, message
local function read_image(path, base)
  path = M.trim(path)
  if path == nil then return nil end
  local f
  if base and not path:find("^/") then f = io.open(base .. "/" .. path, "rb") end
  f = f or io.open(path, "rb")
  if not f then return fail("image", path, "image " .. quote(path) .. " not found") end
  local data = f:read(M.max_image_bytes + 1) or ""
  f:close()
  if #data > M.max_image_bytes then
    return fail("image", path, "image " .. quote(path) .. " is larger than " .. M.max_image_bytes .. " bytes")
  end
  for _, m in ipairs(MAGIC) do
    if data:find(m[1]) then
      return "data:" .. m[2] .. ";base64," .. core.base64_encode(data)
    end
  end
  return fail("image", path, "image " .. quote(path) .. " is not a JPEG, PNG or GIF file")
end

function M.image(path) return read_image(path, nil) end

---------------------------------------------------------------- sums

--- The exact sum of amounts (numbers, or strings read by map.amount), added in
-- minor units: `decimals` digits after the mark (default 2; 0 for XOF, 3 for
-- TND), so 0.1 + 0.2 is 0.3 and never 0.30000000000000004. Empty values (nil,
-- "") count as nothing; a value with more decimals than `decimals` fails.
-- @return number (an integer when whole) | nil, message
function M.sum(values, decimals)
  decimals = decimals or 2
  local scale, total = 10 ^ decimals, 0
  for i = 1, #values do
    local v = values[i]
    if type(v) == "string" then
      local amount, err = M.amount(v, { decimals = decimals })
      if amount == nil and err then return fail("sum", v, err) end
      v = amount
    end
    if v ~= nil then
      if type(v) ~= "number" then
        return fail("sum", v, "sum: value " .. i .. " is a " .. type(v) .. ", not an amount")
      end
      local minor = v * scale
      local whole = math.floor(minor + 0.5)
      if math.abs(minor - whole) > 1e-6 * math.max(1, math.abs(minor)) then
        return fail("sum", v, "sum: " .. string.format("%.15g", v) .. " has more than " .. decimals .. " decimals")
      end
      total = total + math.tointeger(whole)
    end
  end
  if total % math.tointeger(scale) == 0 then return total // math.tointeger(scale) end
  return total / scale
end

---------------------------------------------------------------- per run

-- The helpers whose failures a mapping run records against the row.
local RECORDED = { "date", "amount", "gender", "from_excel", "sum" }

--- The helpers a mapping script gets in a run: the module's, except that a
-- failure is also given to run.on_failure(helper, value, message) (value: the
-- helper's first argument, which names the column it came from) and map.image
-- resolves a relative path against run.image_base first.
function M.for_run(run)
  -- copied, not inherited through __index: helpers are read on every row
  local helpers = {}
  for k, v in pairs(M) do helpers[k] = v end
  -- every recorded helper takes at most three arguments: no varargs on the hot path
  for _, name in ipairs(RECORDED) do
    local helper = M[name]
    helpers[name] = function(value, a, b)
      local v, message = helper(value, a, b)
      if v == nil and message ~= nil and run.on_failure then run.on_failure(name, value, message) end
      return v, message
    end
  end
  helpers.image = function(path)
    local v, message = read_image(path, run.image_base)
    if v == nil and message ~= nil and run.on_failure then run.on_failure("image", path, message) end
    return v, message
  end
  return helpers
end

return M
