-- kiva.source: each reader quirk a partner's export really has, on small files
-- under tests/data/source/ (written by make_fixtures.py), plus SQL on SQLite.
local helper = require "helper"
local source = require "kiva.source"
local core = require "kiva.core"
local map = require "kiva.map"
local mapping = require "kiva.mapping"

local DATA = "tests/data/source/"

local plain = source.plain
-- All rows of a file (as plain tables): list of { row = ..., where = ... } or { err = ... }; warnings.
local function read_all(name, opts)
  opts = opts or {}
  local warnings = {}
  opts.on_warning = function(w) warnings[#warnings + 1] = w end
  local path = name:find("/") and name or DATA .. name
  local it, err = source.rows(path, opts)
  if not it then return nil, err end
  local out = {}
  for row, where in it do
    if row then out[#out + 1] = { row = plain(row), where = where } else out[#out + 1] = { err = where } end
  end
  return out, warnings
end

describe("kiva.source.rows on CSV", function()
  after_each(helper.cleanup)

  it("reads a French Windows-1252 ';' export with CRLF, with one warning", function()
    local rows, warnings = read_all("fr_win1252.csv")
    assert.are.equal(4, #rows)
    assert.are.equal(1, #warnings)
    assert.matches("Windows%-1252", warnings[1])
    local r = rows[1].row
    assert.are.equal("P-001", r["N° Prêt"])
    assert.are.equal("Awa Traoré", r.Nom)
    assert.are.equal("1 250,50", r.Montant)
    assert.are.equal("05/03/2024", r["Date décaissement"])
    assert.are.equal(DATA .. "fr_win1252.csv:2", rows[1].where)
    assert.are.equal("Élodie Œuvray", rows[4].row.Nom)
    assert.are.equal("€ 10", rows[4].row.Montant)
  end)

  it("gives no warning when the encoding is stated", function()
    local rows, warnings = read_all("fr_win1252.csv", { encoding = "windows-1252", delimiter = ";" })
    assert.are.equal(4, #rows)
    assert.are.equal(0, #warnings)
  end)

  it("reports a wrong stated encoding with file:line", function()
    local rows = read_all("fr_win1252.csv", { encoding = "utf-8" })
    assert.is_nil(rows[1].row)
    assert.are.equal("input", rows[1].err.kind)
    assert.matches("fr_win1252.csv:1: invalid UTF%-8", rows[1].err.message)
  end)

  it("reports an unknown encoding name", function()
    local it, err = source.rows(DATA .. "lf_only.csv", { encoding = "ebcdic" })
    assert.is_nil(it)
    assert.are.equal("input", err.kind)
    assert.matches("unknown encoding 'ebcdic'", err.message)
  end)

  it("reads ISO-8859-15 (the euro sign at 0xA4)", function()
    local rows = read_all("latin9.csv", { encoding = "iso-8859-15" })
    assert.are.equal("€ 5", rows[1].row.price)
  end)

  it("strips a UTF-8 BOM and keeps UTF-8 text", function()
    local rows, warnings = read_all("bom_utf8.csv")
    assert.are.equal("Zoë", rows[1].row.Name)
    assert.are.equal("10", rows[1].row.Amount)
    assert.are.equal(0, #warnings)
  end)

  it("reads CR-only and LF-only line ends, and a last line without one", function()
    for _, name in ipairs({ "cr_only.csv", "lf_only.csv" }) do
      local rows = read_all(name)
      assert.are.equal(2, #rows)
      assert.are.same({ a = "3", b = "4" }, rows[2].row)
      assert.matches(":3$", rows[2].where)
    end
  end)

  it("keeps embedded newlines and doubled quotes; where is the record's first line", function()
    local rows = read_all("embedded.csv")
    assert.are.equal('She sells "fish"\nat the market', rows[1].row.story)
    assert.matches("embedded.csv:2$", rows[1].where)
    assert.matches("embedded.csv:4$", rows[2].where)
  end)

  it("reports ragged rows with file:line and goes on", function()
    local rows = read_all("ragged.csv")
    assert.are.equal(5, #rows)
    assert.are.equal("input", rows[2].err.kind)
    assert.are.equal(DATA .. "ragged.csv:3", rows[2].err.where)
    assert.matches("2 cells where the header has 3", rows[2].err.message)
    assert.matches("ragged.csv:5: 4 cells", rows[4].err.message)
    assert.are.same({ a = "13", b = "14", c = "15" }, rows[5].row)
  end)

  it("reports an unterminated quote with the line it opened at", function()
    local rows = read_all("unterminated.csv")
    assert.are.equal(1, #rows)
    assert.matches("unterminated.csv:2: unterminated quote", rows[1].err.message)
  end)

  it("trims header cells, names empty ones and makes duplicates unique", function()
    local rows = read_all("dup_headers.csv")
    assert.are.same({ Amount = "1", Amount_2 = "2", column_3 = "3", Name = "x" }, rows[1].row)
  end)

  it("rejects NUL bytes and UTF-16 files with a clear message", function()
    local rows = read_all("nul.csv")
    assert.matches("NUL byte", rows[1].err.message)
    local it, err = source.rows(DATA .. "utf16.csv")
    assert.is_nil(it)
    assert.matches("UTF%-16", err.message)
  end)

  it("sniffs tab and pipe delimiters and reads .tsv as tab-separated", function()
    assert.are.same({ loan = "L1", amount = "10" }, read_all("tabs.tsv")[1].row)
    assert.are.same({ loan = "L1", amount = "10", note = "a, b" }, read_all("pipes.csv")[1].row)
  end)

  it("catches a wrong delimiter: a decimal comma makes the row ragged", function()
    local rows = read_all("fr_win1252.csv", { delimiter = ",", encoding = "windows-1252" })
    assert.matches("fr_win1252.csv:2: 2 cells where the header has 1", rows[1].err.message)
    assert.is_nil(rows[2].row.Nom)
  end)

  it("switches to Windows-1252 at the first invalid byte past the first chunk, once", function()
    local dir = helper.tmpdir()
    local path = dir .. "/late.csv"
    helper.write(path, "name,amount\n" .. string.rep("ok,1\n", 20000) .. "Zo\233,2\nJos\233,3\n")
    local rows, warnings = read_all(path)
    assert.are.equal(20002, #rows)
    assert.are.equal("Zoé", rows[20001].row.name)
    assert.are.equal("José", rows[20002].row.name)
    assert.are.equal(1, #warnings)
    assert.matches("late.csv:20002: not valid UTF%-8", warnings[1])
  end)

  it("keeps a stray quote inside an unquoted cell as text", function()
    local dir = helper.tmpdir()
    helper.write(dir .. "/inches.csv", 'item,size\nTV,32" screen\n"x",\xb3""\n')
    local rows = read_all(dir .. "/inches.csv")
    assert.are.equal(2, #rows)
    assert.are.equal('32" screen', rows[1].row.size)
    assert.are.equal("x", rows[2].row.item)
  end)

  it("caps the size of one record", function()
    local dir = helper.tmpdir()
    local path = dir .. "/big.csv"
    helper.write(path, "a,b\n" .. string.rep("x", 5000) .. ",1\n2,3\n")
    local r = assert(core.csv_open(path, { max_record = 1000, keyed = true }))
    local row, msg = r:next()
    assert.is_false(row)
    assert.matches("big.csv:2: record longer than 1000 bytes", msg)
    local good = r:next()
    assert.are.same({ a = "2", b = "3" }, good)
    r:close()
    r:close()   -- idempotent
  end)

  it("exposes the raw reader: header, delimiter, encoding", function()
    local r = assert(core.csv_open(DATA .. "fr_win1252.csv"))
    assert.are.equal(";", r:delimiter())
    assert.are.equal("windows-1252", r:encoding())
    assert.are.same({ "N° Prêt", "Nom", "Sexe", "Montant", "Date décaissement", "Groupe" }, r:header())
    local fields, line = r:next()
    assert.are.equal("P-001", fields[1])
    assert.are.equal(2, line)
    r:close()
    assert.has_error(function() r:next() end, "attempt to use a closed CSV reader")
  end)

  it("reports a missing file as an input error", function()
    local it, err = source.rows("/nonexistent/loans.csv")
    assert.is_nil(it)
    assert.are.equal("input", err.kind)
    assert.matches("No such file", err.message)
  end)

  it("refuses an unknown extension unless a format is given", function()
    local it, err = source.rows(DATA .. "make_fixtures.py")
    assert.is_nil(it)
    assert.matches("format", err.message)
  end)
end)

describe("a CSV row (cells made when the mapping reads them)", function()
  after_each(helper.cleanup)

  local function rows_of(text, opts)
    local path = helper.tmpdir() .. "/rows.csv"
    helper.write(path, text)
    local list = {}
    for row, where in assert(source.rows(path, opts)) do
      assert.is_truthy(row, where)
      list[#list + 1] = row
    end
    return list
  end

  it("reads a cell as row.Col and row[\"Col\"]; other keys are nil", function()
    local row = rows_of("LoanNo,N° Prêt,Amount\nL-1,P 1,\n")[1]
    assert.are.equal("L-1", row.LoanNo)
    assert.are.equal("P 1", row["N° Prêt"])
    assert.are.equal("", row.Amount)
    assert.is_nil(row.Missing)
    assert.is_nil(row[1])
    assert.are.equal("L-1", map.trim(row.LoanNo))
    assert.is_nil(map.trim(row.Amount))
  end)

  it("goes through pairs in header order, each cell a string", function()
    local row = rows_of("b,a,c\n2,1,3\n")[1]
    local keys, values = {}, {}
    for k, v in pairs(row) do
      keys[#keys + 1] = k
      values[#values + 1] = v
    end
    assert.are.same({ "b", "a", "c" }, keys)
    assert.are.same({ "2", "1", "3" }, values)
    assert.are.equal('{b="2", a="1", c="3"}', tostring(row))
  end)

  it("keeps what the mapping writes into it, nil included, and shows it in pairs", function()
    local row = rows_of("a,b,c\n1,2,3\n")[1]
    row.b = nil
    row.a = "one"
    row.total = 6
    row.list = { 1, 2 }
    assert.are.equal("one", row.a)
    assert.is_nil(row.b)
    assert.are.equal("3", row.c)
    assert.are.equal(6, row.total)
    local seen = plain(row)
    assert.are.same({ a = "one", c = "3", total = 6, list = { 1, 2 } }, seen)
    row.b = "back"
    row.total = nil
    assert.are.equal("back", row.b)
    assert.are.same({ a = "one", b = "back", c = "3", list = { 1, 2 } }, plain(row))
    assert.has_error(function() row[nil] = 1 end)
  end)

  it("keeps its own cells after the file is read on (rows kept by joins and groups)", function()
    local text = "id,name\n" .. string.rep("x,y\n", 3) .. "K,Zoé\n"
    local list = rows_of(text)
    assert.are.equal(4, #list)
    assert.are.equal("x", list[1].id)
    assert.are.equal("K", list[4].id)
    assert.are.equal("Zoé", list[4].name)
    list[1].id = "changed"
    assert.are.equal("x", list[2].id)   -- written values belong to one row
  end)

  it("holds UTF-8 even when the file switches to Windows-1252 mid-record", function()
    -- past the first 64 KiB, which are checked before any record
    local list = rows_of("a,b,c\n" .. string.rep("x,y,z\n", 20000) .. "Zoé,Jos\233,\128 5\n")
    local row = list[20001]
    assert.are.equal("Zoé", row.a)   -- read before the switch: valid UTF-8 as is
    assert.are.equal("José", row.b)
    assert.are.equal("€ 5", row.c)
  end)

  it("is returned as a plain table when a mapping returns its row", function()
    local dir = helper.tmpdir()
    helper.write(dir .. "/j.csv", "internal_loan_id,subject\nL1,Hello\n")
    helper.write(dir .. "/m.lua", "return { journal = function(row) return row end }")
    local m = assert(mapping.load(dir .. "/m.lua"))
    local it = assert(mapping.items(m, "journals", dir .. "/j.csv"))
    local item = it()
    assert.are.same({ internal_loan_id = "L1", subject = "Hello" }, item.payload)
  end)

  it("reads a 40-column export's cells the mapping names, whatever their place", function()
    local head, cells = {}, {}
    for i = 1, 40 do
      head[i] = "Col" .. i
      cells[i] = "v" .. i
    end
    local text = table.concat(head, ",") .. "\n" .. table.concat(cells, ",") .. "\n"
    local row = rows_of(text)[1]
    assert.are.equal("v1", row.Col1)
    assert.are.equal("v23", row.Col23)
    assert.are.equal("v40", row.Col40)
    local n = 0
    for _ in pairs(row) do n = n + 1 end
    assert.are.equal(40, n)
  end)
end)

describe("kiva.source.rows on Excel", function()
  it("reads shared, rich and inline strings, numbers and dates of the first sheet", function()
    local rows = read_all("loans.xlsx")
    assert.are.equal(3, #rows)
    local r = rows[1].row
    assert.are.equal(DATA .. "loans.xlsx:2", rows[1].where)
    assert.are.equal("L-1", r.Loan)
    assert.are.equal("Adèle Koné", r.Name)
    assert.are.equal("1250.5", r.Amount)
    assert.are.equal("2024-03-05", r.Disbursed)          -- built-in date format 14
    assert.are.equal("2024-04-05 12:00:00", r.Due)        -- custom dd/mm/yyyy, with a time
    assert.are.equal("first & only", r.Note)
    local r2 = rows[2].row
    assert.are.equal(DATA .. "loans.xlsx:4", rows[2].where)  -- the sheet's row number
    assert.are.equal("Awa Traoré", r2.Name)              -- runs joined, phonetic run left out
    assert.are.equal("0.3", r2.Amount)
    assert.are.equal("1900-03-01", r2.Disbursed)          -- past Excel's fictitious 1900-02-29
    assert.are.equal("", r2.Due)
    assert.matches("loans.xlsx:5: a value in column 7", rows[3].err.message)
  end)

  it("picks a sheet by name or index, and lists the sheets when it is missing", function()
    assert.are.same({ only = "42" }, read_all("loans.xlsx", { sheet = "Other" })[1].row)
    assert.are.same({ only = "42" }, read_all("loans.xlsx", { sheet = 2 })[1].row)
    local rows, err = read_all("loans.xlsx", { sheet = "Repayments" })
    assert.is_nil(rows)
    assert.matches("sheets: 'Loans', 'Other'", err.message)
  end)

  it("reads dates in the 1904 system", function()
    local rows = read_all("dates1904.xlsx")
    assert.are.equal("1904-01-01", rows[1].row.When)
    assert.are.equal("2024-03-01", rows[2].row.When)
  end)

  it("says so when a file is not an xlsx", function()
    local rows, err = read_all("lf_only.csv", { format = "xlsx" })
    assert.is_nil(rows)
    assert.matches("Not a zip archive", err.message)
  end)
end)

-- A one-sheet workbook in a fresh directory (zip(1)), its sheet's rows given as XML.
local function workbook(rows_xml, prolog, shared)
  local dir = helper.tmpdir()
  local parts = {
    ["xl/workbook.xml"] = '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
      .. 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
      .. '<sheet name="Loans" sheetId="1" r:id="rId1"/></sheets></workbook>',
    ["xl/_rels/workbook.xml.rels"] = '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
      .. 'relationships"><Relationship Id="rId1" Target="worksheets/sheet1.xml"/></Relationships>',
    ["xl/worksheets/sheet1.xml"] = (prolog or '<?xml version="1.0" encoding="UTF-8"?>')
      .. '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
      .. '<row r="1"><c r="A1" t="inlineStr"><is><t>Loan</t></is></c></row>'
      .. '<row r="2"><c r="A2" t="inlineStr"><is><t>L1</t></is></c></row>' .. rows_xml
      .. '</sheetData></worksheet>',
    ["xl/sharedStrings.xml"] = '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
      .. (shared or "<si><t>L9</t></si>") .. '</sst>',
  }
  assert(os.execute("mkdir -p " .. dir .. "/w/xl/_rels " .. dir .. "/w/xl/worksheets"))
  for name, body in pairs(parts) do helper.write(dir .. "/w/" .. name, body) end
  assert(os.execute("cd " .. dir .. "/w && zip -q -X -r ../book.xlsx xl"))
  return dir .. "/book.xlsx"
end

describe("kiva.source.rows on hostile Excel files", function()
  after_each(helper.cleanup)

  it("reads a shared string, and makes a row bad when its index is out of range or negative", function()
    for _, index in ipairs({ "1", "-1", "1.5", "x" }) do
      local path = workbook('<row r="3"><c r="A3" t="s"><v>0</v></c></row>'
        .. '<row r="4"><c r="A4" t="s"><v>' .. index .. '</v></c></row>'
        .. '<row r="5"><c r="A5" t="inlineStr"><is><t>L5</t></is></c></row>')
      local rows = read_all(path)
      assert.are.equal(4, #rows, index)
      assert.are.equal("L9", rows[2].row.Loan)
      assert.are.equal(path .. ":4", rows[3].err.where)
      assert.matches("book%.xlsx:4: cell A4: shared string index", rows[3].err.message)
      assert.are.equal("L5", rows[4].row.Loan)
    end
  end)

  it("makes a row bad when a cell reference is past column XFD or the row past 1048576, quickly", function()
    local path = workbook('<row r="3"><c r="XFD3" t="inlineStr"><is><t>x</t></is></c>'
      .. '<c r="AAAAAAAA3" t="inlineStr"><is><t>BAD</t></is></c></row>'
      .. '<row r="1048577"><c r="A1048577" t="inlineStr"><is><t>BAD</t></is></c></row>'
      .. '<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>L6</t></is></c></row>')
    local t0 = os.clock()
    local rows = read_all(path)
    assert.is_true(os.clock() - t0 < 2)
    assert.are.equal(4, #rows)
    assert.matches("book%.xlsx:3: cell reference \"AAAAAAAA3\" is past Excel's last column XFD", rows[2].err.message)
    assert.matches("row number 1048577 is past", rows[3].err.message)
    assert.are.equal("L6", rows[4].row.Loan)
  end)

  it("refuses a DOCTYPE (entity bombs, external entities) and broken XML, naming the file", function()
    local bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
    local external = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    for _, case in ipairs({
      { workbook('<row r="3"><c r="A3" t="inlineStr"><is><t>&b;</t></is></c></row>', bomb), "DOCTYPE" },
      { workbook('<row r="3"><c r="A3" t="inlineStr"><is><t>&e;</t></is></c></row>', external), "DOCTYPE" },
      { workbook('<row r="3"><c r="A3" t="inlineStr"><is><t>BAD</t></c></row>'), "mismatched tag" },
      { workbook('<row r="3"><c r="A3" t="inlineStr"><is><t>BAD\195\40</t></is></c></row>'), "not well%-formed" },
    }) do
      local ok, rows = pcall(read_all, case[1])
      assert.is_true(ok, tostring(rows))
      local last = rows[#rows]
      assert.is_table(last.err, case[2])
      assert.matches("book%.xlsx: .*" .. case[2], last.err.message)
      for _, r in ipairs(rows) do assert.is_nil(r.row and r.row.Loan:find("aaa", 1, true)) end
    end
    local _, err = read_all(workbook("", nil, '<si><t>x</t></si></sst><bad>'))
    assert.matches("book%.xlsx: xl/sharedStrings%.xml", err.message)
  end)
end)

describe("kiva.source.rows on JSON", function()
  it("reads an array of objects, values as strings", function()
    local rows = read_all("loans.json")
    assert.are.same({ loan = "L1", amount = "1250.5", count = "3", ok = "true" }, rows[1].row)
    assert.are.equal(DATA .. "loans.json#2", rows[2].where)
  end)

  it("names the file and what is wrong when it is not an array of objects", function()
    local dir = helper.tmpdir()
    for body, wanted in pairs({ ['[{"a": 1'] = "not JSON", ['{"a": 1}'] = "expected an array of objects",
        ["7"] = "expected an array of objects", [string.rep("[", 2000)] = "not JSON" }) do
      local path = helper.write(dir .. "/in.json", body)
      local rows, err = read_all(path)
      assert.is_nil(rows)
      assert.are.equal("input", err.kind)
      assert.matches("^" .. path:gsub("%p", "%%%0") .. ": " .. wanted, err.message)
    end
  end)

  it("reads JSON Lines, skipping blank lines and reporting a bad one", function()
    local rows = read_all("loans.jsonl")
    assert.are.equal(4, #rows)
    assert.matches("loans.jsonl:3$", rows[2].where)
    assert.matches("loans.jsonl:4: not a JSON object", rows[3].err.message)
    assert.are.equal("L3", rows[4].row.loan)
  end)
end)

describe("kiva.source.sql", function()
  after_each(helper.cleanup)

  it("streams the rows of a query from SQLite, NULL as absent", function()
    local dir = helper.tmpdir()
    local db = dir .. "/mis.sqlite3"
    local luasql = require("luasql.sqlite3")
    local env = luasql.sqlite3()
    local conn = env:connect(db)
    assert(conn:execute("CREATE TABLE loans (id TEXT, amount REAL, n INTEGER, note TEXT)"))
    assert(conn:execute("INSERT INTO loans VALUES ('L1', 1250.5, 3, NULL), ('L2', 80, 1, 'Koné')"))
    conn:close()
    env:close()
    local out = {}
    local it = assert(source.sql{ driver = "sqlite3", database = db, query = "SELECT * FROM loans ORDER BY id" })
    for row, where in it do out[#out + 1] = { row, where } end
    assert.are.same({ id = "L1", amount = "1250.5", n = "3" }, out[1][1])
    assert.are.equal("Koné", out[2][1].note)
    assert.are.equal(db .. ":row 2", out[2][2])
    local via_rows = read_all(db, { query = "SELECT id FROM loans" })
    assert.are.equal(2, #via_rows)
  end)

  it("reports a bad query, a missing database and an unknown driver", function()
    local _, err = source.sql{ driver = "sqlite3", database = "/nonexistent.db", query = "SELECT 1" }
    assert.are.equal("input", err.kind)
    local dir = helper.tmpdir()
    helper.write(dir .. "/empty.sqlite3", "")
    _, err = source.sql{ driver = "sqlite3", database = dir .. "/empty.sqlite3", query = "SELECT * FROM nope" }
    assert.matches("query failed", err.message)
    _, err = source.sql{ driver = "oracle", query = "x" }
    assert.matches("driver must be", err.message)
  end)
end)
