--- kiva.auth: OAuth2 client credentials as Kiva's contract says. One token per
-- client, renewed 5 minutes before it runs out (from expires_in and the JWT's
-- exp, whichever comes first) and once more after a 401. An optional cache file
-- (mode 0600, keyed by token URL, client id, audience and scopes) lets runs a few
-- minutes apart share a token (written as a new O_EXCL|O_NOFOLLOW file renamed over
-- it, and not used in a directory others may write to). The token itself never
-- leaves this module except in the Authorization header. A token answer is checked
-- before use (Auth.entry_from); once a secret is loaded the process cannot dump core.
local cjson = require "cjson.safe"
local core = require "kiva.core"
local errors = require "kiva.errors"
local files = require "kiva.files"

local Auth = {}
Auth.__index = Auth
Auth.__name = "kiva.auth"

-- A token is renewed MARGIN seconds before it expires, or a quarter of its
-- lifetime before when it lives less than 20 minutes (the sandbox's short TTLs).
Auth.MARGIN = 300
Auth.DEFAULT_LIFETIME = 600  -- when a token says nothing of its expiry
-- A token's lifetime is clamped to this range: renewals at least a minute apart
-- however short the answer says, and no date past a day however long.
Auth.MIN_LIFETIME = 60
Auth.MAX_LIFETIME = 86400

Auth.ALL_SCOPES = require("kiva.contract").SCOPES

--- Percent-encodes every byte outside RFC 3986's unreserved set.
function Auth.form_encode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

--- auth over `transport` for `settings` (client_id, client_secret, auth_url,
-- audience, token_cache). opts: scopes (array), now (clock, for tests), log.
function Auth.new(transport, settings, opts)
  opts = opts or {}
  local self = setmetatable({
    transport = transport, settings = settings,
    scopes = opts.scopes or Auth.ALL_SCOPES, now = opts.now or core.now,
    token_requests = 0, cache_path = settings.token_cache, on_log = opts.on_log,
  }, Auth)
  -- the secret in every form it may take in a message or trace
  local secrets = transport.secrets
  secrets[#secrets + 1] = settings.client_secret
  secrets[#secrets + 1] = Auth.form_encode(settings.client_secret)
  -- the secret is in memory: no core file, no ptrace by other processes
  core.protect_process()
  return self
end

function Auth:log(level, message)
  if self.on_log then self.on_log(level, message) end
end

-- Lua's own rendering of a value Kiva answered, short and on one line (never
-- the token itself: only called for values that were refused for their shape).
local function shown(v)
  local text = type(v) == "string" and string.format("%q", v:sub(1, 40)) or tostring(v)
  return (text:gsub("[%c\127]", function(c) return string.format("\\%d", c:byte()) end))
end

-- RFC 6750's b64token: what may follow "Bearer " in a header.
local function is_b64token(s)
  return #s <= 16384 and s:find("^[%w%-%._~%+/]+=*$") ~= nil
end

local function jwt_claims(token)
  local payload = token:match("^[%w%-_]+%.([%w%-_]+)%.")
  if not payload then return nil end
  local raw = core.base64url_decode(payload)
  if not raw then return nil end
  local claims = cjson.decode(raw)
  return type(claims) == "table" and claims or nil
end

local function partner_from(tbl)
  if type(tbl) ~= "table" then return nil end
  for k, v in pairs(tbl) do
    if type(k) == "string" and (k == "partnerId" or k == "partner_id" or k:match("[/:]partnerId$"))
        and (type(v) == "string" or math.type(v) == "integer") then
      return tostring(v)
    end
  end
  return nil
end

function Auth:cache_key()
  local s = self.settings
  return core.sha256_hex(table.concat({ s.auth_url, s.client_id, s.audience,
    table.concat(self.scopes, " ") }, "\n"))
end

-- Whether the cache's directory is safe: one that others may write to could swap
-- the cache or its temporary file for their own (checked once per client).
function Auth:cache_dir_safe()
  if self.cache_dir_ok == nil then
    local dir = self.cache_path:match("^(.*)/[^/]*$") or "."
    if dir == "" then dir = "/" end
    local mode = core.file_mode(dir)
    self.cache_dir_ok = mode ~= nil and mode & files.OTHERS_WRITE == 0
    if not self.cache_dir_ok then
      self:log("warn", string.format("token cache %s not used: its directory %s is %s (run: chmod go-w %s)",
        self.cache_path, dir, mode and string.format("writable by others (mode %03o)", mode) or "missing", dir))
    end
  end
  return self.cache_dir_ok
end

-- The cache file as a table of key -> entry; {} when absent, unreadable or unsafe.
function Auth:read_cache()
  local path = self.cache_path
  if not self:cache_dir_safe() then return {} end
  local mode = core.file_mode(path)
  if not mode then return {} end
  if mode & files.OTHERS_ANY ~= 0 then   -- someone else could read the token
    self:log("warn", "token cache " .. path .. " is readable by others; ignored")
    return {}
  end
  local f = io.open(path, "rb")
  if not f then return {} end
  local data = cjson.decode(f:read("a") or "")
  f:close()
  return type(data) == "table" and data or {}
end

function Auth:write_cache(entry)
  local path = self.cache_path
  if not self:cache_dir_safe() then return end
  local lock = core.lock(path .. ".lock", 5)
  local data = self:read_cache()
  local now = self.now()
  for k, e in pairs(data) do
    if type(e) ~= "table" or type(e.expires_at) ~= "number" or e.expires_at <= now then data[k] = nil end
  end
  data[self:cache_key()] = entry
  -- a new file (O_EXCL|O_NOFOLLOW, mode 0600) renamed over the cache: a planted
  -- file or link is never written through
  local ok, err = core.write_private(path, cjson.encode(data), files.PRIVATE_FILE)
  if not ok then self:log("warn", "token cache not written: " .. tostring(err)) end
  if lock then lock:unlock() end
end

function Auth:adopt(entry)
  self.token = entry.access_token
  self.expires_at = entry.expires_at
  self.granted = entry.scope
  self.partner_id = entry.partner_id
  self.lifetime = entry.lifetime
  local secrets = self.transport.secrets
  secrets[#secrets + 1] = entry.access_token
end

-- Whether a token expiring at `expires_at` (of `lifetime` s) is still good to send:
-- not within the renewal margin (a quarter of the lifetime for short-lived tokens).
function Auth:unexpired(expires_at, lifetime)
  local margin = Auth.MARGIN
  if lifetime and lifetime < 4 * margin then margin = lifetime / 4 end
  return expires_at - margin > self.now()
end

function Auth:fresh(entry)
  if not (type(entry) == "table" and type(entry.access_token) == "string" and is_b64token(entry.access_token)
      and type(entry.expires_at) == "number" and entry.expires_at == entry.expires_at
      and (entry.partner_id == nil or tostring(entry.partner_id):match("^%d+$"))) then
    return false
  end
  return self:unexpired(entry.expires_at, entry.lifetime)
end

--- The cache entry for a token answer `body` (decoded JSON) received at `now`, or
-- nil and why it cannot be used: access_token in RFC 6750's character set (no CR
-- LF into a header), partnerId digits only (it becomes a URL path segment and a
-- ledger key), expires_in a finite number, the lifetime clamped to
-- [MIN_LIFETIME, MAX_LIFETIME].
function Auth.entry_from(body, now, scopes)
  if type(body) ~= "table" then return nil, "it is not a JSON object" end
  local token = body.access_token
  if type(token) ~= "string" or token == "" then return nil, "it has no access_token" end
  if not is_b64token(token) then
    return nil, "its access_token has characters a token may not have (RFC 6750: letters, digits, - . _ ~ + / =)"
  end
  local claims = jwt_claims(token)
  local partner = partner_from(body) or partner_from(claims)
  if partner and not partner:match("^%d+$") then
    return nil, "its partnerId " .. shown(partner) .. " is not digits only"
  end
  local lifetime = Auth.DEFAULT_LIFETIME
  if body.expires_in ~= nil then
    local n = tonumber(body.expires_in)
    if not n or n ~= n or n == math.huge or n == -math.huge then
      return nil, "its expires_in " .. shown(body.expires_in) .. " is not a finite number of seconds"
    end
    lifetime = n
  end
  local exp = claims and tonumber(claims.exp)
  if exp and exp == exp and exp - now < lifetime then lifetime = exp - now end
  lifetime = math.floor(math.max(Auth.MIN_LIFETIME, math.min(Auth.MAX_LIFETIME, lifetime)))
  return {
    access_token = token, expires_at = now + lifetime, lifetime = lifetime,
    scope = type(body.scope) == "string" and body.scope or table.concat(scopes, " "),
    partner_id = partner,
  }
end

--- Asks the token URL for a new token.
-- @return true | nil, err (kind "auth" for refused credentials)
function Auth:request_token()
  local s = self.settings
  local form = {
    "grant_type=client_credentials",
    "scope=" .. Auth.form_encode(table.concat(self.scopes, " ")),
    "audience=" .. Auth.form_encode(s.audience),
    "client_id=" .. Auth.form_encode(s.client_id),
    "client_secret=" .. Auth.form_encode(s.client_secret),
  }
  self.token_requests = self.token_requests + 1
  local res, err = self.transport:request {
    method = "POST", url = s.auth_url, endpoint = "token", idempotent = true,
    headers = { "Accept: application/json", "Content-Type: application/x-www-form-urlencoded" },
    body = table.concat(form, "&"),
  }
  if not res then
    if err.status == 401 or err.status == 403 or err.status == 400 then
      err.kind = "auth"
      err.message = err.message .. " (check the client id and secret)"
    end
    return nil, err
  end
  local entry, why = Auth.entry_from(res.json, self.now(), self.scopes)
  if not entry then
    return nil, errors.new("auth", "the token URL's answer cannot be used: " .. why, { status = res.status })
  end
  self:adopt(entry)
  if self.cache_path then self:write_cache(entry) end
  return true
end

--- The current access token, renewed when within 5 minutes of expiry.
-- @return token | nil, err
function Auth:access_token()
  -- called before every request: no table built on this path
  local token = self.token
  if type(token) == "string" and type(self.expires_at) == "number"
      and self:unexpired(self.expires_at, self.lifetime) then
    return token
  end
  if self.cache_path and not self.token and not self.skip_cache then
    local entry = self:read_cache()[self:cache_key()]
    if self:fresh(entry) then
      self:adopt(entry)
      return self.token
    end
  end
  -- refused credentials stay refused for this client: do not ask again per request
  if self.refused then return nil, self.refused end
  local ok, err = self:request_token()
  if not ok then
    if err.kind == "auth" then self.refused = err end
    return nil, err
  end
  return self.token
end

--- Forgets `token` after a 401 so that the next call asks for a new one. Every
-- request refused with `token` is worth one more try: the first to report it drops
-- the token, and the others, in flight with the same token at the time, find it
-- dropped or already renewed (the transport resends each at most once).
-- @return true
function Auth:invalidate(token)
  if token == self.token then
    self.token, self.expires_at = nil, nil
    self.skip_cache = true   -- the cache holds the refused token
  end
  return true
end

--- partner_id, scopes (array), expires_at: never the token.
-- @return info | nil, err
function Auth:info()
  local _, err = self:access_token()
  if err then return nil, err end
  local scopes = {}
  for sc in (self.granted or ""):gmatch("%S+") do scopes[#scopes + 1] = sc end
  return { partner_id = self.partner_id, scopes = scopes, expires_at = self.expires_at }
end

return Auth
