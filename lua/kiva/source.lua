--- kiva.source: rows of an MIS export, whatever its format.
-- Every reader yields header-keyed tables of UTF-8 strings and a `where` string
-- naming the row for messages. A bad record yields `false, err` and the loop goes
-- on with the next record where the format allows it, so callers check:
--
--     for row, where in kiva.source.rows("loans.csv") do
--       if not row then report(where) else ... end   -- where is the err table then
--     end
--
-- err = { kind = "input", where = "file:line", message = "..." }.
local core = require "kiva.core"

local M = {}

-- Caps per record (issue 16): a JSON Lines line holds at most MAX_RECORD bytes (as
-- a CSV record), a whole-file JSON document at most MAX_JSON bytes; past them the
-- line (file:line) or the file is refused before it is held in memory.
M.MAX_RECORD = 16 * 1024 * 1024
M.MAX_JSON = 32 * 1024 * 1024

local FORMATS = { csv = "csv", txt = "csv", tsv = "tsv", tab = "tsv", xlsx = "xlsx", xlsm = "xlsx",
  json = "json", jsonl = "jsonl", ndjson = "jsonl", sqlite = "sql", sqlite3 = "sql", db = "sql" }

local input_error = require("kiva.errors").input

local function where_of(message)
  return message:match("^(.-:%d+): ") or message:match("^([^:]+):") or "input"
end

--- The format of `path`: opts.format, else from its extension.
-- @return string | nil, err
function M.format_of(path, opts)
  local fmt = opts and opts.format
  if fmt then
    if fmt == "csv" or fmt == "tsv" or fmt == "xlsx" or fmt == "json" or fmt == "jsonl" or fmt == "sql" then
      return fmt
    end
    return nil, input_error(path, "unknown format '" .. tostring(fmt) .. "' (csv, tsv, xlsx, json, jsonl, sql)")
  end
  if opts and opts.driver and opts.query then return "sql" end
  local ext = tostring(path):match("%.([%w]+)$")
  fmt = ext and FORMATS[ext:lower()]
  if not fmt then
    return nil, input_error(path, "cannot tell the format of '" .. tostring(path)
      .. "' from its extension; pass format = \"csv\" (or tsv, xlsx, json, jsonl, sql)")
  end
  return fmt
end

---------------------------------------------------------------- the header row

-- How many non-blank rows are read ahead to find the header.
M.HEADER_SCAN = 30

local function is_blank_cell(v) return v == nil or v == "" end

-- A cell a header has: text, not a number, an amount or a date.
local function is_label(v)
  return type(v) == "string" and v:find("%a") ~= nil and not v:find("^%s*[%d%p%s]+%s*$")
end

