-- kiva.errors: which failures of a POST may be resent (only those that surely
-- did not take effect), the kinds of HTTP answers, and redaction of secrets.
local errors = require "kiva.errors"

local function post(res) return errors.from_result(res, { method = "POST", endpoint = "/v3/partner/1/repayments" }) end
local function get(res) return errors.from_result(res, { method = "GET", endpoint = "/v3/partner/1/loans" }) end

describe("kiva.errors", function()
  it("treats 2xx as success", function()
    assert.is_nil(post { status = 200, body = "{}" })
    assert.is_nil(post { status = 201, body = "" })
  end)

  it("retries a POST only when it surely did not take effect", function()
    for _, code in ipairs { "COULDNT_CONNECT", "COULDNT_RESOLVE_HOST", "COULDNT_RESOLVE_PROXY" } do
      local err = post { status = 0, code = code, body_sent = false }
      assert.same({ "network", true }, { err.kind, err.retryable })
    end
    -- a connect timeout: nothing was sent
    local err = post { status = 0, code = "OPERATION_TIMEDOUT", body_sent = false }
    assert.same({ "network", true }, { err.kind, err.retryable })
    for _, status in ipairs { 429, 502, 503 } do
      err = post { status = status, body = "{}" }
      assert.is_true(err.retryable)
    end
    assert.equal("rate_limited", post { status = 429, body = "" }.kind)
  end)

  it("calls a POST of unknown outcome after 500, 504, a read timeout or a drop once sent", function()
    local cases = {
      { status = 500, body = '{"message":"boom"}' },
      { status = 504, body = "" },
      { status = 0, code = "OPERATION_TIMEDOUT", body_sent = true },
      { status = 0, code = "GOT_NOTHING", body_sent = true },
      { status = 0, code = "RECV_ERROR", body_sent = true },
      { status = 0, code = "SEND_FAIL_REWIND", body_sent = true },
      { status = 0, code = "SEND_FAIL_REWIND", body_sent = false },
      { status = 200, code = "RESPONSE_TOO_LARGE", body_sent = true },
    }
    for _, res in ipairs(cases) do
      local err = post(res)
      assert.equal("unknown_outcome", err.kind, res.code or res.status)
      assert.is_false(err.retryable)
    end
  end)

  it("retries a GET on any transient failure", function()
    for _, res in ipairs {
      { status = 500, body = "" }, { status = 504, body = "" }, { status = 503, body = "" },
      { status = 0, code = "OPERATION_TIMEDOUT", body_sent = false },
      { status = 0, code = "GOT_NOTHING", body_sent = false },
    } do
      assert.is_true(get(res).retryable, res.code or res.status)
    end
  end)

  it("never retries TLS failures, and names the API's refusals", function()
    local err = get { status = 0, code = "PEER_FAILED_VERIFICATION" }
    assert.same({ "network", false }, { err.kind, err.retryable })
    assert.equal("auth", post { status = 401, body = "" }.kind)
    assert.equal("forbidden", post { status = 403, body = "" }.kind)
    for _, status in ipairs { 400, 404, 409, 422, 302 } do
      local e = post { status = status, body = "" }
      assert.same({ "rejected", false }, { e.kind, e.retryable })
    end
  end)

  it("keeps Kiva's message and decoded body, and the endpoint and status", function()
    local err = post { status = 422, body = '{"code":"invalid","message":"loan_id unknown"}' }
    assert.equal(422, err.status)
    assert.equal("/v3/partner/1/repayments", err.endpoint)
    assert.matches("loan_id unknown", err.message)
    assert.same({ code = "invalid", message = "loan_id unknown" }, err.body)
  end)

  it("redacts secrets, bearer tokens, JWTs and access tokens", function()
    local jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    local text = "secret s3cr+t&=%, Authorization: Bearer abc.def-123 token " .. jwt
      .. ' {"access_token":"opaque-token-value"} client_secret=zzz&x=1'
    local out = errors.redact(text, { "s3cr+t&=%" })
    assert.not_matches("s3cr", out, 1, true)
    assert.not_matches("abc.def", out, 1, true)
    assert.not_matches(jwt, out, 1, true)
    assert.not_matches("opaque-token-value", out, 1, true)
    assert.not_matches("zzz", out, 1, true)
    local tbl = errors.redact({ access_token = "x", nested = { note = "s3cr+t&=% here" } }, { "s3cr+t&=%" })
    assert.equal("[REDACTED]", tbl.access_token)
    assert.equal("[REDACTED] here", tbl.nested.note)
  end)

  -- issue 16, case 2: each form a server may echo the secret in
  describe("redacts every form of a secret", function()
    local SECRET = "s3cr+t&é /x"
    local forms = {
      ["raw"] = "s3cr+t&é /x",
      ["form-encoded, + for a space"] = "s3cr%2Bt%26%C3%A9+%2Fx",
      ["form-encoded, %20 for a space"] = "s3cr%2Bt%26%C3%A9%20%2Fx",
      ["percent-encoded, lowercase hex"] = "s3cr%2bt%26%c3%a9%20%2fx",
      ["partly percent-encoded"] = "s3cr%2Bt&%C3%A9 /x",
      ["JSON-escaped (\\u00e9, \\/)"] = [[s3cr+t&\u00e9 \/x]],
      ["JSON-escaped, uppercase hex"] = [[s3cr\u002Bt\u0026\u00E9\u0020\/x]],
      ["cut after 7 bytes"] = "s3cr+t&",
      ["cut after 6 bytes"] = "s3cr+t",
      ["cut, form-encoded"] = "s3cr%2Bt%26",
    }
    for name, form in pairs(forms) do
      it(name, function()
        local text = "invalid client: " .. form .. " (truncated)"
        assert.is_true(errors.holds_secret(text, { SECRET }))
        local out = errors.redact(text, { SECRET })
        assert.equal("invalid client: [REDACTED] (truncated)", out)
      end)
    end

    it("a secret beyond the BMP as a JSON surrogate pair", function()
      local out = errors.redact([["k\ud83d\ude00ey-1234"]], { "k\u{1F600}ey-1234" })
      assert.equal('"[REDACTED]"', out)
    end)

    -- an answer with no "%", "\\" or "+" goes through a plain search first
    it("in an answer free of escapes: whole, or 6 bytes of its start, but not 5", function()
      local plain = "k3yVal-abcdef"
      assert.is_true(errors.holds_secret('{"error":"bad client k3yVal-abcdef"}', { "other-secret", plain }))
      assert.is_true(errors.holds_secret('{"error":"bad client k3yVal"}', { plain, plain }))
      assert.is_false(errors.holds_secret('{"error":"bad client k3yVa"}', { plain, plain }))
      assert.is_false(errors.holds_secret('{"code":"200","loan_draft_uuid":"0b5e8a52"}', { plain, "eyJtoken.x.y" }))
      local answer = '{"error":"bad client k3yVal-abcdef"}'
      assert.equal('{"error":"bad client [REDACTED]"}', errors.redact(answer, { plain }))
    end)

    it("in a plain answer: a token's shape, a secret among entries that are no secrets", function()
      local secrets = { 42, "abc", "k3yVal-abcdef" }
      assert.is_true(errors.holds_secret('{"note":"bad client k3yVal-abc"}', secrets))
      assert.is_false(errors.holds_secret('{"note":"abc 42"}', secrets))
      assert.is_true(errors.holds_secret('{"token":"eyJhbGciOi.eyJzdWIi.sig"}', secrets))
      assert.is_true(errors.holds_secret('{"note":"use Bearer xyz"}', nil))
      assert.is_true(errors.holds_secret('{"access_token":"x"}', {}))
      assert.is_false(errors.holds_secret('{"code":"200","upload_id":"90210","problems":[]}', nil))
    end)

    it("but not 5 bytes of its start, nor unrelated text", function()
      local text = "s3cr+ is not it, nor is s3cr%2B alone; Ana Lopez"
      assert.is_false(errors.holds_secret(text, { SECRET }))
      assert.equal(text, errors.redact(text, { SECRET }))
    end)
  end)

  it("redacts the secret from the message of an error answer", function()
    local err = errors.from_result({ status = 400, body = '{"message":"bad secret hunter22"}' },
      { method = "POST", endpoint = "token" }, { "hunter22" })
    assert.not_matches("hunter22", err.message, 1, true)
    assert.not_matches("hunter22", err.body.message, 1, true)
  end)
end)
