/* SPDX-License-Identifier: MIT
**
** libFuzzer target for the value readers mapping scripts call on every row:
** kiva.map.trim and kiva.map.amount (src/amount.c under their Lua wrappers).
** Input: [flags byte][value bytes]; flags pick the declared decimal mark and the
** number of decimals allowed. Aborts when a call raises or leaves its contract:
** trim gives nil or a string with no space at either end and is idempotent;
** amount gives nil (with a message unless the value is blank) or a finite number
** that has no more decimals than allowed. Run from the repository root.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_lua.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lua_State *L;

static const char *harness =
    "local map = require 'kiva.map'\n"
    "local SPACE = '[ \\t\\n\\v\\f\\r]'\n"
    "return function(s, flags)\n"
    "  local t = map.trim(s)\n"
    "  if t ~= nil then\n"
    "    assert(type(t) == 'string' and t ~= '', 'trim gave something else than a non-empty string')\n"
    "    assert(not t:find('^' .. SPACE) and not t:find(SPACE .. '$'), 'trim left a space at an end')\n"
    "    assert(map.trim(t) == t, 'trim is not idempotent')\n"
    "  end\n"
    "  local opts = { decimal = (flags & 1 == 1) and ',' or '.', decimals = (flags >> 1) % 4 }\n"
    "  local v, msg = map.amount(s, opts)\n"
    "  if v == nil then\n"
    "    assert(t == nil or type(msg) == 'string', 'amount refused a value without a message')\n"
    "  else\n"
    "    assert(math.type(v) and v == v and v ~= math.huge and v ~= -math.huge, 'amount not a finite number')\n"
    "    if math.type(v) == 'float' and math.abs(v) < 1e15 then\n"
    "      local text = string.format('%.' .. opts.decimals .. 'f', v)\n"
    "      assert(tonumber(text) == v, 'amount has more decimals than allowed: ' .. tostring(v))\n"
    "    end\n"
    "  end\n"
    "end\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    L = fuzz_lua_open("fuzz_amount.check", harness);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned runs;
    int top = lua_gettop(L);
    const char *msg;

    if (size < 1 || size > 4096)
        return 0;
    lua_getfield(L, LUA_REGISTRYINDEX, "fuzz_amount.check");
    lua_pushlstring(L, (const char *)data + 1, size - 1);
    lua_pushinteger(L, data[0]);
    msg = fuzz_lua_call(L, 2);
    if (msg) {
        fprintf(stderr, "fuzz_amount: %s\n", msg);
        abort();
    }
    fuzz_lua_done(L, top, &runs, 4096);
    return 0;
}
