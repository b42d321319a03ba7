-- A small HTTP/1.1 server for the sandbox: one thread, non-blocking LuaSocket
-- sockets (LuaSec for TLS), one coroutine per connection, socket.select to wait.
-- Keep-alive, Content-Length and chunked request bodies, `Expect: 100-continue`.
-- The handler sees whole requests and answers a table:
--   { status = n, headers = { name = value }, body = s, delay = seconds|nil }
-- or { drop = true } to close the connection without answering.
-- A delay waits on a timer, so a slow answer never blocks other connections.
local socket = require "socket"

local M = {}

local MAX_HEAD = 64 * 1024
local MAX_BODY = 64 * 1024 * 1024
local IDLE_TIMEOUT = 60
local CHUNK = 16384

local REASONS = {
  [100] = "Continue", [200] = "OK", [201] = "Created", [204] = "No Content",
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found",
  [405] = "Method Not Allowed", [411] = "Length Required", [413] = "Payload Too Large",
  [429] = "Too Many Requests", [431] = "Request Header Fields Too Large",
  [500] = "Internal Server Error", [501] = "Not Implemented", [503] = "Service Unavailable",
}

local Server = {}
Server.__index = Server

--- A listening server: opts.host, opts.port (0 = any free), opts.tls (LuaSec server
-- context or nil), opts.handler(req) → res, opts.log(msg), opts.tick() → seconds until
-- it wants to run again (or nil), opts.signals (an object select accepts, with
-- :read() → signal name: the loop stops when it becomes readable). Returns server | nil, message.
function M.new(opts)
  local sock, err = socket.bind(opts.host or "127.0.0.1", opts.port or 0, 64)
  if not sock then return nil, err end
  sock:settimeout(0)
  local self = setmetatable({
    listener = sock,
    tls = opts.tls,
    handler = opts.handler,
    log = opts.log or function() end,
    tick = opts.tick,
    signals = opts.signals,
    readers = {},      -- socket → coroutine waiting to read
    writers = {},      -- socket → coroutine waiting to write
    timers = {},       -- list of { at, co }
    conns = {},        -- socket → { co, idle_since }
    running = true,
  }, Server)
  return self
end

function Server:port()
  local _, port = self.listener:getsockname()
  return tonumber(port)
end

function Server:stop()
  self.running = false
end

-- Inside a connection coroutine: wait until `sock` is readable/writable.
local function wait(kind, sock)
  coroutine.yield(kind, sock)
end

-- Inside a connection coroutine: sleep without blocking other connections.
local function sleep(seconds)
  coroutine.yield("sleep", seconds)
end

-- Reads more bytes into conn.buf; false when the peer closed or failed.
local function fill(conn)
  if conn.read_error then return false end
  while true do
    local data, err, partial = conn.sock:receive(CHUNK)
    local got = data or partial
    local retry = err == nil or err == "timeout" or err == "wantread" or err == "wantwrite"
    if not retry then
      conn.read_error = err
      -- After a TLS failure ("unexpected eof", reset) LuaSec must not write again:
      -- SSL_write then fails without errno and LuaSocket's send loop never ends.
      if conn.tls then conn.broken = true end
    end
    if got and #got > 0 then
      conn.buf = conn.buf .. got
      return true
    end
    if err == "timeout" or err == "wantread" then
      wait("read", conn.sock)
    elseif err == "wantwrite" then
      wait("write", conn.sock)
    else
      return false
    end
  end
end

local function send_all(conn, data)
  if conn.broken then return false end
  local i = 1
  while i <= #data do
    local last, err, partial = conn.sock:send(data, i)
    if last then
      i = last + 1
    else
      if partial and partial >= i then i = partial + 1 end
      if err == "timeout" or err == "wantwrite" then
        wait("write", conn.sock)
      elseif err == "wantread" then
        wait("read", conn.sock)
      else
        if conn.tls then conn.broken = true end
        return false
      end
    end
  end
  return true
end

