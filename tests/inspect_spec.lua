-- kiva.inspect and `kiva inspect`: what the readers see in an export.
local helper = require "helper"
local inspect = require "kiva.inspect"

local function spanish_workbooks()
  local dir = helper.tmpdir()
  local r = helper.run(helper.lua .. " examples/excel-es/build_xlsx.lua " .. helper.quote(dir))
  assert.are.equal(0, r.code, r.err)
  return dir
end

describe("kiva.inspect", function()
  after_each(helper.cleanup)

  it("describes a workbook: its sheets, the header found under a title, columns with samples, rows", function()
    local dir = spanish_workbooks()
    local d = assert(inspect.describe(dir .. "/prestamos.xlsx"))
    assert.are.equal("xlsx", d.format)
    assert.are.same({ "Préstamos", "Cronograma" }, d.sheets)
    assert.are.equal("Préstamos", d.sheet)
    assert.are.equal(3, d.header_row)
    assert.are.equal(12, #d.columns)
    assert.are.same({ name = "Fecha Desembolso", samples = { "2026-10-05", "2026-10-06", "2026-10-05" } },
      d.columns[6])
    assert.are.equal(3, d.count)
    assert.are.equal(dir .. "/prestamos.xlsx:4", d.rows[1].where)
    assert.is_nil(inspect.source_options(d))
    local other = assert(inspect.describe(dir .. "/prestamos.xlsx", { sheet = "Cronograma" }))
    assert.are.equal(1, other.header_row)
    assert.are.equal('{ sheet = "Cronograma" }', inspect.source_options(other))
  end)

  it("says a CSV's delimiter and encoding, and the source options a mapping needs", function()
    local d = assert(inspect.describe("examples/francophone/prets.csv"))
    assert.are.equal(";", d.delimiter)
    assert.are.equal("windows-1252", d.encoding)
    assert.are.equal('{ delimiter = ";", encoding = "windows-1252" }', inspect.source_options(d))
    local text = inspect.format(d)
    assert.matches("Format: csv, encoding windows%-1252, delimiter ';'", text)
    assert.matches('"Montant"%s+150 000,00 | 100 000,00 | 60 000,00', text)
    assert.matches("Rows: 4", text)
  end)

  it("kiva inspect prints it; a file it cannot read is exit 2 naming the file", function()
    local dir = spanish_workbooks()
    local r = helper.run(helper.kiva("inspect " .. helper.quote(dir .. "/pagos.xlsx")))
    assert.are.equal(0, r.code, r.err)
    assert.matches("Sheets: 'Pagos'", r.out)
    assert.matches("Header: row 3 %(the rows above it are skipped", r.out)
    assert.matches("pagos%.xlsx:7: TOTAL", r.out)
    r = helper.run(helper.kiva("inspect " .. helper.quote(dir .. "/nothing.csv")))
    assert.are.equal(2, r.code)
    assert.matches("nothing%.csv", r.err)
  end)
end)
