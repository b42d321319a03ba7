local json = require "kiva.json"

describe("kiva.json", function()
  it("writes an empty list as [] and an empty record as {}", function()
    assert.equal("[]", json.encode(json.array()))
    assert.equal("{}", json.encode({}))
    assert.equal('{"counts":{},"items":[]}', json.encode({ items = json.array(), counts = {} }))
  end)

  it("keeps a marked list a list once filled, and nested empty lists as []", function()
    local list = json.array()
    list[1] = { errors = json.array() }
    assert.equal('[{"errors":[]}]', json.encode(list))
    assert.is_true(json.is_array(list))
    assert.is_false(json.is_array({}))
  end)

  it("writes tables keyed 1..n as lists, others as objects with sorted keys", function()
    assert.equal('[1,"a",true]', json.encode({ 1, "a", true }))
    assert.equal('{"a":1,"b":2,"c":[3]}', json.encode({ c = { 3 }, b = 2, a = 1 }))
    assert.equal('{"1":"x","3":"y"}', json.encode({ [1] = "x", [3] = "y" }))
  end)

  it("leaves / unescaped and still escapes a backslash before it", function()
    assert.equal('"https://api.kivaws.org/v3"', json.encode("https://api.kivaws.org/v3"))
    local text = json.encode({ path = "C:\\dir/x" })
    assert.equal('{"path":"C:\\\\dir/x"}', text)
    assert.equal("C:\\dir/x", json.decode(text).path)
  end)

  it("writes null, integers and decimals as they read back", function()
    assert.equal('[null,1250,1250.5,-3]', json.encode({ json.null, 1250, 1250.5, -3 }))
    assert.same({ a = 1250.5 }, json.decode('{"a":1250.5}'))
  end)

  it("is deterministic: equal values give equal text", function()
    local v = { z = 1, y = { b = 2, a = 1 }, x = json.array() }
    assert.equal(json.encode(v), json.encode({ x = json.array(), y = { a = 1, b = 2 }, z = 1 }))
  end)

  it("writes records with many distinct keys exactly (past its key cache)", function()
    local t = {}
    for i = 1, 5000 do t["k" .. i] = i end
    local back = json.decode(json.encode(t))
    for i = 1, 5000 do assert.equal(i, back["k" .. i]) end
    assert.equal('{"k1":1,"k2/x":[]}', json.encode({ k1 = 1, ["k2/x"] = json.array() }))
  end)

  it("raises for what JSON cannot hold (a programming error)", function()
    assert.has_error(function() json.encode({ f = print }) end)
    assert.has_error(function() json.encode(0 / 0) end)
    local cycle = {}
    cycle.self = cycle
    assert.has_error(function() json.encode(cycle) end)
  end)

  it("decodes to nil and a message for bad text", function()
    local v, err = json.decode("{")
    assert.is_nil(v)
    assert.is_string(err)
  end)
end)
