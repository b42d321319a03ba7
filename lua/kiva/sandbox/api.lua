-- Kiva's behaviour, as ../shared/kiva-partner-api.md describes it: the OAuth2
-- token endpoint, the Partner API endpoints, the injected faults, and the
-- sandbox's own /__sandbox/ endpoints. `M.new(cfg)` returns the server handler.
local json = require "kiva.json"
local mime = require "mime"
local judge = require "kiva.sandbox.judge"
local portfolio = require "kiva.sandbox.portfolio"

local M = {}

M.ALL_SCOPES = require("kiva.contract").SCOPES
M.MAX_BATCH = require("kiva.contract").MAX_BATCH
M.MAX_LIMIT = require("kiva.contract").MAX_PAGE

local JSON_TYPE = { ["Content-Type"] = "application/json; charset=utf-8" }

local function reply(status, value, extra)
  local headers = JSON_TYPE
  if extra then
    headers = {}
    for k, v in pairs(JSON_TYPE) do headers[k] = v end
    for k, v in pairs(extra) do headers[k] = v end
  end
  return { status = status, headers = headers, body = json.encode(value) }
end

local function api_error(status, code, message, extra)
  local body = { code = code, message = message }
  for k, v in pairs(extra or {}) do body[k] = v end
  return reply(status, body, status == 401 and { ["WWW-Authenticate"] = 'Bearer realm="kiva"' } or nil)
end

local function oauth_error(status, code, description)
  return reply(status, { error = code, error_description = description })
end

local function base64url(s)
  return ((mime.b64(s)):gsub("[+/=]", { ["+"] = "-", ["/"] = "_", ["="] = "" }))
end

local function url_decode(s)
  s = s:gsub("%+", " ")
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function parse_form(body)
  local form = {}
  for pair in body:gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    form[url_decode(k)] = url_decode(v)
  end
  return form
end

-- The media type of a Content-Type header, lower-case, and its charset parameter.
local function media_type(value)
  if not value then return nil end
  local mt = value:match("^%s*([^;%s]+)")
  local charset = value:lower():match(";%s*charset%s*=%s*\"?([%w_-]+)")
  return mt and mt:lower(), charset
end

local function is_loopback(peer)
  return peer ~= nil and require("kiva.config").is_loopback(peer)
end

local is_list, nonempty_string = judge.is_list, judge.text

-- The decoded JSON object of a POST body | nil, 400 answer.
local function json_body(req)
  local mt, charset = media_type(req.headers["content-type"])
  if mt ~= "application/json" then
    return nil, api_error(400, "invalid_content_type", "Content-Type must be application/json")
  end
  if charset and charset ~= "utf-8" and charset ~= "utf8" then
    return nil, api_error(400, "invalid_content_type", "charset must be utf-8")
  end
  if not utf8.len(req.body) then
    return nil, api_error(400, "invalid_utf8", "body is not valid UTF-8")
  end
  local value, err = json.decode(req.body)
  if value == nil then
    return nil, api_error(400, "malformed_json", "body is not valid JSON: " .. tostring(err))
  end
  if type(value) ~= "table" then
    return nil, api_error(400, "malformed_json", "body must be a JSON object")
  end
  return value
end

local function draft_key(draft)
  if type(draft) ~= "table" then return nil end
  if type(draft.internal_loan_id) == "string" then return draft.internal_loan_id end
  local first = type(draft.entreps) == "table" and draft.entreps[1]
  return type(first) == "table" and type(first.loan_id) == "string" and first.loan_id or nil
end

