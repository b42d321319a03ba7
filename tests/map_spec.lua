-- kiva.map: the helpers mapping scripts use on what exports really hold.
local helper = require "helper"
local map = require "kiva.map"

describe("kiva.map.amount", function()
  it("reads French, English and German-style amounts exactly to the cent", function()
    assert.are.equal(1250.5, map.amount("1 250,50"))
    assert.are.equal(1250.5, map.amount("1,250.50"))
    assert.are.equal(1250.5, map.amount("1.250,50"))
    assert.are.equal(1250.5, map.amount("1\194\160250,50"))       -- no-break space
    assert.are.equal(1250.5, map.amount("1\226\128\175250,50"))    -- narrow no-break space
    assert.are.equal(1234567.89, map.amount("1.234.567,89"))
    assert.are.equal(1234567.89, map.amount("1'234'567.89"))
    assert.are.equal(-12.5, map.amount("-12,5"))
  end)

  it("returns integers for whole amounts and floats that print back exactly", function()
    assert.are.equal("integer", math.type(map.amount("480")))
    assert.are.equal("integer", math.type(map.amount("480,00")))
    assert.are.equal("0.1", string.format("%.14g", map.amount("0,10")))
    assert.are.equal("1234567.89", string.format("%.14g", map.amount("1 234 567,89")))
    assert.are.equal("19.99", require("cjson").encode(map.amount("19,99")))
  end)

  it("settles an ambiguous single separator by opts.decimal, '.' by default", function()
    assert.are.equal(1250, map.amount("1,250"))
    assert.are.equal(1.25, map.amount("1,250", { decimal = "," }))
    assert.are.equal(1.25, map.amount("1.250"))
    assert.are.equal(1250, map.amount("1.250", { decimal = "," }))
    assert.are.equal(12.5, map.amount("12,5"))
    assert.are.equal(12345.5, map.amount("12345,5"))
  end)

  it("returns nil, message for what it cannot read, and nil for empty", function()
    local v, msg = map.amount("12,3,4")
    assert.is_nil(v)
    assert.matches("misplaced separators", msg)
    v, msg = map.amount("abc")
    assert.is_nil(v)
    assert.matches("not a number", msg)
    v, msg = map.amount("10.005")
    assert.is_nil(v)
    assert.matches("more than 2 decimals", msg)
    assert.are.equal(10.005, map.amount("10.005", { decimals = 3 }))
    v, msg = map.amount("   ")
    assert.is_nil(v)
    assert.is_nil(msg)
    v, msg = map.amount(string.rep("1", 300))
    assert.is_nil(v)
    assert.matches("too long to be an amount", msg)
    v, msg = map.amount("12.5", { decimals = 0 })
    assert.is_nil(v)
    assert.matches("more than 0 decimals", msg)
  end)

  it("reads the edges as they are written", function()
    assert.are.equal(12.5, map.amount("+12,5"))
    assert.are.equal("integer", math.type(map.amount("-0")))
    assert.are.equal(7, map.amount("007"))
    assert.are.equal(1234567, map.amount(" 1\194\160234\226\128\137567 "))   -- no-break and thin spaces
    assert.are.equal(9007199254740993, map.amount("9 007 199 254 740 993"))     -- an integer, not a float
    assert.are.equal("integer", math.type(map.amount("1.000.000,00")))
    assert.are.equal(1e20, map.amount("100000000000000000000"))                 -- beyond integers: a float
    assert.are.equal(12.5, map.amount(12.5))
    assert.is_nil((map.amount("1.234.56")))
    assert.is_nil((map.amount("1,23.456")))
    assert.is_nil((map.amount("12a")))
  end)
end)

describe("kiva.map.trim", function()
  it("trims ASCII and Unicode spaces, and gives nil for nothing", function()
    assert.are.equal("a b", map.trim("  a b\t\r\n"))
    assert.are.equal("1 250", map.trim("\194\1601\194\160250\226\128\175"))
    assert.are.equal("x", map.trim("x"))
    assert.are.equal("42", map.trim(42))
    assert.is_nil(map.trim(" \194\160\226\128\137 "))
    assert.is_nil(map.trim(""))
    assert.is_nil(map.trim(nil))
    assert.are.equal("–dash", map.trim("–dash"))   -- other characters led by 0xE2 stay
  end)
end)

describe("kiva.map.date", function()
  it("reads stated formats into YYYY-MM-DD", function()
    assert.are.equal("2024-03-05", map.date("05/03/2024", "dd/mm/yyyy"))
    assert.are.equal("2024-03-05", map.date("5/3/2024", "dd/mm/yyyy"))
    assert.are.equal("2024-03-05", map.date("03/05/2024", "mm/dd/yyyy"))
    assert.are.equal("2024-03-05", map.date("05.03.24", "dd.mm.yy"))
    assert.are.equal("2024-03-05", map.date("05/03/2024 00:00:00", "dd/mm/yyyy"))
    assert.are.equal("2024-03-05", map.date("2024-03-05", "dd/mm/yyyy"))   -- ISO, as .xlsx dates come
  end)

  it("reads Excel serial numbers", function()
    assert.are.equal("2024-03-05", map.date("45356", "excel"))
    assert.are.equal("2024-03-05", map.date("45356,5", "excel"))
    assert.are.equal("1900-03-01", map.date("61", "excel"))
    assert.are.equal("2028-03-06", map.date("45356", "excel", { date1904 = true }))
  end)

  it("catches a wrong format with a clear message", function()
    local v, msg = map.date("03/25/2024", "dd/mm/yyyy")
    assert.is_nil(v)
    assert.matches("25 is not a month %(format dd/mm/yyyy%)", msg)
    v, msg = map.date("31/02/2024", "dd/mm/yyyy")
    assert.is_nil(v)
    assert.matches("has no day 31", msg)
    v, msg = map.date("2024/03/05", "dd/mm/yyyy")
    assert.is_nil(v)
    assert.matches("does not match the format dd/mm/yyyy", msg)
    assert.are.equal("2024-02-29", map.date("29/02/2024", "dd/mm/yyyy"))
    assert.is_nil((map.date("29/02/2023", "dd/mm/yyyy")))
    assert.is_nil(map.date("", "dd/mm/yyyy"))
  end)
end)

