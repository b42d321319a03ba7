-- kiva.groupstore: group_by's rows kept on disk, read back a group at a time.
local groupstore = require "kiva.groupstore"

describe("kiva.groupstore", function()
  it("gives each group at its last row, its rows in file order, a row of its own in its place", function()
    local store = assert(groupstore.open())
    local rows = {
      { "G1", { Loan = "a" } }, { "G2", { Loan = "b" } }, { nil, { Loan = "solo" } },
      { "G1", { Loan = "c" } }, { "G2", { Loan = "d" } }, { "G3", { Loan = "e" } },
    }
    for i, r in ipairs(rows) do assert(store:add(r[1], r[2], "in.csv:" .. (i + 1))) end
    local got = {}
    for group, where in assert(store:groups()) do
      local loans = {}
      for i, row in ipairs(group) do loans[i] = row.Loan end
      got[#got + 1] = where .. " " .. table.concat(loans, ",")
    end
    store:close()
    assert.same({ "in.csv:4 solo", "in.csv:2 a,c", "in.csv:3 b,d", "in.csv:7 e" }, got)
  end)

  it("keeps a group's rows as plain tables of their cells, a lazy CSV row included", function()
    local helper = require "helper"
    local path = helper.tmpdir() .. "/rows.csv"
    helper.write(path, "N° Prêt,Monto\nP-1,\"1 250,50\"\n")
    local row, where = assert(require("kiva.source").rows(path))()
    assert.equal("kiva row", getmetatable(row))
    local store = assert(groupstore.open())
    assert(store:add("P-1", row, where))
    local group = assert(store:groups())()
    assert.same({ { ["N° Prêt"] = "P-1", Monto = "1 250,50" } }, group)
    store:close()
    store:close()   -- idempotent
    helper.cleanup()
  end)

end)
