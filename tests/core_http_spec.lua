-- kiva.core http session: keep-alive, parallel requests, no redirects, size cap,
-- timeouts, and above all that a POST body is never resent by curl itself. Runs
-- against a small LuaSocket server of its own (things the sandbox does not do:
-- dropping a connection after reading, redirects, huge bodies) and, for TLS,
-- `openssl s_server` with a CA generated here.
local helper = require "helper"
local core = require "kiva.core"
local errors = require "kiva.errors"


local start_server = helper.start_http_server

-- Adds the requests, polls until all are done, returns results by id order.
local function run(session, reqs)
  local ids, byid = {}, {}
  for i, r in ipairs(reqs) do ids[i] = assert(session:add(r)) end
  local deadline = core.monotonic() + 20
  local got = 0
  while got < #reqs and core.monotonic() < deadline do
    for _, res in ipairs(assert(session:poll(0.5))) do
      byid[res.id] = res
      got = got + 1
    end
  end
  local out = {}
  for i, id in ipairs(ids) do out[i] = byid[id] end
  return out
end

local cjson = require "cjson"

describe("kiva.core http session", function()
  local server
  setup(function() server = start_server() end)
  teardown(function()
    server.stop()
    helper.cleanup()
  end)

  local function count(session)
    return cjson.decode(run(session, { { url = server.url .. "/__count" } })[1].body)
  end

  it("reuses one connection for sequential requests (keep-alive)", function()
    local s = core.http_session {}
    local before = count(s)
    for _ = 1, 5 do
      local res = run(s, { { url = server.url .. "/echo" } })[1]
      assert.equal(200, res.status)
      assert.is_nil(res.code)
    end
    local after = count(s)
    assert.equal(before.connections, after.connections)
    assert.equal(1, s:stats().connects)
    assert.equal(7, s:stats().requests)
    s:close()
  end)

  it("runs many requests at once and returns each under its id", function()
    local s = core.http_session { max_host_connections = 4 }
    local reqs = {}
    for i = 1, 12 do reqs[i] = { method = "POST", url = server.url .. "/echo", body = "body " .. i } end
    local results = run(s, reqs)
    for i, res in ipairs(results) do
      assert.equal(200, res.status)
      assert.equal("body " .. i, cjson.decode(res.body).body)
      assert.is_true(res.body_sent)
    end
    assert.equal(0, s:pending())
    assert.is_true(s:stats().connects <= 4)
    s:close()
  end)

  -- the body is not copied but kept alive by the session; an easy handle is kept
  -- (not reset) for the next request, which must set its own method and body
  it("sends each body whole though Lua keeps no reference to it, and a kept handle changes method", function()
    local s = core.http_session { max_host_connections = 1 }
    local ids = {}
    for i = 1, 3 do
      local body = string.rep(string.char(96 + i), 5000) .. i
      ids[i] = assert(s:add { method = "POST", url = server.url .. "/echo", body = body })
      body = nil   -- luacheck: ignore 311
    end
    collectgarbage("collect")
    collectgarbage("collect")
    local byid, got, deadline = {}, 0, core.monotonic() + 20
    while got < 3 and core.monotonic() < deadline do
      for _, res in ipairs(assert(s:poll(0.5))) do byid[res.id], got = res, got + 1 end
    end
    for i = 1, 3 do
      assert.equal(string.rep(string.char(96 + i), 5000) .. i, cjson.decode(byid[ids[i]].body).body)
    end
    local get = cjson.decode(run(s, { { url = server.url .. "/echo" } })[1].body)
    assert.same({ "GET", 0 }, { get.method, get.length })
    local post = cjson.decode(run(s, { { method = "POST", url = server.url .. "/echo", body = "again" } })[1].body)
    assert.same({ "POST", "again" }, { post.method, post.body })
    assert.equal(1, s:stats().connects)
    s:close()
  end)

  it("sends the POST body at once, without Expect: 100-continue, with the User-Agent", function()
    local s = core.http_session { user_agent = "kiva-lua/test" }
    local body = string.rep("y", 100000)
    local res = run(s, { { method = "POST", url = server.url .. "/echo", body = body,
      headers = { "Content-Type: application/json" } } })[1]
    local echo = cjson.decode(res.body)
    assert.equal(100000, echo.length)
    assert.equal(body, echo.body)   -- read in 16 KiB pieces (the upload buffer), whole
    assert.is_true(res.body_sent)
    assert.equal("", echo.expect)
    assert.equal("kiva-lua/test", echo.agent)
    assert.equal("application/json", res.headers["content-type"])
    s:close()
  end)

  -- requests sending the same headers share one list in C: each must still send its own
  it("sends each request's own headers, whichever were sent before or are in flight", function()
    local s = core.http_session { max_host_connections = 4 }
    local sets = { { "X-Tag: a" }, { "X-Tag: a" }, { "X-Tag: b" }, nil, { "X-Tag: a" },
      { "X-Tag: a", "Accept: text/plain" }, { "X-Tag: a" }, {} }
    local reqs = {}
    for i = 1, 9 do reqs[i] = { method = "POST", url = server.url .. "/echo", body = "b", headers = sets[i] } end
    local want = { "a", "a", "b", "", "a", "a", "a", "", "" }
    for i, res in ipairs(run(s, reqs)) do
      local echo = cjson.decode(res.body)
      assert.same({ want[i], "" }, { echo.tag, echo.expect }, "request " .. i)
    end
    assert.has_error(function() s:add { url = server.url .. "/echo", headers = { "X-Tag: a", 42 } } end)
    local echo = cjson.decode(run(s, { { url = server.url .. "/echo", headers = { "X-Tag: c" } } })[1].body)
    assert.equal("c", echo.tag)
    s:close()
  end)

  it("never follows a redirect", function()
    local s = core.http_session {}
    local res = run(s, { { url = server.url .. "/redirect" } })[1]
    assert.equal(302, res.status)
    assert.equal("/landed", res.headers.location)
    assert.is_nil(count(s).hits["GET /landed"])
    local err = errors.from_result(res, { method = "GET", endpoint = "/redirect" })
    assert.equal("rejected", err.kind)
    s:close()
  end)

  it("refuses a response larger than max_body", function()
    local s = core.http_session { max_body = 100000 }
    local res = run(s, { { url = server.url .. "/big" } })[1]
    assert.equal("RESPONSE_TOO_LARGE", res.code)
    s:close()
  end)

  it("reports a refused connection as not sent", function()
    local s = core.http_session {}
    local res = run(s, { { method = "POST", url = "http://127.0.0.1:1/x", body = "{}" } })[1]
    assert.equal("COULDNT_CONNECT", res.code)
    assert.is_false(res.body_sent)
    assert.is_false(res.connected)
    local err = errors.from_result(res, { method = "POST", endpoint = "/x" })
    assert.equal("network", err.kind)
    assert.is_true(err.retryable)
    s:close()
  end)

  it("reports a POST dropped after it was read as of unknown outcome", function()
    local s = core.http_session {}
    local res = run(s, { { method = "POST", url = server.url .. "/drop", body = '{"a":1}' } })[1]
    assert.is_string(res.code)
    assert.is_true(res.body_sent)
    local err = errors.from_result(res, { method = "POST", endpoint = "/drop" })
    assert.equal("unknown_outcome", err.kind)
    assert.is_false(err.retryable)
    s:close()
  end)

  it("never resends a POST by itself when a reused connection dies", function()
    local s = core.http_session {}
    local first = run(s, { { method = "POST", url = server.url .. "/drop_on_reuse", body = "{}" } })[1]
    assert.equal(200, first.status)
    local second = run(s, { { method = "POST", url = server.url .. "/drop_on_reuse", body = "{}" } })[1]
    -- curl wanted to resend on a fresh connection but could not rewind the body
    assert.equal("SEND_FAIL_REWIND", second.code)
    local err = errors.from_result(second, { method = "POST", endpoint = "/drop_on_reuse" })
    assert.equal("unknown_outcome", err.kind)
    assert.equal(2, count(s).hits["POST /drop_on_reuse"])
    s:close()
  end)

  it("lets curl resend a GET on a dead reused connection", function()
    local s = core.http_session {}
    assert.equal(200, run(s, { { url = server.url .. "/drop_on_reuse" } })[1].status)
    assert.equal(200, run(s, { { url = server.url .. "/drop_on_reuse" } })[1].status)
    s:close()
  end)

  it("times out a slow answer after the body was sent", function()
    local s = core.http_session { timeout = 0.5 }
    local res = run(s, { { method = "POST", url = server.url .. "/slow", body = "{}" } })[1]
    assert.equal("OPERATION_TIMEDOUT", res.code)
    assert.is_true(res.body_sent)
    assert.equal("unknown_outcome", errors.from_result(res, { method = "POST", endpoint = "/slow" }).kind)
    s:close()
  end)

  it("parses status and headers of error answers", function()
    local s = core.http_session {}
    local res = run(s, { { url = server.url .. "/status/429" } })[1]
    assert.equal(429, res.status)
    assert.equal("1", res.headers["retry-after"])
    assert.equal(1, res.retry_after)   -- read by libcurl, in seconds
    assert.same({ message = "status 429" }, cjson.decode(res.body))
    s:close()
  end)

  it("gives no retry_after when the answer has none or 0", function()
    local s = core.http_session {}
    local res = run(s, { { url = server.url .. "/echo" }, { url = server.url .. "/flaky" } })
    assert.equal(200, res[1].status)
    assert.is_nil(res[1].retry_after)
    assert.equal("0", res[2].headers["retry-after"])
    assert.is_nil(res[2].retry_after)
    s:close()
  end)

  it("refuses unknown options and misuse, and closes idempotently", function()
    assert.has_error(function() core.http_session { timout = 3 } end, "http_session: unknown option 'timout'")
    assert.has_error(function() core.http_session { timeout = "3" } end)
    local s = core.http_session {}
    assert.has_error(function() s:add { method = "PUT", url = server.url } end)
    s:add { url = server.url .. "/slow" }   -- in flight while closed
    s:close()
    s:close()
    assert.has_error(function() s:add { url = server.url } end, "attempt to use a closed http session")
    assert.equal(0, s:stats().requests)
  end)

  it("frees sessions with requests in flight when collected", function()
    local alive = setmetatable({}, { __mode = "k" })
    for _ = 1, 20 do
      local s = core.http_session {}
      s:add { url = server.url .. "/echo" }
      s:add { method = "POST", url = server.url .. "/echo", body = "x" }
      alive[s] = true
    end
    -- a finalized userdata leaves a weak-keyed table at the collection after its __gc
    collectgarbage()
    collectgarbage()
    assert.is_nil(next(alive))
    assert.matches("^7%.", core.curl_version())   -- and libcurl is still usable
  end)
end)

