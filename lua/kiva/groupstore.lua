--- kiva.groupstore: the rows of a `group_by` mapping, grouped on disk.
-- A group loan's rows (or a loan's several payments) need not be adjacent in an
-- export: a group is complete only at its last row, and an export sorted by date
-- keeps most groups open to the end. Holding the open groups in Lua tables held the
-- whole export; here each row goes into a private temporary SQLite database
-- (removed on close) and the groups are read back one at a time, in the order of
-- their last row (the order in which the export completes them).
local cjson = require "cjson.safe"
local errors = require "kiva.errors"
local source = require "kiva.source"
local tempdb = require "kiva.tempdb"

local M = {}

local Store = {}
Store.__index = Store

local COMMIT_EVERY = 4096

--- A new, empty store. @return store | nil, err
function M.open()
  local db, err = tempdb.open("group_by",
    { "CREATE TABLE rows (seq INTEGER PRIMARY KEY, grp TEXT NOT NULL, where_ TEXT, row TEXT NOT NULL)" })
  if not db then return nil, err end
  local self = setmetatable({ db = db, seq = 0, pending = 0 }, Store)
  self.insert = assert(db:prepare("INSERT INTO rows(seq, grp, where_, row) VALUES (?,?,?,?)"))
  return self
end

--- Adds a row of group `grp` (nil: a row of its own, an individual loan).
-- @return true | nil, err
function Store:add(grp, row, where)
  self.seq = self.seq + 1
  -- a CSV row is a lazy object: its cells as a plain table
  local json = cjson.encode(source.plain(row))
  if not json then return nil, errors.input(where, where .. ": a row that cannot be kept for group_by") end
  -- a row of its own is a group of one, named so that no column value can be the same
  local ok, err = self.insert:execute(self.seq, grp and ("g" .. grp) or ("r" .. self.seq), where, json)
  if not ok then return nil, errors.ledger("group_by: " .. tostring(err)) end
  self.pending = self.pending + 1
  if self.pending >= COMMIT_EVERY then
    self.db:commit()
    self.pending = 0
  end
  return true
end

--- The groups, in the order of their last row: an iterator giving (rows, where of
-- the first row) a group at a time. @return iterator | nil, err
function Store:groups()
  self.db:commit()
  local db = self.db
  for _, sql in ipairs({ "CREATE INDEX rows_grp ON rows(grp, seq)",
      "CREATE TABLE groups AS SELECT grp, max(seq) AS last FROM rows GROUP BY grp",
      "CREATE INDEX groups_last ON groups(last)" }) do
    local done, err = tempdb.exec(db, sql)
    if not done then return nil, errors.ledger("group_by: cannot group the rows: " .. err) end
  end
  db:commit()
  local page = db:prepare("SELECT grp, last FROM groups WHERE last > ? ORDER BY last LIMIT 512")
  local members = db:prepare("SELECT where_, row FROM rows WHERE grp = ? ORDER BY seq")
  if not (page and members) then return nil, errors.ledger("group_by: cannot read the groups back") end
  self.page, self.members = page, members
  -- group names a page at a time, so that the member queries run between two pages
  local names, pos, last = {}, 0, 0
  return function()
    pos = pos + 1
    if names[pos] == nil then
      names, pos = {}, 1
      page:execute(last)
      for r in page:rows(true) do
        names[#names + 1] = r.grp
        last = r.last
      end
      if #names == 0 then return nil end
    end
    members:execute(names[pos])
    local rows, first_where = {}, nil
    for r in members:rows(true) do
      rows[#rows + 1] = cjson.decode(r.row)
      first_where = first_where or r.where_
    end
    return rows, first_where
  end
end

--- Closes the database (SQLite removes its file); idempotent.
function Store:close()
  if not self.db then return end
  for _, k in ipairs({ "insert", "members", "page" }) do
    if self[k] then self[k]:close(); self[k] = nil end
  end
  self.db:close()
  self.db = nil
end
Store.__gc = Store.close
Store.__close = Store.close

---------------------------------------------------------------- a file read twice

-- A CSV export can be read twice: a first reading finds each group's last row (the
-- group values only, kiva.mapping), then a Grouper takes the rows again in file
-- order and gives each group as soon as its last row is read. Rows of their own and
-- groups of adjacent rows never go to disk. The first reading also tells how many
-- rows the second would hold at most (M.held_at_most); past HOLD_MAX (groups spread
-- over the export, as in one sorted by date) kiva.mapping uses the store above.
M.HOLD_MAX = 4096

--- The most rows a Grouper could hold at once: the largest total of rows of the
-- groups open together, a group being open from its first row to its last.
-- first, last, count: group value -> row number of its first and last row, rows.
function M.held_at_most(first, last, count)
  local change, positions = {}, {}
  for grp, n in pairs(count) do
    if n > 1 then
      change[first[grp]], change[last[grp]] = n, -n
      positions[#positions + 1] = first[grp]
      positions[#positions + 1] = last[grp]
    end
  end
  table.sort(positions)
  local held, most = 0, 0
  for _, p in ipairs(positions) do
    held = held + change[p]
    if held > most then most = held end
  end
  return most
end

local Grouper = {}
Grouper.__index = Grouper

--- A grouper for a second reading. last: group value -> number of its last row;
-- count: how many rows (and bad records) the first reading gave.
function M.grouper(last, count)
  return setmetatable({ last = last, count = count, seq = 0, held = {} }, Grouper)
end

-- The error for a second reading that differs from the first.
local function changed(where)
  return errors.input(where, where .. ": the input changed while it was read (group_by reads it twice);"
    .. " run again once the export is complete")
end

--- The next row of the second reading, of group `grp` (nil: a row of its own).
-- @return rows, where of the first (a complete group: give it) | nil (held) | nil, nil, err
function Grouper:add(grp, row, where)
  local seq = self.seq + 1
  self.seq = seq
  if seq > self.count then return nil, nil, changed(where) end
  if grp == nil then return { row }, where end
  local last = self.last[grp]
  if last == nil or seq > last then return nil, nil, changed(where) end
  local h = self.held[grp]
  if seq == last then
    if not h then return { row }, where end
    self.held[grp] = nil
    h.rows[#h.rows + 1] = row
    return h.rows, h.where
  end
  if not h then
    self.held[grp] = { rows = { row }, where = where }
  else
    h.rows[#h.rows + 1] = row
  end
  return nil
end

--- A bad record of the second reading (it keeps its place). @return nil | err
function Grouper:skip(where)
  self.seq = self.seq + 1
  if self.seq > self.count then return changed(where) end
  return nil
end

--- The end of the second reading. @return nil | err (a group left open: the input changed)
function Grouper:finish(input)
  if self.seq ~= self.count or next(self.held) then return changed(input) end
  return nil
end

return M
