-- kiva.script_env: the box a mapping script runs in (the runner's use of it, with
-- limits and rows, is in mapping_spec; here the box itself).
local script_env = require "kiva.script_env"

-- Runs `code` as a chunk in a new box; returns ok, results or message, and what it printed.
local function run(code)
  local box = script_env.new()
  local printed = {}
  box.output = function(text) printed[#printed + 1] = text end
  box:set_limits(5, script_env.MEMORY_CAP)
  local chunk = assert(load(code, "=script", "t", box.env))
  local results = table.pack(box:call(chunk))
  return results, printed
end

describe("kiva.script_env", function()
  it("gives a script no way to end the run, run programs or reach the hooks", function()
    for _, call in ipairs({ "os.exit(0)", "os.execute('true')", "os.remove('x')" }) do
      local r = run(call)
      assert.is_false(r[1], call)
      assert.matches("is not available to a mapping script", r[2])
    end
    local r = run("return package, debug.sethook, debug.getupvalue, io.popen")
    assert.is_true(r[1])
    for i = 2, 5 do assert.is_nil(r[i], "value " .. i) end
    -- require gives the boxed copies, never the real libraries
    r = run("return require('debug').sethook, require('os').exit == os.exit")
    assert.is_true(r[1])
    assert.is_nil(r[2])
    assert.is_true(r[3])
    r = run("return require('socket')")
    assert.is_false(r[1])
    assert.matches("may require kiva.map, cjson and the standard libraries", r[2])
  end)

  it("captures what a script prints instead of writing to the terminal", function()
    local r, printed = run("print('a', 1) io.write('b') return true")
    assert.is_true(r[1])
    assert.same({ "a\t1", "b" }, printed)
  end)

  it("keeps a script's globals in its own table", function()
    local r = run("leaked = 42 return leaked")
    assert.is_true(r[1])
    assert.equal(42, r[2])
    assert.is_nil(rawget(_G, "leaked"))
  end)

  it("refuses finalizers, which would run outside the CPU hook", function()
    local r = run("return setmetatable({}, { __gc = function() end })")
    assert.is_false(r[1])
    assert.matches("finalizers", r[2])
  end)

  it("puts its guarded string functions behind s:method() during a call only, even one that fails", function()
    -- the script's string table is its own copy (string.dump removed), seen through s:method()
    for code, ran in pairs({ ["return ('a'):rep(10):find('a-a-a-b')"] = true, ["error('x')"] = false,
        ["return ('a'):rep(100000):find('a.-a.-a.-a.-b')"] = false }) do
      local r = run("return ('').dump == nil, (pcall(" .. string.format("load(%q)", code) .. "))")
      assert.is_true(r[1], code)
      assert.is_true(r[2], code)
      assert.equal(ran, r[3], code)
      assert.equal(string, getmetatable("").__index, code)
    end
    local r = run("error('raised')")
    assert.is_false(r[1])
    assert.equal(string, getmetatable("").__index)
  end)

  it("gives kiva.map and the boxed standard libraries to require", function()
    local r = run("return require('kiva.map').trim('  x '), require('string').upper('a')")
    assert.is_true(r[1])
    assert.equal("x", r[2])
    assert.equal("A", r[3])
  end)
end)
