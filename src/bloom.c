/* SPDX-License-Identifier: MIT
**
** A Bloom filter of strings in a fixed number of bytes: "kiva.core.bloom".
** The run store asks it, for every item, whether the item's identity may have been
** met before in the run. "No" is certain, so the usual export (no duplicates) is
** checked in one pass with memory that does not grow with the export; "maybe"
** names a suspect that the store verifies on disk. A fixed size keeps memory flat:
** more items only make false "maybe"s likelier (4 MiB, 1M items: about 2 in 10,000).
**
** Registers: bloom(bytes) -> filter; filter:seen(s) -> boolean (adds s).
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kiva_core.h"

#define BLOOM_MT "kiva.core.bloom"
#define BLOOM_HASHES 4
#define BLOOM_MAX_BYTES (64u << 20)

typedef struct kc_bloom {
    unsigned char *bits;
    uint64_t nbits;   /* a power of two */
} kc_bloom;

/* FNV-1a, then splitmix64's finalizer: cheap, and well spread for ids like L-0000001. */
static uint64_t hash_bytes(const char *s, size_t n, uint64_t seed)
{
    uint64_t h = 1469598103934665603ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

static kc_bloom *check_bloom(lua_State *L)
{
    kc_bloom *b = luaL_checkudata(L, 1, BLOOM_MT);
    if (b->bits == NULL)
        luaL_error(L, "the bloom filter is closed");
    return b;
}

static int bloom_release(lua_State *L)
{
    kc_bloom *b = luaL_checkudata(L, 1, BLOOM_MT);
    free(b->bits);
    b->bits = NULL;
    return 0;
}

/* filter:seen(s): true when s may have been added before (every bit already set). */
static int bloom_seen(lua_State *L)
{
    kc_bloom *b = check_bloom(L);
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    uint64_t h1 = hash_bytes(s, n, 0), h2 = hash_bytes(s, n, 0x9e3779b97f4a7c15ULL) | 1;
    int all = 1;
    for (int i = 0; i < BLOOM_HASHES; i++) {
        uint64_t bit = (h1 + (uint64_t)i * h2) & (b->nbits - 1);
        unsigned char mask = (unsigned char)(1u << (bit & 7));
        if (!(b->bits[bit >> 3] & mask)) {
            all = 0;
            b->bits[bit >> 3] |= mask;
        }
    }
    lua_pushboolean(L, all);
    return 1;
}

/* bloom(bytes): bytes is rounded down to a power of two, at least 64. */
static int bloom_new(lua_State *L)
{
    lua_Integer want = luaL_checkinteger(L, 1);
    size_t bytes = 64;
    kc_bloom *b;
    luaL_argcheck(L, want >= 64 && (lua_Unsigned)want <= BLOOM_MAX_BYTES, 1, "between 64 bytes and 64 MiB");
    while (bytes * 2 <= (size_t)want)
        bytes *= 2;
    b = lua_newuserdatauv(L, sizeof *b, 0);
    b->bits = NULL;
    luaL_setmetatable(L, BLOOM_MT);
    b->bits = calloc(bytes, 1);
    if (b->bits == NULL)
        return kc_fail(L, "ENOMEM", "out of memory for a %d-byte bloom filter", (int)bytes);
    b->nbits = (uint64_t)bytes * 8;
    return 1;
}

void kc_bloom_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "seen", bloom_seen },
        { "close", bloom_release },
        { NULL, NULL }
    };
    static const luaL_Reg metamethods[] = {
        { "__gc", bloom_release },
        { "__close", bloom_release },
        { NULL, NULL }
    };
    if (luaL_newmetatable(L, BLOOM_MT)) {
        luaL_setfuncs(L, metamethods, 0);
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, bloom_new);
    lua_setfield(L, -2, "bloom");
}
