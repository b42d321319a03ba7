/* SPDX-License-Identifier: MIT
**
** libFuzzer target for the CSV reader (core.csv_open, src/csv.c) and the row
** layer above it (kiva.source.rows). Input: [flags byte][file bytes]. The bytes
** are written to a per-process file under /dev/shm (the reader takes a path);
** flags pick the delimiter (sniffed, ',', ';', tab), the encoding (UTF-8 or
** Windows-1252) and the layer. Aborts when a call raises, when a record is not an
** array of strings, or when record lines go backwards. Run from the repository root.
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

static const char *harness =
    "local core = require 'kiva.core'\n"
    "local source = require 'kiva.source'\n"
    "local DELIMS = { false, ',', ';', '\\t' }\n"
    "local function opts_of(flags)\n"
    "  local o = {}\n"
    "  o.delimiter = DELIMS[flags % 4 + 1] or nil\n"
    "  if flags & 4 ~= 0 then o.encoding = 'windows-1252' end\n"
    "  o.on_warning = function(msg) assert(type(msg) == 'string', 'warning not a string') end\n"
    "  return o\n"
    "end\n"
    "local function reader(path, flags)\n"
    "  local r, msg = core.csv_open(path, opts_of(flags))\n"
    "  if not r then assert(type(msg) == 'string', 'open failed without a message') return end\n"
    "  local last = 0\n"
    "  for _ = 1, 200000 do\n"
    "    local rec, line = r:next()\n"
    "    if rec == nil then break end\n"
    "    if rec == false then\n"
    "      assert(type(line) == 'string', 'bad record without a message')\n"
    "    else\n"
    "      assert(type(rec) == 'table', 'record not a table')\n"
    "      for i = 1, #rec do assert(type(rec[i]) == 'string', 'field not a string') end\n"
    "      assert(math.type(line) == 'integer' and line > last, 'record lines do not increase')\n"
    "      last = line\n"
    "    end\n"
    "  end\n"
    "  r:close()\n"
    "  r:close()\n"
    "end\n"
    "local function rows(path, flags)\n"
    "  local o = opts_of(flags)\n"
    "  o.format = 'csv'\n"
    "  local it, err = source.rows(path, o)\n"
    "  if not it then assert(type(err) == 'table', 'rows failed without an err table') return end\n"
    "  for _ = 1, 200000 do\n"
    "    local row, where = it()\n"
    "    if row == nil then break end\n"
    "    if row == false then\n"
    "      assert(type(where) == 'table' and type(where.message) == 'string', 'bad row without an err table')\n"
    "    else\n"
    "      assert(getmetatable(row) == 'kiva row' and type(where) == 'string', 'row without where')\n"
    "      for k, v in pairs(row) do\n"
    "        assert(type(k) == 'string' and type(v) == 'string' and row[k] == v, 'row not strings')\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return function(path, flags)\n"
    "  if flags & 8 ~= 0 then rows(path, flags) else reader(path, flags) end\n"
    "end\n";

static void remove_input(void)
{
    remove(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(path, sizeof path, "/dev/shm/kiva-fuzz-csv-%ld.csv", (long)getpid());
    atexit(remove_input);
    L = fuzz_lua_open("fuzz_csv.check", harness);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned runs;
    int top = lua_gettop(L);
    const char *msg;

    if (size < 1 || size > 256 * 1024)
        return 0;
    fuzz_write_input(path, data + 1, size - 1);
    lua_getfield(L, LUA_REGISTRYINDEX, "fuzz_csv.check");
    lua_pushstring(L, path);
    lua_pushinteger(L, data[0]);
    msg = fuzz_lua_call(L, 2);
    if (msg) {
        fprintf(stderr, "fuzz_csv: %s\n", msg);
        abort();
    }
    fuzz_lua_done(L, top, &runs, 256);
    return 0;
}
