-- kiva.transport: the scheduler over one kiva.core http session: retries, their
-- limits, Retry-After, and what it keeps of an answer (no secret). Against
-- tests/http_server.lua and a stand-in session.
local helper = require "helper"
local Transport = require "kiva.transport"

describe("kiva.transport", function()
  local server
  setup(function() server = helper.start_http_server() end)
  teardown(function()
    server.stop()
    helper.cleanup()
  end)

  local function hits(t, key)
    local res = assert(t:request { method = "GET", url = server.url .. "/__count" })
    return res.json.hits[key] or 0
  end

  it("retries a GET after a 503 and returns results in input order", function()
    local t = assert(Transport.new { retry_base = 0.01, concurrency = 2 })
    local reqs = {}
    for i = 1, 4 do
      reqs[i] = { method = "GET", url = server.url .. (i % 2 == 1 and "/flaky" or "/echo"), endpoint = "r" .. i }
    end
    local finished, results = {}, {}
    local none = t:run(reqs, { on_result = function(i, res, err)
      finished[#finished + 1] = i
      results[i] = { res = res, err = err }
    end })
    -- one channel: with a callback, nothing comes back
    assert.is_nil(none)
    for i, r in ipairs(results) do
      assert.is_nil(r.err)
      assert.equal(200, r.res.status)
      if i % 2 == 0 then assert.equal("GET", r.res.json.method) else assert.is_true(r.res.json.ok) end
    end
    assert.equal(4, #finished)
    assert.is_true(t:stats().retries >= 1)
    t:close()
  end)

  it("retries a POST on 503 up to max_attempts, never on 500", function()
    local t = assert(Transport.new { retry_base = 0.01, max_attempts = 3 })
    local before503, before500 = hits(t, "POST /status/503"), hits(t, "POST /status/500")
    local _, err = t:request { method = "POST", url = server.url .. "/status/503", body = "{}", endpoint = "p" }
    assert.equal("server", err.kind)
    assert.equal(3, err.attempts)
    _, err = t:request { method = "POST", url = server.url .. "/status/500", body = "{}", endpoint = "p" }
    assert.equal("unknown_outcome", err.kind)
    assert.equal(before503 + 3, hits(t, "POST /status/503"))
    assert.equal(before500 + 1, hits(t, "POST /status/500"))
    t:close()
  end)

  it("gives up when the next wait would pass max_retry_time", function()
    local t = assert(Transport.new { retry_base = 5, retry_cap = 5, max_retry_time = 0.2, max_attempts = 10 })
    local _, err = t:request { method = "POST", url = server.url .. "/status/429", body = "{}", endpoint = "p" }
    assert.equal("rate_limited", err.kind)
    assert.is_true(err.retryable)
    assert.equal(1, err.attempts)   -- a 5 s wait would pass 0.2 s: no second attempt
    t:close()
  end)
end)

describe("kiva.transport redaction", function()
  -- A stand-in session answering every request with `body`, to see what the transport keeps.
  local function answering(body)
    local t = assert(Transport.new { secrets = { "hunter22-secret" } })
    t.session:close()
    local pending = {}
    t.session = {
      add = function(_, _) pending[#pending + 1] = #pending + 1; return #pending end,
      poll = function()
        local out = {}
        for i, id in ipairs(pending) do
          out[i] = { id = id, status = 200, body = body, headers = {}, total_time = 0 }
        end
        pending = {}
        return out
      end,
      close = function() end,
    }
    return t
  end

  it("keeps no secret or token from an API answer that echoes them", function()
    local t = answering('{"loan_draft_uuid":"u-1","message":"hello hunter22-secret, Bearer abc.def"}')
    local res = t:request { method = "POST", url = "http://127.0.0.1/x", endpoint = "/v3/partner/1/loan_draft",
      body = "{}" }
    assert.equal("u-1", res.json.loan_draft_uuid)
    assert.not_matches("hunter22-secret", res.body, 1, true)
    assert.not_matches("hunter22-secret", res.json.message, 1, true)
    assert.not_matches("abc.def", res.json.message, 1, true)
  end)

  it("leaves the token endpoint's own answer whole", function()
    local t = answering('{"access_token":"eyJabc.def.ghi","expires_in":60}')
    local res = t:request { method = "POST", url = "http://127.0.0.1/t", endpoint = "token", body = "x" }
    assert.equal("eyJabc.def.ghi", res.json.access_token)
  end)
end)
