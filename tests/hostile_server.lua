-- A tiny HTTP server that answers like a broken or hostile Kiva: truncated JSON, huge
-- bodies, HTML with 200, wrong content types, redirects, dropped connections.
--   usage: lua5.4 tests/hostile_server.lua PORT_FILE
-- Listens on 127.0.0.1 on a free port, writes the port to PORT_FILE, then serves one
-- connection at a time forever. The first path segment picks the behaviour, so one
-- process serves every case: KIVA_API_URL=http://127.0.0.1:PORT/<mode>, and the token
-- URL http://127.0.0.1:PORT/<token mode>/oauth/token. `GET /__counts` answers a JSON
-- object "<mode> <rest of path>" -> requests received, so a test can see what was sent.
local socket = require "socket"
local cjson = require "cjson"

local counts = {}
local token_serial = 0

local REASONS = { [200] = "OK", [201] = "Created", [302] = "Found", [307] = "Temporary Redirect",
  [401] = "Unauthorized", [429] = "Too Many Requests", [500] = "Internal Server Error",
  [502] = "Bad Gateway", [503] = "Service Unavailable" }

local function send_all(conn, data)
  local i = 1
  while i <= #data do
    local last, err, partial = conn:send(data, i)
    if not last then
      if err ~= "timeout" then return nil, err end
      i = partial + 1
    else
      i = last + 1
    end
  end
  return true
end

