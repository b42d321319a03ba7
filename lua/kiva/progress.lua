--- kiva.progress: how far a run has got, on stderr, from the first row read on.
-- On a terminal: one line redrawn in place, cut to the terminal's width (asked at each
-- redraw, so a resized window is followed) and cleared to its end, so it never wraps
-- and never leaves stray characters when it shrinks. Elsewhere (cron, a log file): a
-- plain line with the date and time at most every `interval` seconds, and the last
-- state at the end. Both show the live counts: rows read, valid and invalid while
-- reading; done/total, rate, retries, rejected and unknown while sending. No ETA until
-- the rate is known.
local core = require "kiva.core"

local M = {}

-- Seconds of sending before a rate (and so an ETA) is shown: the first requests
-- include the connection and the token, and would promise a wrong ETA.
M.RATE_AFTER = 2

local function fmt_eta(s)
  s = math.floor(s + 0.5)
  if s >= 3600 then return string.format("%dh%02dm", s // 3600, (s % 3600) // 60) end
  if s >= 60 then return string.format("%dm%02ds", s // 60, s % 60) end
  return string.format("%ds", s)
end

-- p from push.run: a table { stage, read, valid, invalid, done, total, sent, rejected,
-- unknown, retries }, or the older (done, total) pair.
local function normalize(p, total)
  if type(p) == "table" then return p end
  return { stage = "sending", done = p, total = total }
end

-- One terminal line of at most `cols - 1` characters (the last column would wrap).
local function fit(head, list, frac, cols)
  local room = math.max(cols - 1, 10)
  for n = #list, 0, -1 do
    local text = head
    local tail = table.concat(list, ", ", 1, n)
    local bar_room = room - utf8.len(text) - utf8.len(tail) - 4
    if frac and bar_room >= 8 then
      local w = math.min(bar_room, 30)
      local filled = math.floor(w * frac)
      text = text .. " [" .. string.rep("#", filled) .. string.rep(".", w - filled) .. "]"
    end
    if n > 0 then text = text .. " " .. tail end
    if utf8.len(text) <= room then return text end
  end
  return head:sub(1, room)
end

--- A progress display: `d(p)` (or `d(done, total)`) updates it, `d.finish()` ends it.
-- opts: stream (default io.stderr), tty (default: stderr is a terminal), interval (s
-- between plain lines, default 5), label (what is sent, e.g. "repayments"), tr (a
-- kiva.i18n translator), width (columns; default the terminal's, else 80), clock
-- (monotonic seconds, default core.monotonic), now (wall clock for the plain lines'
-- timestamps, default os.time).
function M.new(opts)
  opts = opts or {}
  local stream = opts.stream or io.stderr
  local tty = opts.tty
  if tty == nil then tty = core.isatty(2) and true or false end
  local interval = opts.interval or 5
  local label = opts.label and (" " .. opts.label) or ""
  local tr = opts.tr or function(s, ...) return select("#", ...) > 0 and string.format(s, ...) or s end
  local clock = opts.clock or core.monotonic
  local now = opts.now or os.time
  local last_line, send_start = -math.huge, nil
  local last, printed_last = nil, true
  local drawn = false

  local function width()
    if opts.width then return opts.width end
    local cols = core.term_size(2)
    return cols or 80
  end

  -- The parts of the line, most important first; `bar` is drawn in the room left.
  local function parts(p)
    if p.stage == "reading" then
      return tr("reading%s", label), {
        tr("%d rows", p.read or 0), tr("%d valid", p.valid or 0), tr("%d invalid", p.invalid or 0) }, nil
    end
    local t = clock()
    send_start = send_start or t
    local done, total = p.done or 0, p.total
    local list = { total and string.format("%d/%d", done, total) or tostring(done) }
    for _, k in ipairs({ "rejected", "unknown", "retries" }) do
      if p[k] then list[#list + 1] = tr("%d " .. k, p[k]) end
    end
    local elapsed = t - send_start
    if elapsed >= M.RATE_AFTER and done > 0 then
      local rate = done / elapsed
      list[#list + 1] = tr("%.1f items/s", rate)
      if total and total > done then list[#list + 1] = tr("ETA %s", fmt_eta((total - done) / rate)) end
    end
    local frac = total and total > 0 and math.min(done / total, 1) or nil
    return tr("sending%s", label), list, frac
  end

  local self = {}
  function self.update(p, total)
    p = normalize(p, total)
    last = { stage = p.stage, read = p.read, valid = p.valid, invalid = p.invalid, done = p.done, total = p.total,
      rejected = p.rejected, unknown = p.unknown, retries = p.retries }
    local head, list, frac = parts(last)
    if tty then
      stream:write("\r", fit(head, list, frac, width()), "\27[K")
      stream:flush()
      drawn = true
    else
      local t = clock()
      if t - last_line >= interval then
        last_line = t
        stream:write(os.date("%Y-%m-%d %H:%M:%S ", math.floor(now())), head, ": ", table.concat(list, ", "), "\n")
        stream:flush()
        printed_last = true
      else
        printed_last = false
      end
    end
  end
  --- Ends the display: on a terminal the line is cleared (the run log follows);
  -- elsewhere the last state is written if it was not.
  function self.finish()
    if tty then
      if drawn then stream:write("\r\27[K"); stream:flush() end
    elseif last and not printed_last then
      last_line = -math.huge
      self.update(last)
    end
  end
  return setmetatable(self, { __call = function(_, p, t) return self.update(p, t) end })
end

return M
