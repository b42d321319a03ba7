--- kiva.runstore: the items of one run, kept on disk instead of in Lua tables.
-- A push reads an export of any size: each row's item (where it came from, its
-- status, its key and content hash, the exact JSON it would send, its errors and
-- warnings) goes into a private temporary SQLite database that SQLite deletes on
-- close, so no stage of the run holds the whole export in memory. The stages after
-- reading (duplicates, the period, the ledger look-ups, sending, the report) read
-- it back in bounded pages.
--
-- Why LuaDBI (lua-dbi-sqlite3) and not LuaSQL, which the ledger uses: every row
-- of the export passes through here, and LuaDBI's prepared statements bind values
-- instead of parsing an SQL text per row (about a quarter of LuaSQL's cost per row).
local json = require "kiva.json"
local errors = require "kiva.errors"
local tempdb = require "kiva.tempdb"

local M = {}

local Store = {}
Store.__index = Store

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

local PAGE = 256   -- rows read back at a time
local COMMIT_EVERY = 4096   -- rows added between two commits while reading

-- A failing temporary database leaves the run nothing to stand on: raise a
-- kiva.errors table, which push.run turns into the run's error.
local function failed(what, err)
  error(errors.ledger("the run's temporary database: " .. what .. ": " .. tostring(err)), 0)
end

--- A new, empty store. @return store | nil, err (kind "ledger")
function M.open()
  local db, err = tempdb.open("the run store", { SCHEMA })
  if not db then return nil, err end
  return setmetatable({ db = db, statements = {}, seq = 0, since_commit = 0 }, Store)
end

-- The prepared statement for `sql`, made once per store.
function Store:statement(sql)
  local st = self.statements[sql]
  if st then return st end
  local err
  st, err = self.db:prepare(sql)
  if not st then failed("cannot prepare " .. sql:sub(1, 60), err) end
  self.statements[sql] = st
  return st
end

--- Runs `sql` with the values `...` bound to its `?`.
function Store:run(sql, ...)
  local ok, err = self:statement(sql):execute(...)
  if not ok then failed(sql:sub(1, 60), err) end
end

--- The rows of a query, as tables keyed by column name.
function Store:rows(sql, ...)
  local st = self:statement(sql)
  local ok, err = st:execute(...)
  if not ok then failed(sql:sub(1, 60), err) end
  local out = {}
  for row in st:rows(true) do out[#out + 1] = row end
  return out
end

function Store:commit()
  -- LuaDBI answers false, with no message, when the transaction changed nothing
  local ok, err = self.db:commit()
  if not ok and err then failed("commit", err) end
  self.since_commit = 0
end

local function encode(v)
  if v == nil then return nil end
  return json.encode(v)
end

local INSERT = "INSERT INTO items(seq, where_, status, ident, client_id, date, key, hash, json, label, errors, "
  .. "warnings, note) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"

--- Adds an item: { where, status, ident, client_id, date, key, hash, json, label,
-- errors, warnings, note } (errors/warnings as tables). @return its seq
function Store:add(item)
  local seq = self.seq + 1
  self.seq = seq
  local st = self.insert or self:statement(INSERT)
  self.insert = st
  local ok, err = st:execute(seq, item.where, item.status, item.ident, item.client_id, item.date, item.key,
    item.hash, item.json, item.label, encode(item.errors), encode(item.warnings), item.note)
  if not ok then failed("insert", err) end
  self.since_commit = self.since_commit + 1
  if self.since_commit >= COMMIT_EVERY then self:commit() end
  return seq
end

--- Indexes the items once they are all read (building an index once is cheaper
-- than keeping it up to date through every insert).
function Store:index()
  if self.indexed then return end
  self:run("CREATE INDEX items_ident ON items(ident)")
  self:run("CREATE INDEX items_status ON items(status, seq)")
  self:commit()
  self.indexed = true
end

local function set_clause(fields)
  local names, values = {}, {}
  for k in pairs(fields) do names[#names + 1] = k == "where" and "where_" or k end
  table.sort(names)   -- one statement per set of columns, whatever the table's order
  for i, k in ipairs(names) do
    local v = fields[k == "where_" and "where" or k]
    if k == "errors" or k == "warnings" or k == "response" then v = encode(v) end
    values[i] = v
    names[i] = k .. "=?"
  end
  return table.concat(names, ", "), values
end

--- Sets fields of the item `seq` (errors, warnings and response as tables; a field
-- given as nil is left as it is).
function Store:update(seq, fields)
  local set, values = set_clause(fields)
  if set == "" then return end
  values[#values + 1] = seq
  self:run("UPDATE items SET " .. set .. " WHERE seq=?", table.unpack(values, 1, #values))
end

--- Sets `fields` on the items seq first..last that are in `status` (a dry run's batch file).
function Store:update_range(first, last, status, fields)
  local set, values = set_clause(fields)
  local n = #values
  values[n + 1], values[n + 2], values[n + 3] = first, last, status
  self:run("UPDATE items SET " .. set .. " WHERE seq BETWEEN ? AND ? AND status=?", table.unpack(values, 1, n + 3))
end

--- Runs fn and commits what it changed (many updates, one commit).
function Store:batch(fn)
  fn()
  self:commit()
end

--- Groups of valid items sharing an ident (in export order): each { ident, seqs,
-- wheres, client_ids }, ordered by their first item.
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
    g.seqs[#g.seqs + 1] = r.seq
    g.wheres[#g.wheres + 1] = r.where_
    g.client_ids[#g.seqs] = r.client_id
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
  return months, self:count("valid", "date IS NULL")
end

--- How many items are in `status` (and match the SQL condition `extra`, a constant).
function Store:count(status, extra)
  return self:rows("SELECT count(*) AS n FROM items WHERE status=?" .. (extra and (" AND " .. extra) or ""),
    status)[1].n
end

--- Sets the key of every valid item to prefix .. key (a repayment's key is known once
-- the period is).
function Store:prefix_keys(prefix)
  self:run("UPDATE items SET key = ? || key WHERE status='valid'", prefix)
  self:commit()
end

--- Every item still in `from` goes to `to`, with `note`. @return how many
function Store:move_all(from, to, note)
  local n = self:count(from)
  if n > 0 then
    self:run("UPDATE items SET status=?, note=? WHERE status=?", to, note, from)
    self:commit()
  end
  return n
end

--- The status of some item of batch `label`, or nil.
function Store:batch_status(label)
  local row = self:rows("SELECT status FROM items WHERE batch=? LIMIT 1", label)[1]
  return row and row.status
end

local function decode_row(row)
  row.where, row.where_ = row.where_, nil
  row.errors = row.errors and json.decode(row.errors) or nil
  row.warnings = row.warnings and json.decode(row.warnings) or nil
  row.response = row.response and json.decode(row.response) or nil
  return row
end

--- The next page of at most `limit` items in `status` after seq `after`, in export
-- order, with their JSON. @return array of rows
function Store:page(status, after, limit)
  local rows = self:rows("SELECT * FROM items WHERE status=? AND seq > ? ORDER BY seq LIMIT ?", status, after, limit)
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
local ITEM_QUERY = "SELECT seq, where_, status, key, errors, warnings, note, response, file, batch, upload_id, "
  .. "CASE WHEN status='valid' THEN json END AS json FROM items WHERE seq >= ? ORDER BY seq LIMIT ?"

local item_mt = {
  __index = function(item, k)
    if k == "value" and item.json then
      local v = json.decode(item.json)
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
  local count = self:rows("SELECT count(*) AS n FROM items")[1].n
  local cache, first = {}, 1
  local store = self
  return setmetatable({}, {
    __len = function() return count end,
    __index = function(_, i)
      if math.type(i) ~= "integer" or i < 1 or i > count then return nil end
      if i < first or i >= first + #cache then
        -- seq runs 1..count with no gaps: a page is a seq range
        cache, first = store:rows(ITEM_QUERY, i, PAGE * 4), i
        for k, r in ipairs(cache) do cache[k] = setmetatable(decode_row(r), item_mt) end
      end
      return cache[i - first + 1]
    end,
  })
end

--- The first `limit` items (report items, as items() gives them) whose status is one
-- of `statuses`, in export order, and how many there are in all.
function Store:select(statuses, limit)
  self:index()
  local marks = {}
  for i = 1, #statuses do marks[i] = "?" end
  local where = "status IN (" .. table.concat(marks, ",") .. ")"
  local args = { table.unpack(statuses) }
  local total = self:rows("SELECT count(*) AS n FROM items WHERE " .. where, table.unpack(args))[1].n
  args[#args + 1] = limit or -1
  local list = self:rows(ITEM_QUERY:gsub("WHERE seq >= %?", "WHERE " .. where), table.unpack(args))
  for k, r in ipairs(list) do list[k] = setmetatable(decode_row(r), item_mt) end
  return list, total
end

--- The first `limit` items that carry warnings, in export order, and how many do.
function Store:warned(limit)
  self:index()
  local total = self:rows("SELECT count(*) AS n FROM items WHERE warnings IS NOT NULL")[1].n
  local list = self:rows(ITEM_QUERY:gsub("WHERE seq >= %?", "WHERE warnings IS NOT NULL"), limit or -1)
  for k, r in ipairs(list) do list[k] = setmetatable(decode_row(r), item_mt) end
  return list, total
end

--- Closes the database (SQLite removes its file); idempotent.
function Store:close()
  if not self.db then return end
  for _, st in pairs(self.statements) do st:close() end
  self.statements = {}
  self.db:close()
  self.db = nil
end
Store.__gc = Store.close
Store.__close = Store.close

return M
