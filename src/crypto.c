/* SPDX-License-Identifier: MIT
**
** OpenSSL (libcrypto) bindings: SHA-256 (hex), HMAC-SHA256 (raw), base64 and
** base64url (RFC 4648, no line breaks) through EVP, random bytes, hex. Registers:
** sha256_hex, hmac_sha256, base64_encode, base64_decode, base64url_encode,
** base64url_decode, random_bytes, hex. Work buffers live in Lua's luaL_Buffer, so
** nothing leaks if Lua raises; OpenSSL's error queue is emptied on each failure.
*/
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "base64.h"
#include "crypto.h"
#include "kiva_core.h"

static int openssl_fail(lua_State *L, const char *what)
{
    unsigned long e = ERR_get_error();
    char msg[256];
    if (e)
        ERR_error_string_n(e, msg, sizeof msg);
    else
        strcpy(msg, "unknown error");
    ERR_clear_error();
    return kc_fail(L, "OPENSSL", "%s: %s", what, msg);
}

/* The two hex digits of each byte value: one 2-byte copy a byte (every push item's
** SHA-256 is written out). */
#define HEX_ROW(h) h "0" h "1" h "2" h "3" h "4" h "5" h "6" h "7" h "8" h "9" h "a" h "b" h "c" h "d" h "e" h "f"
static const char hex_pairs[] = HEX_ROW("0") HEX_ROW("1") HEX_ROW("2") HEX_ROW("3") HEX_ROW("4") HEX_ROW("5")
    HEX_ROW("6") HEX_ROW("7") HEX_ROW("8") HEX_ROW("9") HEX_ROW("a") HEX_ROW("b") HEX_ROW("c") HEX_ROW("d")
    HEX_ROW("e") HEX_ROW("f");

void kc_hex(const unsigned char *p, size_t n, char *out)
{
    size_t i;
    for (i = 0; i < n; i++)
        memcpy(out + 2 * i, hex_pairs + 2 * p[i], 2);
}

static void push_hex(lua_State *L, const unsigned char *p, size_t n)
{
    luaL_Buffer b;
    kc_hex(p, n, luaL_buffinitsize(L, &b, n * 2));
    luaL_pushresultsize(&b, n * 2);
}

/* SHA-256 fetched once per Lua state and kept in an upvalue of sha256_hex (a
** userdata whose __gc frees it), also in the registry for kc_crypto_sha256: OpenSSL 3
** looks an implicit EVP_sha256() up in its provider tables on every call, which cost
** more than hashing one item's JSON. */
#define SHA256_MT "kiva.core.sha256_md"
#define SHA256_KEY "kiva.core.sha256"   /* registry: the fetched_md userdata */

typedef struct {
    EVP_MD *md;
} fetched_md;

static int fetched_md_release(lua_State *L)
{
    fetched_md *f = luaL_checkudata(L, 1, SHA256_MT);
    if (f->md) {
        EVP_MD_free(f->md);
        f->md = NULL;
    }
    return 0;
}

const EVP_MD *kc_crypto_sha256(lua_State *L)
{
    const fetched_md *f;
    lua_getfield(L, LUA_REGISTRYINDEX, SHA256_KEY);
    f = luaL_testudata(L, -1, SHA256_MT);
    lua_pop(L, 1);   /* the registry keeps it alive */
    return f && f->md ? f->md : EVP_sha256();
}

static int kc_crypto_sha256_hex(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    const fetched_md *f = lua_touserdata(L, lua_upvalueindex(1));
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(s, n, md, &mdlen, f->md ? f->md : EVP_sha256(), NULL))
        return openssl_fail(L, "sha256");
    push_hex(L, md, mdlen);
    return 1;
}

static int kc_crypto_hmac_sha256(lua_State *L)
{
    size_t klen, n;
    const char *key = luaL_checklstring(L, 1, &klen);
    const char *s = luaL_checklstring(L, 2, &n);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)s, n, md, &mdlen))
        return openssl_fail(L, "hmac_sha256");
    lua_pushlstring(L, (const char *)md, mdlen);
    return 1;
}

static int kc_crypto_hex(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    push_hex(L, (const unsigned char *)s, n);
    return 1;
}

