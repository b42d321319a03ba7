-- Regenerates the malformed inputs in this directory (run from the repository root:
-- `lua5.4 tests/data/bad/generate.lua`). The 10 MB field and the 100,000-column file
-- are not stored: tests/reliability_spec.lua makes them in a temporary directory.
-- Every loans input has a good row on line 2 (L900001), the bad row on line 3 (its
-- loan id starts with BAD) and a good row on line 4 (L900004); cases.lua says what
-- each must give.
local dir = "tests/data/bad/"

local function write(name, data)
  local f = assert(io.open(dir .. name, "wb"))
  f:write(data)
  f:close()
end

local HEADER = "LoanNo,ClientNo,First,Last,Gender,Amount,Currency,Disbursed,Due,Use\n"
local function row(id, fields)
  local r = { LoanNo = id, ClientNo = "C" .. id:sub(2), First = "Ana", Last = "Lopez", Gender = "F",
    Amount = "500", Currency = "PHP", Disbursed = "15/01/2024", Due = "15/02/2024", Use = "Buy seeds" }
  for k, v in pairs(fields or {}) do r[k] = v end
  return table.concat({ r.LoanNo, r.ClientNo, r.First, r.Last, r.Gender, r.Amount, r.Currency,
    r.Disbursed, r.Due, r.Use }, ",") .. "\n"
end
local GOOD2, GOOD4 = row("L900001"), row("L900004")
local function loans(name, bad_line)
  write(name, HEADER .. GOOD2 .. bad_line .. GOOD4)
end

-- CSV structure and bytes
loans("unbalanced_quote.csv", 'BAD01,C01,"Ana,Lopez,F,500,PHP,15/01/2024,15/02/2024,Buy seeds\n')
write("truncated_in_quote.csv", HEADER .. GOOD2 .. 'BAD02,C02,Ana,Lopez,F,500,PHP,15/01/2024,15/02/2024,"Buy se')
loans("quote_then_garbage.csv", 'BAD03,C03,"Ana"x,Lopez,F,500,PHP,15/01/2024,15/02/2024,Buy seeds\n')
loans("nul_byte.csv", "BAD04,C04,An\0a,Lopez,F,500,PHP,15/01/2024,15/02/2024,Buy seeds\n")
loans("invalid_utf8.csv", "BAD05,C05,An\xC3\x28a,Lopez,F,500,PHP,15/01/2024,15/02/2024,Buy seeds\n")
loans("overlong_utf8.csv", "BAD06,C06,An\xC0\xAFa,Lopez,F,500,PHP,15/01/2024,15/02/2024,Buy seeds\n")
loans("surrogate_utf8.csv", "BAD07,C07,An\xED\xA0\x80a,Lopez,F,500,PHP,15/01/2024,15/02/2024,Buy seeds\n")
write("truncated_utf8.csv", HEADER .. GOOD2 .. "BAD08,C08,Ana,Lopez,F,500,PHP,15/01/2024,15/02/2024,Buy seeds \xE2\x82")
loans("too_many_fields.csv", "BAD09,C09,Ana,Lopez,F,500,PHP,15/01/2024,15/02/2024,Buy seeds,extra,more\n")
loans("too_few_fields.csv", "BAD10,C10,Ana\n")
write("duplicate_header.csv", "LoanNo,ClientNo,First,First,Gender,Amount,Currency,Disbursed,Due,Use\n"
  .. "BAD11,C11,Ana,Maria,F,500,PHP,15/01/2024,15/02/2024,Buy seeds\n")
write("empty.csv", "")
write("bom_only.csv", "\xEF\xBB\xBF")
write("header_only.csv", HEADER)
write("cr_only.csv", (HEADER .. GOOD2 .. GOOD4):gsub("\n", "\r"))
loans("bare_cr_in_field.csv", "BAD12,C12,Ana\rMaria,Lopez,F,500,PHP,15/01/2024,15/02/2024,Buy seeds\n")
do
  -- 4 KiB of seeded noise
  local x, bytes = 12345, {}
  for i = 1, 4096 do
    x = (x * 1103515245 + 12345) % 2147483648
    bytes[i] = string.char(x >> 16 & 255)
  end
  write("binary_noise.csv", table.concat(bytes))
end
write("utf16le.csv", "\xFF\xFE" .. (HEADER .. row("BAD13")):gsub(".", "%0\0"))
write("windows1252_as_utf8.csv", HEADER .. GOOD2 .. row("BAD14", { First = "Ren\xE9e" }) .. GOOD4)

