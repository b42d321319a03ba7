-- kiva.text.printable: outside text never drives a terminal, a log or a spreadsheet.
local text = require "kiva.text"

describe("kiva.text.printable", function()
  it("escapes C0 controls, DEL, C1 controls, line separators and bidi overrides", function()
    assert.equal("a\\x1B[31mred\\x1B[0m", text.printable("a\27[31mred\27[0m"))
    assert.equal("one\\r\\ntwo\\tthree\\x00\\x7F", text.printable("one\r\ntwo\tthree\0\127"))
    assert.equal("csi\\u{9B}2J", text.printable("csi\194\1552J"))
    assert.equal("x\\u{2028}y\\u{202E}z\\u{2066}", text.printable("x\226\128\168y\226\128\174z\226\129\166"))
  end)

  it("keeps printable UTF-8 and other values as they are", function()
    assert.equal("Renée Ñúñez 1 250,50 €", text.printable("Renée Ñúñez 1 250,50 €"))
    assert.equal("12", text.printable(12))
    assert.equal("", text.printable(nil))
  end)
end)
