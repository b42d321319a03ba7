-- The sandbox partner's data: the generated loan portfolio (the rule in
-- docs/ARCHITECTURE.md: L%06d / C%06d, status by i % 10), loans added from a
-- --portfolio JSON file, paging and search over them, and the config lists.
local json = require "kiva.json"

local M = {}

local AS_OF = "2026-01-05T08:00:00Z"

M.ACTIVITIES = {
  { 61, "Agriculture", "Agriculture" }, { 62, "Farming", "Agriculture" },
  { 63, "Livestock", "Agriculture" }, { 64, "Poultry", "Agriculture" },
  { 65, "Dairy", "Agriculture" }, { 66, "Cattle", "Agriculture" },
  { 67, "Fishing", "Agriculture" }, { 68, "Cereals", "Agriculture" },
  { 100, "Retail", "Retail" }, { 101, "General Store", "Retail" },
  { 102, "Grocery Store", "Food" }, { 103, "Fruits & Vegetables", "Food" },
  { 104, "Food Production/Sales", "Food" }, { 105, "Bakery", "Food" },
  { 106, "Restaurant", "Food" }, { 107, "Café", "Food" },
  { 120, "Tailoring", "Services" }, { 121, "Sewing", "Services" },
  { 122, "Clothing Sales", "Clothing" }, { 123, "Beauty Salon", "Services" },
  { 124, "Cosmetics Sales", "Retail" }, { 130, "Motorcycle Transport", "Transportation" },
  { 131, "Taxi", "Transportation" }, { 140, "Construction", "Construction" },
  { 150, "Weaving", "Arts" }, { 151, "Crafts", "Arts" },
  { 160, "Personal Housing Expenses", "Housing" }, { 170, "Education provider", "Education" },
}

M.LOCALES = {
  { 1, "en", "English", "UGX" }, { 1, "en", "English", "KES" }, { 1, "en", "English", "PHP" },
  { 2, "es", "Spanish", "COP" }, { 2, "es", "Spanish", "PEN" },
  { 3, "fr", "French", "XOF" }, { 3, "fr", "French", "XAF" },
}

M.THEMES = {
  { 1, "Green" }, { 2, "Higher Education" }, { 3, "Rural Exclusion" }, { 4, "Underserved" },
  { 5, "Water and Sanitation" }, { 6, "Youth" }, { 7, "Start-Up" }, { 8, "Vulnerable Groups" },
  { 9, "Women Entrepreneurs" }, { 10, "Clean Energy" }, { 11, "Refugees/Displaced" },
}

-- country, location, currency, local units per USD
M.LOCATIONS = {
  { "Senegal", "Thiès", "XOF", 600 }, { "Senegal", "Dakar", "XOF", 600 },
  { "Senegal", "Saint-Louis", "XOF", 600 }, { "Mali", "Ségou", "XOF", 600 },
  { "Mali", "Bamako", "XOF", 600 }, { "Benin", "Cotonou", "XOF", 600 },
  { "Benin", "Porto-Novo", "XOF", 600 }, { "Cameroon", "Yaoundé", "XAF", 600 },
  { "Cameroon", "Douala", "XAF", 600 }, { "Colombia", "Bogotá", "COP", 4000 },
  { "Colombia", "Medellín", "COP", 4000 }, { "Peru", "Huánuco", "PEN", 3.75 },
  { "Peru", "Cusco", "PEN", 3.75 }, { "Uganda", "Kampala", "UGX", 3700 },
  { "Uganda", "Gulu", "UGX", 3700 }, { "Kenya", "Nairobi", "KES", 130 },
  { "Kenya", "Kisumu", "KES", 130 }, { "Philippines", "Cebu City", "PHP", 56 },
  { "Philippines", "Dasmariñas", "PHP", 56 },
}

local FIRST = { "Aïssatou", "Mamadou", "Fatou", "José", "María", "Jesús", "Adèle", "Ngozi",
  "Ana Lucía", "Moussa", "Bénédicte", "Grace", "Joseph", "Rosalía", "Achieng", "Zoë" }
local LAST = { "Diop", "Traoré", "Ndiaye", "Pérez", "Gómez", "Ouédraogo", "Muñoz", "Kouassi",
  "Santos", "Mbappé", "Otieno", "Dela Cruz", "Nakato", "Ibáñez" }
