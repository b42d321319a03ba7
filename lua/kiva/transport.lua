--- kiva.transport: a scheduler over one kiva.core http session. A run takes a
-- list of requests, keeps at most `concurrency` in flight, retries what
-- kiva.errors calls retryable with exponential backoff and full jitter (or the
-- server's Retry-After), bounded by max_attempts and max_retry_time, hands each
-- result to a callback as it finishes and returns all of them in input order.
local core = require "kiva.core"
local errors = require "kiva.errors"

local Transport = {}
Transport.__index = Transport
Transport.__name = "kiva.transport"

local DEFAULTS = {
  concurrency = 4, max_attempts = 5, max_retry_time = 120, retry_base = 0.5, retry_cap = 30,
  connect_timeout = 10, timeout = 60, low_speed_time = 30, max_body = 16 * 1024 * 1024,
}

local TRACE_BODY = 2000   -- bytes of a body shown by a KIVA_DEBUG trace

--- A transport. opts: concurrency, max_attempts, max_retry_time, retry_base,
-- retry_cap, connect_timeout, timeout, low_speed_time, max_body, ca_file,
-- user_agent, log(level, message), debug (bool), secrets (array, shared: the
-- strings to redact, which the caller may extend later).
-- @return transport | nil, message, code
function Transport.new(opts)
  local self = setmetatable({}, Transport)
  for k, v in pairs(DEFAULTS) do self[k] = v end
  for k, v in pairs(opts or {}) do self[k] = v end
  self.secrets = self.secrets or {}
  local session, msg, code = core.http_session {
    ca_file = self.ca_file, connect_timeout = self.connect_timeout, timeout = self.timeout,
    low_speed_time = self.low_speed_time, max_body = self.max_body, user_agent = self.user_agent,
    max_host_connections = self.concurrency,
  }
  if not session then return nil, msg, code end
  self.session = session
  self.counts = { requests = 0, retries = 0 }
  return self
end

function Transport:log(level, message)
  if self.on_log then self.on_log(level, message) end
end

local function shorten(s)
  if #s > TRACE_BODY then return s:sub(1, TRACE_BODY) .. "...(" .. #s .. " bytes)" end
  return s
end

function Transport:trace(fmt, ...)
  if self.debug and self.on_log then
    self.on_log("debug", errors.redact(string.format(fmt, ...), self.secrets))
  end
end

--- Seconds to wait from a Retry-After header (delta-seconds or an HTTP date).
function Transport.retry_after(value, now)
  if not value then return nil end
  -- delta-seconds are digits only (RFC 9110); capped so that a date can be made of it
  local digits = value:match("^%s*(%d+)%s*$")
  if digits then return math.min(tonumber(digits), 10 * 365 * 86400) end
  if tonumber(value) then return nil end
  local months = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9,
    Oct = 10, Nov = 11, Dec = 12 }
  local d, mon, y, h, mi, s = value:match("^%a+, (%d+) (%a+) (%d+) (%d+):(%d+):(%d+) GMT$")
  if not d or not months[mon] then return nil end
  local t = { year = tonumber(y), month = months[mon], day = tonumber(d), hour = tonumber(h),
    min = tonumber(mi), sec = tonumber(s), isdst = false }
  -- os.time reads local time; the UTC offset of "now" corrects it to GMT
  local utc_offset = os.time() - os.time(os.date("!*t"))
  return math.max(0, os.time(t) + utc_offset - (now or os.time()))
end

--- "42 s", "17 min", "11.6 days": a wait as a person reads it.
function Transport.duration(seconds)
  if seconds < 120 then return string.format("%d s", math.ceil(seconds)) end
  if seconds < 7200 then return string.format("%d min", math.ceil(seconds / 60)) end
  if seconds < 2 * 86400 then return string.format("%.1f hours", seconds / 3600) end
  return string.format("%.1f days", seconds / 86400)
end

function Transport:backoff(attempt, res)
  local ra = res and res.headers and Transport.retry_after(res.headers["retry-after"], math.floor(core.now()))
  if ra then return ra end
  local ceiling = math.min(self.retry_cap, self.retry_base * 2 ^ (attempt - 1))
  return math.random() * ceiling
end

