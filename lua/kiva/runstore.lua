--- kiva.runstore: the items of one run, kept on disk instead of in Lua tables.
-- A push reads an export of any size: each row's item (where it came from, its
-- status, its key and content hash, the exact JSON it would send, its errors and
-- warnings) goes into a private temporary SQLite database that SQLite deletes on
-- close, so no stage of the run holds the whole export in memory. The stages after
-- reading (duplicates, the period, the ledger look-ups, sending, the report) read
-- it back in bounded pages.
local cjson = require "cjson.safe"

local M = {}

local Store = {}
Store.__index = Store

local COLUMNS = { "seq", "where_", "status", "ident", "client_id", "date", "key", "hash", "json", "label",
  "errors", "warnings", "note", "response", "file", "batch", "upload_id" }

local SCHEMA = [[
CREATE TABLE items (
  seq       INTEGER PRIMARY KEY,  -- the item's order in the export
  where_    TEXT,                 -- "file:line"
  status    TEXT NOT NULL,        -- valid invalid omitted sent skipped changed rejected unknown pending
  ident     TEXT,                 -- what must be unique in a run: a repayment's loan id, else the key
  client_id TEXT,                 -- a repayment's client id (two lines of one loan must agree)
  date      TEXT,                 -- a repayment's payment date, YYYY-MM-DD (chooses the period)
  key       TEXT,                 -- the ledger key
  hash      TEXT,                 -- SHA-256 of json
  json      TEXT,                 -- the exact bytes sent (a repayment: its object in the batch)
  label     TEXT,                 -- the id a dry run names its file after
  errors    TEXT, warnings TEXT, note TEXT, response TEXT,   -- JSON, for the report
  file      TEXT, batch TEXT, upload_id TEXT
)]]

-- Rows are written in multi-row INSERTs of INSERT_ROWS (one statement parsed per
-- few rows, not per row), inside one transaction for the whole reading stage; rows
-- are read back PAGE at a time.
local INSERT_ROWS = 32
local PAGE = 256

--- A new, empty store. @return store | nil, err (kind "ledger")
function M.open()
  local driver = require "luasql.sqlite3"
  local env = driver.sqlite3()
  -- "" is a private on-disk temporary database, removed when the connection closes
  local conn, err = env:connect("")
  if not conn then
    env:close()
    return nil, require("kiva.errors").ledger("cannot open a temporary database for the run: " .. tostring(err))
  end
  local self = setmetatable({ env = env, conn = conn, pending = {}, seq = 0 }, Store)
  for _, sql in ipairs({ "PRAGMA journal_mode=OFF", "PRAGMA synchronous=OFF", "PRAGMA temp_store=FILE", SCHEMA }) do
    local ok, e = conn:execute(sql)
    if type(ok) == "userdata" then ok:close() end   -- a PRAGMA answers with a row
    if not ok then
      self:close()
      return nil, require("kiva.errors").ledger("cannot prepare the run's temporary database: " .. tostring(e))
    end
  end
  return self
end

-- An SQL literal: NULL, an integer, or a string with its quotes doubled (SQLite's
-- only escape; the text we store holds no NUL byte: JSON escapes it, paths cannot).
local function literal(v)
  if v == nil then return "NULL" end
  if math.type(v) == "integer" then return tostring(v) end
  v = tostring(v)
  if v:find("'", 1, true) then v = v:gsub("'", "''") end
  return "'" .. v .. "'"
end

function Store.q(_, v) return literal(v) end

local function encode(v)
  if v == nil then return nil end
  return cjson.encode(v)
end

