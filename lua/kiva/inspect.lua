--- kiva.inspect: what the readers see in an export, for `kiva inspect FILE` and
-- `kiva init`: format, encoding, delimiter, sheets, the header row found, the
-- columns with sample values, the first rows. Reads through kiva.source, so what
-- it shows is exactly what a mapping will get.
local source = require "kiva.source"

local M = {}

local SAMPLES = 3

--- Describes an export.
-- opts: the kiva.source options (delimiter, encoding, sheet, header_row, format),
-- rows (how many first rows to keep, default 5).
-- @return { path, format, sheets, sheet, delimiter, encoding, header_row, columns =
--   { {name, samples = {...}} }, rows = { {where, values (in column order)} }, count,
--   bad = { messages }, warnings = { messages } } | nil, err
function M.describe(path, opts)
  opts = opts or {}
  local fmt, ferr = source.format_of(path, opts)
  if not fmt then return nil, ferr end
  local d = { path = path, format = fmt, columns = {}, rows = {}, count = 0, bad = {}, warnings = {},
    header_row_given = opts.header_row }
  if fmt == "xlsx" then
    local sheets, serr = require("kiva.xlsx").sheets(path)
    if not sheets then return nil, serr end
    d.sheets = sheets
  end
  local names
  local rows_opts = {}
  for k, v in pairs(opts) do rows_opts[k] = v end
  rows_opts.on_warning = function(w) d.warnings[#d.warnings + 1] = w end
  rows_opts.on_header = function(columns, line, info)
    names = columns
    d.header_row = line
    d.delimiter, d.encoding, d.sheet = info.delimiter, info.encoding, info.sheet
  end
  local it, err = source.rows(path, rows_opts)
  if not it then return nil, err end
  local keep = opts.rows or 5
  for row, where in it do
    if not row then
      if #d.bad < 5 then d.bad[#d.bad + 1] = where.message end
    else
      d.count = d.count + 1
      if not names then
        -- JSON and SQL rows have no header: their keys, sorted
        names = {}
        for k in pairs(row) do names[#names + 1] = k end
        table.sort(names)
      end
      if #d.columns == 0 then
        for i, n in ipairs(names) do d.columns[i] = { name = n, samples = {} } end
      end
      for _, c in ipairs(d.columns) do
        local v = row[c.name]
        if v ~= nil and v ~= "" and #c.samples < SAMPLES then c.samples[#c.samples + 1] = v end
      end
      if #d.rows < keep then
        local values = {}
        for i, c in ipairs(d.columns) do values[i] = row[c.name] or "" end
        d.rows[#d.rows + 1] = { where = where, values = values }
      end
    end
  end
  if #d.columns == 0 and names then
    for i, n in ipairs(names) do d.columns[i] = { name = n, samples = {} } end
  end
  return d
end

local function cut(s, n)
  s = tostring(s):gsub("%s+", " ")
  if utf8.len(s) and utf8.len(s) > n then s = s:sub(1, utf8.offset(s, n) - 1) .. "…" end
  return s
end

local function pad(s, n)
  local len = utf8.len(s) or #s
  return s .. string.rep(" ", math.max(0, n - len))
end

--- The `source = {...}` options a mapping needs to read this export as it was read here.
function M.source_options(d)
  local parts = {}
  if d.delimiter and d.delimiter ~= "," and not (d.format == "tsv" and d.delimiter == "\t") then
    parts[#parts + 1] = "delimiter = " .. string.format("%q", d.delimiter):gsub("\\9", "\\t")
  end
  if d.encoding and d.encoding ~= "utf-8" then parts[#parts + 1] = "encoding = \"" .. d.encoding .. "\"" end
  if d.sheets and d.sheet and d.sheet ~= d.sheets[1] then
    parts[#parts + 1] = "sheet = " .. string.format("%q", d.sheet)
  end
  if d.header_row_given then parts[#parts + 1] = "header_row = " .. tostring(d.header_row_given) end
  if #parts == 0 then return nil end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

--- The description as text for a terminal.
function M.format(d)
  local out = {}
  local function add(...) out[#out + 1] = table.concat({ ... }) end
  add("File: ", d.path)
  local how = "Format: " .. d.format
  if d.encoding then how = how .. ", encoding " .. d.encoding end
  if d.delimiter then
    how = how .. ", delimiter " .. (d.delimiter == "\t" and "TAB" or ("'" .. d.delimiter .. "'"))
  end
  add(how)
  if d.sheets then
    local quoted = {}
    for i, s in ipairs(d.sheets) do quoted[i] = "'" .. s .. "'" end
    add("Sheets: ", table.concat(quoted, ", "), " (reading '", tostring(d.sheet or d.sheets[1]), "';"
      .. " another: --sheet NAME, or source = { sheet = \"NAME\" } in the mapping)")
  end
  if d.header_row then
    add("Header: row ", d.header_row, d.header_row > 1 and " (the rows above it are skipped;"
      .. " if that is wrong: source = { header_row = N })" or "")
  end
  local opts = M.source_options(d)
  if opts then add("In the mapping: source = ", opts) end
  add("")
  add(string.format("Columns (%d), with sample values:", #d.columns))
  local width = 0
  for _, c in ipairs(d.columns) do width = math.max(width, utf8.len(c.name) or #c.name) end
  width = math.min(width + 4, 36)
  for i, c in ipairs(d.columns) do
    local samples = {}
    for j, v in ipairs(c.samples) do samples[j] = cut(v, 24) end
    add(string.format("%3d  ", i), pad('"' .. c.name .. '"', width), table.concat(samples, " | "))
  end
  add("")
  add(string.format("Rows: %d%s", d.count, d.rows[1] and (" (the first at " .. d.rows[1].where .. ")") or ""))
  for _, r in ipairs(d.rows) do
    local values = {}
    for i, v in ipairs(r.values) do values[i] = cut(v, 16) end
    add("  ", r.where:match("[^/]*$"), ": ", table.concat(values, " | "))
  end
  for _, w in ipairs(d.warnings) do add("Note: ", w) end
  for _, b in ipairs(d.bad) do add("Unreadable row: ", b) end
  return table.concat(out, "\n") .. "\n"
end

return M
