-- kiva.scaffold and `kiva init`: from an unseen Excel export to a mapping whose
-- drafts validate, as a new user goes (the issue's "done when").
local helper = require "helper"
local mapping = require "kiva.mapping"
local kiva = require "kiva"
local portfolio = require "kiva.sandbox.portfolio"

local function init(kind, input, out)
  local r = helper.run(helper.kiva("init " .. kind .. " --input " .. helper.quote(input) .. " --out "
    .. helper.quote(out)))
  assert.are.equal(0, r.code, r.out .. r.err)
  return helper.read(out)
end

local function replace(text, old, new)
  local at = assert(text:find(old, 1, true), "not in the skeleton: " .. old)
  return text:sub(1, at - 1) .. new .. text:sub(at + #old)
end

-- Lines that are not comments or blank: what a user writes and reads.
local function code_lines(text)
  local n = 0
  for line in text:gmatch("[^\n]*") do
    if line:find("%S") and not line:find("^%s*%-%-") then n = n + 1 end
  end
  return n
end

local function map_all(script, kind, input)
  local m = assert(mapping.load(script))
  local ctx = mapping.context{ fetch = function(name) return portfolio.config(name) end }
  local items = {}
  for item in assert(mapping.items(m, kind, input, { ctx = ctx })) do items[#items + 1] = item end
  return items
end

describe("kiva init", function()
  after_each(helper.cleanup)

  it("writes a loans skeleton that, with its TODOs filled in, gives valid drafts under 40 lines", function()
    local dir = helper.spanish_workbooks()
    local text = init("loans", dir .. "/prestamos.xlsx", dir .. "/loans.lua")
    -- every column listed with a sample; the obvious fields filled in with the right helper
    assert.matches('%-%-   "Monto Desembolsado"%s+2500000', text)
    assert.matches('group_by = "N° Grupo"', text, 1, true)
    for _, expected in ipairs({ 'loan_id = r["N° Préstamo"]', 'client_id = r["N° Cliente"]',
        'map.split_name(r["Nombre completo"])', 'gender = map.gender(r["Sexo"])',
        'amount = map.amount(r["Monto Desembolsado"])', 'map.date(first["Fecha Desembolso"], "yyyy-mm-dd")',
        'ctx.location(first["Ciudad"])', 'ctx.language("es")', 'map.trim(first["Nombre del Grupo"])',
        'sheet = "Cronograma"' }) do
      assert.is_truthy(text:find(expected, 1, true), expected)
    end
    assert.is_truthy(text:find("currency = nil,  -- TODO", 1, true))
    -- what the user adds: the currency, the waiver, Kiva's activity names, the schedule sheet
    text = replace(text, "currency = nil,", 'currency = "COP",')
    text = replace(text, "client_waiver_signed = nil,", "client_waiver_signed = true,")
    text = replace(text, 'ctx.activity(first["Actividad"])',
      'ctx.activity(({ ["Tienda de abarrotes"] = "Grocery Store", Agricultura = "Agriculture" })[first.Actividad])')
    text = replace(text, "    return draft\n", [[
    draft.schedule = {}
    local key = map.trim(first["N° Grupo"]) or first["N° Préstamo"]
    for i, e in ipairs(ctx.join(ctx.input, "N° Préstamo", { sheet = "Cronograma" })(key)) do
      draft.schedule[i] = { date = map.date(e.Fecha), principal = e.Capital + 0, interest = e["Interés"] + 0 }
    end
    return draft
]])
    helper.write(dir .. "/loans.lua", text)
    assert.is_true(code_lines(text) <= 40, tostring(code_lines(text)))
    local items = map_all(dir .. "/loans.lua", "loans", dir .. "/prestamos.xlsx")
    assert.are.equal(2, #items)
    for _, item in ipairs(items) do
      assert.is_nil(item.errors, item.where .. ": " .. require("cjson").encode(item.errors or {}))
      local ok, errs, warnings = kiva.validate("loan_draft", item.payload)
      assert(ok, item.where .. ": " .. require("cjson").encode(errs or {}))
      -- publish-ready but for the photo, which the export has not (it is added in PA2)
      for _, w in ipairs(warnings or {}) do
        assert.are.equal("image_encoded", w.path, require("cjson").encode(warnings))
      end
    end
    local group = items[2].payload
    assert.are.equal(dir .. "/prestamos.xlsx:4", items[2].where)
    assert.are.same({ "P-301", "P-303" }, { group.entreps[1].loan_id, group.entreps[2].loan_id })
    assert.are.equal("Grupo Las Peñas", group.group_name)
    assert.are.equal(2, #group.schedule)
  end)

  it("writes a repayments skeleton that sums a loan paid in two rows and skips the TOTAL row, as is", function()
    local dir = helper.spanish_workbooks()
    local text = init("repayments", dir .. "/pagos.xlsx", dir .. "/repayments.lua")
    assert.is_truthy(text:find('group_by = "N° Préstamo"', 1, true))
    assert.is_nil(text:find("-- TODO:", 1, true))
    assert.is_true(code_lines(text) <= 40)
    local items = map_all(dir .. "/repayments.lua", "repayments", dir .. "/pagos.xlsx")
    assert.are.equal(3, #items)
    assert.are.same({ loan_id = "P-202", client_id = "C-802", amount = 80000, date = "2026-10-12" }, items[1].payload)
    assert.are.same({ loan_id = "P-201", client_id = "C-801", amount = 200000.3, date = "2026-10-25" },
      items[2].payload)
    assert.is_true(items[3].skipped)
  end)

  it("reads the date format and the decimal mark from a CSV's samples, and never overwrites a file", function()
    local dir = helper.tmpdir()
    helper.write(dir .. "/prets.csv", "N° Prêt;N° Client;Nom complet;Sexe;Montant;Date décaissement\n"
      .. "P-1;C-1;TRAORÉ Awa;F;150 000,50;25/03/2024\nP-2;C-2;KONÉ Adèle;Femme;80 000,00;12/03/2024\n")
    local text = init("loans", dir .. "/prets.csv", dir .. "/loans.lua")
    assert.is_truthy(text:find('map.amount(r["Montant"], { decimal = "," })', 1, true))
    assert.is_truthy(text:find('map.date(row["Date décaissement"], "dd/mm/yyyy")', 1, true))
    assert.is_truthy(text:find('source = { delimiter = ";" }', 1, true))
    assert.is_truthy(text:find('ctx.language("fr")', 1, true))
    assert(loadfile(dir .. "/loans.lua", "t", setmetatable({ require = function() return {} end }, { __index = _G })))
    local r = helper.run(helper.kiva("init loans --input " .. helper.quote(dir .. "/prets.csv") .. " --out "
      .. helper.quote(dir .. "/loans.lua")))
    assert.are.equal(2, r.code)
    assert.matches("exists; not overwritten", r.err)
  end)
end)