--- Which of `rows` (arrays of cells, each with .line, blank ones left out) is the
-- header: opts.header_row (a row number as the readers report it) when given, else
-- the first row whose cells are mostly filled with text labels (at least two, all
-- non-empty cells text), at least half as wide as the rows below it and at least
-- twice as wide as every row above it. Title lines ("Reporte de pagos - octubre"),
-- a date or a blank line above the header are thereby skipped. Falls back to the
-- first row.
-- @return index into rows | nil, message (header_row names no row read)
function M.find_header(rows, header_row)
  if header_row ~= nil then
    local wanted = math.tointeger(tonumber(header_row))
    for i, r in ipairs(rows) do
      if r.line == wanted then return i end
    end
    return nil, "header_row " .. tostring(header_row) .. " is not one of the first non-blank rows ("
      .. (rows[1] and (rows[1].line .. "-" .. rows[#rows].line) or "none") .. ")"
  end
  local filled = {}
  for i, r in ipairs(rows) do
    local n, labels = 0, 0
    for c = 1, r.n or #r do
      if not is_blank_cell(r[c]) then
        n = n + 1
        if is_label(r[c]) then labels = labels + 1 end
      end
    end
    filled[i] = { n = n, labels = labels }
  end
  -- rows above a header are titles: each at most half as filled as it
  local widest_above = 0
  for i, f in ipairs(filled) do
    local below = 0
    for j = i + 1, math.min(i + 3, #filled) do below = math.max(below, filled[j].n) end
    if f.n >= 2 and f.labels == f.n and f.n * 2 >= below and widest_above * 2 <= f.n then return i end
    widest_above = math.max(widest_above, f.n)
  end
  return 1
end

--- Header cells as column names: trimmed, an empty one named column_<i>, repeats
-- made unique ("Monto", "Monto_2"), as the CSV reader names them.
function M.header_names(cells, n)
  local header, seen = {}, {}
  for i = 1, n or #cells do
    local name = tostring(cells[i] or ""):gsub("^%s+", ""):gsub("%s+$", "")
    if name == "" then name = "column_" .. i end
    local base, k = name, 1
    while seen[name] do k = k + 1 name = base .. "_" .. k end
    seen[name] = true
    header[i] = name
  end
  return header
end

--- The info a reader gives when rows above the header were skipped.
function M.header_note(path, line)
  return string.format("%s:%d: header on row %d (the rows above it were skipped)", path, line, line)
end

-- A row of empty cells (";;;;" or an Excel row of blanks) is no record.
local function is_blank_row(row)
  for _, v in pairs(row) do
    if v ~= "" then return false end
  end
  return true
end

---------------------------------------------------------------- CSV and TSV

-- The delimiter the most frequent of , ; TAB | over the first lines (outside
-- quotes), for a file whose first line is a title without any.
local function sniff_delimiter(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read(65536) or ""
  f:close()
  local best, best_count = nil, 0
  for _, d in ipairs({ ",", ";", "\t", "|" }) do
    local count = select(2, text:gsub('"[^"]*"', ""):gsub(d == "|" and "%|" or d, ""))
    if count > best_count then best, best_count = d, count end
  end
  return best
end

-- The first non-blank records of a CSV file as arrays (each with .line and .n),
-- read by a reader without a header; and the delimiter it used.
local function scan_records(path, opts, delimiter)
  local reader = core.csv_open(path, { delimiter = delimiter, encoding = opts.encoding, header = false,
    keyed = false, max_record = opts.max_record })
  if not reader then return nil end
  local records = {}
  while #records < M.HEADER_SCAN do
    local cells, line = reader:next()
    if not cells then break end
    cells.line, cells.n = line, #cells
    if not is_blank_row(cells) then records[#records + 1] = cells end
  end
  local used = reader:delimiter()
  reader:close()
  return records, used
end

-- Where a CSV file's header is: nil when it is the first record (the C reader's
-- own keyed mode then reads the file), else the header's line and the delimiter.
local function csv_header_line(path, opts, delimiter)
  local records, used = scan_records(path, opts, delimiter)
  if not records or #records == 0 then return nil, nil, delimiter end
  if not delimiter and records[1].n == 1 then
    -- a one-cell first line is a title: the delimiter is sniffed again on the lines below
    local sniffed = sniff_delimiter(path)
    if sniffed and sniffed ~= used then
      delimiter = sniffed
      records = scan_records(path, opts, delimiter) or records
    end
  end
  local i, err = M.find_header(records, opts.header_row)
  if not i then return nil, err, delimiter end
  if i == 1 and records[1].line == 1 then return nil, nil, delimiter end
  return records[i].line, nil, delimiter or used
end

local function csv_rows(path, opts, fmt)
  local delimiter = opts.delimiter
  if fmt == "tsv" and not delimiter then delimiter = "\t" end
  local header_line, herr0
  header_line, herr0, delimiter = csv_header_line(path, opts, delimiter)
  if herr0 then return nil, input_error(path, path .. ": " .. herr0) end
  local warned = 0
  local reader, msg = core.csv_open(path, {
    -- header on line 1: the C reader keys the rows, lazily (a row turns a cell into a
    -- string only when the mapping reads it: src/row.c); below it: arrays keyed here
    delimiter = delimiter, encoding = opts.encoding, lazy = header_line == nil, max_record = opts.max_record,
    header = header_line == nil, where = path .. ":",   -- next() gives "path:line" too
  })
  if not reader then return nil, input_error(path, msg) end
  local list = reader:warnings()   -- the reader's own list, which it appends to
  local function forward_warnings()
    while warned < #list do
      warned = warned + 1
      if opts.on_warning then opts.on_warning(list[warned]) end
    end
  end
  local header, herr
  if header_line then
    -- rows above the header are read and dropped; the header is named here
    repeat
      local cells, line = reader:next()
      if cells and line == header_line then header = M.header_names(cells) end
    until header or cells == nil
    forward_warnings()
    if opts.on_warning then opts.on_warning(M.header_note(path, header_line)) end
  else
    header, herr = reader:header()
    forward_warnings()
  end
  if header and opts.on_header then
    opts.on_header(header, header_line or 1, { delimiter = reader:delimiter(), encoding = reader:encoding() })
  end
  local pending_err
  if not header then pending_err = input_error(where_of(herr or path), herr or (path .. ": no header row")) end
  local width = header and #header or 0
  local closed = false
  return function()
    if closed then return nil end
    if pending_err then
      local e = pending_err
      pending_err = nil
      closed = true
      reader:close()
      return false, e
    end
    while true do
      local row, line, where = reader:next()
      if warned < #list then forward_warnings() end
      if row == nil then
        closed = true
        reader:close()
        return nil
      end
      if row == false then
        return false, input_error(where_of(line), line)
      end
      if header_line then
        -- the C reader's keyed mode, for a header it did not read itself
        local n = #row
        while n > width and row[n] == "" do n = n - 1 end
        if n ~= width and not is_blank_row(row) then
          return false, input_error(where, string.format("%s: %d cells where the header has %d"
            .. " (a missing or extra delimiter?)", where, #row, width))
        end
        local keyed = {}
        for c = 1, width do keyed[header[c]] = row[c] or "" end
        row = keyed
      end
      -- the first column is nearly always filled: one lookup, not a scan, per row
      if (width > 0 and row[header[1]] ~= "") or not is_blank_row(row) then return row, where end
    end
  end, nil, nil, reader
end

--- A row as a plain table: a CSV row (the lazy userdata of src/row.c, whose
-- cells become strings only when read) copied through pairs; anything else as is.
function M.plain(row)
  if type(row) ~= "userdata" or getmetatable(row) ~= "kiva row" then return row end
  local t = {}
  for k, v in pairs(row) do t[k] = v end
  return t
end

--- A number as the text a spreadsheet shows: integral values without a fraction
-- (1250 and 1250.0 → "1250"), others with 15 significant digits (JSON, SQL and
-- xlsx numbers alike).
function M.number_text(x)
  if math.type(x) == "integer" then return string.format("%d", x) end
  if x == math.floor(x) and x > -2^53 and x < 2^53 then return string.format("%d", math.floor(x)) end
  return string.format("%.15g", x)
end

local function to_text(v)
  local t = type(v)
  if t == "string" or t == "table" then return v end
  if t == "number" then return M.number_text(v) end
  if t == "boolean" then return tostring(v) end
  return nil   -- JSON null, SQL NULL: absent
end

local function text_row(obj)
  local row = {}
  for k, v in pairs(obj) do row[tostring(k)] = to_text(v) end
  return row
end

local function json_rows(path, opts)
  local cjson = require("cjson.safe").new()
  local f, ferr = io.open(path, "rb")
  if not f then return nil, input_error(path, ferr) end
  -- at most MAX_JSON + 1 bytes are read: a bigger document is refused before it is decoded
  local max = opts.max_json or M.MAX_JSON
  local size = f:seek("end")   -- nil for a pipe: then the read itself stops past max
  local text = ""
  if not size or size <= max then
    if size then f:seek("set") end
    text = f:read(max + 1) or ""
  end
  f:close()
  if #text > max or (size and size > max) then
    return nil, input_error(path, string.format("%s: the JSON document is larger than %d MiB (the cap for a "
      .. "whole-file JSON input); write one object per line (JSON Lines, .jsonl) instead", path, max // 1048576))
  end
  local value, jerr = cjson.decode(text)
  if value == nil then return nil, input_error(path, path .. ": not JSON: " .. tostring(jerr)) end
  if type(value) ~= "table" then
    return nil, input_error(path, path .. ": expected an array of objects, found a JSON " .. type(value))
  end
  local list = value
  if #value == 0 and next(value) ~= nil then
    local key = opts.key or "rows"
    list = value[key] or value.data
    if type(list) ~= "table" then
      return nil, input_error(path, path .. ": expected an array of objects (or an object with a '" .. key
        .. "' or 'data' array), found an object")
    end
  end
  local i = 0
  return function()
    i = i + 1
    local item = list[i]
    if item == nil then return nil end
    local where = path .. "#" .. i
    if type(item) ~= "table" then return false, input_error(where, "element " .. i .. " is not an object") end
    return text_row(item), where
  end
end

-- Lines of f, each at most `max` bytes: read in CHUNK blocks so that a longer line
-- is refused (and skipped) without being held. Yields line | false (too long), its number.
local CHUNK = 65536
local function bounded_lines(f, max)
  local buf, pos, line_no = "", 1, 0
  local parts, held, skipping = {}, 0, false   -- the current line's pieces before buf
  return function()
    while true do
      local nl = buf:find("\n", pos, true)
      if nl then
        local piece = buf:sub(pos, nl - 1)
        pos = nl + 1
        line_no = line_no + 1
        if skipping or held + #piece > max then
          skipping, parts, held = false, {}, 0
          return false, line_no
        end
        if held > 0 then
          parts[#parts + 1] = piece
          piece = table.concat(parts)
          parts, held = {}, 0
        end
        return (piece:gsub("\r$", "")), line_no
      end
      if not skipping then
        local piece = buf:sub(pos)
        held = held + #piece
        if held > max then
          skipping, parts, held = true, {}, 0   -- the rest of this line is dropped as it comes
        elseif piece ~= "" then
          parts[#parts + 1] = piece
        end
      end
      local chunk = f:read(CHUNK)
      if not chunk then
        buf, pos = "", 1
        if skipping then
          skipping = false
          line_no = line_no + 1
          return false, line_no
        end
        if held == 0 then return nil end
        local line = table.concat(parts)
        parts, held = {}, 0
        line_no = line_no + 1
        return line, line_no
      end
      buf, pos = chunk, 1
    end
  end
end

local function jsonl_rows(path, opts)
  local cjson = require("cjson.safe").new()
  local f, ferr = io.open(path, "rb")
  if not f then return nil, input_error(path, ferr) end
  local max = opts.max_record or M.MAX_RECORD
  local next_line = bounded_lines(f, max)
  return function()
    if not f then return nil end
    while true do
      local line, line_no = next_line()
      if line == nil then
        f:close()
        f = nil
        return nil
      end
      local where = path .. ":" .. line_no
      if line == false then
        return false, input_error(where, string.format("%s: the line is longer than %d bytes (the cap for one "
          .. "record)", where, max))
      end
      if line_no == 1 then line = line:gsub("^\239\187\191", "") end
      if line:find("%S") then
        local value, jerr = cjson.decode(line)
        if type(value) ~= "table" then
          return false, input_error(where, where .. ": not a JSON object" .. (jerr and (": " .. jerr) or ""))
        end
        return text_row(value), where
      end
    end
  end, nil, nil, f
end

--- A value whose closing calls `fn`: the 4th value of an iterator, so that a
-- generic for left early (break, error) frees what the rows were read from, as
-- Lua 5.4's io.lines does.
function M.closing(fn)
  return setmetatable({}, { __close = function() fn() end })
end

local DRIVERS = { sqlite3 = true, postgres = true, mysql = true, odbc = true }

--- Rows of an SQL query through LuaSQL (Debian lua-sql-sqlite3, -postgres, -mysql, -odbc).
-- opts: driver, database (file for sqlite3, name or DSN otherwise), user, password,
-- host, port, query. Rows are streamed from the cursor; values become strings,
-- NULL becomes absent. where = "<database>:row <n>".
-- @return iterator | nil, err (kind "input")
function M.sql(opts)
  local driver, query = opts.driver, opts.query
  if not DRIVERS[driver or ""] then
    return nil, input_error("sql", "driver must be one of sqlite3, postgres, mysql, odbc")
  end
  if type(query) ~= "string" then return nil, input_error("sql", "query (a string) is required") end
  local ok, luasql = pcall(require, "luasql." .. driver)
  if not ok then
    return nil, input_error("sql", "LuaSQL driver '" .. driver .. "' is not installed (Debian: lua-sql-"
      .. (driver == "sqlite3" and "sqlite3" or driver) .. ")")
  end
  local database = opts.database or opts.path
  if driver == "sqlite3" then
    local f = io.open(database or "", "rb")
    if not f then
      return nil, input_error(tostring(database), "no SQLite database at '" .. tostring(database) .. "'")
    end
    f:close()
  end
  local env = luasql[driver]()
  local conn, cerr
  if driver == "sqlite3" then
    conn, cerr = env:connect(database)
  else
    conn, cerr = env:connect(database, opts.user, opts.password, opts.host, opts.port)
  end
  if not conn then
    env:close()
    return nil, input_error(tostring(database), "cannot connect: " .. tostring(cerr))
  end
  local cur, qerr = conn:execute(query)
  if not cur or type(cur) ~= "userdata" then
    conn:close()
    env:close()
    return nil, input_error(tostring(database), "query failed: " .. tostring(qerr or "not a SELECT"))
  end
  local n = 0
  local label = driver == "sqlite3" and tostring(database) or driver
  local function finish()
    if cur then cur:close() cur = nil end
    if conn then conn:close() conn = nil end
    if env then env:close() env = nil end
  end
  return function()
    if not cur then return nil end
    local row = cur:fetch({}, "a")
    if not row then
      finish()
      return nil
    end
    n = n + 1
    return text_row(row), label .. ":row " .. n
  end, nil, nil, M.closing(finish)
end

local function open_rows(path, opts)
  local fmt, ferr = M.format_of(path, opts)
  if not fmt then return nil, ferr end
  if fmt == "csv" or fmt == "tsv" then return csv_rows(path, opts, fmt) end
  if fmt == "xlsx" then return require("kiva.xlsx").rows(path, opts) end
  if fmt == "json" then return json_rows(path, opts) end
  if fmt == "jsonl" then return jsonl_rows(path, opts) end
  local sql = {}
  for k, v in pairs(opts) do sql[k] = v end
  sql.driver = sql.driver or "sqlite3"
  sql.database = sql.database or path
  return M.sql(sql)
end

--- Rows of an export. Formats by opts.format or the extension: csv, tsv, xlsx,
-- json (array of objects), jsonl, sql (opts.driver, opts.query; the path is the
-- database). Options: delimiter, encoding, format, sheet, header_row (the header's
-- row number, when the reader's guess is wrong), on_warning(message),
-- on_header(columns, row, info) (CSV, TSV, xlsx: the column names in order, the
-- header's row number, info = { delimiter, encoding } or { sheet }).
-- Title and blank lines above the header are skipped (said through on_warning as
-- "header on row N"); rows whose cells are all empty are skipped.
-- @return iterator yielding row, where | false, err, then nil, nil and a closing value
-- (a `break` out of the loop closes the input at once) — or nil, err when the input
-- cannot be opened
function M.rows(path, opts)
  opts = opts or {}
  if type(path) ~= "string" then error("kiva.source.rows: path must be a string", 2) end
  local it, err, control, closing = open_rows(path, opts)
  -- an input that cannot be read is named in the message the operator sees
  if not it and type(err) == "table" and type(err.message) == "string" and type(err.where) == "string"
      and not err.message:find(err.where, 1, true) then
    err.message = err.where .. ": " .. err.message
  end
  return it, err, control, closing
end

return M
