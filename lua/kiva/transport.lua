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
  connect_timeout = 10, timeout = 60, max_body = 16 * 1024 * 1024,
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
  -- A slow answer is cut off by the total timeout alone: a low-speed limit shorter
  -- than the timeout would give up on a server that answers within it (an answer
  -- after 40 s, under the 60 s timeout, was lost to the 30 s low-speed limit).
  if not (opts and opts.low_speed_time) then self.low_speed_time = self.timeout end
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

function Transport:backoff(attempt, res)
  local ra = res and res.headers and Transport.retry_after(res.headers["retry-after"], math.floor(core.now()))
  if ra then return ra end
  local ceiling = math.min(self.retry_cap, self.retry_base * 2 ^ (attempt - 1))
  return math.random() * ceiling
end

--- Runs requests, at most `concurrency` in flight. `requests` is an array, or a
-- function returning the next request (nil when there are no more): it is called
-- only when a slot is free, so a caller can stream requests from a store without
-- holding them all. A request is a table: method, url, endpoint (label for
-- messages), body, headers (array) or prepare(req) -> headers | nil, err (called
-- before each attempt, e.g. for the current token), idempotent (a POST safe to
-- repeat), check(res) -> nil | why a 2xx answer is unreadable (then
-- errors.malformed), on_result(res, err, req) -> "again" to send it once more
-- (after a token renewal), on_retry(req, err, delay) when a retryable failure will
-- be retried after `delay` seconds.
-- opts.on_result(i, res, err, req) is called as each one finishes (i: its position);
-- without it, the results come back as an array `{ res =, err = }` in input order.
-- opts.should_stop() -> err|nil, asked between turns: once it answers, no request
-- starts any more (those not started finish with that err), answers in flight are
-- awaited for at most opts.grace seconds (default 10), then given up as unknown.
function Transport:run(requests, opts)
  opts = opts or {}
  local session = self.session
  local pull = type(requests) == "function" and requests or nil
  local results = not opts.on_result and {} or nil
  local in_flight, queue = {}, {}
  local active, pulled, stopped, stop_deadline, source_done = 0, 0, nil, nil, false
  -- queue[head..] is a FIFO (jobs appended at the end, taken at head, never shifted); a job
  -- not yet due moves to `delayed` (retries: few), so a turn costs O(started + delayed),
  -- not O(queue), and n requests O(n) instead of O(n^2).
  local head, delayed = 1, {}

  local function finish(job, res, err)
    local req = job.req
    if req.on_result and not stopped then
      local again = req.on_result(res, err, req)
      if again == "again" and job.extra < 1 then
        job.extra = job.extra + 1
        job.attempt = job.attempt - 1   -- a renewed token is not a retry
        job.ready_at = 0
        queue[#queue + 1] = job
        return
      end
    end
    if results then results[job.index] = { res = res, err = err } end
    if opts.on_result then opts.on_result(job.index, res, err, req) end
  end

  local function start(job)
    local req = job.req
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
    local req = job.req
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
    if err and err.retryable and not stopped then
      local delay = self:backoff(job.attempt, res)
      local elapsed = core.monotonic() - job.started
      if job.attempt < self.max_attempts and elapsed + delay <= self.max_retry_time then
        self.counts.retries = self.counts.retries + 1
        self:log("info", string.format("%s; retrying in %.1fs (attempt %d of %d)",
          err.message, delay, job.attempt + 1, self.max_attempts))
        if req.on_retry then req.on_retry(req, err, delay) end
        job.ready_at = core.monotonic() + delay
        queue[#queue + 1] = job
        return
      end
      err.attempts = job.attempt
      if delay > 0 and elapsed + delay > self.max_retry_time then
        err.retry_after = delay
        err.message = string.format("%s; gave up (the server asked to wait %s, beyond the %gs allowed for retries)",
          err.message, delay >= 120 and string.format("%.0f min", delay / 60) or string.format("%.0f s", delay),
          self.max_retry_time)
      end
    end
    if err then return finish(job, nil, err) end
    return finish(job, res, nil)
  end

  local function next_fresh()
    if source_done then return nil end
    local req
    if pull then req = pull() else req = requests[pulled + 1] end
    if req == nil then source_done = true; return nil end
    pulled = pulled + 1
    return { index = pulled, req = req, ready_at = 0, attempt = 0, extra = 0 }
  end

  -- Once stopped: what has not started finishes with the stop's err, at once.
  local function drop_waiting(err)
    while head <= #queue do
      local job = queue[head]
      queue[head] = false
      head = head + 1
      if job then finish(job, nil, err) end
    end
    while true do
      local job = next_fresh()
      if not job then break end
      finish(job, nil, err)
    end
  end

  while true do
    if not stopped and opts.should_stop then
      stopped = opts.should_stop()
      if stopped then
        stop_deadline = core.monotonic() + (opts.grace or 10)
        for _, job in ipairs(delayed) do queue[#queue + 1] = job end
        delayed = {}
        drop_waiting(stopped)
      end
    end
    local now = core.monotonic()
    local next_ready
    if not stopped then
      -- due retries first, then queued jobs (renewed tokens), then fresh ones
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
      while active < self.concurrency do
        local job
        if head <= #queue then
          job = queue[head]
          queue[head] = false
          head = head + 1
        else
          job = next_fresh()
          if not job then break end
        end
        if job.ready_at > now then
          delayed[#delayed + 1] = job
          next_ready = math.min(next_ready or job.ready_at, job.ready_at)
        else
          start(job)
        end
      end
    end
    if active == 0 and #delayed == 0 and head > #queue and source_done then break end
    local wait = 1
    if next_ready and active < self.concurrency then wait = math.max(0, math.min(1, next_ready - now)) end
    if active > 0 then
      if stopped and core.monotonic() >= stop_deadline then
        -- answers not come within the grace period: their outcome is unknown
        for id, job in pairs(in_flight) do
          in_flight[id] = nil
          active = active - 1
          finish(job, nil, errors.new("unknown_outcome", (job.req.method or "POST") .. " " .. tostring(job.req.endpoint)
            .. ": the run was stopped before the answer came (the request was sent; it may or may not have "
            .. "been applied)",
            { endpoint = job.req.endpoint }))
        end
      else
        local done, msg = session:poll(stopped and math.min(wait, 0.2) or wait)
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
      end
    elseif next_ready then
      core.sleep(math.max(0, math.min(0.5, next_ready - core.monotonic())))
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