--- Runs `requests` and returns their results in input order, each `{ res =, err = }`
-- (res: status, headers, body, json; err: kiva.errors table). A request is a table:
-- method, url, endpoint (label for messages), body, headers (array) or
-- prepare() -> headers | nil, err (called before each attempt, e.g. for the
-- current token), idempotent (a POST safe to repeat), check(res) -> nil | why a
-- 2xx answer is unreadable (then errors.malformed), on_result(res, err, req)
-- -> "again" to send it once more (after a token renewal).
-- opts.on_result(i, res, err) is called as each one finishes.
function Transport:run(requests, opts)
  opts = opts or {}
  local session, n = self.session, #requests
  local results, in_flight, queue = {}, {}, {}
  local active, finished = 0, 0
  for i = 1, n do
    queue[#queue + 1] = { index = i, ready_at = 0, attempt = 0, extra = 0 }
  end

  local function finish(job, res, err)
    local req = requests[job.index]
    if req.on_result then
      local again = req.on_result(res, err, req)
      if again == "again" and job.extra < 1 then
        job.extra = job.extra + 1
        job.attempt = job.attempt - 1   -- a renewed token is not a retry
        job.ready_at = 0
        queue[#queue + 1] = job
        return
      end
    end
    results[job.index] = { res = res, err = err }
    finished = finished + 1
    if opts.on_result then opts.on_result(job.index, res, err) end
  end

  local function start(job)
    local req = requests[job.index]
    local headers, err = req.headers, nil
    if req.prepare then headers, err = req.prepare(req) end
    if not headers and err then return finish(job, nil, err) end
    job.attempt = job.attempt + 1
    job.started = job.started or core.monotonic()
    local id, msg, code = session:add { method = req.method, url = req.url, headers = headers, body = req.body }
    if not id then
      return finish(job, nil, errors.new("network", errors.redact(msg, self.secrets), { code = code }))
    end
    self.counts.requests = self.counts.requests + 1
    self:trace("-> %s %s%s", req.method, req.url, req.body and (" " .. shorten(req.body)) or "")
    in_flight[id] = job
    active = active + 1
  end

  local function handle(job, res)
    local req = requests[job.index]
    -- An API answer that echoes the secret or a token must not carry it on into
    -- reports and the ledger (the token endpoint's own answer is the exception).
    if req.endpoint ~= "token" and type(res.body) == "string" and errors.holds_secret(res.body, self.secrets) then
      res.body = errors.redact(res.body, self.secrets)
    end
    res.json = errors.decode_body(res.body)
    local err = errors.from_result(res, req, self.secrets)
    if not err and req.check then
      -- a 2xx that is not the answer the caller expects (HTML from a proxy, cut JSON)
      local problem = req.check(res)
      if problem then err = errors.malformed(res, req, problem, self.secrets) end
    end
    self:trace("<- %s %s %s%s %.3fs %s", req.method, req.url, res.status,
      res.code and (" " .. res.code) or "", res.total_time, shorten(res.body or ""))
    if err and err.retryable then
      local delay = self:backoff(job.attempt, res)
      local elapsed = core.monotonic() - job.started
      if job.attempt < self.max_attempts and elapsed + delay <= self.max_retry_time then
        self.counts.retries = self.counts.retries + 1
        self:log("info", string.format("%s; retrying in %.1fs (attempt %d of %d)",
          err.message, delay, job.attempt + 1, self.max_attempts))
        job.ready_at = core.monotonic() + delay
        queue[#queue + 1] = job
        return
      end
      err.attempts = job.attempt
      local ra = err.kind == "rate_limited" and Transport.retry_after(res.headers and res.headers["retry-after"])
      if ra and elapsed + delay > self.max_retry_time then
        -- the server asked for a wait past what a run allows: say so, and when to come back
        err.retry_at = os.time() + math.ceil(ra)
        err.message = string.format("%s; gave up after %d attempt%s: Kiva asks to wait %s (Retry-After: %d), "
          .. "more than this run may wait (max_retry_time %g s); try again after %s", err.message, job.attempt,
          job.attempt == 1 and "" or "s", Transport.duration(ra), math.ceil(ra), self.max_retry_time,
          os.date("!%Y-%m-%d %H:%M:%S UTC", err.retry_at))
      end
    end
    if err then return finish(job, nil, err) end
    return finish(job, res, nil)
  end

  -- queue[head..] is a FIFO (jobs appended at the end, taken at head, never shifted); a job
  -- not yet due moves to `delayed` (retries: few), so a turn costs O(started + delayed),
  -- not O(queue), and n requests O(n) instead of O(n^2).
  local head, delayed = 1, {}
  while finished < n do
    local now = core.monotonic()
    local next_ready
    -- due retries first, then fresh jobs
    local d = 1
    while d <= #delayed and active < self.concurrency do
      local job = delayed[d]
      if job.ready_at <= now then
        table.remove(delayed, d)
        start(job)
      else
        next_ready = math.min(next_ready or job.ready_at, job.ready_at)
        d = d + 1
      end
    end
    for j = d, #delayed do
      next_ready = math.min(next_ready or delayed[j].ready_at, delayed[j].ready_at)
    end
    while head <= #queue and active < self.concurrency do
      local job = queue[head]
      queue[head] = false
      head = head + 1
      if job.ready_at > now then delayed[#delayed + 1] = job else start(job) end
    end
    if finished >= n then break end
    local wait = 1
    if next_ready and active < self.concurrency then wait = math.max(0, math.min(1, next_ready - now)) end
    if active > 0 then
      local done, msg = session:poll(wait)
      if not done then error("kiva.transport: " .. tostring(msg)) end
      for _, res in ipairs(done) do
        local job = in_flight[res.id]
        in_flight[res.id] = nil
        -- no job: a result left by an earlier run that a raising callback ended
        if job then
          active = active - 1
          handle(job, res)
        end
      end
    elseif next_ready then
      core.sleep(math.max(0, next_ready - core.monotonic()))
    end
  end
  return results
end

--- One request; returns res | nil, err.
function Transport:request(req)
  local r = self:run({ req })[1]
  return r.res, r.err
end

--- { requests, retries, connects } so far.
function Transport:stats()
  local s = self.session:stats()
  return { requests = self.counts.requests, retries = self.counts.retries, connects = s.connects }
end

function Transport:close()
  if self.session then self.session:close() end
end
Transport.__close = Transport.close

return Transport
