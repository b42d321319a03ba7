-- kiva.mapping: loading scripts, running rows, group loans, joins, lookups, and
-- how partner mistakes (a bad value, a Lua error, an endless loop) are reported.
local helper = require "helper"
local mapping = require "kiva.mapping"

local DATA = "tests/data/source/"

local function script(dir, text)
  local path = dir .. "/mapping.lua"
  helper.write(path, text)
  return path
end

local function collect(m, kind, input, opts)
  local it, err = mapping.items(m, kind, input, opts)
  assert(it, err and err.message)
  local out = {}
  for item in it do out[#out + 1] = item end
  return out
end

local ACTIVITIES = { { activity_id = 61, activity = "Agriculture" }, { activity_id = 73, activity = "Épicerie" },
  { activity_id = 12, activity = "Food Market" }, { activity_id = 14, activity = "Fruits & Vegetables" } }
local LISTS = {
  activities = ACTIVITIES,
  themes = { themes = { { theme_type_id = 3, theme_type = "Women" } } },
  locales = { { language_id = 2, language_code = "fr", language_name = "French", currency = "XOF" } },
  locations = { { country = "Mali", location = "Ségou", full_name = "Ségou, Mali" } },
}

describe("kiva.mapping.load", function()
  after_each(helper.cleanup)

  it("returns the script's table with its path", function()
    local path = script(helper.tmpdir(), "return { repayment = function(row) return row end }")
    local m = assert(mapping.load(path))
    assert.are.equal(path, m.path)
    assert.are.equal("function", type(m.repayment))
  end)

  it("reports a syntax error or a runtime error with the script's file:line", function()
    local dir = helper.tmpdir()
    local path = script(dir, "return {\n  loan_draft = function(row) return { end,\n}\n")
    local m, err = mapping.load(path)
    assert.is_nil(m)
    assert.are.equal("input", err.kind)
    assert.are.equal(path .. ":2", err.where)
    path = script(dir, "local x = nil\nreturn x.y\n")
    m, err = mapping.load(path)
    assert.is_nil(m)
    assert.are.equal(path .. ":2", err.where)
    path = script(dir, "return 42")
    m, err = mapping.load(path)
    assert.is_nil(m)
    assert.matches("must return a table", err.message)
  end)
end)

describe("kiva.mapping.items", function()
  after_each(helper.cleanup)

  it("maps each row, with where = file:line and the script's source defaults", function()
    local path = script(helper.tmpdir(), [[
      local map = require "kiva.map"
      return {
        source = { delimiter = ";", encoding = "windows-1252" },
        repayment = function(row) return { loan_id = row["N° Prêt"], amount = map.amount(row.Montant) } end,
      }]])
    local m = assert(mapping.load(path))
    local items = collect(m, "repayments", DATA .. "fr_win1252.csv")
    assert.are.equal(4, #items)
    assert.are.same({ loan_id = "P-001", amount = 1250.5 }, items[1].payload)
    assert.are.equal(DATA .. "fr_win1252.csv:2", items[1].where)
    assert.are.same({ loan_id = "P-002", amount = 75000 }, items[2].payload)
    -- "€ 10" cannot be read: the row is reported with its column, not sent
    assert.is_nil(items[4].payload)
    assert.are.equal("Montant", items[4].errors[1].path)
    assert.matches("not a number", items[4].errors[1].message)
  end)

  it("reports a helper failure even when the script supplies a fallback", function()
    local path = script(helper.tmpdir(), [[
      local map = require "kiva.map"
      return { repayment = function(row)
        return { loan_id = row["N° Prêt"], amount = map.amount(row.Montant) or 0 }
      end }]])
    local items = collect(assert(mapping.load(path)), "repayments", DATA .. "fr_win1252.csv")
    assert.is_nil(items[4].payload)
    assert.are.equal("Montant", items[4].errors[1].path)
  end)

  it("reports a Lua error with the row's file:line and the script's line, and goes on", function()
    local path = script(helper.tmpdir(), [[
return {
  repayment = function(row)
    if row.Sexe == "Femme" then
      return { loan_id = row.Sexe:nothing() }
    end
    return { loan_id = row["N° Prêt"] }
  end,
}]])
    local items = collect(assert(mapping.load(path)), "repayments", DATA .. "fr_win1252.csv")
    assert.are.equal(4, #items)
    assert.are.equal(DATA .. "fr_win1252.csv:3", items[2].where)
    assert.matches("mapping%.lua:4: attempt to call a nil value %(method 'nothing'%)", items[2].errors[1].message)
    assert.are.equal("P-003", items[3].payload.loan_id)
  end)

  it("marks rows the script returns nil for as skipped, and bad rows as errors", function()
    local path = script(helper.tmpdir(), [[
      return { repayment = function(row) if row.a ~= "1" then return { loan_id = row.a } end end }]])
    local items = collect(assert(mapping.load(path)), "repayments", DATA .. "ragged.csv")
    assert.is_true(items[1].skipped)
    assert.are.equal(DATA .. "ragged.csv:3", items[2].where)
    assert.matches("2 cells where the header has 3", items[2].errors[1].message)
    assert.are.equal("6", items[3].payload.loan_id)
  end)

  it("stops a row that runs too long and goes on with the next", function()
    local path = script(helper.tmpdir(), [[
      return { repayment = function(row) if row.a == "1" then while true do end end return { loan_id = row.a } end }]])
    local items = collect(assert(mapping.load(path)), "repayments", DATA .. "lf_only.csv", { row_time_limit = 0.2 })
    assert.matches("longer than 0.2 s", items[1].errors[1].message)
    assert.matches("mapping%.lua:1:", items[1].errors[1].message)
    assert.are.equal("3", items[2].payload.loan_id)
    assert.is_nil(debug.gethook())
  end)

  it("says so when the script lacks the function for the kind", function()
    local path = script(helper.tmpdir(), "return { repayment = function() end }")
    local it, err = mapping.items(assert(mapping.load(path)), "journals", DATA .. "lf_only.csv")
    assert.is_nil(it)
    assert.matches("no journal function", err.message)
  end)
end)

describe("kiva.mapping group loans", function()
  after_each(helper.cleanup)

  it("gives rows sharing group_by to one draft in file order, even when not adjacent", function()
    local dir = helper.tmpdir()
    local input = dir .. "/loans.csv"
    helper.write(input, "loan,group,name\n1,G1,Awa\n2,,Bintou\n3,G2,Chata\n4,G1,Djeneba\n5,G2,Esther\n6,G1,Fanta\n")
    local path = script(dir, [[
      return { group_by = "group", loan_draft = function(rows)
        local names = {}
        for i, r in ipairs(rows) do names[i] = r.name end
        return { group = rows[1].group, names = table.concat(names, ","), n = #rows }
      end }]])
    local items = collect(assert(mapping.load(path)), "loans", input)
    assert.are.equal(3, #items)
    assert.are.same({ group = "", names = "Bintou", n = 1 }, items[1].payload)
    assert.are.equal(input .. ":3", items[1].where)
    assert.are.same({ group = "G2", names = "Chata,Esther", n = 2 }, items[2].payload)
    assert.are.equal(input .. ":4", items[2].where)
    assert.are.same({ group = "G1", names = "Awa,Djeneba,Fanta", n = 3 }, items[3].payload)
    assert.are.equal(input .. ":2", items[3].where)
  end)

  -- rows of their own, a group of adjacent rows, two interleaved groups, a bad record
  local MIXED = "loan,group,name\n1,,Awa\n2,G1,Bintou\n3,G1,Chata\n4,G2,Djeneba\n5,,Esther\n"
    .. "6,G3,Fanta\n7,G2,Gnima\n8,x,y,z\n9,G3,Hawa\n10,,Inna\n"
  local MIXED_SCRIPT = [[
    return { group_by = "group", loan_draft = function(rows)
      local names = {}
      for i, r in ipairs(rows) do names[i] = r.name end
      return { names = table.concat(names, ",") }
    end }]]

  -- The items of MIXED as "where names|error", one per item.
  local function mixed_items(dir)
    local input = dir .. "/loans.csv"
    helper.write(input, MIXED)
    local out = {}
    for _, item in ipairs(collect(assert(mapping.load(script(dir, MIXED_SCRIPT))), "loans", input)) do
      out[#out + 1] = item.where:match("[^/]*$") .. " " .. (item.payload and item.payload.names
        or item.errors[1].message:match("%d+ cells where the header has %d+"))
    end
    return out
  end

  it("gives each group at its last row with its first row's where, whether held in memory or kept on disk",
      function()
    local groupstore = require "kiva.groupstore"
    local expected = { "loans.csv:2 Awa", "loans.csv:3 Bintou,Chata", "loans.csv:6 Esther",
      "loans.csv:5 Djeneba,Gnima", "loans.csv:9 4 cells where the header has 3", "loans.csv:7 Fanta,Hawa",
      "loans.csv:11 Inna" }
    -- a CSV file read twice, the groups held in memory
    assert.are.same(expected, mixed_items(helper.tmpdir()))
    -- groups too spread out to be held: the store on disk, the same items
    local hold = groupstore.HOLD_MAX
    groupstore.HOLD_MAX = 1
    local ok, got = pcall(mixed_items, helper.tmpdir())
    groupstore.HOLD_MAX = hold
    assert(ok, got)
    assert.are.same(expected, got)
    -- too many groups for the first reading to keep: the store too
    local max = mapping.MAX_GROUPS
    mapping.MAX_GROUPS = 2
    ok, got = pcall(mixed_items, helper.tmpdir())
    mapping.MAX_GROUPS = max
    assert(ok, got)
    assert.are.same(expected, got)
  end)

  it("stops once on a misspelt column in a group loan's rows", function()
    local dir = helper.tmpdir()
    local input = dir .. "/loans.csv"
    helper.write(input, MIXED)
    local path = script(dir, [[return { group_by = "group", loan_draft = function(rows)
      return { name = rows[#rows].nmae } end }]])
    local items = collect(assert(mapping.load(path)), "loans", input)
    assert.are.equal(1, #items)
    assert.matches("loans%.csv:2: no column 'nmae'; columns like it: 'name'", items[1].fatal.message)
  end)

  it("reports a group_by column the input does not have", function()
    local dir = helper.tmpdir()
    local path = script(dir, [[return { group_by = "Groupe", loan_draft = function() end }]])
    local it, err = mapping.items(assert(mapping.load(path)), "loans", DATA .. "lf_only.csv")
    assert.is_nil(it)
    assert.matches("no column 'Groupe'", err.message)
  end)
end)

describe("kiva.mapping ctx", function()
  after_each(helper.cleanup)

  local function fetcher(calls)
    return function(name)
      calls[name] = (calls[name] or 0) + 1
      return LISTS[name]
    end
  end

  it("resolves names without regard to case and accents, fetching each list once", function()
    local calls = {}
    local ctx = mapping.context{ fetch = fetcher(calls) }
    assert.are.equal(73, ctx.activity("epicerie"))
    assert.are.equal(73, ctx.activity("  ÉPICERIE "))
    assert.are.equal(61, ctx.activity("agriculture"))
    assert.are.equal(3, ctx.theme("women"))
    assert.are.equal(2, ctx.language("FR"))
    assert.are.equal(2, ctx.language("french"))
    assert.are.equal("Ségou, Mali", ctx.location("segou"))
    assert.are.equal("Ségou, Mali", ctx.location("Ségou, Mali"))
    assert.are.same({ activities = 1, themes = 1, locales = 1, locations = 1 }, calls)
  end)

  it("names the nearest candidates when nothing matches", function()
    local ctx = mapping.context{ fetch = fetcher({}) }
    local v, msg = ctx.activity("Fruit")
    assert.is_nil(v)
    assert.matches("^no activity named 'Fruit'; nearest: 'Fruits & Vegetables'", msg)
  end)

  it("caches the lists on disk for max_age", function()
    local dir = helper.tmpdir()
    local cache = dir .. "/config-cache.json"
    local calls = {}
    assert.are.equal(61, mapping.context{ fetch = fetcher(calls), cache_file = cache }.activity("Agriculture"))
    local offline = mapping.context{ cache_file = cache, fetch = function() return nil, { message = "down" } end }
    assert.are.equal(61, offline.activity("Agriculture"))
    local stale = mapping.context{ cache_file = cache, max_age = 0, fetch = fetcher(calls) }
    assert.are.equal(61, stale.activity("Agriculture"))
    assert.are.equal(2, calls.activities)
  end)

  it("reports a list it cannot fetch", function()
    local ctx = mapping.context{ fetch = function() return nil, { kind = "network", message = "refused" } end }
    local v, msg = ctx.theme("Women")
    assert.is_nil(v)
    assert.matches("could not fetch the themes list: refused", msg)
  end)

  it("records a failed lookup against the row, with the column", function()
    local dir = helper.tmpdir()
    local input = dir .. "/loans.csv"
    helper.write(input, "loan,sector\n1,Agriculture\n2,Astronomy\n")
    local path = script(dir, [[
      return { loan_draft = function(row, ctx) return { activity_id = ctx.activity(row.sector) } end }]])
    local items = collect(assert(mapping.load(path)), "loans", input, { ctx = mapping.context{ fetch = fetcher({}) } })
    assert.are.same({ activity_id = 61 }, items[1].payload)
    assert.are.equal("sector", items[2].errors[1].path)
    assert.matches("no activity named 'Astronomy'", items[2].errors[1].message)
  end)

  it("joins a second file by key, next to the input", function()
    local dir = helper.tmpdir()
    os.execute("cp " .. DATA .. "schedule.csv " .. DATA .. "fr_win1252.csv " .. dir)
    local path = script(dir, [[
      local map = require "kiva.map"
      return { loan_draft = function(row, ctx)
        local schedule = {}
        for _, s in ipairs(ctx.join("schedule.csv", "loan")(row["N° Prêt"])) do
          schedule[#schedule + 1] = { date = map.date(s.date, "dd/mm/yyyy"), principal = map.amount(s.principal) }
        end
        return { id = row["N° Prêt"], schedule = schedule }
      end }]])
    local items = collect(assert(mapping.load(path)), "loans", dir .. "/fr_win1252.csv")
    assert.are.same({ { date = "2024-04-05", principal = 625.25 }, { date = "2024-05-05", principal = 625.25 } },
      items[1].payload.schedule)
    assert.are.same({}, items[2].payload.schedule)
  end)
end)

-- Issue 16, case 9: a mapping script stays in its box. Each escape is tried on the
-- first row (a == "1"); the error names that row and the next row maps normally.
describe("kiva.mapping's box for scripts", function()
  local script_env = require "kiva.script_env"
  after_each(helper.cleanup)

  local function first_row_does(body, opts)
    local path = script(helper.tmpdir(), "return { repayment = function(row)\n  if row.a == '1' then\n" .. body
      .. "\n  end\n  return { loan_id = row.a }\nend }\n")
    local items = collect(assert(mapping.load(path)), "repayments", DATA .. "lf_only.csv", opts)
    assert.are.equal(2, #items)
    assert.are.equal(DATA .. "lf_only.csv:2", items[1].where)
    assert.are.equal("3", items[2].payload.loan_id)
    return items[1].errors and items[1].errors[1].message, items[1]
  end

  it("has no os.exit, os.execute or os.remove", function()
    for _, call in ipairs { "os.exit(0)", "os.execute('true')", "os.remove('x')" } do
      local message = first_row_does(call)
      assert.matches(call:match("^[%w.]+"):gsub("%.", "%%.") .. " is not available to a mapping script", message)
    end
  end)

  it("hands print and io.write to on_output, with the row, one line each, escaped", function()
    local seen = {}
    local message, item = first_row_does("print('a', 1) io.write('\\nFORGED: all sent\\n\\27[2J')",
      { on_output = function(text, where) seen[#seen + 1] = where .. " " .. text end })
    assert.is_nil(message)
    assert.are.equal("1", item.payload.loan_id)
    assert.are.same({ DATA .. "lf_only.csv:2 a\t1", DATA .. "lf_only.csv:2 FORGED: all sent",
      DATA .. "lf_only.csv:2 \\027[2J" }, seen)
  end)

  it("keeps debug out of reach: no sethook through debug, require or package.loaded", function()
    local message = first_row_does([[
      assert(debug.sethook == nil and debug.getupvalue == nil and debug.getregistry == nil, "debug")
      assert(require("debug").sethook == nil, "require")
      assert(package == nil, "package")
      assert(getmetatable("").__index.dump == nil, "string.dump")
      error("box held")]])
    assert.matches("box held", message)
  end)

  it("stops a row whose time is caught by pcall, and names the row's script line", function()
    local message = first_row_does("while true do pcall(function() while true do end end) end",
      { row_time_limit = 0.2 })
    assert.matches("longer than 0.2 s of CPU on this row", message)
    assert.matches("mapping%.lua:%d+:", message)
    assert.is_nil(debug.gethook())
  end)

  it("stops an endless loop in a coroutine the script made, caught or not", function()
    for _, code in ipairs({
      "coroutine.wrap(function() while true do end end)()",
      "coroutine.resume(coroutine.create(function() while true do end end))",
      "pcall(coroutine.wrap(function() while true do end end)) while true do end",
    }) do
      local message = first_row_does(code, { row_time_limit = 0.2 })
      assert.matches("longer than 0.2 s of CPU on this row", message, code)
      assert.is_nil(debug.gethook())
    end
  end)

  it("keeps coroutine.wrap's errors as Lua gives them", function()
    local message = first_row_does("coroutine.wrap(function() error('inner') end)()")
    assert.matches("mapping%.lua:3: [^ ]*mapping%.lua:3: inner$", message)
    message = first_row_does("local f = coroutine.wrap(function() coroutine.yield(1) end) "
      .. "assert(f() == 1) f() f()")
    assert.matches("cannot resume dead coroutine", message)
  end)

  it("stops a pattern match that would backtrack for hours, before it starts", function()
    local message = first_row_does("string.rep('a', 100000):find('a.-a.-a.-a.-b')")
    assert.matches("string%.find: the pattern 'a%.%-a%.%-a%.%-a%.%-b' on a 100000%-byte string", message)
  end)

  it("refuses finalizers (Lua runs them outside any hook)", function()
    local message = first_row_does("setmetatable({}, { __gc = function() while true do end end })")
    assert.matches("finalizers", message)
  end)

  it("caps the memory a run may take, reporting the row, and the next row still maps", function()
    local cap = script_env.MEMORY_CAP
    script_env.MEMORY_CAP = 32 * 1024 * 1024
    local ok, message = pcall(first_row_does, "local t = {} while true do t[#t + 1] = ('x'):rep(1000) .. #t end")
    script_env.MEMORY_CAP = cap
    assert(ok, message)
    assert.matches("more than 32 MiB of memory", message)
  end)

  it("counts what the script keeps across rows, not what the host keeps", function()
    local dir = helper.tmpdir()
    local lines = { "a" }
    for i = 1, 60 do lines[#lines + 1] = tostring(i) end
    local input = helper.write(dir .. "/rows.csv", table.concat(lines, "\n") .. "\n")
    local cap = script_env.MEMORY_CAP
    script_env.MEMORY_CAP = 32 * 1024 * 1024
    local ok, err = pcall(function()
      -- the host keeps 2 MiB per row (64 MiB by the end): the script keeps nothing
      local path = script(dir, "return { repayment = function(row) return { loan_id = row.a } end }")
      local kept = {}
      for item in assert(mapping.items(assert(mapping.load(path)), "repayments", input)) do
        assert(item.payload, item.errors and item.errors[1].message)
        kept[#kept + 1] = string.rep(item.payload.loan_id, 2 * 1024 * 1024 // #item.payload.loan_id)
      end
      assert.are.equal(60, #kept)
      -- the script keeps 1 MiB per row: refused once that passes the cap, naming the row
      path = script(dir, "local hoard = {}\nreturn { repayment = function(row)\n"
        .. "  hoard[#hoard + 1] = ('x'):rep(1024 * 1024 - 1) .. row.a\n  return { loan_id = row.a } end }")
      local first_bad
      for item in assert(mapping.items(assert(mapping.load(path)), "repayments", input)) do
        if item.errors and not first_bad then first_bad = item end
      end
      assert.is_table(first_bad, "the script kept 60 MiB under a 32 MiB cap")
      assert.matches("more than 32 MiB of memory", first_bad.errors[1].message)
      local n = tonumber(first_bad.where:match(":(%d+)$"))
      assert.is_true(n > 20 and n < 40, first_bad.where)
    end)
    script_env.MEMORY_CAP = cap
    assert(ok, err)
  end)
end)

describe("kiva.mapping: what a new user gets wrong", function()
  after_each(helper.cleanup)

  local function csv(dir, text)
    local path = dir .. "/pagos.csv"
    helper.write(path, text)
    return path
  end

  it("stops once on a misspelt column, naming the columns like it (finding 3)", function()
    local dir = helper.tmpdir()
    local input = csv(dir, "Préstamo,Monto Desembolsado,Fecha\nP-1,100,2026-10-01\nP-2,200,2026-10-02\n")
    local path = script(dir, [[
      local map = require "kiva.map"
      return { loan_draft = function(row)
        return { entreps = { { loan_id = row["Préstamo"], amount = map.amount(row["Monto Desembolsdo"]) } } }
      end }]])
    local items = collect(assert(mapping.load(path)), "loans", input)
    assert.are.equal(1, #items)
    assert.are.equal("input", items[1].fatal.kind)
    assert.are.equal(input .. ":2", items[1].where)
    assert.matches("no column 'Monto Desembolsdo'; columns like it: 'Monto Desembolsado'", items[1].fatal.message)
    -- rawget reads a column that may be absent without stopping the run
    path = script(dir, [[return { loan_draft = function(row)
      return { note = rawget(row, "Nota"), loan = rawget(row, "Préstamo") } end }]])
    local rows = collect(assert(mapping.load(path)), "loans", input)
    assert.are.equal(2, #rows)
    assert.is_nil(rows[1].errors)
    assert.are.same({ loan = "P-1" }, rows[1].payload)
  end)

  it("says a group_by column is missing for a wrong delimiter or encoding; a reading problem first", function()
    local dir = helper.tmpdir()
    local path = script(dir, [[return { group_by = "N° Groupe", loan_draft = function() end }]])
    local m = assert(mapping.load(path))
    local input = csv(dir, "N° Prêt;N° Groupe\nP-1;G-1\n")
    local it, err = mapping.items(m, "loans", input, { source = { delimiter = "," } })
    assert.is_nil(it)
    assert.matches("no column 'N° Groupe'; columns like it: 'N° Prêt;N° Groupe'; the header reads as one"
      .. " column: the delimiter may be wrong %(try source = { delimiter = \";\" }%)", err.message)
    it, err = mapping.items(m, "loans", DATA .. "fr_win1252.csv", { source = { encoding = "utf-8" } })
    assert.is_nil(it)
    assert.matches("fr_win1252.csv:1: invalid UTF%-8", err.message)
    helper.write(dir .. "/mojibake.csv", "N\195\131\194\176 Groupe;Nom\nG-1;Awa\n")
    it, err = mapping.items(m, "loans", dir .. "/mojibake.csv")
    assert.is_nil(it)
    assert.matches("the encoding may be wrong", err.message)
  end)

  it("records a helper's failure with its message and column (finding 4)", function()
    local dir = helper.tmpdir()
    local input = csv(dir, "loan,disbursed,paid\nP-1,2026-09-19,10\nP-2,46300,1\n")
    local path = script(dir, [[
      local map = require "kiva.map"
      return { loan_draft = function(row)
        return { disburse_time = map.from_excel(row.disbursed), loan_id = row.loan }
      end }]])
    local items = collect(assert(mapping.load(path)), "loans", input)
    assert.are.same({ { path = "disbursed", message = "date '2026-09-19' is not an Excel serial date" } },
      items[1].errors)
    assert.are.equal("2026-10-05", items[2].payload.disburse_time)
    -- the module's own helpers, outside a run, record nothing and keep no state
    local map = require "kiva.map"
    assert.is_nil(map.on_failure)
    assert.is_nil(map.date("31/02/2026", "jj/mm/aaaa"))
  end)

  it("gives a repayment function one loan's rows with group_by, summed exactly; items count rows (5, 8)", function()
    local dir = helper.tmpdir()
    local input = csv(dir, "loan,client,paid\nP-1,C-1,0.1\nP-2,C-2,5\nP-1,C-1,0.2\nTOTAL,,5.3\n")
    local path = script(dir, [[
      local map = require "kiva.map"
      return { group_by = { repayments = "loan" }, repayment = function(rows)
        if rows[1].loan == "TOTAL" then return nil end
        local paid = {}
        for i, row in ipairs(rows) do paid[i] = row.paid end
        return { loan_id = rows[1].loan, client_id = rows[1].client, amount = map.sum(paid) }
      end }]])
    local items = collect(assert(mapping.load(path)), "repayments", input)
    assert.are.equal(3, #items)
    assert.are.same({ loan_id = "P-2", client_id = "C-2", amount = 5 }, items[1].payload)
    assert.are.same({ loan_id = "P-1", client_id = "C-1", amount = 0.3 }, items[2].payload)
    assert.are.equal(input .. ":2", items[2].where)
    assert.are.equal(2, items[2].rows)
    assert.is_true(items[3].skipped)
    assert.are.equal(1, items[3].rows)
  end)

  it("gives the mapping ctx.input and ctx.period (finding 6)", function()
    local dir = helper.tmpdir()
    local input = csv(dir, "loan\nP-1\n")
    local path = script(dir, [[
      return { repayment = function(row, ctx)
        return { loan_id = row.loan, input = ctx.input, period = ctx.period }
      end }]])
    local items = collect(assert(mapping.load(path)), "repayments", input, { period = "2026-10" })
    assert.are.same({ loan_id = "P-1", input = input, period = "2026-10" }, items[1].payload)
  end)

  it("stops once with a configuration error when Kiva's lists need missing credentials (finding 7)", function()
    local dir = helper.tmpdir()
    local input = csv(dir, "loan,sector\nP-1,Agriculture\nP-2,Retail\n")
    local path = script(dir, [[
      return { loan_draft = function(row, ctx) return { activity_id = ctx.activity(row.sector) } end }]])
    local ctx = mapping.context{ fetch = function()
      return nil, { kind = "config", message = "looking up activities needs Kiva's lists: set credentials" }
    end }
    local items = collect(assert(mapping.load(path)), "loans", input, { ctx = ctx })
    assert.are.equal(1, #items)
    assert.are.equal("config", items[1].fatal.kind)
    assert.matches("needs credentials even for a dry run: set KIVA_CLIENT_ID and KIVA_CLIENT_SECRET",
      items[1].fatal.message)
    assert.matches("kiva sandbox", items[1].fatal.message)
    -- the lists cached on disk are enough: no credentials needed
    local cache = dir .. "/cache.json"
    helper.write(cache, require("cjson").encode({ activities = { fetched_at = os.time(), list = ACTIVITIES } }))
    items = collect(assert(mapping.load(path)), "loans", input, { ctx = mapping.context{ cache_file = cache } })
    assert.are.same({ activity_id = 61 }, items[1].payload)
  end)
end)
