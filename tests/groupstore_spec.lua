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

  it("keeps a group's rows as plain tables of the cells read, whatever object the reader gave", function()
    local store = assert(groupstore.open())
    local lazy = setmetatable({}, { __pairs = function()
      return next, { ["N° Prêt"] = "P-1", Monto = "1 250,50" }, nil
    end })
    assert(store:add("P-1", lazy, "x.csv:2"))
    local group = assert(store:groups())()
    assert.same({ { ["N° Prêt"] = "P-1", Monto = "1 250,50" } }, group)
    store:close()
    store:close()   -- idempotent
  end)
end)
