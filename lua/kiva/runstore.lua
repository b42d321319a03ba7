--- kiva.runstore: the items of one run, kept on disk instead of in Lua tables.
-- A push reads an export of any size: each row's item (where it came from, its
-- status, its key and content hash, the exact JSON it would send, its errors and
-- warnings) goes into a private temporary SQLite database that SQLite deletes on
-- close, so no stage of the run holds the whole export in memory. The stages after
-- reading (duplicates, the period, the ledger look-ups, sending, the report) read
-- it back in bounded pages.
--
-- Why pages and not a row per item: a row per item cost SQLite more than all the
-- rest of a dry run (1.5-2.6 us per insert, then the indexes). Items are packed
-- (kiva.core.record_codec) into pages of at most PAGE_ITEMS items or PAGE_BYTES
-- bytes, written to a nameless temporary data file in TMPDIR (kiva.core.anonymous_file:
-- gone when closed, however the run ends; binary-safe, which LuaDBI's reading of
-- blobs is not). SQLite keeps one row per page: where its bytes are, and a letter per
-- item for its status, so a scan for a status unpacks only the items in it. A changed
-- page is written again in its place (three times its first size is kept for it). What SQL answered before is kept
-- as items come: counts by status, the months of the payment dates, and, for
-- duplicates, a fixed-size Bloom filter (kiva.core.bloom) over the items' idents: the
-- usual export has none, and says so in one pass; a "maybe" is verified on disk.
local core = require "kiva.core"
local json = require "kiva.json"
local errors = require "kiva.errors"
local tempdb = require "kiva.tempdb"

local M = {}

local Store = {}
Store.__index = Store

