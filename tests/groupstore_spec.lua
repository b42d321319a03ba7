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


  it("bounds the rows a second reading holds: the groups open together", function()
    -- G1 rows 1-3 (3 rows), G2 rows 2-5 (2 rows), G3 rows 6-7 (2 rows), G4 row 8 (1 row)
    local first = { G1 = 1, G2 = 2, G3 = 6, G4 = 8 }
    local last = { G1 = 3, G2 = 5, G3 = 7, G4 = 8 }
    local count = { G1 = 3, G2 = 2, G3 = 2, G4 = 1 }
    assert.equal(5, groupstore.held_at_most(first, last, count))
    assert.equal(0, groupstore.held_at_most({ A = 1 }, { A = 1 }, { A = 1 }))
  end)

  it("gives a group at its last row in a second reading, and says when the input changed", function()
    local g = groupstore.grouper({ G1 = 3 }, 4)
    assert.is_nil(g:add("G1", "a", "in.csv:2"))
    assert.are.same({ { "b" }, "in.csv:3" }, { g:add(nil, "b", "in.csv:3") })
    assert.are.same({ { "a", "c" }, "in.csv:2" }, { g:add("G1", "c", "in.csv:4") })
    assert.is_nil(g:skip("in.csv:5"))
    assert.is_nil(g:finish("in.csv"))
    -- a row of a group already given, a group the first reading did not see, rows added
    for _, case in ipairs({ { "G1", 4 }, { "G9", 1 }, { nil, 5 } }) do
      g = groupstore.grouper({ G1 = 3 }, 4)
      for _ = 1, case[2] - 1 do g:add(nil, "r", "in.csv:1") end
      local rows, where, err = g:add(case[1], "x", "in.csv:9")
      assert.is_nil(rows)
      assert.is_nil(where)
      assert.matches("^in%.csv:9: the input changed while it was read", err.message)
    end
    -- rows missing at the end: a group left open
    g = groupstore.grouper({ G1 = 3 }, 3)
    g:add("G1", "a", "in.csv:2")
    assert.matches("^in%.csv: the input changed", g:finish("in.csv").message)
  end)
end)
