-- kiva.client against the sandbox (`kiva sandbox`), over HTTP and HTTPS: tokens
-- (one per client, renewed, after a 401, cached), scopes, every endpoint, batches
-- and paging, retries only where a POST surely did not take effect, TLS and
-- plain-http refusals, options checking, and traces without secrets.
local helper = require "helper"
local cjson = require "cjson"
local core = require "kiva.core"
local kiva = require "kiva"
local faults = require "kiva.sandbox.faults"

-- Client options reaching sandbox `sb`, plus `extra`.
local function opts_for(sb, extra)
  local o = {
    auth_url = sb.env.KIVA_AUTH_URL, api_url = sb.env.KIVA_API_URL,
    client_id = sb.env.KIVA_CLIENT_ID, client_secret = sb.env.KIVA_CLIENT_SECRET,
    ca_file = sb.env.KIVA_CA_FILE, retry_base = 0.01,
  }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

local function client_for(sb, extra)
  return assert(kiva.client(opts_for(sb, extra)))
end

-- The sandbox's GET /__sandbox/state.
local function state(sb)
  local s = core.http_session { ca_file = sb.env.KIVA_CA_FILE }
  s:add { url = sb.url .. "/__sandbox/state" }
  local res
  repeat res = s:poll(1)[1] until res
  s:close()
  assert(res.status == 200, "state: " .. tostring(res.status) .. " " .. tostring(res.message))
  return cjson.decode(res.body)
end

