-- tests/run.sh, the runner behind `make test`: a test left pending is a failure, so
-- a renamed module or a guard cannot turn a spec into silence.
local helper = require "helper"

-- run.sh with luacheck stubbed by `true` and a busted stand-in printing `summary`.
local function run_with(summary)
  local dir = helper.tmpdir()
  local busted = helper.write(dir .. "/busted.lua", "print(" .. string.format("%q", summary) .. ")\n")
  return helper.run("sh tests/run.sh " .. helper.quote(dir) .. " lua5.4 " .. helper.quote(busted) .. " true",
    { cwd = helper.root })
end

describe("tests/run.sh", function()
  after_each(helper.cleanup)

  it("passes when every test ran and passed", function()
    local r = run_with("3 successes / 0 failures / 0 errors / 0 pending : 0.1 seconds")
    assert.equal(0, r.code, r.out)
    assert.matches("4 passed, 0 failed\n$", r.out)
  end)

  it("fails when a test is pending, and says so", function()
    local r = run_with("3 successes / 0 failures / 0 errors / 2 pending : 0.1 seconds")
    assert.is_not.equal(0, r.code)
    assert.matches("2 pending: every test must run", r.out)
    assert.matches("4 passed, 2 failed\n$", r.out)
  end)

  it("fails when busted did not finish", function()
    local r = run_with("lua5.4: error loading module")
    assert.is_not.equal(0, r.code)
    assert.matches("busted did not finish", r.out)
  end)
end)
