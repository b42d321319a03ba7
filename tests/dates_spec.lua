-- kiva.dates: leap years, month lengths and Excel serial dates, in both date systems.
local dates = require "kiva.dates"

describe("kiva.dates", function()
  it("knows leap years and month lengths", function()
    assert.is_true(dates.is_leap(2024))
    assert.is_true(dates.is_leap(2000))
    assert.is_false(dates.is_leap(2100))
    assert.equal(29, dates.days_in_month(2024, 2))
    assert.equal(28, dates.days_in_month(2100, 2))
    assert.equal(31, dates.days_in_month(2026, 12))
  end)

  it("turns a day count into a civil date", function()
    assert.same({ 1970, 1, 1 }, { dates.civil_from_days(0) })
    assert.same({ 2000, 3, 1 }, { dates.civil_from_days(11017) })
    assert.same({ 1969, 12, 31 }, { dates.civil_from_days(-1) })
  end)

  it("reads Excel serial dates of both systems, with Excel's 1900 leap-year bug absorbed", function()
    assert.equal("2024-03-05", dates.from_excel(45356))
    assert.equal("2024-04-05 12:00:00", dates.from_excel(45387.5))
    assert.equal("1900-02-28", dates.from_excel(60))     -- Excel's fictitious 1900-02-29
    assert.equal("1900-03-01", dates.from_excel(61))
    assert.equal("1904-01-01", dates.from_excel(0, true))
    assert.equal("9999-12-31", dates.from_excel(2958465))
    assert.is_nil(dates.from_excel(-1))
    assert.is_nil(dates.from_excel(2958466))
    assert.is_nil(dates.from_excel("soon"))
  end)
end)
