/* SPDX-License-Identifier: MIT
**
** libFuzzer target for the reading of server answers: kiva.transport, kiva.errors,
** kiva.auth and kiva.client's answer parsing, driven through a stand-in for the
** libcurl session (core.http_session) that answers every request with the fuzz
** bytes. Input: [operation][status][flags][body]. "$TOKEN" and "$SECRET" in the body
** are replaced with the bearer token and client secret, so echoes get tested.
** Aborts when a call raises, returns outside the public contract (res, or nil and
** an err table with kind/message/retryable), or lets the token or secret into an
** error or a result. Run from the repository root.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_lua.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lua_State *L;

static const char *harness =
    "local real = require 'kiva.core'\n"
    "local SECRET, TOKEN = 'fuzz-S3cret&=+', 'fuzz-token-7f3a9c'\n"
    "local STATUSES = { 200, 201, 204, 301, 302, 307, 400, 401, 403, 404, 408, 409, 422, 429, 500, 502,\n"
    "  503, 504, 0, 100, 299, 599 }\n"
    "local CODES = { 'RECV_ERROR', 'OPERATION_TIMEDOUT', 'COULDNT_CONNECT', 'SEND_FAIL_REWIND',\n"
    "  'PARTIAL_FILE', 'RESPONSE_TOO_LARGE', 'PEER_FAILED_VERIFICATION', 'GOT_NOTHING' }\n"
    "local answer = {}\n"
    "local function fake_session()\n"
    "  local s, queue, next_id, n = {}, {}, 0, 0\n"
    "  function s:add(req)\n"
    "    next_id, n = next_id + 1, n + 1\n"
    "    local token_req = req.url:find('/oauth/token$') ~= nil\n"
    "    local a = (token_req and not answer.token_fuzz) and\n"
    "      { status = 200, body = '{\"access_token\":\"' .. TOKEN .. '\",\"token_type\":\"bearer\",\"expires_in\":3600,\"partnerId\":\"1\"}' }\n"
    "      or answer\n"
    "    -- a token the client never received is no secret of its own: echo it only where\n"
    "    -- the client has it (API calls, or a 2xx token answer that hands it over)\n"
    "    local knows = not token_req or (a.status >= 200 and a.status < 300 and not a.code)\n"
    "    local body = a.body:gsub('%$TOKEN', knows and TOKEN or 'tok'):gsub('%$SECRET', SECRET)\n"
    "    queue[#queue + 1] = { id = next_id, status = a.code and 0 or a.status, body = body,\n"
    "      headers = a.headers or { ['content-type'] = 'application/json' }, code = a.code,\n"
    "      message = a.code and (a.code .. ' (fuzz)') or nil, body_sent = a.body_sent ~= false,\n"
    "      connected = true, total_time = 0.001 }\n"
    "    return next_id\n"
    "  end\n"
    "  function s:poll() local q = queue queue = {} return q end\n"
    "  function s:pending() return #queue end\n"
    "  function s:stats() return { connects = 1, requests = n } end\n"
    "  function s:close() end\n"
    "  return s\n"
    "end\n"
    "package.loaded['kiva.core'] = setmetatable({ http_session = fake_session }, { __index = real })\n"
    "local client_mod = require 'kiva.client'\n"
    "local KINDS = { auth = true, forbidden = true, validation = true, rejected = true, rate_limited = true,\n"
    "  network = true, unknown_outcome = true, server = true, config = true, input = true }\n"
    "local function clean(v, what, depth)\n"
    "  depth = depth or 0\n"
    "  if type(v) == 'table' and depth < 50 then\n"
    "    for k, x in pairs(v) do clean(k, what, depth + 1) clean(x, what, depth + 1) end\n"
    "  elseif type(v) == 'string' then\n"
    "    assert(not v:find(TOKEN, 1, true), what .. ' shows the token: ' .. v)\n"
    "    assert(not v:find(SECRET, 1, true), what .. ' shows the secret: ' .. v)\n"
    "  end\n"
    "end\n"
    "local function check_err(err, what)\n"
    "  assert(type(err) == 'table', what .. ': err is not a table')\n"
    "  assert(KINDS[err.kind], what .. ': unknown kind ' .. tostring(err.kind))\n"
    "  assert(type(err.message) == 'string', what .. ': message not a string')\n"
    "  assert(type(err.retryable) == 'boolean', what .. ': retryable not a boolean')\n"
    "  clean(err.message, what .. ' message')\n"
    "  if err.body ~= nil then clean(err.body, what .. ' body') end\n"
    "end\n"
    "local OPS = {\n"
    "  function(c) return c:post_loan_draft('{\"activity_id\":61}') end,\n"
    "  function(c) return c:post_repayments({ { loan_id = 'L1', client_id = 'C1', amount = 10 } }) end,\n"
    "  function(c) return c:post_journals({ { internal_loan_id = 'L1', internal_client_id = 'C1',\n"
    "    subject = 's', body = 'b' } }) end,\n"
    "  function(c) return c:loans_page({ status = 'payingBack' }) end,\n"
    "  function(c) return c:config('activities') end,\n"
    "  function(c) return c:token_info() end,\n"
    "  function(c) local n = 0 for _ in c:loans({}) do n = n + 1 if n > 50 then break end end return {} end,\n"
    "}\n"
    "return function(op, status, flags, body)\n"
    "  answer = { status = STATUSES[status % #STATUSES + 1], body = body }\n"
    "  answer.headers = { ['content-type'] = flags & 8 ~= 0 and 'text/html' or 'application/json' }\n"
    "  if flags & 1 ~= 0 then answer.headers['retry-after'] = body:sub(1, 12) end\n"
    "  if flags & 16 ~= 0 then answer.headers.location = body:sub(1, 40) end\n"
    "  if flags & 2 ~= 0 then answer.code = CODES[(flags >> 5) % #CODES + 1] answer.body_sent = flags & 4 ~= 0 end\n"
    "  local k = op % #OPS + 1\n"
    "  answer.token_fuzz = k == 6 or (op >> 4) & 1 == 1\n"
    "  local c = assert(client_mod.new { client_id = 'fuzz', client_secret = SECRET,\n"
    "    auth_url = 'http://127.0.0.1:1/oauth/token', api_url = 'http://127.0.0.1:1', token_cache = false,\n"
    "    max_attempts = 2, max_retry_time = 0, retry_base = 0, retry_cap = 0, validate = false })\n"
    "  local res, err = OPS[k](c)\n"
    "  c:close()\n"
    "  if k == 2 then\n"
    "    if res then assert(type(res.batches) == 'table', 'repayments without batches') end\n"
    "    if err then check_err(err, 'repayments') end\n"
    "    if not res then assert(err, 'repayments: neither res nor err') end\n"
    "  elseif res == nil then\n"
    "    check_err(err, 'op ' .. k)\n"
    "  else\n"
    "    assert(type(res) == 'table', 'op ' .. k .. ': res is not a table')\n"
    "    clean(res, 'op ' .. k .. ' result')\n"
    "    if k == 4 then assert(type(res.data) == 'table', 'loans page without data') end\n"
    "    if k == 5 then assert(type(res) == 'table', 'config list not a table') end\n"
    "  end\n"
    "end\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    L = fuzz_lua_open("fuzz_answers.check", harness);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned runs;
    int top = lua_gettop(L);
    const char *msg;

    if (size < 3 || size > 256 * 1024)
        return 0;
    lua_getfield(L, LUA_REGISTRYINDEX, "fuzz_answers.check");
    lua_pushinteger(L, data[0]);
    lua_pushinteger(L, data[1]);
    lua_pushinteger(L, data[2]);
    lua_pushlstring(L, (const char *)data + 3, size - 3);
    msg = fuzz_lua_call(L, 4);
    if (msg) {
        fprintf(stderr, "fuzz_answers: %s\n", msg);
        abort();
    }
    fuzz_lua_done(L, top, &runs, 256);
    return 0;
}
