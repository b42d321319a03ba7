/* SPDX-License-Identifier: MIT
**
** libFuzzer target for the XLSX reader's entry points: the libzip entry reader
** (core.zip_open, src/zip.c) and the workbook reader on top of it (kiva.xlsx via
** kiva.source.rows: workbook, shared strings, styles and sheet XML through
** lua-expat). Input: [flags byte][file bytes], written to a per-process file under
** /dev/shm since core.zip_open takes a path. Aborts when a call raises or returns
** something outside its contract. Run from the repository root.
** FUZZ_XLSX_TOLERATE_RAISE=1 logs raises of the Lua layer instead of aborting, and
** turns a Lua loop past 5e7 instructions into such a raise (to fuzz past known bugs:
** docs/notes/reliability.md); the zip layer always aborts.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz_lua.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lua_State *L;
static char path[64];
static int tolerate_raise;

static const char *harness =
    "local core = require 'kiva.core'\n"
    "local source = require 'kiva.source'\n"
    "local function entries(path, flags)\n"
    "  local z, msg, code = core.zip_open(path, { max_size = 8 * 1024 * 1024 })\n"
    "  if not z then assert(type(msg) == 'string' and type(code) == 'string', 'open failed without message') return end\n"
    "  local names = z:names()\n"
    "  assert(type(names) == 'table', 'names not a table')\n"
    "  for i, name in ipairs(names) do\n"
    "    if i > 32 then break end\n"
    "    assert(type(name) == 'string', 'name not a string')\n"
    "    local e, emsg = z:open(name)\n"
    "    if e then\n"
    "      local total = 0\n"
    "      while true do\n"
    "        local chunk, rmsg = e:read(flags & 2 ~= 0 and 7 or 65536)\n"
    "        if not chunk then assert(rmsg == nil or type(rmsg) == 'string') break end\n"
    "        assert(#chunk > 0, 'empty chunk')\n"
    "        total = total + #chunk\n"
    "        if total > 16 * 1024 * 1024 then break end\n"
    "      end\n"
    "      if flags & 4 ~= 0 then e:close() e:close() end\n"
    "    else\n"
    "      assert(type(emsg) == 'string', 'open entry failed without message')\n"
    "    end\n"
    "  end\n"
    "  if flags & 8 ~= 0 then z:close() end\n"
    "  z:close()\n"
    "end\n"
    "local function rows(path, flags)\n"
    "  local it, err = source.rows(path, { format = 'xlsx', sheet = flags & 2 ~= 0 and 'Loans' or nil })\n"
    "  if not it then assert(type(err) == 'table' and type(err.message) == 'string', 'no err table') return end\n"
    "  for _ = 1, 100000 do\n"
    "    local row, where = it()\n"
    "    if row == nil then break end\n"
    "    if row == false then\n"
    "      assert(type(where) == 'table' and type(where.message) == 'string', 'bad row without an err table')\n"
    "    else\n"
    "      assert(type(row) == 'table' and type(where) == 'string', 'row without where')\n"
    "      for k, v in pairs(row) do assert(type(k) == 'string' and type(v) == 'string', 'row not strings') end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return function(path, flags, budget)\n"
    "  if budget > 0 and flags & 1 == 0 then\n"
    "    debug.sethook(function() debug.sethook() error('instruction budget exceeded (a hang)') end, '', budget)\n"
    "  end\n"
    "  local ok, err = pcall(function()\n"
    "    if flags & 1 ~= 0 then entries(path, flags) else rows(path, flags) end\n"
    "  end)\n"
    "  debug.sethook()\n"
    "  if not ok then error(err, 0) end\n"
    "end\n";

static void remove_input(void)
{
    remove(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *t = getenv("FUZZ_XLSX_TOLERATE_RAISE");
    (void)argc;
    (void)argv;
    tolerate_raise = t && *t == '1';
    snprintf(path, sizeof path, "/dev/shm/kiva-fuzz-xlsx-%ld.xlsx", (long)getpid());
    atexit(remove_input);
    L = fuzz_lua_open("fuzz_xlsx.check", harness);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned runs, raises;
    int top = lua_gettop(L);
    const char *msg;

    if (size < 1 || size > 512 * 1024)
        return 0;
    fuzz_write_input(path, data + 1, size - 1);
    lua_getfield(L, LUA_REGISTRYINDEX, "fuzz_xlsx.check");
    lua_pushstring(L, path);
    lua_pushinteger(L, data[0]);
    lua_pushinteger(L, tolerate_raise ? 50000000 : 0);
    msg = fuzz_lua_call(L, 3);
    if (msg) {
        if (!tolerate_raise || (data[0] & 1)) {   /* the C entry layer must never raise */
            fprintf(stderr, "fuzz_xlsx: %s\n", msg);
            abort();
        }
        if (raises++ < 20)
            fprintf(stderr, "fuzz_xlsx: raised (tolerated): %s\n", msg);
    }
    fuzz_lua_done(L, top, &runs, 256);
    return 0;
}
