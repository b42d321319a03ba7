-- How the sandbox judges a loan draft, as Kiva does (../shared/kiva-partner-api.md):
-- errors are what Kiva refuses (a 400), warnings what PA2 still needs before
-- publishing or what looks wrong but may be right (a 200 that carries them).
--
-- Written apart from kiva.validate on purpose (no kiva.schema, no C core): the
-- conformance spec runs the same table against both, and a shared implementation
-- would make a test of one prove nothing about the other.
local mime = require "mime"

local M = {}

-- Decimals of the currencies a sandbox partner is likely to lend in; any other
-- well-formed code is taken at up to 3 decimals.
local DECIMALS = {
  BIF = 0, CLP = 0, GNF = 0, KMF = 0, PYG = 0, RWF = 0, UGX = 0, VND = 0, VUV = 0, XAF = 0, XOF = 0, XPF = 0,
  BHD = 3, IQD = 3, JOD = 3, KWD = 3, LYD = 3, OMR = 3, TND = 3,
}
-- Codes that are not currencies a loan is made in.
local NOT_CURRENCIES = { XAU = true, XAG = true, XDR = true, XXX = true, XTS = true, ABC = true }
-- Local units per US dollar of the sample partner's currencies (kiva.sandbox.portfolio),
-- for the "large amount" warning; other currencies are not judged.
local PER_USD = { XOF = 600, XAF = 600, COP = 4000, PEN = 3.75, UGX = 3700, KES = 130, PHP = 56, USD = 1 }
local LARGE_USD = 10000
local AHEAD_DAYS, BEHIND_DAYS = 30, 365

local GENDERS = { male = true, female = true, nonbinary = true, unknown = true }
local GROUP_ONLY = { "group_name", "internal_client_id", "internal_loan_id", "not_pictured" }
-- field → its JSON type, and what PA2 needs before publishing (warning code)
local FIELDS = {
  activity_id = { type = "id", publish = "missing_activity" },
  description_language_id = { type = "id" },
  theme_type_id = { type = "id" },
  location = { type = "text", publish = "missing_location" },
  currency = { type = "text", publish = "missing_currency" },
  disburse_time = { type = "text", publish = "missing_disburse_time" },
  client_waiver_signed = { type = "boolean" },
  loanuse = { type = "text", publish = "missing_loanuse" },
  description = { type = "text", publish = "missing_description" },
  image_encoded = { type = "text", publish = "missing_image" },
  image_url = { type = "text" },   -- deprecated, still read
  group_name = { type = "text" },
  internal_client_id = { type = "text" },
  internal_loan_id = { type = "text" },
  not_pictured = { type = "list" },
  entreps = { type = "list" },
  schedule = { type = "list", publish = "missing_schedule" },
}
local PUBLISH_MESSAGE = {
  missing_activity = "PA2 needs an activity (and so a sector) before publishing",
  missing_location = "PA2 needs the borrower's location before publishing",
  missing_currency = "PA2 needs the loan's currency before publishing",
  missing_disburse_time = "PA2 needs the disbursal date before publishing",
  missing_loanuse = "PA2 needs the loan use before publishing",
  missing_description = "PA2 needs a borrower description before publishing",
  missing_image = "PA2 needs a borrower image before publishing",
  missing_schedule = "PA2 needs the repayment schedule before publishing",
}
local IMAGE_MAGIC = { jpeg = "\255\216\255", png = "\137PNG\r\n\26\n", gif = "GIF8" }

--- True when t is a JSON array: a table whose keys are exactly 1..n.
function M.is_list(t)
  if type(t) ~= "table" then return false end
  local n = #t
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
  end
  return true
end

--- True when v is a string with something other than spaces.
function M.text(v) return type(v) == "string" and v:match("%S") ~= nil end

local is_list, text = M.is_list, M.text

