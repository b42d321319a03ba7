--- kiva.workbook: a one-sheet .xlsx workbook of text cells, for the problems list.
-- A workbook has no list separator, so it opens alike in every Excel locale (a CSV
-- splits on "," in some and on ";" in others). Cells are inline strings: Excel shows
-- them as text and never evaluates them. The zip is written by the C core (libzip).
local core = require "kiva.core"
local printable = require("kiva.text").printable

local M = {}

local XML_ESCAPES = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" }

-- XML 1.0 allows no C0 control but TAB/LF/CR: printable() has escaped them all.
local function xml_text(s)
  return (printable(s):gsub('[&<>"]', XML_ESCAPES))
end

local function column_name(i)
  local name = ""
  while i > 0 do
    local r = (i - 1) % 26
    name = string.char(65 + r) .. name
    i = (i - 1) // 26
  end
  return name
end
M.column_name = column_name

local CONTENT_TYPES = [[<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">]]
  .. [[<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>]]
  .. [[<Default Extension="xml" ContentType="application/xml"/>]]
  .. [[<Override PartName="/xl/workbook.xml" ]]
  .. [[ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>]]
  .. [[<Override PartName="/xl/worksheets/sheet1.xml" ]]
  .. [[ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>]]
  .. [[</Types>]]

local ROOT_RELS = [[<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">]]
  .. [[<Relationship Id="rId1" ]]
  .. [[Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" ]]
  .. [[Target="xl/workbook.xml"/></Relationships>]]

local WORKBOOK_RELS = [[<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">]]
  .. [[<Relationship Id="rId1" ]]
  .. [[Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" ]]
  .. [[Target="worksheets/sheet1.xml"/></Relationships>]]

local function workbook_xml(sheet)
  return [[<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" ]]
    .. [[xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">]]
    .. [[<sheets><sheet name="]] .. xml_text(sheet) .. [[" sheetId="1" r:id="rId1"/></sheets></workbook>]]
end

local function sheet_xml(rows)
  local parts = { [[<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>]] }
  for r, row in ipairs(rows) do
    parts[#parts + 1] = '<row r="' .. r .. '">'
    for c = 1, #row do
      local v = row[c]
      if v ~= nil and v ~= "" then
        parts[#parts + 1] = '<c r="' .. column_name(c) .. r .. '" t="inlineStr"><is><t xml:space="preserve">'
          .. xml_text(v) .. "</t></is></c>"
      end
    end
    parts[#parts + 1] = "</row>"
  end
  parts[#parts + 1] = "</sheetData></worksheet>"
  return table.concat(parts)
end

--- Writes `rows` (an array of arrays of strings; nil or "" leaves a cell empty) as the
-- only sheet of a workbook at `path`, named `opts.sheet` (default "Sheet1").
-- @return true | nil, message
function M.write(path, rows, opts)
  opts = opts or {}
  local ok, err = core.zip_write(path, {
    { "[Content_Types].xml", CONTENT_TYPES },
    { "_rels/.rels", ROOT_RELS },
    { "xl/workbook.xml", workbook_xml(opts.sheet or "Sheet1") },
    { "xl/_rels/workbook.xml.rels", WORKBOOK_RELS },
    { "xl/worksheets/sheet1.xml", sheet_xml(rows) },
  })
  if not ok then return nil, err end
  return true
end

return M
