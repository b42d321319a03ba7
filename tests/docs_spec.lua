-- Every public function and CLI command has a `syntax:` line in README.md, like luv's
-- docs coverage check: a new public name without documentation fails here.
local helper = require "helper"

local readme = assert(helper.read(helper.root .. "/README.md"))

local function documented(name)
  for line in readme:gmatch("[^\n]+") do
    if line:find("syntax:", 1, true) and line:find(name, 1, true) then return true end
  end
  return false
end

-- Methods the client uses internally (shared with kiva.push), not part of the public surface.
-- constructors and helpers of the module table, not methods of a client
local CLIENT_INTERNAL = { new = true, progress = true, encode = true, partner_id = true, path = true,
  api_request = true, with_settings = true, id_text = true }

describe("README.md", function()
  it("documents kiva.validate, kiva.encode, kiva.client and kiva.source", function()
    for _, name in ipairs { "kiva.validate(", "kiva.encode(", "kiva.client{", "kiva.source.rows(",
      "kiva.source.sql{" } do
      assert.is_true(documented(name), name)
    end
  end)

  it("documents every public client method", function()
    local Client = require "kiva.client"
    for name, v in pairs(Client) do
      if type(v) == "function" and not name:find("^_") and not CLIENT_INTERNAL[name] then
        assert.is_true(documented("client:" .. name), "client:" .. name)
      end
    end
  end)

  it("documents every kiva.map helper", function()
    for name, v in pairs(require "kiva.map") do
      if type(v) == "function" and not name:find("^_") then
        assert.is_true(documented("map." .. name) or documented(name .. " = map." .. name)
          or documented("= map." .. name), "map." .. name)
      end
    end
  end)

  it("documents every CLI command", function()
    local r = helper.run(helper.kiva("--help"))
    assert.equal(0, r.code)
    local section = r.out:match("Commands:\n(.-)\n\n")
    assert.is_string(section)
    local n = 0
    for line in section:gmatch("[^\n]+") do
      local cmd = line:match("^%s+(%l+)%s%s")
      n = n + 1
      assert.is_true(documented("kiva " .. cmd), "kiva " .. cmd)
    end
    assert.is_true(n >= 8)
  end)
end)

describe("the first hour and the monthly run (finding 9)", function()
  local docs = {
    README = readme,
    guide = assert(helper.read(helper.root .. "/docs/guide.md")),
    guide_fr = assert(helper.read(helper.root .. "/docs/guide.fr.md")),
  }

  it("are in the README and both guides: credentials, stage, PA2, production, cron, reconcile, unknowns", function()
    for name, text in pairs(docs) do
      for _, needed in ipairs({ "kiva inspect", "kiva init", "--credentials", "client_secret=", "PA2",
          "--env production", "--yes", "0 6 2 * *", "kiva reconcile", "kiva ledger resolve", "--state unknown",
          "WSL" }) do
        assert.is_truthy(text:find(needed, 1, true), name .. " lacks " .. needed)
      end
      -- Linux only: Windows is WSL, never the task scheduler
      local promise = text:find("for cron and the Windows task scheduler", 1, true)
      assert.is_nil(promise, name)
    end
  end)
end)
