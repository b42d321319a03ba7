-- kiva.workbook: a one-sheet workbook of text cells that kiva's own reader (and so
-- Excel) reads back as written, formulas never evaluated.
local helper = require "helper"
local workbook = require "kiva.workbook"
local xlsx = require "kiva.xlsx"

describe("kiva.workbook", function()
  after_each(helper.cleanup)

  it("names columns as Excel does", function()
    assert.equal("A", workbook.column_name(1))
    assert.equal("Z", workbook.column_name(26))
    assert.equal("AA", workbook.column_name(27))
    assert.equal("XFD", workbook.column_name(16384))
  end)

  it("writes rows that read back as the same text, on a named sheet", function()
    local path = helper.tmpdir() .. "/p.xlsx"
    assert(workbook.write(path, {
      { "where", "message", "note" },
      { "in.csv:2", "=1+2 <b>&\"x\"", "" },
      { "in.csv:3", "Prêt n° 7", "ok" },
    }, { sheet = "Problèmes" }))
    assert.same({ "Problèmes" }, xlsx.sheets(path))
    local rows = helper.read_rows(path)
    assert.equal(2, #rows)
    assert.same({ where = "in.csv:2", message = "=1+2 <b>&\"x\"", note = "" }, rows[1].row)
    assert.equal("Prêt n° 7", rows[2].row.message)
  end)

  it("fails with a message when the file cannot be written", function()
    local ok, err = workbook.write("/nonexistent/dir/p.xlsx", { { "a" } })
    assert.is_nil(ok)
    assert.is_string(err)
  end)
end)
