-- kiva.core.find_any: the one-call search kiva.errors.holds_secret runs on every answer.
local core = require "kiva.core"

describe("kiva.core.find_any", function()
  it("gives the index of the first string of the list found, or nil", function()
    assert.equal(2, core.find_any("abcdef", { "x", "cd", "ab" }))
    assert.equal(1, core.find_any("1+1", { "+", "1" }))
    assert.is_nil(core.find_any("abcdef", { "ce", "fa", "g" }))
    assert.is_nil(core.find_any("", { "a" }))
    assert.is_nil(core.find_any("abc", {}))
  end)

  it("finds a needle at either end and across NUL bytes, not one cut by the end", function()
    assert.equal(1, core.find_any("eyJhb", { "eyJ" }))
    assert.equal(1, core.find_any("x\0yeyJ", { "eyJ" }))
    assert.equal(1, core.find_any("a\0b", { "\0b" }))
    assert.is_nil(core.find_any("xxey", { "eyJ" }))
  end)

  it("searches each needle by its first max_len bytes and skips those under min_len", function()
    assert.equal(1, core.find_any("bad client k3yVal", { "k3yVal-abcdef" }, 6))
    assert.is_nil(core.find_any("bad client k3yVa", { "k3yVal-abcdef" }, 6))
    assert.is_nil(core.find_any("abc", { "abc" }, nil, 4))
    assert.equal(2, core.find_any("abcd", { "abc", "abcd" }, nil, 4))
  end)

  it("skips what is not a string and an empty string", function()
    assert.equal(3, core.find_any("abc", { 42, "", "b" }))
    assert.is_nil(core.find_any("abc", { true, {} }))
  end)

  it("raises on a misuse", function()
    assert.has_error(function() core.find_any(nil, { "a" }) end)
    assert.has_error(function() core.find_any("a", "a") end)
  end)
end)
