--- kiva.progress: how far a push has got, on stderr. A redrawn bar with items/s and
-- ETA when stderr is a terminal; otherwise (cron, a log file) one plain line every
-- `interval` seconds and a last one at the end, so logs stay readable.
local core = require "kiva.core"

local M = {}

local function fmt_eta(s)
  if not s or s ~= s or s == math.huge then return "?" end
  s = math.floor(s + 0.5)
  if s >= 3600 then return string.format("%dh%02dm", s // 3600, (s % 3600) // 60) end
  if s >= 60 then return string.format("%dm%02ds", s // 60, s % 60) end
  return string.format("%ds", s)
end

--- A progress reporter: `p(done, total)` updates it, `p:finish()` ends the line.
-- opts: stream (default io.stderr), tty (default core.isatty(2)), interval (s, default 5), label.
function M.new(opts)
  opts = opts or {}
  local stream = opts.stream or io.stderr
  local tty = opts.tty
  if tty == nil then tty = core.isatty(2) and true or false end
  local interval = opts.interval or 5
  local label = opts.label or "sending"
  local start = core.monotonic()
  local last_line = -math.huge
  local state = { done = 0, total = 0, drawn = false }

  local function line(done, total)
    local elapsed = core.monotonic() - start
    local rate = elapsed > 0 and done / elapsed or 0
    local eta = rate > 0 and (total - done) / rate or nil
    return done, total, rate, eta
  end

  local self = {}
  function self.update(done, total)
    state.done, state.total = done, total
    local now = core.monotonic()
    local d, t, rate, eta = line(done, total)
    if tty then
      local width = 30
      local filled = t > 0 and math.floor(width * d / t) or width
      stream:write(string.format("\r%s [%s%s] %d/%d %.1f items/s ETA %s ", label, string.rep("#", filled),
        string.rep(".", width - filled), d, t, rate, fmt_eta(eta)))
      stream:flush()
      state.drawn = true
    elseif d > 0 and (now - last_line >= interval or d == t) then
      last_line = now
      stream:write(string.format("%s: %d/%d items, %.1f items/s, ETA %s\n", label, d, t, rate, fmt_eta(eta)))
      stream:flush()
    end
  end
  function self.finish()
    if tty and state.drawn then stream:write("\n"); stream:flush() end
  end
  return setmetatable(self, { __call = function(_, done, total) return self.update(done, total) end })
end

return M