-- Values the mapping turns into a bad draft (the row is read fine)
loans("negative_amount.csv", row("BAD20", { Amount = "-500" }))
loans("zero_amount.csv", row("BAD21", { Amount = "0" }))
loans("huge_amount.csv", row("BAD22", { Amount = "999999999999999999999999" }))
loans("too_many_decimals.csv", row("BAD23", { Amount = "500.123" }))
loans("amount_not_a_number.csv", row("BAD24", { Amount = "five hundred" }))
loans("amount_nan.csv", row("BAD25", { Amount = "nan" }))
loans("amount_inf.csv", row("BAD26", { Amount = "inf" }))
loans("amount_two_separators.csv", row("BAD27", { Amount = '"1,250.50.3"' }))
loans("date_feb_30.csv", row("BAD28", { Disbursed = "30/02/2024" }))
loans("date_month_13.csv", row("BAD29", { Disbursed = "15/13/2024" }))
loans("date_day_zero.csv", row("BAD30", { Disbursed = "00/01/2024" }))
loans("date_year_zero.csv", row("BAD31", { Disbursed = "15/01/0000" }))
loans("date_wrong_format.csv", row("BAD32", { Disbursed = "2024/15/01" }))
loans("date_feb_29_non_leap.csv", row("BAD33", { Disbursed = "29/02/2023", Due = "29/03/2023" }))
loans("due_before_disbursal.csv", row("BAD34", { Due = "01/01/2024" }))
loans("hyperlink_first_name.csv", row("BAD35", { First = '"=HYPERLINK(""http://evil.example/x"",""Ana"")"' }))
loans("formula_last_name.csv", row("BAD36", { Last = "+cmd|' /C calc'!A0" }))
loans("currency_unknown.csv", row("BAD37", { Currency = "PESOS" }))
loans("currency_too_many_decimals.csv", row("BAD38", { Currency = "XOF", Amount = "500.50" }))
loans("empty_loan_id.csv", row("BAD39", { LoanNo = "", ClientNo = "" }))

-- Repayments: good L000001 on line 2, the bad row on line 3, good L000003 on line 4
local RHEAD = "LoanNo,ClientNo,Paid\n"
local function repayments(name, bad)
  write(name, RHEAD .. "L000001,C000001,100\n" .. bad .. "L000003,C000003,100\n")
end
repayments("repay_negative.csv", "L000002,C000002,-100\n")
repayments("repay_empty_amount.csv", "L000002,C000002,\n")
repayments("repay_huge.csv", "L000002,C000002,1e400\n")
repayments("repay_no_loan_id.csv", ",C000002,100\n")
repayments("repay_garbage_amount.csv", "L000002,C000002,12abc\n")

-- Journals: good L000001 on line 2, the bad row (loan L000002) on line 3
local JHEAD = "LoanNo,ClientNo,Subject,Body\n"
local function journals(name, bad)
  write(name, JHEAD .. "L000001,C000001,Harvest,The harvest went well\n" .. bad)
end
journals("journal_empty_subject.csv", "L000002,C000002,,A body\n")
journals("journal_invalid_utf8.csv", "L000002,C000002,Caf\xE9,A body\n")
journals("journal_nul_in_body.csv", "L000002,C000002,News,A bo\0dy\n")

-- JSON and JSON Lines
local OBJ = '{"LoanNo":"L900001","ClientNo":"C900001","First":"Ana","Last":"Lopez","Gender":"F",'
  .. '"Amount":"500","Currency":"PHP","Disbursed":"15/01/2024","Due":"15/02/2024","Use":"Buy seeds"}'
write("truncated.json", "[" .. OBJ .. ',{"LoanNo":"BAD40","Cli')
write("object_not_array.json", OBJ)
write("array_of_numbers.json", "[" .. OBJ .. ",42]")
write("deep_nesting.json", string.rep("[", 100000) .. string.rep("]", 100000))
write("bad_line.jsonl", OBJ .. "\n" .. '{"LoanNo":"BAD41",,}\n' .. OBJ:gsub("L900001", "L900004"):gsub("C900001", "C900004") .. "\n")
write("non_object_line.jsonl", OBJ .. "\n" .. '"BAD42"\n')

-- XLSX: a minimal valid workbook, then broken variants (built with the `zip` command)
local function sheet_xml(rows_xml, prolog)
  return (prolog or '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n')
    .. '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    .. rows_xml .. '</sheetData></worksheet>'
