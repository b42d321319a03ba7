-- `kiva sandbox`: each rule of the local Kiva, checked with plain HTTP (LuaSocket,
-- raw sockets, curl for TLS), independent of the kiva client.
local helper = require "helper"
local socket = require "socket"
local ltn12 = require "ltn12"
local cjson = require "cjson.safe"

local ALL_SCOPES = "read:loans create:loan_draft create:journal_update create:repayment"

local request, form = helper.http, helper.form

local function token_request(sb, fields, content_type)
  local f = {
    grant_type = "client_credentials", client_id = sb.env.KIVA_CLIENT_ID,
    client_secret = sb.env.KIVA_CLIENT_SECRET, audience = sb.env.KIVA_API_URL,
  }
  for k, v in pairs(fields or {}) do f[k] = v or nil end -- false removes a field
  return request("POST", sb.env.KIVA_AUTH_URL, {
    body = form(f), headers = { ["Content-Type"] = content_type or "application/x-www-form-urlencoded" } })
end

local function get_token(sb, fields)
  local status, body = token_request(sb, fields)
  assert(status == 200, "token request failed: " .. tostring(status))
  return body.access_token, body
end

local function b64url_decode(s)
  s = s:gsub("-", "+"):gsub("_", "/")
  s = s .. string.rep("=", (4 - #s % 4) % 4)
  return (require("mime").unb64(s))
end

local function api(sb, path)
  return sb.url .. "/v3/partner/1/" .. path
end

local function repayment(i, amount)
  return { loan_id = string.format("L%06d", i), client_id = string.format("C%06d", i), amount = amount or 10 }
end

-- A date `offset` days from today (UTC): drafts stay near today, as a partner's are.
local function day(offset)
  return os.date("!%Y-%m-%d", os.time() + offset * 86400)
end

local function draft(loan_id, extra)
  local d = {
    activity_id = 61, description_language_id = 3, location = "Thiès, Senegal", currency = "XOF",
    disburse_time = day(-10), client_waiver_signed = true, loanuse = "acheter des semences",
    description = "Aïssatou cultive l'arachide.",
    image_encoded = "data:image/gif;base64,R0lGODlhAQABAAAAACw=",
    entreps = { { client_id = "C-" .. loan_id, loan_id = loan_id, first_name = "Aïssatou", last_name = "Diop",
      gender = "female", amount = 150000 } },
    schedule = { { date = day(20), principal = 150000, interest = 3000 } },
  }
  for k, v in pairs(extra or {}) do d[k] = v end
  return d
end

-- Raw connection helpers for keep-alive, concurrency and dropped connections.
local function connect(sb)
  local host, port = sb.url:match("^http://([^:/]+):(%d+)")
  local c = assert(socket.connect(host, tonumber(port)))
  c:settimeout(5)
  return c
end

local function read_response(c)
  local line, err = c:receive("*l")
  if not line then return nil, err end
  local status = tonumber(line:match("^HTTP/1%.1 (%d+)"))
  local headers = {}
  while true do
    local h = assert(c:receive("*l"))
    if h == "" then break end
    local k, v = h:match("^([^:]+):%s*(.*)$")
    headers[k:lower()] = v
  end
  local body = c:receive(tonumber(headers["content-length"]))
  return status, headers, body
end

local function raw_get(c, path, extra)
  assert(c:send("GET " .. path .. " HTTP/1.1\r\nHost: x\r\n" .. (extra or "") .. "\r\n"))
  return read_response(c)
end

local vanished -- TLS connections whose descriptor a test closed underneath

-- busted keeps one `finally` per test; a test here may start several sandboxes.
local cleanups = {}
local function on_exit(fn) cleanups[#cleanups + 1] = fn end

describe("kiva sandbox #sandbox", function()
  local sb

  after_each(function()
    for i = #cleanups, 1, -1 do pcall(cleanups[i]) end
    cleanups = {}
  end)

  setup(function()
    sb = helper.start_sandbox("")
  end)

  teardown(function()
    if sb then sb.stop() end
    helper.cleanup()
  end)

  describe("start", function()
    it("prints the export lines a shell can eval, the secret last", function()
      local out = helper.read(sb.dir .. "/sandbox.out")
      local names = {}
      for name in out:gmatch("export (KIVA_[%w_]+)=") do names[#names + 1] = name end
      assert.same({ "KIVA_AUTH_URL", "KIVA_API_URL", "KIVA_CLIENT_ID", "KIVA_CLIENT_SECRET" }, names)
      assert.matches("^http://127%.0%.0%.1:%d+/oauth/token$", sb.env.KIVA_AUTH_URL)
      assert.matches("^http://127%.0%.0%.1:%d+$", sb.env.KIVA_API_URL)
      assert.is_true(#sb.env.KIVA_CLIENT_SECRET >= 24)
    end)

    it("quotes a given secret for the shell, quotes included", function()
      local other = helper.start_sandbox([[--client-secret "it's a s&cr=t +%"]])
      on_exit(other.stop)
      local r = helper.run(". " .. helper.quote(other.dir .. "/sandbox.out") .. ' && printf %s "$KIVA_CLIENT_SECRET"')
      assert.equal(0, r.code)
      assert.equal("it's a s&cr=t +%", r.out)
      local status = token_request(other, { client_secret = "it's a s&cr=t +%" })
      assert.equal(200, status)
    end)

    it("refuses bad options with exit status 2", function()
      local r = helper.run(helper.kiva("sandbox --faults 503:2"))
      assert.equal(2, r.code)
      assert.matches("probability", r.err)
      r = helper.run(helper.kiva("sandbox --csv-format four"))
      assert.equal(2, r.code)
    end)
  end)

  describe("token endpoint", function()
    it("issues a bearer JWT with the TTL, partner id, audience and all granted scopes", function()
      local status, body = token_request(sb)
      assert.equal(200, status)
      assert.equal("bearer", body.token_type)
      assert.equal(43200, body.expires_in)
      assert.equal("1", body.partnerId)
      assert.equal(ALL_SCOPES, body.scope)
      assert.is_string(body.jti)
      assert.is_string(body.iss)
      local h, p, s = body.access_token:match("^([%w_-]+)%.([%w_-]+)%.([%w_-]+)$")
      assert.truthy(s)
      assert.equal("JWT", cjson.decode(b64url_decode(h)).typ)
      local claims = cjson.decode(b64url_decode(p))
      assert.equal(43200, claims.exp - claims.iat)
      assert.equal(sb.env.KIVA_API_URL, claims.aud)
      assert.equal("1", claims.partnerId)
      assert.equal(ALL_SCOPES, claims.scope)
      assert.is_nil(body.access_token:find(sb.env.KIVA_CLIENT_SECRET, 1, true))
    end)

    it("answers 401 to a wrong secret or client id", function()
      assert.equal(401, (token_request(sb, { client_secret = "wrong" })))
      assert.equal(401, (token_request(sb, { client_id = "someone-else" })))
    end)

    it("answers 400 to another grant type, a missing one or a JSON body", function()
      local status, body = token_request(sb, { grant_type = "password" })
      assert.equal(400, status)
      assert.equal("unsupported_grant_type", body.error)
      assert.equal(400, (token_request(sb, { grant_type = false })))
      assert.equal(400, (token_request(sb, nil, "application/json")))
    end)

    it("requires the API base URL as audience", function()
      assert.equal(400, (token_request(sb, { audience = false })))
      assert.equal(403, (token_request(sb, { audience = "https://partner-api.k1.kiva.org" })))
      assert.equal(403, (token_request(sb, { audience = sb.env.KIVA_API_URL .. "/v3" })))
    end)

    it("grants the intersection of the requested and the granted scopes", function()
      local _, body = token_request(sb, { scope = "create:repayment read:loans delete:everything" })
      assert.equal("create:repayment read:loans", body.scope)
    end)

    it("does not count token requests as API requests nor inject faults into them", function()
      local faulty = helper.start_sandbox("--faults 503:1")
      on_exit(faulty.stop)
      assert.equal(200, (token_request(faulty)))
      local state = faulty.state()
      assert.equal(1, state.token_requests)
      assert.equal(0, state.requests)
      assert.equal(0, #state.faults)
    end)
  end)

  describe("bearer tokens", function()
    it("answers 401 without a token or with an unknown one", function()
      local status, _, headers = request("GET", api(sb, "loans"))
      assert.equal(401, status)
      assert.matches("^Bearer", headers["www-authenticate"])
      assert.equal(401, (request("GET", api(sb, "loans"), { token = "not.a.token" })))
      assert.equal(401, (request("GET", api(sb, "loans"), { headers = { Authorization = "Basic eDp5" } })))
    end)

    it("answers 403 for another partner's path", function()
      local tok = get_token(sb)
      local status, body = request("GET", sb.url .. "/v3/partner/2/loans", { token = tok })
      assert.equal(403, status)
      assert.is_string(body.message)
    end)

    it("answers 403 outside the token's scope, and serves config to any scope", function()
      local tok = get_token(sb, { scope = "read:loans" })
      assert.equal(200, (request("GET", api(sb, "loans"), { token = tok })))
      assert.equal(200, (request("GET", api(sb, "config/activities"), { token = tok })))
      assert.equal(403, (request("POST", api(sb, "repayments"),
        { token = tok, json = { repayments = { repayment(1) } } })))
      assert.equal(403, (request("POST", api(sb, "loan_draft"), { token = tok, json = draft("X-403") })))
      assert.equal(403, (request("POST", api(sb, "journals"), { token = tok,
        json = { journals = { { internal_loan_id = "L000001", internal_client_id = "C000001",
          subject = "s", body = "b" } } } })))
    end)

    it("expires tokens after --token-ttl, and --scopes/--partner-id shape what is granted", function()
      local short = helper.start_sandbox("--token-ttl 1 --partner-id 7 --scopes 'read:loans create:loan_draft'")
      on_exit(short.stop)
      local _, body = token_request(short, { scope = "read:loans create:repayment" })
      assert.equal("read:loans", body.scope)
      assert.equal(1, body.expires_in)
      assert.equal("7", body.partnerId)
      local _, all = token_request(short)
      assert.equal("read:loans create:loan_draft", all.scope)
      local url = short.url .. "/v3/partner/7/loans"
      assert.equal(200, (request("GET", url, { token = body.access_token })))
      assert.equal(400, (request("POST", short.url .. "/__sandbox/clock", { json = { advance = -1 } })))
      assert.equal(200, (request("GET", url, { token = body.access_token })))
      -- past the 1 s lifetime on the sandbox's clock, with no wait
      local advanced = request("POST", short.url .. "/__sandbox/clock", { json = { advance = 1.1 } })
      assert.equal(200, advanced)
      local status, err = request("GET", url, { token = body.access_token })
      assert.equal(401, status)
      assert.equal("token expired", err.message)
    end)
  end)

  describe("request bodies", function()
    local tok
    setup(function() tok = get_token(sb) end)

    it("answers 400 to a non-JSON content type", function()
      local status, body = request("POST", api(sb, "repayments"), { token = tok,
        body = cjson.encode { repayments = { repayment(1) } }, headers = { ["Content-Type"] = "text/plain" } })
      assert.equal(400, status)
      assert.equal("invalid_content_type", body.code)
    end)

    it("answers 400 to invalid UTF-8", function()
      local status, body = request("POST", api(sb, "journals"), { token = tok,
        body = '{"journals":[{"internal_loan_id":"L000001","internal_client_id":"C000001",'
          .. '"subject":"caf\xe9","body":"b"}]}',
        headers = { ["Content-Type"] = "application/json" } })
      assert.equal(400, status)
      assert.equal("invalid_utf8", body.code)
    end)

    it("answers 400 to malformed JSON", function()
      local status, body = request("POST", api(sb, "loan_draft"), { token = tok, body = '{"entreps": [',
        headers = { ["Content-Type"] = "application/json; charset=utf-8" } })
      assert.equal(400, status)
      assert.equal("malformed_json", body.code)
    end)

    it("accepts a chunked body and Expect: 100-continue (curl)", function()
      local body = cjson.encode { repayments = { repayment(11, 7), repayment(12, 7) } }
      body = body .. string.rep(" ", 4000)
      local path = helper.tmpdir() .. "/body.json"
      helper.write(path, body)
      local r = helper.run("curl -s -H 'Transfer-Encoding: chunked' -H 'Content-Type: application/json' -H "
        .. helper.quote("Authorization: Bearer " .. tok) .. " --data-binary @" .. path .. " "
        .. helper.quote(api(sb, "repayments")))
      assert.equal(0, r.code)
      local answer = cjson.decode(r.out)
      assert.is_string(answer.upload_id)
      assert.same({}, answer.problems)
    end)
  end)

  describe("loan drafts", function()
    local tok
    setup(function() tok = get_token(sb) end)

    it("answers 200 with the draft's UUID and no warnings for a complete draft", function()
      local status, body = request("POST", api(sb, "loan_draft"), { token = tok, json = draft("D-1") })
      assert.equal(200, status)
      assert.matches("^%x+%-%x+%-4%x+%-%x+%-%x+$", body.loan_draft_uuid)
      assert.equal(0, #body.warnings)
      assert.is_string(body.code)
      assert.is_string(body.message)
    end)

    it("reports PA2's publication rules as warnings", function()
      local d = draft("D-2")
      d.description, d.activity_id, d.image_encoded = nil, nil, nil
      local status, body = request("POST", api(sb, "loan_draft"), { token = tok, json = d })
      assert.equal(200, status)
      local codes = {}
      for _, w in ipairs(body.warnings) do codes[w.code] = w.path end
      assert.same({ missing_description = "description", missing_activity = "activity_id",
        missing_image = "image_encoded" }, codes)
    end)

    it("refuses drafts by Kiva's error tier (400 with the errors)", function()
      local d = draft("D-3")
      d.entreps[1].gender = "robot"
      local status, body = request("POST", api(sb, "loan_draft"), { token = tok, json = d })
      assert.equal(400, status)
      assert.equal("validation_failed", body.code)
      assert.is_true(#body.errors >= 1)
      assert.matches("entreps", body.errors[1].path)
    end)

    it("counts a draft posted twice as a duplicate", function()
      local before = sb.state()
      assert.equal(200, (request("POST", api(sb, "loan_draft"), { token = tok, json = draft("D-dup") })))
      assert.equal(200, (request("POST", api(sb, "loan_draft"), { token = tok, json = draft("D-dup") })))
      local state = sb.state()
      assert.equal(before.duplicates + 1, state.duplicates)
      local entry
      for _, e in ipairs(state.loan_drafts) do if e.key == "D-dup" then entry = e end end
      assert.equal(2, entry.count)
    end)

    it("keys a group loan by its internal_loan_id", function()
      local d = draft("G-member-1", { group_name = "Groupe Bénkadi", internal_loan_id = "G-77",
        internal_client_id = "GC-77", not_pictured = { false, true } })
      d.entreps[2] = { client_id = "C-2", loan_id = "G-member-2", first_name = "Fatou", last_name = "Ndiaye",
        gender = "female", amount = 1 }
      d.entreps[1].amount = 149999
      assert.equal(200, (request("POST", api(sb, "loan_draft"), { token = tok, json = d })))
      local found
      for _, e in ipairs(sb.state().loan_drafts) do if e.key == "G-77" then found = e end end
      assert.truthy(found)
    end)
  end)

  describe("repayments", function()
    local tok
    setup(function() tok = get_token(sb) end)

    it("accepts payingBack and defaulted loans; others, unknown loans and wrong clients are problems", function()
      local items = {
        repayment(21, 480.5),                                  -- payingBack
        repayment(28, 100),                                    -- defaulted
        repayment(29, 100),                                    -- ended
        repayment(30, 100),                                    -- another status (i % 10 == 0)
        { loan_id = "L999999", client_id = "C999999", amount = 5 },
        { loan_id = "L000022", amount = 5 },                   -- no client id (three-column)
        { loan_id = "L000023", client_id = "C000024", amount = 5 },
        { loan_id = "L000024", client_id = "C000024", amount = -5 },
      }
      local status, body = request("POST", api(sb, "repayments"), { token = tok, json = { repayments = items } })
      assert.equal(200, status)
      assert.is_string(body.upload_id)
      local by_loan = {}
      for _, p in ipairs(body.problems) do
        assert.equal("error", p.severity)
        assert.is_string(p.details)
        by_loan[p.loan_id] = p.code
      end
      assert.same({ L000029 = "loan_not_repaying", L000030 = "loan_not_repaying", L999999 = "loan_not_found",
        L000022 = "missing_client_id", L000023 = "client_id_mismatch", L000024 = "invalid_amount" }, by_loan)
      local applied = {}
      for _, r in ipairs(sb.state().repayments) do
        if r.upload_id == body.upload_id then applied[r.loan_id] = r.amount end
      end
      assert.same({ L000021 = 480.5, L000028 = 100 }, applied)
    end)

    it("refuses a batch above 300 and accepts one of 300", function()
      local items = {}
      for i = 1, 301 do items[i] = repayment(i) end
      local status, body = request("POST", api(sb, "repayments"), { token = tok, json = { repayments = items } })
      assert.equal(400, status)
      assert.equal("too_many_items", body.code)
      items[301] = nil
      assert.equal(200, (request("POST", api(sb, "repayments"), { token = tok, json = { repayments = items } })))
    end)

    it("answers 400 to a body without a repayments list", function()
      assert.equal(400, (request("POST", api(sb, "repayments"), { token = tok, json = { repayment(1) } })))
      assert.equal(400, (request("POST", api(sb, "repayments"), { token = tok, json = { repayments = "L000001" } })))
    end)

    it("needs no client_id in two-column mode", function()
      local two = helper.start_sandbox("--csv-format two")
      on_exit(two.stop)
      assert.equal("two", two.env.KIVA_CSV_FORMAT)
      local t = get_token(two)
      local status, body = request("POST", api(two, "repayments"), { token = t,
        json = { repayments = { { loan_id = "L000001", amount = 3 } } } })
      assert.equal(200, status)
      assert.same({}, body.problems)
      assert.equal(1, #two.state().repayments)
    end)

    it("counts the same repayment applied twice as a duplicate", function()
      local before = sb.state().duplicates
      local batch = { repayments = { repayment(41, 12.5), repayment(42, 12.5) } }
      assert.equal(200, (request("POST", api(sb, "repayments"), { token = tok, json = batch })))
      assert.equal(200, (request("POST", api(sb, "repayments"), { token = tok, json = batch })))
      assert.equal(before + 2, sb.state().duplicates)
    end)
  end)

  describe("journals", function()
    it("answers archive_id and a confirm_url that can be visited", function()
      local tok = get_token(sb)
      local status, body = request("POST", api(sb, "journals"), { token = tok, json = { journals = {
        { internal_loan_id = "L000001", internal_client_id = "C000001", subject = "Récolte",
          body = "Très bonne année." },
      } } })
      assert.equal(200, status)
      assert.is_string(body.archive_id)
      assert.matches("^http://", body.confirm_url)
      assert.same({}, body.problems)
      assert.equal(200, (request("GET", body.confirm_url)))
      local found
      for _, j in ipairs(sb.state().journals) do
        if j.archive_id == body.archive_id then found = j end
      end
      assert.same({ archive_id = body.archive_id, internal_loan_id = "L000001", subject = "Récolte", count = 1 }, found)
    end)
  end)

  describe("loans", function()
    local tok
    setup(function() tok = get_token(sb, { scope = "read:loans" }) end)

    it("pages the 1,000 generated loans with every field, all statuses, total_records", function()
      local seen, statuses, offset = {}, {}, 0
      local fields = { "kiva_id", "uuid", "internal_loan_id", "internal_client_id", "borrower_count", "name",
        "location", "status", "loan_price", "loan_local_price", "loan_currency", "delinquent", "create_time" }
      repeat
        local status, body = request("GET", api(sb, "loans?limit=300&offset=" .. offset), { token = tok })
        assert.equal(200, status)
        assert.equal(1000, body.total_records)
        for _, loan in ipairs(body.data) do
          for _, f in ipairs(fields) do assert.is_not_nil(loan[f], f) end
          assert.is_nil(seen[loan.internal_loan_id])
          seen[loan.internal_loan_id] = loan
          statuses[loan.status] = (statuses[loan.status] or 0) + 1
        end
        offset = offset + #body.data
      until #body.data == 0
      assert.equal(1000, offset)
      assert.equal("C000017", seen.L000017.internal_client_id)
      assert.equal(700, statuses.payingBack)
      assert.equal(100, statuses.defaulted)
      assert.equal(100, statuses.ended)
      for _, s in ipairs { "refunded", "inactive", "inactive_expired", "fundRaising", "expired", "raised",
        "reviewed", "issue" } do
        assert.is_true((statuses[s] or 0) > 0, s)
      end
    end)

    it("filters by status and query, defaults to 20 per page, refuses a limit above 300", function()
      local _, body = request("GET", api(sb, "loans?status=defaulted"), { token = tok })
      assert.equal(100, body.total_records)
      assert.equal(20, #body.data)
      for _, l in ipairs(body.data) do assert.equal("defaulted", l.status) end
      _, body = request("GET", api(sb, "loans?query=L000123"), { token = tok })
      assert.equal(1, body.total_records)
      assert.equal("C000123", body.data[1].internal_client_id)
      local status = request("GET", api(sb, "loans?limit=301"), { token = tok })
      assert.equal(400, status)
      assert.equal(400, (request("GET", api(sb, "loans?offset=-1"), { token = tok })))
    end)

    it("adds the loans of --portfolio to --loans generated ones", function()
      local file = helper.write(helper.tmpdir() .. "/portfolio.json", cjson.encode {
        { internal_loan_id = "MIS-1", internal_client_id = "CL-1", status = "payingBack", name = "Zoë Ibáñez" },
        { internal_loan_id = "L000002", internal_client_id = "C000002", status = "ended" },
      })
      local p = helper.start_sandbox("--loans 5 --portfolio " .. file)
      on_exit(p.stop)
      local t = get_token(p)
      local _, body = request("GET", api(p, "loans"), { token = t })
      assert.equal(6, body.total_records)
      local _, one = request("GET", api(p, "loans?query=MIS-1"), { token = t })
      assert.equal("Zoë Ibáñez", one.data[1].name)
      assert.is_string(one.data[1].uuid)
      local _, rep = request("POST", api(p, "repayments"), { token = t, json = { repayments = {
        { loan_id = "MIS-1", client_id = "CL-1", amount = 1 }, repayment(2) } } })
      assert.equal(1, #rep.problems)
      assert.equal("L000002", rep.problems[1].loan_id)
    end)
  end)

  describe("config lists", function()
    it("serves activities, locales, themes and locations with as_of_date_time and accents", function()
      local tok = get_token(sb, { scope = "create:repayment" })
      local lists = {}
      for _, name in ipairs { "activities", "locales", "themes", "locations" } do
        local status, body = request("GET", api(sb, "config/" .. name), { token = tok })
        assert.equal(200, status)
        assert.matches("^%d%d%d%d%-%d%d%-%d%dT", body.as_of_date_time)
        assert.is_true(#body[name] > 3)
        lists[name] = body[name]
      end
      local activities = {}
      for _, a in ipairs(lists.activities) do activities[a.activity] = a.activity_id end
      for _, a in ipairs { "Agriculture", "Retail", "Food Production/Sales", "Tailoring", "Livestock" } do
        assert.is_number(activities[a], a)
      end
      local locales = {}
      for _, l in ipairs(lists.locales) do
        assert.is_number(l.language_id)
        locales[l.language_code .. ":" .. l.currency] = l.language_name
      end
      assert.equal("French", locales["fr:XOF"])
      assert.equal("Spanish", locales["es:COP"])
      assert.equal("English", locales["en:UGX"])
      local places = {}
      for _, l in ipairs(lists.locations) do places[l.location] = l.full_name end
      for _, town in ipairs { "Thiès", "Ségou", "Cotonou", "Bogotá", "Yaoundé" } do
        assert.is_string(places[town], town)
      end
      assert.is_number(lists.themes[1].theme_type_id)
      assert.equal(404, (request("GET", api(sb, "config/colours"), { token = tok })))
    end)
  end)

  describe("connections", function()
    it("keeps a connection alive across requests", function()
      local c = connect(sb)
      on_exit(function() c:close() end)
      local s1, h1 = raw_get(c, "/__sandbox/state")
      assert.equal(200, s1)
      assert.equal("keep-alive", h1["connection"])
      local s2 = raw_get(c, "/v3/partner/1/loans")
      assert.equal(401, s2)
      local s3 = raw_get(c, "/__sandbox/state", "Connection: close\r\n")
      assert.equal(200, s3)
      assert.is_nil(c:receive(1))
    end)

    it("serves other connections while one is half-sent", function()
      local stalled = connect(sb)
      on_exit(function() stalled:close() end)
      stalled:send("POST /v3/partner/1/repayments HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
      local others = {}
      for i = 1, 5 do
        others[i] = connect(sb)
        others[i]:send("GET /__sandbox/state HTTP/1.1\r\nHost: x\r\n\r\n")
      end
      for i = 5, 1, -1 do
        assert.equal(200, (read_response(others[i])))
        others[i]:close()
      end
      stalled:send(string.rep(" ", 99))
      assert.equal(401, (read_response(stalled)))
    end)
  end)

  describe("faults", function()
    local function faulty(spec, extra)
      local s = helper.start_sandbox("--faults " .. spec .. " " .. (extra or ""))
      return s, get_token(s)
    end

    local function post_two(s, tok)
      return request("POST", api(s, "repayments"), { token = tok,
        json = { repayments = { repayment(1), repayment(2) } } })
    end

    it("503 leaves the request unapplied", function()
      local s, tok = faulty("503:1")
      on_exit(s.stop)
      assert.equal(503, (post_two(s, tok)))
      assert.equal(200, (request("GET", api(s, "loans"), { token = tok })))
      local state = s.state()
      assert.equal(0, #state.repayments)
      assert.same({ { fault = "503", path = "/v3/partner/1/repayments", keys = { "L000001", "L000002" },
        applied = false } }, state.faults)
    end)

    it("429 answers Retry-After and leaves the request unapplied", function()
      local s, tok = faulty("429:1")
      on_exit(s.stop)
      local status, _, headers = post_two(s, tok)
      assert.equal(429, status)
      assert.equal("1", headers["retry-after"])
      assert.equal(0, #s.state().repayments)
    end)

    it("drop_before reads the request, closes without answering, applies nothing", function()
      local s, tok = faulty("drop_before:1")
      on_exit(s.stop)
      local status, err = post_two(s, tok)
      assert.is_nil(status)
      assert.equal("closed", err)
      local state = s.state()
      assert.equal(0, #state.repayments)
      assert.is_false(state.faults[1].applied)
    end)

    it("500after applies the request, then answers 500", function()
      local s, tok = faulty("500after:1")
      on_exit(s.stop)
      assert.equal(500, (request("POST", api(s, "loan_draft"), { token = tok, json = draft("F-1") })))
      local state = s.state()
      assert.equal(1, #state.loan_drafts)
      assert.same({ fault = "500after", path = "/v3/partner/1/loan_draft", keys = { "F-1" }, applied = true },
        state.faults[1])
    end)

    it("drop_after applies the request, then closes without answering", function()
      local s, tok = faulty("drop_after:1")
      on_exit(s.stop)
      local status, err = post_two(s, tok)
      assert.is_nil(status)
      assert.equal("closed", err)
      local state = s.state()
      assert.equal(2, #state.repayments)
      assert.is_true(state.faults[1].applied)
    end)

    it("slow applies and answers after --slow-ms without blocking other connections", function()
      local s, tok = faulty("slow:1", "--slow-ms 1000")
      on_exit(s.stop)
      local c = connect(s)
      on_exit(function() c:close() end)
      local body = cjson.encode { repayments = { repayment(3) } }
      c:send("POST /v3/partner/1/repayments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " .. tok
        .. "\r\nContent-Type: application/json\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body)
      -- applied first, answered later: the state shows it while its answer is held back
      local applied
      for _ = 1, 50 do
        applied = #s.state().repayments == 1
        if applied then break end
        socket.sleep(0.02)
      end
      assert.is_true(applied)
      -- another connection is answered meanwhile, and the slow answer is not there yet
      assert.equal(200, (request("GET", api(s, "loans"), { token = tok })))
      c:settimeout(0)
      local early, why = c:receive(1)
      assert.is_nil(early)
      assert.equal("timeout", why)
      c:settimeout(5)
      assert.equal(200, (read_response(c)))
      assert.equal(1, #s.state().repayments)
    end)

    it("decides the same faults for the same --seed", function()
      local function run(seed)
        local s, tok = faulty("503:0.5", "--seed " .. seed)
        on_exit(s.stop)
        local seq = {}
        for i = 1, 24 do
          seq[i] = request("POST", api(s, "loan_draft"), { token = tok, json = draft("S-" .. i) })
        end
        return table.concat(seq, " ")
      end
      local a, b, c = run(42), run(42), run(43)
      assert.equal(a, b)
      assert.not_equal(a, c)
      assert.matches("503", a)
      assert.matches("200", a)
    end)
  end)

  describe("state", function()
    it("writes --state FILE on each change and serves the same at /__sandbox/state", function()
      local dir = helper.tmpdir()
      local s = helper.start_sandbox("--loans 1000 --state " .. dir .. "/state.json")
      on_exit(s.stop)
      local tok = get_token(s)
      assert.equal(200, (request("POST", api(s, "repayments"), { token = tok,
        json = { repayments = { repayment(1), repayment(2) } } })))
      -- no GET in between: the file is rewritten before the answer when cheap
      local file = cjson.decode(helper.read(dir .. "/state.json"))
      assert.equal(2, #file.repayments)
      assert.equal(1, file.token_requests)
      assert.equal(1, file.requests)
      local served = s.state()
      assert.same(served, cjson.decode(helper.read(dir .. "/state.json")))
      for _, k in ipairs { "token_requests", "requests", "duplicates", "loan_drafts", "repayments",
        "journals", "faults" } do
        assert.is_not_nil(served[k], k)
      end
    end)

    it("stops cleanly on SIGTERM: every change in the state file, throwaway CA removed", function()
      local dir = helper.tmpdir()
      local s = helper.start_sandbox("--loans 1000 --tls --state " .. dir .. "/state.json")
      on_exit(s.stop)
      local tok = get_token(s)
      for b = 0, 9 do
        local items = {}
        for i = 1, 100 do items[i] = repayment(b * 100 + i) end
        assert.equal(200, (request("POST", api(s, "repayments"), { token = tok, json = { repayments = items } })))
      end
      assert.equal(200, (request("POST", api(s, "loan_draft"), { token = tok, json = draft("last") })))
      s.kill("TERM")
      assert.is_false(s.alive())
      local file = assert(cjson.decode(helper.read(dir .. "/state.json")))
      assert.equal(800, #file.repayments) -- statuses 1-8 of each ten accept repayments
      assert.equal("last", file.loan_drafts[1].key)
      assert.is_nil(helper.read(s.env.KIVA_CA_FILE))
      assert.matches("got SIGTERM, stopping", s.stderr())
    end)

    it("stops cleanly on SIGINT: state written, throwaway CA removed", function()
      local dir = helper.tmpdir()
      local s = helper.start_sandbox("--loans 1000 --tls --state " .. dir .. "/state.json")
      on_exit(s.stop)
      local r = helper.run("curl -s --cacert " .. helper.quote(s.env.KIVA_CA_FILE) .. " -d grant_type=x "
        .. helper.quote(s.env.KIVA_AUTH_URL))
      assert.equal(0, r.code)
      s.kill("INT")
      assert.is_false(s.alive())
      assert.equal(1, cjson.decode(helper.read(dir .. "/state.json")).token_requests)
      assert.is_nil(helper.read(s.env.KIVA_CA_FILE))
      assert.matches("stopped", s.stderr())
    end)

    it("keeps 10,000 repayments sent in batches of 250, in memory and in its state file", function()
      local dir = helper.tmpdir()
      local s = helper.start_sandbox("--loans 12500 --state " .. dir .. "/state.json")
      on_exit(s.stop)
      local tok = get_token(s)
      local sent, i = 0, 0
      while sent < 10000 do
        local items = {}
        while #items < 250 do
          i = i + 1
          if i % 10 >= 1 and i % 10 <= 8 then items[#items + 1] = repayment(i) end
        end
        local status, body = request("POST", api(s, "repayments"), { token = tok, json = { repayments = items } })
        assert.equal(200, status)
        assert.equal(0, #body.problems)
        sent = sent + #items
      end
      local state = s.state()
      assert.equal(10000, #state.repayments)
      assert.equal(10000, #cjson.decode(helper.read(dir .. "/state.json")).repayments)
    end)

    it("answers /__sandbox/state without a token", function()
      local status, body = request("GET", sb.url .. "/__sandbox/state")
      assert.equal(200, status)
      assert.is_number(body.requests)
    end)
  end)

  describe("TLS", function()
    it("serves HTTPS with a throwaway CA printed as KIVA_CA_FILE", function()
      local s = helper.start_sandbox("--tls")
      on_exit(s.stop)
      assert.matches("^https://127%.0%.0%.1:%d+$", s.env.KIVA_API_URL)
      assert.matches("^https://", s.env.KIVA_AUTH_URL)
      local out = helper.read(s.dir .. "/sandbox.out")
      assert.matches("KIVA_CLIENT_SECRET=[^\n]*\nexport KIVA_CA_FILE=", out)
      local function curl(args)
        return helper.run("curl -s -S --cacert " .. helper.quote(s.env.KIVA_CA_FILE) .. " " .. args)
      end
      local r = curl("-d grant_type=client_credentials -d client_id=" .. helper.quote(s.env.KIVA_CLIENT_ID)
        .. " --data-urlencode " .. helper.quote("client_secret=" .. s.env.KIVA_CLIENT_SECRET)
        .. " --data-urlencode " .. helper.quote("audience=" .. s.env.KIVA_API_URL) .. " " .. s.env.KIVA_AUTH_URL)
      assert.equal(0, r.code, r.err)
      local tok = cjson.decode(r.out).access_token
      -- two requests on one TLS connection: curl reuses it
      r = curl("-H " .. helper.quote("Authorization: Bearer " .. tok) .. " -w '%{num_connects}\\n' "
        .. helper.quote(api(s, "config/locations")) .. " " .. helper.quote(api(s, "loans?limit=1")))
      assert.equal(0, r.code, r.err)
      assert.matches("Thiès", r.out)
      assert.matches('"total_records":1000', r.out)
      assert.equal(1, select(2, r.out:gsub("}1\n", "")))
      assert.matches("}0\n$", r.out)
      -- an unknown CA is refused
      r = helper.run("curl -s " .. helper.quote(s.env.KIVA_API_URL .. "/__sandbox/state"))
      assert.not_equal(0, r.code)
    end)

    it("keeps serving after TLS clients send a request and vanish without close_notify", function()
      local s = helper.start_sandbox("--tls")
      on_exit(s.stop)
      local ssl = require "ssl"
      local host, port = s.url:match("^https://([^:/]+):(%d+)")
      vanished = vanished or {} -- kept alive: their __gc would write to reused descriptors
      for _ = 1, 30 do
        local tcp = assert(socket.connect(host, tonumber(port)))
        local fd = tcp:getfd()
        local conn = assert(ssl.wrap(tcp, { mode = "client", protocol = "any", verify = "peer",
          cafile = s.env.KIVA_CA_FILE }))
        conn:settimeout(5)
        assert(conn:dohandshake())
        conn:send("GET /__sandbox/state HTTP/1.1\r\nHost: x\r\n\r\n")
        local closer = socket.tcp()
        closer:setfd(fd)
        closer:close() -- the descriptor goes away under LuaSec: no close_notify is sent
        vanished[#vanished + 1] = conn
      end
      local r = helper.run("curl -s -m 5 --cacert " .. helper.quote(s.env.KIVA_CA_FILE) .. " "
        .. helper.quote(s.url .. "/__sandbox/state"))
      assert.equal(0, r.code, "the sandbox stopped answering")
      assert.is_number(cjson.decode(r.out).requests)
    end)

    it("serves a given --cert/--key and prints --ca as KIVA_CA_FILE", function()
      local made = assert(require("kiva.sandbox.tls").throwaway("127.0.0.1"))
      on_exit(function() require("kiva.sandbox.tls").remove(made.dir) end)
      local s = helper.start_sandbox(string.format("--tls --cert %s --key %s --ca %s", made.cert_file,
        made.key_file, made.ca_file))
      on_exit(s.stop)
      assert.equal(made.ca_file, s.env.KIVA_CA_FILE)
      local r = helper.run("curl -s -S --cacert " .. helper.quote(made.ca_file) .. " "
        .. helper.quote(s.url .. "/__sandbox/state"))
      assert.equal(0, r.code, r.err)
      assert.is_number(cjson.decode(r.out).requests)
    end)

    it("serves with LuaSec clients too (certificate verified)", function()
      local s = helper.start_sandbox("--tls")
      on_exit(s.stop)
      local https = require "ssl.https"
      local sink = {}
      local ok, status = https.request { url = s.url .. "/__sandbox/state", sink = ltn12.sink.table(sink),
        cafile = s.env.KIVA_CA_FILE, verify = "peer", protocol = "any" }
      assert.equal(1, ok)
      assert.equal(200, status)
      assert.is_number(cjson.decode(table.concat(sink)).requests)
    end)
  end)

  describe("a sandbox a partner can shape", function()
    it("accepts a partial draft and answers what PA2 needs as warnings", function()
      local tok = get_token(sb)
      local status, body = request("POST", api(sb, "loan_draft"), { token = tok, json = { entreps = { {
        client_id = "CL-5502", loan_id = "PR-2024-0102", first_name = "François", last_name = "Ndiaye",
        gender = "male", amount = 75000 } } } })
      assert.equal(200, status)
      local codes = {}
      for _, w in ipairs(body.warnings) do codes[#codes + 1] = w.code end
      assert.same({ "missing_activity", "missing_currency", "missing_description", "missing_disburse_time",
        "missing_image", "missing_loanuse", "missing_location", "missing_schedule" }, codes)
    end)

    it("warns about a disbursal three years ahead", function()
      local d = draft("D-far", { disburse_time = day(3 * 365), schedule = { { date = day(3 * 365 + 30),
        principal = 150000 } } })
      local status, body = request("POST", api(sb, "loan_draft"), { token = get_token(sb), json = d })
      assert.equal(200, status)
      assert.equal("disbursal_far", body.warnings[1].code)
      assert.equal("disburse_time", body.warnings[1].path)
    end)

    it("serves the partner's own lists from --config, in Kiva's answer shape or as bare lists", function()
      local file = helper.write(helper.tmpdir() .. "/config.json", cjson.encode {
        locations = { as_of_date_time = "2026-11-30T00:00:00Z", locations = {
          { country = "Peru", location = "Andahuaylas", full_name = "Andahuaylas, Apurímac, Peru" } } },
        activities = { { activity_id = 999, activity = "Cuyes" } },
      })
      local s = helper.start_sandbox("--config " .. file)
      on_exit(s.stop)
      local tok = get_token(s)
      local _, loc = request("GET", api(s, "config/locations"), { token = tok })
      assert.same({ { country = "Peru", location = "Andahuaylas", full_name = "Andahuaylas, Apurímac, Peru" } },
        loc.locations)
      assert.equal("2026-11-30T00:00:00Z", loc.as_of_date_time)
      local _, act = request("GET", api(s, "config/activities"), { token = tok })
      assert.same({ { activity_id = 999, activity = "Cuyes" } }, act.activities)
      local _, themes = request("GET", api(s, "config/themes"), { token = tok })
      assert.is_true(#themes.themes > 0)   -- a list left out keeps the sample
      local bad = helper.write(helper.tmpdir() .. "/bad.json", '{"lieux": []}')
      local r = helper.run(helper.kiva("sandbox --port 0 --config " .. bad))
      assert.equal(2, r.code)
      assert.matches('unknown list "lieux"', r.err)
    end)

    it("turns a posted draft into a loan of a chosen status, kept across a restart with --state", function()
      local dir = helper.tmpdir()
      local s = helper.start_sandbox("--state " .. dir .. "/state.json")
      on_exit(s.stop)
      local tok = get_token(s)
      local _, none = request("GET", api(s, "loans"), { token = tok })
      assert.equal(0, none.total_records)   -- --loans 0 by default with --state
      assert.equal(200, (request("POST", api(s, "loan_draft"), { token = tok, json = draft("PR-7") })))
      local status, loan = request("POST", s.url .. "/__sandbox/loans/PR-7/status",
        { json = { status = "payingBack" } })
      assert.equal(200, status)
      assert.equal("payingBack", loan.status)
      assert.equal("C-PR-7", loan.internal_client_id)
      assert.equal("XOF", loan.loan_currency)
      assert.equal(400, (request("POST", s.url .. "/__sandbox/loans/PR-7/status", { json = { status = "paid" } })))
      assert.equal(404, (request("POST", s.url .. "/__sandbox/loans/NOPE/status", { json = { status = "ended" } })))
      local _, rep = request("POST", api(s, "repayments"), { token = tok, json = { repayments = {
        { loan_id = "PR-7", client_id = "C-PR-7", amount = 5000 } } } })
      assert.same({}, rep.problems)
      s.stop()

      local again = helper.start_sandbox("--state " .. dir .. "/state.json")
      on_exit(again.stop)
      tok = get_token(again)
      local _, list = request("GET", api(again, "loans"), { token = tok })
      assert.equal(1, list.total_records)
      assert.equal("PR-7", list.data[1].internal_loan_id)
      local state = again.state()
      assert.equal(1, #state.repayments)
      assert.equal("PR-7", state.loan_drafts[1].key)
      -- what it was sent before the restart still counts: the same draft is a duplicate
      assert.equal(200, (request("POST", api(again, "loan_draft"), { token = tok, json = draft("PR-7") })))
      assert.equal(1, again.state().duplicates)
    end)

    it("generates no loans by default with --portfolio", function()
      local file = helper.write(helper.tmpdir() .. "/portfolio.json", cjson.encode {
        { internal_loan_id = "MIS-1", internal_client_id = "CL-1", status = "payingBack" } })
      local p = helper.start_sandbox("--portfolio " .. file)
      on_exit(p.stop)
      local _, body = request("GET", api(p, "loans"), { token = get_token(p) })
      assert.equal(1, body.total_records)
    end)
  end)
end)
