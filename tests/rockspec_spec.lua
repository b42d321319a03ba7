-- The rockspec must install exactly what the checkout has: every Lua module under
-- lua/, every schema, the C core the Makefile builds, and the launcher.
local helper = require "helper"

local function list(cmd)
  local out = {}
  local p = io.popen(cmd)
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  table.sort(out)
  return out
end

local function load_rockspec()
  local env = {}
  local chunk = assert(loadfile(helper.root .. "/rockspec/kiva-scm-1.rockspec", "t", env))
  chunk()
  return env
end

describe("rockspec/kiva-scm-1.rockspec", function()
  local spec = load_rockspec()

  it("targets Lua 5.4 and declares libcurl and OpenSSL", function()
    assert.equal("kiva", spec.package)
    assert.truthy(table.concat(spec.dependencies, " "):find("lua >= 5.4, < 5.5", 1, true))
    assert.truthy(table.concat(spec.dependencies, " "):find("lua-cjson", 1, true))
    assert.truthy(spec.external_dependencies.CURL and spec.external_dependencies.OPENSSL)
  end)

  it("installs every Lua module of lua/kiva and every schema, and nothing else", function()
    local have = {}
    for _, path in ipairs(list("cd " .. helper.root .. "/lua && find kiva -name '*.lua' -o -name '*.json'")) do
      local mod = path:gsub("%.lua$", ""):gsub("%.json$", ""):gsub("/init$", ""):gsub("/", ".")
      have[#have + 1] = mod .. "=" .. "lua/" .. path
    end
    local listed = {}
    for mod, src in pairs(spec.build.install.lua) do listed[#listed + 1] = mod .. "=" .. src end
    table.sort(have)
    table.sort(listed)
    assert.same(have, listed)
  end)

  it("builds kiva.core with the Makefile and installs it with the kiva command", function()
    assert.equal("command", spec.build.type)
    assert.truthy(spec.build.build_command:find("^make "))
    assert.equal("build/kiva/core.so", spec.build.install.lib["kiva.core"])
    assert.equal("kiva", spec.build.install.bin.kiva)
  end)
end)
