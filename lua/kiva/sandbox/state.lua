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
local json = require "kiva.json"

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
    loans = json.array(),     -- loans made or changed by POST /__sandbox/loans/{id}/status
    draft_by_key = {},
    loan_by_id = {},
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

--- Records one applied draft; `loan` (optional) is the loan it would become
-- (kept so that POST /__sandbox/loans/{key}/status can make it one). Returns true
-- when it duplicates an earlier one.
function M:add_draft(uuid, key, loan)
  local entry, dup = bump(self, self.draft_by_key, key, function()
    local e = { uuid = uuid, key = key }
    self.loan_drafts[#self.loan_drafts + 1] = e
    return e
  end)
  entry.loan = loan or entry.loan
  return dup
end

--- The draft entry of this key, or nil.
function M:draft(key)
  return self.draft_by_key[key]
end

--- Records a loan made or changed through the sandbox (replacing one of the same id).
function M:put_loan(loan)
  local at = self.loan_by_id[loan.internal_loan_id]
  if not at then
    at = #self.loans + 1
    self.loan_by_id[loan.internal_loan_id] = at
  end
  self.loans[at] = loan
end

-- What makes two repayments or two journals the same item (a duplicate).
local function repayment_key(loan_id, client_id, amount)
  return string.format("%s\0%s\0%.17g", loan_id, client_id or "", amount)
end

local function journal_key(loan_id, subject)
  return loan_id .. "\0" .. subject
end

function M:add_repayment(upload_id, loan_id, client_id, amount)
  local key = repayment_key(loan_id, client_id, amount)
  local _, dup = bump(self, self.repayment_by_key, key, function()
    local e = { upload_id = upload_id, loan_id = loan_id, client_id = client_id, amount = amount }
    self.repayments[#self.repayments + 1] = e
    return e
  end)
  return dup
end

function M:add_journal(archive_id, loan_id, subject)
  local key = journal_key(loan_id, subject)
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
    loans = self.loans,
  })
end

--- Reads back a state file written by M:write (a sandbox restarted with the same
-- --state keeps what it was sent): true, or true when there is no such file yet,
-- or nil, message when it is not a state document.
function M:load()
  if not self.file then return true end
  local text = require("kiva.files").read(self.file)
  if not text then return true end
  local doc, err = json.decode(text)
  if type(doc) ~= "table" then return nil, self.file .. ": not a sandbox state file: " .. tostring(err) end
  for _, name in ipairs { "token_requests", "requests", "duplicates" } do
    if math.type(doc[name]) == "integer" then self[name] = doc[name] end
  end
  for _, e in ipairs(type(doc.loan_drafts) == "table" and doc.loan_drafts or {}) do
    if type(e) == "table" and type(e.key) == "string" and self.draft_by_key[e.key] == nil then
      self.loan_drafts[#self.loan_drafts + 1] = e
      self.draft_by_key[e.key] = e
    end
  end
  for _, e in ipairs(type(doc.repayments) == "table" and doc.repayments or {}) do
    if type(e) == "table" and type(e.loan_id) == "string" and type(e.amount) == "number" then
      self.repayments[#self.repayments + 1] = e
      self.repayment_by_key[repayment_key(e.loan_id, e.client_id, e.amount)] = e
    end
  end
  for _, e in ipairs(type(doc.journals) == "table" and doc.journals or {}) do
    if type(e) == "table" and type(e.internal_loan_id) == "string" and type(e.subject) == "string" then
      self.journals[#self.journals + 1] = e
      self.journal_by_key[journal_key(e.internal_loan_id, e.subject)] = e
    end
  end
  for _, e in ipairs(type(doc.faults) == "table" and doc.faults or {}) do
    if type(e) == "table" then
      e.keys = json.array(type(e.keys) == "table" and e.keys or {})
      self.faults[#self.faults + 1] = e
    end
  end
  for _, loan in ipairs(type(doc.loans) == "table" and doc.loans or {}) do
    if type(loan) == "table" and type(loan.internal_loan_id) == "string" then self:put_loan(loan) end
  end
  return true
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
