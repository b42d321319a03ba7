-- kiva.report: the JSON report, the problems list for Excel (CSV with a BOM, or a real
-- workbook), the human summary, and a ledger item as text.
local helper = require "helper"
local cjson = require "cjson"

describe("kiva.report", function()
  local report = require "kiva.report"

  it("neutralises cells Excel would run as formulas", function()
    assert.equal("'=1+2", report.csv_cell("=1+2"))
    assert.equal("'+cmd", report.csv_cell("+cmd"))
    assert.equal("'-3", report.csv_cell("-3"))
    assert.equal("'@SUM(A1)", report.csv_cell("@SUM(A1)"))
    assert.equal('"\'=HYPERLINK(""x"",""y"")"', report.csv_cell('=HYPERLINK("x","y")'))
    assert.equal("plain", report.csv_cell("plain"))
  end)

  it("writes each problem of a result as a CSV line and a JSON report of the interface's shape", function()
    local dir = helper.tmpdir()
    local result = { command = "push", kind = "repayments",
      counts = { read = 2, valid = 1, invalid = 1, sent = 0, skipped = 0, rejected = 1, unknown = 0 },
      items = {
        { where = "in.csv:2", status = "invalid", errors = { { path = "amount", message = "=must be positive" } } },
        { where = "in.csv:3", key = "repayment/1/2026-01/L1/C1", status = "rejected",
          errors = { { loan_id = "L1", code = "NOT_PAYING_BACK", details = "@not expected" } } },
      } }
    assert(report.write_problems(dir .. "/p.csv", result))
    local lines = {}
    for l in helper.read(dir .. "/p.csv"):gmatch("[^\r\n]+") do lines[#lines + 1] = l end
    assert.equal(3, #lines)
    assert.equal("in.csv:2,,invalid,amount,,'=must be positive,error", lines[2])
    assert.equal("in.csv:3,repayment/1/2026-01/L1/C1,rejected,,NOT_PAYING_BACK,'@not expected,error", lines[3])
    assert(report.write_json(dir .. "/r.json", result))
    local t = cjson.decode(helper.read(dir .. "/r.json"))
    assert.equal("push", t.command)
    assert.equal(1, t.counts.rejected)
    assert.equal("in.csv:3", t.items[2].where)
    assert.equal("NOT_PAYING_BACK", t.items[2].errors[1].code)
    local text = report.summary(result)
    assert.matches("read 2, valid 1, invalid 1, sent 0, skipped 0, rejected 1, unknown 0", text)
    assert.matches("in.csv:2: amount: =must be positive", text)
  end)

  local function result_with_hostile_text()
    return { command = "validate", kind = "loans",
      counts = { read = 2, valid = 1, invalid = 1 },
      items = {
        { where = "in.csv:2", key = "loan_draft/1/L1/C1", status = "invalid",
          errors = { { path = "entreps[1].first_name", message = "name \27[2Jwith\r\nbreaks; and = signs" } } },
        { where = "in.csv:3", key = "loan_draft/1/L2/C2", status = "valid",
          warnings = { { path = "description", code = "missing_description", message = "Renée: no description" } } },
      } }
  end

  it("writes the problems CSV in UTF-8 with a BOM, control characters escaped, in the delimiter asked", function()
    local dir = helper.tmpdir()
    assert(report.write_problems(dir .. "/p.csv", result_with_hostile_text(), { delimiter = ";" }))
    local text = helper.read(dir .. "/p.csv")
    assert.equal("\239\187\191where;key;status;field;code;message;severity\r\n", text:sub(1, 49))
    local lines = {}
    for l in text:gmatch("([^\r\n]*)\r\n") do lines[#lines + 1] = l end
    assert.equal(3, #lines)
    assert.equal('in.csv:2;loan_draft/1/L1/C1;invalid;entreps[1].first_name;;'
      .. '"name \\x1B[2Jwith\\r\\nbreaks; and = signs";error', lines[2])
    assert.equal("in.csv:3;loan_draft/1/L2/C2;valid;description;missing_description;Renée: no description;warning",
      lines[3])
  end)

  it("writes a .xlsx problems file as a workbook that reads back cell by cell", function()
    local dir = helper.tmpdir()
    assert(report.write_problems(dir .. "/problems.xlsx", result_with_hostile_text()))
    local rows = {}
    for row, where in require("kiva.source").rows(dir .. "/problems.xlsx") do
      assert.is_table(row, where)
      rows[#rows + 1] = row
    end
    assert.equal(2, #rows)
    assert.equal("in.csv:2", rows[1].where)
    assert.equal("entreps[1].first_name", rows[1].field)
    assert.equal("name \\x1B[2Jwith\\r\\nbreaks; and = signs", rows[1].message)
    assert.equal("missing_description", rows[2].code)
    assert.equal("Renée: no description", rows[2].message)
    -- the zip holds the parts Excel needs, each well-formed XML
    local archive = assert(require("kiva.core").zip_open(dir .. "/problems.xlsx"))
    local names = archive:names()
    for _, name in ipairs(names) do
      local entry = assert(archive:open(name))
      local parts = {}
      for chunk in function() return entry:read(65536) end do parts[#parts + 1] = chunk end
      local parser = require("lxp").new({})
      local ok, msg = parser:parse(table.concat(parts))
      if ok then ok, msg = parser:parse() end
      parser:close()
      assert.truthy(ok, name .. ": " .. tostring(msg))
    end
    archive:close()
    table.sort(names)
    assert.same({ "[Content_Types].xml", "_rels/.rels", "xl/_rels/workbook.xml.rels", "xl/workbook.xml",
      "xl/worksheets/sheet1.xml" }, names)
  end)

  it("refuses a problems file it cannot write with an error, not a raise", function()
    local ok, err = report.write_problems("/nonexistent-dir/p.xlsx", result_with_hostile_text())
    assert.is_nil(ok)
    assert.equal("config", err.kind)
    ok, err = report.write_problems("/nonexistent-dir/p.csv", result_with_hostile_text())
    assert.is_nil(ok)
    assert.equal("config", err.kind)
  end)

  it("escapes control characters of server messages in the summary", function()
    local text = report.summary({ command = "push", kind = "repayments", counts = { read = 1, rejected = 1 },
      items = { { where = "r.csv:2", key = "k", status = "rejected",
        errors = { { message = "bad\27]0;pwned\7" } } } } })
    assert.is_nil(text:find("\27", 1, true))
    assert.matches("bad\\x1B]0;pwned\\x07", text, 1, true)
  end)

  it("names where the rest of a cut list is only when that file was written", function()
    local items = {}
    for i = 1, report.LIST_LIMIT + 5 do items[i] = { where = "r.csv:" .. i, status = "invalid", errors = { "x" } } end
    local result = { command = "validate", kind = "repayments", counts = { read = #items, invalid = #items },
      items = items }
    local plain = report.summary(result)
    assert.matches("and 5 more %(run again with %-%-problems FILE%.xlsx", plain)
    assert.is_nil(plain:find("--report", 1, true))
    assert.matches("and 5 more %(all of them in p%.xlsx%)", report.summary(result, { problems = "p.xlsx" }))
  end)

  it("writes an empty run's items, and an item's empty errors, as [] and paths unescaped", function()
    local dir = helper.tmpdir()
    assert(report.write_json(dir .. "/empty.json", { command = "push", kind = "repayments", counts = {}, items = {} }))
    assert.matches('"items":%[%]', helper.read(dir .. "/empty.json"))
    assert(report.write_json(dir .. "/one.json", { command = "push", counts = {},
      items = { { where = "C:/mis/in.csv:2", status = "invalid", errors = {} } } }))
    local text = helper.read(dir .. "/one.json")
    assert.matches('"errors":%[%]', text)
    assert.truthy(text:find('"where":"C:/mis/in.csv:2"', 1, true))
  end)

  it("shows a ledger item as readable text", function()
    local text = report.ledger_item_text({ key = "repayment/1/2026-10/L1/C1", kind = "repayment", state = "sent",
      source = "r.csv:2", sent_at = "2026-11-02T03:00:00Z", response = { upload_id = "u-1", batch = 3.0 } })
    assert.matches("^key:%s+repayment/1/2026%-10/L1/C1\n", text)
    assert.matches("\nstate:%s+sent\n", text)
    assert.matches("\nresponse:\n  batch: 3\n  upload_id: u%-1\n$", text)
  end)
end)
