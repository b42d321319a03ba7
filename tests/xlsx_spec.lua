-- kiva.xlsx: an Excel workbook's rows, streamed (through kiva.source.rows, as a
-- user reads them), on tests/data/source/ workbooks and hostile ones built here.
local helper = require "helper"
local xlsx = require "kiva.xlsx"

local DATA = "tests/data/source/"

local function read_all(name, opts)
  return helper.read_rows(name:find("/") and name or DATA .. name, opts)
end

describe("kiva.xlsx rows", function()
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

local workbook = helper.xlsx_workbook

describe("kiva.xlsx on hostile workbooks", function()
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

  it("makes a row bad when a cell reference is past column XFD or the row past 1048576", function()
    local path = workbook('<row r="3"><c r="XFD3" t="inlineStr"><is><t>x</t></is></c>'
      .. '<c r="AAAAAAAA3" t="inlineStr"><is><t>BAD</t></is></c></row>'
      .. '<row r="1048577"><c r="A1048577" t="inlineStr"><is><t>BAD</t></is></c></row>'
      .. '<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>L6</t></is></c></row>')
    local rows = read_all(path)
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

describe("kiva.xlsx", function()
  after_each(helper.cleanup)

  it("lists the sheets of a workbook, in order", function()
    assert.are.same({ "Loans", "Other" }, xlsx.sheets(DATA .. "loans.xlsx"))
    local names, err = xlsx.sheets(DATA .. "lf_only.csv")
    assert.is_nil(names)
    assert.are.equal("input", err.kind)
  end)

  it("closes the archive when a loop breaks out early (the iterator's closing value)", function()
    -- more than one 64 KiB chunk of rows, so that the first row leaves the archive open
    local rows_xml = {}
    for r = 3, 3000 do
      rows_xml[#rows_xml + 1] = string.format('<row r="%d"><c r="A%d" t="inlineStr"><is><t>L%d</t></is></c></row>',
        r, r, r)
    end
    local path = workbook(table.concat(rows_xml))
    local before = helper.open_descriptors()
    collectgarbage("stop")   -- the collector must not be what closes them
    finally(function() collectgarbage("restart") end)
    for _ = 1, 50 do
      for row in xlsx.rows(path) do
        if row then break end
      end
    end
    assert.are.equal(before, helper.open_descriptors())
  end)
end)