local function answer(conn, status, headers, body)
  local lines = { string.format("HTTP/1.1 %d %s", status, REASONS[status] or "Status") }
  local has_length = false
  for _, h in ipairs(headers or {}) do
    lines[#lines + 1] = h
    if h:lower():find("^content%-length:") then has_length = true end
  end
  if not has_length then lines[#lines + 1] = "Content-Length: " .. #(body or "") end
  lines[#lines + 1] = "Connection: close"
  return send_all(conn, table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or ""))
end

local JSON = "Content-Type: application/json"

local function ok_body(rest)
  if rest:find("/oauth/token$") then
    token_serial = token_serial + 1
    return cjson.encode{ access_token = "hostile-token-" .. token_serial, token_type = "bearer",
      expires_in = 3600, scope = "read:loans create:loan_draft create:journal_update create:repayment",
      partnerId = "1" }
  elseif rest:find("/loan_draft$") then
    return '{"code":"OK","message":"created","loan_draft_uuid":"0b8e6d1c-2f3a-4b5c-8d9e-0f1a2b3c4d5e"}'
  elseif rest:find("/repayments$") then
    return '{"code":"OK","message":"ok","upload_id":"u-1","problems":[]}'
  elseif rest:find("/journals$") then
    return '{"code":"OK","archive_id":"a-1","confirm_url":"http://127.0.0.1/confirm/a-1"}'
  elseif rest:find("/loans") then
    return '{"total_records":0,"data":[]}'
  elseif rest:find("/config/(%w+)") then
    local name = rest:match("/config/(%w+)")
    return '{"as_of_date_time":"2024-01-01T00:00:00Z","' .. name .. '":[]}'
  end
  return '{}'
end

-- Each behaviour: function(conn, rest, request) answering the request.
local modes = {}

function modes.ok(conn, rest) return answer(conn, 200, { JSON }, ok_body(rest)) end

function modes.truncated_json(conn, rest)
  local body = ok_body(rest)
  return answer(conn, 200, { JSON }, body:sub(1, math.max(1, #body // 2)))
end

-- Announces more bytes than it sends, then closes: the answer is cut in transit.
function modes.short_body(conn, rest)
  local body = ok_body(rest)
  return answer(conn, 200, { JSON, "Content-Length: " .. (#body + 1000) }, body)
end

-- 64 MiB of JSON, far above any sane cap on an answer.
function modes.huge_body(conn)
  local size = 64 * 1024 * 1024
  local ok = send_all(conn, "HTTP/1.1 200 OK\r\n" .. JSON .. "\r\nContent-Length: " .. size
    .. "\r\nConnection: close\r\n\r\n")
  if not ok then return end
  local chunk = '{"a":' .. string.rep(" ", 65536 - 5)
  local sent = 0
  while sent < size do
    local piece = sent == 0 and chunk or string.rep(" ", 65536)
    if not send_all(conn, piece) then return end
    sent = sent + #piece
  end
end

-- A huge answer sent chunked, so no Content-Length warns the client in advance.
function modes.huge_chunked(conn)
  local ok = send_all(conn, "HTTP/1.1 200 OK\r\n" .. JSON .. "\r\nTransfer-Encoding: chunked\r\n"
    .. "Connection: close\r\n\r\n")
  if not ok then return end
  local piece = string.rep("[", 65536)
  local frame = string.format("%x\r\n", #piece) .. piece .. "\r\n"
  for _ = 1, 1024 do
    if not send_all(conn, frame) then return end
  end
  send_all(conn, "0\r\n\r\n")
end

function modes.html_200(conn)
  return answer(conn, 200, { "Content-Type: text/html" },
    "<!DOCTYPE html><html><body><h1>Scheduled maintenance</h1></body></html>")
end

function modes.wrong_content_type(conn)
  return answer(conn, 200, { "Content-Type: text/plain" }, "OK")
end

function modes.empty_200(conn) return answer(conn, 200, { JSON }, "") end

function modes.json_null(conn) return answer(conn, 200, { JSON }, "null") end

function modes.json_array(conn) return answer(conn, 200, { JSON }, "[1,2,3]") end

-- Valid JSON of the wrong shape: numbers where strings go, strings where lists go.
function modes.wrong_shape(conn, rest)
  local body
  if rest:find("/loans") then body = '{"total_records":"many","data":"none"}'
  elseif rest:find("/config/") then body = '{"activities":7,"locales":7,"themes":7,"locations":7}'
  elseif rest:find("/repayments$") then body = '{"upload_id":{"x":1},"problems":"none"}'
  else body = '{"loan_draft_uuid":42,"archive_id":[],"confirm_url":false}' end
  return answer(conn, 200, { JSON }, body)
end

-- 10,000 nested arrays: a parser without a depth limit overflows its C stack.
function modes.deep_json(conn) return answer(conn, 200, { JSON }, string.rep("[", 10000) .. string.rep("]", 10000)) end

function modes.redirect(conn, rest)
  return answer(conn, 302, { "Location: /ok" .. rest, JSON }, '{"moved":true}')
end

function modes.redirect_307(conn, rest)
  return answer(conn, 307, { "Location: /ok" .. rest, JSON }, '{"moved":true}')
end

function modes.html_500(conn)
  return answer(conn, 500, { "Content-Type: text/html" }, "<html><body>Internal error</body></html>")
end

function modes.html_502(conn)
  return answer(conn, 502, { "Content-Type: text/html" }, "<html><body>Bad gateway</body></html>")
end

-- A well-formed answer whose ids are numbers and whose names are camelCase: Kiva's
-- docs fix no types, and one public client reads camelCase.
function modes.numeric_ids(conn, rest)
  local body
  if rest:find("/oauth/token$") then body = ok_body(rest)
  elseif rest:find("/repayments$") then
    body = '{"code":"OK","uploadId":880001,"problems":[{"loanId":2,"code":"late","severity":"warning"}]}'
  elseif rest:find("/loan_draft$") then body = '{"code":"OK","loanDraftUuid":12345}'
  else body = '{"archiveId":77,"confirmUrl":"http://127.0.0.1/confirm/77"}' end
  return answer(conn, 200, { JSON }, body)
end

-- Repayments: refuses one loan of the batch, by a numeric loan id, and warns about another.
function modes.one_refused(conn, rest)
  if not rest:find("/repayments$") then return modes.ok(conn, rest) end
  return answer(conn, 200, { JSON }, '{"code":"OK","upload_id":"u-7","problems":['
    .. '{"loan_id":1002,"code":"not_paying_back","details":"loan 1002 is not paying back","severity":"error"},'
    .. '{"loan_id":"1003","code":"overpaid","severity":"warning"}]}')
end

-- Repayments: refuses something without naming any line of the batch.
function modes.loose_problem(conn, rest)
  if not rest:find("/repayments$") then return modes.ok(conn, rest) end
  return answer(conn, 200, { JSON }, '{"upload_id":"u-8","problems":[{"code":"bad_batch","severity":"error"}]}')
end

-- A 400 with Kiva's field-level reasons.
function modes.field_errors(conn, rest)
  if rest:find("/oauth/token$") then return modes.ok(conn, rest) end
  return answer(conn, 400, { JSON }, '{"code":"validation_failed","message":"loan draft is invalid","errors":['
    .. '{"field":"activity_id","message":"unknown activity 999"},'
    .. '{"field":"location","message":"not a location of this partner"}]}')
end

-- Reads the whole request, then hangs up without a word.
function modes.close_no_answer() end

function modes.unauthorized(conn, rest)
  if rest:find("/oauth/token$") then return modes.ok(conn, rest) end
  return answer(conn, 401, { JSON }, '{"code":"unauthorized","message":"jwt expired"}')
end

function modes.retry_after_huge(conn)
  return answer(conn, 429, { JSON, "Retry-After: 100000" }, '{"code":"rate_limited"}')
end

function modes.retry_after_garbage(conn)
  return answer(conn, 429, { JSON, "Retry-After: -5, soon; DROP TABLE" }, '{"code":"rate_limited"}')
end

-- Echoes the request's Authorization header and body in a 400 (a leaky error page).
function modes.echo(conn, rest, req)
  if rest:find("/oauth/token$") then
    return answer(conn, 401, { JSON }, cjson.encode{ error = "access_denied", error_description = "bad " .. req.body })
  end
  return answer(conn, 400, { JSON }, cjson.encode{ code = "bad_request",
    message = "refused " .. tostring(req.headers.authorization) .. " for " .. req.body })
end

-- Token answers that are no token.
function modes.tok_html(conn) return modes.html_200(conn) end
function modes.tok_no_token(conn)
  return answer(conn, 200, { JSON }, '{"token_type":"bearer","expires_in":3600,"partnerId":"1"}')
end
function modes.tok_truncated(conn) return answer(conn, 200, { JSON }, '{"access_token":"abc","expi') end
function modes.tok_bad_expiry(conn)
  return answer(conn, 200, { JSON }, '{"access_token":"t","token_type":"bearer","expires_in":"soon","partnerId":"1"}')
end

-- Token answers that look like tokens but cannot be used as they are (issue 16, case 6).
local function token_answer(conn, fields)
  local parts = { '"token_type":"bearer"',
    '"scope":"read:loans create:loan_draft create:journal_update create:repayment"' }
  for k, v in pairs(fields) do parts[#parts + 1] = string.format("%q:%s", k, v) end
  return answer(conn, 200, { JSON }, "{" .. table.concat(parts, ",") .. "}")
end
function modes.tok_crlf(conn)
  return token_answer(conn, { access_token = '"t1\\r\\nX-Injected: yes"', expires_in = "3600", partnerId = '"1"' })
end
function modes.tok_partner_path(conn)
  return token_answer(conn, { access_token = '"t2"', expires_in = "3600", partnerId = '"../../oauth"' })
end
for name, value in pairs { huge = "1e20", inf = "1e400", nan = "NaN", zero = "0", negative = "-30" } do
  modes["tok_expiry_" .. name] = function(conn)
    token_serial = token_serial + 1
    return token_answer(conn, { access_token = '"hostile-token-' .. token_serial .. '"', expires_in = value,
      partnerId = '"1"' })
  end
end
-- A token error that echoes the client secret in several encodings, the last cut short.
function modes.tok_echo_forms(conn, _, req)
  local raw = req.body:match("client_secret=([^&]*)") or ""
  local secret = raw:gsub("+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
  local plus = secret:gsub("[^%w%-%._~ ]", function(c) return string.format("%%%02x", c:byte()) end):gsub(" ", "+")
  local json = secret:gsub("[\128-\255][\128-\191]*", function(ch)
    return string.format("\\u%04x", utf8.codepoint(ch))
  end):gsub("/", "\\/")
  local description = "bad secret " .. plus .. " | " .. json .. " | " .. secret:sub(1, 7)
  return answer(conn, 401, { JSON }, '{"error":"access_denied","error_description":"' .. description .. '"}')
end
-- An answer whose headers run past 2 MB (issue 16, case 10).
function modes.huge_header(conn)
  return answer(conn, 200, { JSON, "X-Padding: " .. string.rep("a", 2 * 1024 * 1024) }, '{"code":"OK"}')
end
function modes.retry_after_999999(conn)
  return answer(conn, 429, { JSON, "Retry-After: 999999" }, '{"code":"rate_limited","message":"slow down"}')
end

local function read_request(conn)
  local line = conn:receive("*l")
  if not line then return nil end
  local method, path = line:match("^(%u+) (%S+)")
  local headers = {}
  while true do
    local h = conn:receive("*l")
    if not h or h == "" then break end
    local k, v = h:match("^([^:]+):%s*(.*)$")
    if k then headers[k:lower()] = v end
  end
  local body = ""
  local len = tonumber(headers["content-length"] or "")
  if len and len > 0 then body = conn:receive(len) or "" end
  return { method = method, path = path or "/", headers = headers, body = body }
end

local function serve(conn)
  conn:settimeout(10)
  local req = read_request(conn)
  if not req then return end
  local path = req.path:gsub("%?.*$", "")
  if path == "/__counts" then
    answer(conn, 200, { JSON }, next(counts) and cjson.encode(counts) or "{}")
    return
  end
  local mode, rest = path:match("^/([%w_]+)(/.*)$")
  local key = (mode or "?") .. " " .. (rest or path)
  counts[key] = (counts[key] or 0) + 1
  local handler = modes[mode or ""]
  if not handler then
    answer(conn, 404, { JSON }, '{"code":"not_found"}')
    return
  end
  handler(conn, rest, req)
end

local function main(port_file)
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  local f = assert(io.open(port_file .. ".tmp", "w"))
  f:write(port, "\n")
  f:close()
  assert(os.rename(port_file .. ".tmp", port_file))
  while true do
    local conn = server:accept()
    if conn then
      pcall(serve, conn)
      conn:close()
    end
  end
end

main(assert(arg[1], "usage: hostile_server.lua PORT_FILE"))
