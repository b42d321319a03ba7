-- The rock: a release rockspec beside scm-1, both generated from the tree, installing
-- exactly what the checkout has; luarocks lint, make (offline, --deps-mode=none, into a
-- temporary tree) and pack pass, and the installed `kiva` runs.
local helper = require "helper"

local function list(cmd)
  local out = {}
  local p = io.popen(cmd)
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  table.sort(out)
  return out
end

local VERSION = require("kiva")._VERSION
local RELEASE = "kiva-" .. VERSION .. "-1.rockspec"

local function load_rockspec(name)
  local env = {}
  local chunk = assert(loadfile(helper.root .. "/rockspec/" .. name, "t", env))
  chunk()
  return env
end

-- Debian keeps curl's headers under the multiarch include directory.
local function curl_incdir()
  local p = io.popen("pkg-config --variable=includedir libcurl")
  local dir = p:read("l")
  p:close()
  return dir
end

describe("rockspecs", function()
  after_each(helper.cleanup)

  it("has one version: init.lua's _VERSION, the C core's and the release rockspec's", function()
    assert.equal(VERSION, require("kiva.core").version)
    assert.equal(VERSION .. "-1", load_rockspec(RELEASE).version)
    assert.equal("scm-1", load_rockspec("kiva-scm-1.rockspec").version)
  end)

  it("are what tools/gen-rockspec.lua makes of the tree", function()
    local dir = helper.tmpdir()
    local r = helper.run("lua5.4 tools/gen-rockspec.lua " .. helper.quote(dir), { cwd = helper.root })
    assert.equal(0, r.code, r.err)
    for _, name in ipairs({ "kiva-scm-1.rockspec", RELEASE }) do
      assert.equal(helper.read(dir .. "/" .. name), helper.read(helper.root .. "/rockspec/" .. name),
        name .. " is stale: run lua5.4 tools/gen-rockspec.lua")
    end
  end)

  for _, name in ipairs({ "kiva-scm-1.rockspec", RELEASE }) do
    describe(name, function()
      local spec = load_rockspec(name)

      it("targets Lua 5.4, declares CURL, OPENSSL and ZIP, a homepage and a real source", function()
        assert.equal("kiva", spec.package)
        assert.truthy(table.concat(spec.dependencies, " "):find("lua >= 5.4, < 5.5", 1, true))
        assert.truthy(table.concat(spec.dependencies, " "):find("lua-cjson", 1, true))
        for _, dep in ipairs({ "CURL", "OPENSSL", "ZIP" }) do
          assert.is_string(spec.external_dependencies[dep].header, dep)
          assert.is_string(spec.external_dependencies[dep].library, dep)
        end
        assert.matches("^https://", spec.description.homepage)
        assert.is_nil(spec.source.url:find("invalid", 1, true))
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

      it("hands luarocks' compiler and dependency directories to the Makefile", function()
        local b = spec.build
        assert.equal("make", b.type)
        assert.equal("-I$(CURL_INCDIR)", b.build_variables.CURL_CFLAGS)
        assert.matches("%-L%$%(CURL_LIBDIR%)", b.build_variables.CURL_LIBS)
        assert.matches("%-L%$%(OPENSSL_LIBDIR%)", b.build_variables.SSL_LIBS)
        assert.equal("-I$(ZIP_INCDIR)", b.build_variables.ZIP_CFLAGS)
        assert.equal("-I$(LUA_INCDIR)", b.build_variables.LUA_CFLAGS)
        assert.equal("$(CC)", b.build_variables.CC)
        -- every knob exists in the Makefile (a typo would silently fall back to pkg-config)
        local makefile = helper.read(helper.root .. "/Makefile")
        for var in pairs(b.build_variables) do
          assert.matches("\n" .. var .. "%s+%?=", makefile, 1, false)
        end
        assert.equal("build/kiva/core.so", b.install.lib["kiva.core"])
        assert.equal("kiva", b.install.bin.kiva)
        assert.same({ "docs", "examples", "ops" }, b.copy_directories)
      end)

      it("passes luarocks lint", function()
        local r = helper.run("env -u LD_PRELOAD luarocks lint " .. helper.quote(helper.root .. "/rockspec/" .. name))
        assert.equal(0, r.code, r.out .. r.err)
      end)
    end)
  end

  it("builds and installs offline with luarocks make --deps-mode=none, runs, and packs", function()
    local dir = helper.tmpdir()
    local src, tree = dir .. "/src", dir .. "/tree"
    -- a copy of the checkout, so the build never touches the working tree's build/
    assert(os.execute("mkdir -p " .. src .. " && cd " .. helper.quote(helper.root)
      .. " && cp -r lua src Makefile kiva rockspec docs examples ops LICENSE README.md " .. src))
    -- a plain build with plain tools, also under make check (which preloads the sanitizers)
    local luarocks = "env -u LD_PRELOAD luarocks --lua-version=5.4 --tree " .. helper.quote(tree)
    local r = helper.run(luarocks .. " make --deps-mode=none rockspec/" .. RELEASE .. " CURL_INCDIR="
      .. curl_incdir(), { cwd = src })
    assert.equal(0, r.code, r.out .. r.err)
    r = helper.run("eval \"$(" .. luarocks .. " path)\" && env -u LD_PRELOAD " .. helper.quote(tree .. "/bin/kiva")
      .. " --version")
    assert.equal(0, r.code, r.out .. r.err)
    assert.matches("^kiva " .. VERSION:gsub("%p", "%%%0") .. "\n", r.out)
    r = helper.run(luarocks .. " pack kiva " .. VERSION .. "-1", { cwd = dir })
    assert.equal(0, r.code, r.out .. r.err)
    local rock = list("ls " .. helper.quote(dir) .. " | grep '[.]rock$' || true")[1]
    assert.matches("^kiva%-" .. VERSION:gsub("%p", "%%%0") .. "%-1%..*%.rock$", rock or "")
    local files = table.concat(list("unzip -l " .. helper.quote(dir .. "/" .. rock)), "\n")
    for _, f in ipairs({ "lib/kiva/core.so", "bin/kiva", "docs/guide.md", "ops/kiva.crontab",
        "lua/kiva/cli.lua" }) do
      assert.truthy(files:find(f, 1, true), f .. " not in the rock:\n" .. files)
    end
  end)
end)
