--- kiva.dates: calendar arithmetic with no state, shared by the readers (kiva.xlsx)
-- and the mapping helpers (kiva.map): leap years, month lengths, a day count to a
-- civil date, and Excel serial dates. (The C core has its own for the validator,
-- src/date.c: the same proleptic Gregorian rules.)
local M = {}

function M.is_leap(y) return y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0) end

local MONTH_DAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

function M.days_in_month(y, m)
  if m == 2 and M.is_leap(y) then return 29 end
  return MONTH_DAYS[m]
end

--- Civil date (y, m, d) from a day count since 1970-01-01 (H. Hinnant's algorithm).
function M.civil_from_days(z)
  z = z + 719468
  local era = (z >= 0 and z or z - 146096) // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d = doy - (153 * mp + 2) // 5 + 1
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then y = y + 1 end
  return y, m, d
end

--- An Excel serial date as "YYYY-MM-DD" (" HH:MM:SS" added when the time is not
-- midnight), or nil when `serial` is no Excel date (not a number, negative, past
-- 9999-12-31). `date1904`: the workbook uses the 1904 date system. Serial 60 of the
-- 1900 system (Excel's fictitious 1900-02-29) reads as 1900-02-28.
function M.from_excel(serial, date1904)
  local n = tonumber(serial)
  if not n or n < 0 or n > 2958465 then return nil end
  local days = math.floor(n)
  local seconds = math.floor((n - days) * 86400 + 0.5)
  if seconds >= 86400 then days, seconds = days + 1, seconds - 86400 end
  local epoch
  if date1904 then
    epoch = -24107             -- 1904-01-01 as days since 1970-01-01
  elseif days >= 61 then
    epoch = -25569             -- 1899-12-30: absorbs Excel's 1900 leap-year bug
  else
    epoch = -25568             -- 1899-12-31
    if days == 60 then days = 59 end
  end
  local y, m, d = M.civil_from_days(epoch + days)
  local s = string.format("%04d-%02d-%02d", y, m, d)
  if seconds ~= 0 then
    s = s .. string.format(" %02d:%02d:%02d", seconds // 3600, seconds // 60 % 60, seconds % 60)
  end
  return s
end

return M
