-- What the sandbox has applied (docs/ARCHITECTURE.md, "Sandbox"): counters, the
-- drafts, repayments and journals with their application counts, the faults; and
-- the --state FILE writer.
--
-- File guarantee: the file is always a complete JSON document (written to a
-- temporary file, then renamed over FILE). After a change it is rewritten before
-- the answer is sent, unless the sandbox has lately spent more than a quarter of
-- its time writing the file (a big state, many changes): then the write waits, at
-- most 100 ms, and covers every change of that time at once. It is also written on
-- each GET /__sandbox/state and at a clean stop (POST /__sandbox/shutdown, SIGTERM,
-- SIGINT: signals reach the loop through core.signal_watch). Only SIGKILL can lose
-- the changes of the last 100 ms, never the file.
local json = require "kiva.sandbox.json"

local M = {}

local MAX_DELAY = 0.1
-- Write-time budget (a token bucket, in seconds of writing): refills at RATE
-- seconds per second, up to BURST.
local RATE, BURST = 0.25, 0.02

--- A new state; `file` (optional) is the --state path, `clock` a function → seconds.
function M.new(file, clock)
  local self = setmetatable({
    file = file,
    clock = clock,
    token_requests = 0,
    requests = 0,
    duplicates = 0,
    loan_drafts = json.array(),
    repayments = json.array(),
    journals = json.array(),
    faults = json.array(),
    draft_by_key = {},
    repayment_by_key = {},
    journal_by_key = {},
    dirty = false,
    budget = BURST,
    refilled = clock(),
    due = nil,
  }, { __index = M })
  return self
end

local function bump(self, index, key, make)
  local entry = index[key]
  if entry then
    entry.count = entry.count + 1
    self.duplicates = self.duplicates + 1
    return entry, true
  end
  entry = make()
  entry.count = 1
  index[key] = entry
  return entry, false
end

--- Records one applied draft; returns true when it duplicates an earlier one.
function M:add_draft(uuid, key)
  local _, dup = bump(self, self.draft_by_key, key, function()
    local e = { uuid = uuid, key = key }
    self.loan_drafts[#self.loan_drafts + 1] = e
    return e
  end)
  return dup
end

function M:add_repayment(upload_id, loan_id, client_id, amount)
  local key = string.format("%s\0%s\0%.17g", loan_id, client_id or "", amount)
  local _, dup = bump(self, self.repayment_by_key, key, function()
    local e = { upload_id = upload_id, loan_id = loan_id, client_id = client_id, amount = amount }
    self.repayments[#self.repayments + 1] = e
    return e
  end)
  return dup
end

function M:add_journal(archive_id, loan_id, subject)
  local key = loan_id .. "\0" .. subject
  local _, dup = bump(self, self.journal_by_key, key, function()
    local e = { archive_id = archive_id, internal_loan_id = loan_id, subject = subject }
    self.journals[#self.journals + 1] = e
    return e
  end)
  return dup
end

function M:add_fault(kind, path, keys, applied)
  self.faults[#self.faults + 1] = { fault = kind, path = path, keys = json.array(keys), applied = applied }
end

--- The state document as JSON text.
function M:encode()
  return json.encode({
    token_requests = self.token_requests,
    requests = self.requests,
    duplicates = self.duplicates,
    loan_drafts = self.loan_drafts,
    repayments = self.repayments,
    journals = self.journals,
    faults = self.faults,
  })
end

--- Writes the state file now (if there is one), from `text` when the caller
-- already encoded it: true | nil, message.
function M:write(text)
  self.dirty = false
  self.due = nil
  if not self.file then return true end
  local started = self.clock()
  local tmp = self.file .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then return nil, err end
  local ok, werr = f:write(text or self:encode())
  local cok, cerr = f:close()
  if not ok or not cok then
    os.remove(tmp)
    return nil, werr or cerr
  end
  local rok, rerr = os.rename(tmp, self.file)
  if not rok then return nil, rerr end
  self.budget = self.budget - (self.clock() - started)
  return true
end

--- Notes a change: writes the file at once while the write budget lasts, else
-- schedules the write (see the guarantee at the top).
function M:changed()
  self.dirty = true
  if not self.file then return true end
  local now = self.clock()
  self.budget = math.min(BURST, self.budget + (now - self.refilled) * RATE)
  self.refilled = now
  if self.budget > 0 then return self:write() end
  self.due = self.due or (now + math.min(MAX_DELAY, -self.budget / RATE))
  return true
end

--- Seconds until a scheduled write is due (nil when none), and the message of a
-- failed write; writes the file when due.
function M:tick()
  if not self.due then return nil end
  local now = self.clock()
  if now >= self.due then
    return nil, select(2, self:write())
  end
  return self.due - now
end

return M