/* EVP_EncodeBlock writes 4 chars per 3 bytes plus a NUL and no newlines. */
static void push_base64(lua_State *L, const char *s, size_t n, int url)
{
    luaL_Buffer b;
    size_t cap = 4 * ((n + 2) / 3) + 1, len, i;
    char *out = luaL_buffinitsize(L, &b, cap);
    len = (size_t)EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    if (url) {
        while (len > 0 && out[len - 1] == '=')
            len--;
        for (i = 0; i < len; i++)
            out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    }
    luaL_pushresultsize(&b, len);
}

static int kc_crypto_base64_encode(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    luaL_argcheck(L, n < 0x3fffffff, 1, "string too long");
    push_base64(L, s, n, 0);
    return 1;
}

static int kc_crypto_base64url_encode(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    luaL_argcheck(L, n < 0x3fffffff, 1, "string too long");
    push_base64(L, s, n, 1);
    return 1;
}

/* Strict decoder: the standard alphabet needs its padding, base64url may omit it.
** EVP_DecodeBlock cannot tell padding from zero bytes, so the padding count is
** checked here and the surplus bytes trimmed. */
static int decode_base64(lua_State *L, int url)
{
    size_t n, i, pad = 0, len;
    const char *s = luaL_checklstring(L, 1, &n);
    luaL_Buffer in, out;
    char *src, *dst;
    int got;
    luaL_argcheck(L, n < 0x3fffffff, 1, "string too long");
    while (pad < n && pad < 2 && s[n - 1 - pad] == '=')
        pad++;
    len = n - pad;
    i = kc_base64_scan(s, len, url);
    if (i < len)
        return kc_fail(L, "BASE64", "invalid base64 character at byte %d", (int)i + 1);
    if (url ? (len % 4 == 1) : (n % 4 != 0))
        return kc_fail(L, "BASE64", "invalid base64 length");
    /* re-pad to a multiple of 4 in the standard alphabet */
    src = luaL_buffinitsize(L, &in, len + 4);
    for (i = 0; i < len; i++)
        src[i] = url ? (s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i]) : s[i];
    pad = (4 - len % 4) % 4;
    for (i = 0; i < pad; i++)
        src[len + i] = '=';
    luaL_addsize(&in, len + pad);
    luaL_pushresult(&in);
    src = (char *)lua_tolstring(L, -1, &n);
    dst = luaL_buffinitsize(L, &out, n / 4 * 3 + 1);
    got = n ? EVP_DecodeBlock((unsigned char *)dst, (const unsigned char *)src, (int)n) : 0;
    if (got < 0) {
        ERR_clear_error();
        return kc_fail(L, "BASE64", "invalid base64");
    }
    luaL_pushresultsize(&out, (size_t)got - pad);
    return 1;
}

static int kc_crypto_base64_decode(lua_State *L)
{
    return decode_base64(L, 0);
}

static int kc_crypto_base64url_decode(lua_State *L)
{
    return decode_base64(L, 1);
}

static int kc_crypto_random_bytes(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_Buffer b;
    char *out;
    luaL_argcheck(L, n >= 0 && n <= 1 << 20, 1, "count out of range (0..1048576)");
    out = luaL_buffinitsize(L, &b, (size_t)n);
    if (n > 0 && RAND_bytes((unsigned char *)out, (int)n) != 1)
        return openssl_fail(L, "random_bytes");
    luaL_pushresultsize(&b, (size_t)n);
    return 1;
}

void kc_crypto_open(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        { "hmac_sha256", kc_crypto_hmac_sha256 },
        { "base64_encode", kc_crypto_base64_encode },
        { "base64_decode", kc_crypto_base64_decode },
        { "base64url_encode", kc_crypto_base64url_encode },
        { "base64url_decode", kc_crypto_base64url_decode },
        { "random_bytes", kc_crypto_random_bytes },
        { "hex", kc_crypto_hex },
        { NULL, NULL }
    };
    luaL_setfuncs(L, funcs, 0);
    /* sha256_hex: a closure over this state's fetched SHA-256 (NULL: the implicit one) */
    fetched_md *f = lua_newuserdatauv(L, sizeof *f, 0);
    f->md = NULL;
    if (luaL_newmetatable(L, SHA256_MT)) {
        lua_pushcfunction(L, fetched_md_release);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    f->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    ERR_clear_error();
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, SHA256_KEY);
    lua_pushcclosure(L, kc_crypto_sha256_hex, 1);
    lua_setfield(L, -2, "sha256_hex");
}
