--- kiva.errors: the one table that turns transport codes and HTTP statuses into
-- the public err table { kind, status, message, body, retryable, endpoint, code }.
-- Whether a failed POST may be resent is decided here and only here: a POST is
-- retryable only when it surely did not take effect (see docs/ARCHITECTURE.md).
local cjson = require "cjson.safe"
local find_any = require("kiva.core").find_any

local M = {}

--- Every kind an err table may carry, with the exit status of a run it stops
-- (interface.md: 1 items invalid/rejected/unknown, 2 usage or configuration,
-- 3 authentication, 4 network gave up; 130/143 a run stopped by SIGINT/SIGTERM).
-- The one table: push, reconcile and the CLI all ask `M.exit_code`.
M.EXIT = {
  validation = 1, rejected = 1, unknown_outcome = 4,
  usage = 2, config = 2, input = 2, ledger = 2, locked = 2,
  auth = 3, forbidden = 3,
  network = 4, server = 4, rate_limited = 4,
  interrupted = 130,
}
M.kinds = {}
for kind in pairs(M.EXIT) do M.kinds[kind] = true end

-- the exit status of a signal: 128 + its number
local SIGNAL_EXIT = { INT = 130, TERM = 143, HUP = 129, QUIT = 131 }

--- The exit status for an err table that stopped a run (2 for anything unknown).
function M.exit_code(err)
  if type(err) ~= "table" then return 2 end
  if err.kind == "interrupted" then return SIGNAL_EXIT[err.signal] or 130 end
  return M.EXIT[err.kind] or 2
end

-- Codes meaning the request never left: no connection was made.
local CONNECT_PHASE = {
  COULDNT_RESOLVE_HOST = true, COULDNT_RESOLVE_PROXY = true, COULDNT_CONNECT = true,
}

-- TLS trouble is not transient: a wrong CA stays wrong on the next attempt.
local function is_tls(code)
  return code == "PEER_FAILED_VERIFICATION" or code:sub(1, 4) == "SSL_"
end

local CONFIG_CODES = { UNSUPPORTED_PROTOCOL = true, URL_MALFORMAT = true }

local REDACTED = "[REDACTED]"

-- A secret is searched for in every form it takes in text we print: raw,
-- percent-encoded (either hex case, space as "+" or "%20", escaped or not byte by
-- byte), JSON-escaped ("\u00e9" either case, surrogate pairs, "\/", "\\", "\""), and
-- cut short: a run of 6 or more of its first bytes is a leak too (a message cut at a
-- length limit). PREFIX_MIN: the bytes a cut prefix must have to count.
local PREFIX_MIN = 6

local function hex_at(s, i, n)
  local h = s:sub(i, i + n - 1)
  if #h ~= n or h:find("[^%x]") then return nil end
  return tonumber(h, 16)
end

-- The secret as an array of characters { cp = code point, bytes = raw bytes }
-- (bytes one by one when it is not UTF-8), memoised by secret.
local char_cache = setmetatable({}, { __mode = "k" })
local function chars_of(secret)
  local chars = char_cache[secret]
  if chars then return chars end
  chars = {}
  if utf8.len(secret) then
    for p, cp in utf8.codes(secret) do chars[#chars + 1] = { cp = cp, bytes = utf8.char(cp), at = p } end
  else
    for i = 1, #secret do chars[i] = { cp = secret:byte(i), bytes = secret:sub(i, i) } end
  end
  -- where a match of the first character may start: its first byte, "%", "\" or "+"
  local first = chars[1].bytes:sub(1, 1)
  chars.start = "[" .. first:gsub("[%%%]%^%-\\]", "%%%0") .. "%%\\+]"
  char_cache[secret] = chars
  return chars
end

-- Position after the character `ch` written at s[i] in one of its forms, or nil.
local function char_end(s, i, ch)
  local c = s:byte(i)
  if c == 92 then   -- "\": a JSON escape
    local e = s:byte(i + 1)
    if e == 117 then   -- \uXXXX, a surrogate pair above U+FFFF
      local u = hex_at(s, i + 2, 4)
      if u and u >= 0xD800 and u < 0xDC00 and s:sub(i + 6, i + 7) == "\\u" then
        local low = hex_at(s, i + 8, 4)
        if low and low >= 0xDC00 and low < 0xE000 and 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00) == ch.cp then
          return i + 12
        end
      elseif u == ch.cp then
        return i + 6
      end
    elseif e and (e == 47 or e == 92 or e == 34) and ch.cp == e then   -- \/ \\ \"
      return i + 2
    end
  end
  if c == 43 and ch.cp == 32 then return i + 1 end   -- "+" for a space (form encoding)
  -- raw or percent-encoded, byte by byte
  local bytes = ch.bytes
  for k = 1, #bytes do
    local b = bytes:byte(k)
    if s:byte(i) == b then
      i = i + 1
    elseif s:byte(i) == 37 and hex_at(s, i + 1, 2) == b then   -- %XX
      i = i + 3
    else
      return nil
    end
  end
  return i
