--- kiva.ledger: what `kiva push` sent, in SQLite (LuaSQL's sqlite3 driver).
-- One row per item (a draft, one loan's repayment for one period, a journal), keyed
-- by kind, partner and internal ids, holding the SHA-256 of the exact JSON sent and a
-- state `pending → sending → sent | rejected | unknown`. WAL with synchronous=FULL
-- and one transaction per change of state, so a row says `sending` on disk before
-- its request leaves, and a run killed at any point leaves nothing ambiguous unsaid.
-- The ledger never holds secrets or tokens: only Kiva's answers and our payload hashes.
--
-- Where it lives: one ledger per target (API host, partner id) under
-- $XDG_STATE_HOME/kiva/ (M.default_path), whatever the working directory. The run
-- lock is an flock on the ledger file itself, so another path to the same file (a
-- symlink, a hard link) meets the same lock, and no separate lock file can be lost.
local json = require "kiva.json"
local core = require "kiva.core"
local errors = require "kiva.errors"

local M = {}

local Ledger = {}
Ledger.__index = Ledger

local STATES = { pending = true, sending = true, sent = true, rejected = true, unknown = true }
M.STATES = STATES

local SCHEMA = [[
CREATE TABLE IF NOT EXISTS items (
  key        TEXT PRIMARY KEY,
  kind       TEXT NOT NULL,
  hash       TEXT NOT NULL,
  state      TEXT NOT NULL,
  source     TEXT,
  batch      TEXT,
  response   TEXT,
  problems   TEXT,
  sent_hash  TEXT,
  sent_at    TEXT,
  updated_at TEXT NOT NULL
)]]

local INTERRUPTED = "a run was interrupted while this item was being sent: check PA2, then "
  .. "kiva ledger resolve KEY sent|unsent"

local function now_iso()
  return os.date("!%Y-%m-%dT%H:%M:%SZ")
end

local function fail(kind, message)
  return nil, errors.new(kind, message)
end

--- The directory ledgers live in by default: $XDG_STATE_HOME/kiva, else
-- ~/.local/state/kiva (the XDG base directory specification's state home).
function M.state_dir(getenv)
  getenv = getenv or os.getenv
  local xdg = getenv("XDG_STATE_HOME")
  if xdg and xdg:sub(1, 1) == "/" then return xdg .. "/kiva" end
  local home = getenv("HOME")
  if not home or home == "" then return nil end
  return home .. "/.local/state/kiva"
end

--- The file name part of a target: "partner-api.k1.kiva.org-123" ("host_port" with a port).
function M.target_name(api_url, partner_id)
  local host, port = tostring(api_url):match("^%a[%w+.-]*://%[?([^/%]:]+)%]?:?(%d*)")
  local name = (host or "unknown"):lower()
  if port and port ~= "" then name = name .. "_" .. port end
  return (name .. "-" .. tostring(partner_id or "any")):gsub("[^%w%.%-_]", "_")
end

--- The default ledger of a target. @return path | nil, err (kind "config")
function M.default_path(api_url, partner_id, getenv)
  local dir = M.state_dir(getenv)
  if not dir then
    return nil, errors.config("no HOME nor XDG_STATE_HOME to keep the ledger in: set KIVA_LEDGER or --ledger")
  end
  return dir .. "/" .. M.target_name(api_url, partner_id) .. ".sqlite3"
end

-- Size of the file at `path`: nil when absent.
local function file_size(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local size = f:seek("end")
  f:close()
  return size
end

-- Runs one statement; a cursor is drained into rows and closed, because an open
-- cursor keeps a statement in progress and makes the next COMMIT fail.
function Ledger:_exec(sql)
  local res, err = self.conn:execute(sql)
  if not res then return nil, err end
  if type(res) ~= "userdata" then return res end
  local rows = {}
  while true do
    local row = res:fetch({}, "a")
    if not row then break end
    rows[#rows + 1] = row
  end
  res:close()
  return rows
end

function Ledger:_q(v)
  if v == nil then return "NULL" end
  return "'" .. self.conn:escape(tostring(v)) .. "'"
end

-- Runs fn inside BEGIN IMMEDIATE ... COMMIT; rolls back on any failure.
function Ledger:_transaction(fn)
  local ok, err = self:_exec("BEGIN IMMEDIATE")
  if not ok then return fail("ledger", "ledger: cannot begin a transaction: " .. tostring(err)) end
  local done, ferr = pcall(fn)
  if not done then
    self:_exec("ROLLBACK")
    return fail("ledger", "ledger: " .. tostring(ferr))
  end
  ok, err = self:_exec("COMMIT")
  if not ok then
    self:_exec("ROLLBACK")
    return fail("ledger", "ledger: cannot commit: " .. tostring(err))
  end
  return true
end

function Ledger:_must(sql)
  local res, err = self:_exec(sql)
  if not res then error(tostring(err), 0) end
  return res
end

local function decode_row(row)
  if not row then return nil end
  row.response = row.response and json.decode(row.response) or nil
  row.problems = row.problems and json.decode(row.problems) or nil
  return row
end

--- Opens (creating if needed) the ledger at `path`.
-- `opts.lock_wait` (seconds): when given, takes an flock on the ledger file itself
-- for the ledger's lifetime, waiting at most that long; a second writer is refused,
-- not queued. `opts.create == false`: a missing ledger is an error, not made.
-- The ledger's `created` field says "new" when this call made the file, "empty" when
-- it was there with nothing in it: a caller tells the operator (a lost ledger would
-- otherwise resend everything in silence).
-- @return ledger | nil, err (`kind` "locked" or "ledger")
function M.open(path, opts)
  opts = opts or {}
  local self = setmetatable({ path = path }, Ledger)
  local size = file_size(path)
  if size == nil and opts.create == false then return fail("ledger", "no ledger at " .. path) end
  if size == nil then
    self.created = "new"
    local dir = path:match("^(.*)/[^/]*$")
    if dir and dir ~= "" then
      local made, merr = core.mkdir(dir, require("kiva.files").PRIVATE_DIR, true)
      if not made then
        return fail("ledger", "cannot create the ledger's directory " .. dir .. ": " .. tostring(merr))
      end
    end
  elseif size == 0 then
    self.created = "empty"
  end
  if opts.lock_wait then
    -- the lock is on the ledger file's inode: links and other paths share it
    local lock, msg, code = core.lock(path, opts.lock_wait)
    if not lock then
      if code == "LOCKED" then
        return fail("locked", string.format(
          "ledger %s is in use by another kiva run (waited %gs); try again when it has finished",
          path, opts.lock_wait))
      end
      return fail("ledger", "cannot open ledger " .. path .. ": " .. tostring(msg))
    end
    self.lock = lock
  end
  local driver = require "luasql.sqlite3"
  self.env = driver.sqlite3()
  local conn, err = self.env:connect(path)
  if not conn then
    self:close()
    return fail("ledger", "cannot open ledger " .. path .. ": " .. tostring(err))
  end
  self.conn = conn
  local steps = {
    "PRAGMA busy_timeout=" .. math.floor((opts.busy_timeout or 10) * 1000),
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    SCHEMA,
  }
  for _, sql in ipairs(steps) do
    local ok, e = self:_exec(sql)
    if not ok then
      self:close()
      return fail("ledger", "cannot prepare ledger " .. path .. ": " .. tostring(e))
    end
  end
  return self
end

--- Closes the database and releases the lock; idempotent.
function Ledger:close()
  -- SQLite first: closing the lock's descriptor while SQLite holds the file would
  -- drop SQLite's own POSIX locks on it (they belong to the process, per file)
  if self.conn then self.conn:close(); self.conn = nil end
  if self.env then self.env:close(); self.env = nil end
  if self.lock then self.lock:unlock(); self.lock = nil end
end
Ledger.__close = Ledger.close
Ledger.__gc = Ledger.close

--- Items a killed run left in `sending` become `unknown`: their request may have
-- reached Kiva. Call once at the start of a run, with the lock held.
-- @return array of keys | nil, err
function Ledger:recover()
  local rows, err = self:_exec("SELECT key FROM items WHERE state='sending' ORDER BY key")
  if not rows then return fail("ledger", tostring(err)) end
  if #rows == 0 then return {} end
  local ok, terr = self:_transaction(function()
    self:_must("UPDATE items SET state='unknown', updated_at=" .. self:_q(now_iso())
      .. ", problems=" .. self:_q(json.encode({ { message = INTERRUPTED } }))
      .. " WHERE state='sending'")
  end)
  if not ok then return nil, terr end
  local keys = {}
  for i, r in ipairs(rows) do keys[i] = r.key end
  return keys
end

--- The row for `key`, or nil. Fields: key, kind, hash, state, source, batch,
-- response (table), problems (table), sent_hash, sent_at, updated_at.
function Ledger:get(key)
  local rows = self:_exec("SELECT * FROM items WHERE key=" .. self:_q(key))
  return rows and decode_row(rows[1]) or nil
end

--- The rows of `keys` (an array), as a table key -> row; absent keys are missing.
-- @return rows | nil, err (a ledger that cannot be read must stop a run: nothing
-- could prove what was sent)
function Ledger:get_many(keys)
  local out = {}
  if #keys == 0 then return out end
  local quoted = {}
  for i, k in ipairs(keys) do quoted[i] = self:_q(k) end
  local rows, err = self:_exec("SELECT * FROM items WHERE key IN (" .. table.concat(quoted, ",") .. ")")
  if not rows then return fail("ledger", "ledger " .. self.path .. ": cannot read: " .. tostring(err)) end
  for _, row in ipairs(rows) do out[row.key] = decode_row(row) end
  return out
end

--- All rows, optionally only those in `state`, ordered by key.
function Ledger:list(state)
  local sql = "SELECT * FROM items"
  if state then sql = sql .. " WHERE state=" .. self:_q(state) end
  local rows = self:_exec(sql .. " ORDER BY key") or {}
  for _, r in ipairs(rows) do decode_row(r) end
  return rows
end

--- Counts per state.
function Ledger:counts()
  local out = {}
  for _, r in ipairs(self:_exec("SELECT state, count(*) AS n FROM items GROUP BY state") or {}) do
    out[r.state] = math.tointeger(tonumber(r.n)) or tonumber(r.n)
  end
  return out
end

--- Marks `items` (array of { key, kind, hash, where, batch }) `sending`, in one
-- committed transaction: call it before the request that carries them goes out.
-- @return true | nil, err
function Ledger:mark_sending(items)
  local t = now_iso()
  return self:_transaction(function()
    for _, it in ipairs(items) do
      self:_must(string.format(
        "INSERT INTO items(key, kind, hash, state, source, batch, updated_at) VALUES(%s,%s,%s,'sending',%s,%s,%s) "
        .. "ON CONFLICT(key) DO UPDATE SET hash=excluded.hash, state='sending', source=excluded.source, "
        .. "batch=excluded.batch, problems=NULL, updated_at=excluded.updated_at",
        self:_q(it.key), self:_q(it.kind), self:_q(it.hash), self:_q(it.where), self:_q(it.batch), self:_q(t)))
    end
  end)
end

-- One transaction setting `state` on each of `changes` ({ key, response, problems, batch }).
function Ledger:_settle(state, changes)
  local t = now_iso()
  return self:_transaction(function()
    for _, c in ipairs(changes) do
      local sets = { "state=" .. self:_q(state), "updated_at=" .. self:_q(t) }
      if c.response ~= nil then sets[#sets + 1] = "response=" .. self:_q(json.encode(c.response)) end
      sets[#sets + 1] = "problems=" .. self:_q(c.problems and json.encode(c.problems) or nil)
      if c.batch ~= nil then sets[#sets + 1] = "batch=" .. self:_q(c.batch) end
      if state == "sent" then
        sets[#sets + 1] = "sent_at=" .. self:_q(t)
        sets[#sets + 1] = "sent_hash=hash"
      end
      self:_must("UPDATE items SET " .. table.concat(sets, ", ") .. " WHERE key=" .. self:_q(c.key))
    end
  end)
end

--- Records Kiva's acceptance: each change { key, response = {...}, problems = warnings|nil, batch }.
function Ledger:mark_sent(changes) return self:_settle("sent", changes) end
--- Records Kiva's refusal: each change { key, problems = {...} }.
function Ledger:mark_rejected(changes) return self:_settle("rejected", changes) end
--- The answer was lost: each change { key, problems = { { message = ... } } }.
function Ledger:mark_unknown(changes) return self:_settle("unknown", changes) end
--- The request surely did not take effect: back to `pending` for the next run.
function Ledger:mark_pending(changes) return self:_settle("pending", changes) end

--- The operator's verdict on an item (usually `unknown`) after checking PA2:
-- "sent" records it as sent with its current hash; "unsent" returns it to `pending`,
-- so the next run sends it. Turning a `sent` item into `unsent` makes the next run
-- send it again: it needs `opts.force`.
-- @return row (as it was before) | nil, err
function Ledger:resolve(key, verdict, opts)
  local row = self:get(key)
  if not row then return fail("input", "no item with key " .. key .. " in the ledger " .. self.path) end
  local ok, err = self:_resolve_rows({ row }, verdict, opts)
  if not ok then return nil, err end
  return row
end

function Ledger:_resolve_rows(rows, verdict, opts)
  if verdict ~= "sent" and verdict ~= "unsent" then
    return fail("usage", "resolve takes 'sent' or 'unsent', not " .. tostring(verdict))
  end
  if verdict == "unsent" and not (opts and opts.force) then
    for _, row in ipairs(rows) do
      if row.state == "sent" then
        return fail("usage", row.key .. " is recorded as sent (" .. tostring(row.sent_at) .. "); marking it unsent "
          .. "makes the next run send it again, so a repayment could be reported twice. If PA2 really does not "
          .. "have it, repeat with --force")
      end
    end
  end
  local changes = {}
  for i, row in ipairs(rows) do
    local response = verdict == "sent" and (row.response or { resolved_by = "operator" }) or nil
    changes[i] = { key = row.key, response = response }
  end
  if verdict == "sent" then return self:mark_sent(changes) end
  return self:mark_pending(changes)
end

--- Settles every `unknown` item of one batch (the batch label a run reported,
-- such as "20261205T104500-003", or a repayment upload id).
-- @return rows (as they were before) | nil, err
function Ledger:resolve_batch(batch, verdict, opts)
  local rows, err = self:_exec("SELECT * FROM items WHERE state IN ('unknown','sending') AND (batch="
    .. self:_q(batch) .. " OR json_extract(response, '$.upload_id')=" .. self:_q(batch) .. ") ORDER BY key")
  if not rows then return fail("ledger", tostring(err)) end
  if #rows == 0 then
    return fail("input", "no unknown item in batch " .. tostring(batch) .. " in the ledger " .. self.path)
  end
  for _, r in ipairs(rows) do decode_row(r) end
  local ok, rerr = self:_resolve_rows(rows, verdict, opts)
  if not ok then return nil, rerr end
  return rows
end

--- Settles the `unknown` items among `keys` (all unknowns of one run, from its report).
-- @return rows settled | nil, err
function Ledger:resolve_keys(keys, verdict, opts)
  local rows = {}
  for _, key in ipairs(keys) do
    local row = self:get(key)
    if row and (row.state == "unknown" or row.state == "sending") then rows[#rows + 1] = row end
  end
  if #rows == 0 then return fail("input", "none of those items is of unknown outcome in the ledger " .. self.path) end
  local ok, err = self:_resolve_rows(rows, verdict, opts)
  if not ok then return nil, err end
  return rows
end

--- A consistent copy of the ledger at `dest` (SQLite's VACUUM INTO: a snapshot
-- taken inside a read transaction, WAL included). Copying the .sqlite3 file alone
-- is no backup: the latest changes may still sit in its -wal file.
-- @return true | nil, err
function Ledger:backup(dest)
  if file_size(dest) then return fail("usage", dest .. " exists: give the backup a new file name") end
  local ok, err = self:_exec("VACUUM INTO " .. self:_q(dest))
  if not ok then return fail("ledger", "cannot back up the ledger to " .. dest .. ": " .. tostring(err)) end
  return true
end

return M
