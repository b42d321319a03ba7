-- A throwaway HTTPS endpoint for B3: Debian's nginx on 127.0.0.1, its own prefix under
-- bench/out/nginx, a CA and server certificate made with the openssl CLI, keep-alive,
-- canned JSON for the token URL and the Partner API paths. The access log records
-- nginx's connection serial number per request, so connections opened and token
-- requests are counted from what the server saw, not from what a client says.
local util = require "util"

local M = {}

local PARTNER = "1"

--- A JWT-shaped token (header.payload.signature, base64url) that expires in 12 hours.
local function fake_jwt()
  local function b64url(s)
    local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    local out = {}
    for i = 1, #s, 3 do
      local a, b, c = s:byte(i, i + 2)
      local n = a * 65536 + (b or 0) * 256 + (c or 0)
      local chars = 2 + (b and 1 or 0) + (c and 1 or 0)
      for k = 1, chars do
        local idx = (n >> (18 - 6 * (k - 1))) & 63
        out[#out + 1] = alphabet:sub(idx + 1, idx + 1)
      end
    end
    return table.concat(out)
  end
  local exp = os.time() + 43199
  return b64url('{"alg":"RS256","typ":"JWT"}') .. "." .. b64url(string.format(
    '{"iss":"https://auth-bench.local/","aud":"https://127.0.0.1","exp":%d,"partnerId":"%s",'
    .. '"scope":"create:loan_draft create:repayment create:journal_update read:loans"}',
    exp, PARTNER)) .. "." .. b64url("bench-signature-not-checked")
end

local function nginx_string(s)
  return "'" .. s:gsub("\\", "\\\\"):gsub("'", "\\'") .. "'"
end

--- Makes the CA and the server certificate for 127.0.0.1 under dir (once).
local function make_certs(dir)
  if util.exists(dir .. "/server.crt") and util.exists(dir .. "/ca.crt") then return true end
  local q = util.quote
  local steps = {
    "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=kiva-bench-CA"
      .. " -keyout " .. q(dir .. "/ca.key") .. " -out " .. q(dir .. "/ca.crt"),
    "openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1"
      .. " -keyout " .. q(dir .. "/server.key") .. " -out " .. q(dir .. "/server.csr"),
    "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nbasicConstraints=CA:FALSE\\n' > "
      .. q(dir .. "/ext.cnf"),
    "openssl x509 -req -days 2 -in " .. q(dir .. "/server.csr") .. " -CA " .. q(dir .. "/ca.crt")
      .. " -CAkey " .. q(dir .. "/ca.key") .. " -CAcreateserial -extfile " .. q(dir .. "/ext.cnf")
      .. " -out " .. q(dir .. "/server.crt"),
  }
  for _, cmd in ipairs(steps) do
    if not util.sh(cmd .. " >/dev/null 2>&1") then return nil, "openssl failed: " .. cmd end
  end
  return true
end

-- A location answering 200 with a fixed JSON body.
local function canned(path, body, exact)
  return string.format("    location %s%s {\n      default_type application/json;\n"
    .. "      return 200 %s;\n    }\n", exact and "= " or "~ ", path, nginx_string(body))
end

-- The nginx.conf of the bench peer: TLS on loopback, every Kiva endpoint canned,
-- one access-log line per request with its connection.
local function nginx_conf(dir, port, log, token, is_root, config)
  return table.concat({
    is_root and "user root;\n" or "",
    "worker_processes 1;\n",
    "pid ", dir, "/nginx.pid;\n",
    "error_log ", dir, "/error.log warn;\n",
    "events { worker_connections 1024; }\n",
    "http {\n",
    "  log_format conns '$connection $connection_requests $request_method $uri $status';\n",
    "  access_log ", log, " conns;\n",
    "  client_body_temp_path ", dir, "/tmp/body;\n",
    "  proxy_temp_path ", dir, "/tmp/proxy;\n",
    "  fastcgi_temp_path ", dir, "/tmp/fastcgi;\n",
    "  uwsgi_temp_path ", dir, "/tmp/uwsgi;\n",
    "  scgi_temp_path ", dir, "/tmp/scgi;\n",
    "  keepalive_requests 1000000;\n  keepalive_timeout 120s;\n",
    "  client_max_body_size 16m;\n  client_body_buffer_size 1m;\n",
    "  server {\n",
    "    listen 127.0.0.1:", port, " ssl;\n",
    "    ssl_certificate ", dir, "/server.crt;\n",
    "    ssl_certificate_key ", dir, "/server.key;\n",
    "    ssl_session_cache shared:SSL:1m;\n",
    canned("/oauth/token", string.format('{"access_token":"%s","token_type":"bearer",'
      .. '"expires_in":43199,"scope":"create:loan_draft create:repayment create:journal_update'
      .. ' read:loans","iss":"https://auth-bench.local/","partnerId":"%s","jti":"bench"}',
      token, PARTNER), true),
    canned("/v3/partner/" .. PARTNER .. "/loan_draft",
      '{"code":"200","message":"Loan draft created","loan_draft_uuid":'
      .. '"0b5e8a52-3c1d-4a53-9a7e-6f0e8d1c2b4a"}', true),
    canned("/v3/partner/" .. PARTNER .. "/repayments",
      '{"code":"200","message":"Repayments received","upload_id":"90210","problems":[]}', true),
    canned("/v3/partner/" .. PARTNER .. "/journals",
      '{"code":"200","message":"ok","archive_id":"1","confirm_url":"https://bench/confirm/1"}', true),
    canned("/v3/partner/" .. PARTNER .. "/config/activities", config.activities or "{}", true),
    canned("/v3/partner/" .. PARTNER .. "/config/locales", config.locales or "{}", true),
    canned("/v3/partner/" .. PARTNER .. "/config/themes", config.themes or "{}", true),
    canned("/v3/partner/" .. PARTNER .. "/config/locations", config.locations or "{}", true),
    "    location / { return 404; }\n",
    "  }\n}\n",
  })
end

-- Position in the access log, to count what happens after it.
local function log_mark(log)
  local f = io.open(log, "rb")
  if not f then return 0 end
  local size = f:seek("end")
  f:close()
  return size
end

-- What nginx logged since `mark`: requests, distinct connections (all, and those that
-- carried API requests), token requests, API requests, and non-2xx answers.
local function log_since(log, mark)
  local f = io.open(log, "rb")
  local r = { requests = 0, connections = 0, api_connections = 0, token_requests = 0,
    api_requests = 0, errors = 0 }
  if not f then return r end
  f:seek("set", mark)
  local seen, seen_api = {}, {}
  for line in f:lines() do
    local conn, _, _, uri, status = line:match("^(%d+) (%d+) (%S+) (%S+) (%d+)")
    if conn then
      r.requests = r.requests + 1
      if not seen[conn] then seen[conn] = true; r.connections = r.connections + 1 end
      if uri == "/oauth/token" then r.token_requests = r.token_requests + 1
      else
        r.api_requests = r.api_requests + 1
        if not seen_api[conn] then seen_api[conn] = true; r.api_connections = r.api_connections + 1 end
      end
      if status:sub(1, 1) ~= "2" then r.errors = r.errors + 1 end
    end
  end
  f:close()
  return r
end

--- Starts nginx; returns a handle { port, base, auth_url, api_url, ca_file, token, log,
-- stop(), mark(), since(mark) } or nil, reason.
function M.start(out_dir, config_json)
  if not util.sh("command -v nginx >/dev/null 2>&1") and not util.exists("/usr/sbin/nginx") then
    return nil, "nginx not installed"
  end
  if out_dir:sub(1, 1) ~= "/" then out_dir = (os.getenv("PWD") or ".") .. "/" .. out_dir end
  local dir = out_dir .. "/nginx"
  util.sh("mkdir -p " .. util.quote(dir .. "/tmp"))
  util.stop_stale(dir .. "/nginx.pid", dir)
  local ok, err = make_certs(dir)
  if not ok then return nil, err end
  local port = util.free_port()
  if not port then return nil, "no free port (luasocket missing?)" end
  local token = fake_jwt()
  local log = dir .. "/access.log"
  os.remove(log)
  local is_root = util.capture("id -u"):match("^0") ~= nil
  local conf = nginx_conf(dir, port, log, token, is_root, config_json or {})
  local conf_path = dir .. "/nginx.conf"
  util.write(conf_path, conf)
  local nginx = util.exists("/usr/sbin/nginx") and "/usr/sbin/nginx" or "nginx"
  if not util.sh(nginx .. " -p " .. util.quote(dir) .. " -c " .. util.quote(conf_path)
      .. " >" .. util.quote(dir .. "/start.log") .. " 2>&1") then
    return nil, "nginx did not start: " .. (util.read(dir .. "/start.log") or ""):gsub("\n", " ")
  end
  -- Wait for the pid file and the port.
  local pid
  for _ = 1, 100 do
    pid = tonumber((util.read(dir .. "/nginx.pid") or ""):match("%d+"))
    if pid and util.port_open(port) then break end
    util.sleep(0.05)
  end
  if not pid then return nil, "nginx wrote no pid file" end
  local base = "https://127.0.0.1:" .. port
  local h = {
    port = port, base = base, auth_url = base .. "/oauth/token", api_url = base,
    ca_file = dir .. "/ca.crt", token = token, log = log, partner = PARTNER, pid = pid,
  }
  --- Position in the access log, to count what happens after it.
  function h.mark() return log_mark(log) end
  --- What nginx logged since `mark` (see log_since).
  function h.since(mark) return log_since(log, mark) end
  function h.stop()
    if h.pid then util.sh("kill -QUIT " .. h.pid .. " 2>/dev/null"); h.pid = nil end
  end
  return h
end

return M