describe("kiva.core http over TLS", function()
  local dir, pid, port
  setup(function()
    dir = helper.tmpdir()
    local function sh(cmd) assert(os.execute("cd " .. dir .. " && " .. cmd .. " >/dev/null 2>&1"), cmd) end
    for _, name in ipairs { "ca", "other" } do
      sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=" .. name .. "-ca -keyout "
        .. name .. ".key -out " .. name .. ".pem")
    end
    helper.write(dir .. "/ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    sh("openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout srv.key -out srv.csr")
    sh("openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext -out srv.pem")
    local p = io.popen("cd " .. dir .. " && openssl s_server -accept 127.0.0.1:0 -cert srv.pem -key srv.key "
      .. "-www >log 2>&1 </dev/null & echo $!")
    pid = tonumber(p:read("l"))
    p:close()
    for _ = 1, 100 do
      port = (helper.read(dir .. "/log") or ""):match("ACCEPT [%d%.]+:(%d+)")
      if port then break end
      core.sleep(0.05)
    end
    assert(port, "openssl s_server did not start")
  end)
  teardown(function() core.kill(pid, 15) end)

  -- nginx (Debian's nginx-light has HTTP/2) with the same certificate, on a free port
  local function start_nginx()
    local socket = require "socket"
    local probe = assert(socket.bind("127.0.0.1", 0))
    local _, free = probe:getsockname()
    probe:close()
    local conf = table.concat({
      "daemon off; master_process off; pid " .. dir .. "/nginx.pid; error_log " .. dir .. "/nginx.err;",
      "events { worker_connections 64; }",
      "http { access_log off; client_body_temp_path " .. dir .. "; proxy_temp_path " .. dir .. ";",
      "  fastcgi_temp_path " .. dir .. "; uwsgi_temp_path " .. dir .. "; scgi_temp_path " .. dir .. ";",
      "  server { listen 127.0.0.1:" .. free .. " ssl http2; ssl_certificate " .. dir .. "/srv.pem;",
      "    ssl_certificate_key " .. dir .. "/srv.key; location / { return 200 '{\"ok\":true}'; } } }",
    }, "\n")
    helper.write(dir .. "/nginx.conf", conf)
    local p = io.popen("nginx -p " .. dir .. " -c " .. dir .. "/nginx.conf >/dev/null 2>&1 & echo $!")
    local npid = tonumber(p:read("l"))
    p:close()
    for _ = 1, 100 do
      local c = socket.connect("127.0.0.1", free)
      if c then c:close() break end
      core.sleep(0.05)
    end
    return npid, free
  end

  it("verifies the server against the CA file", function()
    local s = core.http_session { ca_file = dir .. "/ca.pem" }
    local res = run(s, { { url = "https://127.0.0.1:" .. port .. "/" } })[1]
    assert.is_nil(res.code)
    assert.equal(200, res.status)
    s:close()
  end)

  it("speaks HTTP/2 where offered, many requests over one connection", function()
    local npid, nport = start_nginx()
    local s = core.http_session { ca_file = dir .. "/ca.pem", max_host_connections = 4 }
    local reqs = {}
    for i = 1, 8 do reqs[i] = { url = "https://127.0.0.1:" .. nport .. "/x" .. i } end
    local results = run(s, reqs)
    core.kill(npid, 15)
    for _, res in ipairs(results) do
      assert.is_nil(res.code, res.message)
      assert.equal("2", res.http_version)
      assert.equal('{"ok":true}', res.body)
    end
    assert.equal(1, s:stats().connects)
    s:close()
  end)

  it("refuses a server its CA file does not vouch for", function()
    local s = core.http_session { ca_file = dir .. "/other.pem" }
    local res = run(s, { { method = "POST", url = "https://127.0.0.1:" .. port .. "/", body = "{}" } })[1]
    assert.equal("PEER_FAILED_VERIFICATION", res.code)
    local err = errors.from_result(res, { method = "POST", endpoint = "/" })
    assert.equal("network", err.kind)
    assert.is_false(err.retryable)
    s:close()
  end)
end)
