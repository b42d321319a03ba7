-- examples/: each example's mappings map its sample input, every payload passes
-- kiva.validate, and (#sandbox) the francophone example is pushed end to end.
local helper = require "helper"
local mapping = require "kiva.mapping"
local kiva = require "kiva"
local portfolio = require "kiva.sandbox.portfolio"

-- Lookups against the sandbox's own config lists, without a server.
local function sandbox_ctx()
  return mapping.context{ fetch = function(name) return portfolio.config(name) end }
end

-- A repayment's payment date chooses the period and is not sent.
local function without_date(p)
  local copy = {}
  for k, v in pairs(p) do if k ~= "date" then copy[k] = v end end
  return copy
end

local BODY = {
  loans = function(p) return "loan_draft", p end,
  repayments = function(p) return "repayments", { repayments = { without_date(p) } } end,
  journals = function(p) return "journals", { journals = { p } } end,
}

local function map_example(script, kind, input)
  local m = assert(mapping.load(script))
  local it = assert(mapping.items(m, kind, input, { ctx = sandbox_ctx() }))
  local items = {}
  for item in it do items[#items + 1] = item end
  return items
end

local function assert_all_valid(items)
  for _, item in ipairs(items) do
    assert.is_nil(item.errors, item.where .. ": " .. require("cjson").encode(item.errors or {}))
    if item.payload then
      local ok, errs = kiva.validate(BODY[item.kind](item.payload))
      assert(ok, item.where .. ": " .. require("cjson").encode(errs or {}))
    end
  end
end

local function run_kind(items, kind)
  for _, item in ipairs(items) do item.kind = kind end
  return items
end

describe("examples", function()
  after_each(helper.cleanup)

  it("francophone: Windows-1252 ';' export with a group loan maps to valid drafts", function()
    local items = run_kind(map_example("examples/francophone/loans.lua", "loans",
      "examples/francophone/prets.csv"), "loans")
    assert.are.equal(3, #items)
    assert_all_valid(items)
    local awa = items[1].payload
    assert.are.equal("examples/francophone/prets.csv:2", items[1].where)
    assert.are.same({ client_id = "CL-0101", loan_id = "BK-2024-001", first_name = "Awa", last_name = "TRAORÉ",
      gender = "female", amount = 150000 }, awa.entreps[1])
    assert.are.equal("2024-03-05", awa.disburse_time)
    assert.are.equal("Ségou, Mali", awa.location)
    assert.matches("Ségou.\nElle", awa.description)
    local group = items[3].payload
    assert.are.equal("examples/francophone/prets.csv:4", items[3].where)
    assert.are.equal("Groupement Bénkadi", group.group_name)
    assert.are.equal("GR-07", group.internal_loan_id)
    assert.are.same({ "Adèle", "Aïssata" }, { group.entreps[1].first_name, group.entreps[2].first_name })
    assert.are.equal(2, #group.schedule)
  end)

  it("francophone: repayments and journals map and validate; a zero payment is skipped", function()
    local items = run_kind(map_example("examples/francophone/repayments.lua", "repayments",
      "examples/francophone/remboursements.csv"), "repayments")
    assert.are.equal(4, #items)
    assert_all_valid(items)
    assert.are.same({ loan_id = "BK-2023-101", client_id = "CL-0088", amount = 25000, date = "2024-02-28" },
      items[1].payload)
    assert.is_true(items[4].skipped)
    local journals = run_kind(map_example("examples/francophone/journals.lua", "journals",
      "examples/francophone/journaux.csv"), "journals")
    assert_all_valid(journals)
    assert.are.equal("Des nouvelles de Fatoumata", journals[1].payload.subject)
  end)

  it("fineract: loan and repayment reports map to valid payloads", function()
    local items = run_kind(map_example("examples/fineract/loans.lua", "loans", "examples/fineract/loans.csv"), "loans")
    assert.are.equal(3, #items)
    assert_all_valid(items)
    assert.are.equal(12500.5, items[3].payload.entreps[1].amount)
    assert.are.equal("Dasmariñas, Philippines", items[3].payload.location)
    assert.are.equal("Rosalinda", items[1].payload.entreps[1].first_name)
    local reps = run_kind(map_example("examples/fineract/repayments.lua", "repayments",
      "examples/fineract/repayments.csv"), "repayments")
    assert_all_valid(reps)
    assert.are.equal(1250, reps[1].payload.amount)
    assert.is_true(reps[3].skipped)
  end)

  it("sqlite: the database built from mis.sql maps to valid payloads", function()
    local dir = helper.tmpdir()
    local db = dir .. "/mis.sqlite3"
    local r = helper.run(helper.lua .. " examples/sqlite/build_db.lua " .. helper.quote(db))
    assert.are.equal(0, r.code, r.err)
    local items = run_kind(map_example("examples/sqlite/loans.lua", "loans", db), "loans")
    assert.are.equal(2, #items)
    assert_all_valid(items)
    assert.are.equal(3, #items[1].payload.schedule)
    assert.are.equal(2000.5, items[2].payload.entreps[1].amount)
    local reps = run_kind(map_example("examples/sqlite/repayments.lua", "repayments", db), "repayments")
    assert_all_valid(reps)
    assert.are.same({ loan_id = "PR-0900", client_id = "CLI-250", amount = 250.5 }, reps[1].payload)
  end)

  it("francophone: pushed to the sandbox, every item is accepted #sandbox", function()
    local sb = helper.start_sandbox("--portfolio examples/francophone/portfolio.json")
    local dir = helper.tmpdir()
    local ok, err = pcall(function()
      for _, job in ipairs({ { "loans", "loans", "prets" }, { "repayments", "repayments", "remboursements" },
          { "journals", "journals", "journaux" } }) do
        local r = helper.run(helper.kiva(string.format("push %s --ledger %s/ledger.sqlite3"
          .. " --mapping examples/francophone/%s.lua --input examples/francophone/%s.csv%s",
          job[1], dir, job[2], job[3], job[1] == "repayments" and " --period 2026-10" or "")), { env = sb.env })
        assert.are.equal(0, r.code, r.out .. r.err)
      end
      local state = helper.run("curl -s " .. sb.url .. "/__sandbox/state").out
      local s = require("cjson").decode(state)
      assert.are.equal(3, #s.loan_drafts)
      assert.are.equal(3, #s.repayments)
      assert.are.equal(1, #s.journals)
      assert.are.equal(0, s.duplicates)
    end)
    sb.stop()
    assert(ok, err)
  end)

  it("make demo runs every step of every example, each exiting 0 (finding 1) #sandbox", function()
    local r = helper.run(helper.lua .. " examples/demo.lua")
    assert.are.equal(0, r.code, r.out .. r.err)
    local loans, dirs = 0, 0
    for _ in r.out:gmatch("\n== [^\n]-: kiva push loans") do loans = loans + 1 end
    for name in io.popen("ls -1 examples"):lines() do
      if name ~= "demo.lua" and name ~= "README.md" then dirs = dirs + 1 end
    end
    assert.are.equal(dirs, loans, r.out)
    assert.matches("demo: all %d+ step%(s%) of " .. dirs .. " example%(s%) ran and exited 0", r.out)
    assert.not_matches("duplicate%(s%)", r.out:match("Sandbox state:[^\n]*"):gsub(" 0 duplicate", ""))
  end)

  it("make demo fails when an example cannot run: no manifest, a mapping that does not load #sandbox", function()
    local dir = helper.tmpdir()
    assert(os.execute("mkdir -p " .. dir .. "/good " .. dir .. "/broken " .. dir .. "/bare"
      .. " && cp examples/fineract/loans.lua examples/fineract/loans.csv examples/fineract/loan_schedule.csv "
      .. "examples/fineract/portfolio.json "
      .. dir .. "/good/ && cp examples/fineract/loans.csv " .. dir .. "/broken/"))
    helper.write(dir .. "/good/demo.lua", 'return { loans = { mapping = "loans.lua", input = "loans.csv" } }')
    helper.write(dir .. "/broken/demo.lua", 'return { loans = { mapping = "loans.lua", input = "loans.csv" } }')
    helper.write(dir .. "/broken/loans.lua", 'local map = require "kiva.map"\nreturn { loan_draft = ')
    local r = helper.run(helper.lua .. " examples/demo.lua", { env = { KIVA_DEMO_EXAMPLES = dir } })
    assert.are.equal(1, r.code, r.out .. r.err)
    assert.matches("== good: kiva push loans", r.out)
    assert.matches("demo FAILED: 1 step%(s%) run, 2 problem%(s%)", r.out)
    assert.matches("bare: not run: no demo.lua", r.out)
    assert.matches("broken: not run: loans: .*loans.lua", r.out)
  end)

  it("excel-es: the Spanish workbooks map to valid drafts and one repayment per loan", function()
    local dir = helper.spanish_workbooks()
    local items = run_kind(map_example("examples/excel-es/loans.lua", "loans", dir .. "/prestamos.xlsx"), "loans")
    assert.are.equal(2, #items)
    assert_all_valid(items)
    assert.are.equal(2, #items[2].payload.entreps)
    assert.are.equal(2, #items[2].payload.schedule)
    local reps = run_kind(map_example("examples/excel-es/repayments.lua", "repayments", dir .. "/pagos.xlsx"),
      "repayments")
    assert_all_valid(reps)
    assert.are.same({ loan_id = "P-201", client_id = "C-801", amount = 200000.3, date = "2026-10-25" },
      reps[2].payload)
    assert.is_true(reps[3].skipped)
    for _, file in ipairs({ "loans.lua", "repayments.lua" }) do
      local n = 0
      for _ in io.lines("examples/excel-es/" .. file) do n = n + 1 end
      assert.is_true(n <= 40, file .. ": " .. n .. " lines")
    end
  end)

  it("a dry run without credentials that needs Kiva's lists stops once, exit 2, saying how (finding 7)", function()
    local dir = helper.spanish_workbooks()
    local r = helper.run(helper.kiva("push loans --dry-run --out " .. helper.quote(dir .. "/out")
      .. " --mapping examples/excel-es/loans.lua --input " .. helper.quote(dir .. "/prestamos.xlsx")),
      { env = { XDG_CACHE_HOME = dir, XDG_STATE_HOME = dir } })
    assert.are.equal(2, r.code, r.out .. r.err)
    local text = r.out .. r.err
    local _, count = text:gsub("needs credentials even for a dry run", "")
    assert.is_true(count >= 1 and count <= 2, text)   -- the summary's "Stopped:" and the error line
    assert.matches("KIVA_CLIENT_ID", text)
    assert.is_nil(text:find("could not fetch", 1, true))
  end)
end)
