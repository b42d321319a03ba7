--- kiva.client: the Partner API client of interface.md. Every endpoint, drafts and
-- repayment batches in parallel (results in input order), loans paged, config
-- lists cached per client. Settings come from kiva.config, tokens from kiva.auth,
-- HTTP and retries from kiva.transport. Remote and input problems come back as
-- `nil, err` (kiva.errors tables); only misuse (a bad option) raises.
local cjson = require "cjson.safe"
local core = require "kiva.core"
local errors = require "kiva.errors"
local config = require "kiva.config"
local Auth = require "kiva.auth"
local Transport = require "kiva.transport"
local schema = require "kiva.schema"

local Client = {}
Client.__index = Client
Client.__name = "kiva.client"

Client.VERSION = core.version

--- Option name -> accepted Lua types (math.type names for numbers).
local OPTIONS = {
  client_id = "string", client_secret = "string", credentials = "string", env = "string",
  auth_url = "string", api_url = "string", audience = "string", partner_id = "string|integer",
  ca_file = "string", ledger = "string", csv_format = "string", token_cache = "string|boolean",
  scopes = "table|string", concurrency = "integer", timeout = "number",
  connect_timeout = "number", low_speed_time = "number", max_body = "integer",
  max_attempts = "integer", max_retry_time = "number", retry_base = "number", retry_cap = "number",
  batch_size = "integer", page_size = "integer", paths = "table", validate = "boolean",
  on_progress = "function", on_log = "function", debug = "boolean",
}

local RANGES = {
  concurrency = { 1, 64 }, batch_size = { 1, 300 }, page_size = { 1, 300 }, max_attempts = { 1, 100 },
}

local DEFAULTS = {
  concurrency = 4, batch_size = 250, page_size = 300, validate = true,
}

Client.PATHS = {
  loan_draft = "/v3/partner/{id}/loan_draft",
  repayments = "/v3/partner/{id}/repayments",
  journals = "/v3/partner/{id}/journals",
  loans = "/v3/partner/{id}/loans",
  config = "/v3/partner/{id}/config/{name}",
}

local CONFIG_LISTS = { activities = true, locales = true, themes = true, locations = true }

local function type_ok(value, spec)
  local t = type(value)
  for want in spec:gmatch("[^|]+") do
    if want == t then return true end
    if t == "number" and (want == "integer" and math.type(value) == "integer" or want == "number") then
      return true
    end
  end
  return false
end