describe("kiva.map.gender", function()
  it("reads English, French and Spanish words and letters", function()
    local cases = {
      F = "female", f = "female", Female = "female", Femme = "female", ["Féminin"] = "female",
      Mujer = "female", M = "male", H = "male", Homme = "male", Hombre = "male", Masculino = "male",
      ["non binaire"] = "nonbinary", ["No binario"] = "nonbinary", X = "nonbinary",
      Inconnu = "unknown", Desconocido = "unknown", ["M."] = "male",
    }
    for word, want in pairs(cases) do assert.are.equal(want, map.gender(word), word) end
  end)

  it("returns nil, message for other words", function()
    local v, msg = map.gender("Z")
    assert.is_nil(v)
    assert.matches("not a gender word", msg)
  end)
end)

describe("kiva.map.trim and split_name", function()
  it("trims spaces including no-break spaces and turns empty into nil", function()
    assert.are.equal("Awa", map.trim(" \194\160Awa\t"))
    assert.is_nil(map.trim(""))
    assert.is_nil(map.trim(nil))
  end)

  it("splits names the ways exports write them", function()
    assert.are.same({ "Awa", "Traoré" }, { map.split_name("Awa Traoré") })
    assert.are.same({ "Awa", "Traoré" }, { map.split_name("Traoré, Awa") })
    assert.are.same({ "Fatoumata Binta", "DIALLO" }, { map.split_name("DIALLO Fatoumata Binta") })
    assert.are.same({ "Jean", "de la Fontaine" }, { map.split_name("Jean de la Fontaine") })
    assert.are.same({ "Koné" }, { map.split_name("Koné") })
  end)
end)

describe("kiva.map.image", function()
  after_each(helper.cleanup)

  it("turns JPEG, PNG and GIF files into data URIs by their bytes", function()
    local dir = helper.tmpdir()
    helper.write(dir .. "/a.jpg", "\255\216\255\224rest")
    helper.write(dir .. "/b.bin", "\137PNG\r\n\26\nrest")
    assert.are.equal("data:image/jpeg;base64," .. require("kiva.core").base64_encode("\255\216\255\224rest"),
      map.image(dir .. "/a.jpg"))
    assert.matches("^data:image/png;base64,", map.image(dir .. "/b.bin"))
  end)

  it("refuses missing and non-image files", function()
    local dir = helper.tmpdir()
    helper.write(dir .. "/t.txt", "hello")
    local v, msg = map.image(dir .. "/t.txt")
    assert.is_nil(v)
    assert.matches("not a JPEG, PNG or GIF", msg)
    v, msg = map.image(dir .. "/none.jpg")
    assert.is_nil(v)
    assert.matches("not found", msg)
  end)
end)

describe("kiva.map for partners' exports (findings 4, 5)", function()
  it("reads the format letters partners write in French, Spanish and Portuguese", function()
    assert.are.equal("2026-10-05", map.date("05/10/2026", "jj/mm/aaaa"))
    assert.are.equal("2026-10-05", map.date("05/10/2026", "dd/mm/aaaa"))
    assert.are.equal("2026-10-05", map.date("05/10/26", "JJ/MM/AA"))
    assert.are.equal("2026-10-05", map.date("2026-10-05", "dd/mm/aaaa"))   -- an xlsx date cell
  end)

  it("refuses an unknown format whatever the value, so xlsx and CSV exports fail alike", function()
    assert.has_error(function() map.date("2026-10-05", "dd/mm/ccyy") end,
      "kiva.map.date: unsupported format 'dd/mm/ccyy'")
    assert.has_error(function() map.date("05/10/2026", "dd/mm/ccyy") end,
      "kiva.map.date: unsupported format 'dd/mm/ccyy'")
  end)

  it("says why from_excel cannot read a value", function()
    local v, msg = map.from_excel("2026-09-19")
    assert.is_nil(v)
    assert.are.equal("date '2026-09-19' is not an Excel serial date", msg)
  end)

  it("sums amounts exactly in minor units", function()
    assert.are.equal(0.3, map.sum({ 0.1, 0.2 }))
    assert.are_not.equal(0.3, 0.1 + 0.2)   -- what a plain Lua sum gives
    assert.are.equal(200000.3, map.sum({ "150000.1", 50000.2 }))
    assert.are.equal(1330.5, map.sum({ "1 250,50", "80", "", nil }, 2))
    assert.are.equal(2, math.tointeger(map.sum({ 0.5, 1.5 })))
    assert.are.equal("integer", math.type(map.sum({ 1000, 2000 }, 0)))
    local v, msg = map.sum({ 0.125 }, 2)
    assert.is_nil(v)
    assert.matches("0.125 has more than 2 decimals", msg)
    v, msg = map.sum({ "12,5" }, 0)
    assert.is_nil(v)
    assert.matches("more than 0 decimals", msg)
  end)
end)
