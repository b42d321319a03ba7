/* SPDX-License-Identifier: MIT
**
** libFuzzer target for the schema validator, Kiva's rules and the canonical
** encoder. Input: [kind byte][flags byte][JSON text]. The JSON is decoded with
** lua-cjson, optionally reshaped into what only Lua can build (integer subtypes,
** holes, NaN, non-string keys), then validated and encoded. It aborts when:
** a valid value fails to encode; an encoding does not decode with cjson; the
** decoded value differs from a valid original; or encoding is not idempotent.
** Run from the repository root (tests/fuzz/run.sh does).
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_lua.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lua_State *L;

static const char *harness =
    "local cjson = require 'cjson'\n"
    "local schema = require 'kiva.schema'\n"
    "local kinds = { 'loan_draft', 'repayments', 'journals' }\n"
    "local function reshape(v, flags, depth, pick)\n"
    "  if type(v) ~= 'table' or depth > 40 then return v end\n"
    "  for k, x in pairs(v) do\n"
    "    if type(x) == 'number' and flags & 2 ~= 0 and x == math.floor(x) and math.abs(x) < 2^53 then\n"
    "      v[k] = math.tointeger(x)\n"
    "    else\n"
    "      v[k] = reshape(x, flags, depth + 1, pick)\n"
    "    end\n"
    "  end\n"
    "  if flags & 4 ~= 0 and #v > 1 and pick % 3 == 0 then v[#v - 1] = nil end\n"
    "  if flags & 8 ~= 0 and pick % 5 == 0 then v[1.5] = 0 / 0 end\n"
    "  if flags & 16 ~= 0 and pick % 7 == 0 then v[#v + 1] = 1 / 0 end\n"
    "  return v\n"
    "end\n"
    "local function same(a, b)\n"
    "  if type(a) ~= type(b) then return false end\n"
    "  if type(a) ~= 'table' then return a == b end\n"
    "  for k, x in pairs(a) do if not same(x, b[k]) then return false end end\n"
    "  for k in pairs(b) do if a[k] == nil then return false end end\n"
    "  return true\n"
    "end\n"
    "return function(kind_byte, flags, text)\n"
    "  local ok, value = pcall(cjson.decode, text)\n"
    "  if not ok then return end\n"
    "  value = reshape(value, flags, 0, #text)\n"
    "  local kind = kinds[kind_byte % 3 + 1]\n"
    "  local opts = { csv_format = flags & 1 ~= 0 and 'two' or 'three' }\n"
    "  local compiled = schema.compiled(kind)\n"
    "  local valid, errors = schema.validate(kind, value, opts)\n"
    "  if not valid then\n"
    "    assert(type(errors) == 'table' and #errors > 0, 'invalid without errors')\n"
    "    for _, e in ipairs(errors) do\n"
    "      assert(type(e.path) == 'string' and type(e.message) == 'string', 'malformed error')\n"
    "      assert(cjson.decode(cjson.encode(e.message)) == e.message, 'message not JSON-safe')\n"
    "    end\n"
    "  end\n"
    "  local json, msg = compiled:encode(value)\n"
    "  if valid and not json then error('valid value failed to encode: ' .. tostring(msg)) end\n"
    "  if not json then return end\n"
    "  local okd, back = pcall(cjson.decode, json)\n"
    "  if not okd then error('encoding is not JSON: ' .. json) end\n"
    "  local again = assert(compiled:encode(back))\n"
    "  if again ~= json then error('encoding not idempotent:\\n' .. json .. '\\n' .. again) end\n"
    "  if valid then\n"
    "    if not same(value, back) then error('round trip changed the value: ' .. json) end\n"
    "    local revalid = schema.validate(kind, back, opts)\n"
    "    if not revalid then error('round trip made a valid value invalid: ' .. json) end\n"
    "  end\n"
    "end\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    L = fuzz_lua_open("fuzz_schema.check", harness);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned runs;
    int top = lua_gettop(L);
    const char *msg;

    if (size < 2 || size > 64 * 1024)
        return 0;
    lua_getfield(L, LUA_REGISTRYINDEX, "fuzz_schema.check");
    lua_pushinteger(L, data[0]);
    lua_pushinteger(L, data[1]);
    lua_pushlstring(L, (const char *)data + 2, size - 2);
    msg = fuzz_lua_call(L, 3);
    if (msg) {
        fprintf(stderr, "fuzz_schema: %s\n", msg);
        abort();
    }
    fuzz_lua_done(L, top, &runs, 512);
    return 0;
}
