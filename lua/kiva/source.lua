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

local function csv_rows(path, opts, fmt)
  local delimiter = opts.delimiter
  if fmt == "tsv" and not delimiter then delimiter = "\t" end
  local warned = 0
  local reader, msg = core.csv_open(path, {
    -- lazy: a row turns a cell into a string only when the mapping reads it (src/row.c)
    delimiter = delimiter, encoding = opts.encoding, lazy = true, max_record = opts.max_record,
  })
  if not reader then return nil, input_error(path, msg) end
  local function forward_warnings()
    local list = reader:warnings()
    while warned < #list do
      warned = warned + 1
      if opts.on_warning then opts.on_warning(list[warned]) end
    end
  end
  local header, herr = reader:header()
  forward_warnings()
  local pending_err
  if not header then pending_err = input_error(where_of(herr), herr) end
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
    local row, line = reader:next()
    forward_warnings()
    if row == nil then
      closed = true
      reader:close()
      return nil
    end
    if row == false then
      return false, input_error(where_of(line), line)
    end
    return row, path .. ":" .. line
  end, reader
end

--- A row as a plain table: a CSV row (the lazy userdata of src/row.c, whose
-- cells become strings only when read) copied through pairs; anything else as is.
function M.plain(row)
  if type(row) ~= "userdata" or getmetatable(row) ~= "kiva row" then return row end
  local t = {}
  for k, v in pairs(row) do t[k] = v end
  return t
end

local function to_text(v)
  local t = type(v)
  if t == "string" or t == "table" then return v end
  if t == "number" then
    if math.type(v) == "integer" then return string.format("%d", v) end
    if v == math.floor(v) and v > -2^53 and v < 2^53 then return string.format("%d", math.floor(v)) end
    return string.format("%.15g", v)
  end
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
  local text = f:read("a")
  f:close()
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

local function jsonl_rows(path, opts)
  local cjson = require("cjson.safe").new()
  local f, ferr = io.open(path, "rb")
  if not f then return nil, input_error(path, ferr) end
  local line_no = 0
  local _ = opts
  return function()
    if not f then return nil end
    while true do
      local line = f:read("l")
      if line == nil then
        f:close()
        f = nil
        return nil
      end
      line_no = line_no + 1
      if line_no == 1 then line = line:gsub("^\239\187\191", "") end
      if line:find("%S") then
        local where = path .. ":" .. line_no
        local value, jerr = cjson.decode(line)
        if type(value) ~= "table" then
          return false, input_error(where, where .. ": not a JSON object" .. (jerr and (": " .. jerr) or ""))
        end
        return text_row(value), where
      end
    end
  end
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
  end
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
-- database). Options: delimiter, encoding, format, sheet, on_warning(message).
-- @return iterator yielding row, where | false, err  — or nil, err when the input cannot be opened
function M.rows(path, opts)
  opts = opts or {}
  if type(path) ~= "string" then error("kiva.source.rows: path must be a string", 2) end
  local it, err, extra = open_rows(path, opts)
  -- an input that cannot be read is named in the message the operator sees
  if not it and type(err) == "table" and type(err.message) == "string" and type(err.where) == "string"
      and not err.message:find(err.where, 1, true) then
    err.message = err.where .. ": " .. err.message
  end
  return it, err, extra
end

return M