-- Item keys of a request body, for the fault record (best effort: never fails).
local function request_keys(endpoint, body)
  local keys = {}
  local ok, value = pcall(json.decode, body)
  if not ok or type(value) ~= "table" then return keys end
  if endpoint == "loan_draft" then
    keys[1] = draft_key(value)
  else
    local items = value[endpoint]
    if type(items) == "table" then
      for _, it in ipairs(items) do
        local k = type(it) == "table" and (it.loan_id or it.internal_loan_id)
        if type(k) == "string" then keys[#keys + 1] = k end
      end
    end
  end
  return keys
end

-- What a loan made from this draft looks like in the partner's loans list.
local function draft_summary(draft, key)
  local first = is_list(draft.entreps) and type(draft.entreps[1]) == "table" and draft.entreps[1] or {}
  local amount = 0
  for _, e in ipairs(is_list(draft.entreps) and draft.entreps or {}) do
    if type(e) == "table" and type(e.amount) == "number" then amount = amount + e.amount end
  end
  local name = draft.group_name
  if type(name) ~= "string" then
    name = table.concat({ type(first.first_name) == "string" and first.first_name or nil,
      type(first.last_name) == "string" and first.last_name or nil }, " ")
  end
  local client = type(draft.internal_client_id) == "string" and draft.internal_client_id or first.client_id
  return { internal_loan_id = key, internal_client_id = type(client) == "string" and client or nil,
    name = name, borrower_count = is_list(draft.entreps) and #draft.entreps or 1,
    location = type(draft.location) == "string" and draft.location or nil,
    loan_currency = type(draft.currency) == "string" and draft.currency or nil,
    loan_local_price = amount }
end

-- The items list of a batch body | nil, 400 answer.
local function batch_items(req, name)
  local body, bad = json_body(req)
  if not body then return nil, bad end
  local items = body[name]
  if not is_list(items) then
    return nil, api_error(400, "invalid_request", string.format('body must be {"%s": [ ... ]}', name))
  end
  if #items == 0 then return nil, api_error(400, "invalid_request", name .. " is empty") end
  if #items > M.MAX_BATCH then
    return nil, api_error(400, "too_many_items",
      string.format("at most %d %s per call, got %d", M.MAX_BATCH, name, #items))
  end
  for i, it in ipairs(items) do
    if type(it) ~= "table" then
      return nil, api_error(400, "invalid_request", string.format("%s[%d] must be an object", name, i))
    end
  end
  return items
end

local function problem(list, loan_id, code, details, severity)
  list[#list + 1] = { loan_id = type(loan_id) == "string" and loan_id or json.null, code = code,
    details = details, severity = severity or "error" }
end

-- One sandbox: its configuration, the tokens it issued, the journal archives it
-- made, and the state (kiva.sandbox.state) it records what it applied in.
local Sandbox = {}
Sandbox.__index = Sandbox

function Sandbox:uuid()
  local b = { self.cfg.random(16):byte(1, 16) }
  b[7] = (b[7] & 0x0f) | 0x40
  b[9] = (b[9] & 0x3f) | 0x80
  return string.format("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
    table.unpack(b))
end

---------------------------------------------------------------- token endpoint
function Sandbox:token(req)
  self.state.token_requests = self.state.token_requests + 1
  self.state:changed()
  if req.method ~= "POST" then return oauth_error(405, "invalid_request", "use POST") end
  if media_type(req.headers["content-type"]) ~= "application/x-www-form-urlencoded" then
    return oauth_error(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
  end
  local form = parse_form(req.body)
  if form.grant_type ~= "client_credentials" then
    return oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
  end
  if form.client_id ~= self.cfg.client_id or form.client_secret ~= self.cfg.client_secret then
    return oauth_error(401, "access_denied", "Unauthorized")
  end
  if form.audience == nil or form.audience == "" then
    return oauth_error(400, "invalid_request", "audience is required")
  end
  if form.audience ~= self.cfg.api_url then
    return oauth_error(403, "access_denied", "Service not enabled within domain: " .. form.audience)
  end
  local scopes = {}
  if form.scope == nil or not form.scope:match("%S") then
    for _, s in ipairs(self.cfg.scopes) do scopes[#scopes + 1] = s end
  else
    local seen = {}
    for s in form.scope:gmatch("%S+") do
      if self.granted[s] and not seen[s] then
        scopes[#scopes + 1] = s
        seen[s] = true
      end
    end
  end
  local scope = table.concat(scopes, " ")
  local now = math.floor(self.cfg.clock())
  local jti = base64url(self.cfg.random(12))
  local claims = {
    iss = self.issuer, sub = self.cfg.client_id .. "@clients", aud = self.cfg.api_url, iat = now,
    exp = now + self.cfg.token_ttl, scope = scope, gty = "client-credentials", azp = self.cfg.client_id,
    partnerId = self.cfg.partner_id, jti = jti,
  }
  local jwt = base64url('{"alg":"RS256","typ":"JWT","kid":"kiva-sandbox"}') .. "."
    .. base64url(json.encode(claims)) .. "." .. base64url(self.cfg.random(64))
  local set = {}
  for _, s in ipairs(scopes) do set[s] = true end
  -- the exact issue time, not the claim's whole second: a 1 s token lives 1 s
  self.tokens[jwt] = { exp = self.cfg.clock() + self.cfg.token_ttl, scopes = set, partner_id = self.cfg.partner_id }
  return reply(200, {
    access_token = jwt, token_type = "bearer", expires_in = self.cfg.token_ttl, scope = scope,
    iss = self.issuer, partnerId = self.cfg.partner_id, jti = jti,
  })
end

---------------------------------------------------------------- API endpoints
function Sandbox:bearer(req)
  local h = req.headers["authorization"]
  local tok = h and h:match("^%s*[Bb][Ee][Aa][Rr][Ee][Rr]%s+(%S+)%s*$")
  if not tok then return nil, api_error(401, "unauthorized", "missing bearer token") end
  local info = self.tokens[tok]
  if not info then return nil, api_error(401, "unauthorized", "invalid token") end
  if self.cfg.clock() >= info.exp then return nil, api_error(401, "unauthorized", "token expired") end
  return info
end

function Sandbox:post_loan_draft(req)
  local draft, bad = json_body(req)
  if not draft then return bad end
  local errors, warnings = judge.loan_draft(draft, judge.today(self.cfg.clock()))
  if #errors > 0 then
    return api_error(400, "validation_failed", "the loan draft is invalid", { errors = json.array(errors) })
  end
  local id = self:uuid()
  local key = draft_key(draft) or ("?" .. id)
  self.state:add_draft(id, key, draft_summary(draft, key))
  self.state:changed()
  return reply(200, { code = "OK", message = "loan draft created", loan_draft_uuid = id,
    warnings = json.array(warnings) }), true, { key }
end

-- Checks the loan and client ids of one item; true when it may be applied.
function Sandbox:check_loan(problems, loan_id, client_id)
  if not nonempty_string(loan_id) then
    problem(problems, loan_id, "missing_loan_id", "loan_id is required")
    return nil
  end
  local loan = self.cfg.portfolio:find(loan_id)
  if not loan then
    problem(problems, loan_id, "loan_not_found", "no loan " .. loan_id .. " in this partner's portfolio")
    return nil
  end
  if self.cfg.csv_format == "three" then
    if not nonempty_string(client_id) then
      problem(problems, loan_id, "missing_client_id", "client_id is required (three-column format)")
      return nil
    end
    if client_id ~= loan.internal_client_id then
      problem(problems, loan_id, "client_id_mismatch",
        string.format("client %s is not the borrower of loan %s", client_id, loan_id))
      return nil
    end
  end
  return loan
end

-- A batch POST (repayments, journals): each item's loan and client checked, then
-- vet(item, loan, problems) -> true when it may be applied, then apply(batch_id,
-- item, loan, problems). @return { id, problems, keys (item loan ids), accepted, count }
-- | nil, 400 answer
function Sandbox:apply_batch(req, name, fields, vet, apply)
  local items, bad = batch_items(req, name)
  if not items then return nil, bad end
  local batch = { id = self:uuid(), problems = json.array(), keys = {}, accepted = 0, count = #items }
  for _, it in ipairs(items) do
    local loan_id = it[fields.loan]
    batch.keys[#batch.keys + 1] = type(loan_id) == "string" and loan_id or nil
    local loan = self:check_loan(batch.problems, loan_id, it[fields.client])
    if loan and vet(it, loan, batch.problems) then
      apply(batch.id, it, loan, batch.problems)
      batch.accepted = batch.accepted + 1
    end
  end
  if batch.accepted > 0 then self.state:changed() end
  return batch
end

local REPAYMENT_FIELDS = { loan = "loan_id", client = "client_id" }
local JOURNAL_FIELDS = { loan = "internal_loan_id", client = "internal_client_id" }

local function vet_repayment(it, loan, problems)
  if not portfolio.REPAYABLE[loan.status] then
    problem(problems, it.loan_id, "loan_not_repaying",
      string.format("loan %s is %s: Kiva expects no repayment for it", it.loan_id, loan.status))
    return false
  end
  if math.type(it.amount) == nil or it.amount <= 0 or it.amount ~= it.amount then
    problem(problems, it.loan_id, "invalid_amount", "amount must be a positive number")
    return false
  end
  return true
end

local function vet_journal(it, _, problems)
  if not nonempty_string(it.subject) or not nonempty_string(it.body) then
    problem(problems, it.internal_loan_id, "missing_text", "subject and body are required")
    return false
  end
  return true
end

function Sandbox:post_repayments(req)
  local state = self.state
  local batch, bad = self:apply_batch(req, "repayments", REPAYMENT_FIELDS, vet_repayment,
    function(upload_id, it, loan, problems)
      if it.amount > loan.loan_local_price then
        problem(problems, it.loan_id, "amount_exceeds_loan",
          string.format("amount %s exceeds the loan's %s %s", it.amount, loan.loan_local_price,
            loan.loan_currency), "warning")
      end
      state:add_repayment(upload_id, it.loan_id, type(it.client_id) == "string" and it.client_id or nil, it.amount)
    end)
  if not batch then return bad end
  return reply(200, { code = "OK",
    message = string.format("%d of %d repayments accepted", batch.accepted, batch.count),
    upload_id = batch.id, problems = batch.problems }), batch.accepted > 0, batch.keys
end

function Sandbox:post_journals(req)
  local state = self.state
  local batch, bad = self:apply_batch(req, "journals", JOURNAL_FIELDS, vet_journal, function(archive_id, it)
    state:add_journal(archive_id, it.internal_loan_id, it.subject)
  end)
  if not batch then return bad end
  if batch.accepted > 0 then self.archives[batch.id] = true end
  return reply(200, { code = "OK",
    message = string.format("%d of %d journals accepted", batch.accepted, batch.count),
    archive_id = batch.id, confirm_url = self.cfg.api_url .. "/__sandbox/journals/" .. batch.id .. "/confirm",
    problems = batch.problems }), batch.accepted > 0, batch.keys
end

function Sandbox:get_loans(req)
  local q = parse_form(req.query or "")
  local offset = tonumber(q.offset or "0")
  local limit = tonumber(q.limit or "20")
  if not offset or math.type(offset) ~= "integer" or offset < 0 then
    return api_error(400, "invalid_request", "offset must be a non-negative integer")
  end
  if not limit or math.type(limit) ~= "integer" or limit < 1 then
    return api_error(400, "invalid_request", "limit must be a positive integer")
  end
  if limit > M.MAX_LIMIT then
    return api_error(400, "invalid_request", string.format("limit must be at most %d", M.MAX_LIMIT))
  end
  return reply(200, self.cfg.portfolio:page(q.query, q.status, offset, limit))
end

local ENDPOINTS = {
  loan_draft = { method = "POST", scope = "create:loan_draft", run = "post_loan_draft" },
  repayments = { method = "POST", scope = "create:repayment", run = "post_repayments" },
  journals = { method = "POST", scope = "create:journal_update", run = "post_journals" },
  loans = { method = "GET", scope = "read:loans", run = "get_loans" },
}

local FAULT_ANSWERS = {
  ["503"] = function() return api_error(503, "service_unavailable", "try again later") end,
  ["429"] = function()
    local r = api_error(429, "too_many_requests", "slow down")
    r.headers["Retry-After"] = "1"
    return r
  end,
  ["500after"] = function() return api_error(500, "internal_error", "something went wrong") end,
}

-- One API call without faults: answer, applied (bool), item keys.
function Sandbox:api_call(req)
  local info, unauthorized = self:bearer(req)
  if not info then return unauthorized end
  local partner, rest = req.path:match("^/v3/partner/([^/]+)/(.-)/*$")
  if not partner then return api_error(404, "not_found", "no such endpoint") end
  local ep = ENDPOINTS[rest]
  local config_name = rest:match("^config/(%w+)$")
  if config_name then
    local answer = self.cfg.portfolio:partner_config(config_name)
    if not answer then return api_error(404, "not_found", "no such config list") end
    ep = { method = "GET", answer = answer }
  end
  if not ep then return api_error(404, "not_found", "no such endpoint") end
  if req.method ~= ep.method then
    local r = api_error(405, "method_not_allowed", "use " .. ep.method)
    r.headers["Allow"] = ep.method
    return r
  end
  if partner ~= info.partner_id then
    return api_error(403, "forbidden", "the token does not cover partner " .. partner)
  end
  if ep.scope and not info.scopes[ep.scope] then
    return api_error(403, "insufficient_scope", "the token lacks the scope " .. ep.scope)
  end
  if ep.answer then return reply(200, ep.answer) end
  return self[ep.run](self, req)
end

function Sandbox:api(req)
  self.state.requests = self.state.requests + 1
  local fault = req.method == "POST" and self.cfg.faults.decide() or nil
  if not fault then
    local res = self:api_call(req)
    self.state:changed()
    return res
  end
  local endpoint = req.path:match("/([%w_]+)/*$")
  if fault == "503" or fault == "429" or fault == "drop_before" then
    self.state:add_fault(fault, req.path, request_keys(endpoint, req.body), false)
    self.state:changed()
    if self.cfg.verbose then self.cfg.log(string.format("fault %s on POST %s (not applied)", fault, req.path)) end
    if fault == "drop_before" then return { drop = true } end
    return FAULT_ANSWERS[fault]()
  end
  local res, applied, keys = self:api_call(req)
  self.state:add_fault(fault, req.path, keys or request_keys(endpoint, req.body), applied == true)
  self.state:changed()
  if self.cfg.verbose then
    self.cfg.log(string.format("fault %s on POST %s (%s)", fault, req.path, applied and "applied" or "not applied"))
  end
  if fault == "500after" then return FAULT_ANSWERS[fault]() end
  if fault == "drop_after" then return { drop = true } end
  res.delay = self.cfg.slow_ms / 1000
  return res
end

---------------------------------------------------------------- sandbox endpoints
-- POST /__sandbox/loans/{internal_loan_id}/status {"status": S}: a posted draft
-- becomes a loan of status S (or a loan of the portfolio changes status), so that
-- repayments and journals can be tried on one's own drafts. Kept in the self.state.
function Sandbox:set_loan_status(loan_id, req)
  local body, bad = json_body(req)
  if not body then return bad end
  if not portfolio.STATUSES[body.status] then
    return api_error(400, "invalid_request", 'body must be {"status": S} with S a loan status, e.g. "payingBack"')
  end
  local loan = self.cfg.portfolio:find(loan_id)
  if loan then
    local copy = {}
    for k, v in pairs(loan) do copy[k] = v end
    loan = copy
  else
    local draft = self.state:draft(loan_id)
    if not draft or type(draft.loan) ~= "table" then
      return api_error(404, "not_found", "no loan and no posted draft " .. loan_id)
    end
    loan = {}
    for k, v in pairs(draft.loan) do loan[k] = v end
    loan.uuid = draft.uuid
  end
  loan.status = body.status
  loan = self.cfg.portfolio:put(loan)
  self.state:put_loan(loan)
  self.state:changed()
  return reply(200, loan)
end

-- POST /__sandbox/clock {"advance": seconds}: the sandbox's clock moves ahead (tokens
-- expire, "today" of the draft checks moves), so a test need not wait for it.
function Sandbox:advance_clock(req)
  local body, bad = json_body(req)
  if not body then return bad end
  local s = body.advance
  if type(s) ~= "number" or s < 0 or s ~= s or s == math.huge then
    return api_error(400, "invalid_request", 'body must be {"advance": seconds}, seconds >= 0')
  end
  if self.cfg.advance_clock then self.cfg.advance_clock(s) end
  return reply(200, { code = "OK", now = self.cfg.clock() })
end

function Sandbox:sandbox(req)
  if not is_loopback(req.peer) then
    return api_error(403, "forbidden", "sandbox endpoints answer loopback clients only")
  end
  if req.path == "/__sandbox/state" and req.method == "GET" then
    local text = self.state:encode()
    local ok, err = self.state:write(text)
    if not ok then self.cfg.log("cannot write the state file: " .. tostring(err)) end
    return { status = 200, headers = JSON_TYPE, body = text }
  end
  if req.path == "/__sandbox/shutdown" and req.method == "POST" then
    local ok, err = self.state:write()
    if not ok then self.cfg.log("cannot write the state file: " .. tostring(err)) end
    local res = reply(200, { code = "OK", message = "stopping" })
    res.close = true
    res.after = self.cfg.on_shutdown
    return res
  end
  local loan_id = req.path:match("^/__sandbox/loans/([^/]+)/status$")
  if loan_id and req.method == "POST" then return self:set_loan_status(url_decode(loan_id), req) end
  if req.path == "/__sandbox/clock" and req.method == "POST" then return self:advance_clock(req) end
  local archive = req.path:match("^/__sandbox/journals/([%x-]+)/confirm$")
  if archive and req.method == "GET" then
    if not self.archives[archive] then return api_error(404, "not_found", "no such journal archive") end
    return reply(200, { archive_id = archive, confirmed = true })
  end
  return api_error(404, "not_found", "no such sandbox endpoint")
end

-- Routes one request: the token endpoint, the Partner API, the sandbox's own.
function Sandbox:handle(req)
  local cfg = self.cfg
  if cfg.verbose then cfg.log(req.method .. " " .. req.path) end
  if req.path == self.token_path then return self:token(req) end
  if req.path:sub(1, 4) == "/v3/" then return self:api(req) end
  if req.path:sub(1, 11) == "/__sandbox/" then return self:sandbox(req) end
  return api_error(404, "not_found", "no such endpoint")
end

--- The handler for cfg: { client_id, client_secret, partner_id (string), scopes (list),
-- token_ttl, api_url, auth_url, csv_format, slow_ms, faults (decider), state, portfolio,
-- clock, advance_clock(seconds), random (n → bytes), log, verbose, on_shutdown }. Drafts are judged by
-- kiva.sandbox.judge, never by kiva.validate.
function M.new(cfg)
  local granted = {}
  for _, s in ipairs(cfg.scopes) do granted[s] = true end
  local self = setmetatable({
    cfg = cfg, state = cfg.state, granted = granted,
    tokens = {},     -- access token → { exp, scopes = set, partner_id }
    archives = {},   -- archive_id → true
    issuer = cfg.auth_url:match("^(https?://[^/]+)") .. "/",
    token_path = cfg.auth_url:match("^https?://[^/]+(/.*)$") or "/oauth/token",
  }, Sandbox)
  return function(req) return self:handle(req) end
end

return M