local SCHEMA = {
  -- its page cache bounded below SQLite's 2 MiB default: the tables grow with the
  -- export (a row per page and per file), and the cache with them
  "PRAGMA cache_size=-512",
  [[CREATE TABLE pages (
  first    INTEGER PRIMARY KEY,  -- seq of the page's first item (seqs are 1, 2, ... in export order)
  statuses TEXT NOT NULL,        -- a letter per item: its status code (+ WARNED when it has warnings)
  offset   INTEGER NOT NULL,     -- where its packed items are in the store's data file, their size,
  size     INTEGER NOT NULL,     -- and the bytes kept for them there (room to grow in place)
  room     INTEGER NOT NULL
)]],
  -- idents the Bloom filter met twice (or thinks it did): verified by duplicates()
  "CREATE TABLE suspects (ident TEXT PRIMARY KEY) WITHOUT ROWID",
  "CREATE TABLE candidates (seq INTEGER PRIMARY KEY, ident TEXT, client_id TEXT)",
  -- fields set on ranges of items at once (a dry run's file), applied when read back
  "CREATE TABLE ranges (first INTEGER, last INTEGER, status TEXT, field TEXT, value TEXT)",
}

M.PAGE_ITEMS = 256         -- items per page at most
local PAGE_BYTES = 64 * 1024   -- a page is closed once its items pass this many bytes
local CACHE_PAGES = 8      -- pages kept decoded for updates and random reads
local PAGE_ROOM = 3        -- a page's room in the data file, in times its first size
local BLOOM_BYTES = 4 * 1024 * 1024
local SUSPECTS_IN_MEMORY = 65536   -- more (an export of repeated lines) are looked up in SQL

local STATUSES = { "valid", "invalid", "omitted", "sent", "skipped", "changed", "rejected", "unknown", "pending" }
-- An item's status code is a letter, kept as its byte: "A" (valid), "B"..., and the
-- lower case one (+ WARNED) when the item has warnings.
local WARNED = 32
local CODE, STATUS_OF = {}, {}
for i, s in ipairs(STATUSES) do CODE[s], STATUS_OF[64 + i] = 64 + i, s end
local VALID = CODE.valid

-- An item's fields in their packed order; errors, warnings and response are JSON.
local FIELDS = { "where", "ident", "client_id", "date", "key", "hash", "json", "label", "errors", "warnings", "note",
  "response", "file", "batch", "upload_id" }
local IS_JSON = { errors = true, warnings = true, response = true }
-- Store:add_valid gives the first ten by position
assert(table.concat(FIELDS, ",", 1, 10) == "where,ident,client_id,date,key,hash,json,label,errors,warnings")

-- Packing and reading back in C (kiva.core.record_codec): every row of an export
-- passes through here. JSON fields given as tables are encoded; a page read back
-- for changes holds them as the JSON text they were packed as.
local codec = core.record_codec(FIELDS, IS_JSON, json.encode)

local function to_text(name, v)
  if v == nil then return nil end
  if IS_JSON[name] and type(v) ~= "string" then return json.encode(v) end
  if type(v) ~= "string" then return tostring(v) end
  return v
end

local function decode_json_fields(item)
  for name in pairs(IS_JSON) do
    if item[name] then item[name] = json.decode(item[name]) end
  end
  return item
end

-- A failing temporary database leaves the run nothing to stand on: raise a
-- kiva.errors table, which push.run turns into the run's error.
local function failed(what, err)
  error(errors.ledger("the run's temporary database: " .. what .. ": " .. tostring(err)), 0)
end

--- A new, empty store. opts.bloom_bytes: the duplicates filter's size (default 4 MiB);
-- opts.suspects_in_memory: how many of its "maybe"s are verified from memory (65536);
-- opts.key_tail(item): the key (before prefix_keys' prefix) of an item added without
-- one, made when it is read back.
-- @return store | nil, err (kind "ledger")
function M.open(opts)
  local db, err = tempdb.open("the run store", SCHEMA)
  if not db then return nil, err end
  local bloom, berr = core.bloom(opts and opts.bloom_bytes or BLOOM_BYTES)
  -- where TMPDIR says, as SQLite's own temporary files (io.tmpfile would use /tmp)
  local tmpdir = os.getenv("TMPDIR")
  tmpdir = (tmpdir and tmpdir ~= "") and tmpdir or "/tmp"
  local file, ferr = core.anonymous_file(tmpdir)
  if ferr then ferr = ferr .. " (TMPDIR names where a run keeps its temporary files)" end
  if not bloom or not file then
    db:close()
    if file then file:close() end
    return nil, errors.ledger("the run store: " .. tostring(berr or ferr))
  end
  local counts = {}
  for _, code in pairs(CODE) do counts[code] = 0 end
  return setmetatable({ db = db, file = file, tmpdir = tmpdir, file_end = 0, statements = {}, seq = 0, bloom = bloom,
    suspects_in_memory = opts and opts.suspects_in_memory or SUSPECTS_IN_MEMORY, suspects = 0,
    counts = counts, warned_count = 0, months_of = {}, undated = 0, batch_statuses = {},
    cur = nil, open_page = codec:page(), cache = {}, cache_order = {}, key_tail = opts and opts.key_tail }, Store)
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

-- Writes packed items to the data file: over `room` bytes at `at` when they fit
-- there (a page written again), else at its end, keeping PAGE_ROOM times their size
-- for them: a page grows as a push records its answers, and grows in its place. The
-- room not written is a hole in the file, no disk. @return offset, size, room
function Store:append(data, at, room)
  local offset = at
  if not (at and #data <= room) then
    offset, room = self.file_end, #data * PAGE_ROOM
    self.file_end = offset + room
  end
  local f = self.file
  local ok, err = f:seek("set", offset)
  if ok then ok, err = f:write(data) end
  if not ok then
    failed("cannot write its data file in " .. self.tmpdir .. " (a full disk? TMPDIR names where a run keeps "
      .. "its temporary files)", err)
  end
  return offset, #data, room
end

function Store:read_data(offset, size)
  local f = self.file
  local ok, err = f:seek("set", offset)
  local data = ok and f:read(size)
  if not data or #data ~= size then failed("cannot read its data file", err or "short read") end
  return data
end

---------------------------------------------------------------- what is kept as it goes

-- Whether a warnings field holds any: a table as given, or the JSON text it was packed as.
local function has_warnings(w)
  if type(w) == "table" then return next(w) ~= nil end
  return w ~= nil and w ~= "[]" and w ~= "{}"
end

-- An item of status code `code` with `date` enters (delta 1) or leaves (-1) the counts.
function Store:tally(code, date, delta)
  local status = code & ~WARNED
  self.counts[status] = self.counts[status] + delta
  if code & WARNED ~= 0 then self.warned_count = self.warned_count + delta end
  if status == VALID then
    if date then
      local month = date:sub(1, 7)
      local n = (self.months_of[month] or 0) + delta
      self.months_of[month] = n > 0 and n or nil
    else
      self.undated = self.undated + delta
    end
  end
end

---------------------------------------------------------------- adding

-- An item entered the page being filled (its `bytes` now): kept as it goes, and the
-- page closed when full. @return its seq
function Store:added(code, date, ident, bytes)
  local seq, cur = self.seq + 1, self.cur
  self.seq = seq
  local n = cur.n + 1
  cur.n, cur.codes[n] = n, code
  self:tally(code, date, 1)
  if code == VALID and ident ~= nil then
    if type(ident) ~= "string" then ident = tostring(ident) end
    if self.bloom:seen(ident) then
      self:run("INSERT OR IGNORE INTO suspects(ident) VALUES (?)", ident)
      self.suspects = self.suspects + 1
    end
  end
  if n >= M.PAGE_ITEMS or bytes >= PAGE_BYTES then self:close_page() end
  return seq
end

-- The page being filled: its records in a C buffer (codec:page), its codes here.
function Store:filling()
  local cur = self.cur
  if not cur then
    cur = { first = self.seq + 1, codes = {}, n = 0 }
    self.cur = cur
  end
  return self.open_page
end

--- Adds an item: { where, status, ident, client_id, date, key, hash, json, label,
-- errors, warnings, note } (errors/warnings as tables). @return its seq
function Store:add(item)
  local code = CODE[item.status]
  if not code then error("kiva.runstore: unknown status " .. tostring(item.status), 2) end
  if has_warnings(item.warnings) then code = code | WARNED end
  local page = self:filling()
  return self:added(code, item.date, item.ident, page:add(item))
end

--- Adds a valid item from its fields, in FIELDS' order (warnings as a table or
-- nil): every valid row of an export comes this way, with no table made for it.
-- @return its seq
function Store:add_valid(where, ident, client_id, date, key, hash, encoded, label, warnings)
  local code = (warnings ~= nil and has_warnings(warnings)) and (VALID | WARNED) or VALID
  local page = self:filling()
  return self:added(code, date, ident,
    page:add_fields(where, ident, client_id, date, key, hash, encoded, label, nil, warnings))
end

-- Writes the page being filled.
function Store:close_page()
  local cur = self.cur
  if not cur then return end
  self.cur = nil
  self:run("INSERT INTO pages(first, statuses, offset, size, room) VALUES (?,?,?,?,?)", cur.first,
    string.char(table.unpack(cur.codes, 1, cur.n)), self:append(self.open_page:take()))
end

function Store:commit()
  self:close_page()
  self:write_back()
  -- LuaDBI answers false, with no message, when the transaction changed nothing
  local ok, err = self.db:commit()
  if not ok and err then failed("commit", err) end
end

---------------------------------------------------------------- pages read back

-- A page decoded for changes: { first, items = { item tables }, codes, dirty }.
local function decode_page(row)
  local items, codes, pos = {}, { row.statuses:byte(1, -1) }, 1
  for i = 1, #codes do items[i], pos = codec:unpack(row.data, pos) end
  return { first = row.first, items = items, codes = codes, offset = row.offset, room = row.room }
end

-- Writes a changed page back.
function Store:write_page(page)
  local parts = {}
  for i, item in ipairs(page.items) do parts[i] = codec:pack(item) end
  local offset, size, room = self:append(table.concat(parts), page.offset, page.room)
  page.offset, page.room = offset, room
  self:run("UPDATE pages SET statuses=?, offset=?, size=?, room=? WHERE first=?",
    string.char(table.unpack(page.codes)), offset, size, room, page.first)
  page.dirty = false
end

function Store:write_back()
  for _, page in pairs(self.cache) do
    if page.dirty then self:write_page(page) end
  end
end

local PAGE_AT = "SELECT first, statuses, offset, size, room FROM pages WHERE first <= ? ORDER BY first DESC LIMIT 1"
local PAGE_AFTER = "SELECT first, statuses, offset, size, room FROM pages WHERE first > ? ORDER BY first LIMIT 1"

-- The page row at or after a seq, with its packed items read as row.data.
function Store:page_row(sql, seq)
  local row = self:rows(sql, seq)[1]
  if row then row.data = self:read_data(row.offset, row.size) end
  return row
end

-- The decoded page holding `seq` (kept among the last CACHE_PAGES used), or nil.
function Store:page_of(seq)
  self:close_page()
  for first, page in pairs(self.cache) do
    if seq >= first and seq < first + #page.codes then return page end
  end
  local row = self:page_row(PAGE_AT, seq)
  if not row or seq > row.first + #row.statuses - 1 then return nil end
  local page = decode_page(row)
  local order = self.cache_order
  if #order >= CACHE_PAGES then
    local old = table.remove(order, 1)
    local gone = self.cache[old]
    if gone and gone.dirty then self:write_page(gone) end
    self.cache[old] = nil
  end
  self.cache[page.first] = page
  order[#order + 1] = page.first
  return page
end

-- The page rows (with their packed items, row.data) from the page holding seq
-- `from` on, in export order: an iterator, each next page read when asked for.
-- Changed pages are written first, so the database is the truth.
function Store:pages_from(from)
  self:close_page()
  self:write_back()
  local row, started = nil, false
  return function()
    if not started then
      started, row = true, self:page_row(PAGE_AT, from)
    elseif row then
      row = self:page_row(PAGE_AFTER, row.first)
    end
    return row
  end
end

-- Calls fn(seq, code, data, pos) for each item whose status byte satisfies
-- want(code), in export order from seq `after` + 1; fn returns true to stop.
function Store:scan(after, want, fn)
  for row in self:pages_from(after + 1) do
    local statuses, data, pos = row.statuses, row.data, 1
    for i = 1, #statuses do
      local seq = row.first + i - 1
      local code = statuses:byte(i)
      local size = string.unpack("<I4", data, pos)   -- a record starts with its size
      if seq > after and want(code) and fn(seq, code, data, pos) then return end
      pos = pos + size
    end
  end
end

local function status_is(code) return function(c) return c & ~WARNED == code end end
local function status_of(code) return STATUS_OF[code & ~WARNED] end

-- An item as read back: its seq, status and fields, JSON fields decoded, the key
-- with the run's prefix.
function Store:item_at(seq, code, data, pos)
  local item = decode_json_fields((codec:unpack(data, pos)))
  item.seq, item.status = seq, status_of(code)
  local key = item.key
  if key == nil and self.key_tail and item.ident ~= nil then key = self.key_tail(item) end
  if key and self.key_prefix and seq <= self.prefixed_upto and item.status ~= "invalid"
      and item.status ~= "omitted" then
    key = self.key_prefix .. key
  end
  item.key = key
  return item
end

---------------------------------------------------------------- changing items

-- Sets fields on one decoded item of `page`.
function Store:change(page, i, fields)
  local item, code = page.items[i], page.codes[i]
  local old_status = code & ~WARNED
  for k, v in pairs(fields) do
    if k ~= "status" then item[k] = to_text(k, v) end
  end
  local new_code = CODE[fields.status or STATUS_OF[old_status]]
  if not new_code then error("kiva.runstore: unknown status " .. tostring(fields.status), 3) end
  if has_warnings(item.warnings) then new_code = new_code | WARNED end
  if new_code ~= code then
    self:tally(code, item.date, -1)
    self:tally(new_code, item.date, 1)
    page.codes[i] = new_code
  end
  if item.batch then self.batch_statuses[item.batch] = status_of(new_code) end
  page.dirty = true
end

--- Sets fields of the item `seq` (errors, warnings and response as tables; a field
-- given as nil is left as it is).
function Store:update(seq, fields)
  local page = self:page_of(seq)
  if not page then error("kiva.runstore: no item " .. tostring(seq), 2) end
  self:change(page, seq - page.first + 1, fields)
end

--- Sets `fields` on the items seq first..last that are in `status` (a dry run's
-- batch file): recorded once for the range, applied when the items are read back.
function Store:update_range(first, last, status, fields)
  for field, value in pairs(fields) do
    self:run("INSERT INTO ranges(first, last, status, field, value) VALUES (?,?,?,?,?)", first, last, status, field,
      to_text(field, value))
  end
end

--- Runs fn and commits what it changed (many updates, one commit).
function Store:batch(fn)
  fn()
  self:commit()
end

---------------------------------------------------------------- questions

--- Groups of valid items sharing an ident (in export order): each { ident, seqs,
-- wheres, client_ids }, ordered by their first item.
function Store:duplicates()
  local groups = {}
  if self.suspects == 0 then return groups end
  -- the Bloom filter's "maybe"s, verified: the suspects in memory when they are few
  -- (false alarms: a few dozen in a million items), else asked of SQL
  local set
  if self.suspects <= self.suspects_in_memory then
    set = {}
    for _, r in ipairs(self:rows("SELECT ident FROM suspects")) do set[r.ident] = true end
  end
  local is_suspect = self:statement("SELECT 1 FROM suspects WHERE ident=?")
  local function suspect(ident)
    if set then return set[ident] end
    local ok, err = is_suspect:execute(ident)
    if not ok then failed("suspects", err) end
    return is_suspect:fetch(false) ~= nil
  end
  self:run("DELETE FROM candidates")
  -- page by page, the valid items' idents picked in C
  for row in self:pages_from(1) do
    local seqs, idents, clients = codec:select(row.data, row.statuses, row.first, 0, VALID, "ident", "client_id")
    for i = 1, #seqs do
      if idents[i] and suspect(idents[i]) then
        self:run("INSERT INTO candidates(seq, ident, client_id) VALUES (?,?,?)", seqs[i], idents[i], clients[i])
      end
    end
  end
  local by_ident = {}
  for _, r in ipairs(self:rows("SELECT seq, ident, client_id FROM candidates WHERE ident IN "
      .. "(SELECT ident FROM candidates GROUP BY ident HAVING count(*) > 1) ORDER BY seq")) do
    local g = by_ident[r.ident]
    if not g then
      g = { ident = r.ident, seqs = {}, wheres = {}, client_ids = {} }
      by_ident[r.ident] = g
      groups[#groups + 1] = g
    end
    local page = self:page_of(r.seq)
    g.seqs[#g.seqs + 1] = r.seq
    g.wheres[#g.seqs] = page.items[r.seq - page.first + 1].where
    g.client_ids[#g.seqs] = r.client_id
  end
  return groups
end

--- The months (YYYY-MM) of the valid items' dates, sorted, and how many valid items have none.
function Store:months()
  local months = {}
  for m in pairs(self.months_of) do months[#months + 1] = m end
  table.sort(months)
  return months, self.undated
end

--- How many items are in `status`.
function Store:count(status)
  return self.counts[CODE[status]] or 0
end

--- Sets the key of every valid item to prefix .. key (a repayment's key is known once
-- the period is); called once, when the run is planned.
function Store:prefix_keys(prefix)
  self:commit()
  self.key_prefix, self.prefixed_upto = prefix, self.seq
end

--- Every item still in `from` goes to `to`, with `note`. @return how many
function Store:move_all(from, to, note)
  local n = self:count(from)
  if n == 0 then return 0 end
  local seqs = {}
  -- seqs first (a page at a time would do; the moved items are what a stopped run left)
  self:scan(0, status_is(CODE[from]), function(seq) seqs[#seqs + 1] = seq end)
  for _, seq in ipairs(seqs) do self:update(seq, { status = to, note = note }) end
  self:commit()
  return n
end

--- The status of some item of batch `label`, or nil.
function Store:batch_status(label)
  return self.batch_statuses[label]
end

--- The next page of at most `limit` items in `status` after seq `after`, in export
-- order, with their JSON. @return array of rows
function Store:page(status, after, limit)
  local rows = {}
  self:scan(after, status_is(CODE[status]), function(seq, code, data, pos)
    rows[#rows + 1] = self:item_at(seq, code, data, pos)
    return #rows >= limit
  end)
  return rows
end

--- The JSON (and `field`, when named) of the items in `status`, in export order: an
-- iterator of seq, json, field (what a dry run writes: a page's items picked in C).
function Store:each_json(status, field)
  local code = CODE[status]
  local seqs, jsons, fields, pos, after = {}, {}, {}, 0, 0
  local next_page = self:pages_from(1)
  return function()
    pos = pos + 1
    while seqs[pos] == nil do
      local row = next_page()
      if not row then return nil end
      seqs, jsons, fields = codec:select(row.data, row.statuses, row.first, after, code, "json", field)
      pos, fields = 1, fields or {}
    end
    after = seqs[pos]
    return seqs[pos], jsons[pos], fields[pos]
  end
end

--- The JSON of the items in `status`, in export order, joined by "," in runs of
-- `size` (the last may be shorter): an iterator of first seq, last seq, joined (a
-- repayments dry run's batch bodies, joined in C a page at a time).
function Store:each_joined(status, size)
  local code = CODE[status]
  local next_page = self:pages_from(1)
  local row, after = next_page(), 0
  return function()
    local pieces, count, first = {}, 0, nil
    while row and count < size do
      local want = size - count
      local joined, n, first_seq, last_seq = codec:join(row.data, row.statuses, row.first, after, code, "json", want,
        ",")
      if n > 0 then
        pieces[#pieces + 1], count, first, after = joined, count + n, first or first_seq, last_seq
      end
      if n < want then row = next_page() end   -- none left in this page
    end
    if count == 0 then return nil end
    return first, after, table.concat(pieces, ",")
  end
end

---------------------------------------------------------------- the report's view

-- A report item: what kiva.report reads of an item, without its JSON. `value` (the
-- decoded JSON, for kiva.reconcile) is decoded on first use.
local REPORT_FIELDS = { "seq", "where", "status", "key", "errors", "warnings", "note", "response", "file", "batch",
  "upload_id" }

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

-- The fields recorded on ranges (update_range) for the items first..last.
function Store:ranges_over(first, last)
  return self:rows("SELECT first, last, status, field, value FROM ranges WHERE last >= ? AND first <= ?", first, last)
end

-- Report items from read-back items (the same page's), with the ranges' fields.
function Store:report_items(list)
  if #list == 0 then return list end
  local ranges = self:ranges_over(list[1].seq, list[#list].seq)
  for k, full in ipairs(list) do
    local item = {}
    for _, name in ipairs(REPORT_FIELDS) do item[name] = full[name] end
    if full.status == "valid" then item.json = full.json end
    for _, r in ipairs(ranges) do
      if full.seq >= r.first and full.seq <= r.last and full.status == r.status then item[r.field] = r.value end
    end
    list[k] = setmetatable(item, item_mt)
  end
  return list
end

--- All items, in export order, as an array-like table read a page at a time:
-- `ipairs(store:items())` and `#store:items()` work; only the current page is in
-- memory. Valid for as long as the store is open.
function Store:items()
  self:commit()
  local count = self.seq
  local cache, first = {}, 1
  local store = self
  local any = function() return true end
  return setmetatable({}, {
    __len = function() return count end,
    __index = function(_, i)
      if math.type(i) ~= "integer" or i < 1 or i > count then return nil end
      if i < first or i >= first + #cache then
        local list = {}
        store:scan(i - 1, any, function(seq, code, data, pos)
          list[#list + 1] = store:item_at(seq, code, data, pos)
          return #list >= M.PAGE_ITEMS * 4
        end)
        cache, first = store:report_items(list), i
      end
      return cache[i - first + 1]
    end,
  })
end

-- The first `limit` items whose status byte satisfies want, as report items.
function Store:first_where(want, limit)
  local list = {}
  if limit ~= 0 then
    self:scan(0, want, function(seq, code, data, pos)
      list[#list + 1] = self:item_at(seq, code, data, pos)
      return limit and limit >= 0 and #list >= limit
    end)
  end
  -- ranges are looked up per item here: the items may be far apart
  for k, item in ipairs(list) do list[k] = self:report_items({ item })[1] end
  return list
end

--- The first `limit` items (report items, as items() gives them) whose status is one
-- of `statuses`, in export order, and how many there are in all.
function Store:select(statuses, limit)
  self:commit()
  local wanted, total = {}, 0
  for _, s in ipairs(statuses) do
    local code = CODE[s]
    if code and not wanted[code] then
      wanted[code] = true
      total = total + self.counts[code]
    end
  end
  if total == 0 then return {}, 0 end
  return self:first_where(function(c) return wanted[c & ~WARNED] end, limit), total
end

--- The first `limit` items that carry warnings, in export order, and how many do.
function Store:warned(limit)
  self:commit()
  if self.warned_count == 0 then return {}, 0 end
  return self:first_where(function(c) return c & WARNED ~= 0 end, limit), self.warned_count
end

--- Closes the database (SQLite removes its file); idempotent.
function Store:close()
  if not self.db then return end
  for _, st in pairs(self.statements) do st:close() end
  self.statements = {}
  self.db:close()
  self.db = nil
  self.bloom:close()
  self.open_page:close()
  self.file:close()
end
Store.__gc = Store.close
Store.__close = Store.close

return M
