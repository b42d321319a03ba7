-- kiva.cli_start: `kiva inspect` and `kiva init` as kiva.cli registers them, called
-- with the printing functions the CLI gives (the commands end to end: inspect_spec,
-- scaffold_spec).
local helper = require "helper"
local argparse = require "argparse"
local cli_start = require "kiva.cli_start"

local function parse(argv)
  local p = argparse("kiva")
  p:command_target("command")
  cli_start.add_commands(p, function(c) return c end)
  return p:parse(argv)
end

local function call(argv)
  local args = parse(argv)
  local printed, failed = {}, nil
  local code = cli_start[args.command](args, function(...) printed[#printed + 1] = table.concat({ ... }) end,
    function(err) failed = err return 1 end)
  return code, table.concat(printed), failed
end

describe("kiva.cli_start", function()
  after_each(helper.cleanup)

  it("inspects an export with the reading options given", function()
    local code, text = call({ "inspect", "tests/data/source/fr_win1252.csv", "--delimiter", ";",
      "--encoding", "windows-1252", "--rows", "1" })
    assert.equal(0, code)
    assert.truthy(text:find("N° Prêt", 1, true))
  end)

  it("writes a mapping skeleton, never over an existing file", function()
    local out = helper.tmpdir() .. "/loans.lua"
    local code, text = call({ "init", "loans", "--input", "tests/data/source/fr_win1252.csv", "--out", out })
    assert.equal(0, code)
    assert.matches("Wrote .*loans%.lua", text)
    assert.is_function(loadfile(out))
    local code2, _, err = call({ "init", "loans", "--input", "tests/data/source/fr_win1252.csv", "--out", out })
    assert.equal(1, code2)
    assert.equal("usage", err.kind)
    assert.matches("not overwritten", err.message)
  end)

  it("passes an input that cannot be read to the CLI's fail", function()
    local code, _, err = call({ "inspect", "/nonexistent/x.csv" })
    assert.equal(1, code)
    assert.equal("input", err.kind)
  end)
end)
