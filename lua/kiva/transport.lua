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
  concurrency = require("kiva.contract").DEFAULT_CONCURRENCY,
  max_attempts = 5, max_retry_time = 120, retry_base = 0.5, retry_cap = 30,
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

-- The wait before attempt `attempt` + 1: the server's Retry-After (read by libcurl,
-- seconds or a date) when it gave one, else a jittered exponential backoff.
function Transport:backoff(attempt, res)
  if res and res.retry_after then return res.retry_after end
  local ceiling = math.min(self.retry_cap, self.retry_base * 2 ^ (attempt - 1))
  return math.random() * ceiling
end

-- One Transport:run: its requests' jobs (index, req, attempt, ready_at, extra), the
-- queue, the delayed retries and the answers in flight.
local Run = {}
Run.__index = Run

function Run:finish(job, res, err)
  local req = job.req
  if req.on_result and not self.stopped then
    local again = req.on_result(res, err, req)
    if again == "again" and job.extra < 1 then
      job.extra = job.extra + 1
      job.attempt = job.attempt - 1   -- a renewed token is not a retry
      job.ready_at = 0
      self.queue[#self.queue + 1] = job
      return
    end
  end
  if self.results then self.results[job.index] = { res = res, err = err } end
  if self.opts.on_result then self.opts.on_result(job.index, res, err, req) end
end

function Run:start(job)
  local t, req = self.transport, job.req
  local headers, err = req.headers, nil
  if req.prepare then headers, err = req.prepare(req) end
  if not headers and err then return self:finish(job, nil, err) end
  job.attempt = job.attempt + 1
  job.started = job.started or core.monotonic()
  -- session:add only reads its table: one per run, filled for each request
  local args = self.add_args
  args.method, args.url, args.headers, args.body = req.method, req.url, headers, req.body
  local id, msg, code = self.session:add(args)
  if not id then
    return self:finish(job, nil, errors.new("network", errors.redact(msg, t.secrets), { code = code }))
  end
  t.counts.requests = t.counts.requests + 1
  -- the arguments cost a copy of the body: built only when someone traces
  if t.debug then t:trace("-> %s %s%s", req.method, req.url, req.body and (" " .. shorten(req.body)) or "") end
  self.in_flight[id] = job
  self.active = self.active + 1
end

-- A retryable failure: queued again after the backoff, or given up (err says why).
-- @return true when it will be retried
function Run:retry(job, res, err)
  local t, req = self.transport, job.req
  local delay = t:backoff(job.attempt, res)
  local elapsed = core.monotonic() - job.started
  if job.attempt < t.max_attempts and elapsed + delay <= t.max_retry_time then
    t.counts.retries = t.counts.retries + 1
    t:log("info", string.format("%s; retrying in %.1fs (attempt %d of %d)",
      err.message, delay, job.attempt + 1, t.max_attempts))
    if req.on_retry then req.on_retry(req, err, delay) end
    job.ready_at = core.monotonic() + delay
    self.queue[#self.queue + 1] = job
    return true
  end
  err.attempts = job.attempt
  if delay > 0 and elapsed + delay > t.max_retry_time then
    err.retry_after = delay
    err.message = string.format("%s; gave up (the server asked to wait %s, beyond the %gs allowed for retries)",
      err.message, delay >= 120 and string.format("%.0f min", delay / 60) or string.format("%.0f s", delay),
      t.max_retry_time)
  end
  return false
end

function Run:handle(job, res)
  local t, req = self.transport, job.req
  -- An API answer that echoes the secret or a token must not carry it on into
  -- reports and the ledger (the token endpoint's own answer is the exception).
  if req.endpoint ~= "token" and type(res.body) == "string" and errors.holds_secret(res.body, t.secrets) then
    res.body = errors.redact(res.body, t.secrets)
  end
  res.json = errors.decode_body(res.body)
  local err = errors.from_result(res, req, t.secrets)
  if not err and req.check then
    -- a 2xx that is not the answer the caller expects (HTML from a proxy, cut JSON)
    local problem = req.check(res)
    if problem then err = errors.malformed(res, req, problem, t.secrets) end
  end
  if t.debug then
    t:trace("<- %s %s %s%s %.3fs %s", req.method, req.url, res.status,
      res.code and (" " .. res.code) or "", res.total_time, shorten(res.body or ""))
  end
  if err and err.retryable and not self.stopped and self:retry(job, res, err) then return end
  if err then return self:finish(job, nil, err) end
  return self:finish(job, res, nil)
end

function Run:next_fresh()
  if self.source_done then return nil end
  local req
  if self.pull then req = self.pull() else req = self.requests[self.pulled + 1] end
  if req == nil then self.source_done = true; return nil end
  self.pulled = self.pulled + 1
  return { index = self.pulled, req = req, ready_at = 0, attempt = 0, extra = 0 }
end

-- The job at the queue's head, or nil.
function Run:take_queued()
  if self.head > #self.queue then return nil end
  local job = self.queue[self.head]
  self.queue[self.head] = false
  self.head = self.head + 1
  return job
end

-- Stopped (should_stop answered `err`): what has not started finishes with err, at
-- once; answers in flight are awaited until the grace period ends.
function Run:stop(err)
  self.stopped = err
  self.stop_deadline = core.monotonic() + (self.opts.grace or 10)
  for _, job in ipairs(self.delayed) do self.queue[#self.queue + 1] = job end
  self.delayed = {}
  while self.head <= #self.queue do
    local job = self:take_queued()
    if job then self:finish(job, nil, err) end
  end
  while true do
    local job = self:next_fresh()
    if not job then break end
    self:finish(job, nil, err)
  end
end

-- Starts what is due while a slot is free: due retries first, then queued jobs
-- (renewed tokens), then fresh ones. @return when the next delayed job is due, or nil
function Run:start_due(now)
  local limit, delayed, next_ready = self.transport.concurrency, self.delayed, nil
  local d = 1
  while d <= #delayed and self.active < limit do
    local job = delayed[d]
    if job.ready_at <= now then
      table.remove(delayed, d)
      self:start(job)
    else
      next_ready = math.min(next_ready or job.ready_at, job.ready_at)
      d = d + 1
    end
  end
  for j = d, #delayed do
    next_ready = math.min(next_ready or delayed[j].ready_at, delayed[j].ready_at)
  end
  while self.active < limit do
    -- the queue is checked here: two method calls per fresh request were a visible cost
    local job
    if self.head <= #self.queue then job = self:take_queued() end
    if not job then job = self:next_fresh() end
    if not job then break end
    if job.ready_at > now then
      delayed[#delayed + 1] = job
      next_ready = math.min(next_ready or job.ready_at, job.ready_at)
    else
      self:start(job)
    end
  end
  return next_ready
end

-- The grace period ended: answers not come are of unknown outcome.
function Run:give_up_in_flight()
  for id, job in pairs(self.in_flight) do
    self.in_flight[id] = nil
    self.active = self.active - 1
    self:finish(job, nil, errors.new("unknown_outcome", (job.req.method or "POST") .. " "
      .. tostring(job.req.endpoint) .. ": the run was stopped before the answer came (the request was sent; "
      .. "it may or may not have been applied)", { endpoint = job.req.endpoint }))
  end
end

-- Waits up to `wait` seconds for answers and handles those that came.
function Run:collect(wait)
  local done, msg = self.session:poll(wait)
  if not done then error("kiva.transport: " .. tostring(msg)) end
  for _, res in ipairs(done) do
    local job = self.in_flight[res.id]
    self.in_flight[res.id] = nil
    -- no job: a result left by an earlier run that a raising callback ended
    if job then
      self.active = self.active - 1
      self:handle(job, res)
    end
  end
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
  local run = setmetatable({
    transport = self, session = self.session, opts = opts, requests = requests,
    pull = type(requests) == "function" and requests or nil,
    results = not opts.on_result and {} or nil,
    in_flight = {}, active = 0, pulled = 0, stopped = nil, stop_deadline = nil, source_done = false,
    -- queue[head..] is a FIFO (jobs appended at the end, taken at head, never shifted); a job
    -- not yet due moves to `delayed` (retries: few), so a turn costs O(started + delayed),
    -- not O(queue), and n requests O(n) instead of O(n^2).
    queue = {}, head = 1, delayed = {}, add_args = {},
  }, Run)
  while true do
    if not run.stopped and opts.should_stop then
      local stopped = opts.should_stop()
      if stopped then run:stop(stopped) end
    end
    local now = core.monotonic()
    local next_ready = not run.stopped and run:start_due(now) or nil
    if run.active == 0 and #run.delayed == 0 and run.head > #run.queue and run.source_done then break end
    local wait = 1
    if next_ready and run.active < self.concurrency then wait = math.max(0, math.min(1, next_ready - now)) end
    if run.active > 0 then
      if run.stopped and core.monotonic() >= run.stop_deadline then
        run:give_up_in_flight()
      else
        run:collect(run.stopped and math.min(wait, 0.2) or wait)
      end
    elseif next_ready then
      core.sleep(math.max(0, math.min(0.5, next_ready - core.monotonic())))
    end
  end
  return run.results
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