-- Runs a statement; raises on failure, since a failing temporary database leaves
-- the run nothing to stand on (the caller turns it into the run's error).
function Store:exec(sql)
  local res, err = self.conn:execute(sql)
  if not res then error({ kind = "ledger", message = "the run's temporary database: " .. tostring(err) }, 0) end
  return res
end

--- Adds an item: { where, status, ident, client_id, date, key, hash, json, label,
-- errors, warnings, note } (errors/warnings as tables). @return its seq
function Store:add(item)
  local seq = self.seq + 1
  self.seq = seq
  local pending = self.pending
  pending[#pending + 1] = "(" .. seq .. "," .. literal(item.where) .. "," .. literal(item.status) .. ","
    .. literal(item.ident) .. "," .. literal(item.client_id) .. "," .. literal(item.date) .. "," .. literal(item.key)
    .. "," .. literal(item.hash) .. "," .. literal(item.json) .. "," .. literal(item.label) .. ","
    .. literal(encode(item.errors)) .. "," .. literal(encode(item.warnings)) .. "," .. literal(item.note) .. ")"
  if #pending >= INSERT_ROWS then self:flush() end
  return seq
end

--- Writes what add() buffered.
function Store:flush()
  if #self.pending == 0 then return end
  if not self.loading then
    self:exec("BEGIN")
    self.loading = true
  end
  self:exec("INSERT INTO items(seq, where_, status, ident, client_id, date, key, hash, json, label, errors, "
    .. "warnings, note) VALUES " .. table.concat(self.pending, ","))
  self.pending = {}
end

--- Sets fields of the item `seq` (errors, warnings and response as tables).
function Store:update(seq, fields)
  local sets = {}
  for k, v in pairs(fields) do
    if k == "errors" or k == "warnings" or k == "response" then v = encode(v) end
    if k == "where" then k = "where_" end
    sets[#sets + 1] = k .. "=" .. literal(v)
  end
  self:exec("UPDATE items SET " .. table.concat(sets, ", ") .. " WHERE seq=" .. math.tointeger(seq))
end

--- Sets `fields` on the items seq first..last that are in `status` (a dry run's batch file).
function Store:update_range(first, last, status, fields)
  local sets = {}
  for k, v in pairs(fields) do sets[#sets + 1] = k .. "=" .. literal(v) end
  self:exec("UPDATE items SET " .. table.concat(sets, ", ") .. " WHERE seq BETWEEN " .. math.tointeger(first)
    .. " AND " .. math.tointeger(last) .. " AND status=" .. literal(status))
end

--- Runs fn inside one transaction of the store (many updates, one commit).
function Store:batch(fn)
  self:exec("BEGIN")
  local ok, err = pcall(fn)
  self:exec(ok and "COMMIT" or "ROLLBACK")
  if not ok then error(err, 0) end
end

-- Rows of a SELECT, as tables keyed by column name.
function Store:rows(sql)
  local cur = self:exec(sql)
  local out = {}
  while true do
    local row = cur:fetch({}, "a")
    if not row then break end
    out[#out + 1] = row
  end
  cur:close()
  return out
end

--- Indexes the items once they are all read (building an index once is cheaper
-- than keeping it up to date through every insert).
function Store:index()
  self:flush()
  if self.loading then
    self:exec("COMMIT")
    self.loading = false
  end
  if self.indexed then return end
  self:exec("CREATE INDEX items_ident ON items(ident)")
  self:exec("CREATE INDEX items_status ON items(status, seq)")
  self.indexed = true
end

--- Groups of valid items sharing an ident (in export order): each { seqs = {...},
-- wheres = {...}, client_ids = {...} }, ordered by their first item.
function Store:duplicates()
  local groups, by_ident = {}, {}
  for _, r in ipairs(self:rows("SELECT seq, ident, where_, client_id FROM items WHERE status='valid' AND ident IN "
      .. "(SELECT ident FROM items WHERE status='valid' GROUP BY ident HAVING count(*) > 1) ORDER BY seq")) do
    local g = by_ident[r.ident]
    if not g then
      g = { ident = r.ident, seqs = {}, wheres = {}, client_ids = {} }
      by_ident[r.ident] = g
      groups[#groups + 1] = g
    end
    g.seqs[#g.seqs + 1] = math.tointeger(tonumber(r.seq))
    g.wheres[#g.wheres + 1] = r.where_
    g.client_ids[#g.client_ids + 1] = r.client_id
  end
  return groups
end

--- The months (YYYY-MM) of the valid items' dates, sorted, and how many valid items have none.
function Store:months()
  local months = {}
  for _, r in ipairs(self:rows("SELECT DISTINCT substr(date, 1, 7) AS m FROM items WHERE status='valid' "
      .. "AND date IS NOT NULL ORDER BY m")) do
    months[#months + 1] = r.m
  end
  local undated = self:rows("SELECT count(*) AS n FROM items WHERE status='valid' AND date IS NULL")[1].n
  return months, math.tointeger(tonumber(undated))
end

--- Sets the key of every valid item to prefix .. key (a repayment's key is known once
-- the period is).
function Store:prefix_keys(prefix)
  self:exec("UPDATE items SET key=" .. self:q(prefix) .. " || key WHERE status='valid'")
end

local function decode_row(row)
  row.seq = math.tointeger(tonumber(row.seq))
  row.where, row.where_ = row.where_, nil
  row.errors = row.errors and cjson.decode(row.errors) or nil
  row.warnings = row.warnings and cjson.decode(row.warnings) or nil
  row.response = row.response and cjson.decode(row.response) or nil
  return row
end

--- The next page of at most `limit` items in `status` after seq `after`, in export
-- order, with their JSON. @return array of rows
function Store:page(status, after, limit)
  local rows = self:rows("SELECT * FROM items WHERE status=" .. self:q(status) .. " AND seq > "
    .. math.tointeger(after) .. " ORDER BY seq LIMIT " .. math.tointeger(limit))
  for _, r in ipairs(rows) do decode_row(r) end
  return rows
end

--- Pulls the items in `status` one at a time, a page at a time: an iterator.
function Store:each(status, page_size)
  local page, pos, last = {}, 0, 0
  return function()
    pos = pos + 1
    if page[pos] == nil then
      page, pos = self:page(status, last, page_size or PAGE), 1
      if page[1] == nil then return nil end
      last = page[#page].seq
    end
    return page[pos]
  end
end

-- A report item: what kiva.report reads of an item, without its JSON. `value` (the
-- decoded JSON, for kiva.reconcile) is decoded on first use.
local ITEM_COLUMNS = "seq, where_, status, key, errors, warnings, note, response, file, batch, upload_id, "
  .. "CASE WHEN status='valid' THEN json END AS json"

local item_mt = {
  __index = function(item, k)
    if k == "value" and item.json then
      local v = cjson.decode(item.json)
      rawset(item, "value", v)
      return v
    end
    return nil
  end,
}

--- All items, in export order, as an array-like table read a page at a time:
-- `ipairs(store:items())` and `#store:items()` work; only the current page is in
-- memory. Valid for as long as the store is open.
function Store:items()
  self:index()
  local count = math.tointeger(tonumber(self:rows("SELECT count(*) AS n FROM items")[1].n))
  local cache, first = {}, 1
  local store = self
  return setmetatable({}, {
    __len = function() return count end,
    __index = function(_, i)
      if math.type(i) ~= "integer" or i < 1 or i > count then return nil end
      if i < first or i >= first + #cache then
        -- seq runs 1..count with no gaps: a page is a seq range
        cache, first = store:rows("SELECT " .. ITEM_COLUMNS .. " FROM items WHERE seq >= " .. i
          .. " ORDER BY seq LIMIT " .. PAGE * 4), i
        for k, r in ipairs(cache) do
          cache[k] = setmetatable(decode_row(r), item_mt)
        end
      end
      return cache[i - first + 1]
    end,
  })
end

--- Closes the database (SQLite removes its file); idempotent.
function Store:close()
  if self.conn then self.conn:close(); self.conn = nil end
  if self.env then self.env:close(); self.env = nil end
end
Store.__gc = Store.close
Store.__close = Store.close

M.COLUMNS = COLUMNS
return M