-- Raises (level 4: the caller of kiva.client) naming the first bad key.
local function check_options(opts)
  if opts ~= nil and type(opts) ~= "table" then
    error("kiva.client: options must be a table, got " .. type(opts), 4)
  end
  local copy = {}
  for k, v in pairs(opts or {}) do
    local spec = OPTIONS[k]
    if not spec then error("kiva.client: unknown option '" .. tostring(k) .. "'", 4) end
    if not type_ok(v, spec) then
      error(string.format("kiva.client: option '%s' must be %s, got %s", k, spec:gsub("|", " or "),
        math.type(v) or type(v)), 4)
    end
    local r = RANGES[k]
    if r and (v < r[1] or v > r[2]) then
      error(string.format("kiva.client: option '%s' must be between %d and %d, got %d", k, r[1], r[2], v), 4)
    end
    copy[k] = v
  end
  if copy.paths then
    local paths = {}
    for k, v in pairs(copy.paths) do
      if not Client.PATHS[k] or type(v) ~= "string" then
        error("kiva.client: option 'paths' has a bad entry '" .. tostring(k) .. "'", 4)
      end
      paths[k] = v
    end
    copy.paths = paths
  end
  if type(copy.scopes) == "string" then
    local list = {}
    for sc in copy.scopes:gmatch("%S+") do list[#list + 1] = sc end
    copy.scopes = list
  elseif copy.scopes then
    local list = {}
    for i, sc in ipairs(copy.scopes) do
      if type(sc) ~= "string" then error("kiva.client: option 'scopes' must hold strings", 4) end
      list[i] = sc
    end
    copy.scopes = list
  end
  return copy
end

--- A client. Options: the settings of interface.md by lower-case name, plus
-- scopes, token_cache, concurrency, timeout, connect_timeout, low_speed_time,
-- max_body, max_attempts, max_retry_time, batch_size, page_size, paths,
-- validate, on_progress(event), on_log(level, message), debug.
-- Raises on an unknown option or a wrong type.
-- @return client | nil, err (kind "config")
function Client.new(opts)
  opts = check_options(opts)
  local settings, err = config.resolve_for_calls(opts)
  if not settings then return nil, err end
  local self = setmetatable({ settings = settings, opts = opts, cache = {} }, Client)
  for k, v in pairs(DEFAULTS) do
    if opts[k] == nil then opts[k] = v end
  end
  local debug = opts.debug
  if debug == nil then debug = os.getenv("KIVA_DEBUG") == "1" end
  local secrets = {}
  local common = {
    ca_file = settings.ca_file, connect_timeout = opts.connect_timeout, timeout = opts.timeout,
    low_speed_time = opts.low_speed_time, max_body = opts.max_body,
    user_agent = "kiva-lua/" .. Client.VERSION .. " libcurl/" .. core.curl_version(),
    max_attempts = opts.max_attempts, max_retry_time = opts.max_retry_time,
    retry_base = opts.retry_base, retry_cap = opts.retry_cap,
    on_log = opts.on_log, debug = debug, secrets = secrets,
  }
  common.concurrency = opts.concurrency
  local api, msg = Transport.new(common)
  if not api then return nil, errors.config("cannot start HTTP: " .. tostring(msg)) end
  common.concurrency = 1
  local token_transport, msg2 = Transport.new(common)
  if not token_transport then
    api:close()
    return nil, errors.config("cannot start HTTP: " .. tostring(msg2))
  end
  self.api, self.token_transport = api, token_transport
  self.auth = Auth.new(token_transport, settings, { scopes = opts.scopes, on_log = opts.on_log })
  self.paths = setmetatable(opts.paths or {}, { __index = Client.PATHS })
  self.header_cache = {}
  return self
end

-- Called once per finished request: the event table is built only when someone listens.
function Client:progress(what, done, total)
  local listener = self.opts.on_progress
  if listener then listener { what = what, done = done, total = total } end
end

--- The JSON body for a value of `kind` (a string is sent as given).
-- @return json | nil, err (kind "validation")
function Client:encode(kind, value)
  if type(value) == "string" then return value end
  -- kiva.schema validates before it encodes unless told not to
  local json, err = schema.encode(kind, value, { csv_format = self.settings.csv_format, validate = self.opts.validate })
  if not json then
    local e = type(err) == "table" and err or { message = tostring(err) }
    local kind_of = errors.kinds[e.kind] and e.kind or "validation"
    return nil, errors.new(kind_of, kind .. ": " .. tostring(e.message), { errors = e.errors })
  end
  return json
end

--- The partner id: configured, or from the token.
-- @return id | nil, err
function Client:partner_id()
  if self.settings.partner_id then return self.settings.partner_id end
  local _, err = self.auth:access_token()
  if err then return nil, err end
  if not self.auth.partner_id then
    return nil, errors.config("the token carries no partnerId; set KIVA_PARTNER_ID or partner_id")
  end
  return self.auth.partner_id
end

function Client:path(name, vars)
  local id, err = self:partner_id()
  if not id then return nil, err end
  local p = self.paths[name]:gsub("{(%w+)}", function(k)
    if k == "id" then return id end
    return vars and vars[k] or ""
  end)
  return p
end

-- The headers of API requests for `token`, built once per token (every request
-- of a run shares them; session:add only reads them).
local function api_headers(client, token, has_body)
  local cache = client.header_cache
  if cache.token ~= token then
    local bearer = "Authorization: Bearer " .. token
    cache.token = token
    cache.get = { "Accept: application/json", bearer }
    cache.post = { "Accept: application/json", bearer, "Content-Type: application/json; charset=utf-8" }
  end
  return has_body and cache.post or cache.get
end

-- prepare and on_result of every API request: plain functions of the request (which
-- carries its client), not two new closures per request.
local function prepare_api(req)
  local token, err = req.client.auth:access_token()
  if not token then return nil, err end
  if req.before_send and not req.announced then
    local ok, why = req.before_send(req.item)
    if not ok then return nil, why end
    req.announced = true
  end
  req.token = token
  return api_headers(req.client, token, req.body ~= nil)
end

local function on_api_result(_, err, req)
  if err and err.status == 401 and req.client.auth:invalidate(req.token) then return "again" end
end

--- A transport request for the API: bearer token set before each attempt, and
-- sent once more after a 401 if the token could be renewed. `check(res)` says why
-- a 2xx answer is unreadable (see the CHECK table), nil when it is fine.
function Client:request(method, path, body, check)
  return {
    method = method, url = self.settings.api_url .. path, endpoint = path, body = body, check = check,
    client = self, prepare = prepare_api, on_result = on_api_result,
  }
end

-- The first present, non-null field among up to three names. Fixed arguments, not
-- `ipairs { ... }`: it runs several times per response, and the vararg table was the
-- top Lua cost of posting drafts.
local function pick(tbl, a, b, c)
  if type(tbl) ~= "table" then return nil end
  local null = cjson.null
  local v = tbl[a]
  if v ~= nil and v ~= null then return v end
  if b == nil then return nil end
  v = tbl[b]
  if v ~= nil and v ~= null then return v end
  if c == nil then return nil end
  v = tbl[c]
  if v ~= nil and v ~= null then return v end
  return nil
end

-- Why field `a` (or its camelCase `b`) of an answer object is unusable, or nil.
local function bad_string(j, a, b)
  local v = pick(j, a, b)
  if v == nil then return "the answer has no " .. a end
  if type(v) ~= "string" or v == "" then return "the answer's " .. a .. " is a " .. type(v) .. ", not a string id" end
  return nil
end

local function bad_problems(j)
  local p = pick(j, "problems")
  if p ~= nil and type(p) ~= "table" then return "the answer's problems is a " .. type(p) .. ", not a list" end
  return nil
end

-- The list a config answer carries for `name`, or nil.
local function config_list(j, name)
  if type(j) ~= "table" then return nil end
  local list = j[name]
  if list == nil and j[1] ~= nil then list = j end
  if list == nil then list = pick(j, "data") end
  if type(list) ~= "table" then return nil end
  for _, entry in ipairs(list) do
    if type(entry) ~= "table" then return nil end
  end
  return list
end

--- Checks of 2xx answers: a body that is not what the contract describes is an
-- error (unknown_outcome for a POST, a retryable server error for a GET), never a
-- success with holes in it.
local CHECK = {
  loan_draft = function(res)
    return errors.not_an_object(res) or bad_string(res.json, "loan_draft_uuid", "loanDraftUuid")
  end,
  repayments = function(res)
    return errors.not_an_object(res) or bad_string(res.json, "upload_id", "uploadId") or bad_problems(res.json)
  end,
  loans = function(res)
    local why = errors.not_an_object(res)
    if why then return why end
    if type(pick(res.json, "data", "loans")) ~= "table" then return "the answer has no loans list" end
    local total = pick(res.json, "total_records", "totalRecords")
    if total ~= nil and not tonumber(total) then return "the answer's total_records is not a number" end
    return nil
  end,
}

-- A journals answer: one object, or per-journal entries (a bare array, or under
-- "journals"/"data"); at least one must carry a confirm_url or an archive_id.
function CHECK.journals(res)
  local why = errors.not_an_object(res, true)
  if why then return why end
  local function usable(t)
    return type(t) == "table" and (type(pick(t, "confirm_url", "confirmUrl")) == "string"
      or type(pick(t, "archive_id", "archiveId")) == "string")
  end
  local j = res.json
  if usable(j) then return nil end
  local entries = pick(j, "journals", "data")
  for _, t in ipairs(type(entries) == "table" and entries or j) do
    if usable(t) then return nil end
  end
  return "the answer has no confirm_url nor archive_id"
end

local function draft_result(res)
  local j = res.json
  return {
    loan_draft_uuid = pick(j, "loan_draft_uuid", "loanDraftUuid", "uuid"),
    code = pick(j, "code"), message = pick(j, "message"), status = res.status, body = j,
  }
end

--- Sends one loan draft.
-- @return { loan_draft_uuid, code, message, status, body } | nil, err
function Client:post_loan_draft(draft)
  local body, err = self:encode("loan_draft", draft)
  if not body then return nil, err end
  local path, perr = self:path("loan_draft")
  if not path then return nil, perr end
  local res, rerr = self.api:request(self:request("POST", path, body, CHECK.loan_draft))
  if not res then return nil, rerr end
  return draft_result(res)
end

--- Sends many drafts in parallel (at most `concurrency` at once).
-- opts.on_result(i, res, err) as each finishes. opts.before_send(i) -> true | nil, err
-- is called once per draft, right before its first attempt leaves (the token in
-- hand): a caller records there that the draft is being sent; an err keeps it unsent
-- and becomes its result.
-- @return array of { res =, err = } in input order
function Client:post_loan_drafts(list, opts)
  opts = opts or {}
  local out, reqs, where = {}, {}, {}
  local path, perr = self:path("loan_draft")
  for i, draft in ipairs(list) do
    local body, err = self:encode("loan_draft", draft)
    if not path then err = perr end
    if body and path then
      local req = self:request("POST", path, body, CHECK.loan_draft)
      if opts.before_send then req.before_send, req.item = opts.before_send, i end
      reqs[#reqs + 1] = req
      where[#reqs] = i
    else
      out[i] = { err = err }
      if opts.on_result then opts.on_result(i, nil, err) end
    end
  end
  local done = 0
  self.api:run(reqs, {
    on_result = function(k, res, err)
      done = done + 1
      local r = res and draft_result(res) or nil
      out[where[k]] = { res = r, err = err }   -- built once, not again after the run
      if opts.on_result then opts.on_result(where[k], r, err) end
      self:progress("loan_drafts", done, #reqs)
    end,
  })
  return out
end

local function without(items, field)
  local copy = {}
  for i, item in ipairs(items) do
    local c = {}
    for k, v in pairs(item) do
      if k ~= field then c[k] = v end
    end
    copy[i] = c
  end
  return copy
end

--- Reports repayments, split into batches of at most opts.batch_size (default
-- 250, never above 300) sent in parallel. opts.on_batch(batch) as each batch
-- finishes, batch = { index, first, last, upload_id, problems, err }.
-- @return { batches = {...}, problems = {...}, upload_ids = {...} }, err of the
-- first failed batch (nil when all went through) | nil, err when nothing was sent
function Client:post_repayments(list, opts)
  opts = opts or {}
  local items = type(list) == "table" and list.repayments or list
  if type(items) ~= "table" then error("post_repayments: expected an array of repayments", 2) end
  local size = opts.batch_size or self.opts.batch_size
  if math.type(size) ~= "integer" or size < 1 or size > 300 then
    error("post_repayments: batch_size must be an integer from 1 to 300", 2)
  end
  if self.settings.csv_format == "two" then items = without(items, "client_id") end
  local path, perr = self:path("repayments")
  if not path then return nil, perr end
  local batches, reqs = {}, {}
  for first = 1, #items, size do
    local last = math.min(first + size - 1, #items)
    local slice = table.move(items, first, last, 1, {})
    local body, err = self:encode("repayments", { repayments = slice })
    if not body then
      err.message = string.format("repayments %d-%d: %s", first, last, err.message)
      return nil, err
    end
    batches[#batches + 1] = { index = #batches + 1, first = first, last = last }
    reqs[#reqs + 1] = self:request("POST", path, body, CHECK.repayments)
  end
  local result = { batches = batches, problems = {}, upload_ids = {} }
  local done, first_err = 0, nil
  self.api:run(reqs, {
    on_result = function(k, res, err)
      local b = batches[k]
      if res then
        local j = res.json
        b.upload_id = pick(j, "upload_id", "uploadId")
        b.code, b.message, b.status = pick(j, "code"), pick(j, "message"), res.status
        b.problems = {}
        for _, p in ipairs(type(pick(j, "problems")) == "table" and pick(j, "problems") or {}) do
          if type(p) == "table" then
            p.loan_id = p.loan_id or p.loanId
            p.batch = k
            b.problems[#b.problems + 1] = p
          end
        end
      else
        err.batch = k
        b.err = err
      end
      done = done + 1
      if opts.on_batch then opts.on_batch(b) end
      self:progress("repayments", done, #batches)
    end,
  })
  for _, b in ipairs(batches) do
    if b.err then
      first_err = first_err or b.err
    else
      result.upload_ids[#result.upload_ids + 1] = b.upload_id
      table.move(b.problems, 1, #b.problems, #result.problems + 1, result.problems)
    end
  end
  return result, first_err
end

--- Sends borrower journals in one call.
-- @return { archive_id, confirm_url, confirm_urls, status, body } | nil, err
function Client:post_journals(list)
  local items = type(list) == "table" and list.journals or list
  if type(items) ~= "table" then error("post_journals: expected an array of journals", 2) end
  if self.settings.csv_format == "two" then items = without(items, "internal_client_id") end
  local body, err = self:encode("journals", { journals = items })
  if not body then return nil, err end
  local path, perr = self:path("journals")
  if not path then return nil, perr end
  local res, rerr = self.api:request(self:request("POST", path, body, CHECK.journals))
  if not res then return nil, rerr end
  local j = res.json
  local out = { status = res.status, body = j, confirm_urls = {}, archive_ids = {} }
  local function collect(t)
    if type(t) ~= "table" then return end
    local url, id = pick(t, "confirm_url", "confirmUrl"), pick(t, "archive_id", "archiveId")
    if type(url) == "string" then out.confirm_urls[#out.confirm_urls + 1] = url end
    if type(id) == "string" then out.archive_ids[#out.archive_ids + 1] = id end
  end
  collect(j)
  for _, e in ipairs(type(j) == "table" and (pick(j, "journals", "data") or j) or {}) do collect(e) end
  out.confirm_url, out.archive_id = out.confirm_urls[1], out.archive_ids[1]
  return out
end

local function query_string(q)
  local parts = {}
  for _, k in ipairs { "query", "status", "offset", "limit" } do
    if q[k] ~= nil then parts[#parts + 1] = k .. "=" .. Auth.form_encode(q[k]) end
  end
  return #parts > 0 and ("?" .. table.concat(parts, "&")) or ""
end

local LOAN_QUERY = { status = "string", query = "string", offset = "integer", limit = "integer" }

local function check_query(q, what)
  for k, v in pairs(q) do
    if not LOAN_QUERY[k] then error(what .. ": unknown option '" .. tostring(k) .. "'", 3) end
    if not type_ok(v, LOAN_QUERY[k]) then error(what .. ": option '" .. k .. "' must be " .. LOAN_QUERY[k], 3) end
  end
end

--- One page of loans: q = { status, query, offset, limit (<= 300) }.
-- @return { total_records, data } | nil, err
function Client:loans_page(q)
  q = q or {}
  check_query(q, "loans_page")
  local path, perr = self:path("loans")
  if not path then return nil, perr end
  local res, err = self.api:request(self:request("GET", path .. query_string(q), nil, CHECK.loans))
  if not res then return nil, err end
  local j = res.json
  local data = pick(j, "data", "loans")   -- a list: CHECK.loans saw to it
  local total = tonumber(pick(j, "total_records", "totalRecords"))
  return { total_records = total and (math.tointeger(total) or total), data = data }
end

--- Iterates over all loans matching q = { status, query }, paging with limit <= 300
-- until total_records. The second value (the pager) holds `total`, `pages` and,
-- when a page failed, `err`: the loop then ends early (the iterator's call that
-- failed also returns nil, err).
-- @return iterator, pager
function Client:loans(q)
  q = q or {}
  check_query(q, "loans")
  local limit = math.min(q.limit or self.opts.page_size, 300)
  local offset = q.offset or 0
  local pager = { total = nil, err = nil, pages = 0 }
  local page, pos, finished = {}, 0, false
  local function next_loan()
    pos = pos + 1
    if page[pos] ~= nil then return page[pos] end
    if finished then return nil end
    local res, err = self:loans_page { status = q.status, query = q.query, offset = offset, limit = limit }
    if not res then
      pager.err, finished = err, true
      return nil, err
    end
    pager.pages = pager.pages + 1
    pager.total = res.total_records or pager.total
    page, pos = res.data, 1
    offset = offset + #page
    if #page == 0 or (res.total_records and offset >= res.total_records)
        or (not res.total_records and #page < limit) then
      finished = true
    end
    self:progress("loans", offset, pager.total)
    return page[1]
  end
  return next_loan, pager
end

local function snake(k)
  return (k:gsub("(%l)(%u)", function(a, b) return a .. "_" .. b:lower() end))
end

--- A config list ("activities", "locales", "themes", "locations"), fetched once
-- per client; camelCase entry keys are also given in snake_case.
-- @return list | nil, err
function Client:config(name)
  if not CONFIG_LISTS[name] then
    error("config: expected activities, locales, themes or locations, got " .. tostring(name), 2)
  end
  if self.cache[name] then return self.cache[name] end
  local path, perr = self:path("config", { name = name })
  if not path then return nil, perr end
  local res, err = self.api:request(self:request("GET", path, nil, function(r)
    if config_list(r.json, name) then return nil end
    return errors.not_an_object(r, true) or ("the answer has no " .. name .. " list")
  end))
  if not res then return nil, err end
  local list = config_list(res.json, name)
  for _, entry in ipairs(list) do
    if type(entry) == "table" then
      for k, v in pairs(entry) do
        if type(k) == "string" and k:find("%l%u") and entry[snake(k)] == nil then entry[snake(k)] = v end
      end
    end
  end
  self.cache[name] = list
  return list
end

--- partner_id, scopes, expires_at of the current token (never the token).
-- @return info | nil, err
function Client:token_info()
  local info, err = self.auth:info()
  if not info then return nil, err end
  info.partner_id = self.settings.partner_id or info.partner_id
  return info
end

--- { requests, retries, connects, token_requests } since the client was made.
function Client:stats()
  local a, t = self.api:stats(), self.token_transport:stats()
  return {
    requests = a.requests + t.requests, retries = a.retries + t.retries,
    connects = a.connects + t.connects, token_requests = self.auth.token_requests,
  }
end

--- Releases the connections (also done by the garbage collector).
function Client:close()
  self.api:close()
  self.token_transport:close()
end
Client.__close = Client.close

return Client
