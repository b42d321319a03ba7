--- kiva.client: the Partner API client of interface.md. Every endpoint, drafts and
-- repayment batches in parallel (results in input order), loans paged, config
-- lists cached per client. Settings come from kiva.config, tokens from kiva.auth,
-- HTTP and retries from kiva.transport. Remote and input problems come back as
-- `nil, err` (kiva.errors tables); only misuse (a bad option) raises.
local cjson = require "cjson.safe"
local contract = require "kiva.contract"
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
  on_progress = "function", on_log = "function", debug = "boolean", now = "function",
}

local RANGES = {
  concurrency = { 1, 64 }, batch_size = { 1, contract.MAX_BATCH }, page_size = { 1, contract.MAX_PAGE },
  max_attempts = { 1, 100 },
}

local DEFAULTS = {
  concurrency = contract.DEFAULT_CONCURRENCY, batch_size = contract.DEFAULT_BATCH, page_size = contract.MAX_PAGE,
  validate = true,
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
-- validate, on_progress(event), on_log(level, message), debug, now() (the token's
-- clock in seconds, default kiva.core.now; a test moves it instead of sleeping).
-- Raises on an unknown option or a wrong type.
-- @return client | nil, err (kind "config")
function Client.new(opts)
  opts = check_options(opts)
  local settings, err = config.resolve_for_calls(opts)
  if not settings then return nil, err end
  return Client.with_settings(settings, opts)
end

--- A client over settings already resolved by kiva.config (the CLI resolves them
-- once per command); `opts` as for Client.new, without the settings' own names.
-- @return client | nil, err (kind "config")
function Client.with_settings(settings, opts)
  opts = check_options(opts)
  local ok, cerr = config.require_credentials(settings)
  if not ok then return nil, cerr end
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
  self.auth = Auth.new(token_transport, settings, { scopes = opts.scopes, on_log = opts.on_log,
    now = opts.now })
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
  -- one options table per client, not one per body
  local eopts = self.encode_opts
  if not eopts then
    eopts = { csv_format = self.settings.csv_format, validate = self.opts.validate }
    self.encode_opts = eopts
  end
  local json, err = schema.encode(kind, value, eopts)
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
  if req.before_send then
    local ok, why = req.before_send(req.item)
    if not ok then return nil, why end
  end
  req.token = token
  -- the usual case, the headers of this token already built, without a call
  local cache = req.client.header_cache
  if cache.token == token then return req.body ~= nil and cache.post or cache.get end
  return api_headers(req.client, token, req.body ~= nil)
end

local function on_api_result(_, err, req)
  if err and err.status == 401 and req.client.auth:invalidate(req.token) then return "again" end
end

--- Builds (does not send: kiva.transport does) a request for the API: bearer token
-- set before each attempt, and sent once more after a 401 if the token could be
-- renewed. `check(res)` says why a 2xx answer is unreadable (see the CHECK table),
-- nil when it is fine.
-- item, before_send, on_retry (client:send's) are set in the same constructor:
-- a field added later would grow the table once per request.
function Client:api_request(method, path, body, check, item, before_send, on_retry)
  return {
    method = method, url = self.settings.api_url .. path, endpoint = path, body = body, check = check,
    client = self, prepare = prepare_api, on_result = on_api_result,
    item = item, before_send = before_send, on_retry = on_retry,
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

--- An id from an answer as text: Kiva's docs fix no types, so a string, a number
-- (880001 -> "880001") or a boolean is read alike; nil for anything else.
local function id_text(v)
  local t = type(v)
  if t == "string" then return v ~= "" and v or nil end
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return nil end
    local i = math.tointeger(v)
    if i then return tostring(i) end
    return string.format("%.17g", v)
  end
  if t == "boolean" then return tostring(v) end
  return nil
end
Client.id_text = id_text

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

--- Checks of 2xx answers to GETs: a body that is not what the contract describes is
-- a retryable server error, never a success with holes in it. A 2xx to a POST is
-- never an error: Kiva accepted the request, whatever its body looks like; what
-- cannot be read of it becomes a note (see `answer_note`).
local CHECK = {
  loans = function(res)
    local why = errors.not_an_object(res)
    if why then return why end
    if type(pick(res.json, "data", "loans")) ~= "table" then return "the answer has no loans list" end
    local total = pick(res.json, "total_records", "totalRecords")
    if total ~= nil and not tonumber(total) then return "the answer's total_records is not a number" end
    return nil
  end,
}

-- A note on a 2xx answer to a POST whose body is not the object Kiva describes.
local function answer_note(res, array_ok)
  local why = errors.not_an_object(res, array_ok)
  if why then return "Kiva accepted the request (HTTP " .. tostring(res.status) .. ") but " .. why end
  return nil
end

local function text_field(j, a, b)
  local v = pick(j, a, b)
  return type(v) == "string" and v or (v ~= nil and id_text(v)) or nil
end

-- Every answer goes through draft_result or batch_result: the usual answer (an
-- object whose fields are strings under their snake_case names) is read with plain
-- field reads, and pick / text_field / answer_note are called only for what differs.
-- A function call here costs more than the rest of the reading.

-- The object of an answer and its note: nil when it is an object (no array).
local function answer_object(res, array_ok)
  local j = res.json
  if type(j) == "table" and (array_ok or j[1] == nil) then return j, nil end
  return type(j) == "table" and j or nil, answer_note(res, array_ok)
end

-- An answer's id under `name` (else its other spellings `...`), as text.
local function answer_id(j, name, ...)
  local v = j[name]
  if type(v) == "string" and v ~= "" then return v end
  return id_text(pick(j, name, ...))
end

-- An answer's code and message, as text.
local function code_and_message(j)
  local code, message = j.code, j.message
  if type(code) ~= "string" then code = text_field(j, "code") end
  if type(message) ~= "string" then message = text_field(j, "message") end
  return code, message
end

local function draft_result(res)
  local j, note = answer_object(res)
  local uuid, code, message = nil, nil, nil
  if j then
    uuid = answer_id(j, "loan_draft_uuid", "loanDraftUuid", "uuid")
    code, message = code_and_message(j)
  end
  local out = { loan_draft_uuid = uuid, code = code, message = message, status = res.status, body = j, note = note }
  if not note and not uuid then
    out.note = "Kiva accepted the draft but its answer has no loan_draft_uuid"
  end
  -- what PA2 will need before publishing, as Kiva (or the sandbox) says it
  local warnings = j and j.warnings
  if type(warnings) == "table" and #warnings > 0 then out.warnings = warnings end
  return out
end

-- Kiva's problems of a repayment answer, each with its loan id as text.
local function problems_of(list)
  local out = {}
  if type(list) ~= "table" then return out end
  for _, p in ipairs(list) do
    if type(p) == "table" then
      local q = {}
      for k, v in pairs(p) do q[k] = v end
      q.loan_id = id_text(pick(p, "loan_id", "loanId", "internal_loan_id"))
      q.severity = text_field(p, "severity")
      out[#out + 1] = q
    end
  end
  return out
end

local function batch_result(res)
  local j, note = answer_object(res)
  local upload_id, code, message, list = nil, nil, nil, nil
  if j then
    upload_id = answer_id(j, "upload_id", "uploadId")
    code, message = code_and_message(j)
    list = j.problems
    if list == cjson.null then list = nil end
  end
  local out = {
    upload_id = upload_id, code = code, message = message, status = res.status, problems = problems_of(list),
    note = note,
  }
  if not note and not upload_id then out.note = "Kiva accepted the report but its answer has no upload_id" end
  if list ~= nil and type(list) ~= "table" then
    out.note = "Kiva accepted the report but its answer's problems is a " .. type(list) .. ", not a list"
  end
  return out
end

local function journal_result(res)
  local j = res.json
  local out = { status = res.status, body = j, confirm_urls = {}, archive_ids = {}, note = answer_note(res, true) }
  local function collect(t)
    if type(t) ~= "table" then return end
    local url, id = pick(t, "confirm_url", "confirmUrl"), id_text(pick(t, "archive_id", "archiveId"))
    if type(url) == "string" then out.confirm_urls[#out.confirm_urls + 1] = url end
    if id then out.archive_ids[#out.archive_ids + 1] = id end
  end
  collect(j)
  for _, e in ipairs(type(j) == "table" and (pick(j, "journals", "data") or j) or {}) do collect(e) end
  out.confirm_url, out.archive_id = out.confirm_urls[1], out.archive_ids[1]
  if not out.note and not out.confirm_url and not out.archive_id then
    out.note = "Kiva accepted the journal but its answer has no confirm_url nor archive_id"
  end
  return out
end

local RESULT_OF = { loan_draft = draft_result, repayments = batch_result, journals = journal_result }

--- Sends request bodies of one kind ("loan_draft", "repayments", "journals"), each
-- a JSON string sent as given (the caller encoded it, and hashed those very bytes),
-- at most `concurrency` at once. `bodies` is an array, or a function returning the
-- next body (nil at the end) so a caller can stream them; each body may also be a
-- table { body = json, item = anything } whose `item` comes back in the callbacks.
-- Results come through callbacks only:
--   opts.before_send(item) -> true | nil, err: right before each attempt leaves (the
--     token in hand), retries included; an err keeps it unsent and becomes its result.
--   opts.on_retry(item, err, delay): a surely-unapplied failure will be retried.
--   opts.on_result(item, res, err): once per body; res as post_loan_draft,
--     a repayment batch { upload_id, problems, code, message, status, note } or
--     post_journals' answer.
--   opts.should_stop() -> err|nil: see kiva.transport's run.
-- `item` is the position of the body when the bodies are plain strings.
function Client:send(kind, bodies, opts)
  local make = RESULT_OF[kind]
  if not make then error("send: kind must be loan_draft, repayments or journals", 2) end
  local path, perr = self:path(kind)
  -- an array is read in place; a function is called for each body
  local pull = type(bodies) == "function" and bodies or nil
  local total = not pull and #bodies or nil
  local n = 0
  local on_retry = opts.on_retry
  local function item_retry(r, err, delay) on_retry(r.item, err, delay) end
  local function no_path() return nil, perr end
  local function next_request()
    local b
    if pull then b = pull() else b = bodies[n + 1] end
    if b == nil then return nil end
    n = n + 1
    local body, item = b, n
    if type(b) == "table" then body, item = b.body, b.item end
    local req = self:api_request("POST", path or "", body, nil, item, opts.before_send, on_retry and item_retry)
    if not path then req.prepare = no_path end
    return req
  end
  local done = 0
  local on_progress = self.opts.on_progress
  self.api:run(next_request, {
    should_stop = opts.should_stop, grace = opts.grace,
    on_result = function(_, res, err, req)
      done = done + 1
      if opts.on_result then opts.on_result(req.item, res and make(res) or nil, err) end
      if on_progress then self:progress(kind, done, total) end
    end,
  })
end

--- Sends one loan draft (a table, validated and encoded here, or a JSON string sent as given).
-- @return { loan_draft_uuid, code, message, status, body, note, warnings } | nil, err
function Client:post_loan_draft(draft)
  local out = self:post_loan_drafts({ draft })[1]
  return out.res, out.err
end

--- Sends many drafts in parallel (at most `concurrency` at once).
-- opts.on_result(i, res, err) as each finishes; opts.before_send(i) -> true | nil,
-- err right before each attempt of draft i leaves; opts.on_retry(i, err, delay).
-- @return array of { res =, err = } in input order
function Client:post_loan_drafts(list, opts)
  opts = opts or {}
  local out, bodies = {}, {}
  for i, draft in ipairs(list) do
    local body, err = self:encode("loan_draft", draft)
    if body then
      bodies[#bodies + 1] = { body = body, item = i }
    else
      out[i] = { err = err }
      if opts.on_result then opts.on_result(i, nil, err) end
    end
  end
  self:send("loan_draft", bodies, {
    before_send = opts.before_send, on_retry = opts.on_retry, should_stop = opts.should_stop,
    on_result = function(i, res, err)
      out[i] = { res = res, err = err }
      if opts.on_result then opts.on_result(i, res, err) end
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
-- 250, never above 300) sent in parallel; opts.on_retry(batch_index, err, delay)
-- when a batch will be sent again.
-- @return { batches = { {index, first, last, upload_id, problems, note, err}, ... },
-- problems = {...} (each with its batch index), upload_ids = {...} }, err of the first
-- failed batch (nil when all went through) | nil, err when nothing was sent
function Client:post_repayments(list, opts)
  opts = opts or {}
  local items = type(list) == "table" and list.repayments or list
  if type(items) ~= "table" then error("post_repayments: expected an array of repayments", 2) end
  local size = opts.batch_size or self.opts.batch_size
  if math.type(size) ~= "integer" or size < 1 or size > contract.MAX_BATCH then
    error("post_repayments: batch_size must be an integer from 1 to " .. contract.MAX_BATCH, 2)
  end
  if self.settings.csv_format == "two" then items = without(items, "client_id") end
  local _, perr = self:path("repayments")
  if perr then return nil, perr end
  local batches, bodies = {}, {}
  for first = 1, #items, size do
    local last = math.min(first + size - 1, #items)
    local body, err = self:encode("repayments", { repayments = table.move(items, first, last, 1, {}) })
    if not body then
      err.message = string.format("repayments %d-%d: %s", first, last, err.message)
      return nil, err
    end
    batches[#batches + 1] = { index = #batches + 1, first = first, last = last }
    bodies[#bodies + 1] = body
  end
  local result = { batches = batches, problems = {}, upload_ids = {} }
  local first_err
  self:send("repayments", bodies, {
    on_result = function(k, res, err)
      local b = batches[k]
      if res then
        for key, v in pairs(res) do b[key] = v end
        for _, p in ipairs(b.problems) do p.batch = k end
      else
        err.batch = k
        b.err = err
      end
    end,
    on_retry = opts.on_retry,
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
-- @return { archive_id, confirm_url, confirm_urls, archive_ids, status, body, note } | nil, err
function Client:post_journals(list)
  local items = type(list) == "table" and list.journals or list
  if type(items) ~= "table" then error("post_journals: expected an array of journals", 2) end
  if self.settings.csv_format == "two" then items = without(items, "internal_client_id") end
  local body, err = self:encode("journals", { journals = items })
  if not body then return nil, err end
  local res, rerr
  self:send("journals", { body }, { on_result = function(_, r, e) res, rerr = r, e end })
  return res, rerr
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
  local res, err = self.api:request(self:api_request("GET", path .. query_string(q), nil, CHECK.loans))
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
  local limit = math.min(q.limit or self.opts.page_size, contract.MAX_PAGE)
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
  local res, err = self.api:request(self:api_request("GET", path, nil, function(r)
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