local GROUPS = { "Groupe Bénkadi", "Grupo Las Peñas", "Tujiinue Women Group", "Groupement Dëgg",
  "Grupo Señor de Huanca", "Samahang Maunlad" }

-- Statuses for i % 10 == 0, in turn: every status that is neither payingBack,
-- defaulted nor ended.
M.OTHER_STATUSES = { "refunded", "inactive", "inactive_expired", "fundRaising", "expired",
  "raised", "reviewed", "issue" }

--- Statuses that still receive repayments.
M.REPAYABLE = { payingBack = true, defaulted = true }

--- Every loan status of the contract (what POST /__sandbox/loans/{id}/status takes).
M.STATUSES = { payingBack = true, defaulted = true, ended = true, deleted = true, issue_revising = true,
  issue_approving = true }
for _, s in ipairs(M.OTHER_STATUSES) do M.STATUSES[s] = true end

local function status_of(i)
  local r = i % 10
  if r >= 1 and r <= 7 then return "payingBack" end
  if r == 8 then return "defaulted" end
  if r == 9 then return "ended" end
  return M.OTHER_STATUSES[((i // 10) - 1) % #M.OTHER_STATUSES + 1]
end

local function location_full_name(loc)
  return loc[2] .. ", " .. loc[1]
end

--- Loan `i` (1-based) of the generated portfolio, with every field the contract lists.
function M.generated_loan(i)
  local loc = M.LOCATIONS[(i - 1) % #M.LOCATIONS + 1]
  local group = i % 6 == 0
  local price = 25 * (10 + (i * 7) % 60)
  local status = status_of(i)
  local name
  if group then
    name = GROUPS[(i // 6 - 1) % #GROUPS + 1]
  else
    name = FIRST[(i - 1) % #FIRST + 1] .. " " .. LAST[(i * 5 - 1) % #LAST + 1]
  end
  return {
    kiva_id = 2100000 + i,
    uuid = string.format("5a0d0000-%04x-4000-8000-%012x", i >> 48 & 0xffff, i & 0xffffffffffff),
    internal_loan_id = string.format("L%06d", i),
    internal_client_id = string.format("C%06d", i),
    borrower_count = group and (2 + i % 4) or 1,
    name = name,
    location = location_full_name(loc),
    status = status,
    loan_price = price,
    loan_local_price = price * loc[4],
    loan_currency = loc[3],
    delinquent = status == "payingBack" and i % 13 == 0,
    create_time = os.date("!%Y-%m-%dT%H:%M:%SZ", 1704067200 + i * 25200),
  }
end

local function fill_defaults(loan, i)
  local base = M.generated_loan(i)
  for k, v in pairs(base) do
    if loan[k] == nil or loan[k] == json.null then loan[k] = v end
  end
  return loan
end

--- Builds the portfolio: `n` generated loans then the loans of `extra` (a decoded
-- JSON array); an added loan with the internal_loan_id of a generated one replaces it.
-- `lists` (optional): the partner's config lists by name (see M.read_config).
-- Returns portfolio | nil, message.
function M.new(n, extra, lists)
  local self = { list = {}, by_id = {}, cache = {}, lists = lists or {} }
  for i = 1, n do
    local loan = M.generated_loan(i)
    self.list[i] = loan
    self.by_id[loan.internal_loan_id] = i
  end
  for j, loan in ipairs(extra or {}) do
    if type(loan) ~= "table" or type(loan.internal_loan_id) ~= "string"
        or type(loan.internal_client_id) ~= "string" or type(loan.status) ~= "string" then
      return nil, string.format("portfolio loan %d: needs internal_loan_id, internal_client_id and status strings", j)
    end
    local at = self.by_id[loan.internal_loan_id]
    if not at then
      at = #self.list + 1
    end
    self.list[at] = fill_defaults(loan, n + j)
    self.by_id[loan.internal_loan_id] = at
  end
  return setmetatable(self, { __index = M })
end

--- Adds a loan, or replaces the one of the same internal_loan_id; fields it lacks
-- are generated as for a --portfolio loan. Returns the loan as listed.
function M:put(loan)
  local at = self.by_id[loan.internal_loan_id] or #self.list + 1
  self.list[at] = fill_defaults(loan, at)
  self.by_id[loan.internal_loan_id] = at
  self.cache = {}
  return self.list[at]
end

--- The loan with this internal_loan_id, or nil.
function M:find(internal_loan_id)
  local at = self.by_id[internal_loan_id]
  return at and self.list[at]
end

local function matches(loan, q)
  if q == nil then return true end
  local fields = { loan.name, loan.internal_loan_id, loan.internal_client_id, tostring(loan.kiva_id),
    loan.location }
  for _, f in ipairs(fields) do
    if type(f) == "string" and f:lower():find(q, 1, true) then return true end
  end
  return false
end

--- One page: { total_records, data } for query/status filters (status may be a
-- comma-separated list). Filter results are cached, so paging stays linear.
function M:page(query, status, offset, limit)
  local q = query and query ~= "" and query:lower() or nil
  local s = status and status ~= "" and status or nil
  local key = (q or "") .. "\0" .. (s or "")
  local hits = self.cache[key]
  if not hits then
    local wanted
    if s then
      wanted = {}
      for st in s:gmatch("[^,%s]+") do wanted[st] = true end
    end
    hits = {}
    for _, loan in ipairs(self.list) do
      if (not wanted or wanted[loan.status]) and matches(loan, q) then hits[#hits + 1] = loan end
    end
    self.cache[key] = hits
  end
  local data = json.array()
  for i = offset + 1, math.min(offset + limit, #hits) do data[#data + 1] = hits[i] end
  return { total_records = #hits, data = data }
end

M.LIST_NAMES = { "activities", "locales", "themes", "locations" }

local function sample_list(name)
  local list = json.array()
  if name == "activities" then
    for _, a in ipairs(M.ACTIVITIES) do list[#list + 1] = { activity_id = a[1], activity = a[2], sector = a[3] } end
  elseif name == "locales" then
    for _, l in ipairs(M.LOCALES) do
      list[#list + 1] = { language_id = l[1], language_code = l[2], language_name = l[3], currency = l[4] }
    end
  elseif name == "themes" then
    for _, t in ipairs(M.THEMES) do list[#list + 1] = { theme_type_id = t[1], theme_type = t[2] } end
  elseif name == "locations" then
    for _, l in ipairs(M.LOCATIONS) do
      list[#list + 1] = { country = l[1], location = l[2], full_name = location_full_name(l) }
    end
  else
    return nil
  end
  return list
end

--- The sample config answer for `name` ("activities", "locales", "themes",
-- "locations"), or nil for another name.
function M.config(name)
  local list = sample_list(name)
  return list and { as_of_date_time = AS_OF, [name] = list }
end

--- This partner's config answer for `name`: its own list when --config gave one,
-- else the sample; nil for another name.
function M:partner_config(name)
  local list = self.lists[name] or sample_list(name)
  if not list then return nil end
  return { as_of_date_time = self.lists.as_of_date_time or AS_OF, [name] = list }
end

--- Reads a --config document: an object with any of the lists "activities",
-- "locales", "themes", "locations", each either the array of items as Kiva answers
-- them or Kiva's whole answer ({ "as_of_date_time", "<name>": [...] }). Lists left
-- out keep the sample. Returns lists by name | nil, message.
function M.read_config(doc)
  if type(doc) ~= "table" then return nil, "not a JSON object" end
  local lists = {}
  for key in pairs(doc) do
    local known = key == "as_of_date_time"
    for _, name in ipairs(M.LIST_NAMES) do known = known or key == name end
    if not known then
      return nil, string.format("unknown list %q (expected %s)", tostring(key), table.concat(M.LIST_NAMES, ", "))
    end
  end
  if type(doc.as_of_date_time) == "string" then lists.as_of_date_time = doc.as_of_date_time end
  for _, name in ipairs(M.LIST_NAMES) do
    local v = doc[name]
    if type(v) == "table" and type(v[name]) == "table" then
      if type(v.as_of_date_time) == "string" then lists.as_of_date_time = v.as_of_date_time end
      v = v[name]
    end
    if v ~= nil then
      if type(v) ~= "table" then return nil, name .. ": not an array" end
      for i, item in ipairs(v) do
        if type(item) ~= "table" then return nil, string.format("%s[%d]: not an object", name, i) end
      end
      lists[name] = json.array(v)
    end
  end
  return lists
end

return M
