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
local compiled = {}

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

--- The exact JSON sent for a value of `kind`: keys in byte order, arrays stay arrays
-- even when empty, integers as integers, amounts as their shortest exact decimal.
-- The value is validated first unless `opts.validate == false`; warnings do not stop
-- it (a partial draft is sent), errors do (with `opts.strict`, warnings too).
-- @return string | nil, err  err = { kind = "validation", message, errors } or { kind = "input", message, code }
function M.encode(kind, value, opts)
  local schema = M.compiled(kind)
  if not (opts and opts.validate == false) then
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
