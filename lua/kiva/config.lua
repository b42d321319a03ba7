--- kiva.config: the settings of interface.md resolved from, in order of
-- precedence, the caller's options, the KIVA_* environment variables, the
-- credentials file, and the defaults of the chosen environment (stage unless
-- production is asked for). URLs are checked here: https, or plain http only
-- to a loopback host (the sandbox).
local core = require "kiva.core"
local errors = require "kiva.errors"
local files = require "kiva.files"

local M = {}

M.environments = {
  stage = {
    auth_url = "https://auth-stage.dk1.kiva.org/oauth/token",
    api_url = "https://partner-api-stage.dk1.kiva.org",
  },
  production = {
    auth_url = "https://auth.k1.kiva.org/oauth/token",
    api_url = "https://partner-api.k1.kiva.org",
  },
}

--- Setting name -> environment variable (interface.md's table).
M.env_vars = {
  client_id = "KIVA_CLIENT_ID", client_secret = "KIVA_CLIENT_SECRET",
  credentials = "KIVA_CREDENTIALS", env = "KIVA_ENV", auth_url = "KIVA_AUTH_URL",
  api_url = "KIVA_API_URL", audience = "KIVA_AUDIENCE", partner_id = "KIVA_PARTNER_ID",
  ca_file = "KIVA_CA_FILE", ledger = "KIVA_LEDGER", csv_format = "KIVA_CSV_FORMAT",
  token_cache = "KIVA_TOKEN_CACHE",
}

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

--- Reads a credentials file of `client_id=` / `client_secret=` lines ('#' comments).
-- Refused when group- or world-readable.
-- @return { client_id =, client_secret = } | nil, err (kind "config")
function M.read_credentials(path)
  local mode, msg = core.file_mode(path)
  if not mode then return nil, errors.config("credentials file: " .. msg) end
  if mode & files.OTHERS_ANY ~= 0 then   -- others could read the secret or replace it with theirs
    return nil, errors.config(string.format(
      "credentials file %s is readable or writable by group or others (mode %03o); run: chmod 600 %s",
      path, mode, path))
  end
  local f, ferr = io.open(path, "rb")
  if not f then return nil, errors.config("credentials file: " .. ferr) end
  local out, n = {}, 0
  for line in f:lines() do
    n = n + 1
    line = line:gsub("\r$", "")
    if not line:match("^%s*#") and line:match("%S") then
      local key, value = line:match("^%s*([%w_]+)%s*=(.*)$")
      if key == "client_id" or key == "client_secret" then
        out[key] = trim(value)
      elseif not key then
        f:close()
        return nil, errors.config(string.format("credentials file %s:%d: expected name=value", path, n))
      end
    end
  end
  f:close()
  if out.client_secret then core.protect_process() end   -- no core file holds it from now on
  return out
end

--- Splits a URL into scheme, host (without brackets), port and path.
function M.parse_url(url)
  local scheme, rest = url:match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then return nil end
  local authority, path = rest:match("^([^/?#]*)(.*)$")
  if authority:find("@", 1, true) then return nil end   -- no credentials in URLs
  local host, port = authority:match("^%[([^%]]+)%]:?(%d*)$")
  if not host then host, port = authority:match("^([^:]*):?(%d*)$") end
  if not host or host == "" then return nil end
  return { scheme = scheme:lower(), host = host:lower(), port = tonumber(port), path = path }
end

--- True for localhost, 127.0.0.0/8 and ::1 (also 127.x written as an IPv4-mapped
-- IPv6 address, as a dual-stack socket gives its peer).
function M.is_loopback(host)
  if host == "localhost" or host == "::1" or host == "0:0:0:0:0:0:0:1" then return true end
  local a, b, c, d = (host:gsub("^::ffff:", "")):match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if a and tonumber(a) == 127 and tonumber(b) < 256 and tonumber(c) < 256 and tonumber(d) < 256 then
    return true
  end
  return false
end

-- The hosts of Kiva's production (kiva-partner-api.md): anything under k1.kiva.org.
local function production_host(host)
  return host == "k1.kiva.org" or host:sub(-#".k1.kiva.org") == ".k1.kiva.org"
end

--- Whether `url` is on one of Kiva's production hosts.
function M.is_production_url(url)
  local u = M.parse_url(tostring(url))
  return u ~= nil and production_host(u.host)
end

--- Whether `url` belongs to environment `env`: production hosts for production,
-- anything else (stage, the sandbox, a proxy) for stage.
function M.belongs(url, env)
  return M.is_production_url(url) == (env == "production")
end

--- A one-line description of where requests go: "production https://... (partner 123)".
function M.target_line(s)
  return string.format("%s %s (token %s%s)", s.production and "PRODUCTION" or s.env, s.api_url, s.auth_url,
    s.partner_id and (", partner " .. s.partner_id) or "")
end

--- Checks that `url` may carry credentials: https, or http to a loopback host.
-- @return true | nil, err (kind "config")
function M.check_url(name, url)
  local u = M.parse_url(url)
  if not u then return nil, errors.config(name .. ": not a valid URL: " .. url) end
  if u.scheme == "https" then return true end
  if u.scheme == "http" then
    if M.is_loopback(u.host) then return true end
    return nil, errors.config(name .. ": plain http:// is refused except to a loopback host "
      .. "(credentials and tokens would travel in clear): " .. url)
  end
  return nil, errors.config(name .. ": unsupported URL scheme " .. u.scheme .. ": " .. url)
end

--- Resolves the settings. `opts` holds the caller's options by lower-case name
-- (already type-checked); `getenv` defaults to os.getenv.
-- @return settings | nil, err (kind "config")
function M.resolve(opts, getenv)
  getenv = getenv or os.getenv
  local s = {}
  local function pick(name)
    local v = opts[name]
    if v == nil then
      local e = getenv(M.env_vars[name])
      if e ~= nil and e ~= "" then v = e end
    end
    return v
  end
  for name in pairs(M.env_vars) do s[name] = pick(name) end

  if s.credentials and (s.client_id == nil or s.client_secret == nil) then
    local cred, err = M.read_credentials(s.credentials)
    if not cred then return nil, err end
    s.client_id = s.client_id or cred.client_id
    s.client_secret = s.client_secret or cred.client_secret
  end

  s.env = s.env or "stage"
  local envdef = M.environments[s.env]
  if not envdef then
    return nil, errors.config("env must be \"stage\" or \"production\", got " .. tostring(s.env))
  end
  -- The caller's options beat the environment variables: when the caller names the
  -- environment, a URL left in the environment does not take its requests elsewhere
  -- (the environment's own URL is used), and one of the other environment (a
  -- production URL for stage, anything else for production) is refused.
  if opts.env ~= nil then
    for _, name in ipairs({ "api_url", "auth_url" }) do
      if opts[name] == nil and s[name] ~= nil and M.belongs(s[name], s.env) then
        s[name] = nil
      elseif opts[name] == nil and s[name] ~= nil then
        return nil, errors.config(string.format("%s is %s but the %s environment was asked for: unset %s, "
          .. "or give the URL explicitly (--%s)", M.env_vars[name], s[name], s.env, M.env_vars[name],
          name:gsub("_", "-")))
      end
    end
  end
  s.auth_url = s.auth_url or envdef.auth_url
  s.api_url = (s.api_url or envdef.api_url):gsub("/+$", "")
  s.audience = s.audience or s.api_url
  local ok, err = M.check_url("token URL", s.auth_url)
  if not ok then return nil, err end
  ok, err = M.check_url("API URL", s.api_url)
  if not ok then return nil, err end
  -- production is where Kiva's production hosts are, whatever `env` says
  s.production = M.is_production_url(s.api_url) or M.is_production_url(s.auth_url)
  if s.env == "production" then
    for _, name in ipairs({ "api_url", "auth_url" }) do
      if not M.is_production_url(s[name]) then
        return nil, errors.config(string.format("the production environment was asked for, but the %s %s is not "
          .. "one of Kiva's production hosts: refusing a mixed target", name == "api_url" and "API URL" or "token URL",
          s[name]))
      end
    end
  end

  if s.partner_id ~= nil then
    s.partner_id = tostring(math.type(s.partner_id) == "float" and math.tointeger(s.partner_id)
      or s.partner_id)
    if not s.partner_id:match("^%d+$") then
      return nil, errors.config("partner id must be digits, got " .. s.partner_id)
    end
  end
  if s.ca_file then
    local f, ferr = io.open(s.ca_file, "rb")
    if not f then return nil, errors.config("CA file: " .. tostring(ferr)) end
    f:close()
  end
  s.csv_format = s.csv_format or "three"
  if s.csv_format ~= "two" and s.csv_format ~= "three" then
    return nil, errors.config("csv format must be \"two\" or \"three\", got " .. tostring(s.csv_format))
  end
  if s.token_cache == false or s.token_cache == "" then s.token_cache = nil end
  return s
end

--- Like resolve, and also requires client id and secret (calls that reach Kiva).
-- @return settings | nil, err (kind "config")
function M.resolve_for_calls(opts, getenv)
  local s, err = M.resolve(opts, getenv)
  if not s then return nil, err end
  local ok, cerr = M.require_credentials(s)
  if not ok then return nil, cerr end
  return s
end

--- Whether resolved settings `s` carry a client id and secret.
-- @return true | nil, err (kind "config")
function M.require_credentials(s)
  if not s.client_id or s.client_id == "" then
    return nil, errors.config("no client id: set KIVA_CLIENT_ID, a credentials file or client_id")
  end
  if not s.client_secret or s.client_secret == "" then
    return nil, errors.config("no client secret: set KIVA_CLIENT_SECRET, a credentials file or client_secret")
  end
  return true
end

return M
