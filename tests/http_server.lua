-- A small HTTP/1.1 server for the transport-level specs (core_http_spec,
-- transport_spec), for what the sandbox does not do: dropping a connection after
-- reading, redirects, huge bodies, a flaky path. One process, one connection at a
-- time per select round, keep-alive; answers by path; counts connections and
-- requests per path at GET /__count. Prints its port on stdout.
--   lua5.4 tests/http_server.lua     (started by helper.start_http_server)
local socket = require "socket"
local srv = assert(socket.bind("127.0.0.1", 0))
local _, port = srv:getsockname()
io.stdout:write(port, "\n")
io.stdout:flush()
srv:settimeout(0)
local clients, served, conns, hits = {}, {}, 0, {}

local function reply(c, status, body, extra)
  c:send("HTTP/1.1 " .. status .. " X\r\nContent-Type: application/json\r\nContent-Length: " .. #body
    .. "\r\n" .. (extra or "") .. "\r\n" .. body)
end

local function drop(c)
  for i, x in ipairs(clients) do if x == c then table.remove(clients, i) break end end
  served[c] = nil
  c:close()
end

local function handle(c)
  local line = c:receive("*l")
  if not line then return drop(c) end
  local method, path = line:match("^(%u+) (%S+)")
  local headers = {}
  while true do
    local h = c:receive("*l")
    if not h or h == "" then break end
    local k, v = h:match("^([^:]+):%s*(.*)$")
    if k then headers[k:lower()] = v end
  end
  local body = ""
  if headers["content-length"] then body = c:receive(tonumber(headers["content-length"])) or "" end
  local n = (served[c] or 0) + 1
  served[c] = n
  local key = method .. " " .. path:gsub("%?.*", "")
  hits[key] = (hits[key] or 0) + 1
  if path == "/__count" then
    local parts = {}
    for k, v in pairs(hits) do parts[#parts + 1] = string.format("%q:%d", k, v) end
    reply(c, 200, string.format('{"connections":%d,"hits":{%s}}', conns, table.concat(parts, ",")))
  elseif path == "/echo" then
    reply(c, 200, string.format('{"method":%q,"length":%d,"expect":%q,"agent":%q,"tag":%q,"body":%q}', method,
      #body, headers.expect or "", headers["user-agent"] or "", headers["x-tag"] or "", body))
  elseif path == "/redirect" then
    reply(c, 302, "{}", "Location: /landed\r\n")
  elseif path == "/big" then
    reply(c, 200, string.rep("x", 300000))
  elseif path == "/drop" then
    return drop(c)
  elseif path == "/drop_on_reuse" then
    if n > 1 then return drop(c) end
    reply(c, 200, '{"first":true}')
  elseif path == "/flaky" then
    if hits[key] % 2 == 1 then return reply(c, 503, '{"message":"busy"}', "Retry-After: 0\r\n") end
    reply(c, 200, '{"ok":true}')
  elseif path == "/slow" then
    socket.sleep(1)
    reply(c, 200, "{}")
  elseif path:match("^/status/%d+") then
    local code = path:match("%d+")
    reply(c, tonumber(code), '{"message":"status ' .. code .. '"}', code == "429" and "Retry-After: 1\r\n" or "")
  else
    reply(c, 404, '{"message":"no such path"}')
  end
end

while true do
  local c = srv:accept()
  if c then
    conns = conns + 1
    c:settimeout(5)
    clients[#clients + 1] = c
  end
  local readable = socket.select(clients, nil, 0.02)
  for _, rc in ipairs(readable) do handle(rc) end
end
