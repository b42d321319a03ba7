-- kiva.auth (issue 16): the secret goes to the token URL directly, never through a
-- proxy in clear text; token answers are checked before use; the token cache is never
-- written through a planted link nor kept where others may write; a process holding a
-- secret dumps no core; credentials files others may write are refused.
local helper = require "helper"
local core = require "kiva.core"
local Auth = require "kiva.auth"
local config = require "kiva.config"

local SECRET = "auth-spec-S3cr3t-canary"

-- A transport that answers the token URL with `body` (a table, as res.json).
local function token_transport(body)
  local t = { secrets = {}, requests = 0 }
  function t.request(self, req)
    self.requests = self.requests + 1
    self.last = req
    return { status = 200, json = body, headers = {} }
  end
  return t
end

local function settings(cache)
  return { client_id = "spec", client_secret = SECRET, auth_url = "http://127.0.0.1:9/oauth/token",
    audience = "http://127.0.0.1:9", token_cache = cache }
end

local TOKEN = { access_token = "tok-abc.def_~+/==", expires_in = 3600, partnerId = "12", scope = "read:loans" }

local function is_link(path)
  return os.execute("test -L " .. helper.quote(path)) == true
end

describe("kiva.auth", function()
  teardown(helper.cleanup)

  describe("checks the token answer before use (case 6)", function()
    local now = 1700000000
    local function entry(fields)
      local body = {}
      for k, v in pairs(TOKEN) do body[k] = v end
      for k, v in pairs(fields) do body[k] = v end
      return Auth.entry_from(body, now, { "read:loans" })
    end

    it("takes a well-formed answer", function()
      local e = assert(entry {})
      assert.equal("tok-abc.def_~+/==", e.access_token)
      assert.equal("12", e.partner_id)
      assert.equal(now + 3600, e.expires_at)
    end)

    it("refuses an access_token outside RFC 6750's characters (CR LF, space, quote)", function()
      for _, bad in ipairs { "t1\r\nX-Injected: yes", "a b", 'a"b', "a=b", "é" } do
        local e, why = entry { access_token = bad }
        assert.is_nil(e, bad)
        assert.matches("access_token", why)
      end
    end)

    it("refuses a partnerId that is not digits, saying what it was", function()
      local e, why = entry { partnerId = "../../oauth" }
      assert.is_nil(e)
      assert.matches('partnerId "../../oauth"', why, 1, true)
      e, why = entry { partnerId = "1\n2" }
      assert.is_nil(e)
      assert.matches("\\10", why, 1, true)   -- shown escaped, on one line
      assert.equal("7", assert(entry { partnerId = 7 }).partner_id)
    end)

    it("refuses an expires_in that is not a finite number", function()
      for _, bad in ipairs { 0 / 0, math.huge, -math.huge, "soon", true } do
        local e, why = entry { expires_in = bad }
        assert.is_nil(e, tostring(bad))
        assert.matches("expires_in", why)
      end
    end)

    it("clamps the lifetime to a minute .. a day", function()
      assert.equal(60, assert(entry { expires_in = 0 }).lifetime)
      assert.equal(60, assert(entry { expires_in = -30 }).lifetime)
      assert.equal(86400, assert(entry { expires_in = 1e20 }).lifetime)
      assert.equal(Auth.DEFAULT_LIFETIME, assert(Auth.entry_from({ access_token = "t" }, now, {})).lifetime)
    end)

    it("asks once for a token of lifetime 0, not once per call", function()
      local t = token_transport { access_token = "t0", expires_in = 0, partnerId = "1" }
      local a = Auth.new(t, settings(nil))
      for _ = 1, 5 do assert.equal("t0", a:access_token()) end
      assert.equal(1, t.requests)
    end)

    it("an unusable answer is an auth error naming what Kiva answered", function()
      local a = Auth.new(token_transport { access_token = "t", expires_in = "soon" }, settings(nil))
      local token, err = a:access_token()
      assert.is_nil(token)
      assert.equal("auth", err.kind)
      assert.matches('expires_in "soon"', err.message, 1, true)
    end)
  end)

  describe("token cache (case 3)", function()
    it("is never written through links planted at its temporary names or its own name", function()
      local dir = helper.tmpdir()
      local cache = dir .. "/tc.json"
      local victim = helper.write(dir .. "/victim", "someone else's file\n")
      local pid = core.getpid()
      for _, name in ipairs { cache .. ".tmp" .. pid, cache .. ".tmp" .. pid .. ".0",
          cache .. ".tmp" .. pid .. ".1" } do
        assert(os.execute("ln -s " .. helper.quote(victim) .. " " .. helper.quote(name)))
      end
      local a = Auth.new(token_transport(TOKEN), settings(cache))
      assert.equal(TOKEN.access_token, a:access_token())
      assert.equal("someone else's file\n", helper.read(victim))
      assert.is_false(is_link(cache))
      assert.equal(tonumber("600", 8), core.file_mode(cache))
      assert.truthy(helper.read(cache):find("tok-abc", 1, true))

      -- a link planted at the cache's own name is replaced, not followed
      os.remove(cache)
      assert(os.execute("ln -s " .. helper.quote(victim) .. " " .. helper.quote(cache)))
      a = Auth.new(token_transport(TOKEN), settings(cache))
      assert.equal(TOKEN.access_token, a:access_token())
      assert.equal("someone else's file\n", helper.read(victim))
      assert.is_false(is_link(cache))
    end)

    it("is not used in a directory others may write to", function()
      local dir = helper.tmpdir() .. "/shared"
      assert(os.execute("mkdir -m 777 " .. helper.quote(dir)))
      local cache = dir .. "/tc.json"
      local logs = {}
      local t = token_transport(TOKEN)
      local a = Auth.new(t, settings(cache), { on_log = function(_, m) logs[#logs + 1] = m end })
      assert.equal(TOKEN.access_token, a:access_token())
      assert.is_nil(helper.read(cache), "the token was written where others may swap it")
      assert.matches("writable by others", table.concat(logs, "\n"))
      assert.is_nil(table.concat(logs, "\n"):find(TOKEN.access_token, 1, true))
    end)
  end)

  it("makes the process undumpable, without core files, once a secret is loaded (case 4)", function()
    local script = "package.path = 'lua/?.lua;lua/?/init.lua;' .. package.path; package.cpath = '" .. helper.build
      .. "/?.so;' .. package.cpath; local core = require 'kiva.core'; io.write(tostring(core.dumpable()), ' ');"
      .. " assert(require('kiva').client { client_id = 'x', client_secret = 'sec-ret-value', token_cache = false,"
      .. " api_url = 'http://127.0.0.1:9', auth_url = 'http://127.0.0.1:9/oauth/token' });"
      .. " io.write(tostring(core.dumpable()), ' ', io.popen('ulimit -c; ulimit -Hc'):read('a'))"
    -- (the busted process may be protected already by an earlier client: then its
    -- hard limit is 0 and this ulimit fails; the child must end at 0 either way)
    local r = helper.run("ulimit -c unlimited 2>/dev/null; " .. helper.lua .. " -e " .. helper.quote(script),
      { cwd = helper.root })
    assert.equal(0, r.code, r.err)
    assert.equal("true false 0\n0\n", r.out)
  end)

  it("refuses a credentials file writable by group or others (case 5)", function()
    local dir = helper.tmpdir()
    local path = helper.write(dir .. "/credentials", "client_id=x\nclient_secret=" .. SECRET .. "\n")
    for _, mode in ipairs { "620", "602", "640", "604" } do
      assert(os.execute("chmod " .. mode .. " " .. helper.quote(path)))
      local cred, err = config.read_credentials(path)
      assert.is_nil(cred, mode)
      assert.equal("config", err.kind)
      assert.matches("group or others %(mode 0?" .. mode .. "%)", err.message)
      assert.is_nil(err.message:find(SECRET, 1, true))
    end
    assert(os.execute("chmod 600 " .. helper.quote(path)))
    assert.equal(SECRET, assert(config.read_credentials(path)).client_secret)
  end)

  describe("the token request with a proxy in the environment (case 1) #sandbox", function()
    local socket = require "socket"
    local sb, proxy, proxy_url
    setup(function()
      sb = helper.start_sandbox("--loans 3")
      proxy = assert(socket.bind("127.0.0.1", 0))
      local _, port = proxy:getsockname()
      proxy_url = "http://127.0.0.1:" .. port
    end)
    teardown(function()
      if proxy then proxy:close() end
      if sb then sb.stop() end
    end)

    it("goes straight to the loopback sandbox: the proxy sees no connection", function()
      local env = {}
      for k, v in pairs(sb.env) do env[k] = v end
      for _, name in ipairs { "http_proxy", "HTTP_PROXY", "ALL_PROXY", "all_proxy", "https_proxy" } do
        env[name] = proxy_url
      end
      env.no_proxy, env.NO_PROXY = "", ""
      env.KIVA_BUILD = helper.build
      local r = helper.run("timeout 30 " .. helper.kiva("token"), { env = env })
      proxy:settimeout(0)
      local conn = proxy:accept()
      if conn then conn:close() end
      assert.is_nil(conn, "a connection reached the proxy (the secret would cross it in clear text)")
      assert.equal(0, r.code, r.out .. r.err)
      assert.matches("partner id", r.out)
    end)
  end)
end)
