-- The hostile inputs of issue 16 (case 7) at their full size, each read to its end by
-- a child process: prints what the reader said, the child's peak RSS and its time.
--   usage: lua5.4 tests/hostile_inputs.lua [BUILD_DIR]   (from the checkout's root; needs zip)
-- Writes about 1.6 GB of temporary files (removed at the end). The figures are the
-- README's reliability table rows; tests/source_spec.lua checks the same at 64 MB,
-- with this file's big_file and read_in_child (require "hostile_inputs").
local M = {}
local as_module = (...) == "hostile_inputs"
local build = (not as_module and arg[1]) or os.getenv("KIVA_BUILD") or "build"
local MiB = 1024 * 1024

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

--- Writes `head`, `unit` repeated to about `size` bytes (in 1 MiB pieces), `tail`.
function M.big_file(path, head, unit, size, tail)
  local f = assert(io.open(path, "wb"))
  f:write(head)
  local piece = string.rep(unit, MiB // #unit)
  for _ = 1, size // #piece do f:write(piece) end
  f:write(tail)
  f:close()
  return path
end

--- Reads `path` to its end with kiva.source.rows in a child process.
-- @return peak RSS (bytes), what it said (rows as "row <where>", errors' messages; `sep` between)
function M.read_in_child(path, sep)
  local script = "package.path = 'lua/?.lua;lua/?/init.lua;' .. package.path; package.cpath = " .. q(build .. "/?.so;")
    .. " .. package.cpath; local it, err = require('kiva.source').rows(" .. string.format("%q", path) .. ");"
    .. " local out = {}; if not it then out[1] = err.message else for row, e in it do"
    .. " out[#out + 1] = row and ('row ' .. tostring(e)) or e.message end end;"
    .. " local hwm = io.open('/proc/self/status'):read('a'):match('VmHWM:%s*(%d+) kB');"
    .. " print(hwm); print(table.concat(out, " .. string.format("%q", sep or " | ") .. "))"
  -- under ASan (make check) freed memory waits in a quarantine: off, so the peak is the reader's
  local asan = os.getenv("ASAN_OPTIONS")
  local p = io.popen((asan and ("ASAN_OPTIONS=" .. q(asan .. ":quarantine_size_mb=0") .. " ") or "") .. "lua5.4 -e "
    .. q(script) .. " 2>&1")
  local text = p:read("a")
  p:close()
  local kb, said = text:match("^(%d+)\n(.*)$")
  return tonumber(kb) and tonumber(kb) * 1024, (said or text):gsub("%s+$", "")
end

if as_module then return M end

local big_file = M.big_file
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. q(dir)))

local function write(path, body)
  local f = assert(io.open(path, "wb"))
  f:write(body)
  f:close()
end

-- A one-sheet workbook: sheetData rows from `rows_file` (or none), shared strings
-- from `shared_file` (or none).
local function workbook(name, rows_file, shared_file)
  local w = dir .. "/" .. name .. ".d"
  assert(os.execute("mkdir -p " .. q(w .. "/xl/_rels") .. " " .. q(w .. "/xl/worksheets")))
  write(w .. "/xl/workbook.xml", '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    .. 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
    .. '<sheet name="Loans" sheetId="1" r:id="rId1"/></sheets></workbook>')
  write(w .. "/xl/_rels/workbook.xml.rels", '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
    .. 'relationships"><Relationship Id="rId1" Target="worksheets/sheet1.xml"/></Relationships>')
  local sheet = w .. "/xl/worksheets/sheet1.xml"
  local cmd = "{ printf '%s' " .. q('<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    .. '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Loan</t></is></c></row>'
    .. '<row r="2"><c r="A2" t="inlineStr"><is><t>L1</t></is></c></row>')
    .. (rows_file and (" && cat " .. q(rows_file)) or "") .. " && printf '%s' '</sheetData></worksheet>'; } > "
    .. q(sheet)
  assert(os.execute(cmd))
  if shared_file then assert(os.execute("mv " .. q(shared_file) .. " " .. q(w .. "/xl/sharedStrings.xml"))) end
  if rows_file then os.remove(rows_file) end
  local book = dir .. "/" .. name .. ".xlsx"
  assert(os.execute("cd " .. q(w) .. " && zip -q -X -r " .. q(book) .. " xl && cd / && rm -rf " .. q(w)))
  return book
end


local cases = {
  { "xlsx, 250 MB of <si/> in sharedStrings", function()
      local ss = big_file(dir .. "/ss.xml", '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">',
        "<si/>", 250 * MiB, "</sst>")
      return workbook("shared", nil, ss)
    end },
  { "xlsx, one 250 MB cell", function()
      local rows = big_file(dir .. "/rows.xml", '<row r="3"><c r="A3" t="inlineStr"><is><t>', "x", 250 * MiB,
        '</t></is></c></row><row r="4"><c r="A4" t="inlineStr"><is><t>L4</t></is></c></row>')
      return workbook("cell", rows, nil)
    end },
  { "JSON, a 1 GB document", function()
      return big_file(dir .. "/big.json", '[{"loan":"', "x", 1024 * MiB, '"}]')
    end },
  { "JSON Lines, a 1 GB line", function()
      return big_file(dir .. "/big.jsonl", '{"loan":"L1"}\n{"loan":"', "x", 1024 * MiB, '"}\n{"loan":"L3"}\n')
    end },
}

for _, case in ipairs(cases) do
  local path = case[2]()
  local f = io.open(path, "rb")
  local size = f:seek("end")
  f:close()
  local t0 = os.time()
  local peak, said = M.read_in_child(path)
  print(string.format("%-40s file %8.1f MB  peak RSS %6.1f MiB  %3d s  %s", case[1], size / 1e6, (peak or -1) / MiB,
    os.time() - t0, said:gsub(dir .. "/", ""):sub(1, 160)))
  os.remove(path)
end
os.execute("rm -rf " .. q(dir))
