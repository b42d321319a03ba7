/* SPDX-License-Identifier: MIT
**
** Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
** U+10FFFF, no truncated sequences. Plain C, no Lua.
*/
#ifndef KIVA_UTF8_H
#define KIVA_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes one code point at s[0..n): returns it and sets *len to its byte
** length, or returns -1 (invalid or truncated) with *len = 1. n must be > 0. */
long kc_utf8_decode(const unsigned char *s, size_t n, size_t *len);

/* 1 if s[0..n) is valid UTF-8 (then *chars = code points), else 0 with
** *bad_at = byte offset of the first invalid sequence. Either pointer may be NULL. */
int kc_utf8_valid(const char *s, size_t n, size_t *chars, size_t *bad_at);

/* Length of the valid UTF-8 prefix of s: n when all of s is valid. */
size_t kc_utf8_valid_prefix(const char *s, size_t n);

/* A control character: C0 (U+0000..U+001F), DEL, or C1 (U+0080..U+009F). */
int kc_utf8_is_control(long cp);

/* 8 bytes at a time (SWAR; the tests are exact, not approximations): nonzero if
** a byte of w equals b; nonzero if a byte of w is not printable ASCII (a high bit,
** below 0x20, or DEL). */
static inline uint64_t kc_bytes_has(uint64_t w, unsigned char b)
{
    uint64_t x = w ^ (0x0101010101010101ULL * b);
    return (x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL;
}

static inline uint64_t kc_bytes_unprintable(uint64_t w)
{
    return ((w | ((w - 0x2020202020202020ULL) & ~w)) & 0x8080808080808080ULL) | kc_bytes_has(w, 0x7F);
}

#endif
