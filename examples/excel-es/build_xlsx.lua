-- Writes this example's two Excel exports, as a Colombian MIS gives them:
-- prestamos.xlsx (sheet "Préstamos" under a title and a blank row, group members
-- on rows that are not adjacent; sheet "Cronograma", the schedules) and pagos.xlsx
-- (a title, a blank row, a loan paid in two rows, a TOTAL row). Dates are Excel
-- date cells, amounts numbers. Built with zip(1), so the tree holds no binaries.
--   lua5.4 build_xlsx.lua [DIR]     (default: this script's directory)
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local out = arg and arg[1] or here

local function xml_text(s)
  return (tostring(s):gsub("&", "&amp;"):gsub("<", "&lt;"):gsub(">", "&gt;"))
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

-- A cell: a string (inline), a number, or { date = serial } (style 1: a date format).
local function cell_xml(value, ref)
  if type(value) == "table" then return string.format('<c r="%s" s="1"><v>%d</v></c>', ref, value.date) end
  if type(value) == "number" then return string.format('<c r="%s"><v>%s</v></c>', ref, tostring(value)) end
  return string.format('<c r="%s" t="inlineStr"><is><t>%s</t></is></c>', ref, xml_text(value))
end

local function sheet_xml(rows)
  local parts = { '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns='
    .. '"http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>' }
  for r, row in ipairs(rows) do
    parts[#parts + 1] = string.format('<row r="%d">', r)
    for c = 1, #row do
      if row[c] ~= "" then parts[#parts + 1] = cell_xml(row[c], column_name(c) .. r) end
    end
    parts[#parts + 1] = "</row>"
  end
  parts[#parts + 1] = "</sheetData></worksheet>"
  return table.concat(parts)
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- sheets: array of { name, rows }; rows: arrays of cells ("" for an empty cell).
local function workbook(path, sheets)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. dir .. "/xl/_rels " .. dir .. "/xl/worksheets"))
  local list, rels = {}, {}
  for i, s in ipairs(sheets) do
    list[#list + 1] = string.format('<sheet name="%s" sheetId="%d" r:id="rId%d"/>', xml_text(s.name), i, i)
    rels[#rels + 1] = string.format('<Relationship Id="rId%d" Target="worksheets/sheet%d.xml"/>', i, i)
    write(string.format("%s/xl/worksheets/sheet%d.xml", dir, i), sheet_xml(s.rows))
  end
  write(dir .. "/xl/workbook.xml", '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    .. 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
    .. table.concat(list) .. "</sheets></workbook>")
  write(dir .. "/xl/_rels/workbook.xml.rels", '<Relationships xmlns="http://schemas.openxmlformats.org/'
    .. 'package/2006/relationships">' .. table.concat(rels) .. "</Relationships>")
  write(dir .. "/xl/styles.xml", '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    .. '<cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/></cellXfs></styleSheet>')
  os.remove(path)
  local ok = os.execute("cd " .. dir .. " && zip -q -X -r " .. string.format("%q", path) .. " xl")
  os.execute("rm -rf " .. dir)
  assert(ok, "zip failed (Debian package zip)")
end

local function absolute(p)
  if p:sub(1, 1) == "/" then return p end
  local pwd = io.popen("pwd"):read("l")
  return pwd .. "/" .. p
end

local HISTORIA = "Rosalía y sus vecinas venden abarrotes en el barrio Las Peñas de Bogotá."
workbook(absolute(out .. "/prestamos.xlsx"), {
  { name = "Préstamos", rows = {
    { "Cooperativa Las Peñas - Préstamos desembolsados en octubre de 2026" },
    {},
    { "N° Préstamo", "N° Cliente", "Nombre completo", "Sexo", "Monto Desembolsado", "Fecha Desembolso",
      "Actividad", "Ciudad", "N° Grupo", "Nombre del Grupo", "Destino", "Historia" },
    { "P-301", "C-901", "Rosalía Ibáñez", "F", 2500000, { date = 46300 }, "Tienda de abarrotes", "Bogotá",
      "G-12", "Grupo Las Peñas", "Comprar mercancía para la tienda", HISTORIA },
    { "P-302", "C-902", "José Pérez", "Hombre", 1800000, { date = 46301 }, "Agricultura", "Medellín",
      "", "", "Comprar semillas y abono", "José cultiva café y plátano cerca de Medellín." },
    { "P-303", "C-903", "Ana Lucía Gómez", "Mujer", 1500000, { date = 46300 }, "Tienda de abarrotes", "Bogotá",
      "G-12", "Grupo Las Peñas", "Comprar mercancía para la tienda", HISTORIA },
  } },
  { name = "Cronograma", rows = {
    { "N° Préstamo", "Fecha", "Capital", "Interés" },
    { "G-12", { date = 46331 }, 2000000, 80000 },
    { "P-302", { date = 46332 }, 900000, 36000 },
    { "G-12", { date = 46361 }, 2000000, 40000 },
    { "P-302", { date = 46362 }, 900000, 18000 },
  } },
})

workbook(absolute(out .. "/pagos.xlsx"), {
  { name = "Pagos", rows = {
    { "Reporte de pagos recibidos - octubre de 2026" },
    {},
    { "N° Préstamo", "N° Cliente", "Cliente", "Fecha de pago", "Monto pagado" },
    { "P-201", "C-801", "Carmen Díaz", { date = 46305 }, 150000.1 },
    { "P-202", "C-802", "Luis Vargas", { date = 46307 }, 80000 },
    { "P-201", "C-801", "Carmen Díaz", { date = 46320 }, 50000.2 },
    { "TOTAL", "", "", "", 280000.3 },
  } },
})
