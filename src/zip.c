/* SPDX-License-Identifier: MIT
**
** libzip entry reader for .xlsx: `core.zip_open(path, opts)` returns an archive
** userdata ("kiva.core.zip") with names, open, close; `archive:open(name)` an
** entry ("kiva.core.zip_entry") with read(n), close. The archive owns the zip_t
** and keeps a list of its open entries so that closing it closes them first; an
** entry keeps its archive alive through its user value. Reads past
** opts.max_size uncompressed bytes per entry (default 256 MiB) fail.
*/
#include <string.h>

#include <zip.h>

#include "kiva_core.h"

#define ZIP_MT "kiva.core.zip"
#define ENTRY_MT "kiva.core.zip_entry"
#define ZIP_MAX_SIZE_DEFAULT ((lua_Integer)256 << 20)
#define ZIP_READ_MAX (1 << 20)

typedef struct kc_zip_entry kc_zip_entry;

typedef struct kc_zip {
    zip_t *za;
    kc_zip_entry *entries;   /* open entries, to close with the archive */
    lua_Integer max_size;
} kc_zip;

struct kc_zip_entry {
    zip_file_t *zf;
    kc_zip *archive;
    kc_zip_entry *next;
    lua_Integer read, max_size;
    int at_end;
};

static void entry_close(kc_zip_entry *e)
{
    kc_zip_entry **p;
    if (!e->zf)
        return;
    zip_fclose(e->zf);
    e->zf = NULL;
    for (p = &e->archive->entries; *p; p = &(*p)->next)
        if (*p == e) {
            *p = e->next;
            break;
        }
    e->archive = NULL;
}

static int zip_release(lua_State *L)
{
    kc_zip *z = luaL_checkudata(L, 1, ZIP_MT);
    while (z->entries)
        entry_close(z->entries);
    if (z->za)
        zip_discard(z->za);
    z->za = NULL;
    return 0;
}

static int entry_release(lua_State *L)
{
    entry_close(luaL_checkudata(L, 1, ENTRY_MT));
    return 0;
}

static kc_zip *check_zip(lua_State *L)
{
    kc_zip *z = luaL_checkudata(L, 1, ZIP_MT);
    if (!z->za)
        luaL_error(L, "attempt to use a closed zip archive");
    return z;
}

/* archive:names() -> array of entry names, in the archive's order */
static int zip_names(lua_State *L)
{
    kc_zip *z = check_zip(L);
    zip_int64_t i, n = zip_get_num_entries(z->za, 0);
    lua_createtable(L, n > 0 ? (int)n : 0, 0);
    for (i = 0; i < n; i++) {
        const char *name = zip_get_name(z->za, (zip_uint64_t)i, ZIP_FL_ENC_GUESS);
        if (!name)
            continue;
        lua_pushstring(L, name);
        lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    }
    return 1;
}

/* archive:open(name) -> entry | nil, message, "NOT_FOUND"|"TOO_LARGE"|"ZIP" */
static int zip_entry_open(lua_State *L)
{
    kc_zip *z = check_zip(L);
    const char *name = luaL_checkstring(L, 2);
    zip_stat_t st;
    kc_zip_entry *e;
    zip_stat_init(&st);
    if (zip_stat(z->za, name, 0, &st) != 0)
        return kc_fail(L, "NOT_FOUND", "no entry '%s' in the archive", name);
    if ((st.valid & ZIP_STAT_SIZE) && st.size > (zip_uint64_t)z->max_size)
        return kc_fail(L, "TOO_LARGE", "entry '%s' is %I bytes uncompressed, over the limit of %I",
                       name, (lua_Integer)st.size, z->max_size);
    e = lua_newuserdatauv(L, sizeof *e, 1);
    memset(e, 0, sizeof *e);
    luaL_setmetatable(L, ENTRY_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    e->zf = zip_fopen(z->za, name, 0);
    if (!e->zf)
        return kc_fail(L, "ZIP", "cannot open entry '%s': %s", name, zip_strerror(z->za));
    e->archive = z;
    e->max_size = z->max_size;
    e->next = z->entries;
    z->entries = e;
    return 1;
}

/* entry:read(n) -> string | nil (end) | nil, message, code */
static int entry_read(lua_State *L)
{
    kc_zip_entry *e = luaL_checkudata(L, 1, ENTRY_MT);
    lua_Integer want = luaL_optinteger(L, 2, 65536);
    luaL_Buffer b;
    char *p;
    zip_int64_t got;
    if (!e->zf)
        return luaL_error(L, "attempt to use a closed zip entry");
    luaL_argcheck(L, want > 0, 2, "positive size expected");
    if (want > ZIP_READ_MAX)
        want = ZIP_READ_MAX;
    if (e->at_end)
        return 0;
    p = luaL_buffinitsize(L, &b, (size_t)want);
    got = zip_fread(e->zf, p, (zip_uint64_t)want);
    if (got < 0)
        return kc_fail(L, "ZIP", "read error: %s", zip_file_strerror(e->zf));
    if (got == 0) {
        e->at_end = 1;
        return 0;
    }
    e->read += got;
    if (e->read > e->max_size)
        return kc_fail(L, "TOO_LARGE", "entry larger than %I bytes uncompressed", e->max_size);
    luaL_pushresultsize(&b, (size_t)got);
    return 1;
}

/* core.zip_open(path [, { max_size = bytes }]) -> archive | nil, message, code */
static int zip_open_archive(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    kc_zip *z;
    int err = 0;
    lua_Integer max_size = ZIP_MAX_SIZE_DEFAULT;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        if (lua_getfield(L, 2, "max_size") != LUA_TNIL)
            max_size = luaL_checkinteger(L, -1);
        lua_pop(L, 1);
    }
    z = lua_newuserdatauv(L, sizeof *z, 0);
    memset(z, 0, sizeof *z);
    luaL_setmetatable(L, ZIP_MT);
    z->max_size = max_size;
    z->za = zip_open(path, ZIP_RDONLY, &err);
    if (!z->za) {
        zip_error_t ze;
        const char *code = err == ZIP_ER_NOENT || err == ZIP_ER_OPEN ? "OPEN"
                           : err == ZIP_ER_NOZIP ? "NOT_ZIP" : "ZIP";
        zip_error_init_with_code(&ze, err);
        kc_fail(L, code, "%s: %s", path, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return 3;
    }
    return 1;
}

static void new_meta(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction release)
{
    luaL_newmetatable(L, name);
    lua_pushcfunction(L, release);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, release);
    lua_setfield(L, -2, "__close");
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_pushcfunction(L, release);
    lua_setfield(L, -2, "close");
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

void kc_zip_open(lua_State *L)
{
    static const luaL_Reg zip_methods[] = {
        { "names", zip_names },
        { "open", zip_entry_open },
        { NULL, NULL }
    };
    static const luaL_Reg entry_methods[] = {
        { "read", entry_read },
        { NULL, NULL }
    };
    new_meta(L, ZIP_MT, zip_methods, zip_release);
    new_meta(L, ENTRY_MT, entry_methods, entry_release);
    lua_pushcfunction(L, zip_open_archive);
    lua_setfield(L, -2, "zip_open");
}
