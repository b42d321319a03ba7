-- `kiva reconcile`: the export against the loans Kiva expects repayments for.
local helper = require "helper"
local cjson = require "cjson"

local DATA = helper.root .. "/tests/data/cli/"

describe("kiva reconcile", function()
  local sb
  setup(function() sb = helper.start_sandbox("--loans 10") end)
  teardown(function()
    if sb then sb.stop() end
    helper.cleanup()
  end)

  it("finds missing loans, loans Kiva does not expect and amounts above the price", function()
    local dir = helper.tmpdir()
    local r = helper.run(helper.kiva("reconcile --mapping " .. DATA .. "repayments.lua --input " .. DATA
      .. "reconcile.csv --report " .. dir .. "/r.json"), { env = sb.env })
    assert.equal(1, r.code, r.out .. r.err)
    assert.matches("missing%s+L000008", r.out)
    assert.matches("not_expected%s+L000009", r.out)
    assert.matches("amount_above_price%s+L000002", r.out)
    local report = cjson.decode(helper.read(dir .. "/r.json"))
    assert.equal("reconcile", report.command)
    local by = {}
    for _, f in ipairs(report.findings) do by[f.problem .. ":" .. f.loan_id] = f end
    assert.is_table(by["missing:L000008"])
    assert.equal(DATA .. "reconcile.csv:9", by["not_expected:L000009"].where)
    assert.equal(99999999, by["amount_above_price:L000002"].amount)
    assert.is_nil(by["missing:L000001"])
  end)

  it("exits 0 when the export covers exactly what Kiva expects", function()
    local dir = helper.tmpdir()
    local lines = { "LoanNo,ClientNo,Paid" }
    local loans = cjson.decode(helper.run(helper.kiva("loans --json"), { env = sb.env }).out)
    for _, l in ipairs(loans) do
      if l.status == "payingBack" or l.status == "defaulted" then
        lines[#lines + 1] = l.internal_loan_id .. "," .. l.internal_client_id .. ",1"
      end
    end
    helper.write(dir .. "/all.csv", table.concat(lines, "\n") .. "\n")
    local r = helper.run(helper.kiva("reconcile --mapping " .. DATA .. "repayments.lua --input " .. dir
      .. "/all.csv"), { env = sb.env })
    assert.equal(0, r.code, r.out .. r.err)
    assert.matches("agree", r.out)
  end)
end)
