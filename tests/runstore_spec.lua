-- kiva.runstore: a run's items on disk, read back in order and by page, with
-- errors and warnings as tables and duplicates found by ident.
local runstore = require "kiva.runstore"

describe("kiva.runstore", function()
  local store
  before_each(function() store = assert(runstore.open()) end)
  after_each(function() store:close() end)

  it("keeps items in export order with their errors and warnings as tables", function()
    assert.equal(1, store:add({ where = "in.csv:2", status = "valid", ident = "L1", key = "k1", json = '{"a":1}' }))
    assert.equal(2, store:add({ where = "in.csv:3", status = "invalid",
      errors = { { path = "amount", message = "must be positive" } }, warnings = {} }))
    local items = store:items()
    assert.equal(2, #items)
    assert.equal("in.csv:2", items[1].where)
    assert.same({ a = 1 }, items[1].value)          -- a valid item's JSON, decoded on use
    assert.equal("must be positive", items[2].errors[1].message)
    assert.is_nil(items[2].value)
    assert.is_nil(items[3])
  end)

  it("finds valid items sharing an ident, in export order", function()
    store:add({ where = "a:2", status = "valid", ident = "L1", client_id = "C1" })
    store:add({ where = "a:3", status = "valid", ident = "L2" })
    store:add({ where = "a:4", status = "invalid", ident = "L1" })
    store:add({ where = "a:5", status = "valid", ident = "L1", client_id = "C9" })
    store:index()
    local groups = store:duplicates()
    assert.equal(1, #groups)
    assert.same({ 1, 4 }, groups[1].seqs)
    assert.same({ "a:2", "a:5" }, groups[1].wheres)
    assert.same({ "C1", "C9" }, groups[1].client_ids)
  end)

  it("pages through a status, updates fields and moves what is left", function()
    for i = 1, 7 do
      store:add({ where = "a:" .. i, status = "valid", key = "k" .. i, date = "2026-0" .. (i % 2 + 1) .. "-15" })
    end
    store:commit()
    local seen = {}
    for item in store:each("valid", 3) do seen[#seen + 1] = item.key end
    assert.same({ "k1", "k2", "k3", "k4", "k5", "k6", "k7" }, seen)
    assert.same({ "2026-01", "2026-02" }, (store:months()))
    store:update(2, { status = "sent", response = { upload_id = "u-1" } })
    store:prefix_keys("repayment/1/2026-01/")
    assert.equal("repayment/1/2026-01/k1", store:page("valid", 0, 1)[1].key)
    assert.equal("u-1", store:page("sent", 0, 10)[1].response.upload_id)
    assert.equal(6, store:move_all("valid", "skipped", "not sent"))
    assert.equal(0, store:count("valid"))
    assert.equal(6, store:count("skipped"))
  end)

  it("closes idempotently", function()
    store:close()
    store:close()
    store = assert(runstore.open())
  end)
end)