-- Days since 1970-01-01 of a real YYYY-MM-DD date, or nil (days_from_civil: no
-- os.time, so no time zone or DST in the count).
local function day_number(s)
  if type(s) ~= "string" then return nil end
  local y, m, d = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
  if not y then return nil end
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  local leap = (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0
  local days_in = ({ 31, leap and 29 or 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 })[m]
  if y < 1 or not days_in or d < 1 or d > days_in then return nil end
  if m <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * (m > 2 and m - 3 or m + 9) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

local function positive_id(v)
  return type(v) == "number" and v % 1 == 0 and v >= 1
end

local function decimals_of(n)
  local s = string.format("%.15g", n)
  local frac = s:match("%.(%d+)$")
  return frac and #frac or 0
end

local function fmt(n)
  return math.type(n) == "integer" and tostring(n) or string.format("%.15g", n)
end

-- One judgement of a draft: its findings so far, and what the checks share (the
-- currency's decimals, the disbursal day).
local Judgement = {}
Judgement.__index = Judgement

function Judgement:err(path, message)
  self.errors[#self.errors + 1] = { path = path, message = message }
end

function Judgement:warn(code, path, message)
  self.warnings[#self.warnings + 1] = { code = code, path = path, message = message }
end

-- Each field's type, and what PA2 needs before publishing.
function Judgement:fields(draft)
  for k, v in pairs(draft) do
    local f = FIELDS[k]
    if not f then
      self:err(tostring(k), "unknown field")
    elseif f.type == "id" and not positive_id(v) then
      self:err(k, "must be a positive integer id")
    elseif f.type == "text" and not text(v) then
      self:err(k, "must be a non-empty string")
    elseif f.type == "boolean" and type(v) ~= "boolean" then
      self:err(k, "must be true or false")
    elseif f.type == "list" and not is_list(v) then
      self:err(k, "must be an array")
    end
  end
  for name, f in pairs(FIELDS) do
    if f.publish and draft[name] == nil and not (name == "image_encoded" and draft.image_url ~= nil) then
      self:warn(f.publish, name, PUBLISH_MESSAGE[f.publish])
    end
  end
end

-- The currency code, and how many decimals its amounts may have.
function Judgement:currency_of(draft)
  local currency = draft.currency
  local decimals
  if type(currency) == "string" then
    if not currency:match("^[A-Z][A-Z][A-Z]$") or NOT_CURRENCIES[currency] then
      self:err("currency", "not an ISO 4217 currency code: " .. currency)
    else
      decimals = DECIMALS[currency] or 2
    end
  end
  self.currency, self.max_decimals = currency, decimals or 3
end

-- An amount in minor units (exact sums), or nil when it is refused.
function Judgement:amount(path, v, positive)
  if type(v) ~= "number" or v ~= v or v == math.huge or v == -math.huge then
    self:err(path, "must be a number")
    return nil
  end
  if positive and v <= 0 or v < 0 then
    self:err(path, positive and "must be greater than 0" or "must not be negative")
    return nil
  end
  if decimals_of(v) > self.max_decimals then
    self:err(path, string.format("%s amounts have at most %d decimal(s), found %s", self.currency or "loan",
      self.max_decimals, fmt(v)))
    return nil
  end
  return math.floor(v * 10 ^ self.max_decimals + 0.5)
end

function Judgement:disbursal(draft, today)
  local disbursed = draft.disburse_time
  if type(disbursed) ~= "string" then return end
  local day = day_number(disbursed)
  self.disburse_day = day
  if not day then
    self:err("disburse_time", "not a date YYYY-MM-DD: " .. disbursed)
  elseif day - today > AHEAD_DAYS then
    self:warn("disbursal_far", "disburse_time", string.format("disbursal %d days in the future", day - today))
  elseif today - day > BEHIND_DAYS then
    self:warn("disbursal_far", "disburse_time", string.format("disbursal %d days ago", today - day))
  end
end

local BORROWER_FIELDS = { client_id = 1, loan_id = 1, first_name = 1, last_name = 1, gender = 1, amount = 1 }

-- One borrower; its amount in minor units, or nil.
function Judgement:borrower(p, e)
  for k in pairs(e) do
    if not BORROWER_FIELDS[k] then self:err(p .. "." .. tostring(k), "unknown field") end
  end
  for _, k in ipairs { "client_id", "loan_id", "first_name", "last_name" } do
    if not text(e[k]) then self:err(p .. "." .. k, "must be a non-empty string") end
  end
  if not GENDERS[e.gender] then self:err(p .. ".gender", "must be male, female, nonbinary or unknown") end
  local units = self:amount(p .. ".amount", e.amount, true)
  local per_usd = PER_USD[self.currency]
  if units and per_usd and e.amount / per_usd > LARGE_USD then
    self:warn("large_amount", p .. ".amount", string.format(
      "%s %s is about %d USD: a very large loan for one borrower", fmt(e.amount), self.currency,
      math.floor(e.amount / per_usd)))
  end
  return units
end

-- The borrowers; sets self.total (minor units) and self.totals_known.
function Judgement:borrowers(draft)
  local borrowers = is_list(draft.entreps) and draft.entreps or nil
  self.total, self.totals_known = 0, borrowers ~= nil
  if draft.entreps ~= nil and borrowers and #borrowers == 0 then self:err("entreps", "at least one borrower") end
  if draft.entreps == nil then self:err("entreps", "at least one borrower is required") end
  for i, e in ipairs(borrowers or {}) do
    local p = string.format("entreps[%d]", i)
    local units
    if type(e) ~= "table" then
      self:err(p, "must be an object")
    else
      units = self:borrower(p, e)
    end
    if units then self.total = self.total + units else self.totals_known = false end
  end
  return borrowers and #borrowers or 0
end

-- What only a group loan carries, and what a group needs.
function Judgement:group(draft, count)
  if count == 1 then
    for _, k in ipairs(GROUP_ONLY) do
      if draft[k] ~= nil then self:err(k, "only group loans carry " .. k .. "; this loan has one borrower") end
    end
  elseif count > 1 then
    if draft.group_name == nil then
      self:warn("missing_group_name", "group_name", "PA2 needs the group's name before publishing")
    end
    if is_list(draft.not_pictured) then
      if #draft.not_pictured ~= count then
        self:err("not_pictured", string.format("one value per borrower (%d), found %d", count, #draft.not_pictured))
      end
      for i, v in ipairs(draft.not_pictured) do
        if type(v) ~= "boolean" then self:err(string.format("not_pictured[%d]", i), "must be true or false") end
      end
    end
  end
end

-- The schedule: dates after the disbursal and ascending, principal totalling the
-- borrowers' amounts exactly.
function Judgement:schedule(draft)
  local schedule = is_list(draft.schedule) and draft.schedule or nil
  if schedule and #schedule == 0 then self:err("schedule", "a schedule that is sent has at least one installment") end
  local scheduled, previous = 0, nil
  for i, s in ipairs(schedule or {}) do
    local p = string.format("schedule[%d]", i)
    if type(s) ~= "table" then
      self:err(p, "must be an object")
      self.totals_known = false
    else
      local day = day_number(s.date)
      if not day then
        self:err(p .. ".date", "not a date YYYY-MM-DD")
      else
        if self.disburse_day and day < self.disburse_day then self:err(p .. ".date", "before the disbursal date") end
        if previous and day <= previous then self:err(p .. ".date", "dates must be ascending") end
        previous = day
      end
      local units = self:amount(p .. ".principal", s.principal, false)
      if units then scheduled = scheduled + units else self.totals_known = false end
      if s.interest ~= nil then self:amount(p .. ".interest", s.interest, false) end
    end
  end
  if schedule and #schedule > 0 and self.totals_known and scheduled ~= self.total then
    self:err("schedule", string.format("principal totals %s, the borrowers' amounts %s",
      fmt(scheduled / 10 ^ self.max_decimals), fmt(self.total / 10 ^ self.max_decimals)))
  end
end

function Judgement:image(draft)
  local image = draft.image_encoded
  if not text(image) then return end
  local kind, data = image:match("^data:image/(%a+);base64,(.*)$")
  local bytes = kind and IMAGE_MAGIC[kind] and data:match("^[%w+/]*=?=?$") and #data % 4 == 0 and mime.unb64(data)
  if not bytes then
    self:err("image_encoded", "must be a data URI data:image/jpeg|png|gif;base64,...")
  elseif bytes:sub(1, #IMAGE_MAGIC[kind]) ~= IMAGE_MAGIC[kind] then
    self:err("image_encoded", "the image bytes are not " .. kind)
  end
end

local function by_path(a, b)
  if a.path ~= b.path then return a.path < b.path end
  return a.message < b.message
end

--- Judges a decoded draft; `today` is the day number of today (UTC).
-- Returns errors, warnings: arrays of { path, message } (warnings also carry `code`),
-- each in path order.
function M.loan_draft(draft, today)
  local j = setmetatable({ errors = {}, warnings = {} }, Judgement)
  j:fields(draft)
  j:currency_of(draft)
  j:disbursal(draft, today)
  j:group(draft, j:borrowers(draft))
  j:schedule(draft)
  j:image(draft)
  table.sort(j.errors, by_path)
  table.sort(j.warnings, by_path)
  return j.errors, j.warnings
end

--- Today's day number (UTC) for a clock in seconds.
function M.today(seconds)
  return math.floor(seconds) // 86400
end

return M
