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

  it("keeps a valid item added by its fields as the same item added as a table", function()
    local fields = { where = "in.csv:7", status = "valid", ident = "L7", client_id = "C7", date = "2026-10-03",
      key = "L7/C7", hash = string.rep("ab", 32), json = '{"amount":"5.00"}', label = "L7",
      warnings = { { path = "amount", message = "a small amount" } } }
    store:add(fields)
    store:add_valid(fields.where, fields.ident, fields.client_id, fields.date, fields.key, fields.hash, fields.json,
      fields.label, fields.warnings)
    store:add_valid("in.csv:9", "L9", nil, nil, "L9/-", nil, '{"b":2}', "L9")   -- fields left out: absent
    store:commit()
    local items = store:items()
    for _, name in ipairs({ "where", "status", "ident", "client_id", "date", "key", "hash", "json", "label" }) do
      assert.equal(items[1][name], items[2][name], name)
    end
    assert.same(fields.warnings, items[2].warnings)
    assert.equal(2, select(2, store:warned()))
    assert.same({ "2026-10" }, (store:months()))
    assert.is_nil(items[3].client_id)
    assert.is_nil(items[3].warnings)
    assert.equal('{"b":2}', items[3].json)
    assert.equal(3, store:count("valid"))
  end)

  it("joins the valid items' JSON in runs of a batch's size, across pages, skipping the others", function()
    local saved = runstore.PAGE_ITEMS
    runstore.PAGE_ITEMS = 2   -- pages of two items: every run crosses pages
    local ok, err = pcall(function()
      local s = assert(runstore.open())
      for i = 1, 8 do
        if i == 4 then
          s:add({ where = "a:4", status = "invalid", errors = { { path = "", message = "bad" } } })
        else
          s:add_valid("a:" .. i, "L" .. i, nil, nil, "k" .. i, nil, "{" .. i .. "}", "L" .. i)
        end
      end
      s:commit()
      local runs = {}
      for first, last, joined in s:each_joined("valid", 3) do runs[#runs + 1] = { first, last, joined } end
      s:close()
      assert.same({ { 1, 3, "{1},{2},{3}" }, { 5, 7, "{5},{6},{7}" }, { 8, 8, "{8}" } }, runs)
    end)
    runstore.PAGE_ITEMS = saved
    assert(ok, err)
  end)

  it("makes the key of an item added without one when it is read back, with the run's prefix", function()
    local function key_tail(item) return item.ident .. "/" .. (item.client_id or "") end
    local s = assert(runstore.open({ key_tail = key_tail }))
    s:add_valid("a:2", "L1", "C1", nil, nil, nil, "{}")
    s:add_valid("a:3", "L2", nil, nil, nil, nil, "{}")
    s:add_valid("a:4", "L3", "C3", nil, "kept/as/given", nil, "{}")
    s:add({ where = "a:5", status = "invalid", errors = { { path = "", message = "bad" } } })
    s:add_valid("a:6", "L1", "C9", nil, nil, nil, "{}")
    s:update(5, { status = "invalid", errors = { { path = "", message = "the same loan as a:2" } } })
    s:prefix_keys("repayment/P/2026-10/")
    local keys = {}
    for _, item in ipairs(s:page("valid", 0, 10)) do keys[#keys + 1] = item.key end
    local invalid = s:page("invalid", 0, 10)
    s:close()
    assert.same({ "repayment/P/2026-10/L1/C1", "repayment/P/2026-10/L2/", "repayment/P/2026-10/kept/as/given" }, keys)
    assert.is_nil(invalid[1].key)               -- refused by the checker: no ident, no key
    assert.equal("L1/C9", invalid[2].key)       -- refused later (a repeat): its key, without the prefix
  end)

  it("refuses a field that is neither text nor a number, naming it", function()
    assert.has_error(function() store:add_valid("a:1", "L1", nil, nil, "k", true) end,
      "record field hash: a string or a number expected, got boolean")
  end)

  it("finds valid items sharing an ident, in export order", function()
    store:add({ where = "a:2", status = "valid", ident = "L1", client_id = "C1" })
    store:add({ where = "a:3", status = "valid", ident = "L2" })
    store:add({ where = "a:4", status = "invalid", ident = "L1" })
    store:add({ where = "a:5", status = "valid", ident = "L1", client_id = "C9" })
    store:commit()
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
    local seen, last = {}, 0
    repeat   -- three at a time, as push reads a page after the last it had
      local page = store:page("valid", last, 3)
      assert.is_true(#page <= 3)
      for _, item in ipairs(page) do seen[#seen + 1], last = item.key, item.seq end
    until #page == 0
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

describe("kiva.runstore across pages", function()
  local store
  before_each(function() store = assert(runstore.open()) end)
  after_each(function() store:close() end)

  local N = runstore.PAGE_ITEMS * 3 + 17

  it("reads back every item of many pages, in order, by status and by position", function()
    for i = 1, N do
      store:add({ where = "in.csv:" .. (i + 1), status = i % 10 == 0 and "invalid" or "valid", ident = "L" .. i,
        key = "k" .. i, json = '{"n":' .. i .. "}", label = "L" .. i,
        errors = i % 10 == 0 and { { path = "amount", message = "bad " .. i } } or nil })
    end
    store:commit()
    local n, expect = 0, 0
    for seq, json, label in store:each_json("valid", "label") do
      n = n + 1
      expect = expect + 1
      if expect % 10 == 0 then expect = expect + 1 end
      assert.equal(expect, seq)
      assert.equal('{"n":' .. seq .. "}", json)
      assert.equal("L" .. seq, label)
    end
    assert.equal(N - N // 10, n)
    assert.equal(N // 10, store:count("invalid"))
    local items = store:items()
    assert.equal(N, #items)
    assert.equal("bad 770", items[770].errors[1].message)
    assert.equal("in.csv:" .. (N + 1), items[N].where)
    assert.same({ n = 3 }, items[3].value)
    local listed, total = store:select({ "invalid" }, 2)
    assert.equal(N // 10, total)
    assert.same({ 10, 20 }, { listed[1].seq, listed[2].seq })
  end)

  it("keeps an item's JSON byte for byte, zero bytes and all, and large items in their own pages", function()
    local big = string.rep("é\0x", 40000)   -- past a page's byte budget on its own
    store:add({ where = "a:2", status = "valid", json = big, ident = "A" })
    store:add({ where = "a:3", status = "valid", json = "\0", ident = "B" })
    store:commit()
    local got = {}
    for seq, json in store:each_json("valid") do got[seq] = json end
    assert.equal(big, got[1])
    assert.equal("\0", got[2])
  end)

  it("changes items in pages already written, and moves what a stopped run left", function()
    for i = 1, N do store:add({ where = "a:" .. i, status = "valid", key = "k" .. i, batch = nil }) end
    store:commit()
    store:batch(function()
      for seq = 1, N, 2 do
        store:update(seq, { status = "sent", batch = "b" .. (seq // 250), response = { id = seq } })
      end
    end)
    assert.equal((N + 1) // 2, store:count("sent"))
    assert.equal("sent", store:batch_status("b0"))
    assert.equal(N // 2, store:move_all("valid", "pending", "not sent"))
    assert.equal(0, store:count("valid"))
    local items = store:items()
    assert.equal("sent", items[N].status)
    assert.equal(N, items[N].response.id)
    assert.equal("pending", items[N - 1].status)
    assert.equal("not sent", items[N - 1].note)
    -- a page written again in its own place (no larger than it was): its neighbours intact
    store:batch(function() store:update(N - 1, { status = "skipped", note = "not " }) end)
    items = store:items()
    assert.equal("skipped", items[N - 1].status)
    assert.equal("not ", items[N - 1].note)
    assert.equal("not sent", items[N - 3].note)
    assert.equal(N, items[N].response.id)
    -- a page grown past the room kept for it moves to the end of the file, whole
    local long = string.rep("x", 64 * 1024)
    store:batch(function() store:update(2, { note = long }) end)
    store:batch(function() store:update(N, { note = "last" }) end)
    items = store:items()
    assert.equal(long, items[2].note)
    assert.equal("sent", items[1].status)
    assert.equal("pending", items[4].status)
    assert.equal("last", items[N].note)
    assert.equal(N, items[N].response.id)
  end)

  for _, in_memory in ipairs({ 65536, 0 }) do
    it("finds duplicates only where they are, whatever the filter's false alarms (verified "
        .. (in_memory > 0 and "from memory" or "in SQL") .. ")", function()
      store:close()
      -- a filter this small says "maybe" for nearly every ident: each must be verified
      store = assert(runstore.open({ bloom_bytes = 64, suspects_in_memory = in_memory }))
      for i = 1, 20000 do store:add({ where = "a:" .. i, status = "valid", ident = "L" .. i }) end
      store:add({ where = "a:20001", status = "valid", ident = "L77", client_id = "C2" })
      store:add({ where = "a:20002", status = "invalid", ident = "L78" })
      store:commit()
      local groups = store:duplicates()
      assert.equal(1, #groups)
      assert.equal("L77", groups[1].ident)
      assert.same({ "a:77", "a:20001" }, groups[1].wheres)
      assert.same({ 77, 20001 }, groups[1].seqs)
      assert.same({ [2] = "C2" }, groups[1].client_ids)
    end)
  end

  it("counts the months of the valid items' payment dates as they change", function()
    store:add({ status = "valid", date = "2026-10-02", ident = "A" })
    store:add({ status = "valid", date = "2026-11-02", ident = "B" })
    store:add({ status = "valid", ident = "C" })
    store:commit()
    assert.same({ "2026-10", "2026-11" }, (store:months()))
    store:update(2, { status = "invalid", errors = { { message = "duplicate" } } })
    local months, undated = store:months()
    assert.same({ "2026-10" }, months)
    assert.equal(1, undated)
  end)

  it("lists the items with warnings and the file a dry run wrote them to", function()
    store:add({ where = "a:2", status = "valid", warnings = { { path = "x", message = "odd" } } })
    store:add({ where = "a:3", status = "valid", warnings = {} })
    store:add({ where = "a:4", status = "valid" })
    store:commit()
    store:update_range(1, 3, "valid", { file = "out/repayments-001.json" })
    local listed, total = store:warned(10)
    assert.equal(1, total)
    assert.equal("odd", listed[1].warnings[1].message)
    assert.equal("out/repayments-001.json", listed[1].file)
    assert.equal("out/repayments-001.json", store:items()[3].file)
  end)
end)

describe("kiva.core.record_codec and kiva.core.bloom", function()
  local core = require "kiva.core"
  local json = require "kiva.json"

  it("packs named fields binary-safe, numbers as text, JSON fields encoded, absent fields absent", function()
    local codec = core.record_codec({ "a", "b", "errors" }, { errors = true }, json.encode)
    local packed = codec:pack({ a = "x\0y", errors = { { message = "m" } }, other = "ignored" })
    local t, next_pos = codec:unpack(packed)
    assert.same({ a = "x\0y", errors = '[{"message":"m"}]' }, t)
    assert.equal(#packed + 1, next_pos)
    local two = packed .. codec:pack({ b = 12 })
    local second = codec:unpack(two, next_pos)
    assert.same({ b = "12" }, second)
    assert.has_error(function() codec:unpack(packed:sub(1, -2)) end)
    assert.has_error(function() codec:pack({ a = true }) end)
  end)

  it("selects a page's items of one status, after a seq, with one or two of their fields", function()
    local codec = core.record_codec({ "json", "label" }, {}, json.encode)
    local data = codec:pack({ json = "a", label = "L1" }) .. codec:pack({ json = "b" })
      .. codec:pack({ json = "c", label = "L3" }) .. codec:pack({ json = "d", label = "L4" })
    -- seqs 11..14; "A" and "a" (the same status, warned) are selected, "B" is not
    local seqs, jsons, labels = codec:select(data, "AaBA", 11, 11, 65, "json", "label")
    assert.same({ 12, 14 }, seqs)
    assert.same({ "b", "d" }, jsons)
    assert.same({ [2] = "L4" }, labels)
    assert.equal(2, select("#", codec:select(data, "AaBA", 11, 0, 65, "json")))
    assert.has_error(function() codec:select(data:sub(1, -2), "AaBA", 11, 0, 65, "json") end)
    assert.has_error(function() codec:select(data, "AaBA", 11, 0, 65, "nothing") end)
  end)

  it("never forgets a string it was given", function()
    local bloom = core.bloom(4096)
    for i = 1, 3000 do bloom:seen("id" .. i) end
    for i = 1, 3000 do assert.is_true(bloom:seen("id" .. i)) end
  end)
end)

describe("kiva.runstore's temporary files", function()
  local core = require "kiva.core"
  local helper = require "helper"

  it("keeps its data in a file without a name, where TMPDIR says", function()
    local dir = helper.tmpdir()
    local f = assert(core.anonymous_file(dir))
    assert.equal("file", io.type(f))
    f:write("a\0b")
    f:seek("set", 0)
    assert.equal("a\0b", f:read("a"))
    assert.is_nil(helper.run("ls -A " .. dir).out:match("%S"))   -- nothing named left behind
    f:close()
    assert.equal("closed file", io.type(f))
  end)

  it("says which directory it could not use, and what chooses it", function()
    local f, err, code = core.anonymous_file("/nonexistent/kiva")
    assert.is_nil(f)
    assert.matches("/nonexistent/kiva", err)
    assert.equal("ENOENT", code)
    local r = helper.run(helper.kiva("push repayments --dry-run --period 2026-06 --out out --mapping "
      .. helper.root .. "/tests/data/cli/repayments.lua --input " .. helper.root .. "/tests/data/cli/repayments.csv"),
      { cwd = helper.tmpdir(), env = { TMPDIR = "/nonexistent/kiva" } })
    assert.not_equal(0, r.code)
    assert.matches("/nonexistent/kiva", r.out .. r.err)
    assert.matches("TMPDIR", r.out .. r.err)
  end)
end)
