-- kiva.encode: the exact bytes sent. Same value, same bytes, in every run; arrays
-- stay arrays even when empty; integers stay integers; amounts have no float noise;
-- and cjson.decode reads back what was meant.
local cjson = require "cjson"
local core = require "kiva.core"
local kiva = require "kiva"
local schema = require "kiva.schema"

local corpus = "tests/data/payloads"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function valid_payloads()
  local out = {}
  for _, kind in ipairs(schema.kinds) do
    local p = assert(io.popen("ls " .. corpus .. "/" .. kind .. "/valid"))
    for name in p:lines() do
      if not name:match("%.expect%.json$") then
        local path = corpus .. "/" .. kind .. "/valid/" .. name
        local exp = io.open((path:gsub("%.json$", ".expect.json")), "rb")
        local opts = exp and cjson.decode(exp:read("a")).opts or {}
        if exp then exp:close() end
        out[#out + 1] = { kind = kind, path = path, opts = opts }
      end
    end
    p:close()
  end
  return out
end

local function draft()
  return cjson.decode(read(corpus .. "/loan_draft/valid/individual.json"))
end

-- Deep equality where numbers compare by value (3 == 3.0), as JSON means them.
local function same(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

describe("kiva.encode", function()
  for _, case in ipairs(valid_payloads()) do
    it("round-trips " .. case.path .. " through cjson.decode, byte-stable", function()
      local value = cjson.decode(read(case.path))
      local json = assert(kiva.encode(case.kind, value, case.opts))
      local back = cjson.decode(json)
      assert.is_true(same(value, back), json)
      assert.are.equal(json, kiva.encode(case.kind, back, case.opts))
      assert.is_true(kiva.validate(case.kind, back, case.opts))
    end)
  end

  it("keeps empty arrays as arrays, where lua-cjson writes {}", function()
    local d = draft()
    d.not_pictured = {}
    local json = assert(kiva.encode("loan_draft", d, { validate = false }))
    assert.matches('"not_pictured":[]', json, 1, true)
    assert.are.equal("{}", cjson.encode({}))
    local c = assert(core.schema_compile({ type = "object", properties = { list = { type = "array" } } }))
    assert.are.equal('{"list":[]}', c:encode({ list = {} }))
    assert.are.equal("{}", c:encode({}))
  end)

  it("writes integers as integers and amounts as their shortest exact decimal", function()
    local d = draft()
    d.activity_id = 120.0
    d.entreps[1].amount = 4805 / 10
    d.schedule = { { date = "2024-02-15", principal = 480.1 + 0.4, interest = 7 } }
    local json = assert(kiva.encode("loan_draft", d))
    assert.matches('"activity_id":120,', json, 1, true)
    assert.matches('"amount":480.5,', json, 1, true)
    assert.matches('{"date":"2024-02-15","interest":7,"principal":480.5}', json, 1, true)
    local c = assert(core.schema_compile({ type = "array", items = { type = "number" } }))
    assert.are.equal("[0.1,0.30000000000000004,1e+21,-2.5,0,100,0.001]",
      c:encode({ 0.1, 0.1 + 0.2, 1e21, -2.5, -0.0, 100.0, 1e-3 }))
  end)

  it("orders keys by bytes, whatever the table's history", function()
    local c = assert(core.schema_compile({}))
    local a, b = {}, {}
    for _, k in ipairs({ "b", "a", "B", "é", "aa", "_" }) do a[k] = 1 end
    for _, k in ipairs({ "aa", "é", "_", "a", "b", "B" }) do b[k] = 1 end
    assert.are.equal('{"B":1,"_":1,"a":1,"aa":1,"b":1,"é":1}', c:encode(a))
    assert.are.equal(c:encode(a), c:encode(b))
  end)

  it("orders the keys of large objects too, and of every size up to them", function()
    local c = assert(core.schema_compile({}))
    for _, size in ipairs({ 1, 2, 31, 32, 33, 100 }) do
      local t, keys = {}, {}
      for i = size, 1, -1 do
        local k = string.format("k%03d", (i * 37) % 1000)
        t[k] = i
        keys[#keys + 1] = k
      end
      table.sort(keys)
      local parts = {}
      for i, k in ipairs(keys) do parts[i] = string.format('"%s":%d', k, t[k]) end
      assert.are.equal("{" .. table.concat(parts, ",") .. "}", c:encode(t))
    end
    local obj = assert(core.schema_compile({ type = "object" }))
    assert.are.equal("NOT_AN_OBJECT", select(3, obj:encode({ 1, 2 })))
    assert.are.equal("{}", obj:encode({}))
  end)

  it("writes a schema's property names as any key: escaped, non-ASCII, in byte order", function()
    -- more names than fit the encoder's stack list (32), some known to the schema
    local props = { ["é"] = { type = "integer" }, ["a\"q"] = { type = "integer" }, ["\1"] = {},
      ["\u{2028}"] = {}, [""] = {}, Z = {} }
    local value, expected = {}, {}
    for i = 1, 40 do
      local name = ("k%02d"):format(i)
      if i % 2 == 0 then props[name] = { type = "integer" } end
      value[name] = i
    end
    for name in pairs(props) do value[name] = value[name] or 1.0 end
    value["é~"], value["a"] = 2, 3   -- not in the schema: next to names that are
    local keys = {}
    for k in pairs(value) do keys[#keys + 1] = k end
    table.sort(keys)
    local esc = { [""] = '""', ["\1"] = '"\\u0001"', ["\u{2028}"] = '"\\u2028"', ['a"q'] = '"a\\"q"' }
    for _, k in ipairs(keys) do
      local v = value[k]
      local text = (props[k] and props[k].type == "integer" or math.type(v) == "integer") and ("%d"):format(v) or "1"
      expected[#expected + 1] = (esc[k] or ('"' .. k .. '"')) .. ":" .. text
    end
    local c = assert(core.schema_compile({ type = "object", properties = props }))
    local json = assert(c:encode(value))
    assert.are.equal("{" .. table.concat(expected, ",") .. "}", json)
    assert.are.same(value, cjson.decode(json))
    -- a property name that is no UTF-8 is refused as any such key
    local bad = assert(core.schema_compile({ type = "object", properties = { ["\xFF"] = {} } }))
    assert.are.equal("INVALID_UTF8", select(3, bad:encode({ ["\xFF"] = 1 })))
  end)

  it("names the path of what it cannot encode, at any depth", function()
    local c = assert(core.schema_compile({}))
    local t = { 1, { x = 0 / 0 } }
    for i = 62, 1, -1 do t = { ["k" .. i] = t } end
    local parts = {}
    for i = 1, 62 do parts[i] = "k" .. i end
    local json, msg, code = c:encode(t)
    assert.is_nil(json)
    assert.are.equal("NOT_FINITE", code)
    assert.are.equal("cannot encode " .. table.concat(parts, ".") .. "[2].x: numbers must be finite "
      .. "(JSON has no NaN or infinity)", msg)
    local long = string.rep("q", 300)
    msg = select(2, c:encode({ [long] = { [long] = print } }))
    assert.are.equal("cannot encode " .. (long .. "." .. long):sub(1, 511) .. ": a function is not a JSON value", msg)
    t = { x = 1 }
    for _ = 1, 70 do t = { a = t } end
    msg = select(2, c:encode(t))
    assert.are.equal("cannot encode " .. string.rep("a", 64, ".") .. ": nested too deeply (or a table contains itself)",
      msg)
  end)

  it("writes integer-typed values as plain integers at the edges", function()
    local c = assert(core.schema_compile({ type = "array", items = { type = "integer" } }))
    assert.are.equal("[0,0,-5,9007199254740992,-9223372036854775808,9223372036854775807]",
      c:encode({ 0.0, -0.0, -5.0, 2.0 ^ 53, math.mininteger, math.maxinteger }))
  end)

  it("gives the same bytes in separate processes (string hashes are seeded per state)", function()
    local script = [[
      package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
      package.cpath = "]] .. (os.getenv("KIVA_BUILD") or "build") .. [[/?.so;" .. package.cpath
      local cjson = require "cjson"
      local f = io.open("tests/data/payloads/loan_draft/valid/group.json", "rb")
      io.write(require("kiva").encode("loan_draft", cjson.decode(f:read("a"))))
    ]]
    local outputs = {}
    for i = 1, 3 do
      local p = assert(io.popen("lua5.4 -e '" .. script:gsub("'", "'\\''") .. "'"))
      outputs[i] = p:read("a")
      p:close()
    end
    assert.is_true(#outputs[1] > 100)
    assert.are.equal(outputs[1], outputs[2])
    assert.are.equal(outputs[1], outputs[3])
  end)

  it("escapes strings per RFC 8259 and keeps UTF-8 as is", function()
    local c = assert(core.schema_compile({ type = "string" }))
    assert.are.equal([["q\" b\\ s/ \n\r\t\b\f \u0001\u001f é ✓ \u2028\u2029"]],
      c:encode('q" b\\ s/ \n\r\t\b\f \1\31 é ✓ \u{2028}\u{2029}'))
    assert.are.equal("é ✓", cjson.decode(c:encode("é ✓")))
    -- other characters led by 0xE2 (dash, euro, check mark) stay as they are
    assert.are.equal('"– € ✓ x\\u2028"', c:encode("– € ✓ x\u{2028}"))
    assert.are.equal('"\\"\\\\"', c:encode('"\\'))
  end)

  it("refuses what JSON cannot say", function()
    local c = assert(core.schema_compile({}))
    local json, msg, code = c:encode({ name = "Mar\xC0\xAFia" })
    assert.is_nil(json)
    assert.are.equal("INVALID_UTF8", code)
    assert.matches("name", msg)
    assert.are.equal("NOT_FINITE", select(3, c:encode({ 0 / 0 })))
    assert.are.equal("NOT_JSON", select(3, c:encode({ f = print })))
    local t = {}
    t[1] = t
    assert.are.equal("TOO_DEEP", select(3, c:encode(t)))
    local arr = assert(core.schema_compile({ type = "array" }))
    assert.are.equal("NOT_AN_ARRAY", select(3, arr:encode({ [1] = 1, [3] = 3 })))
    assert.are.equal("null", c:encode(cjson.null))
  end)

  it("refuses a key that is not UTF-8 wherever it sorts, never a truncated text", function()
    -- "\1x" sorts first and encodes; the key after it cannot be written
    local c = assert(core.schema_compile({}))
    local json, msg, code = c:encode({ ["\1x"] = 1, ["\xFF\xFE"] = {} })
    assert.is_nil(json)
    assert.are.equal("INVALID_UTF8", code)
    assert.are.equal("cannot encode the value: string is not valid UTF-8", msg)
    local inner = assert(core.schema_compile({ type = "object", properties = { a = { type = "object" } } }))
    json, msg, code = inner:encode({ a = { b = 1, ["\xC0\xAF"] = 2 } })
    assert.is_nil(json)
    assert.are.equal("INVALID_UTF8", code)
    assert.are.equal("cannot encode a: string is not valid UTF-8", msg)
    local ok, errs = inner:checker():check({ a = { b = 1, ["\xC0\xAF"] = 2 } })
    assert.is_nil(ok)
    assert.are.same({ { path = "", message = "cannot encode a: string is not valid UTF-8" } }, errs)
  end)

  it("validates first and returns a validation error", function()
    local d = draft()
    d.entreps[1].gender = "F"
    local json, err = kiva.encode("loan_draft", d)
    assert.is_nil(json)
    assert.are.equal("validation", err.kind)
    assert.is_false(err.retryable)
    assert.are.equal("entreps[1].gender", err.errors[1].path)
  end)
end)