end
local function cells(r, values)
  local out = { '<row r="' .. r .. '">' }
  for i, v in ipairs(values) do
    local ref = string.char(64 + i) .. r
    out[#out + 1] = '<c r="' .. ref .. '" t="inlineStr"><is><t>' .. v .. '</t></is></c>'
  end
  out[#out + 1] = '</row>'
  return table.concat(out)
end
local function split(line)
  local t = {}
  for v in (line:gsub("\n$", "") .. ","):gmatch("([^,]*),") do t[#t + 1] = v end
  return t
end
local GOOD_ROWS = cells(1, split(HEADER)) .. cells(2, split(GOOD2))
local PARTS = {
  ["[Content_Types].xml"] = '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    .. '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    .. '<Default Extension="xml" ContentType="application/xml"/>'
    .. '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    .. '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    .. '</Types>',
  ["_rels/.rels"] = '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    .. '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    .. '</Relationships>',
  ["xl/workbook.xml"] = '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    .. 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
    .. '<sheet name="Loans" sheetId="1" r:id="rId1"/></sheets></workbook>',
  ["xl/_rels/workbook.xml.rels"] = '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    .. '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    .. '</Relationships>',
}
local function xlsx(name, sheet, extra)
  local tmp = os.tmpname()
  os.remove(tmp)
  assert(os.execute("mkdir -p " .. tmp .. "/_rels " .. tmp .. "/xl/_rels " .. tmp .. "/xl/worksheets"))
  local parts = {}
  for k, v in pairs(PARTS) do parts[k] = v end
  parts["xl/worksheets/sheet1.xml"] = sheet
  for k, v in pairs(extra or {}) do parts[k] = v or nil end
  local names = {}
  for k, v in pairs(parts) do
    if v then
      local f = assert(io.open(tmp .. "/" .. k, "wb"))
      f:write(v)
      f:close()
      names[#names + 1] = "'" .. k .. "'"
    end
  end
  table.sort(names)
  os.remove(dir .. name)
  -- fixed timestamps: regenerating gives the same bytes
  assert(os.execute("cd " .. tmp .. " && find . -exec touch -d 2024-01-01T00:00:00Z {} + && zip -q -X -9 " .. os.getenv("PWD") .. "/" .. dir .. name .. " "
    .. table.concat(names, " ")))
  os.execute("rm -rf " .. tmp)
end

xlsx("good_reference.xlsx", sheet_xml(GOOD_ROWS .. cells(3, split(GOOD4))))
do
  local f = assert(io.open(dir .. "good_reference.xlsx", "rb"))
  local whole = f:read("a")
  f:close()
  write("truncated.xlsx", whole:sub(1, #whole // 2))
  write("truncated_central_directory.xlsx", whole:sub(1, #whole - 30))
end
write("not_a_zip.xlsx", HEADER .. GOOD2)
write("empty.xlsx", "")
xlsx("no_worksheet.xlsx", sheet_xml(GOOD_ROWS), { ["xl/worksheets/sheet1.xml"] = false })
xlsx("malformed_sheet_xml.xlsx", sheet_xml(GOOD_ROWS .. '<row r="3"><c r="A3" t="inlineStr"><is><t>BAD50</t></c></row>'))
xlsx("shared_string_out_of_range.xlsx", sheet_xml(GOOD_ROWS .. '<row r="3"><c r="A3" t="s"><v>9999</v></c></row>'),
  { ["xl/sharedStrings.xml"] = '<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>x</t></si></sst>' })
xlsx("shared_string_negative.xlsx", sheet_xml(GOOD_ROWS .. '<row r="3"><c r="A3" t="s"><v>-1</v></c></row>'),
  { ["xl/sharedStrings.xml"] = '<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>x</t></si></sst>' })
xlsx("billion_laughs.xlsx", sheet_xml(GOOD_ROWS .. '<row r="3"><c r="A3" t="inlineStr"><is><t>&lol9;</t></is></c></row>',
  '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
  .. '<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
  .. '<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">'
  .. '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
  .. '<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">'
  .. '<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">'
  .. '<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">'
  .. '<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">'
  .. '<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">'
  .. '<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>\n'))
xlsx("external_entity.xlsx", sheet_xml(GOOD_ROWS .. '<row r="3"><c r="A3" t="inlineStr"><is><t>BAD51</t></is></c>'
  .. '<c r="C3" t="inlineStr"><is><t>&xxe;</t></is></c></row>',
  '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'))
xlsx("invalid_utf8_cell.xlsx", sheet_xml(GOOD_ROWS .. '<row r="3"><c r="A3" t="inlineStr"><is><t>BAD52\xC3\x28</t></is></c></row>'))
xlsx("cell_ref_huge.xlsx", sheet_xml(GOOD_ROWS .. '<row r="3"><c r="XFD3" t="inlineStr"><is><t>x</t></is></c>'
  .. '<c r="ZZZZZZZZZZZZZ3" t="inlineStr"><is><t>BAD53</t></is></c></row>'))
xlsx("whitespace_bomb.xlsx", sheet_xml(GOOD_ROWS .. string.rep(" ", 50 * 1024 * 1024)))

-- The input the misbehaving mapping scripts (map_*.lua) run over
loans("mapping_input.csv", row("BAD60"))

-- Found by fuzz_xlsx (a timeout): a cell reference far past column XFD (16,384)
xlsx("cell_ref_beyond_xfd.xlsx", sheet_xml(GOOD_ROWS .. '<row r="3"><c r="AAAAAAAA3" t="inlineStr"><is><t>BAD54</t></is></c></row>'))

-- Found by fuzz_xlsx (a raise): a workbook relationship without an Id
xlsx("relationship_without_id.xlsx", sheet_xml(GOOD_ROWS), { ["xl/_rels/workbook.xml.rels"] =
  '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
  .. '<Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
  .. '</Relationships>' })
