--- kiva.xlsx: rows of an Excel workbook (.xlsx), streamed.
-- The sheet's XML is read from the ZIP archive in 64 KiB chunks (libzip through
-- kiva.core.zip_open) and fed to an expat parser (lua-expat), so memory holds the
-- shared strings and one chunk of rows, never the whole sheet. Cell values become
-- strings: shared and inline strings as they are, numbers in their shortest
-- exact form ("1250.5", "480"), dates (cells whose style's number format is a
-- date) as "YYYY-MM-DD" (plus " HH:MM:SS" when the time is not midnight), in the
-- workbook's 1900 or 1904 date system; booleans "TRUE"/"FALSE".
-- where = "<path>:<row number in the sheet>".
local core = require "kiva.core"
local lxp = require "lxp"
local calendar = require "kiva.dates"
local source = require "kiva.source"

local M = {}

local CHUNK = 65536
-- Excel's limits: a reference past them is corrupt or hostile, never data.
local MAX_COLUMN = 16384      -- XFD
local MAX_ROW = 1048576
-- Caps that keep a small hostile workbook from taking gigabytes (issue 16): a
-- value (cell or shared string) and a row hold at most MAX_VALUE / MAX_ROW_BYTES
-- bytes (the CSV reader's 16 MiB per record), the shared strings part at most
-- MAX_SHARED_STRINGS strings and MAX_SHARED_BYTES bytes in all. Past them the row
-- is bad (a cell) or the file is refused (shared strings), with file:line.
M.MAX_VALUE = 16 * 1024 * 1024
M.MAX_ROW_BYTES = 16 * 1024 * 1024
M.MAX_SHARED_STRINGS = 1000000
M.MAX_SHARED_BYTES = 64 * 1024 * 1024
-- expat holds a tag (with its attributes), a comment or a processing instruction
-- whole before it calls back: one of more than MAX_TOKEN bytes ends the part
M.MAX_TOKEN = 1024 * 1024

local input_error = require("kiva.errors").input

local function local_name(name)
  return name:match("([^:]+)$")
end

-- An expat parser that refuses any DOCTYPE: a workbook never has one, and its
-- entities are how XML bombs (billion laughs) and external entities get in.
-- guard.refused holds the reason once the parser was stopped.
local function new_parser(callbacks)
  local guard = {}
  local function refuse(parser, what)
    guard.refused = guard.refused or (what .. " (refused: a workbook has none; entities are how XML"
      .. " bombs and external files get in)")
    parser:stop()
  end
  callbacks.StartDoctypeDecl = function(parser) refuse(parser, "a DOCTYPE declaration") end
  callbacks.EntityDecl = function(parser) refuse(parser, "an entity declaration") end
  callbacks.NotationDecl = function(parser) refuse(parser, "a notation declaration") end
  return lxp.new(callbacks), guard
end

-- lua-expat's close raises when the document was not finished: a broken sheet is
-- reported by parse, so that error is dropped.
local function close_parser(parser)
  pcall(parser.close, parser)
end

local function parse_error(guard, perr)
  return guard.refused or tostring(perr)
end

-- Feeds `chunk` to the parser; what expat holds unparsed (the bytes fed past its
-- position) may not pass MAX_TOKEN. Returns what parser:parse returns.
local function feed(parser, guard, chunk)
  guard.fed = (guard.fed or 0) + #chunk
  local ok, perr, line = parser:parse(chunk)
  if ok then
    local l, _, byte = parser:pos()
    if byte and guard.fed - byte > M.MAX_TOKEN then
      guard.refused = guard.refused or string.format("an XML tag, attribute or comment longer than %d bytes"
        .. " (refused before reading on: a workbook has none this long)", M.MAX_TOKEN)
      return nil, guard.refused, l
    end
  end
  return ok, perr, line
end

-- Feeds a whole entry to a fresh parser built from `callbacks`.
local function parse_entry(archive, name, callbacks)
  local entry, err = archive:open(name)
  if not entry then return nil, err end
  local parser, guard = new_parser(callbacks)
  while true do
    local chunk, rerr = entry:read(CHUNK)
    if not chunk then
      if rerr then entry:close() close_parser(parser) return nil, rerr end
      break
    end
    local ok, perr, line = feed(parser, guard, chunk)
    if not ok then
      entry:close()
      close_parser(parser)
      return nil, name .. ":" .. tostring(line) .. ": " .. parse_error(guard, perr)
    end
  end
  entry:close()
  local ok, perr = parser:parse()
  close_parser(parser)
  if not ok then return nil, name .. ": " .. parse_error(guard, perr) end
  return true
end

local function attr(attrs, wanted)
  for k, v in pairs(attrs) do
    if type(k) == "string" and local_name(k) == wanted then return v end
  end
  return nil
end

local function read_workbook(archive)
  local sheets, date1904 = {}, false
  local ok, err = parse_entry(archive, "xl/workbook.xml", {
    StartElement = function(_, name, attrs)
      name = local_name(name)
      if name == "sheet" then
        sheets[#sheets + 1] = { name = attrs.name, rid = attr(attrs, "id") }
      elseif name == "workbookPr" then
        local v = attrs.date1904
        date1904 = v == "1" or v == "true"
      end
    end,
  })
  if not ok then return nil, err end
  local targets = {}
  ok, err = parse_entry(archive, "xl/_rels/workbook.xml.rels", {
    StartElement = function(_, name, attrs)
      -- a Relationship without Id or Target (a damaged workbook) is ignored; the sheet
      -- it should have named is then reported as missing, naming the file
      if local_name(name) == "Relationship" and type(attrs.Id) == "string" and type(attrs.Target) == "string" then
        targets[attrs.Id] = attrs.Target
      end
    end,
  })
  if not ok then return nil, err end
  for _, s in ipairs(sheets) do
    local t = targets[s.rid]
    if t and t:sub(1, 1) == "/" then s.entry = t:sub(2) elseif t then s.entry = "xl/" .. t end
  end
  return sheets, date1904
end

local BUILTIN_DATE = {}
for _, range in ipairs({ { 14, 22 }, { 27, 36 }, { 45, 47 }, { 50, 58 } }) do
  for i = range[1], range[2] do BUILTIN_DATE[i] = true end
end

local function is_date_format(code)
  code = code:gsub("%b[]", ""):gsub('"[^"]*"', ""):gsub("\\.", ""):gsub("[_*].", "")
  return code:find("[dmyhsDMYHS]") ~= nil
end

-- Set of style indexes (0-based, as in the s attribute) whose format is a date.
local function read_date_styles(archive, names)
  local dates = {}
  if not names["xl/styles.xml"] then return dates end
  local custom, in_xfs, index = {}, false, 0
  local ok, err = parse_entry(archive, "xl/styles.xml", {
    StartElement = function(_, name, attrs)
      name = local_name(name)
      if name == "numFmt" then
        custom[tonumber(attrs.numFmtId)] = attrs.formatCode or ""
      elseif name == "cellXfs" then
        in_xfs = true
      elseif name == "xf" and in_xfs then
        local id = tonumber(attrs.numFmtId) or 0
        if BUILTIN_DATE[id] or (custom[id] and is_date_format(custom[id])) then dates[index] = true end
        index = index + 1
      end
    end,
    EndElement = function(_, name)
      if local_name(name) == "cellXfs" then in_xfs = false end
    end,
  })
  if not ok then return nil, err end
  return dates
end

local function read_shared_strings(archive, names)
  local strings = {}
  local entry_name = names["xl/sharedStrings.xml"] and "xl/sharedStrings.xml"
  if not entry_name then return strings end
  local parts, size, total, in_t, in_phonetic = nil, 0, 0, false, false
  local too_much
  local function refuse(parser, why)
    too_much = too_much or string.format("%s:%d: %s (refused before reading on: a workbook this big is "
      .. "damaged or hostile)", entry_name, parser:pos(), why)
    parser:stop()
  end
  local ok, err = parse_entry(archive, entry_name, {
    StartElement = function(parser, name)
      name = local_name(name)
      if name == "si" then
        if #strings >= M.MAX_SHARED_STRINGS then
          return refuse(parser, string.format("more than %d shared strings", M.MAX_SHARED_STRINGS))
        end
        parts, size = {}, 0
      elseif name == "t" then in_t = true
      elseif name == "rPh" then in_phonetic = true end
    end,
    EndElement = function(_, name)
      name = local_name(name)
      if name == "si" and parts then strings[#strings + 1] = table.concat(parts) parts = nil
      elseif name == "t" then in_t = false
      elseif name == "rPh" then in_phonetic = false end
    end,
    CharacterData = function(parser, text)
      if in_t and parts and not in_phonetic then
        size, total = size + #text, total + #text
        if size > M.MAX_VALUE then
          return refuse(parser, string.format("shared string %d is longer than %d bytes", #strings + 1, M.MAX_VALUE))
        elseif total > M.MAX_SHARED_BYTES then
          return refuse(parser, string.format("the shared strings hold more than %d bytes", M.MAX_SHARED_BYTES))
        end
        parts[#parts + 1] = text
      end
    end,
  })
  if too_much then return nil, too_much end
  if not ok then return nil, err end
  return strings
end

-- The 1-based column of a reference such as "B7"; nil when there is none, false
-- when it is past column XFD (or not a reference).
local function column_index(ref)
  if ref == nil then return nil end
  local letters = ref:match("^(%a+)%d*$")
  if not letters or #letters > 3 then return false end
  letters = letters:upper()
  local n = 0
  for i = 1, #letters do n = n * 26 + (letters:byte(i) - 64) end
  if n > MAX_COLUMN then return false end
  return n
end

-- A number cell's text as a spreadsheet shows it (source.number_text).
local function number_text(v)
  local x = tonumber(v)
  if not x then return v end
  return source.number_text(x)
end

local function pick_sheet(sheets, wanted, path)
  if wanted == nil then return sheets[1] end
  for i, s in ipairs(sheets) do
    if s.name == wanted or i == tonumber(wanted) then return s end
  end
  local names = {}
  for _, s in ipairs(sheets) do names[#names + 1] = "'" .. s.name .. "'" end
  return nil, input_error(path, "no sheet " .. tostring(wanted) .. " in " .. path .. " (sheets: "
    .. table.concat(names, ", ") .. ")")
end

--- The names of a workbook's sheets, in order.
-- @return array of names | nil, err (kind "input")
function M.sheets(path)
  local archive, zerr = core.zip_open(path)
  if not archive then return nil, input_error(path, zerr) end
  local sheets, err = read_workbook(archive)
  archive:close()
  if not sheets then return nil, input_error(path, path .. ": " .. tostring(err)) end
  local names = {}
  for i, s in ipairs(sheets) do names[i] = s.name end
  return names
end

-- One sheet being read: its archive and worksheet entry, the workbook's shared
-- strings and date styles, the expat parser, the rows parsed and not yet given
-- (queue[qhead..]), the rows read ahead to find the header (ahead[ahead_head..]).
local Sheet = {}
Sheet.__index = Sheet

-- Opens the sheet of `path` that opts.sheet names (default the first).
-- @return sheet | nil, err (kind "input")
local function open_sheet(path, opts)
  local archive, zerr = core.zip_open(path)
  if not archive then return nil, input_error(path, zerr) end
  local names = {}
  for _, n in ipairs(archive:names()) do names[n] = true end
  local function fail(msg)
    archive:close()
    return nil, input_error(path, path .. ": " .. tostring(msg))
  end
  if not names["xl/workbook.xml"] then return fail("not an Excel .xlsx workbook (no xl/workbook.xml)") end
  local sheets, date1904 = read_workbook(archive)
  if not sheets then return fail(date1904) end
  local sheet, serr = pick_sheet(sheets, opts.sheet, path)
  if not sheet then archive:close() return nil, serr end
  local date_styles, derr = read_date_styles(archive, names)
  if not date_styles then return fail(derr) end
  local strings, sserr = read_shared_strings(archive, names)
  if not strings then return fail(sserr) end
  if not sheet.entry then
    return fail(string.format("the workbook names no worksheet part for sheet '%s' (a damaged file?)",
      tostring(sheet.name)))
  end
  local entry, eerr = archive:open(sheet.entry)
  if not entry then return fail(eerr) end
  return setmetatable({ path = path, opts = opts, archive = archive, entry = entry, sheet = sheet,
    strings = strings, date_styles = date_styles, date1904 = date1904, queue = {}, qhead = 1,
    ahead = {}, ahead_head = 1, finished = false }, Sheet)
end

-- The value of a cell from its text parts; a cell that cannot be read is reported
-- to bad_cell(message) and reads "".
local function cell_value(sh, cell, text, bad_cell)
  local t, v = cell.t, table.concat(text)
  if t == "s" then
    local index = math.tointeger(tonumber(v))
    local value = index and index >= 0 and sh.strings[index + 1]
    if not value then
      bad_cell(string.format("cell %s: shared string index %q is not one of the %d shared strings",
        cell.ref or ("column " .. cell.col), v, #sh.strings))
      return ""
    end
    return value
  end
  if t == "inlineStr" or t == "str" or t == "e" then return v end
  if t == "b" then return v == "1" and "TRUE" or "FALSE" end
  if t == "d" then return v:gsub("T00:00:00.*$", "") end
  if v == "" then return "" end
  if sh.date_styles[tonumber(cell.s or "0")] and tonumber(v) then
    return calendar.from_excel(tonumber(v), sh.date1904) or v
  end
  return number_text(v)
end

-- The expat callbacks of a sheet: each row goes to sh.queue as it ends. The state of
-- the element being read is in upvalues (these run for every element of the sheet).
local function sheet_callbacks(sh)
  local row, row_no, cell, text, in_value
  -- A cell that cannot be read makes its row bad (the first reason is kept).
  local function bad_cell(message)
    if row and not row.err then row.err = message end
  end
  return {
    StartElement = function(_, name, attrs)
      name = local_name(name)
      if name == "row" then
        local r = math.tointeger(tonumber(attrs.r))
        row = { n = 0 }
        if attrs.r ~= nil and not (r and r >= 1 and r <= MAX_ROW) then
          bad_cell("row number " .. tostring(attrs.r):sub(1, 40) .. " is past Excel's last row " .. MAX_ROW)
          r = nil
        end
        row_no = r or ((row_no or 0) + 1)
      elseif name == "c" and row then
        local col = column_index(attrs.r)
        if col == false then
          bad_cell("cell reference " .. string.format("%q", tostring(attrs.r):sub(1, 40))
            .. " is past Excel's last column XFD")
          col = nil
        end
        if not col and attrs.r == nil and row.n >= MAX_COLUMN then
          bad_cell("more than " .. MAX_COLUMN .. " cells in the row (Excel's last column is XFD)")
          col = false
        end
        -- a cell past XFD is not stored: its column would make the row enormous
        cell = { t = attrs.t, s = attrs.s, col = col or (row.n + 1), ref = attrs.r,
          skip = col == false or (col == nil and attrs.r ~= nil), size = 0 }
        text = {}
      elseif cell and (name == "v" or (name == "t" and cell.t == "inlineStr")) then
        in_value = true
      end
    end,
    EndElement = function(_, name)
      name = local_name(name)
      if name == "v" or name == "t" then
        in_value = false
      elseif name == "c" and cell then
        if not cell.skip then
          row[cell.col] = cell_value(sh, cell, text, bad_cell)
          if cell.col > row.n then row.n = cell.col end
        end
        cell = nil
      elseif name == "row" and row then
        row.line = row_no
        local queue = sh.queue
        queue[#queue + 1] = row
        row = nil
      end
    end,
    CharacterData = function(_, s)
      if in_value and not cell.skip then
        cell.size, row.bytes = cell.size + #s, (row.bytes or 0) + #s
        if cell.size > M.MAX_VALUE or row.bytes > M.MAX_ROW_BYTES then
          -- refused as it grows: the text read so far is dropped, the row is bad
          local whole_row = cell.size <= M.MAX_VALUE
          bad_cell(string.format("cell %s: %s is longer than %d bytes (the cap for one %s)",
            cell.ref or ("column " .. cell.col), whole_row and "the row" or "its value",
            whole_row and M.MAX_ROW_BYTES or M.MAX_VALUE, whole_row and "row" or "value"))
          cell.skip, text = true, {}
          return
        end
        text[#text + 1] = s
      end
    end,
  }
end

function Sheet:close()
  if not self.finished then
    self.finished = true
    close_parser(self.parser)
    self.entry:close()
    self.archive:close()
  end
end

-- The next row parsed (its cells by column, n, line, err), reading and parsing more
-- of the worksheet when none is queued; false, err at a parse error (given after the
-- rows completed before it, in sheet order); nil at the end.
function Sheet:next_raw()
  while self.qhead > #self.queue do
    if self.parse_failure then
      local e = self.parse_failure
      self.parse_failure = nil
      return false, e
    end
    if self.finished then return nil end
    self.queue, self.qhead = {}, 1
    local chunk, rerr = self.entry:read(CHUNK)
    local ok, perr, line
    if chunk then
      ok, perr, line = feed(self.parser, self.guard, chunk)
    elseif rerr then
      ok, perr = nil, rerr
    else
      ok, perr = self.parser:parse()
      self:close()
    end
    if not ok then
      self:close()
      self.parse_failure = input_error(self.path, self.path .. ": " .. self.sheet.entry .. ":"
        .. tostring(line or "?") .. ": " .. parse_error(self.guard, perr))
    end
  end
  local r = self.queue[self.qhead]
  self.queue[self.qhead] = nil
  self.qhead = self.qhead + 1
  return r
end

local function is_empty(r)
  for i = 1, r.n do
    if r[i] ~= nil and r[i] ~= "" then return false end
  end
  return true
end

-- Reads ahead to find the header (source.find_header); the rows read are given back
-- after it by next_row. @return true | nil (only blank rows) | nil, err
function Sheet:find_header()
  local ahead, good = self.ahead, {}
  while #ahead < source.HEADER_SCAN do
    local r, err = self:next_raw()
    if r == nil then break end
    ahead[#ahead + 1] = r or { failure = err }
    if not r or r.err then break end
    if not is_empty(r) then good[#good + 1] = r end
  end
  local path, opts = self.path, self.opts
  if #good == 0 then
    -- no readable row before the first bad one: it was meant as the header
    local r = ahead[1]
    if r and r.err then
      self:close()
      local where = path .. ":" .. r.line
      return nil, input_error(where, where .. ": the header row: " .. r.err)
    end
    return nil
  end
  local i, herr = source.find_header(good, opts.header_row)
  if not i then
    self:close()
    return nil, input_error(path, path .. ": " .. herr)
  end
  local h = good[i]
  self.header = source.header_names(h, h.n)
  while ahead[self.ahead_head] ~= h do
    ahead[self.ahead_head] = nil
    self.ahead_head = self.ahead_head + 1
  end
  ahead[self.ahead_head] = nil
  self.ahead_head = self.ahead_head + 1
  if h.line > 1 and opts.on_warning then opts.on_warning(source.header_note(path, h.line)) end
  if opts.on_header then opts.on_header(self.header, h.line, { sheet = self.sheet.name }) end
  return true
end

-- The next row: one read ahead first, else the next parsed.
function Sheet:next_row()
  local ahead = self.ahead
  if self.ahead_head <= #ahead then
    local r = ahead[self.ahead_head]
    ahead[self.ahead_head] = nil
    self.ahead_head = self.ahead_head + 1
    if r.failure then return false, r.failure end
    return r
  end
  return self:next_raw()
end

-- The next row keyed by the header (row, where), a bad one (false, err), or nil.
function Sheet:next_keyed()
  if not self.header then
    local ok, herr = self:find_header()
    if not ok then
      if herr then return false, herr end
      -- only blank rows (then perhaps a failure): no header, nothing to key by
      self.header = {}
    end
  end
  local header = self.header
  while true do
    local r, err = self:next_row()
    if not r then return r, err end
    local where = self.path .. ":" .. r.line
    if r.err then return false, input_error(where, where .. ": " .. r.err) end
    if not is_empty(r) then
      local out = {}
      for i = 1, #header do out[header[i]] = r[i] or "" end
      for i = #header + 1, r.n do
        if r[i] ~= nil and r[i] ~= "" then
          return false, input_error(where, where .. ": a value in column " .. i
            .. " where the header has " .. #header .. " columns")
        end
      end
      return out, where
    end
  end
end

--- Rows of the first sheet of an .xlsx workbook, or of opts.sheet (name or 1-based index).
-- @return iterator yielding row, where | false, err, and a closing value (a `break`
-- out of the loop closes the archive) — or nil, err (kind "input")
function M.rows(path, opts)
  local sh, err = open_sheet(path, opts or {})
  if not sh then return nil, err end
  sh.parser, sh.guard = new_parser(sheet_callbacks(sh))
  return function() return sh:next_keyed() end, nil, nil, source.closing(function() sh:close() end)
end

return M