-- Repayments for the n first loans that Kiva expects repayments for (i % 10 in 1..8);
-- each call gets its own amount, so that no two tests report the same repayment.
local amount = 10
local function repayments(n)
  local list, i = {}, 0
  amount = amount + 1
  while #list < n do
    i = i + 1
    if i % 10 >= 1 and i % 10 <= 8 then
      list[#list + 1] = { loan_id = string.format("L%06d", i), client_id = string.format("C%06d", i), amount = amount }
    end
  end
  return list
end

local function draft(n)
  return {
    activity_id = 61, description_language_id = 1, location = "Thiès, Senegal", currency = "XOF",
    disburse_time = "2026-01-15", client_waiver_signed = true, loanuse = "to buy seeds",
    description = "Borrower story " .. n,
    entreps = { { client_id = "DC" .. n, loan_id = "DL" .. n, first_name = "Awa", last_name = "Ndiaye",
      gender = "female", amount = 100000 } },
    schedule = { { date = "2026-02-15", principal = 50000, interest = 1000 },
      { date = "2026-03-15", principal = 50000, interest = 500 } },
  }
end

-- A seed making the sandbox's fault decisions for `kind` at probability 0.5 go:
-- fire, then not fire (so one POST fails and its retry goes through).
local function seed_fire_then_pass(kind)
  for seed = 1, 1000 do
    local d = faults.new({ { kind = kind, p = 0.5 } }, seed)
    if d.decide() == kind and d.decide() == nil then return seed end
  end
  error("no seed found")
end

describe("kiva.client", function()
  local sb
  setup(function() sb = helper.start_sandbox("") end)
  teardown(function()
    sb.stop()
    helper.cleanup()
  end)

  it("asks for one token for many calls, and keeps connections", function()
    local before = state(sb).token_requests
    local c = client_for(sb)
    for _ = 1, 5 do assert(c:loans_page { limit = 5 }) end
    local res, err = c:post_repayments(repayments(3))
    assert.is_nil(err)
    assert.equal(1, #res.batches)
    local info = assert(c:token_info())
    assert.equal("1", info.partner_id)
    assert.same({ "read:loans", "create:loan_draft", "create:journal_update", "create:repayment" }, info.scopes)
    assert.is_nil(info.access_token)
    assert.is_true(info.expires_at > core.now() + 3600)
    assert.equal(before + 1, state(sb).token_requests)
    local st = c:stats()
    assert.equal(1, st.token_requests)
    assert.equal(7, st.requests)
    assert.equal(2, st.connects)   -- one to the token URL, one kept alive for the API
    c:close()
  end)

  it("sends 600 repayments as 3 calls of at most 250, reporting each batch", function()
    local progress = {}
    local c = client_for(sb, { on_progress = function(ev) progress[#progress + 1] = ev end })
    local res, err = c:post_repayments(repayments(600))
    assert.is_nil(err)
    assert.equal(3, #res.batches)
    assert.equal(3, #progress)
    assert.same({ what = "repayments", done = 3, total = 3 }, progress[3])
    local per_upload = {}
    for _, r in ipairs(state(sb).repayments) do per_upload[r.upload_id] = (per_upload[r.upload_id] or 0) + 1 end
    for i, b in ipairs(res.batches) do
      assert.equal((i - 1) * 250 + 1, b.first)
      assert.is_string(b.upload_id)
      assert.equal(b.last - b.first + 1, per_upload[b.upload_id])
      assert.is_true(per_upload[b.upload_id] <= 250)
    end
    assert.same({}, res.problems)
    assert.has_error(function() c:post_repayments(repayments(2), { batch_size = 301 }) end)
    c:close()
  end)

  it("reports the sandbox's problems for loans it does not expect repayments for", function()
    local c = client_for(sb)
    local res = assert(c:post_repayments({ { loan_id = "L000009", client_id = "C000009", amount = 5 },
      { loan_id = "L000001", client_id = "C000001", amount = 5 } }, { batch_size = 1 }))
    assert.equal(2, #res.batches)
    assert.equal(1, #res.problems)
    assert.equal("L000009", res.problems[1].loan_id)
    assert.equal(1, res.problems[1].batch)
    c:close()
  end)

  it("pages through all 1,000 loans", function()
    local c = client_for(sb)
    local ids, n = {}, 0
    local next_loan, pager = c:loans {}
    for loan in next_loan, pager do
      n = n + 1
      ids[loan.internal_loan_id] = true
    end
    assert.is_nil(pager.err)
    assert.equal(1000, n)
    assert.equal(1000, pager.total)
    assert.equal(4, pager.pages)
    assert.is_true(ids.L000001 and ids.L001000)
    local paying = 0
    for loan in c:loans { status = "payingBack", limit = 100 } do
      assert.equal("payingBack", loan.status)
      paying = paying + 1
    end
    assert.is_true(paying >= 700)
    c:close()
  end)

  it("sends drafts in parallel and returns them in input order", function()
    local c = client_for(sb)
    local list, calls = {}, 0
    for i = 1, 6 do list[i] = draft(i) end
    local out = c:post_loan_drafts(list, { on_result = function() calls = calls + 1 end })
    assert.equal(6, calls)
    local key_of = {}
    for _, d in ipairs(state(sb).loan_drafts) do key_of[d.uuid] = d.key end
    for i, r in ipairs(out) do
      assert.is_nil(r.err)
      assert.equal("DL" .. i, key_of[r.res.loan_draft_uuid])
    end
    local one = assert(c:post_loan_draft(draft(7)))
    assert.is_string(one.loan_draft_uuid)
    local bad = draft(8)
    bad.entreps[1].gender = "?"
    local res, err = c:post_loan_draft(bad)
    assert.is_nil(res)
    assert.equal("validation", err.kind)
    c:close()
  end)

  it("posts journals and returns the confirm URL", function()
    local c = client_for(sb)
    local res = assert(c:post_journals { { internal_loan_id = "L000001", internal_client_id = "C000001",
      subject = "Harvest", body = "The harvest was good." } })
    assert.matches("/confirm$", res.confirm_url)
    assert.is_string(res.archive_id)
    c:close()
  end)

  it("fetches each config list once per client", function()
    local c = client_for(sb)
    local activities = assert(c:config("activities"))
    assert.is_number(activities[1].activity_id)
    local requests = c:stats().requests
    assert.equal(activities, c:config("activities"))
    assert.equal(requests, c:stats().requests)
    assert.is_string(assert(c:config("locations"))[1].full_name)
    assert.has_error(function() c:config("sectors") end)
    c:close()
  end)

  it("answers 403 with kind forbidden for a scope the token lacks", function()
    local c = client_for(sb, { scopes = { "read:loans" } })
    assert(c:loans_page { limit = 1 })
    local res, err = c:post_repayments(repayments(1))
    assert.equal("forbidden", err.kind)
    assert.equal(403, err.status)
    assert.is_false(err.retryable)
    assert.equal("forbidden", res.batches[1].err.kind)
    c:close()
  end)

  it("reports refused credentials as kind auth, without the secret", function()
    local c = client_for(sb, { client_secret = "wrong-secret-value" })
    local info, err = c:token_info()
    assert.is_nil(info)
    assert.equal("auth", err.kind)
    assert.not_matches("wrong-secret-value", err.message, 1, true)
    local res, perr = c:post_repayments(repayments(600), { batch_size = 100 })
    assert.is_nil(res)
    assert.equal("auth", perr.kind)
    assert.equal(1, c:stats().token_requests)   -- refused once, not asked again per batch
    c:close()
  end)

  it("renews a token refused with 401 once, then succeeds (token cache)", function()
    local dir = helper.tmpdir()
    local cache = dir .. "/tokens.json"
    local c = client_for(sb, { token_cache = cache })
    local entry = { access_token = "eyJhbGciOiJub25lIn0.eyJleHAiOjF9.bogus", expires_at = core.now() + 3600,
      lifetime = 3600, partner_id = "1", scope = "read:loans" }
    helper.write(cache, cjson.encode { [c.auth:cache_key()] = entry })
    assert(core.chmod(cache, tonumber("600", 8)))
    local before = state(sb).token_requests
    local page = assert(c:loans_page { limit = 2 })
    assert.equal(2, #page.data)
    assert.equal(before + 1, state(sb).token_requests)
    assert.equal(tonumber("600", 8), core.file_mode(cache))
    local text = helper.read(cache)
    assert.not_matches("bogus", text, 1, true)
    assert.not_matches(sb.env.KIVA_CLIENT_SECRET, text, 1, true)
    c:close()
    -- a second client (a later cron run) reuses the cached token
    local c2 = client_for(sb, { token_cache = cache })
    assert(c2:loans_page { limit = 1 })
    assert.equal(before + 1, state(sb).token_requests)
    assert.equal(0, c2:stats().token_requests)
    c2:close()
  end)

  it("retries a POST after 503 and after 429 with Retry-After, once", function()
    for _, kind in ipairs { "503", "429" } do
      local fsb = helper.start_sandbox("--faults " .. kind .. ":0.5 --seed " .. seed_fire_then_pass(kind))
      local c = client_for(fsb)
      local delays = {}
      local res, err = c:post_repayments(repayments(2), { on_retry = function(i, rerr, delay)
        delays[#delays + 1] = { i = i, kind = rerr.kind, delay = delay }
      end })
      assert.is_nil(err)
      assert.is_string(res.batches[1].upload_id)
      assert.equal(1, c:stats().retries)
      local st = state(fsb)
      assert.equal(1, #st.faults)
      assert.is_false(st.faults[1].applied)
      assert.equal(2, #st.repayments)
      assert.equal(0, st.duplicates)
      assert.equal(1, #delays)
      assert.equal(1, delays[1].i)
      if kind == "429" then
        assert.same({ i = 1, kind = "rate_limited", delay = 1 }, delays[1])   -- the sandbox's Retry-After: 1
      else
        assert.equal("server", delays[1].kind)
      end
      c:close()
      fsb.stop()
    end
  end)

  it("cuts a slow answer off at the total timeout, not at an earlier low-speed limit", function()
    local Transport = require "kiva.transport"
    local t = assert(Transport.new({ timeout = 45 }))
    assert.equal(45, t.low_speed_time)
    t:close()
    t = assert(Transport.new({ timeout = 45, low_speed_time = 10 }))
    assert.equal(10, t.low_speed_time)
    t:close()
    -- an answer that comes after 1.2 s, within a 3 s timeout, is read
    local slow = helper.start_sandbox("--faults slow:1 --slow-ms 1200")
    local c = client_for(slow, { timeout = 3 })
    local res, err = c:post_repayments(repayments(1))
    assert.is_nil(err)
    assert.is_string(res.batches[1].upload_id)
    c:close()
    slow.stop()
  end)

  it("gives every request refused with one token one more try, after a single renewal", function()
    local Auth = require "kiva.auth"
    local issued = 0
    local fake = { secrets = {}, request = function()
      issued = issued + 1
      return { status = 200, json = { access_token = "tok-" .. issued, expires_in = 3600, partnerId = "1" } }
    end }
    local a = Auth.new(fake, { client_id = "x", client_secret = "s", auth_url = "https://a", audience = "https://b" })
    local t1 = assert(a:access_token())
    -- four requests in flight with t1 meet a 401 one after the other: each is worth a resend
    for _ = 1, 4 do assert.is_true(a:invalidate(t1)) end
    local t2 = assert(a:access_token())
    assert.not_equal(t1, t2)
    assert.equal(t2, a:access_token())
    assert.equal(2, issued)
  end)

  it("calls before_send before each attempt, on_retry between, and keeps a refused one unsent", function()
    local seed   -- the first POST refused with 503, the next four pass
    for n = 1, 10000 do
      local d = faults.new({ { kind = "503", p = 0.5 } }, n)
      if d.decide() == "503" and not (d.decide() or d.decide() or d.decide() or d.decide()) then
        seed = n
        break
      end
    end
    local fsb = helper.start_sandbox("--faults 503:0.5 --seed " .. assert(seed))
    local c = client_for(fsb, { concurrency = 1 })
    local calls, there_already, retries = {}, {}, {}
    local refused = { kind = "interrupted", message = "kept back" }
    local out = c:post_loan_drafts({ draft(31), draft(32), draft(33) }, {
      on_retry = function(i, err)
        retries[#retries + 1] = { i = i, kind = err.kind, calls = calls[i] }
      end,
      before_send = function(i)
        calls[i] = (calls[i] or 0) + 1
        for _, d in ipairs(state(fsb).loan_drafts) do
          if d.key == "DL3" .. i then there_already[i] = true end
        end
        if i == 2 then return nil, refused end
        return true
      end,
    })
    -- draft 1 met a 503 and was retried: a call before each of its two attempts, the
    -- retry announced between them; each call came before its send
    assert.same({ 2, 1, 1 }, calls)
    assert.same({ { i = 1, kind = "server", calls = 1 } }, retries)
    assert.same({}, there_already)
    assert.equal(1, c:stats().retries)
    assert.is_nil(out[1].err)
    assert.equal(refused, out[2].err)
    assert.is_nil(out[2].res)
    assert.is_nil(out[3].err)
    local keys = {}
    for _, d in ipairs(state(fsb).loan_drafts) do keys[#keys + 1] = d.key end
    table.sort(keys)
    assert.same({ "DL31", "DL33" }, keys)
    c:close()
    fsb.stop()
  end)

  it("does not resend a POST the sandbox applied before failing", function()
    for _, kind in ipairs { "500after", "drop_after" } do
      local fsb = helper.start_sandbox("--faults " .. kind .. ":1")
      local c = client_for(fsb)
      local res, err = c:post_repayments(repayments(5))
      assert.equal("unknown_outcome", err.kind, kind)
      assert.is_false(err.retryable)
      assert.is_nil(res.batches[1].upload_id)
      assert.equal(0, c:stats().retries)
      local st = state(fsb)
      assert.equal(1, #st.faults)
      assert.is_true(st.faults[1].applied)
      assert.equal(5, #st.repayments)
      assert.equal(0, st.duplicates)
      c:close()
      fsb.stop()
    end
  end)

  it("renews the token when the sandbox's short TTL runs out", function()
    local tsb = helper.start_sandbox("--token-ttl 2")
    -- whole seconds, as the sandbox's JWT exp is: never after the sandbox's clock
    local clock = math.floor(core.now())
    local c = client_for(tsb, { now = function() return clock end })
    assert(c:loans_page { limit = 1 })
    clock = clock + 1.4   -- within 3/4 of the lifetime
    assert(c:loans_page { limit = 1 })
    assert.equal(1, c:stats().token_requests)
    -- kiva.auth counts a lifetime of at least a minute (issue 16): a token that dies
    -- sooner is renewed on the 401 it earns; the sandbox's clock moves past its 2 s
    assert.equal(200, (helper.http("POST", tsb.url .. "/__sandbox/clock", { json = { advance = 2.5 } })))
    assert(c:loans_page { limit = 1 })
    assert.equal(2, c:stats().token_requests)
    assert.equal(2, state(tsb).token_requests)
    c:close()
    tsb.stop()
  end)

  it("accepts a secret holding + & = % é and spaces", function()
    local secret = "a+b&c=d%25 é/ü?#"
    local ssb = helper.start_sandbox("--client-secret " .. helper.quote(secret))
    assert.equal(secret, ssb.env.KIVA_CLIENT_SECRET)
    local c = client_for(ssb)
    local info, err = c:token_info()
    assert.is_nil(err)
    assert.equal("1", info.partner_id)
    c:close()
    ssb.stop()
  end)

  it("leaves client ids out for a two-column partner", function()
    local tsb = helper.start_sandbox("--csv-format two")
    local c = client_for(tsb, { csv_format = "two" })
    local list = { { loan_id = "L000001", client_id = "WRONG", amount = 7 } }
    local res, err = c:post_repayments(list)
    assert.is_nil(err)
    assert.same({}, res.problems)
    assert.equal("WRONG", list[1].client_id)   -- the caller's table is left alone
    local st = state(tsb)
    assert.equal(1, #st.repayments)
    assert.is_nil(st.repayments[1].client_id)
    c:close()
    tsb.stop()
  end)

  it("traces requests under debug without secrets or tokens", function()
    local lines = {}
    local function on_log(level, msg) lines[#lines + 1] = level .. " " .. msg end
    local c = client_for(sb, { debug = true, on_log = on_log })
    assert(c:post_repayments(repayments(1)))
    local text = table.concat(lines, "\n")
    assert.matches("-> POST " .. sb.env.KIVA_AUTH_URL, text, 1, true)
    assert.matches("-> POST " .. sb.url .. "/v3/partner/1/repayments", text, 1, true)
    assert.matches("<- POST", text, 1, true)
    assert.not_matches(sb.env.KIVA_CLIENT_SECRET, text, 1, true)
    assert.not_matches("eyJ", text, 1, true)
    c:close()
  end)

  it("refuses plain http to a non-loopback host", function()
    local c, err = kiva.client(opts_for(sb, { api_url = "http://partner-api.example.org" }))
    assert.is_nil(c)
    assert.equal("config", err.kind)
    c, err = kiva.client(opts_for(sb, { auth_url = "http://auth.example.org/oauth/token" }))
    assert.is_nil(c)
    assert.equal("config", err.kind)
  end)

  it("raises on an unknown option or a wrong type, naming the key, and copies options", function()
    assert.has_error(function() kiva.client(opts_for(sb, { concurency = 2 })) end,
      "kiva.client: unknown option 'concurency'")
    assert.has_error(function() kiva.client(opts_for(sb, { concurrency = "2" })) end,
      "kiva.client: option 'concurrency' must be integer, got string")
    assert.has_error(function() kiva.client(opts_for(sb, { batch_size = 500 })) end)
    local o = opts_for(sb, { scopes = { "read:loans" } })
    local c = assert(kiva.client(o))
    o.scopes[1] = "create:repayment"
    o.api_url = "http://127.0.0.1:1"
    assert(c:loans_page { limit = 1 })
    c:close()
  end)

  it("reports an unreachable API as a retryable network failure after its attempts", function()
    local c = client_for(sb, { api_url = "http://127.0.0.1:1", audience = sb.url, max_attempts = 2, partner_id = "1" })
    local res, err = c:post_repayments(repayments(1))
    assert.equal("network", err.kind)
    assert.is_true(err.retryable)
    assert.equal(2, err.attempts)
    assert.equal("network", res.batches[1].err.kind)
    local next_loan, pager = c:loans {}
    for _ in next_loan, pager do error("no loan expected") end
    assert.equal("network", pager.err.kind)
    c:close()
  end)
end)

describe("kiva.client over TLS", function()
  local sb
  setup(function() sb = helper.start_sandbox("--tls") end)
  teardown(function()
    sb.stop()
    helper.cleanup()
  end)

  it("talks to the sandbox through its CA", function()
    local c = client_for(sb)
    assert.matches("^https://", sb.url)
    local res, err = c:post_repayments(repayments(2))
    assert.is_nil(err)
    assert.is_string(res.batches[1].upload_id)
    c:close()
  end)

  it("refuses the sandbox with a wrong CA, and sends nothing", function()
    local dir = helper.tmpdir()
    assert(os.execute("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=other -keyout "
      .. dir .. "/k.pem -out " .. dir .. "/ca.pem >/dev/null 2>&1"))
    local before = state(sb)
    local c = client_for(sb, { ca_file = dir .. "/ca.pem" })
    local info, err = c:token_info()
    assert.is_nil(info)
    assert.equal("network", err.kind)
    assert.is_false(err.retryable)
    assert.equal(before.token_requests, state(sb).token_requests)
    c:close()
  end)
end)
