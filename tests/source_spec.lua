-- kiva.source: each reader quirk a partner's export really has, on small files
-- under tests/data/source/ (written by make_fixtures.py), plus SQL on SQLite.
local helper = require "helper"
local source = require "kiva.source"
local core = require "kiva.core"
local map = require "kiva.map"
local mapping = require "kiva.mapping"

local DATA = "tests/data/source/"
local plain = source.plain

-- All rows of a file under DATA (or a path): helper.read_rows.
local function read_all(name, opts)
  return helper.read_rows(name:find("/") and name or DATA .. name, opts)
end

describe("kiva.source.rows on CSV", function()
  after_each(helper.cleanup)

  it("gives a sheet of blank rows then bad ones as failures with where, never a raw row (fuzz_xlsx)", function()
    local it = assert(source.rows(helper.root .. "/tests/data/xlsx/blank-rows-then-crc-error.xlsx"))
    local n = 0
    for row, err in it do
      n = n + 1
      assert.is_false(row)
      assert.is_table(err)
      assert.matches("blank%-rows%-then%-crc%-error%.xlsx", err.message)
    end
    assert.is_true(n >= 1)
  end)

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

  -- Against a reference writer: cells of 0 to 19 characters, quoted when they must
  -- be (and sometimes when not), CRLF or LF records, multibyte text; plain records
  -- take the reader's fast path, the others its state machine.
  it("splits cells of every length with delimiters, quotes and line breaks at every offset", function()
    local seed = 12345
    local function random(n)   -- a small LCG: the same cases on every run
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed % n + 1
    end
    local ALPHABET = { "a", "b", "é", ",", '"', "\n", "\r\n", " ", "7" }
    local PLAIN = { "a", "b", "é", " ", "7", ";", "\t" }   -- half the records: no quote needed
    local records, lines = {}, {}
    for r = 1, 4000 do   -- about 130 KB: records across the reader's buffer refills
      local cells, parts = {}, {}
      local alphabet = random(2) == 1 and PLAIN or ALPHABET
      for c = 1, random(5) do
        local len, chars = random(20) - 1, {}
        for i = 1, len do chars[i] = alphabet[random(#alphabet)] end
        local cell = table.concat(chars)
        local quoted = cell:find('[,"\r\n]') or random(4) == 1
        cells[c] = (cell:gsub("\r\n", "\n"))   -- a quoted line break reads as \n
        parts[c] = quoted and ('"' .. cell:gsub('"', '""') .. '"') or cell
      end
      if #cells == 1 and cells[1] == "" then cells[1], parts[1] = "x", "x" end   -- no blank records
      records[r], lines[r] = cells, table.concat(parts, ",")
    end
    local path = helper.tmpdir() .. "/offsets.csv"
    helper.write(path, table.concat(lines, random(2) == 1 and "\r\n" or "\n") .. "\n")
    local reader = assert(core.csv_open(path, { delimiter = ",", header = false, keyed = false }))
    for r = 1, #records do
      local cells = reader:next()
      assert.are.same(records[r], cells and { table.unpack(cells) }, "record " .. r .. ": " .. lines[r])
    end
    assert.is_nil(reader:next())
    reader:close()
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

  it("gives each record's where (opts.where and the line of its start) with the line", function()
    local path = helper.tmpdir() .. "/w.csv"
    helper.write(path, 'a,b\n1,"two\nlines"\n\n3,4\n')
    for _, opts in ipairs({ { lazy = true }, { keyed = true }, {} }) do
      opts.where = "w.csv:"
      local r = assert(core.csv_open(path, opts))
      assert.are.same({ 2, "w.csv:2" }, { select(2, r:next()) })
      assert.are.same({ 5, "w.csv:5" }, { select(2, r:next()) })
      assert.is_nil(r:next())
      r:close()
    end
    local r = assert(core.csv_open(path))
    assert.are.same({ 2 }, { select(2, r:next()) })
    r:close()
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

-- Issue 16, case 7: small hostile inputs that used to take gigabytes. Each file is
-- read to its end by a child process, which reports what it was told and its peak
-- RSS (VmHWM): the refusal names file:line and the peak stays under 100 MiB.
describe("kiva.source.rows caps what one record or file part may hold", function()
  after_each(helper.cleanup)

  local MiB = 1024 * 1024
  local hostile = require "hostile_inputs"
  local big_file = hostile.big_file
  local function read_in_child(path) return hostile.read_in_child(path, "\n") end
  local workbook = helper.xlsx_workbook

  local function zip_workbook(sheet_rows, shared_path)
    local dir = helper.tmpdir()
    local book = workbook(sheet_rows)
    if shared_path then
      assert(os.execute("mkdir -p " .. dir .. "/xl && mv " .. helper.quote(shared_path) .. " " .. dir
        .. "/xl/sharedStrings.xml && cd " .. dir .. " && zip -q -X " .. helper.quote(book) .. " xl/sharedStrings.xml"))
    end
    return book
  end

  it("shared strings: 64 MB of <si/> in a small .xlsx is refused, naming the part and line", function()
    local dir = helper.tmpdir()
    local shared = big_file(dir .. "/ss.xml", '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">',
      "<si/>", 64 * MiB, "</sst>")
    local book = zip_workbook("", shared)
    local peak, text = read_in_child(book)
    assert.matches("book%.xlsx: xl/sharedStrings%.xml:1: more than 1000000 shared strings", text)
    assert.is_true(peak < 100 * MiB, string.format("peak RSS %.0f MiB", peak / MiB))
  end)

  it("a 64 MB cell makes its row bad (file:row) and the next rows are read", function()
    local dir = helper.tmpdir()
    local rows = helper.read(big_file(dir .. "/rows.xml", '<row r="3"><c r="A3" t="inlineStr"><is><t>', "x",
      64 * MiB, '</t></is></c></row><row r="4"><c r="A4" t="inlineStr"><is><t>L4</t></is></c></row>'))
    local book = zip_workbook(rows)
    rows = nil   -- luacheck: ignore 311
    collectgarbage()
    local peak, text = read_in_child(book)
    assert.matches("book%.xlsx:3: cell A3: its value is longer than 16777216 bytes", text)
    assert.matches("row .*book%.xlsx:4", text)
    assert.is_true(peak < 100 * MiB, string.format("peak RSS %.0f MiB", peak / MiB))
  end)

  it("a 64 MB attribute (a tag expat would hold whole) ends the sheet, naming it", function()
    local dir = helper.tmpdir()
    local rows = helper.read(big_file(dir .. "/rows.xml", '<row r="3"><c r="A3" s="', "7", 64 * MiB,
      '" t="inlineStr"><is><t>x</t></is></c></row>'))
    local book = zip_workbook(rows)
    rows = nil   -- luacheck: ignore 311
    collectgarbage()
    local peak, text = read_in_child(book)
    assert.matches("row .*book%.xlsx:2\n", text)
    assert.matches("book%.xlsx: xl/worksheets/sheet1%.xml:1: an XML tag, attribute or comment longer than "
      .. "1048576", text)
    assert.is_true(peak < 100 * MiB, string.format("peak RSS %.0f MiB", peak / MiB))
  end)

  it("a 64 MB JSON document is refused before it is decoded", function()
    local dir = helper.tmpdir()
    local path = big_file(dir .. "/big.json", '[{"loan":"', "x", 64 * MiB, '"}]')
    local peak, text = read_in_child(path)
    assert.matches("big%.json: the JSON document is larger than 32 MiB", text)
    assert.is_true(peak < 100 * MiB, string.format("peak RSS %.0f MiB", peak / MiB))
  end)

  it("a 64 MB JSON Lines line is a bad record (file:line) and the next lines are read", function()
    local dir = helper.tmpdir()
    local path = big_file(dir .. "/big.jsonl", '{"loan":"L1"}\n{"loan":"', "x", 64 * MiB, '"}\r\n{"loan":"L3"}\n')
    local peak, text = read_in_child(path)
    assert.matches("big%.jsonl:2: the line is longer than 16777216 bytes", text)
    assert.matches("row .*big%.jsonl:1\n", text)
    assert.matches("row .*big%.jsonl:3\n?$", text)
    assert.is_true(peak < 100 * MiB, string.format("peak RSS %.0f MiB", peak / MiB))
  end)
end)

describe("kiva.source.rows finds the header (finding 2)", function()
  after_each(helper.cleanup)

  it("skips a title and a blank row above an xlsx header, says 'header on row 3', reads the TOTAL row", function()
    local dir = helper.spanish_workbooks()
    local rows, warnings = read_all(dir .. "/pagos.xlsx")
    assert.are.equal(4, #rows)
    assert.are.same({ dir .. "/pagos.xlsx:3: header on row 3 (the rows above it were skipped)" }, warnings)
    assert.are.equal(dir .. "/pagos.xlsx:4", rows[1].where)
    assert.are.same({ ["N° Préstamo"] = "P-201", ["N° Cliente"] = "C-801", Cliente = "Carmen Díaz",
      ["Fecha de pago"] = "2026-10-10", ["Monto pagado"] = "150000.1" }, rows[1].row)
    assert.are.equal("TOTAL", rows[4].row["N° Préstamo"])
    -- a second sheet without a title: its header is its first row, and nothing is said
    local schedule, notes = read_all(dir .. "/prestamos.xlsx", { sheet = "Cronograma" })
    assert.are.equal(4, #schedule)
    assert.are.equal(0, #notes)
    assert.are.equal("G-12", schedule[1].row["N° Préstamo"])
  end)

  it("skips title and blank lines above a CSV header, with a ';' delimiter sniffed below the title", function()
    local path = helper.tmpdir() .. "/pagos.csv"
    helper.write(path, "Reporte de pagos - octubre 2026\n\n;;;\nPréstamo;Cliente;Fecha;Monto\n"
      .. "P-1;C-1;10/10/2026;1 250,50\n;;;\nP-2;C-2;12/10/2026;80\nTOTAL;;;1 330,50\n")
    local rows, warnings = read_all(path)
    assert.are.equal(3, #rows)
    assert.are.same({ path .. ":4: header on row 4 (the rows above it were skipped)" }, warnings)
    assert.are.same({ ["Préstamo"] = "P-1", Cliente = "C-1", Fecha = "10/10/2026", Monto = "1 250,50" }, rows[1].row)
    assert.are.equal(path .. ":5", rows[1].where)
    assert.are.equal(path .. ":7", rows[2].where)
    assert.are.equal("TOTAL", rows[3].row["Préstamo"])
  end)

  it("takes header_row when given, and refuses one that is not a row it read", function()
    local path = helper.tmpdir() .. "/odd.csv"
    helper.write(path, "Export 2026;v2\nloan,amount\nid,value\nL1,10\n")
    local rows = read_all(path, { header_row = 3, delimiter = "," })
    assert.are.same({ id = "L1", value = "10" }, rows[1].row)
    local guessed = read_all(path, { delimiter = "," })
    assert.are.same({ loan = "id", amount = "value" }, guessed[1].row)
    local none, err = read_all(path, { header_row = 9, delimiter = "," })
    assert.is_nil(none)
    assert.matches("header_row 9 is not one of the first non%-blank rows", err.message)
    local dir = helper.spanish_workbooks()
    local sheet = read_all(dir .. "/pagos.xlsx", { header_row = 1 })
    assert.matches("a value in column 2 where the header has 1 columns", sheet[2].err.message)
  end)

  it("keeps a plain CSV as it was: header on line 1, nothing said", function()
    local rows, warnings = read_all("fr_win1252.csv", { encoding = "windows-1252" })
    assert.are.equal(4, #rows)
    assert.are.equal(0, #warnings)
  end)
end)

describe("kiva.source.rows as a generic for", function()
  after_each(helper.cleanup)

  it("closes the file when a loop breaks out early, for CSV, JSON Lines and SQL", function()
    local dir = helper.tmpdir()
    local db = dir .. "/mis.sqlite3"
    local env = require("luasql.sqlite3").sqlite3()
    local conn = env:connect(db)
    assert(conn:execute("CREATE TABLE loans(id TEXT)"))
    assert(conn:execute("INSERT INTO loans VALUES ('L1'), ('L2')"))
    conn:close()
    env:close()
    local inputs = {
      { DATA .. "lf_only.csv" },
      { helper.write(dir .. "/rows.jsonl", '{"id":"L1"}\n{"id":"L2"}\n') },
      { db, { query = "SELECT id FROM loans" } },
    }
    collectgarbage("stop")   -- the collector must not be what closes them
    finally(function() collectgarbage("restart") end)
    for _, input in ipairs(inputs) do
      local before = helper.open_descriptors()
      for _ = 1, 50 do
        for row in source.rows(input[1], input[2]) do
          if row then break end
        end
      end
      assert.are.equal(before, helper.open_descriptors(), input[1])
    end
  end)
end)
