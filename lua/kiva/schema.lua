--- kiva.schema: validation and canonical encoding of Partner API request bodies.
-- The JSON Schemas ship as lua/kiva/schemas/<kind>.json next to this module; each is
-- compiled once per Lua state by the C core (kiva.core.schema_compile), which also
-- carries Kiva's rules beyond JSON Schema and the canonical encoder.
local cjson = require "cjson"
local core = require "kiva.core"

local M = {}

M.kinds = {}
for i, kind in ipairs(require("kiva.contract").KIND_ORDER) do
  M.kinds[i] = require("kiva.contract").KINDS[kind].payload
end
local known = { loan_draft = true, repayments = true, journals = true }
local compiled, list_bounds = {}, {}
local WRAP = {}   -- payload kind -> the member its body lists items in (kiva.contract)
for _, spec in pairs(require("kiva.contract").KINDS) do WRAP[spec.payload] = spec.wrap end

local function schema_path(kind)
  local path = package.path:gsub("%.lua", ".json")
  return package.searchpath("kiva.schemas." .. kind, path)
end

local function check_kind(kind)
  if not known[kind] then
    error(("kiva.schema: unknown kind %q (expected loan_draft, repayments or journals)"):format(tostring(kind)), 3)
  end
end

--- The compiled schema of `kind`. A missing or broken schema file is an installation
-- problem, so it raises.
function M.compiled(kind)
  check_kind(kind)
  local c = compiled[kind]
  if c then return c end
  local path, where = schema_path(kind)
  if not path then error("kiva.schema: schema file not found:" .. where, 2) end
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  local ok, decoded = pcall(cjson.decode, text)
  if not ok then error(("kiva.schema: %s is not JSON: %s"):format(path, decoded), 2) end
  local schema, msg, code = core.schema_compile(decoded)
  if not schema then error(("kiva.schema: %s: %s (%s)"):format(path, msg, code), 2) end
  compiled[kind] = schema
  -- a list body's own bounds, which an item-by-item check does not see
  local list = WRAP[kind] and type(decoded.properties) == "table" and decoded.properties[WRAP[kind]] or nil
  if type(list) == "table" then
    list_bounds[kind] = { min = list.minItems or 0, max = list.maxItems or math.huge }
  end
  return schema
end

local function core_opts(kind, opts)
  opts = opts or {}
  return { kind = kind, csv_format = opts.csv_format or "three", currency = opts.currency,
    strict = opts.strict, today = opts.today }
end

--- Validates a request body of `kind` against its schema and Kiva's rules.
-- Errors are what Kiva refuses or what would be wrong if sent; warnings are what PA2
-- needs before publishing (a draft may leave it out) and what looks wrong but may be
-- right (a disbursal far from today, a very large amount). Both are sorted by path in
-- document order (keys as encoded, indexes by number), then message: the same every run.
-- `opts.csv_format` "two"|"three" (default "three": client ids required in repayments
-- and journals); `opts.currency` the loans' ISO 4217 code for repayment decimals;
-- `opts.strict` makes warnings errors; `opts.today` "YYYY-MM-DD" (default: today, UTC).
-- @return true, nil, warnings | nil, errors, warnings  arrays of { path = "entreps[2].amount", message = "..." }
function M.validate(kind, value, opts)
  return M.compiled(kind):validate(value, core_opts(kind, opts))
end

-- Checkers (compiled:checker) per kind and options, made again when the UTC day
-- changes: Kiva's rules compare dates with today.
local checkers, checkers_day = {}, nil

local function checker_for(kind, opts)
  local today = opts and opts.today
  local day = today or os.date("!%Y-%m-%d")
  if not today and day ~= checkers_day then checkers, checkers_day = {}, day end
  local o = core_opts(kind, opts)
  local key = table.concat({ kind, o.csv_format, tostring(o.currency), tostring(o.strict and true), day }, "|")
  local c = checkers[key]
  if not c then
    o.wrap = WRAP[kind]
    c = M.compiled(kind):checker(o)
    checkers[key] = c
  end
  return c
end

--- The JSON of a valid body of `kind` checked item by item, or nil when it is not
-- valid (or not of the usual shape: a list body with another field): the caller then
-- validates it whole, for the errors with their paths in the body. The bytes are
-- those of compiled:encode (each item encoded as it stands in its body).
function M.checked_body(kind, value, opts)
  if type(value) ~= "table" then return nil end
  local checker = checker_for(kind, opts)
  local wrap = WRAP[kind]
  if not wrap then return (checker:check(value)) end
  local list = value[wrap]
  if type(list) ~= "table" or next(value, next(value)) ~= nil then return nil end
  local n, bounds = #list, list_bounds[kind]
  if n == 0 or next(list, n) ~= nil or not bounds or n < bounds.min or n > bounds.max then return nil end
  local parts, seen = {}, {}
  -- one line per loan (and subject, for journals) in a body: a repeat is the whole
  -- validation's to report
  local journals, three = kind == "journals", not (opts and opts.csv_format == "two")
  local first = journals and "internal_loan_id" or "loan_id"
  local second = (journals or three) and (journals and "subject" or "client_id") or nil
  -- a two-column partner's checker leaves the client id out of its bytes, which
  -- compiled:encode would write: such a body goes the whole way
  local omitted = not three and (journals and "internal_client_id" or "client_id") or nil
  for i = 1, n do
    local item = list[i]
    if type(item) ~= "table" or (omitted and item[omitted] ~= nil) then return nil end
    local json = checker:check(item)
    if not json then return nil end
    local line = tostring(item[first]) .. "\n" .. (second and tostring(item[second]) or "")
    if seen[line] then return nil end
    seen[line] = true
    parts[i] = json
  end
  return '{"' .. wrap .. '":[' .. table.concat(parts, ",") .. "]}"
end

--- The exact JSON sent for a value of `kind`: keys in byte order, arrays stay arrays
-- even when empty, integers as integers, amounts as their shortest exact decimal.
-- The value is validated first unless `opts.validate == false`; warnings do not stop
-- it (a partial draft is sent), errors do (with `opts.strict`, warnings too).
-- @return string | nil, err  err = { kind = "validation", message, errors } or { kind = "input", message, code }
function M.encode(kind, value, opts)
  local schema = M.compiled(kind)
  if not (opts and opts.validate == false) then
    -- the usual body, valid: checked and encoded in one pass per item (compiled:checker)
    local json = M.checked_body(kind, value, opts)
    if json then return json end
    -- else validated whole, for the errors with their paths in the body
    local ok, errors = schema:validate(value, core_opts(kind, opts))
    if not ok then
      local first = errors[1]
      return nil, {
        kind = "validation",
        message = ("%s is invalid: %d error(s), first: %s%s"):format(kind, #errors,
          first.path ~= "" and (first.path .. ": ") or "", first.message),
        errors = errors,
        retryable = false,
      }
    end
  end
  local json, msg, code = schema:encode(value)
  if not json then
    return nil, { kind = "input", message = msg, code = code, retryable = false }
  end
  return json
end

return M