-- Takes `n` bytes from the buffer (reading more as needed); nil when closed early.
local function take(conn, n)
  if #conn.buf < n then
    -- gather in a list: appending to one string would copy the body again per chunk
    local parts, have = { conn.buf }, #conn.buf
    conn.buf = ""
    while have < n do
      if not fill(conn) then return nil end
      parts[#parts + 1] = conn.buf
      have = have + #conn.buf
      conn.buf = ""
    end
    conn.buf = table.concat(parts)
  end
  local s = conn.buf:sub(1, n)
  conn.buf = conn.buf:sub(n + 1)
  return s
end

-- Takes one CRLF-terminated line (without CRLF); nil when closed or too long.
local function take_line(conn, max)
  while true do
    local e = conn.buf:find("\r\n", 1, true)
    if e then
      local line = conn.buf:sub(1, e - 1)
      conn.buf = conn.buf:sub(e + 2)
      return line
    end
    if #conn.buf > max then return nil, "too long" end
    if not fill(conn) then return nil end
  end
end

local function respond_raw(conn, status, headers, body, keep_alive)
  local out = { string.format("HTTP/1.1 %d %s\r\n", status, REASONS[status] or "Status") }
  for k, v in pairs(headers or {}) do out[#out + 1] = k .. ": " .. v .. "\r\n" end
  out[#out + 1] = "Content-Length: " .. #(body or "") .. "\r\n"
  out[#out + 1] = keep_alive and "Connection: keep-alive\r\n" or "Connection: close\r\n"
  out[#out + 1] = "\r\n"
  out[#out + 1] = body or ""
  return send_all(conn, table.concat(out))
end

local function error_body(code, message)
  return string.format('{"code":"%s","message":"%s"}', code, message)
end

-- Reads one request; returns req | nil, status-to-answer (nil status: just close).
local function read_request(conn)
  -- skip stray empty lines between requests (RFC 9112 section 2.2)
  local line
  repeat
    line = take_line(conn, MAX_HEAD)
    if not line then return nil end
  until line ~= ""
  conn.idle_since = nil
  local method, target, version = line:match("^(%u+) (%S+) HTTP/(%d%.%d)$")
  if not method then return nil, 400 end
  local headers, size = {}, #line
  while true do
    local h, err = take_line(conn, MAX_HEAD)
    if not h then return nil, err and 431 or nil end
    if h == "" then break end
    size = size + #h
    if size > MAX_HEAD then return nil, 431 end
    local name, value = h:match("^([^:%s]+):%s*(.-)%s*$")
    if not name then return nil, 400 end
    name = name:lower()
    headers[name] = headers[name] and (headers[name] .. ", " .. value) or value
  end
  local path, query = target:match("^([^?]*)%??(.*)$")
  local req = { method = method, target = target, path = path, query = query, version = version,
    headers = headers, peer = conn.peer, body = "" }
  local conn_hdr = (headers["connection"] or ""):lower()
  if version == "1.0" then
    req.keep_alive = conn_hdr:find("keep-alive", 1, true) ~= nil
  else
    req.keep_alive = not conn_hdr:find("close", 1, true)
  end
  local te = (headers["transfer-encoding"] or ""):lower()
  local length = headers["content-length"]
  if te ~= "" and te ~= "identity" and not te:find("chunked", 1, true) then return nil, 501 end
  local chunked = te:find("chunked", 1, true) ~= nil
  if length and not chunked and not length:match("^%d+$") then return nil, 400 end
  length = length and tonumber(length) or 0
  if length > MAX_BODY then return nil, 413 end
  if (chunked or length > 0) and (headers["expect"] or ""):lower() == "100-continue" then
    if not send_all(conn, "HTTP/1.1 100 Continue\r\n\r\n") then return nil end
  end
  if chunked then
    local parts, total = {}, 0
    while true do
      local size_line = take_line(conn, 1024)
      if not size_line then return nil end
      local n = tonumber(size_line:match("^%x+"), 16)
      if not n then return nil, 400 end
      if n == 0 then
        repeat -- trailers
          local t = take_line(conn, MAX_HEAD)
          if not t then return nil end
        until t == ""
        break
      end
      total = total + n
      if total > MAX_BODY then return nil, 413 end
      local data = take(conn, n)
      if not data or take(conn, 2) ~= "\r\n" then return nil, 400 end
      parts[#parts + 1] = data
    end
    req.body = table.concat(parts)
  elseif length > 0 then
    req.body = take(conn, length)
    if not req.body then return nil end
  end
  return req
end

function Server:serve_connection(conn)
  if self.tls then
    while true do
      local ok, err = conn.sock:dohandshake()
      if ok then break end
      if err == "wantread" then
        wait("read", conn.sock)
      elseif err == "wantwrite" then
        wait("write", conn.sock)
      else
        self.log("TLS handshake with " .. tostring(conn.peer) .. " failed: " .. tostring(err))
        return
      end
    end
  end
  while self.running do
    conn.idle_since = socket.gettime()
    local req, status = read_request(conn)
    if not req then
      if status then respond_raw(conn, status, { ["Content-Type"] = "application/json" },
        error_body("bad_request", REASONS[status] or "bad request"), false) end
      return
    end
    local ok, res = pcall(self.handler, req)
    if not ok then
      self.log("handler error on " .. req.method .. " " .. req.path .. ": " .. tostring(res))
      res = { status = 500, headers = { ["Content-Type"] = "application/json" },
        body = error_body("internal", "sandbox error") }
    end
    if res.drop then return end
    if res.delay and res.delay > 0 then sleep(res.delay) end
    local keep = req.keep_alive and not res.close
    local sent = respond_raw(conn, res.status, res.headers, res.body, keep)
    if res.after then res.after() end
    if not sent or not keep then return end
  end
end

function Server:spawn(sock)
  local peer = sock:getpeername()
  sock:settimeout(0)
  -- answers go out in one send; do not let Nagle hold their last segment
  sock:setoption("tcp-nodelay", true)
  if self.tls then
    local ssl = require "ssl"
    local wrapped, err = ssl.wrap(sock, self.tls)
    if not wrapped then
      self.log("TLS wrap failed: " .. tostring(err))
      sock:close()
      return
    end
    wrapped:settimeout(0)
    sock = wrapped
  end
  local conn = { sock = sock, buf = "", peer = peer, tls = self.tls ~= nil }
  local co = coroutine.create(function()
    self:serve_connection(conn)
  end)
  conn.co = co
  self.conns[sock] = conn
  self:resume(conn)
end

function Server:close_conn(conn)
  self.readers[conn.sock] = nil
  self.writers[conn.sock] = nil
  self.conns[conn.sock] = nil
  conn.sock:close()
end

-- Runs a connection's coroutine until it waits again or ends.
function Server:resume(conn, ...)
  self.readers[conn.sock] = nil
  self.writers[conn.sock] = nil
  local ok, kind, arg = coroutine.resume(conn.co, ...)
  if not ok then
    self.log("connection error: " .. tostring(kind))
    return self:close_conn(conn)
  end
  if coroutine.status(conn.co) == "dead" then return self:close_conn(conn) end
  if kind == "read" then
    self.readers[arg] = conn
  elseif kind == "write" then
    self.writers[arg] = conn
  elseif kind == "sleep" then
    self.timers[#self.timers + 1] = { at = socket.gettime() + arg, conn = conn }
  end
end

function Server:accept_all()
  while true do
    local client = self.listener:accept()
    if not client then return end
    self:spawn(client)
  end
end

--- Runs until :stop(); returns true.
function Server:run()
  local last_sweep = socket.gettime()
  while self.running do
    local recvt, sendt = { self.listener, self.signals }, {}
    local timeout = 1.0
    local ready_now = {}
    for sock, conn in pairs(self.readers) do
      -- TLS may hold decrypted bytes select cannot see
      if sock.dirty and sock:dirty() then
        ready_now[#ready_now + 1] = conn
      else
        recvt[#recvt + 1] = sock
      end
    end
    for sock in pairs(self.writers) do sendt[#sendt + 1] = sock end
    local now = socket.gettime()
    for _, t in ipairs(self.timers) do timeout = math.min(timeout, math.max(0, t.at - now)) end
    if self.tick then
      local wanted = self.tick()
      if wanted then timeout = math.min(timeout, wanted) end
    end
    if #ready_now > 0 then timeout = 0 end
    local readable, writable = socket.select(recvt, sendt, timeout)
    for _, conn in ipairs(ready_now) do
      if self.readers[conn.sock] == conn then self:resume(conn) end
    end
    for _, sock in ipairs(readable or {}) do
      if sock == self.listener then
        self:accept_all()
      elseif sock == self.signals then
        self.log("got SIG" .. tostring(sock:read()) .. ", stopping")
        self.running = false
      else
        local conn = self.readers[sock]
        if conn then self:resume(conn) end
      end
    end
    for _, sock in ipairs(writable or {}) do
      local conn = self.writers[sock]
      if conn then self:resume(conn) end
    end
    if #self.timers > 0 then
      now = socket.gettime()
      local keep, due = {}, {}
      for _, t in ipairs(self.timers) do
        if t.at <= now then due[#due + 1] = t else keep[#keep + 1] = t end
      end
      self.timers = keep
      for _, t in ipairs(due) do
        if self.conns[t.conn.sock] == t.conn then self:resume(t.conn) end
      end
    end
    now = socket.gettime()
    if now - last_sweep >= 1 then
      last_sweep = now
      for _, conn in pairs(self.conns) do
        if conn.idle_since and now - conn.idle_since > IDLE_TIMEOUT and self.readers[conn.sock] then
          self:close_conn(conn)
        end
      end
    end
  end
  self:close()
  return true
end

--- Closes the listener and every connection (idempotent).
function Server:close()
  self.running = false
  for _, conn in pairs(self.conns) do conn.sock:close() end
  self.conns, self.readers, self.writers, self.timers = {}, {}, {}, {}
  if self.listener then
    self.listener:close()
    self.listener = nil
  end
end

return M
