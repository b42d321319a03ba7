-- Exercises kiva.core's http/crypto/sys parts and kiva.client against a sandbox so
-- that valgrind can look for leaks and bad accesses. Run from the checkout root:
--   valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1 \
--     lua5.4 tests/valgrind_client.lua
-- (the sandbox runs in a child process that valgrind does not trace). libcurl and
-- OpenSSL keep their process-wide state ("still reachable"): curl_global_cleanup is
-- never called by a library. Exits 0 when every step went as expected.
package.path = "tests/?.lua;lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("KIVA_BUILD") or "build") .. "/?.so;" .. package.cpath

local helper = require "helper"
local core = require "kiva.core"
local kiva = require "kiva"

local sb = helper.start_sandbox("")
local ok, failure = pcall(function()
  local c = assert(kiva.client {
    auth_url = sb.env.KIVA_AUTH_URL, api_url = sb.env.KIVA_API_URL,
    client_id = sb.env.KIVA_CLIENT_ID, client_secret = sb.env.KIVA_CLIENT_SECRET,
    debug = true, on_log = function() end,
  })
  assert(c:token_info())
  local n = 0
  for _ in c:loans { status = "payingBack" } do n = n + 1 end
  assert(n > 0)
  local list = {}
  for i = 1, 600 do
    local k = (i - 1) // 8 * 10 + (i - 1) % 8 + 1   -- loans 1-8, 11-18, ...: payingBack or defaulted
    list[i] = { loan_id = string.format("L%06d", k), client_id = string.format("C%06d", k), amount = 3 }
  end
  local res, err = c:post_repayments(list)
  assert(not err and #res.batches == 3, err and err.message)
  assert(c:config("activities"))
  c:close()
  c:close()

  -- a client never closed, left to the garbage collector with nothing in flight
  local c2 = assert(kiva.client {
    auth_url = sb.env.KIVA_AUTH_URL, api_url = "http://127.0.0.1:1", audience = sb.env.KIVA_API_URL,
    client_id = sb.env.KIVA_CLIENT_ID, client_secret = sb.env.KIVA_CLIENT_SECRET, max_attempts = 2,
    retry_base = 0.01,
  })
  local _, nerr = c2:loans_page { limit = 1 }
  assert(nerr and nerr.kind == "network")
  c2 = nil   -- luacheck: ignore

  -- sessions dropped with requests in flight, a response over the cap, misuse that raises
  for _ = 1, 5 do
    local s = core.http_session { max_body = 10 }
    s:add { url = sb.url .. "/v3/partner/1/config/activities" }
    s:add { method = "POST", url = sb.url .. "/oauth/token", body = "grant_type=x" }
    s:poll(0.01)
  end
  local s = core.http_session { max_body = 10 }
  s:add { url = sb.url .. "/__sandbox/state" }
  local r
  repeat r = s:poll(1)[1] until r
  assert(r.code == "RESPONSE_TOO_LARGE")
  assert(not pcall(s.add, s, { url = 1 }))
  assert(not pcall(s.add, s, { url = "http://x", headers = { 1 } }))
  s:close()

  -- crypto and sys
  assert(core.sha256_hex("abc"):sub(1, 8) == "ba7816bf")
  assert(core.base64_decode(core.base64_encode("héllo")) == "héllo")
  assert(core.base64url_decode(core.base64url_encode("\255\254\253")) == "\255\254\253")
  assert(core.base64_decode("!!!!") == nil)
  assert(#core.random_bytes(32) == 32)
  local dir = helper.tmpdir()
  local lock = assert(core.lock(dir .. "/lock", 0))
  assert(core.lock(dir .. "/lock", 0.1) == nil)
  lock:unlock()
  do
    local held <close> = assert(core.lock(dir .. "/lock", 0))
    assert(tostring(held):find("held", 1, true))
  end
  assert(core.lock(dir .. "/lock", 0)):unlock()
end)
sb.stop()
helper.cleanup()
collectgarbage()
collectgarbage()
if not ok then
  io.stderr:write("valgrind_client: ", tostring(failure), "\n")
  os.exit(1)
end
print("valgrind_client: ok")
