-- kiva.config: options over environment over credentials file over defaults;
-- stage unless production is asked for; unsafe credentials files and plain
-- http to a non-loopback host refused.
local helper = require "helper"
local config = require "kiva.config"
local core = require "kiva.core"

local function env(tbl) return function(k) return tbl[k] end end

describe("kiva.config", function()
  teardown(helper.cleanup)

  it("defaults to stage and its URLs; audience is the API base URL", function()
    local s = assert(config.resolve({}, env {}))
    assert.equal("stage", s.env)
    assert.equal("https://auth-stage.dk1.kiva.org/oauth/token", s.auth_url)
    assert.equal("https://partner-api-stage.dk1.kiva.org", s.api_url)
    assert.equal(s.api_url, s.audience)
    assert.equal("three", s.csv_format)
  end)

  it("uses production only when asked", function()
    local s = assert(config.resolve({}, env { KIVA_ENV = "production" }))
    assert.equal("https://auth.k1.kiva.org/oauth/token", s.auth_url)
    assert.equal("https://partner-api.k1.kiva.org", s.api_url)
    local _, err = config.resolve({ env = "prod" }, env {})
    assert.equal("config", err.kind)
  end)

  it("prefers options to the environment", function()
    local s = assert(config.resolve({ client_id = "from-opts", partner_id = 12 },
      env { KIVA_CLIENT_ID = "from-env", KIVA_CLIENT_SECRET = "env-secret", KIVA_PARTNER_ID = "7" }))
    assert.equal("from-opts", s.client_id)
    assert.equal("env-secret", s.client_secret)
    assert.equal("12", s.partner_id)
  end)

  it("lets the caller's environment beat URLs left in the environment variables", function()
    -- kiva.client{ env = "stage" } with a sandbox URL exported: stage's own URLs
    local s = assert(config.resolve({ env = "stage" }, env { KIVA_API_URL = "http://127.0.0.1:8080",
      KIVA_AUTH_URL = "http://127.0.0.1:8080/oauth/token" }))
    assert.equal("https://partner-api-stage.dk1.kiva.org", s.api_url)
    assert.equal("https://auth-stage.dk1.kiva.org/oauth/token", s.auth_url)
    -- an explicit URL option still wins
    s = assert(config.resolve({ env = "stage", api_url = "http://127.0.0.1:8080" }, env {}))
    assert.equal("http://127.0.0.1:8080", s.api_url)
    -- a URL of the other environment is refused, naming the variable
    local _, err = config.resolve({ env = "stage" }, env { KIVA_API_URL = "https://partner-api.k1.kiva.org" })
    assert.equal("config", err.kind)
    assert.matches("KIVA_API_URL", err.message)
    _, err = config.resolve({ env = "production" }, env { KIVA_API_URL = "http://127.0.0.1:8080" })
    assert.equal("config", err.kind)
    assert.matches("KIVA_API_URL is http://127%.0%.0%.1:8080 but the production environment", err.message)
  end)

  it("calls a target production by its hosts, not by --env, and refuses a mixed one", function()
    local s = assert(config.resolve({}, env { KIVA_API_URL = "https://partner-api.k1.kiva.org" }))
    assert.equal("stage", s.env)
    assert.is_true(s.production)
    s = assert(config.resolve({}, env { KIVA_AUTH_URL = "https://auth.k1.kiva.org/oauth/token" }))
    assert.is_true(s.production)
    s = assert(config.resolve({}, env {}))
    assert.is_false(s.production)
    assert.is_false(config.is_production_url("https://partner-api-stage.dk1.kiva.org"))
    assert.is_false(config.is_production_url("https://k1.kiva.org.example.com"))
    local _, err = config.resolve({ env = "production", api_url = "http://127.0.0.1:9" }, env {})
    assert.equal("config", err.kind)
    assert.matches("not one of Kiva's production hosts", err.message)
  end)

  it("reads a private credentials file, below options and environment", function()
    local dir = helper.tmpdir()
    local path = helper.write(dir .. "/cred", "# kiva\nclient_id = file-id\nclient_secret=p+ss=w&rd%é \n")
    assert(core.chmod(path, tonumber("600", 8)))
    local s = assert(config.resolve_for_calls({}, env { KIVA_CREDENTIALS = path }))
    assert.equal("file-id", s.client_id)
    assert.equal("p+ss=w&rd%é", s.client_secret)
    s = assert(config.resolve_for_calls({ credentials = path }, env { KIVA_CLIENT_ID = "env-id" }))
    assert.equal("env-id", s.client_id)
  end)

  it("refuses a credentials file readable by group or others", function()
    local dir = helper.tmpdir()
    local path = helper.write(dir .. "/cred", "client_id=a\nclient_secret=b\n")
    for _, mode in ipairs { "640", "604", "644" } do
      assert(core.chmod(path, tonumber(mode, 8)))
      local s, err = config.resolve({ credentials = path }, env {})
      assert.is_nil(s)
      assert.equal("config", err.kind)
      assert.matches("chmod 600", err.message, 1, true)
    end
  end)

  it("requires credentials for calls", function()
    local _, err = config.resolve_for_calls({}, env { KIVA_CLIENT_ID = "x" })
    assert.equal("config", err.kind)
    assert.matches("secret", err.message)
  end)

  it("refuses plain http except to loopback hosts", function()
    for _, url in ipairs { "http://127.0.0.1:8080", "http://127.1.2.3", "http://localhost:9/", "http://[::1]:80" } do
      assert.truthy(config.resolve({ api_url = url, auth_url = url .. "/oauth/token" }, env {}), url)
    end
    for _, url in ipairs { "http://partner-api.k1.kiva.org", "http://10.0.0.1:8080", "http://localhost.evil.com",
        "http://128.0.0.1", "ftp://127.0.0.1", "not a url", "https://user:pw@host" } do
      local s, err = config.resolve({ api_url = url }, env {})
      assert.is_nil(s, url)
      assert.equal("config", err.kind)
    end
    local _, err = config.resolve({}, env { KIVA_AUTH_URL = "http://auth.example.org/oauth/token" })
    assert.matches("plain http", err.message)
  end)

  it("knows a loopback address in every form a socket gives it", function()
    for _, host in ipairs { "127.0.0.1", "127.9.9.9", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "localhost" } do
      assert.is_true(config.is_loopback(host), host)
    end
    for _, host in ipairs { "10.0.0.1", "::ffff:10.0.0.1", "128.0.0.1", "127.0.0.256", "::2", "localhost.evil.com" } do
      assert.is_false(config.is_loopback(host), host)
    end
  end)

  it("checks the partner id and csv format", function()
    assert.is_nil(config.resolve({ partner_id = "12a" }, env {}))
    assert.is_nil(config.resolve({}, env { KIVA_CSV_FORMAT = "four" }))
    assert.equal("two", config.resolve({}, env { KIVA_CSV_FORMAT = "two" }).csv_format)
  end)

  it("refuses a CA file it cannot read", function()
    local _, err = config.resolve({}, env { KIVA_CA_FILE = "/nonexistent/ca.pem" })
    assert.equal("config", err.kind)
    assert.matches("CA file", err.message)
  end)
end)