end

-- Spans { from, to } of s holding `secret` (whole, or PREFIX_MIN bytes of its start)
-- in any of its forms, appended to `spans`.
local function secret_spans(s, secret, spans)
  local chars = chars_of(secret)
  local need = math.min(#secret, PREFIX_MIN)
  local i = 1
  while true do
    i = s:find(chars.start, i)
    if not i then return spans end
    local j, matched = i, 0
    for k = 1, #chars do
      local nxt = char_end(s, j, chars[k])
      if not nxt then break end
      j, matched = nxt, matched + #chars[k].bytes
    end
    if matched >= need then
      spans[#spans + 1] = { i, j - 1 }
      i = j
    else
      i = i + 1
    end
  end
end

-- Every span of s holding one of `secrets`, sorted and merged.
local function all_spans(s, secrets)
  local spans = {}
  for _, secret in ipairs(secrets or {}) do
    if type(secret) == "string" and #secret >= 4 then secret_spans(s, secret, spans) end
  end
  table.sort(spans, function(x, y) return x[1] < y[1] end)
  return spans
end

--- Removes secrets and tokens from a string or (recursively, copying) a table:
-- each string in `secrets` (the client secret, tokens) in any form it may take
-- (see above), anything after "Bearer ", JWT-shaped strings and JSON
-- "access_token" values.
-- @return the redacted copy
function M.redact(value, secrets)
  if type(value) == "table" then
    local copy = {}
    for k, v in pairs(value) do
      if k == "access_token" or k == "client_secret" or k == "refresh_token" then
        copy[k] = REDACTED
      else
        copy[M.redact(k, secrets)] = M.redact(v, secrets)
      end
    end
    return setmetatable(copy, getmetatable(value))
  end
  if type(value) ~= "string" then return value end
  local s = value
  local spans = all_spans(s, secrets)
  if spans[1] then
    local out, at = {}, 1
    for _, span in ipairs(spans) do
      if span[2] >= at then
        out[#out + 1] = s:sub(at, math.max(at, span[1]) - 1)
        if span[1] >= at then out[#out + 1] = REDACTED end
        at = span[2] + 1
      end
    end
    out[#out + 1] = s:sub(at)
    s = table.concat(out)
  end
  s = s:gsub("([Bb]earer%s+)[%w%-%._~%+/=]+", "%1" .. REDACTED)
  s = s:gsub("eyJ[%w%-_]+%.[%w%-_]+%.[%w%-_]*", REDACTED)
  s = s:gsub('("access_token"%s*:%s*")[^"]*"', "%1" .. REDACTED .. '"')
  s = s:gsub("(client_secret=)[^&%s]*", "%1" .. REDACTED)
  return s
end

-- A secret in an answer free of "%", "\\" and "+" can only be there as its own
-- bytes, starting with its first PREFIX_MIN (what secret_spans needs at least); a
-- token-shaped string shows one of TOKEN_SHAPES. So an answer holding none of
-- FAST_NEEDLES and no secret's prefix surely holds nothing: two C searches
-- (core.find_any) decide that for the usual answer, which every request gets and
-- which the full scan, or a string.find per needle, made a visible cost.
local TOKEN_SHAPES = { "eyJ", "earer", "access_token", "client_secret" }
local FAST_NEEDLES = { "%", "\\", "+", table.unpack(TOKEN_SHAPES) }

--- Whether `s` holds one of `secrets` (in any of its forms) or something shaped
-- like a token, so that the costlier redact runs only when needed.
function M.holds_secret(s, secrets)
  if not find_any(s, FAST_NEEDLES) and not (secrets and find_any(s, secrets, PREFIX_MIN, 4)) then
    return false
  end
  if secrets and all_spans(s, secrets)[1] then return true end
  return find_any(s, TOKEN_SHAPES) ~= nil
end

--- A new err table. `fields` may carry status, body, endpoint, code, retryable.
function M.new(kind, message, fields)
  assert(M.kinds[kind], "unknown error kind " .. tostring(kind))
  local err = { kind = kind, message = message, retryable = false }
  for k, v in pairs(fields or {}) do err[k] = v end
  err.retryable = err.retryable == true
  return setmetatable(err, M.mt)
end

M.mt = {
  __name = "kiva.error",
  __tostring = function(e) return e.kind .. ": " .. tostring(e.message) end,
}

--- Kiva's own message from a decoded error body, if it has one.
local function body_message(body)
  if type(body) ~= "table" then return nil end
  for _, k in ipairs { "message", "error_description", "error", "detail", "title" } do
    if type(body[k]) == "string" and body[k] ~= "" then return body[k] end
  end
  return nil
end

--- Decodes a JSON body; nil when empty or not JSON (then also the parser's message).
-- cjson refuses nesting deeper than 1000, so a hostile answer cannot exhaust the stack.
function M.decode_body(text)
  if type(text) ~= "string" or text == "" then return nil end
  local v, err = cjson.decode(text)
  if v == nil then return nil, err end
  return v
end

--- Why a 2xx answer `res` (with res.json decoded) is not a JSON object, or nil when
-- it is one. `array_ok` also accepts a JSON array.
function M.not_an_object(res, array_ok)
  local j = res.json
  if type(j) == "table" then
    if j[1] ~= nil and not array_ok then return "the answer is a JSON array, not an object" end
    return nil
  end
  local ctype = res.headers and res.headers["content-type"]
  local as = ctype and (" (Content-Type " .. ctype .. ")") or ""
  if res.body == nil or res.body == "" then return "the answer is empty" .. as end
  if j == cjson.null then return "the answer is JSON null" end
  if j ~= nil then return "the answer is a JSON " .. type(j) .. ", not an object" end
  local _, why = M.decode_body(res.body)
  local start = res.body:sub(1, 60):gsub("[%c]+", " ")
  return string.format("the answer is not valid JSON%s: %s; it starts with '%s'", as, tostring(why), start)
end

--- The err for a 2xx answer whose body cannot be read as expected (`problem` says
-- why). A POST that got it may have been applied: unknown_outcome, never resent. A
-- GET (or an idempotent POST) got a garbled answer: server, retryable.
function M.malformed(res, req, problem, secrets)
  local method, endpoint = req.method or "GET", req.endpoint or "?"
  local message = string.format("%s %s: HTTP %d but %s", method, endpoint, res.status, problem)
  local kind, retryable = "server", true
  if method == "POST" and not req.idempotent then
    kind, retryable = "unknown_outcome", false
    message = message .. " (the request was sent; it may or may not have been applied)"
  end
  return M.new(kind, M.redact(message, secrets), {
    status = res.status, body = type(res.json) == "table" and M.redact(res.json, secrets) or nil,
    retryable = retryable, endpoint = endpoint,
  })
end

--- kind and retryable for an HTTP status of a request with `method`.
-- `idempotent` marks a POST whose repetition is harmless (the token request).
function M.classify_status(status, method, idempotent)
  local safe = method ~= "POST" or idempotent
  if status == 429 then return "rate_limited", true end
  if status == 502 or status == 503 then return "server", true end
  if status == 401 then return "auth", false end
  if status == 403 then return "forbidden", false end
  if status >= 500 then
    if safe then return "server", true end
    return "unknown_outcome", false
  end
  if status == 408 and safe then return "server", true end
  return "rejected", false
end

--- kind and retryable for a transport failure (code from kiva.core) of a
-- request with `method`, given whether its body was fully handed to curl.
function M.classify_code(code, method, body_sent, idempotent)
  if CONFIG_CODES[code] then return "config", false end
  if is_tls(code) then return "network", false end
  if CONNECT_PHASE[code] then return "network", true end
  if method ~= "POST" or idempotent then
    if code == "RESPONSE_TOO_LARGE" then return "server", false end
    return "network", true
  end
  -- a POST: only a failure before the body was wholly sent is surely not applied
  if code == "SEND_FAIL_REWIND" or body_sent then return "unknown_outcome", false end
  return "network", true
end

--- The err table for a finished request, or nil when it succeeded (2xx).
-- `res` is a kiva.core http result; `req` has method, endpoint, idempotent.
function M.from_result(res, req, secrets)
  -- the common case first: a 2xx answer needs no message built
  if not res.code and res.status >= 200 and res.status < 300 then return nil end
  local method, endpoint = req.method or "GET", req.endpoint or "?"
  local where = method .. " " .. endpoint
  if res.code then
    local kind, retryable = M.classify_code(res.code, method, res.body_sent, req.idempotent)
    local what = res.message or res.code
    if kind == "unknown_outcome" then
      what = what .. " (the request was sent; it may or may not have been applied)"
    end
    return M.new(kind, M.redact(where .. ": " .. what, secrets), {
      status = res.status ~= 0 and res.status or nil, code = res.code,
      retryable = retryable, endpoint = endpoint,
    })
  end
  local status = res.status
  local body = M.decode_body(res.body)
  local kind, retryable = M.classify_status(status, method, req.idempotent)
  local text = body_message(body)
  if status >= 300 and status < 400 then
    text = "redirect not followed" .. (res.headers and res.headers.location
      and (" (to " .. res.headers.location .. ")") or "")
  end
  if not text and res.body and res.body ~= "" and not body then text = res.body:sub(1, 200) end
  local message = where .. ": HTTP " .. status .. (text and (": " .. text) or "")
  if kind == "unknown_outcome" then
    message = message .. " (the request may or may not have been applied)"
  end
  return M.new(kind, M.redact(message, secrets), {
    status = status, body = M.redact(body, secrets), retryable = retryable, endpoint = endpoint,
  })
end

--- Shorthand constructors for errors raised locally. An input error says where:
-- "file:line" (or the file), as the readers and the mapping runner report it.
function M.config(message) return M.new("config", message) end
function M.input(where, message) return M.new("input", message, { where = where }) end
function M.usage(message) return M.new("usage", message) end
function M.ledger(message) return M.new("ledger", message) end

return M
